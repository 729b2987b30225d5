/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The cpu source (the cpu and wall views): a software cpu-clock perf event
 * on every CPU calls cpu_sample(); each sample adds one to its (who, user
 * stack, kernel stack, period) key. Part of bpf/capture.bpf.c. */
#ifndef CPROF_BPF_CPU_H
#define CPROF_BPF_CPU_H

#include "cpu.h"

struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cpu_key);
	__type(value, __u64);
} cpu_counts0 SEC(".maps"), cpu_counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct counts_map);
} cpu_counts SEC(".maps") = {
	.values = { &cpu_counts0, &cpu_counts1 },
};

SEC("perf_event")
int cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct cpu_key key;
	__u32 g = gen & 1;

	if (!task_wanted(pid_tgid >> 32))
		return 0;
	count(CPROF_CNT_SAMPLES);

	sample_key__fill(&key.k, pid_tgid);
	key.period_ns = ctx->sample_period;
	announce(&key.k);
	capture_stacks(ctx, &key.k, g);

	count_key(&cpu_counts, g, &key, CPROF_CNT_COUNTS_FULL);
	return 0;
}

#endif /* CPROF_BPF_CPU_H */
