/* A parser process (parserd.h) as the daemon sees it: started on the first
 * request, asked one request at a time, each within a deadline, and killed
 * and started again when it overruns, dies or says something malformed. The
 * object a request was about is then remembered as bad by its identity
 * (device, inode, stamp), for good after a crash and for a while after a
 * timeout, and is not handed to a parser again: its frames stay unnamed,
 * or its stacks walked by frame pointers. Thread-safe. */
#ifndef CPROF_ISOLATE_H
#define CPROF_ISOLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fileio.h"
#include "ipc.h"

struct isolate_opts {
	const char *role;		/* "symbols" or "tables" */
	const char *exe;		/* the cprofd binary; NULL: this one */
	uint64_t max_data;		/* its RLIMIT_DATA; 0: none */
	uint64_t cache_bytes;		/* its symbol cache's bound; 0: the default */
	uint64_t deadline_ns;		/* what one request may take */
};

struct isolate_stats {
	uint64_t requests;		/* answered */
	uint64_t starts;		/* processes started */
	uint64_t crashes;		/* ... that died on a request */
	uint64_t timeouts;		/* ... killed past the deadline */
	uint64_t protocol_errors;	/* ... killed for a malformed reply */
	uint64_t refused;		/* requests not sent: the object is bad */
	uint64_t bad_objects;		/* objects remembered as bad now */
	uint64_t rss_kb;		/* the process's resident memory, last told */
	uint64_t hostile[HOSTILE_NR];	/* input its parsers refused, all processes */
	int pid;			/* running now, or 0 */
};

struct isolate *isolate__new(const struct isolate_opts *opts);

/*
 * Ask: op with payload req (NULL: none) and fd attached (-1: none), about the
 * object id (NULL: none; what names it in logs). 0 when the parser answered:
 * *rh holds its answer (rh->status: 0 or -errno) and *payload its reply
 * (malloc'd, at most max bytes, NULL when empty). Otherwise -errno, and the
 * object is remembered as bad: -ETIMEDOUT (the parser overran the deadline
 * and was killed), -ECHILD (it died, or cannot be started), -EPROTO (its
 * reply was malformed; killed). A parser that exits, without a signal,
 * before its first answer could not set itself up: no object is blamed, and
 * it is started again 10 s later. -ENOTRECOVERABLE: the object was already
 * known to be bad, and the parser was not asked.
 */
int isolate__call(struct isolate *p, uint32_t op, const struct file_id *id, const char *what,
		  const struct wbuf *req, int fd, struct ipc_hdr *rh, void **payload, size_t max);
/* The parser's answer about id, well framed, said something impossible
 * (rows out of order, a reply that does not parse): the parser is killed as
 * for a malformed reply, and id remembered as bad. */
void isolate__reject(struct isolate *p, const struct file_id *id, const char *what);
/* Whether id is remembered as bad. */
bool isolate__bad(struct isolate *p, const struct file_id *id);
void isolate__stats(struct isolate *p, struct isolate_stats *st);
/* Kills the process and reaps it. */
void isolate__free(struct isolate *p);

#endif /* CPROF_ISOLATE_H */
