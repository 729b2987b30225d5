// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The floor of the offcpu benchmark: empty programs on the hooks the
 * scheduler source uses, so that what the hooks cost by themselves is
 * measured apart from what cprofd's programs do. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/rseq_update")
int BPF_PROG(floor_rseq, struct task_struct *t)
{
	return 0;
}
