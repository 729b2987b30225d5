/* A profiling window: what the drains delivered between its open and close,
 * aggregated by the view's key, with the stacks those keys refer to.
 *
 * Stacks live in a store shared by every window: a stack that several
 * windows see is held once, with a reference per window. */
#ifndef CPROF_WINDOW_H
#define CPROF_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cprof.h"
#include "hashmap.h"

struct stackstore;

/* What a window collects, from which sources, keyed how:
 *   WINDOW_CPU:    struct cpu_key -> samples
 *   WINDOW_OFFCPU: struct offcpu_key (since 0) -> intervals, ns
 *   WINDOW_WALL:   struct offcpu_key (since 0; state OFFCPU_RUNNING for
 *                  CPU samples) -> ns
 *   WINDOW_HEAP:   struct heap_key -> sampled allocations, frees of them
 *                  (frees only of blocks allocated while it was open)
 *   WINDOW_LOCK:   struct lock_key -> events (1/1024ths), ns; waits and
 *                  wakes both (the block and mutex views take their role) */
enum window_kind { WINDOW_CPU, WINDOW_OFFCPU, WINDOW_WALL, WINDOW_HEAP, WINDOW_LOCK };

struct window {
	enum window_kind kind;
	struct hashmap *samples;	/* view key -> uint64_t values[nr_values] */
	struct hashmap *stacks;		/* uint64_t hash -> struct window_stack * */
	struct stackstore *store;
	size_t key_size, nr_values;
	uint64_t filter;		/* CPU samples taken: those of this period (ns) */
	int64_t start_ns, end_ns;	/* CLOCK_REALTIME */
	int64_t opened_mono_ns;		/* CLOCK_MONOTONIC: the process table, and
					 * where off-CPU intervals are clipped */
	uint32_t first_gen;		/* the first generation it receives */
	int64_t deadline_mono_ns;	/* closed by the view then; 0: by its user */
	bool closed;
	bool track;			/* totals since tracking began (cumulative
					 * views), or a copy of them: exited processes'
					 * records are retired from it (window__retire),
					 * so it does not keep every exited process's
					 * maps (core__oldest_window) */
	uint64_t retired;		/* records retired (window__retire) */
	uint64_t dropped;		/* records not kept: over the memory limit */
	uint64_t drain_failed;		/* drains that failed while it was open */
	struct window *next;		/* in the view's list of open windows */
};

struct window_stack {
	uint64_t hash;
	uint32_t refs;			/* windows holding it (the store's lock) */
	uint32_t flags;			/* STACK_F_* */
	uint32_t len;
	uint64_t ips[];
};

/* Thread-safe; NULL and errno on failure. */
struct stackstore *stackstore__new(void);
/* Bytes the store holds: every stack once, and its index. */
size_t stackstore__mem(struct stackstore *s);
size_t stackstore__count(struct stackstore *s);
/* Only once no window refers to it any more. */
void stackstore__free(struct stackstore *s);

struct window *window__new(struct stackstore *store, size_t key_size, size_t nr_values);
/* Add values to key's entry. 0 or -ENOMEM. */
int window__add(struct window *w, const void *key, const uint64_t *values);
/* Hold the stack stored under hash (the first copy the store saw wins).
 * 0 or -ENOMEM. */
int window__add_stack(struct window *w, uint64_t hash, const struct stack_trace *st);
/* The stack for hash, or NULL when it was lost (count it where it is used). */
const struct window_stack *window__stack(const struct window *w, uint64_t hash);
/* A copy of w as it is now: its samples, a reference to each of its
 * stacks, its kind, filter and times. What a cumulative view serves (the
 * totals since tracking began) while w goes on. NULL and errno. */
struct window *window__copy(const struct window *w);
/* What w (a later copy of a cumulative window) added since base (an
 * earlier copy of the same): its values less base's, key by key, as
 * two's-complement deltas; it then starts where base ended. */
void window__subtract(struct window *w, const struct window *base);
/* A process instance, as the records of a heap or lock window (whose keys
 * begin with a struct sample_key) name it. */
struct window_instance {
	uint32_t pid, exec_id;
	uint64_t start_ns;
};
/* Insert into set (struct window_instance -> one byte) the instances that
 * w's records name; a heap or lock window's only. 0 or -ENOMEM. */
int window__instances(const struct window *w, struct hashmap *set);
/* Retire from w (a heap or lock window) the records of the instances in
 * gone (a set as above) whose values each of bases has too, unchanged:
 * what every consumer that takes deltas from w has seen. They go from the
 * bases as well, and the stacks no record still names are let go; the maps
 * are rebuilt, so the memory goes back. The records retired (w->retired
 * counts them), or -ENOMEM (-EINVAL: more than WINDOW_MAX_BASES, or
 * bases of another kind) with w and the bases as they were. */
#define WINDOW_MAX_BASES 4
long window__retire(struct window *w, struct window *const *bases, size_t nr_bases,
		    const struct hashmap *gone);
/* Bytes of the window's own index of samples and stacks (not the stacks). */
size_t window__mem(const struct window *w);
void window__free(struct window *w);

#endif /* CPROF_WINDOW_H */
