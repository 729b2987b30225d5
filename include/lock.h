/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The futex source (bpf/lock.bpf.h): waits on futexes, on the waiters'
 * stacks (the block view), and the time waiters spent blocked, blamed on
 * the thread whose futex wake ended it (the mutex view). */
#ifndef CPROF_LOCK_H
#define CPROF_LOCK_H

#include "cprof.h"

/* --lock-rate, as Go's runtime.SetBlockProfileRate: a wait (or a wake's
 * blame) of d ns shorter than the rate is recorded with probability
 * d / rate, as rate ns and rate / d events; longer ones all, exactly.
 * A blame not recorded costs no stack; a waiter's stack is read as it
 * leaves the CPU, before its wait's length is known. 0 or 1: every one. */
#define LOCK_DEFAULT_RATE_NS	100000ULL
/* events are kept in 1/1024ths (lock_val.weight) */
#define LOCK_WEIGHT_ONE		1024

/* Which side of a futex a record is. */
enum lock_role {
	LOCK_WAIT = 1,			/* a waiter's wait: the block view */
	LOCK_WAKE = 2,			/* blame at a wake: the mutex view */
};

/* What the lock maps aggregate. */
struct lock_key {
	struct sample_key k;		/* who waited (or woke), user stack only */
	__u64 uaddr;			/* the futex word, in the process's memory */
	__u32 role;			/* enum lock_role */
	__u32 _pad;
};

struct lock_val {
	__u64 weight;			/* events, in 1/1024ths */
	__u64 ns;			/* time waited (sampled ones: the rate each) */
};

/* A thread asleep in a futex wait (BPF only; here for its size): noted as
 * it leaves the CPU, with who it is and the user stack it waits on, read
 * then (the only time the thread runs between the wait's start and its
 * end); recorded as it comes back. */
struct lock_wait {
	__u64 start_ns;			/* 0: in none */
	__u64 woken_ns;			/* when woken (sched_waking); 0: not yet */
	__u64 uaddr;
	__u32 tgid;
	__u32 _pad;
	__u64 tracked;			/* counted in its word's waiters (lock_word) */
	struct sample_key key;		/* who waits (its stacks: none yet) */
	struct stack_trace st;		/* its user stack; len 0: none read */
};

/* A futex word with waiters (BPF only): who waits on it, and the time they
 * have spent waiting since its last wake, to be blamed on the next wake
 * that wakes one of them. */
struct lock_word_key {
	__u32 tgid;
	__u32 _pad;
	__u64 uaddr;
};

struct lock_word {
	/* waiters (low 16 bits) and the time (ns >> LOCK_TIME_SHIFT, high 48
	 * bits, wrapping) the count last changed: one word, so one
	 * compare-and-swap updates both */
	__u64 state;
	__u64 acc_ns;			/* waiting time since the last wake */
	__u64 last_wake_ns;		/* bpf_ktime_get_ns() of the last wake that
					 * woke a waiter */
};
#define LOCK_TIME_SHIFT		6
#define LOCK_WAITERS_MASK	0xffffULL

#ifndef __BPF__
_Static_assert(sizeof(struct lock_key) == 88, "lock_key layout");
_Static_assert(sizeof(struct lock_val) == 16, "lock_val layout");
#endif

#endif /* CPROF_LOCK_H */
