/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The futex source (the block and mutex views): contention seen where it
 * already costs a system call. An uncontended lock never enters the
 * kernel, and pays nothing here; a uprobe on pthread_mutex_lock would trap
 * on every call. Part of bpf/capture.bpf.c.
 *
 * - A futex wait (futex(2) WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2,
 *   WAIT_REQUEUE_PI; futex_wait(2); futex_waitv(2)) notes its start and
 *   word as it enters, and counts itself among the word's waiters. As it
 *   returns, its length d is known: unless it never slept (EAGAIN: the
 *   word had changed), it is recorded on the waiter's user stack for the
 *   block view, with Go's sampling below the rate (d / rate, as rate ns).
 * - Each word keeps the time its waiters have spent waiting since its last
 *   wake: the integral of the number of waiters over time, kept without a
 *   lock (waiters and the time of the last change share one word, changed
 *   by compare-and-swap; the time goes into a separate sum by atomic add).
 * - A futex wake (WAKE, WAKE_BITSET, WAKE_OP, UNLOCK_PI, the requeues;
 *   futex_wake(2)) that woke a waiter, as it returns, takes that sum: the
 *   time its waiters waited through the critical section that this
 *   release ends. It is recorded on the waker's user stack for the mutex
 *   view. A wake that woke no one costs a test of its return value: under
 *   a busy lock most are so. So the
 *   blame is shared among the releases a waiter waited through, as the
 *   lock passed from holder to holder, and the two views' totals agree.
 * - Waiting that no wake ends (a timeout, a signal, the kernel's wake at a
 *   thread's exit for pthread_join) is counted, not blamed.
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

/* The wait a thread is in: in the task itself for tp_btf programs (a
 * lookup there is a pointer walk, not a hash), by tid for raw_tp ones (LRU:
 * a thread killed in a wait leaves nothing behind for long). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct lock_wait);
} lock_tasks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* tid */
	__type(value, struct lock_wait);
} lock_waits SEC(".maps");

/* The current thread's wait slot (start_ns 0: in none), made when create. */
static __always_inline struct lock_wait *lock_wait_of(__u32 tid, bool create, bool btf)
{
	struct lock_wait *wt, fresh = {};

	if (btf)
		return bpf_task_storage_get(&lock_tasks, bpf_get_current_task_btf(), 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	wt = bpf_map_lookup_elem(&lock_waits, &tid);
	if (wt || !create)
		return wt;
	bpf_map_update_elem(&lock_waits, &tid, &fresh, BPF_NOEXIST);
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

/* The user stack of the current thread, in a slot of its CPU's. */
static __always_inline __u64 lock_user_stack(void *ctx, const struct sample_key *key, __u32 g)
{
	struct stack_trace *st;
	__u64 *busy, h = 0;
	__u32 slot = scratch_take(&busy);
	long n;

	if (slot >= USER_SCRATCH_SLOTS) {
		count(CPROF_CNT_LOCK_USTACK_LOST);
		return 0;
	}
	st = bpf_map_lookup_elem(&user_scratch, &slot);
	if (!st)
		goto out;
	if (dwarf_unwind && unwind_user(key, st)) {
		h = store_stack(st, g);
		goto out;
	}
	n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), BPF_F_USER_STACK);
	if (n <= 0) {
		count(CPROF_CNT_LOCK_USTACK_LOST);
		goto out;
	}
	st->len = n / sizeof(__u64);
	st->flags = 0;
	h = store_stack(st, g);
out:
	scratch_put(busy, slot);
	return h;
}

/* Record d ns of role on the current thread's stack, for word uaddr:
 * shorter than the rate, drawn with probability d / rate. */
static __noinline void lock_record(void *ctx, __u64 pid_tgid, __u32 role, __u64 uaddr,
					__u64 d)
{
	__u64 weight = LOCK_WEIGHT_ONE, ns = d;
	struct lock_val *v, first;
	struct lock_key key;
	void *counts;
	__u32 seq, g;

	if (lock_rate_ns > 1 && d < lock_rate_ns) {
		if (bpf_get_prandom_u32() % lock_rate_ns >= d) {
			count(CPROF_CNT_LOCK_SAMPLED_OUT);
			return;
		}
		weight = lock_rate_ns * LOCK_WEIGHT_ONE / (d ? d : 1);
		ns = lock_rate_ns;
	}
	seq = gen_enter();
	g = seq & 1;
	sample_key__fill(&key.k, pid_tgid);
	/* a process that contends is worth its unwind tables at once */
	announce_weighted(&key.k, CPROF_BUSY_SAMPLES);
	key.k.ustack = lock_user_stack(ctx, &key.k, g);
	key.uaddr = uaddr;
	key.role = role;
	key._pad = 0;
	count(role == LOCK_WAIT ? CPROF_CNT_LOCK_WAITS_RECORDED : CPROF_CNT_LOCK_WAKES_RECORDED);
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

/* A targeted thread starts waiting on uaddr (tracked: in the word's
 * waiters, for the mutex view's blame). */
static __always_inline void lock_wait_enter(__u64 pid_tgid, __u64 uaddr, bool tracked, bool btf)
{
	struct lock_wait *wt = lock_wait_of((__u32)pid_tgid, true, btf);
	struct lock_word_key wk = { .tgid = pid_tgid >> 32, .uaddr = uaddr };
	struct lock_word *w = NULL, zero = {};
	__u64 now = bpf_ktime_get_ns();

	if (!wt) {
		count(CPROF_CNT_LOCK_WAITS_FULL);
		return;
	}

	if (tracked) {
		w = bpf_map_lookup_elem(&lock_words, &wk);
		if (!w) {
			bpf_map_update_elem(&lock_words, &wk, &zero, BPF_NOEXIST);
			w = bpf_map_lookup_elem(&lock_words, &wk);
			if (!w)
				count(CPROF_CNT_LOCK_WORDS_FULL);
		}
	}
	wt->start_ns = now;
	wt->uaddr = uaddr;
	wt->tgid = pid_tgid >> 32;
	wt->tracked = w && lock_word_change(w, 1, now) >= 0;
}

/* A thread's futex wait (p, noted as it entered) returns ret: how long it
 * waited, to record, or 0. */
static __always_inline __u64 lock_wait_exit(struct lock_wait *p, long ret)
{
	struct lock_word_key wk;
	struct lock_wait wt = *p;
	struct lock_word *w;
	__u64 now;

	p->start_ns = 0;
	now = bpf_ktime_get_ns();
	if (wt.tracked) {
		wk.tgid = wt.tgid;
		wk._pad = 0;
		wk.uaddr = wt.uaddr;
		w = bpf_map_lookup_elem(&lock_words, &wk);
		/* the last waiter gone, and no wake since it began: what is
		 * left (its own wait, at least) was ended by no release */
		if (w && lock_word_change(w, -1, now) == 0 && w->last_wake_ns < wt.start_ns)
			count_add(CPROF_CNT_LOCK_UNBLAMED_NS, __sync_lock_test_and_set(&w->acc_ns, 0));
	}
	if (wt.start_ns < lock_epoch_ns)
		return 0;	/* began before the source was attached */
	count(CPROF_CNT_LOCK_WAITS);
	if (ret == -11 /* EAGAIN: the word had changed, it never slept */) {
		count(CPROF_CNT_LOCK_NOT_BLOCKED);
		return 0;
	}
	return now - wt.start_ns ?: 1;
}

/* A targeted thread's futex wake of uaddr returned, having woken some of
 * its waiters: the time they waited since the word's last such wake, to
 * blame on the waker (0: none). A wake that woke no one ended no wait, and
 * leaves the word alone: under a busy lock most unlocks are so (glibc's
 * word says "contended" until it is taken uncontended again). */
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

/* The word of a futex_waitv(2) or futex_requeue(2) array's first entry
 * (struct futex_waitv: val, uaddr, flags). */
static __always_inline __u64 lock_waitv_word(__u64 arr)
{
	__u64 uaddr = 0;

	bpf_probe_read_user(&uaddr, sizeof(uaddr), (void *)(arr + 8));
	return uaddr;
}

/* Whether a wait for the word at uaddr to hold val will return at once
 * (EAGAIN): the word, read as the kernel is about to read it, holds
 * something else. Under a busy lock most waits are so, and are neither
 * noted nor counted among the word's waiters. */
static __always_inline bool lock_word_changed(__u64 uaddr, __u32 val)
{
	__u32 cur;

	if (bpf_probe_read_user(&cur, sizeof(cur), (void *)uaddr) || cur == val)
		return false;
	count(CPROF_CNT_LOCK_WAITS);
	count(CPROF_CNT_LOCK_NOT_BLOCKED);
	return true;
}

/* Whether a futex system call (id, op: futex(2)'s second argument) is a
 * wait; whether it is a wake that woke someone, as its return (ret) says. */
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

static __always_inline bool lock_woke(long id, __u32 op, long ret)
{
	if (id == NR_FUTEX_WAKE || id == NR_FUTEX_REQUEUE)
		return ret > 0;
	if (id != NR_FUTEX)
		return false;
	switch (op & FUTEX_CMD_MASK) {
	case F_WAKE:
	case F_WAKE_BITSET:
	case F_WAKE_OP:
	case F_REQUEUE:
	case F_CMP_REQUEUE:
	case F_CMP_REQUEUE_PI:
		return ret > 0;		/* woken (and requeued) */
	case F_UNLOCK_PI:
		return ret == 0;	/* the kernel handed the lock on, if anyone waited */
	}
	return false;
}

/* A futex wait enters: id, its arguments (a0 to a3). Wakes are seen as
 * they return, knowing whether they woke anyone. */
static __always_inline int lock_enter(long id, __u64 a0, __u64 a1, __u64 a2, __u64 a3, bool btf)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!task_wanted_cached(pid_tgid >> 32))
		return 0;
	switch (id) {
	case NR_FUTEX_WAIT:	/* (uaddr, val, mask, flags, ...): a u32 word when flags say so */
		if ((a3 & 3) != 2 || !lock_word_changed(a0, (__u32)a1))
			lock_wait_enter(pid_tgid, a0, true, btf);
		return 0;
	case NR_FUTEX_WAITV:	/* on several words at once: not blamed */
		lock_wait_enter(pid_tgid, lock_waitv_word(a0), false, btf);
		return 0;
	}
	switch ((__u32)a1 & FUTEX_CMD_MASK) {
	case F_WAIT:
	case F_WAIT_BITSET:
		if (!lock_word_changed(a0, (__u32)a2))
			lock_wait_enter(pid_tgid, a0, true, btf);
		break;
	default:	/* LOCK_PI, LOCK_PI2, WAIT_REQUEUE_PI */
		lock_wait_enter(pid_tgid, a0, true, btf);
		break;
	}
	return 0;
}

/* A futex system call id returns ret; a0, a1 and a4 are its arguments
 * (a4: futex(2)'s uaddr2), as the registers still hold them. */
static __always_inline int lock_exit(void *ctx, long id, long ret, __u64 a0, __u64 a1, __u64 a4,
				     bool btf)
{
	__u64 pid_tgid, d = 0, uaddr = a0;
	struct lock_wait *t;
	__u32 role = LOCK_WAKE;

	pid_tgid = bpf_get_current_pid_tgid();
	if (lock_woke(id, (__u32)a1, ret)) {
		if (!task_wanted_cached(pid_tgid >> 32))
			return 0;
		if (id == NR_FUTEX_REQUEUE)
			uaddr = lock_waitv_word(a0);
		d = lock_wake(pid_tgid, uaddr);
		/* FUTEX_WAKE_OP's two words: one record, on the first */
		if (id == NR_FUTEX && ((__u32)a1 & FUTEX_CMD_MASK) == F_WAKE_OP)
			d += lock_wake(pid_tgid, a4);
	} else if (lock_is_wait(id, (__u32)a1)) {
		/* what its entry noted, if it waited */
		t = lock_wait_of((__u32)pid_tgid, false, btf);
		if (!t || !t->start_ns)
			return 0;
		uaddr = t->uaddr;
		d = lock_wait_exit(t, ret);
		role = LOCK_WAIT;
	}
	if (d)
		lock_record(ctx, pid_tgid, role, uaddr, d);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(lock_sys_enter, struct pt_regs *regs, long id)
{
	/* every other system call leaves before reading its registers */
	if (!lock_syscall(id) || !lock_is_wait(id, (__u32)regs->si))
		return 0;
	/* di, si, dx, r10: the arguments */
	return lock_enter(id, regs->di, regs->si, regs->dx, regs->r10, true);
}

SEC("raw_tp/sys_enter")
int BPF_PROG(lock_sys_enter_raw, struct pt_regs *regs, long id)
{
	if (!lock_syscall(id) || !lock_is_wait(id, (__u32)BPF_CORE_READ(regs, si)))
		return 0;
	return lock_enter(id, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si),
			  BPF_CORE_READ(regs, dx), BPF_CORE_READ(regs, r10), false);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(lock_sys_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;

	if (!lock_syscall(id))
		return 0;
	return lock_exit(ctx, id, ret, regs->di, regs->si, regs->r8, true);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(lock_sys_exit_raw, struct pt_regs *regs, long ret)
{
	long id = BPF_CORE_READ(regs, orig_ax);

	if (!lock_syscall(id))
		return 0;
	return lock_exit(ctx, id, ret, BPF_CORE_READ(regs, di), BPF_CORE_READ(regs, si),
			 BPF_CORE_READ(regs, r8), false);
}

#endif /* CPROF_BPF_LOCK_H */
