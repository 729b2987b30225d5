/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One program on sched_switch for both the scheduler source (offcpu, wall)
 * and the futex source (block, mutex), when both are loaded: each program
 * on a tracepoint is a dispatch of its own at every context switch of the
 * host, whether it has anything to do or not: with a program each, a pipe
 * ping-pong's round trip took 6.0 us with both sources on against 5.7
 * with either alone (5.1 with none).
 * User space sets which of the two run (each while its windows need it)
 * and attaches this one while either does. Part of bpf/capture.bpf.c. */
#ifndef CPROF_BPF_SWITCH_H
#define CPROF_BPF_SWITCH_H

#include "sched.bpf.h"
#include "lock.bpf.h"

bool switch_sched = false;	/* the scheduler source's part runs */
bool switch_lock = false;	/* the futex source's part runs */

/* Each source's part is a function of its own, called with what the
 * program itself can keep in registers: inlined together, or with a
 * value more to keep across the first call, the stacks of the two and of
 * the unwinder they call added up past the verifier's 512 bytes. */
#define SWITCH_PART(name, fn, btf)							\
static __noinline int name(void *ctx, bool preempt, struct task_struct *prev,		\
			   struct task_struct *next)					\
{											\
	return fn(ctx, preempt, prev, next, switch_prev_state(ctx, prev), btf);		\
}
SWITCH_PART(sched_part, on_switch, true)
SWITCH_PART(sched_part_raw, on_switch, false)
SWITCH_PART(lock_part, lock_on_switch, true)
SWITCH_PART(lock_part_raw, lock_on_switch, false)

static __always_inline int both_on_switch(void *ctx, bool preempt, struct task_struct *prev,
					  struct task_struct *next, bool btf)
{
	/* the raw_tp flavour keeps its threads in hash maps by tid: no such
	 * test for it */
	if (btf && switch_untouched(next))
		return 0;
	if (*(volatile bool *)&switch_sched) {
		if (btf)
			sched_part(ctx, preempt, prev, next);
		else
			sched_part_raw(ctx, preempt, prev, next);
	}
	if (*(volatile bool *)&switch_lock) {
		if (btf)
			lock_part(ctx, preempt, prev, next);
		else
			lock_part_raw(ctx, preempt, prev, next);
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_both, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return both_on_switch(ctx, preempt, prev, next, true);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(switch_both_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return both_on_switch(ctx, preempt, prev, next, false);
}

#endif /* CPROF_BPF_SWITCH_H */
