/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The scheduler source (bpf/sched.bpf.h): intervals a targeted thread
 * spends off CPU, for the offcpu and wall views. */
#ifndef CPROF_OFFCPU_H
#define CPROF_OFFCPU_H

#include "cprof.h"

/* Intervals shorter than this are counted (offcpu_short), not recorded:
 * --offcpu-min, in microseconds on the command line. */
#define OFFCPU_DEFAULT_MIN_NS	1000ULL

/* --offcpu-rate, as Go's runtime.SetBlockProfileRate: an interval of
 * length d shorter than the rate is recorded with probability d / rate,
 * as rate nanoseconds and rate / d events, so that the totals are
 * unbiased while the stacks of short waits are read only now and then;
 * longer intervals are all recorded, exactly. 0: every interval. */
#define OFFCPU_DEFAULT_RATE_NS	50000ULL
/* --offcpu-reads: the waits whose stacks a CPU reads, at most about so
 * many a second; past that the CPU raises its rate above --offcpu-rate
 * (bpf/sched.bpf.h, offcpu_cpu()). 0: no bound. */
#define OFFCPU_DEFAULT_READS	50
/* events are kept in 1/1024ths (offcpu_val.weight) */
#define OFFCPU_WEIGHT_ONE	1024

/* Why a thread was off CPU, from the state it left the CPU in. */
enum offcpu_state {
	OFFCPU_RUNNING = 0,		/* not off CPU: the wall view's CPU samples */
	OFFCPU_SLEEPING = 1,		/* interruptible wait (S) */
	OFFCPU_UNINTERRUPTIBLE = 2,	/* uninterruptible wait (D) */
	OFFCPU_PREEMPTED = 3,		/* runnable: taken off while it could run (in
					 * the kernel or on its way back to user code),
					 * or it yielded */
	OFFCPU_STOPPED = 4,		/* stopped or traced */
	OFFCPU_PARKED = 5,		/* a parked kernel thread */
	OFFCPU_NR_STATES,
};

/* syscall: the system call the thread waited in, by number; or none (a
 * page fault, a preemption in user code, a kernel thread). */
#define OFFCPU_NO_SYSCALL	0xffffffffu

/* What one record of the offcpu maps aggregates. */
struct offcpu_key {
	struct sample_key k;		/* who, and the stacks where it waited */
	__u32 state;			/* enum offcpu_state */
	__u32 syscall;
	/* 0: the intervals began in the generation they are recorded in;
	 * else 1 + the generation (its sequence number) they began in, so
	 * that a window clips what began before it opened (user space). */
	__u32 since;
	__u32 _pad;
};

struct offcpu_val {
	__u64 count;			/* intervals recorded */
	__u64 weight;			/* the events they stand for, in 1/1024ths */
	__u64 ns;			/* their length (sampled ones: the rate each) */
	/* Sum over them of (end - the start of the generation recorded in):
	 * with since != 0, what lies before the generation is ns - this.
	 * Negative for an interval that ended before the generation began
	 * (recorded late: its user stack waited for the thread to run). */
	__s64 ns_in_gen;
};

/* Where a thread is, for the scheduler source. */
enum { THR_ON_CPU, THR_OFF_CPU, THR_PENDING };

/* The scheduler source's per-thread state (BPF only; here for its size):
 * one per targeted thread that has left the CPU, until it exits. */
struct offcpu_thread {
	__u64 start_ns;			/* left the CPU */
	__u64 end_ns;			/* came back (THR_PENDING) */
	__u64 uip, usp;			/* user registers as it left */
	__u64 ustack, kstack;		/* hashes, once captured */
	__u32 start_gen;		/* gen as it left */
	__u32 syscall;			/* OFFCPU_NO_SYSCALL: none */
	__u8 state;			/* enum offcpu_state */
	__u8 phase;			/* THR_* */
	__u8 eager;			/* stacks captured as it left (preempted, or
					 * not coming back through rseq_update) */
	__u8 sampled;			/* shorter than the rate, and drawn */
	__u16 keep;			/* one read as it left: drawn with probability
					 * keep / 1024 then (0: not drawn) */
	__u16 _pad;
	__u32 last_preempted_ns;	/* its last preemption's length (capped) */
	__u32 capture_ns;		/* of this interval, the reading of its stacks
					 * as it left (one drawn then) */
	__u32 last_slept_ns;		/* its last other interval's length (capped) */
	__u32 rate_ns;			/* sampled: the rate its CPU drew it at */
};

/* A CPU's reading budget (bpf/sched.bpf.h, offcpu_cpu()): a per-CPU
 * array's one value. */
struct offcpu_cpu {
	__u64 period_ns;		/* this period began */
	__u64 rate_ns;			/* the CPU's rate now */
	__u32 reads;			/* waits whose stacks it read this period */
	__u32 _pad;
};

#ifndef __BPF__
_Static_assert(sizeof(struct offcpu_cpu) == 24, "offcpu_cpu layout");
_Static_assert(sizeof(struct offcpu_thread) == 80, "offcpu_thread layout");
_Static_assert(sizeof(struct offcpu_key) == 88, "offcpu_key layout");
_Static_assert(sizeof(struct offcpu_val) == 32, "offcpu_val layout");
#endif

#endif /* CPROF_OFFCPU_H */
