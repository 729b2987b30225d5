/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The futex source (the block and mutex views): contention seen where it
 * already costs a context switch. An uncontended lock never enters the
 * kernel, and pays nothing here; a uprobe on pthread_mutex_lock would trap
 * on every call. Nor does a contended one pay at each futex call: a program
 * on the system call tracepoints, however short, sends every system call
 * of every thread through the kernel's slow path, and under a busy lock
 * most futex calls return at once (EAGAIN: the word changed before the
 * kernel read it). So everything here runs where a thread sleeps or wakes.
 * Part of bpf/capture.bpf.c.
 *
 * - A targeted thread that leaves the CPU asleep inside a futex wait
 *   (futex(2) WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2, WAIT_REQUEUE_PI;
 *   futex_wait(2); futex_waitv(2): the call its saved registers show)
 *   notes the time, the word, who it is and its user stack, read there: it
 *   will not run again before its wait is over. It counts itself among the
 *   word's waiters.
 * - As it comes back to a CPU (sched_switch, next), its wait's length d is
 *   known: it is recorded on that stack for the block view, with Go's
 *   sampling below the rate (d / rate, as rate ns).
 * - Each word keeps the time its waiters have spent waiting since its last
 *   wake: the integral of the number of waiters over time, kept without a
 *   lock (waiters and the time of the last change share one word, changed
 *   by compare-and-swap; the time goes into a separate sum by atomic add).
 * - A thread that wakes another (sched_waking, in the waker) from inside a
 *   futex wake (WAKE, WAKE_BITSET, WAKE_OP, UNLOCK_PI, the requeues;
 *   futex_wake(2), futex_requeue(2)) takes that sum of the word it wakes:
 *   the time its waiters waited through the critical section that this
 *   release ends. It is recorded on the waker's user stack for the mutex
 *   view. So the blame is shared among the releases a waiter waited
 *   through, as the lock passed from holder to holder, and the two views'
 *   totals agree.
 * - Waiting that no futex wake ends (a timeout, a signal, the kernel's wake
 *   at a thread's exit for pthread_join) is counted, not blamed.
 * Each handler is built twice, for tp_btf and raw_tp. */
#ifndef CPROF_BPF_LOCK_H
#define CPROF_BPF_LOCK_H

#include <bpf/bpf_tracing.h>
#include "lock.h"

const volatile __u64 lock_rate_ns = LOCK_DEFAULT_RATE_NS;

/* When user space last attached the source: waits begun before are from a
 * detached time, and dropped. */
__u64 lock_epoch_ns = 0;

#define NR_FUTEX		202
#define NR_FUTEX_WAITV		449
#define NR_FUTEX_WAKE		454
#define NR_FUTEX_WAIT		455
#define NR_FUTEX_REQUEUE	456

#define FUTEX_CMD_MASK		0x7f	/* without PRIVATE (128), CLOCK_REALTIME (256) */
enum {
	F_WAIT = 0, F_WAKE = 1, F_REQUEUE = 3, F_CMP_REQUEUE = 4, F_WAKE_OP = 5,
	F_LOCK_PI = 6, F_UNLOCK_PI = 7, F_WAIT_BITSET = 9, F_WAKE_BITSET = 10,
	F_WAIT_REQUEUE_PI = 11, F_CMP_REQUEUE_PI = 12, F_LOCK_PI2 = 13,
};

#define LOCK_TIME_MASK		((1ULL << 48) - 1)

/* The futex family: every other system call leaves at this test. */
static __always_inline bool lock_syscall(long id)
{
	return id == NR_FUTEX || id == NR_FUTEX_WAIT || id == NR_FUTEX_WAKE ||
	       id == NR_FUTEX_WAITV || id == NR_FUTEX_REQUEUE;
}

/* The wait a thread is asleep in: in the task itself for tp_btf programs
 * (a lookup there is a pointer walk, not a hash), by tid for raw_tp ones
 * (LRU: a thread killed in a wait leaves nothing behind for long; user
 * space sizes it, each entry holding a stack). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lock_wait);
} lock_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);			/* tid */
	__type(value, struct lock_wait);
} lock_waits SEC(".maps");

/* One zeroed wait, never written: what a raw_tp thread's slot starts as. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lock_wait);
} lock_wait_zero SEC(".maps");

/* task's wait slot (start_ns 0: in none), made when create. */
static __always_inline struct lock_wait *lock_wait_of(struct task_struct *task, __u32 tid,
						      bool create, bool btf)
{
	struct lock_wait *wt;
	__u32 zero = 0;

	if (btf)
		return bpf_task_storage_get(&lock_tasks, task, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	wt = bpf_map_lookup_elem(&lock_waits, &tid);
	if (wt || !create)
		return wt;
	/* a new slot is zero: 1 KiB, too much for the BPF stack, so it is
	 * copied from a map's */
	wt = bpf_map_lookup_elem(&lock_wait_zero, &zero);
	if (!wt)
		return NULL;
	bpf_map_update_elem(&lock_waits, &tid, wt, BPF_NOEXIST);
	return bpf_map_lookup_elem(&lock_waits, &tid);
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct lock_word_key);
	__type(value, struct lock_word);
} lock_words SEC(".maps");

struct lock_counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lock_key);
	__type(value, struct lock_val);
} lock_counts0 SEC(".maps"), lock_counts1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct lock_counts_map);
} lock_counts SEC(".maps") = {
	.values = { &lock_counts0, &lock_counts1 },
};

/* Change the word's waiters by delta at now, adding the waiting time since
 * its last change to acc_ns. The waiters after, or -1 when other CPUs kept
 * changing it (counted; the change is lost). */
static __always_inline int lock_word_change(struct lock_word *w, int delta, __u64 now)
{
	__u64 now48 = (now >> LOCK_TIME_SHIFT) & LOCK_TIME_MASK;

	for (int i = 0; i < 8; i++) {
		__u64 old = *(volatile __u64 *)&w->state, n = old & LOCK_WAITERS_MASK;
		__u64 t = old >> 16, dt = (now48 - t) & LOCK_TIME_MASK, stamp = now48, next;

		/* another CPU stamped a later time first: nothing elapsed */
		if (dt > (LOCK_TIME_MASK >> 1)) {
			dt = 0;
			stamp = t;
		}
		if (delta > 0 && n < LOCK_WAITERS_MASK)
			next = n + 1;
		else if (delta < 0 && n > 0)
			next = n - 1;
		else
			next = n;
		if (__sync_val_compare_and_swap(&w->state, old, (stamp << 16) | next) != old)
			continue;
		if (n && dt)
			__sync_fetch_and_add(&w->acc_ns, n * (dt << LOCK_TIME_SHIFT));
		return (int)next;
	}
	count(CPROF_CNT_LOCK_RACES);
	return -1;
}

/* Read the current thread's user stack into st (len 0: none could be):
 * with the unwind tables when the process has them, else by frame
 * pointers. */
static __always_inline void lock_read_stack(void *ctx, const struct sample_key *key,
					    struct stack_trace *st)
{
	long n;

	if (dwarf_unwind && unwind_user(key, st, false))
		return;
	n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), BPF_F_USER_STACK);
	st->len = n > 0 ? n / sizeof(__u64) : 0;
	st->flags = 0;
}

/* Whether to record d ns: shorter than the rate, drawn with probability
 * d / rate, and then weighted as rate / d events of rate ns each (Go's
 * block profile). */
static __always_inline bool lock_drawn(__u64 d, __u64 *weight, __u64 *ns)
{
	*weight = LOCK_WEIGHT_ONE;
	*ns = d;
	if (lock_rate_ns <= 1 || d >= lock_rate_ns)
		return true;
	if (bpf_get_prandom_u32() % lock_rate_ns >= d) {
		count(CPROF_CNT_LOCK_SAMPLED_OUT);
		return false;
	}
	*weight = lock_rate_ns * LOCK_WEIGHT_ONE / (d ? d : 1);
	*ns = lock_rate_ns;
	return true;
}

/* Add weight events of ns on word uaddr, on user stack st (len 0: none
 * could be read): a wait of waiter (filled as it left the CPU) or, when
 * waiter is NULL, blame on the current thread. Its own function: the
 * stack it needs is not added to the unwinder's. */
static __noinline void lock_add(const struct sample_key *waiter, struct stack_trace *st,
				__u64 uaddr, __u64 weight, __u64 ns)
{
	struct lock_val *v, first;
	struct lock_key key;
	void *counts;
	__u32 seq, g;

	if (!st)
		return;
	seq = gen_enter();
	g = seq & 1;
	if (waiter)
		__builtin_memcpy(&key.k, waiter, sizeof(key.k));
	else
		sample_key__fill(&key.k, bpf_get_current_pid_tgid());
	/* a process that contends is worth its unwind tables at once */
	announce_weighted(&key.k, CPROF_BUSY_SAMPLES);
	key.k.ustack = st->len ? store_stack(st, g) : 0;
	if (!st->len)
		count(CPROF_CNT_LOCK_USTACK_LOST);
	key.k.kstack = 0;
	key.uaddr = uaddr;
	key.role = waiter ? LOCK_WAIT : LOCK_WAKE;
	key._pad = 0;
	count(waiter ? CPROF_CNT_LOCK_WAITS_RECORDED : CPROF_CNT_LOCK_WAKES_RECORDED);
	counts = bpf_map_lookup_elem(&lock_counts, &g);
	if (!counts)
		goto out;
	v = bpf_map_lookup_elem(counts, &key);
	if (!v) {
		first.weight = weight;
		first.ns = ns;
		if (!bpf_map_update_elem(counts, &key, &first, BPF_NOEXIST)) {
			__sync_fetch_and_add(&gen_fill[g & 1], 1);
			goto out;
		}
		/* another CPU inserted it just now, or the map is full */
		v = bpf_map_lookup_elem(counts, &key);
		if (!v) {
			count(CPROF_CNT_LOCK_COUNTS_FULL);
			goto out;
		}
	}
	__sync_fetch_and_add(&v->weight, weight);
	__sync_fetch_and_add(&v->ns, ns);
out:
	gen_leave(seq);
}

/* The word of a futex_waitv(2) or futex_requeue(2) array's first entry
 * (struct futex_waitv: val, uaddr, flags). */
static __always_inline __u64 lock_waitv_word(__u64 arr)
{
	__u64 uaddr = 0;

	bpf_probe_read_user(&uaddr, sizeof(uaddr), (void *)(arr + 8));
	return uaddr;
}

/* Whether a futex system call (id, op: futex(2)'s second argument) waits;
 * whether it wakes. */
static __always_inline bool lock_is_wait(long id, __u32 op)
{
	if (id == NR_FUTEX_WAIT || id == NR_FUTEX_WAITV)
		return true;
	if (id != NR_FUTEX)
		return false;
	op &= FUTEX_CMD_MASK;
	return op == F_WAIT || op == F_WAIT_BITSET || op == F_LOCK_PI || op == F_LOCK_PI2 ||
	       op == F_WAIT_REQUEUE_PI;
}

static __always_inline bool lock_is_wake(long id, __u32 op)
{
	if (id == NR_FUTEX_WAKE || id == NR_FUTEX_REQUEUE)
		return true;
	if (id != NR_FUTEX)
		return false;
	op &= FUTEX_CMD_MASK;
	return op == F_WAKE || op == F_WAKE_BITSET || op == F_WAKE_OP || op == F_REQUEUE ||
	       op == F_CMP_REQUEUE || op == F_CMP_REQUEUE_PI || op == F_UNLOCK_PI;
}

/* The current task's saved user registers, when it is in a futex call. */
static __always_inline struct pt_regs *lock_syscall_regs(void)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return lock_syscall(regs_syscall(regs)) ? regs : NULL;
}

/* A waiter t is counted in its word's waiters (tracked 1) until it is
 * woken (sched_waking) or, when that goes unseen, until it comes back to
 * a CPU; its time between the two, waiting for a CPU, is added to the
 * word's waiting then (tracked 2: woken, that part still to add). So the
 * waiting blamed is what the block view records, and a waiter whose coming
 * back goes unseen does not stay counted. Both sides exchange tracked:
 * each part is done once. */
#define LOCK_COUNTED	1
#define LOCK_WOKEN	2

static __always_inline struct lock_word *lock_word_of(const struct lock_wait *t)
{
	struct lock_word_key wk = { .tgid = t->tgid, .uaddr = t->uaddr };

	return bpf_map_lookup_elem(&lock_words, &wk);
}

/* t is no longer among its word's waiters, at now. */
static __always_inline void lock_leave(const struct lock_wait *t, __u64 now)
{
	struct lock_word *w = lock_word_of(t);

	/* the last waiter gone, and no wake since it began: what is left
	 * (its own wait, at least) was ended by no release */
	if (w && lock_word_change(w, -1, now) == 0 && w->last_wake_ns < t->start_ns)
		count_add(CPROF_CNT_LOCK_UNBLAMED_NS, __sync_lock_test_and_set(&w->acc_ns, 0));
}

/* t's wait is woken at now. */
static __always_inline void lock_woken(struct lock_wait *t, __u64 now)
{
	t->woken_ns = now;
	if (__sync_val_compare_and_swap(&t->tracked, LOCK_COUNTED, LOCK_WOKEN) == LOCK_COUNTED)
		lock_leave(t, now);
}

/* t's wait is over at now (back on a CPU, or found over later: 0). */
static __always_inline void lock_over(struct lock_wait *t, __u64 now)
{
	__u64 was = __sync_lock_test_and_set(&t->tracked, 0);
	struct lock_word *w;

	if (was == LOCK_COUNTED) {
		lock_leave(t, now ?: t->woken_ns ?: bpf_ktime_get_ns());
	} else if (was == LOCK_WOKEN && now > t->woken_ns) {
		w = lock_word_of(t);
		if (w)
			__sync_fetch_and_add(&w->acc_ns, now - t->woken_ns);
	}
}

/* Record the wait t noted, d ns long. */
static __always_inline void lock_wait_record(struct lock_wait *t, __u64 d)
{
	__u64 weight, ns;

	if (t->start_ns < lock_epoch_ns)
		return;		/* began before the source was attached */
	count(CPROF_CNT_LOCK_WAITS);
	if (lock_drawn(d ?: 1, &weight, &ns))
		lock_add(&t->key, &t->st, t->uaddr, weight, ns);
}

/* A thread whose wait t noted comes back to a CPU at now: its wait is over. */
static __always_inline void lock_back(struct lock_wait *t, __u64 now)
{
	lock_over(t, now);
	lock_wait_record(t, now - t->start_ns);
	t->start_ns = 0;
}

/* A thread leaves the CPU with a wait t still noted: sched_switch did not
 * run as it came back (a task, seen here, during whose switches tracing
 * programs do not run). Its wait is recorded up to its wake, when that was
 * seen, and is lost otherwise; counted either way. */
static __always_inline void lock_unseen(struct lock_wait *t)
{
	count(CPROF_CNT_LOCK_BACK_UNSEEN);
	lock_over(t, 0);
	if (t->woken_ns)
		lock_wait_record(t, t->woken_ns - t->start_ns);
	t->start_ns = 0;
}

/* The current task (pid_tgid, prev) leaves the CPU asleep at now: if it is
 * in a futex wait, note it, with its stack. */
static __always_inline void lock_sleep(void *ctx, struct task_struct *prev, __u64 pid_tgid,
				       __u64 now, bool btf)
{
	struct pt_regs *regs = lock_syscall_regs();
	struct lock_word_key wk = { .tgid = pid_tgid >> 32 };
	struct lock_word *w = NULL, zero = {};
	struct lock_wait *wt;
	long id;

	if (!regs)
		return;
	id = regs->orig_ax;
	if (!lock_is_wait(id, (__u32)regs->si))
		return;
	wt = lock_wait_of(prev, (__u32)pid_tgid, true, btf);
	if (!wt) {
		count(CPROF_CNT_LOCK_WAITS_FULL);
		return;
	}
	/* a wait whose end went unseen */
	if (wt->start_ns)
		lock_unseen(wt);
	wk.uaddr = regs->di;
	if (id == NR_FUTEX_WAITV) {
		/* on several words at once: not blamed */
		wk.uaddr = lock_waitv_word(wk.uaddr);
	} else {
		w = bpf_map_lookup_elem(&lock_words, &wk);
		if (!w) {
			bpf_map_update_elem(&lock_words, &wk, &zero, BPF_NOEXIST);
			w = bpf_map_lookup_elem(&lock_words, &wk);
			if (!w)
				count(CPROF_CNT_LOCK_WORDS_FULL);
		}
	}
	wt->tracked = w && lock_word_change(w, 1, now) >= 0 ? LOCK_COUNTED : 0;
	wt->woken_ns = 0;
	wt->uaddr = wk.uaddr;
	wt->tgid = wk.tgid;
	sample_key__fill(&wt->key, pid_tgid);
	lock_read_stack(ctx, &wt->key, &wt->st);
	wt->start_ns = now;
}

/* A targeted thread's futex wake of uaddr wakes one of its waiters: the
 * time they waited since the word's last such wake, to blame on the waker
 * (0: none). */
static __always_inline __u64 lock_wake(__u64 pid_tgid, __u64 uaddr)
{
	struct lock_word_key wk = { .tgid = pid_tgid >> 32, .uaddr = uaddr };
	struct lock_word *w = bpf_map_lookup_elem(&lock_words, &wk);
	__u64 now, blame;

	if (!w)
		return 0;	/* no waiter ever seen on it */
	if (!(*(volatile __u64 *)&w->state & LOCK_WAITERS_MASK) && !w->acc_ns)
		return 0;
	now = bpf_ktime_get_ns();
	lock_word_change(w, 0, now);
	w->last_wake_ns = now;
	blame = __sync_lock_test_and_set(&w->acc_ns, 0);
	if (blame)
		count(CPROF_CNT_LOCK_WAKES);
	return blame;
}

/* sched_switch: prev (the current task) leaves the CPU in prev_state, next
 * comes back. */
static __always_inline int lock_on_switch(void *ctx, bool preempt, struct task_struct *prev,
					  struct task_struct *next, __u32 prev_state, bool btf)
{
	__u64 now = bpf_ktime_get_ns(), pid_tgid = bpf_get_current_pid_tgid();
	struct lock_wait *t;
	__u32 ntid;

	/* only a sleep can be a wait's: not a preemption, not an exit; the
	 * idle task (tid 0) is not followed */
	if (!preempt && (prev_state & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE)) &&
	    (__u32)pid_tgid && task_wanted_cached(pid_tgid >> 32))
		lock_sleep(ctx, prev, pid_tgid, now, btf);
	/* A task that has no task storage at all (most tasks: no BPF program
	 * gave it any) is told by a pointer test. */
	if (btf) {
		t = next->bpf_storage ? lock_wait_of(next, 0, false, true) : NULL;
	} else {
		ntid = BPF_CORE_READ(next, pid);
		t = ntid ? lock_wait_of(NULL, ntid, false, false) : NULL;
	}
	if (t && t->start_ns)
		lock_back(t, now);
	return 0;
}

/* sched_waking, in the waker, for the woken task p (its storage t, if it
 * has any): from inside a futex wake, blame the waker; then p's wait, if it
 * is in one, is over, whoever woke it. An interrupt that wakes a thread (a
 * timed wait's timer) runs on whatever task it interrupted: such a task
 * inside a futex wake of its own takes the blame of the word it wakes
 * anyway, an instant early. */
static __always_inline int lock_on_waking(void *ctx, struct lock_wait *t)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), d = 0, uaddr = 0, weight, ns, *busy;
	struct pt_regs *regs = NULL;
	struct stack_trace *st;
	struct sample_key who;
	__u32 op = 0, slot;
	long id = -1;

	if ((__u32)pid_tgid)
		regs = lock_syscall_regs();
	if (regs) {
		id = regs->orig_ax;
		op = (__u32)regs->si;
	}
	if (regs && lock_is_wake(id, op) && task_wanted_cached(pid_tgid >> 32)) {
		uaddr = regs->di;
		if (id == NR_FUTEX_REQUEUE)
			uaddr = lock_waitv_word(uaddr);
		d = lock_wake(pid_tgid, uaddr);
		/* FUTEX_WAKE_OP's two words: one record, on the first */
		if (id == NR_FUTEX && (op & FUTEX_CMD_MASK) == F_WAKE_OP)
			d += lock_wake(pid_tgid, regs->r8);
	}
	/* after the blame: the woken waiter's time is in it */
	if (t && t->start_ns && !t->woken_ns)
		lock_woken(t, bpf_ktime_get_ns());
	if (!d || !lock_drawn(d, &weight, &ns))
		return 0;
	/* the waker's stack, read now, in a slot of its CPU's */
	slot = scratch_take(&busy);
	if (slot >= USER_SCRATCH_SLOTS) {
		count(CPROF_CNT_LOCK_USTACK_LOST);
		return 0;
	}
	st = bpf_map_lookup_elem(&user_scratch, &slot);
	if (st) {
		sample_key__fill(&who, pid_tgid);
		lock_read_stack(ctx, &who, st);
		lock_add(NULL, st, uaddr, weight, ns);
	}
	scratch_put(busy, slot);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(lock_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (switch_untouched(next))
		return 0;
	return lock_on_switch(ctx, preempt, prev, next, switch_prev_state(ctx, prev), true);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(lock_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return lock_on_switch(ctx, preempt, prev, next, switch_prev_state(ctx, prev), false);
}

SEC("tp_btf/sched_waking")
int BPF_PROG(lock_waking, struct task_struct *p)
{
	/* a wake by a thread that is not a target (so no blame), of one
	 * without task storage (in no wait): nothing to do */
	if (switch_untouched(p))
		return 0;
	return lock_on_waking(ctx, p->bpf_storage ? lock_wait_of(p, 0, false, true) : NULL);
}

SEC("raw_tp/sched_waking")
int BPF_PROG(lock_waking_raw, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);

	return lock_on_waking(ctx, tid ? lock_wait_of(NULL, tid, false, false) : NULL);
}

#endif /* CPROF_BPF_LOCK_H */
