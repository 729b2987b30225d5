/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by every BPF view and by user space. Fixed-width types only,
 * explicit padding, sizes asserted: these structs cross the kernel boundary. */
#ifndef CPROF_H
#define CPROF_H

#ifdef __BPF__
/* vmlinux.h already defines the __u* types */
#else
#include <linux/types.h>
#endif

#define CPROF_MAX_STACK_DEPTH	127
#define CPROF_COMM_LEN		16

/* One captured stack: instruction pointers, leaf first, unused slots zero.
 * Stored once per distinct stack and generation, keyed by its 64-bit hash
 * (of the frames and the flags). */
struct stack_trace {
	__u64 ips[CPROF_MAX_STACK_DEPTH];
	__u32 len;
	__u32 flags;			/* STACK_F_* */
};

/* The walk stopped short of the outermost frame (a frame that was not a
 * return address into code, a stack it could not read, the depth limit):
 * the profile shows a truncation frame at the root. */
#define STACK_F_TRUNCATED	1u

/* The part of every view's aggregation key that says who and where.
 * start_ns (the group leader's boot-time start) tells a reused pid apart and
 * exec_id (bumped by every execve) tells the images of one pid apart, so user
 * space never symbolizes a sample against another program's maps. */
struct sample_key {
	__u32 pid;			/* tgid */
	__u32 tid;
	__u64 start_ns;
	__u32 exec_id;
	__u32 _pad;
	__u64 ustack;			/* hash in the stacks map, 0: none */
	__u64 kstack;			/* hash in the stacks map, 0: none */
	char comm[CPROF_COMM_LEN];	/* process (group leader) name */
	char thread[CPROF_COMM_LEN];	/* thread name */
};

/* Process instance: what user space needs to read a process's maps while it
 * lives. Sent on the events ring buffer the first time a generation sees one. */
enum cprof_event_type {
	CPROF_EV_NEW_PROC = 1,
	CPROF_EV_MAPS_STALE = 2,	/* a walk met a pc in no known mapping */
	CPROF_EV_BUSY = 3,		/* sampled CPROF_BUSY_SAMPLES times: worth tables */
	/* is this process a target now? (what BPF could not tell) */
	CPROF_EV_TARGET_EXEC = 4,	/* it exec'd: added, or removed if it was
					 * name-matched and matches no more */
	CPROF_EV_TARGET_MOVED = 5,	/* moved to another cgroup: added if it matches */
};

/* Targets: with CPROF_TGT_FILTER set in target_flags (a .bss global user
 * space may change at any time), only the tgids in the targets map are
 * sampled. Its value says why a tgid is there. */
#define CPROF_TARGET_PID	1	/* --pid: that process, never its children */
#define CPROF_TARGET_NAME	2	/* matched by comm, exe or cgroup, or the child
					 * of one that was: rechecked at exec */

#define CPROF_TGT_FILTER	(1u << 0)	/* only tgids in targets */
#define CPROF_TGT_COMM		(1u << 1)	/* target_comms holds names */
#define CPROF_TGT_CGROUP	(1u << 2)	/* target_cgroups holds cgroup ids */
#define CPROF_TGT_EXE		(1u << 3)	/* exe targets: the daemon checks every exec */
#define CPROF_TGT_CGROUP_USER	(1u << 4)	/* cgroup targets BPF cannot check
						 * (no ancestor helper): the daemon does */
#define CPROF_TGT_NAMES		(CPROF_TGT_COMM | CPROF_TGT_CGROUP | CPROF_TGT_EXE | \
				 CPROF_TGT_CGROUP_USER)

/* Entries of the targets map: a whole cgroup (a container host's
 * kubepods.slice) may hold thousands of processes. Past it an insertion is
 * refused and counted (targets_map_full). */
#define CPROF_MAX_TARGETS	16384
/* Names and cgroups that may be targets at once, each. */
#define CPROF_MAX_TARGET_NAMES	64
/* Cgroup levels BPF checks for target cgroups (0 is the root). */
#define CPROF_CGROUP_LEVELS	64

/* A process name as the kernel keeps it: at most 15 bytes and a NUL,
 * zero-padded, so that it can be a hash key. */
struct cprof_comm {
	char name[CPROF_COMM_LEN];
};

/* Unwind tables are built for a process once it has been sampled this many
 * times: a short-lived tool (a shell's awk, curl) would cost more to build
 * tables for than its few samples are worth; they are walked by frame
 * pointers and counted. */
#define CPROF_BUSY_SAMPLES 5

/* A process instance, as the seen map knows it. */
struct cprof_instance {
	__u32 pid;
	__u32 exec_id;
	__u64 start_ns;
};

/* What the seen map keeps per process instance: how often it was sampled
 * (up to CPROF_BUSY_SAMPLES) and when last (CLOCK_MONOTONIC ns), so user
 * space evicts the unwind tables of processes no longer sampled first. */
struct seen_val {
	__u32 samples;
	__u32 _pad;
	__u64 last_ns;
};

struct cprof_event {
	__u32 type;
	__u32 pid;
	__u64 start_ns;
	__u32 exec_id;
	__u32 _pad;
};

/* Every way the BPF side can lose or skip something; a per-CPU array indexed
 * by these, summed and exported by user space. Keep cprof_counter_names[] in
 * daemon/counters.c in step. */
enum cprof_counter {
	CPROF_CNT_SAMPLES,		/* events that passed the filter */
	CPROF_CNT_USTACK_LOST,		/* user stack could not be read */
	CPROF_CNT_KSTACK_LOST,		/* kernel stack could not be read */
	CPROF_CNT_STACKS_FULL,		/* stacks map full: stack dropped */
	CPROF_CNT_COUNTS_FULL,		/* counts map full: sample dropped */
	CPROF_CNT_EVENTS_LOST,		/* events ring buffer full */
	CPROF_CNT_SEEN_FULL,		/* process-instance map refused an update */
	/* the unwinder: how walks ended */
	CPROF_CNT_UNW_WALKS,		/* user stacks walked with unwind tables */
	CPROF_CNT_UNW_NO_PROC,		/* process had no tables yet: frame pointers used */
	CPROF_CNT_UNW_DONE,		/* reached the outermost frame */
	CPROF_CNT_UNW_END_FP,		/* ended in a frame-pointer step (rbp 0 or not a frame) */
	CPROF_CNT_UNW_END_READ,		/* ended on a stack read that failed */
	CPROF_CNT_UNW_END_BAD_FRAME,	/* ended on a frame that made no sense */
	CPROF_CNT_UNW_END_DEPTH,	/* ended at the frame limit */
	CPROF_CNT_UNW_END_NOT_CODE,	/* ended on a return address outside the process's code */
	/* the unwinder: frames stepped by frame pointer, and why */
	CPROF_CNT_UNW_FP_NO_MAPPING,	/* pc in no known mapping (JIT, vdso, loaded since) */
	CPROF_CNT_UNW_FP_NO_TABLE,	/* object without call-frame information */
	CPROF_CNT_UNW_FP_NO_ROW,	/* pc outside every FDE of its object */
	CPROF_CNT_UNW_FP_UNSUPPORTED,	/* a rule the walker cannot follow */
	CPROF_CNT_UNW_FP_EVICTED,	/* its object's table was evicted or refused for room */
	CPROF_CNT_UNW_WALK_NS,		/* time spent walking with tables, ns (not an event) */
	/* targets chosen by name (--comm, --exe, --cgroup) */
	CPROF_CNT_TGT_EXEC,		/* a process matched at exec, in BPF (comm or cgroup) */
	CPROF_CNT_TGT_FORK,		/* a child of a name-matched process, added at fork */
	CPROF_CNT_TGT_LEFT,		/* a name-matched process exec'd something that no
					 * longer matches: removed in BPF */
	CPROF_CNT_TGT_CHECK,		/* execs and cgroup moves the daemon was asked to check */
	CPROF_CNT_TGT_FULL,		/* targets map full: a matching process is not
					 * profiled (BPF's and the daemon's refusals) */
	/* the scheduler source (offcpu, wall) */
	CPROF_CNT_OFF_INTERVALS,	/* off-CPU intervals of targeted threads that ended */
	CPROF_CNT_OFF_SHORT,		/* of those, shorter than --offcpu-min: counted only */
	CPROF_CNT_OFF_SHORT_NS,		/* their total length, ns (not an event) */
	CPROF_CNT_OFF_SAMPLED_OUT,	/* shorter than --offcpu-rate and not drawn: their
					 * time is in the drawn ones' (unbiased) */
	CPROF_CNT_OFF_RECORDED,		/* intervals recorded with their stacks */
	CPROF_CNT_OFF_USTACK_LOST,	/* recorded without a user stack: the thread was
					 * back in user code before it could be read */
	CPROF_CNT_OFF_THREADS_FULL,	/* per-thread map full: a thread's wait not seen */
	CPROF_CNT_OFF_COUNTS_FULL,	/* offcpu map full: an interval dropped */
	CPROF_CNT_OFF_STALE,		/* intervals from before the source was attached: dropped */
	CPROF_CNT_OFF_EAGER_DRAWN,	/* waits of threads not seen going back to user
					 * code, past the CPU's reads for the period: drawn
					 * as they leave (unbiased, less precise) */
	CPROF_CNT_OFF_RATE_RAISED,	/* a CPU raised its rate to keep to --offcpu-reads */
	/* the allocator source (heap, allocs) */
	CPROF_CNT_HEAP_CALLS,		/* allocation calls of targets (malloc, calloc, ...) */
	CPROF_CNT_HEAP_FREE_CALLS,	/* free calls of targets (free, operator delete) */
	CPROF_CNT_HEAP_SAMPLED,		/* allocations sampled (by bytes: --heap-rate) */
	CPROF_CNT_HEAP_FREED,		/* frees of sampled allocations, matched */
	CPROF_CNT_HEAP_FREE_UNKNOWN,	/* at rate 1: frees of blocks allocated before
					 * tracking began (or not tracked: live table full) */
	CPROF_CNT_HEAP_FAILED,		/* sampled allocations that failed (returned NULL) */
	CPROF_CNT_HEAP_LIVE_FULL,	/* live table full: a sampled allocation counted as
					 * freed at once (its real free cannot be matched) */
	CPROF_CNT_HEAP_PENDING_LOST,	/* a sampled call's return without its entry's note */
	CPROF_CNT_HEAP_COUNTS_FULL,	/* alloc or free map full: a record dropped */
	CPROF_CNT_HEAP_USTACK_LOST,	/* sampled without a user stack */
	CPROF_CNT_HEAP_BLOCK_NS,	/* time the allocator programs ran attached through
					 * perf (the fallback without sessions), ns: no
					 * other BPF program runs on that CPU meanwhile, CPU
					 * samples included (not an event) */
	/* the futex source (block, mutex) */
	CPROF_CNT_LOCK_WAITS,		/* futex waits of targets that slept, over */
	CPROF_CNT_LOCK_BACK_UNSEEN,	/* of those, over unseen by sched_switch: recorded
					 * to their wake, or lost if that was unseen too */
	CPROF_CNT_LOCK_WAITS_RECORDED,	/* waits recorded with their stacks (block) */
	CPROF_CNT_LOCK_WAKES,		/* wakes of words whose waiters had waited */
	CPROF_CNT_LOCK_WAKES_RECORDED,	/* wakes recorded with their stacks (mutex) */
	CPROF_CNT_LOCK_SAMPLED_OUT,	/* waits or wakes shorter than --lock-rate, not drawn */
	CPROF_CNT_LOCK_UNBLAMED_NS,	/* waiting that no wake ended (timeouts, signals,
					 * the kernel's wake at a thread's exit), ns (not
					 * an event) */
	CPROF_CNT_LOCK_RACES,		/* a word changed by other CPUs 8 times running:
					 * a change lost */
	CPROF_CNT_LOCK_WAITS_FULL,	/* per-thread map full: a wait not seen */
	CPROF_CNT_LOCK_WORDS_FULL,	/* words map full: a wait not blamed */
	CPROF_CNT_LOCK_COUNTS_FULL,	/* lock map full: a record dropped */
	CPROF_CNT_LOCK_USTACK_LOST,	/* recorded without a user stack */
	CPROF_CNT_MAX,
};

/* Generations: BPF writes into maps[gen & 1]; user space bumps gen (a
 * sequence number) and drains the other one, so no sample lands in a map
 * while it is being read and cleared. */
#define CPROF_NR_GENS 2

#ifndef __BPF__
_Static_assert(sizeof(struct stack_trace) == 8 * CPROF_MAX_STACK_DEPTH + 8, "stack_trace layout");
_Static_assert(sizeof(struct sample_key) == 72, "sample_key layout");
_Static_assert(sizeof(struct cprof_event) == 24, "cprof_event layout");
_Static_assert(sizeof(struct seen_val) == 16, "seen_val layout");
_Static_assert(sizeof(struct cprof_instance) == 16, "cprof_instance layout");
_Static_assert(sizeof(struct cprof_comm) == 16, "cprof_comm layout");
#endif

#endif /* CPROF_H */
