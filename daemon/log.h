/* The daemon's logger: one line per message on stderr, "cprofd: ...". */
#ifndef CPROF_LOG_H
#define CPROF_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level;

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The level is checked before the arguments are evaluated or formatted. */
#define log_at(lvl, ...) do { if ((lvl) <= log_level) log_msg(lvl, __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif /* CPROF_LOG_H */
