/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The capture core every source shares (bpf/capture.bpf.c): task filter,
 * counters, process-instance events, the generation, and the one
 * stack-capture path with its stacks maps and unwinder. */
#ifndef CPROF_BPF_COMMON_H
#define CPROF_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "cprof.h"

#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000
#endif

/* Load-time knobs, set by user space between open and load. */
const volatile bool include_idle = false;	/* count the idle task (pid 0) */
const volatile bool kernel_stacks = true;

/* The generation BPF writes into is gen & 1; user space bumps gen through
 * the memory-mapped .bss before it drains the other one. */
__u32 gen = 0;

/* When each generation began (bpf_ktime_get_ns()), written by user space
 * before it bumps gen: the scheduler source clips intervals with it. */
__u64 gen_start_ns[CPROF_NR_GENS] = {};

/* New entries put into each generation's maps (stacks and samples), so user
 * space drains early when a generation fills faster than its interval. */
__u64 gen_fill[CPROF_NR_GENS] = {};

/* Which tasks are sampled (CPROF_TGT_*): a global in the memory-mapped
 * .bss rather than a load-time knob, so that user space can change the
 * targets while the programs run. 0: every process. */
__u32 target_flags = 0;

/* Bumped whenever the targets map may have changed (by user space and by
 * bpf/targets.h), so that answers cached per CPU are asked again. */
__u32 targets_gen = 0;

/* The tgids sampled when CPROF_TGT_FILTER is set; the value says why
 * (CPROF_TARGET_PID, CPROF_TARGET_NAME). Kept by user space (--pid, the
 * scan of running processes, what it matched by exe) and by bpf/targets.h
 * (exec, fork, exit). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CPROF_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPROF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_trace);
} stack_scratch SEC(".maps");

/* Stacks by hash, one map per generation, drained and cleared with it. */
struct stacks_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct stack_trace);
} stacks0 SEC(".maps"), stacks1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct stacks_map);
} stacks SEC(".maps") = {
	.values = { &stacks0, &stacks1 },
};

/* Process instances already announced to user space. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct cprof_instance);
	__type(value, struct seen_val);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void count_add(enum cprof_counter c, __u64 n)
{
	__u32 k = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &k);

	if (v)
		*v += n;	/* per-CPU: no atomic needed */
}

static __always_inline void count(enum cprof_counter c)
{
	count_add(c, 1);
}

/* First check on every hot path: is this task one we profile? */
static __always_inline bool task_wanted(__u32 tgid)
{
	if (tgid == 0)
		return include_idle;
	if ((target_flags & CPROF_TGT_FILTER) && !bpf_map_lookup_elem(&targets, &tgid))
		return false;
	return true;
}

/* The last answers of task_wanted() on each CPU, by tgid (direct-mapped):
 * a context switch asks about the same few processes over and over, and
 * an array lookup is inlined where a hash lookup is a call. */
#define WANTED_CACHE 4
struct wanted_ent {
	__u32 tgid;
	__u32 gen;			/* targets_gen + 1 when filled; 0: empty */
	__u32 wanted;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WANTED_CACHE);
	__type(key, __u32);
	__type(value, struct wanted_ent);
} wanted_cache SEC(".maps");

static __always_inline bool task_wanted_cached(__u32 tgid)
{
	__u32 slot = tgid & (WANTED_CACHE - 1), gen = targets_gen + 1;
	struct wanted_ent *e;
	bool wanted;

	if (!(target_flags & CPROF_TGT_FILTER))
		return task_wanted(tgid);
	e = bpf_map_lookup_elem(&wanted_cache, &slot);
	if (e && e->tgid == tgid && e->gen == gen)
		return e->wanted;
	wanted = task_wanted(tgid);
	if (e) {
		e->tgid = tgid;
		e->gen = gen;
		e->wanted = wanted;
	}
	return wanted;
}

/* A context switch (tp_btf sched_switch) or a wake (sched_waking) that no
 * source has anything to do for: by a thread that is not a target (or
 * the idle task), to or of one with no task storage (none followed it).
 * Most of a busy host's when a few processes are targeted: told before
 * anything else is done. */
static __always_inline bool switch_untouched(struct task_struct *next)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	return !next->bpf_storage && (!(__u32)pid_tgid || !task_wanted_cached(pid_tgid >> 32));
}

static __always_inline void send_event(__u32 type, const struct cprof_instance *in)
{
	struct cprof_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(CPROF_CNT_EVENTS_LOST);
		return;
	}
	e->type = type;
	e->pid = in->pid;
	e->start_ns = in->start_ns;
	e->exec_id = in->exec_id;
	e->_pad = 0;
	bpf_ringbuf_submit(e, 0);
}

/* Tell user space about a process instance the first time it shows up, so
 * it reads /proc/PID/maps while the process still lives, and again once it
 * has been sampled CPROF_BUSY_SAMPLES times, so it builds unwind tables.
 * A sample counts as weight samples (the allocator source: a process that
 * allocates is worth its tables at once, before its next frameless call). */
static __always_inline void announce_weighted(const struct sample_key *key, __u32 weight)
{
	struct cprof_instance in = {
		.pid = key->pid,
		.exec_id = key->exec_id,
		.start_ns = key->start_ns,
	};
	struct seen_val first = { .samples = weight < CPROF_BUSY_SAMPLES ? weight : CPROF_BUSY_SAMPLES }, *n;
	struct cprof_event *e;
	long err;

	if (key->pid == 0)
		return;
	first.last_ns = bpf_ktime_get_ns();
	n = bpf_map_lookup_elem(&seen, &in);
	if (n) {
		n->last_ns = first.last_ns;
		/* Not atomic on purpose: a lost update only delays the count,
		 * and whichever CPU writes exactly CPROF_BUSY_SAMPLES sends the
		 * event (twice at worst, which user space takes in its stride). */
		if (n->samples < CPROF_BUSY_SAMPLES) {
			__u32 v = n->samples + weight;

			v = v < CPROF_BUSY_SAMPLES ? v : CPROF_BUSY_SAMPLES;
			n->samples = v;
			if (v == CPROF_BUSY_SAMPLES)
				send_event(CPROF_EV_BUSY, &in);
		}
		return;
	}
	err = bpf_map_update_elem(&seen, &in, &first, BPF_NOEXIST);
	if (err == -17 /* EEXIST */)
		return;		/* another CPU announced it just now */
	if (err) {
		/* cannot remember it: announcing on every sample would flood */
		count(CPROF_CNT_SEEN_FULL);
		return;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		bpf_map_delete_elem(&seen, &in);	/* try again next sample */
		count(CPROF_CNT_EVENTS_LOST);
		return;
	}
	e->type = CPROF_EV_NEW_PROC;
	e->pid = in.pid;
	e->start_ns = in.start_ns;
	e->exec_id = in.exec_id;
	e->_pad = 0;
	bpf_ringbuf_submit(e, 0);
	if (first.samples == CPROF_BUSY_SAMPLES)
		send_event(CPROF_EV_BUSY, &in);
}

static __always_inline void announce(const struct sample_key *key)
{
	announce_weighted(key, 1);
}

/* Who is running: pid, tid, process instance and names. */
static __always_inline void sample_key__fill(struct sample_key *key, __u64 pid_tgid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	__builtin_memset(key, 0, sizeof(*key));
	key->pid = pid_tgid >> 32;
	key->tid = (__u32)pid_tgid;
	key->start_ns = BPF_CORE_READ(leader, start_boottime);
	key->exec_id = (__u32)BPF_CORE_READ(task, self_exec_id);
	BPF_CORE_READ_STR_INTO(&key->comm, leader, comm);
	bpf_get_current_comm(&key->thread, sizeof(key->thread));
}

static __always_inline __u64 stack_hash(const struct stack_trace *st)
{
	__u64 h = 0xcbf29ce484222325ULL ^ st->flags;

	for (int i = 0; i < CPROF_MAX_STACK_DEPTH; i++) {
		if (i >= st->len)
			break;
		h ^= st->ips[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

/* Store the stack in generation g's stacks map (g: gen & 1); return its
 * hash, or 0 when it could not be read or kept (counted). */
static __always_inline __u64 store_stack(struct stack_trace *st, __u32 g)
{
	void *map = bpf_map_lookup_elem(&stacks, &g);
	__u64 h = stack_hash(st);
	long err;

	if (!map)
		return 0;
	if (bpf_map_lookup_elem(map, &h))
		return h;
	err = bpf_map_update_elem(map, &h, st, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST: another CPU stored it */) {
		count(CPROF_CNT_STACKS_FULL);
		return 0;
	}
	if (!err)
		__sync_fetch_and_add(&gen_fill[g & 1], 1);
	return h;
}

/* Add one to key's count in generation g's map of maps (a hash of __u64
 * counts), inserting it when new; full counted as the counter full. */
static __always_inline void count_key(void *maps, __u32 g, const void *key, enum cprof_counter full)
{
	void *m = bpf_map_lookup_elem(maps, &g);
	__u64 one = 1, *val;

	if (!m)
		return;
	val = bpf_map_lookup_elem(m, key);
	if (val) {
		__sync_fetch_and_add(val, 1);
		return;
	}
	if (bpf_map_update_elem(m, key, &one, BPF_NOEXIST)) {
		/* lost a race with another CPU inserting the same key, or full */
		val = bpf_map_lookup_elem(m, key);
		if (val)
			__sync_fetch_and_add(val, 1);
		else
			count(full);
		return;
	}
	__sync_fetch_and_add(&gen_fill[g & 1], 1);
}

/* Programs writing into each generation's maps now, for the sources whose
 * programs may be preempted (uprobes; system call tracepoints), which
 * bpf__sync() does not wait for: after flipping the generation, user space
 * waits for the old one's writers to leave. */
__s64 writers[CPROF_NR_GENS] = {};

/* Enter the generation being written; its sequence number. */
static __always_inline __u32 gen_enter(void)
{
	__u32 seq = 0;

	for (int i = 0; i < 4; i++) {
		seq = *(volatile __u32 *)&gen;
		__sync_fetch_and_add(&writers[seq & 1], 1);
		if (*(volatile __u32 *)&gen == seq)
			return seq;
		__sync_fetch_and_add(&writers[seq & 1], -1);
	}
	/* flipped under us four times: write anyway, counted as a writer */
	__sync_fetch_and_add(&writers[seq & 1], 1);
	return seq;
}

static __always_inline void gen_leave(__u32 seq)
{
	__sync_fetch_and_add(&writers[seq & 1], -1);
}

/* Where those sources build user stacks. Not the per-CPU stack_scratch of
 * the cpu source: such a program may be preempted by another task's, and
 * interrupted by the cpu source's perf_event program, on its CPU. So each
 * takes a free slot of its CPU's. */
#define USER_SCRATCH_SLOTS 4	/* a power of two; scratch_take() tries each */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, USER_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct stack_trace);
} user_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[USER_SCRATCH_SLOTS]);
} user_scratch_busy SEC(".maps");

/* Take a free slot of this CPU's user_scratch: its index, or
 * USER_SCRATCH_SLOTS when every one is taken (preempted thrice). */
static __always_inline __u32 scratch_take(__u64 **busy)
{
	__u32 zero = 0;
	__u64 *b = bpf_map_lookup_elem(&user_scratch_busy, &zero);

	*busy = b;
	if (!b)
		return USER_SCRATCH_SLOTS;
	if (!__sync_val_compare_and_swap(&b[0], 0, 1))
		return 0;
	if (!__sync_val_compare_and_swap(&b[1], 0, 1))
		return 1;
	if (!__sync_val_compare_and_swap(&b[2], 0, 1))
		return 2;
	if (!__sync_val_compare_and_swap(&b[3], 0, 1))
		return 3;
	return USER_SCRATCH_SLOTS;
}

static __always_inline void scratch_put(__u64 *busy, __u32 slot)
{
	__sync_lock_test_and_set(&busy[slot & (USER_SCRATCH_SLOTS - 1)], 0);	/* release */
}

#include "unwinder.h"

/* Read one stack with bpf_get_stack() (user or kernel by flags) into the
 * per-CPU scratch and store it; 0 when empty, unreadable (counted) or not kept. */
static __always_inline __u64 capture(void *ctx, __u32 g, __u64 flags, enum cprof_counter lost)
{
	__u32 zero = 0;
	struct stack_trace *st = bpf_map_lookup_elem(&stack_scratch, &zero);
	long n;

	if (!st)
		return 0;
	n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), flags);
	if (n < 0) {
		count(lost);
		return 0;
	}
	if (n == 0)
		return 0;	/* e.g. no kernel frames: sampled in user mode */
	st->len = n / sizeof(__u64);
	st->flags = 0;
	return store_stack(st, g);
}

/* The user stack: walked with the unwind tables when the kernel can and the
 * process has them, else by frame pointers through bpf_get_stack(). */
static __always_inline __u64 capture_user(void *ctx, const struct sample_key *key, __u32 g)
{
	__u32 zero = 0;
	struct stack_trace *st;

	if (dwarf_unwind) {
		st = bpf_map_lookup_elem(&stack_scratch, &zero);
		if (st && unwind_user(key, st, false))
			return store_stack(st, g);
	}
	return capture(ctx, g, BPF_F_USER_STACK, CPROF_CNT_USTACK_LOST);
}

/* The one stack-capture path every view calls: fill key's stacks for the
 * current task. Kernel threads have no user stack. */
static __always_inline void capture_stacks(void *ctx, struct sample_key *key, __u32 g)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!(BPF_CORE_READ(task, flags) & PF_KTHREAD))
		key->ustack = capture_user(ctx, key, g);
	if (kernel_stacks)
		key->kstack = capture(ctx, g, 0, CPROF_CNT_KSTACK_LOST);
}

/* A process's instance (pid, exec_id, start) as its samples will carry
 * it: user space runs this over one process it has just attached to (the
 * allocator's probes, the futex programs), so that the process's unwind
 * tables are built before its first event (a frame-pointer walk from
 * inside a library without frame pointers, such as glibc, loses the
 * callers). */
SEC("iter/task")
int task_instance(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct cprof_instance in = {};

	if (!t || t->pid != t->tgid)
		return 0;
	in.pid = t->tgid;
	in.exec_id = (__u32)t->self_exec_id;
	in.start_ns = BPF_CORE_READ(t, group_leader, start_boottime);
	bpf_seq_write(ctx->meta->seq, &in, sizeof(in));
	return 0;
}

#endif /* CPROF_BPF_COMMON_H */
