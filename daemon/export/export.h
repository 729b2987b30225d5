/* Sending the history's windows to ClickHouse (--export clickhouse=URL).
 *
 * Each window the history keeps is turned into rows (rows.h) and written
 * to a spool on local disk, one file a window; a thread of its own sends
 * the files, oldest first, through ClickHouse's HTTP interface (libcurl),
 * and removes each once ClickHouse has taken it. ClickHouse down, slow or
 * refusing: the files wait, and are sent when it answers again; profiling
 * never waits on it. A spool at its size limit drops the windows that come
 * (counted, and logged once a spell); a file ClickHouse rejects as bad is
 * set aside (*.rejected), counted and logged. */
#ifndef CPROF_EXPORT_H
#define CPROF_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct export_opts {
	const char *url;		/* http[s]://[USER:PASSWORD@]HOST:PORT/[?database=DB] */
	const char *host;		/* the host label of every row */
	const char *spool_dir;		/* created 0700 if need be */
	uint64_t spool_bytes;		/* the spool's limit */
	const char *ca_file;		/* TLS: CA certificates, or NULL: the system's */
};

struct export_stats {
	uint64_t spooled, sent, dropped, rejected;	/* windows */
	uint64_t sample_rows, stack_rows;		/* rows sent */
	uint64_t bytes_sent;
	uint64_t send_errors;				/* failed attempts */
	uint64_t spool_bytes, spool_files;		/* waiting now */
	uint64_t convert_ns;				/* turning windows into rows */
	bool connected;					/* the last attempt worked */
};

struct exporter;

/* Check the options, take in what the spool holds from before, and start
 * the sending thread. NULL and a one-line reason in err. */
struct exporter *export__start(const struct export_opts *o, char *err, size_t errlen);
/* Window [start_ns, end_ns) of view, a profile (raw or gzipped pprof),
 * into the spool. Never waits on ClickHouse. 0, or -errno (-ENOSPC: the
 * spool is full, the window dropped and counted). NULL-safe. */
int export__window(struct exporter *x, const char *view, int64_t start_ns, int64_t end_ns,
		   const uint8_t *buf, size_t len);
void export__stats(struct exporter *x, struct export_stats *st);
/* Stop sending (what is spooled stays for the next start). NULL-safe. */
void export__stop(struct exporter *x);

/* url with its user and password left out, for messages. */
void export__redact(const char *url, char *out, size_t len);

#endif /* CPROF_EXPORT_H */
