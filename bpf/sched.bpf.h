/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The scheduler source (the offcpu and wall views): how long a targeted
 * thread stays off CPU, on the stacks where it waited. Part of
 * bpf/capture.bpf.c.
 *
 * Capturing a stack costs several µs, a context switch a few: a stack is
 * captured only for an interval that will be recorded, once. So:
 * - leaving the CPU (sched_switch, prev: the current task), a thread notes
 *   the time, its state, the system call it is in and its user registers.
 *   Only a preempted thread (one that could run) has its stacks captured
 *   here, since it goes back to user code as soon as it runs again; it is
 *   drawn first, with the probability its last preemption predicts
 *   (length / rate, at least 1/64), and weighted by the inverse;
 * - coming back (sched_switch, next: not yet running), the interval's
 *   length d is known. Shorter than --offcpu-min, it is counted and
 *   forgotten; shorter than the rate, it is kept with probability
 *   d / rate, as rate ns and rate / d events (Go's block profile); then
 *   its kernel stack is read from the sleeping task (bpf_get_task_stack)
 *   and the interval waits for its user stack. The rate is the CPU's:
 *   --offcpu-rate, raised while the CPU reads more than --offcpu-reads
 *   such waits a second (offcpu_cpu());
 * - the user stack is read in the thread's own context, the first time it
 *   goes back to user code or leaves the CPU again, when its user registers
 *   are still those it left the CPU with (else it is recorded without one,
 *   counted: offcpu_user_stack_lost). Then the interval is added to its key.
 *   Going back to user code is seen at rseq_update: a thread registered
 *   with rseq (glibc 2.35 registers every thread) is sent through rseq's
 *   work on its way back after every switch, and only then. A thread that
 *   is not registered (Go, musl, older glibc) has its stacks read as it
 *   leaves, every wait while its CPU has reads left (--offcpu-reads),
 *   drawn as a preempted one past them. Kernels without that
 *   tracepoint (or a task_struct without rseq) use sys_exit instead, which
 *   sends every system call of the host through the kernel's slow path
 *   while attached (0.86x on a futex-heavy workload).
 * Untargeted threads cost an inlined per-CPU lookup as they leave, a
 * pointer test as they come back (no task storage) and, on their way back
 * to user code (rseq_update or sys_exit), a read of offcpu_pending.
 *
 * Each handler is built twice, for tp_btf and raw_tp (no kernel stacks
 * there: bpf_get_task_stack needs the task's BTF pointer). */
#ifndef CPROF_BPF_SCHED_H
#define CPROF_BPF_SCHED_H

#include <bpf/bpf_tracing.h>
#include "offcpu.h"

/* Load-time knobs. */
const volatile __u64 offcpu_min_ns = OFFCPU_DEFAULT_MIN_NS;
const volatile __u32 offcpu_rate_ns = OFFCPU_DEFAULT_RATE_NS;
const volatile bool switch_has_state = false;	/* sched_switch passes prev_state (5.18) */
/* Threads go back to user code seen at rseq_update (else at sys_exit). */
const volatile bool offcpu_via_rseq = false;

/* When user space last attached the source (bpf_ktime_get_ns()): what
 * threads noted before is from a detached time, and dropped. */
__u64 sched_epoch_ns = 0;

/* Intervals waiting for their user stack: while there are none, a system
 * call's exit leaves at once (user space zeroes it as it attaches). */
__s64 offcpu_pending = 0;

#ifndef TASK_INTERRUPTIBLE
#define TASK_INTERRUPTIBLE	0x0001
#define TASK_UNINTERRUPTIBLE	0x0002
#define __TASK_STOPPED		0x0004
#define __TASK_TRACED		0x0008
#define TASK_PARKED		0x0040
#define TASK_DEAD		0x0080
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);		/* tid */
	__type(value, struct offcpu_thread);
} offcpu_threads SEC(".maps");

/* The same, in the task itself (tp_btf programs): a thread that is not a
 * target has none, and finding that out is a pointer test, not a hash
 * lookup; it goes with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct offcpu_thread);
} offcpu_tasks SEC(".maps");

/* task's state: in its task storage with btf (task a BTF pointer), else
 * in offcpu_threads by tid; made when create. */
static __always_inline struct offcpu_thread *thread_of(struct task_struct *task, __u32 tid,
						       bool create, bool btf)
{
	struct offcpu_thread *t, fresh = {};

	if (btf)
		return bpf_task_storage_get(&offcpu_tasks, task, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	t = bpf_map_lookup_elem(&offcpu_threads, &tid);
	if (t || !create)
		return t;
	bpf_map_update_elem(&offcpu_threads, &tid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&offcpu_threads, &tid);
}

struct offcpu_counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_val);
} offcpu_counts0 SEC(".maps"), offcpu_counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct offcpu_counts_map);
} offcpu_counts SEC(".maps") = {
	.values = { &offcpu_counts0, &offcpu_counts1 },
};

struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline __u32 task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return (__u32)BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

/* A task that could run (TASK_RUNNING) was preempted: the preempt flag is
 * set only for a preemption inside the kernel, not for one on the way back
 * to user code (schedule() from the return path), nor for sched_yield. */
static __always_inline __u16 offcpu_state_of(bool preempt, __u32 st)
{
	if (preempt || !(st & 0xff))
		return OFFCPU_PREEMPTED;
	if (st & TASK_INTERRUPTIBLE)
		return OFFCPU_SLEEPING;
	if (st & TASK_UNINTERRUPTIBLE)
		return OFFCPU_UNINTERRUPTIBLE;
	if (st & (__TASK_STOPPED | __TASK_TRACED))
		return OFFCPU_STOPPED;
	if (st & TASK_PARKED)
		return OFFCPU_PARKED;
	return OFFCPU_UNINTERRUPTIBLE;	/* what else waits but cannot run */
}

/* The state prev left the CPU in, at sched_switch (ctx: its arguments). */
static __always_inline __u32 switch_prev_state(__u64 *ctx, struct task_struct *prev)
{
	return switch_has_state ? (__u32)ctx[3] : task_state(prev);
}

/* The system call a task's saved user registers show it in, or -1: its
 * number in orig_ax, and ax still the -ENOSYS the entry code put there (an
 * exception's orig_ax is its error code, and ax the user's rax; a kernel
 * thread's are zero). */
static __always_inline long regs_syscall(const struct pt_regs *regs)
{
	long orig = regs->orig_ax;

	return orig >= 0 && orig < 4096 && regs->ax == -38 /* -ENOSYS */ ? orig : -1;
}

/* Fields of BTF pointers are read directly (CO-RE relocated loads), not
 * with a helper call each: these run at every context switch. */
static __always_inline bool current_is_kthread(void)
{
	return bpf_get_current_task_btf()->flags & PF_KTHREAD;
}

/* Whether task t registered an rseq area: its way back to user code then
 * passes rseq_update after every switch. */
static __always_inline bool task_has_rseq(struct task_struct *t)
{
	if (!bpf_core_field_exists(t->rseq))
		return false;
	return BPF_CORE_READ(t, rseq) != NULL;
}

/* Add the interval t holds to key's entry in generation g, with what a
 * window needs to clip it at its start (include/offcpu.h). */
static __always_inline void offcpu_add(struct offcpu_key *key, const struct offcpu_thread *t,
				       __u32 g)
{
	void *counts = bpf_map_lookup_elem(&offcpu_counts, &g);
	__u64 g0 = gen_start_ns[g & 1], ns = t->end_ns - t->start_ns, weight = OFFCPU_WEIGHT_ONE;
	struct offcpu_val *v, first;
	__s64 in_gen = (__s64)(t->end_ns - g0);

	if (!counts)
		return;
	key->since = t->start_ns >= g0 ? 0 : t->start_gen + 1;
	if (t->eager && t->keep < OFFCPU_WEIGHT_ONE && t->keep) {
		/* one drawn with probability keep / 1024 as it left
		 * (before its length was known): it stands for 1024 / keep */
		weight = (__u64)OFFCPU_WEIGHT_ONE * OFFCPU_WEIGHT_ONE / t->keep;
		/* the reading of its stacks lengthened it, and only because it
		 * was drawn: that part counts once, the rest 1024 / keep times */
		if (t->capture_ns < ns)
			ns = (ns - t->capture_ns) * OFFCPU_WEIGHT_ONE / t->keep + t->capture_ns;
		key->since = 0;
		in_gen = ns;
	} else if (t->sampled && ns) {
		/* stands for rate / ns such intervals, rate ns in all (the
		 * rate its CPU drew it at); counted in the generation it
		 * ended in */
		weight = (__u64)t->rate_ns * OFFCPU_WEIGHT_ONE / ns;
		ns = t->rate_ns;
		key->since = 0;
		in_gen = ns;
	}
	key->_pad = 0;
	count(CPROF_CNT_OFF_RECORDED);
	v = bpf_map_lookup_elem(counts, key);
	if (!v) {
		first.count = 1;
		first.weight = weight;
		first.ns = ns;
		first.ns_in_gen = in_gen;
		if (!bpf_map_update_elem(counts, key, &first, BPF_NOEXIST)) {
			__sync_fetch_and_add(&gen_fill[g & 1], 1);
			return;
		}
		/* another CPU inserted it just now, or the map is full */
		v = bpf_map_lookup_elem(counts, key);
		if (!v) {
			count(CPROF_CNT_OFF_COUNTS_FULL);
			return;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	__sync_fetch_and_add(&v->weight, weight);
	__sync_fetch_and_add(&v->ns, ns);
	__sync_fetch_and_add(&v->ns_in_gen, in_gen);
}

/* The current task's user registers (0 for a kernel thread). */
static __always_inline void user_regs(bool kthread, __u64 *ip, __u64 *sp, struct pt_regs **out)
{
	struct pt_regs *regs;

	*ip = *sp = 0;
	*out = NULL;
	if (kthread)
		return;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	*ip = regs->ip;
	*sp = regs->sp;
	*out = regs;
}

/* Record t's pending interval, in the thread's own context, for key (its
 * who filled in). ustack: the user stack read now, when user_now (its
 * registers are those it left the CPU with). */
static __always_inline void offcpu_record(struct offcpu_thread *t, struct offcpu_key *key,
					  bool kthread, bool user_now, __u64 ustack, __u32 g)
{
	t->phase = THR_ON_CPU;
	if (t->start_ns < sched_epoch_ns) {
		count(CPROF_CNT_OFF_STALE);
		return;
	}
	__sync_fetch_and_add(&offcpu_pending, -1);
	announce(&key->k);
	key->k.kstack = t->kstack;
	key->k.ustack = t->eager ? t->ustack : user_now ? ustack : 0;
	if (!t->eager && !kthread && !user_now)
		count(CPROF_CNT_OFF_USTACK_LOST);
	key->state = t->state;
	key->syscall = t->syscall;
	offcpu_add(key, t, g);
}

/* The thread goes back to user code (rseq_update, or a system call's
 * exit): record its pending interval, with the user stack it waited on if
 * its registers are those it left the CPU with. */
static __always_inline int on_user_return(void *ctx, bool btf)
{
	__u64 pid_tgid, ip, sp, ustack = 0;
	__u32 tid, g = gen & 1;
	struct offcpu_thread *t;
	struct offcpu_key key;
	struct pt_regs *regs;
	bool user_now;

	if (offcpu_pending <= 0)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tid = (__u32)pid_tgid;
	t = thread_of(btf ? bpf_get_current_task_btf() : NULL, tid, false, btf);
	if (!t || t->phase != THR_PENDING)
		return 0;
	user_regs(false, &ip, &sp, &regs);
	sample_key__fill(&key.k, pid_tgid);
	user_now = !t->eager && ip == t->uip && sp == t->usp;
	if (user_now)
		ustack = capture_user(ctx, &key.k, g);
	offcpu_record(t, &key, false, user_now, ustack, g);
	return 0;
}

/* Record t's pending interval as its thread leaves the CPU again. */
static __always_inline void offcpu_flush(void *ctx, struct offcpu_thread *t, __u64 pid_tgid,
					 bool kthread, __u64 ip, __u64 sp)
{
	struct offcpu_key key;
	__u64 ustack = 0;
	__u32 g = gen & 1;
	bool user_now = !kthread && !t->eager && ip == t->uip && sp == t->usp;

	sample_key__fill(&key.k, pid_tgid);
	if (user_now)
		ustack = capture_user(ctx, &key.k, g);
	offcpu_record(t, &key, kthread, user_now, ustack, g);
}

/* The stacks a CPU reads for waits whose length is known (read as they
 * end), bounded: at most about offcpu_period_reads in each
 * OFFCPU_PERIOD_NS (--offcpu-reads a second). Each CPU has a rate of its
 * own, offcpu_rate_ns or more, that plays --offcpu-rate's part in the
 * draws: a wait of length d under it is read with probability d / rate
 * and stands for rate ns, so the totals stay unbiased whatever the rate,
 * less precise as it rises. A CPU that read more than its share in a
 * period raises its rate in proportion; one that read less than half of
 * it halves its rate (down to offcpu_rate_ns); twice its share within a
 * period doubles the rate at once. A rate comes from past periods only,
 * before the waits it draws. Waits read as they begin (a preempted
 * thread's, drawn by its last one) are not in the count: their draw is
 * bounded below by 1/64, which a rate cannot lower; the reads of a thread
 * not registered with rseq are, within the share (the rest are drawn). */
#define OFFCPU_PERIOD_NS	1000000000ULL
#define OFFCPU_RATE_MAX_NS	0xffffffffULL	/* what offcpu_thread.rate_ns holds */
const volatile __u32 offcpu_period_reads = 0;	/* 0: no bound, the rate stays */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_cpu);
} offcpu_cpus SEC(".maps");

/* The current CPU's reading budget, its period rolled over to now. */
static __always_inline struct offcpu_cpu *offcpu_cpu(__u64 now)
{
	__u32 zero = 0, share = offcpu_period_reads;
	struct offcpu_cpu *c = bpf_map_lookup_elem(&offcpu_cpus, &zero);
	__u64 r, periods;

	if (!c)
		return NULL;
	if (!share) {
		c->rate_ns = offcpu_rate_ns;
		return c;
	}
	/* the first call rolls over (period_ns 0), setting the rate */
	if (now - c->period_ns < OFFCPU_PERIOD_NS && c->period_ns)
		return c;
	r = c->rate_ns;
	periods = (now - c->period_ns) / OFFCPU_PERIOD_NS;
	if (c->reads > share) {
		r = r * c->reads / share;
	} else if (c->reads < share / 2 || !c->reads) {
		/* one halving a period gone by: an idle CPU starts over */
		r >>= periods < 32 ? periods : 32;
	}
	if (r < offcpu_rate_ns)
		r = offcpu_rate_ns;
	if (r > OFFCPU_RATE_MAX_NS)
		r = OFFCPU_RATE_MAX_NS;
	if (r > c->rate_ns)
		count(CPROF_CNT_OFF_RATE_RAISED);
	c->rate_ns = r;
	c->period_ns = now;
	c->reads = 0;
	return c;
}

/* c's CPU reads a wait's stacks. */
static __always_inline void offcpu_read(struct offcpu_cpu *c, __u64 now)
{
	__u64 r;

	if (!c || !offcpu_period_reads || ++c->reads < 2 * offcpu_period_reads)
		return;
	/* twice its share already: a burst the last period did not predict */
	r = c->rate_ns * 2;
	c->rate_ns = r > OFFCPU_RATE_MAX_NS ? OFFCPU_RATE_MAX_NS : r;
	c->period_ns = now;
	c->reads = 0;
	count(CPROF_CNT_OFF_RATE_RAISED);
}

/* Whether c's CPU has reads left in its share of this period. */
static __always_inline bool offcpu_reads_left(const struct offcpu_cpu *c)
{
	return !offcpu_period_reads || (c && c->reads < offcpu_period_reads);
}

/* A wait whose stacks are read now or never, before its length is known:
 * drawn with the probability the thread's last interval of the kind
 * predicts (Go's d / rate), at least 1/64, and weighted by its inverse,
 * so the totals stay unbiased: keep / OFFCPU_WEIGHT_ONE, 0 when not
 * drawn. With no last one (0) nothing is predicted: it is read. A
 * thread's first preemption is often its longest (pinned among busy
 * threads): drawn at 1/64, one was weighted 64 times, 0.45 s of a 1 s
 * truth. */
static __always_inline __u16 eager_keep(__u32 last, __u64 rate)
{
	__u32 keep;

	if (!rate || !last || last >= rate)
		return OFFCPU_WEIGHT_ONE;
	keep = (__u32)((__u64)last * OFFCPU_WEIGHT_ONE / rate);
	if (keep < OFFCPU_WEIGHT_ONE / 64)
		keep = OFFCPU_WEIGHT_ONE / 64;
	return bpf_get_prandom_u32() % OFFCPU_WEIGHT_ONE < keep ? keep : 0;
}

/* The current task leaves the CPU: record what it had pending, and note
 * this interval's start. A thread that could run (preempted) goes back to
 * user code as soon as it runs again, and one not registered with rseq
 * goes back unseen (with rseq_update chosen): their stacks are read now or
 * never. */
static __always_inline void on_prev(void *ctx, struct task_struct *prev, struct offcpu_thread *t,
				    bool preempt, __u32 prev_state, __u64 now, __u64 pid_tgid,
				    bool btf)
{
	__u32 tid = (__u32)pid_tgid, last;
	bool kthread = current_is_kthread(), now_or_never, unseen, shared;
	struct offcpu_cpu *c;
	struct pt_regs *regs;
	__u64 ip, sp, rate;

	user_regs(kthread, &ip, &sp, &regs);
	if (t && t->phase == THR_PENDING)
		offcpu_flush(ctx, t, pid_tgid, kthread, ip, sp);
	if (prev_state & TASK_DEAD) {
		/* task storage goes with the task */
		if (t && !btf)
			bpf_map_delete_elem(&offcpu_threads, &tid);
		return;
	}
	if (!t) {
		t = thread_of(prev, tid, true, btf);
		if (!t) {
			count(CPROF_CNT_OFF_THREADS_FULL);
			return;
		}
	}
	t->start_ns = now;
	t->start_gen = gen;
	t->phase = THR_OFF_CPU;
	t->state = offcpu_state_of(preempt, prev_state);
	t->syscall = OFFCPU_NO_SYSCALL;
	t->uip = ip;
	t->usp = sp;
	t->ustack = t->kstack = 0;
	t->eager = 0;
	t->capture_ns = 0;
	if (regs && regs_syscall(regs) >= 0)
		t->syscall = (__u32)regs_syscall(regs);
	t->keep = OFFCPU_WEIGHT_ONE;
	now_or_never = t->state == OFFCPU_PREEMPTED ||
		       (offcpu_via_rseq && !kthread && !task_has_rseq(prev));
	last = t->state == OFFCPU_PREEMPTED ? t->last_preempted_ns : t->last_slept_ns;
	c = now_or_never ? offcpu_cpu(now) : NULL;
	rate = c ? c->rate_ns : offcpu_rate_ns;
	/* Read as it leaves: a preempted thread, drawn; one not coming back
	 * through rseq_update, read whatever its length while its CPU has
	 * reads left in the period, drawn past them. */
	unseen = now_or_never && t->state != OFFCPU_PREEMPTED;
	shared = unseen && offcpu_reads_left(c);
	if (shared)
		t->keep = OFFCPU_WEIGHT_ONE;
	else if (now_or_never)
		t->keep = eager_keep(last, rate);
	if (unseen && !shared)
		count(CPROF_CNT_OFF_EAGER_DRAWN);
	if (now_or_never && t->keep) {
		struct sample_key key;

		sample_key__fill(&key, pid_tgid);
		t->ustack = kthread ? 0 : capture_user(ctx, &key, gen & 1);
		/* the kernel stack from here starts in this program and the
		 * tracepoint's caller (bpf_trace_run4): skip those two */
		t->kstack = kernel_stacks ? capture(ctx, gen & 1, 2 & BPF_F_SKIP_FIELD_MASK,
						    CPROF_CNT_KSTACK_LOST) : 0;
		t->eager = 1;
		t->capture_ns = (__u32)(bpf_ktime_get_ns() - now);
		if (shared)
			offcpu_read(c, now);
	}
}

/* The kernel stack of a task that is not running: where it slept. */
static __always_inline __u64 task_kstack(struct task_struct *task)
{
	__u32 zero = 0;
	struct stack_trace *st = bpf_map_lookup_elem(&stack_scratch, &zero);
	long n;

	if (!st)
		return 0;
	n = bpf_get_task_stack(task, st->ips, sizeof(st->ips), 0);
	if (n < 0) {
		count(CPROF_CNT_KSTACK_LOST);
		return 0;
	}
	if (n == 0)
		return 0;
	st->len = n / sizeof(__u64);
	st->flags = 0;
	return store_stack(st, gen & 1);
}

/* The task next comes back to the CPU: is its interval worth recording? */
static __always_inline void offcpu_arrive(struct offcpu_thread *t, struct task_struct *next,
					  __u64 now, bool btf)
{
	struct offcpu_cpu *c;
	__u64 ns, rate;

	if (t->start_ns < sched_epoch_ns) {
		t->phase = THR_ON_CPU;
		count(CPROF_CNT_OFF_STALE);
		return;
	}
	ns = now - t->start_ns;
	count(CPROF_CNT_OFF_INTERVALS);
	if (t->state == OFFCPU_PREEMPTED)
		t->last_preempted_ns = ns < 0xffffffffULL ? ns : 0xffffffffu;
	else
		t->last_slept_ns = ns < 0xffffffffULL ? ns : 0xffffffffu;
	if (ns < offcpu_min_ns) {
		t->phase = THR_ON_CPU;
		count(CPROF_CNT_OFF_SHORT);
		count_add(CPROF_CNT_OFF_SHORT_NS, ns);
		return;
	}
	if (!t->keep) {	/* drawn out as it left */
		t->phase = THR_ON_CPU;
		count(CPROF_CNT_OFF_SAMPLED_OUT);
		return;
	}
	/* shorter than the CPU's rate: drawn with probability ns / rate
	 * (one read as it left was drawn then) */
	c = t->eager ? NULL : offcpu_cpu(now);
	rate = c ? c->rate_ns : offcpu_rate_ns;
	t->sampled = !t->eager && ns < rate;
	t->rate_ns = (__u32)rate;
	if (t->sampled && bpf_get_prandom_u32() % rate >= ns) {
		t->phase = THR_ON_CPU;
		count(CPROF_CNT_OFF_SAMPLED_OUT);
		return;
	}
	if (!t->eager)
		offcpu_read(c, now);
	t->end_ns = now;
	t->phase = THR_PENDING;
	__sync_fetch_and_add(&offcpu_pending, 1);
	if (btf && !t->eager && kernel_stacks)
		t->kstack = task_kstack(next);
}

static __always_inline int on_switch(void *ctx, bool preempt, struct task_struct *prev,
				     struct task_struct *next, __u32 prev_state, bool btf)
{
	/* one time for both sides: what the program does for prev must not
	 * lengthen next's interval */
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, ntid;
	struct offcpu_thread *t;

	/* prev: the current task, leaving; the idle task (tid 0) is not followed */
	if (tid && task_wanted_cached(pid_tgid >> 32))
		on_prev(ctx, prev, thread_of(prev, tid, false, btf), preempt, prev_state, now,
			pid_tgid, btf);
	else if (!btf && tid && (prev_state & TASK_DEAD))
		/* a thread no longer targeted may have left an entry */
		bpf_map_delete_elem(&offcpu_threads, &tid);

	/* next: coming back. A task that has no task storage at all (most
	 * tasks: no BPF program gave it any) is told by a pointer test. */
	if (btf) {
		t = next->bpf_storage ? thread_of(next, 0, false, true) : NULL;
	} else {
		ntid = BPF_CORE_READ(next, pid);
		t = ntid ? thread_of(next, ntid, false, false) : NULL;
	}
	if (t && t->phase == THR_OFF_CPU)
		offcpu_arrive(t, next, now, btf);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (switch_untouched(next))
		return 0;
	return on_switch(ctx, preempt, prev, next, switch_prev_state(ctx, prev), true);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(offcpu_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next, switch_prev_state(ctx, prev), false);
}

SEC("tp_btf/rseq_update")
int BPF_PROG(offcpu_rseq, struct task_struct *t)
{
	return on_user_return(ctx, true);
}

SEC("raw_tp/rseq_update")
int BPF_PROG(offcpu_rseq_raw, struct task_struct *t)
{
	return on_user_return(ctx, false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(offcpu_sys_exit, struct pt_regs *regs, long ret)
{
	return on_user_return(ctx, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(offcpu_sys_exit_raw, struct pt_regs *regs, long ret)
{
	return on_user_return(ctx, false);
}

#endif /* CPROF_BPF_SCHED_H */
