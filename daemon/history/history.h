/* The local history (--continuous): every continuous view's windows, cut
 * end to end at multiples of --window on the wall clock, built into
 * profiles while their processes still live (so exited processes keep
 * their names), and kept in the store (store.h). */
#ifndef CPROF_HISTORY_H
#define CPROF_HISTORY_H

#include <stdint.h>

struct cprofd;
struct store;

struct history_opts {
	struct cprofd *d;
	struct store *store;
	unsigned int views;	/* bits of indexes into views[]: the continuous ones */
	int window_s;
};

struct history_stats {
	uint64_t windows;	/* windows built and kept */
	uint64_t build_errors;	/* windows whose profile could not be built */
	uint64_t store_errors;	/* ... that could not be kept */
	uint64_t cut_errors;	/* cuts that failed (memory limit): the next window is longer */
	uint64_t build_ns;	/* time spent building them */
	uint64_t rollups;	/* hours rolled up */
	uint64_t rollup_errors;	/* hours that could not be (their windows are read) */
};

/* The view whose windows hold view's history when the views in continuous
 * (bits of indexes into views[]) are kept: the view it has the same data
 * as (allocs: heap) when that one is kept too; otherwise itself. */
const char *history_kept_as(const char *view, unsigned int continuous);

/* Start cutting windows (a thread of its own). NULL and errno. */
struct history *history__start(const struct history_opts *opts);
/* Cut the windows in progress one last time, keep them, and stop. NULL-safe. */
void history__stop(struct history *h);
void history__stats(struct history *h, struct history_stats *st);

#endif /* CPROF_HISTORY_H */
