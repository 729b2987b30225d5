/* The daemon's state and what its endpoints do, apart from HTTP plumbing. */
#ifndef CPROF_CPROFD_H
#define CPROF_CPROFD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "access.h"
#include "params.h"
#include "parserd.h"
#include "profile.h"
#include "vdso.h"

struct cprofd {
	struct core *core;		/* the capture core: BPF programs, drains, windows */
	struct proctab *proctab;
	struct isolate *symbols;	/* the symbols parser process */
	struct isolate *tables;		/* the unwind tables parser process */
	struct ksyms *ksyms;
	struct vdso *vdso;
	pthread_mutex_t sym_lock;	/* one profile built at a time: vdso, the symbols parser */
	pthread_mutex_t stats_lock;	/* what /metrics reads, copied after each build */
	struct symbolize_stats symstats;
	struct parserd_trim_stats parser_stats;	/* the symbols parser's caches */
	struct vdso_stats vdso_stats;
	const int *pids;		/* --pid, or NULL: every process */
	int nr_pids;
	int hz;
	unsigned int views;		/* --views: bits of indexes into views[] */
	struct window *heap_track;	/* the allocations since tracking began (--pid,
					 * --continuous heap), or NULL */
	struct window *lock_track;	/* futex waits and wakes since tracking began
					 * (--pid, --continuous block,mutex), or NULL */
	uint32_t track_deltas;		/* seconds=N requests between their two
					 * snapshots of a track (no retiring then) */
	uint64_t retire_failures;	/* cprofd__retire out of memory */
	struct store *store;		/* the history (--continuous), or NULL */
	struct history *history;
	struct exporter *export;	/* --export: where the history's windows go too, or NULL */
	int window_s;			/* --window */
	unsigned int continuous;	/* --continuous: bits of indexes into views[] */
	int64_t started_ns;		/* CLOCK_REALTIME */
	volatile bool stopping;
	uint64_t requests, bad_requests, hangups;
	uint64_t http_refused;		/* 503: past the connection limit */
	uint64_t targets_exited;	/* --pid targets seen to exit */
	struct access_policy *access;	/* who sees what; replaced on SIGHUP */
	pthread_rwlock_t access_lock;
	uint64_t access_refused[ACCESS_NR_REFUSALS];	/* 403s, by reason */
	char host[256];			/* this host's name, for whole-host profiles */
};

/* What a request gets back. body is malloc'd; content_type static. */
struct reply {
	int status;
	char *body;
	size_t len;
	const char *content_type;
	const char *disposition;	/* Content-Disposition, or NULL */
	char disposition_buf[64];	/* where disposition points when built */
	char note[320];			/* X-Cprof-Note: what the client should know, or "" */
};

/* Build view's profile of window w as req asks, for a client that may see
 * what who allows (NULL: all), with comments; raw: the protobuf not
 * gzipped. One build at a time (sym_lock). 0 or -errno. */
int cprofd__build(struct cprofd *d, const struct view_def *view, const struct access *who,
		  const struct profile_request *req, const struct window *w,
		  const char *const *comments, size_t nr_comments, bool raw, uint8_t **out,
		  size_t *len);

/* How long a process instance is gone before its records leave the
 * tracks (its last frees have come in), and how long after its exit the
 * process table keeps it for them, beyond the windows' own needs. */
#define RETIRE_AFTER_NS		(30 * 1000000000LL)
#define TRACK_KEEP_NS(window_s)	(RETIRE_AFTER_NS + 2 * (window_s) * 1000000000LL + 10 * 1000000000LL)

/* Retire from the tracks the records of process instances gone for
 * RETIRE_AFTER_NS (window__retire): bases[i] is a snapshot of
 * tracks[base_of[i]] that a consumer takes deltas from (the history's last
 * cut), and keeps what it has not seen yet. Not with --pid targets (their
 * totals stay after they exit), nor while a seconds=N request is between
 * its snapshots. Called from one thread only: the history's, or without a
 * history the main loop's. The records retired, or -errno. */
long cprofd__retire(struct cprofd *d, struct window *const *tracks, size_t nr_tracks,
		    struct window *const *bases, const int *base_of, size_t nr_bases);

/* Wait up to ms for the client; true when it has hung up. */
typedef bool (*hung_up_fn)(void *arg, int ms);

/* Serve a GET (body NULL) or POST of path with its query parameters, to a
 * client that may see what who allows. On return r is filled; r->status 0
 * means the client went away and gets nothing. */
void cprofd__serve(struct cprofd *d, const struct access *who, const char *path, const struct param *params, size_t nr,
		   const char *body, size_t body_len, hung_up_fn hung_up, void *arg,
		   struct reply *r);

#endif /* CPROF_CPROFD_H */
