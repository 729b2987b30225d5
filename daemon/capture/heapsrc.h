/* The allocator source in user space: which allocator each target uses,
 * and the uprobes on it (bpf/heap.bpf.h) while the heap or allocs views
 * need them.
 *
 * A target process (--pid, or matched by name) gets one link per
 * allocator object it maps, for it alone: other processes using the same
 * library never trap. With no targets (every process), each allocator
 * object found gets one link for every process that maps it. Its thread
 * follows the targets every half second (new ones attached, gone ones
 * detached; with every process, processes not seen before), and every
 * five seconds looks in the targets for allocators loaded later (dlopen)
 * and for breakpoints gone, and drops the live blocks of processes that
 * exited. */
#ifndef CPROF_HEAPSRC_H
#define CPROF_HEAPSRC_H

#include <stdbool.h>
#include <stdint.h>

struct capture;
struct heapsrc;

struct heapsrc_stats {
	bool attached;			/* probes in place (a heap window is open) */
	bool sessions;			/* entry probes cancel their return (6.13) */
	uint64_t processes;		/* processes probed now (0 with every process) */
	uint64_t objects;		/* allocator objects probed now */
	uint64_t links;			/* kernel links held */
	uint64_t attach_failed;		/* attachments the kernel refused */
	uint64_t attach_retried;	/* made again: no breakpoint where it said */
	uint64_t reattached;		/* made again: its breakpoints went later */
	uint64_t not_allocator;		/* objects looked at that define no malloc */
	uint64_t single_stepped;	/* probes on instructions the kernel single-steps */
	uint64_t live_swept;		/* live blocks of exited processes dropped */
	double call_ns;			/* what an allocator call costs a target,
					 * measured at start (0: not measured) */
	char kinds[64];			/* "glibc, jemalloc": allocators probed */
};

struct cprof_instance;
/* Called, from its thread, with each process a link was made for. */
typedef void (*heapsrc_attached_fn)(void *arg, const struct cprof_instance *in);

/* skel: the loaded capture object (heap programs loaded); sessions: the
 * session program was loaded. NULL and errno. */
struct heapsrc *heapsrc__new(struct capture *skel, bool sessions, heapsrc_attached_fn attached,
			     void *arg);
/* Attach to the targets (every process when the targets map is off).
 * Nested: every start needs a stop. 0 or -errno (nothing attached). */
int heapsrc__start(struct heapsrc *h);
/* Detach all, forget every live block. */
void heapsrc__stop(struct heapsrc *h);
/* Time an allocator call of this process's own, probed and not, so the
 * start-up log and the status say what a target pays. */
void heapsrc__calibrate(struct heapsrc *h);
void heapsrc__stats(struct heapsrc *h, struct heapsrc_stats *st);
void heapsrc__free(struct heapsrc *h);

#endif /* CPROF_HEAPSRC_H */
