#include <stdarg.h>
#include <stdio.h>
#include "log.h"

enum log_level log_level = LOG_INFO;

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_ERROR] = "", [LOG_WARN] = "warning: ", [LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
	};
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one write per line so lines from several threads do not interleave */
	fprintf(stderr, "cprofd: %s%s\n", prefix[level], line);
}
