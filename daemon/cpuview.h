/* The CPU view in user space: loads bpf/cpu.bpf.c, samples every online CPU
 * with a cpu-clock perf event, and drains the kernel maps into windows. */
#ifndef CPROF_CPUVIEW_H
#define CPROF_CPUVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cprof.h"
#include "cpu.h"
#include "unwinder.h"
#include "window.h"

struct proctab;

struct cpuview_opts {
	int hz;				/* always-on rate */
	bool kernel_stacks;
	const int *pids;		/* NULL: every process */
	int nr_pids;
	bool frame_pointers_only;	/* never walk with unwind tables */
	uint32_t counts_entries;	/* per generation; 0: default */
	uint32_t stacks_entries;
};

struct cpuview_stats {
	uint64_t bpf[CPROF_CNT_MAX];	/* the BPF side's counters */
	uint64_t drains, drained_records, drained_stacks, window_errors;
	uint64_t last_drain_ns;
	int open_windows, hz, nr_cpus;
	bool dwarf_unwind;		/* user stacks walked with unwind tables */
	struct unwinder_stats unwind;
	uint32_t insns;			/* the sampling program's instructions */
};

/* NULL on failure, with a one-line reason in err. */
struct cpuview *cpuview__new(const struct cpuview_opts *opts, struct proctab *pt,
			     char *err, size_t errlen);
/* Move what the kernel aggregated since the last drain into open windows. */
int cpuview__drain(struct cpuview *v);
/* Start a window sampled at hz (0: the always-on rate). NULL and errno. */
struct window *cpuview__open_window(struct cpuview *v, int hz);
/* End it: a last drain, then it no longer receives anything. */
void cpuview__close_window(struct cpuview *v, struct window *w);
/* Handle process announcements; wait up to timeout_ms for them. */
int cpuview__poll_events(struct cpuview *v, int timeout_ms);
void cpuview__stats(struct cpuview *v, struct cpuview_stats *st);
/* A process is gone: drop what the kernel holds for it. */
void cpuview__process_exited(struct cpuview *v, const struct proc_instance *in);
void cpuview__free(struct cpuview *v);

#endif /* CPROF_CPUVIEW_H */
