/* Messages between cprofd and its parser processes (isolate.h), over a Unix
 * stream socket: a fixed header, its payload, and at most one file
 * descriptor riding with the header. Each side treats what the other sends
 * as hostile: lengths are bounded, and payloads are read through rbuf, which
 * never reads past the end. */
#ifndef CPROF_IPC_H
#define CPROF_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hostile.h"

enum ipc_op {
	IPC_SYMBOLIZE = 1,	/* one object's frames at file offsets (parserd.h) */
	IPC_TABLE,		/* one object's unwind table */
	IPC_TRIM,		/* a profile is done: trim caches, report counters */
	IPC_IDENTIFY,		/* one object's build id and loaded segments */
};

struct ipc_hdr {
	uint32_t op;
	int32_t status;		/* reply: 0 or -errno */
	uint64_t len;		/* payload bytes that follow */
	/* replies: what the parser process has counted since it started */
	uint64_t hostile[HOSTILE_NR];
	uint64_t rss_kb;	/* its resident memory now */
};

/* Send h (h->len is set to len) and payload, with fd attached (-1: none).
 * 0 or -errno (-EPIPE: the peer has gone). */
int ipc_send(int sock, struct ipc_hdr *h, const void *payload, size_t len, int fd);

/* Receive one message: the header, a malloc'd payload (NULL when empty) of
 * at most max bytes, and the descriptor that came with it (-1: none).
 * deadline_ns: CLOCK_MONOTONIC time to give up at, 0: wait for ever.
 * 0 or -errno: -ETIMEDOUT, -EPIPE (the peer closed or died), -EPROTO (a
 * payload bigger than max, or more than one descriptor). */
int ipc_recv(int sock, struct ipc_hdr *h, void **payload, size_t max, int *fd,
	     uint64_t deadline_ns);

/* A growing buffer to write a payload into; err is set, and later writes
 * dropped, when it cannot grow. */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

void wbuf_put(struct wbuf *b, const void *data, size_t len);
void wbuf_u32(struct wbuf *b, uint32_t v);
void wbuf_u64(struct wbuf *b, uint64_t v);
/* A string: its length, then its bytes and a NUL; NULL is told apart. */
void wbuf_str(struct wbuf *b, const char *s);
void wbuf_free(struct wbuf *b);

/* Reading a payload: every read checks the bounds; once one fails, bad is
 * set and every later read returns 0 or NULL. */
struct rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

uint32_t rbuf_u32(struct rbuf *b);
uint64_t rbuf_u64(struct rbuf *b);
/* A string written by wbuf_str, pointing into the buffer; NULL for NULL
 * (and when bad). Refused (bad) when longer than max or not NUL-terminated
 * where it should be, or with a NUL inside. */
const char *rbuf_str(struct rbuf *b, size_t max);
/* len bytes in place, or NULL (bad). */
const void *rbuf_take(struct rbuf *b, size_t len);

#endif /* CPROF_IPC_H */
