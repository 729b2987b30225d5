/* The capture core in user space: loads bpf/capture.bpf.c with the data
 * sources the views need, samples every online CPU with a cpu-clock perf
 * event, attaches the scheduler programs while offcpu or wall windows are
 * open, and drains every source's kernel maps into the windows.
 *
 * Its own threads: the drain, which flips the generation every second (or
 * sooner when a generation fills), closes windows when they are due, and
 * never waits on anything but the windows list; and the unwind worker,
 * which builds and loads unwind tables and drops those of processes gone,
 * so a table build of a large program delays neither the drain nor the
 * events. The drain thread asks for a real-time priority (SCHED_FIFO 1):
 * among thousands of busy threads it still drains every second, and a
 * window asked for 30 seconds lasts 30 seconds. */
#ifndef CPROF_CORE_H
#define CPROF_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cprof.h"
#include "cpu.h"
#include "heap.h"
#include "heapsrc.h"
#include "lock.h"
#include "offcpu.h"
#include "unwinder.h"
#include "views.h"
#include "window.h"

struct proctab;
struct proc_instance;
struct targets_spec;

struct core_opts {
	unsigned int sources;		/* enum view_source: what to load (cpu always) */
	uint64_t offcpu_min_ns;		/* shorter off-CPU intervals are counted only */
	uint32_t offcpu_rate_ns;	/* shorter ones sampled (include/offcpu.h) */
	uint32_t offcpu_reads;		/* stacks read a second per CPU at most, about;
					 * 0: no bound (include/offcpu.h) */
	uint64_t heap_rate;		/* --heap-rate (include/heap.h); 0: the default */
	uint64_t lock_rate_ns;		/* --lock-rate (include/lock.h) */
	int hz;				/* always-on rate */
	bool kernel_stacks;
	const int *pids;		/* --pid; NULL: every process (unless targets) */
	int nr_pids;
	const struct targets_spec *targets;	/* by name (and pid), as well; NULL:
					 * none; copied, the caller keeps it */
	bool frame_pointers_only;	/* never walk with unwind tables */
	uint32_t counts_entries;	/* per generation; 0: from the host */
	uint32_t stacks_entries;
	uint64_t unwind_bytes;		/* unwind table budget; 0: from the host */
	struct isolate *tables_parser;	/* where tables are built (unwinder.h) */
	size_t window_bytes;		/* windows' memory before new ones are
					 * refused (records are dropped past 1.5
					 * times that); 0: no limit */
};

struct core_stats {
	uint64_t bpf[CPROF_CNT_MAX];	/* the BPF side's counters */
	uint64_t drains, early_drains, drained_records, drained_stacks, window_errors;
	uint64_t drain_errors;		/* drains that failed (retried) */
	uint64_t last_drain_ns;
	uint64_t windows_refused;	/* over the windows' memory limit */
	uint64_t track_records_retired;	/* exited processes' records let go (core__retire) */
	uint64_t window_records_dropped;/* records not kept past the hard limit */
	uint64_t window_bytes;		/* windows' memory now: indexes and stacks */
	uint64_t window_bytes_limit;
	uint64_t stacks_held;		/* distinct stacks the windows hold */
	uint64_t unwind_queue_dropped;	/* unwind work not queued: queue full */
	int open_windows, hz, nr_cpus;
	int max_hz;			/* sampling rate all sets together may reach, per CPU */
	uint32_t counts_entries, stacks_entries;	/* per generation */
	uint64_t kernel_map_bytes;	/* of the sample and stack maps, both generations */
	uint64_t unwind_fixed_bytes;	/* the unwind maps made whole at start: the tables'
					 * index, mapping slots, row caches */
	bool dwarf_unwind;		/* user stacks walked with unwind tables */
	struct unwinder_stats unwind;
	uint32_t insns;			/* the sampling program's instructions */
	unsigned int sources;		/* enum view_source: loaded */
	bool sched_attached;		/* the scheduler programs run (offcpu, wall windows open) */
	bool sched_raw;			/* as raw_tp: no BTF for the tracepoints */
	bool sched_rseq;		/* threads seen going back to user code at
					 * rseq_update (else at sys_exit) */
	uint32_t sched_insns;		/* the switch program's instructions */
	uint64_t offcpu_min_ns;
	uint32_t offcpu_rate_ns;
	uint32_t offcpu_reads;
	uint64_t offcpu_rate_max_ns;	/* the highest CPU's rate now (raised to keep
					 * to offcpu_reads) */
	uint64_t heap_rate;		/* the allocator source: bytes per sample */
	bool lock_attached;		/* the futex programs run (block, mutex windows open) */
	bool lock_raw;			/* as raw_tp: no BTF for the tracepoints */
	uint64_t lock_rate_ns;		/* the futex source: --lock-rate */
	uint64_t heap_unmatched_frees;	/* frees of sampled blocks whose record was
					 * not known (counted before a detach) */
	uint64_t writers_late;	/* drains that did not wait for a preempted
					 * allocator program to leave the generation */
	uint64_t heap_freed_at_exit;	/* heap records freed as their process exited */
	struct heapsrc_stats heap;
	/* targets chosen by name, matched by the daemon (BPF's own matches
	 * are in bpf[]: CPROF_CNT_TGT_*) */
	uint64_t targets_scanned;	/* running processes found by the scan of /proc */
	uint64_t targets_added;		/* added after an exec or a cgroup move (by exe, or
					 * cgroups where BPF cannot match them) */
	uint64_t targets_left;		/* removed: exec'd something that matches no more */
	uint64_t targets_gone;		/* checks of processes already gone (or exec'd
					 * again, or reused): not matched */
	uint32_t targets_max;		/* entries of the targets map */
	bool targets_follow;		/* new processes are followed (exec, fork, exit) */
};

/* NULL on failure, with a one-line reason in err. Starts its threads. */
struct core *core__new(const struct core_opts *opts, struct proctab *pt,
			     char *err, size_t errlen);
/* Move what the kernel aggregated since the last drain into open windows
 * now (the drain thread does it on its own every second). */
int core__drain(struct core *v);
/* Start a window of kind (window.h): CPU samples at hz (0: the always-on
 * rate) for the cpu and wall kinds, off-CPU intervals for the offcpu and
 * wall kinds (the scheduler programs run while such windows are open).
 * Closed by the view after seconds (0: only by core__close_window).
 * NULL and errno: EBUSY when the rate would take sampling past max_hz,
 * ENOBUFS when the windows are at their memory limit, ENOTSUP when the
 * source it needs is not loaded, or what attaching its programs failed with. */
struct window *core__open_window(struct core *v, enum window_kind kind, int hz,
				    int seconds);
/* Whether the sources (enum view_source) are all loaded. */
bool core__has_sources(struct core *v, unsigned int sources);
/* Change the always-on rate (a reloaded --hz); windows already open keep
 * theirs. 0, -EBUSY past what the kernel maps were sized for at start,
 * or -errno opening the perf events. */
int core__set_hz(struct core *v, int hz);
/* Wait up to timeout_ms for the view to close w; true once it has. */
bool core__wait_window(struct core *v, struct window *w, int timeout_ms);
/* End it now, if the view has not: a last drain, then it no longer
 * receives anything. */
void core__close_window(struct core *v, struct window *w);
/* A copy of the open window w with everything the kernel aggregated until
 * now (a drain first), closed now: a cumulative view's totals since w
 * opened, while w goes on. Free it with core__free_window. NULL and errno. */
struct window *core__snapshot_window(struct core *v, struct window *w);
/* End w now and open its successor at the same drain, with the same kind
 * and rate: nothing falls between them (the history's windows, end to
 * end). The new window; w is closed, to be freed by the caller. NULL and
 * errno (EINVAL: w is closed, or a cumulative kind). */
struct window *core__rotate_window(struct core *v, struct window *w);
/* Free a closed window. */
void core__free_window(struct core *v, struct window *w);
/* Handle process announcements; wait up to timeout_ms for them. */
int core__poll_events(struct core *v, int timeout_ms);
void core__stats(struct core *v, struct core_stats *st);
/* Change the targets (a reloaded configuration): which comms and cgroups
 * BPF matches at exec, the --pid entries, running processes matched again
 * (a child added at fork that does not match on its own is dropped), new
 * matches found by a scan of /proc. No target at all: every process.
 * 0, or -errno with a one-line reason in err. */
int core__set_targets(struct core *v, const struct targets_spec *spec,
			 char *err, size_t errlen);
/* Whether pid is sampled now: no targets (every process), or in the
 * targets map (by --pid, or matched by name). */
bool core__targeted(struct core *v, uint32_t pid);
/* Whether targets by name are set (processes that start later may match). */
bool core__has_name_targets(struct core *v);
/* "pid 42, comm redis-server, ..." or "every process" (targets__describe). */
void core__describe_targets(struct core *v, char *buf, size_t len);
/* A process is gone: drop what the kernel holds for it (queued). */
void core__process_exited(struct core *v, const struct proc_instance *in);
/* The start of the oldest window not yet freed (CLOCK_MONOTONIC), or
 * INT64_MAX when none: processes that exited before it are in no window.
 * Tracks and their copies are left out: they hold exited processes'
 * records only until those are retired (core__retire). */
int64_t core__oldest_window(struct core *v);
/* Insert into set the process instances track's records name
 * (window__instances). 0 or -ENOMEM. */
int core__track_instances(struct core *v, const struct window *track, struct hashmap *set);
/* window__retire under the core's lock: bases are snapshots of track
 * (core__snapshot_window) their users take deltas from. */
long core__retire(struct core *v, struct window *track, struct window *const *bases,
		  size_t nr_bases, const struct hashmap *gone);
void core__free(struct core *v);

#endif /* CPROF_CORE_H */
