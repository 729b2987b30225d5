/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The allocator source (the heap and allocs views): uprobes on the entry
 * points of the allocator each target uses. Part of bpf/capture.bpf.c.
 *
 * A uprobe is a trap; the program's own work must stay small beside it,
 * and the return probe, which costs a second trap, must be paid only by
 * calls that are sampled. So:
 * - at an allocation's entry the size is taken off a per-CPU count of
 *   bytes until the next sample, drawn from an exponential distribution of
 *   mean --heap-rate (Go's MemProfileRate): a call of s bytes is sampled
 *   with probability 1 - exp(-s / rate), whichever CPU or thread makes it.
 *   An unsampled call returns at once and, through a uprobe session
 *   (kernel 6.13), cancels its return probe. A sampled one captures its
 *   user stack, adds one to its (who, stack, size) record and notes itself
 *   for its thread;
 * - at its return the block's address goes into the live table, with the
 *   record it was counted in;
 * - a free looks its address up in the live table: a sampled block's free
 *   is counted against the record that allocated it.
 * realloc is a free and an allocation. Kernels without sessions run the
 *   same code from a uprobe and a uretprobe (every call pays the return).
 *
 * User space puts each probe on the first instruction the kernel emulates
 * before the function changes its stack pointer or its arguments
 * (daemon/capture/allocator.c): there [sp] is still the return address. */
#ifndef CPROF_BPF_HEAP_H
#define CPROF_BPF_HEAP_H

#include <bpf/bpf_tracing.h>
#include "heap.h"

/* Load-time knobs: the mean bytes between samples (1: every allocation),
 * and the mean of -ln(1 + f) over each 256th of [0, 1), in 1/65536ths,
 * filled by user space: next_sample() draws with them. */
const volatile __u64 heap_rate = HEAP_DEFAULT_RATE;
const volatile __u32 heap_ln_q16[256] = {};

extern bool bpf_session_is_return(void) __ksym __weak;

/* Bytes until the next sample, per CPU; 0: not drawn yet. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __s64);
} heap_next SEC(".maps");

struct heap_allocs_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct heap_key);
	__type(value, __u64);
} heap_allocs0 SEC(".maps"), heap_allocs1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct heap_allocs_map);
} heap_allocs SEC(".maps") = {
	.values = { &heap_allocs0, &heap_allocs1 },
};

struct heap_frees_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct heap_free_key);
	__type(value, __u64);
} heap_frees0 SEC(".maps"), heap_frees1 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, CPROF_NR_GENS);
	__type(key, __u32);
	__array(values, struct heap_frees_map);
} heap_frees SEC(".maps") = {
	.values = { &heap_frees0, &heap_frees1 },
};

/* Sampled blocks not yet freed: memory only as it is used. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct heap_live_key);
	__type(value, struct heap_live);
} heap_live SEC(".maps");

/* Sampled calls between entry and return, by thread. LRU: a thread that
 * never returns (killed inside malloc) leaves nothing behind for long. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct heap_pending);
} heap_pending SEC(".maps");

/* -ln(u) for u uniform in (0, 1], in 1/65536ths: u = 2^-(k+1) (1 + f),
 * k the leading zeros of a random word (P(k) = 2^-(k+1)), f uniform in
 * [0, 1) by 256ths from a second one, each 256th at its mean. */
static __always_inline __u64 neg_ln_q16(void)
{
	__u32 r = bpf_get_prandom_u32(), k = 0;

	if (!r)
		k = 32;
	else {
		if (!(r & 0xffff0000u)) { k += 16; r <<= 16; }
		if (!(r & 0xff000000u)) { k += 8; r <<= 8; }
		if (!(r & 0xf0000000u)) { k += 4; r <<= 4; }
		if (!(r & 0xc0000000u)) { k += 2; r <<= 2; }
		if (!(r & 0x80000000u)) { k += 1; }
	}
	return (__u64)(k + 1) * 45426 /* ln 2 */ - heap_ln_q16[bpf_get_prandom_u32() & 255];
}

/* Whether an allocation of size bytes is sampled. */
static __always_inline bool heap_sampled(__u64 size)
{
	__u32 zero = 0;
	__s64 *left;

	if (heap_rate <= 1)
		return size != 0;
	left = bpf_map_lookup_elem(&heap_next, &zero);
	if (!left || !size)
		return false;
	if (*left == 0)
		*left = (__s64)((heap_rate * neg_ln_q16()) >> 16) + 1;
	*left -= (__s64)size;
	if (*left > 0)
		return false;
	*left = (__s64)((heap_rate * neg_ln_q16()) >> 16) + 1;
	return true;
}

/* A free of addr: counted if it was a sampled block. */
static __always_inline void heap_free(__u32 tgid, __u64 addr)
{
	struct heap_live_key lk = { .tgid = tgid, .addr = addr };
	struct heap_free_key fk = {};
	struct heap_live *lv;
	__u32 seq;

	if (!addr)
		return;
	lv = bpf_map_lookup_elem(&heap_live, &lk);
	if (!lv) {
		if (heap_rate <= 1)
			count(CPROF_CNT_HEAP_FREE_UNKNOWN);
		return;
	}
	fk.id = lv->id;
	fk.alloc_gen = lv->gen;
	/* of two frees of one block at once, one deletes it */
	if (bpf_map_delete_elem(&heap_live, &lk))
		return;
	count(CPROF_CNT_HEAP_FREED);
	seq = gen_enter();
	count_key(&heap_frees, seq & 1, &fk, CPROF_CNT_HEAP_COUNTS_FULL);
	gen_leave(seq);
}

static __always_inline __u64 heap_key_hash(const struct heap_key *key)
{
	const __u64 *w = (const __u64 *)key;
	__u64 h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < (int)(offsetof(struct heap_key, id) / 8); i++) {
		h ^= w[i];
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

/* The user stack at a function's entry. A frame-pointer walk would skip
 * the caller (its return address is at [sp], not yet linked into the
 * frame chain): it is put back in from there. */
/* A call that reached the allocator by a tail call from a probed function
 * (glibc's realloc(NULL, n) to malloc) finds at [sp] the return probe's
 * trampoline, when a return probe was asked for there (by another target's
 * link, which the kernel runs too): the caller is where the kernel keeps
 * it, in the thread's latest return instance, for that stack slot. 0: not
 * so. */
static __always_inline __u64 heap_hijacked(struct pt_regs *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct return_instance *ri = BPF_CORE_READ(t, utask, return_instances);

	if (!ri || BPF_CORE_READ(ri, stack) != PT_REGS_SP(ctx))
		return 0;
	return BPF_CORE_READ(ri, orig_ret_vaddr);
}

static __always_inline __u64 heap_walk(struct pt_regs *ctx, const struct sample_key *key,
				       struct stack_trace *st, __u32 g)
{
	__u64 caller = heap_hijacked(ctx);
	long n;

	/* the tables' walk would stop at the trampoline; frame pointers
	 * can go on from the caller put back */
	if (!caller && dwarf_unwind && unwind_user(key, st, true))
		return store_stack(st, g);
	n = bpf_get_stack(ctx, &st->ips[1], sizeof(st->ips) - sizeof(__u64), BPF_F_USER_STACK);
	if (n <= 0) {
		count(CPROF_CNT_HEAP_USTACK_LOST);
		return 0;
	}
	st->len = n / sizeof(__u64);
	st->flags = 0;
	st->ips[0] = st->ips[1];
	if (caller)
		st->ips[1] = caller, st->len++;
	else if (!bpf_probe_read_user(&st->ips[1], sizeof(__u64), (void *)PT_REGS_SP(ctx)))
		st->len++;
	else if (st->len > 1)
		st->ips[1] = 0, st->len = 1;
	return store_stack(st, g);
}

static __always_inline __u64 heap_user_stack(struct pt_regs *ctx, const struct sample_key *key,
					     __u32 g)
{
	struct stack_trace *st;
	__u64 *busy, h = 0;
	__u32 slot = scratch_take(&busy);

	if (slot < USER_SCRATCH_SLOTS) {
		st = bpf_map_lookup_elem(&user_scratch, &slot);
		if (st)
			h = heap_walk(ctx, key, st, g);
		scratch_put(busy, slot);
		return h;
	}
	count(CPROF_CNT_HEAP_USTACK_LOST);	/* every slot taken: preempted thrice */
	return 0;
}

/* n * size, or 0 where that overflows (the call fails); no 128-bit
 * multiply in BPF: operands of 32 bits each cannot overflow. */
static __always_inline __u64 heap_mul(__u64 a, __u64 b)
{
	if ((a >> 32) && b > 1)
		return 0;
	if ((b >> 32) && a > 1)
		return 0;
	return a * b;
}

/* An allocation's entry: whether its return must be seen (sampled). */
static __always_inline bool heap_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), cookie = bpf_get_attach_cookie(ctx);
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid, fn = cookie & 0xff;
	struct heap_pending pd = {};
	__u64 size, a, b;
	__u32 g;

	if (!task_wanted_cached(tgid))
		return false;
	switch (fn) {
	case HEAP_FN_FREE:
		count(CPROF_CNT_HEAP_FREE_CALLS);
		heap_free(tgid, PT_REGS_PARM1(ctx));
		return false;
	case HEAP_FN_REALLOC:
		a = PT_REGS_PARM1(ctx);
		if (!a && (cookie & HEAP_COOKIE_NULL_TO_MALLOC))
			return false;	/* malloc's probe counts it */
		heap_free(tgid, a);
		size = PT_REGS_PARM2(ctx);
		break;
	case HEAP_FN_REALLOCARRAY:
		heap_free(tgid, PT_REGS_PARM1(ctx));
		a = PT_REGS_PARM2(ctx);
		b = PT_REGS_PARM3(ctx);
		size = heap_mul(a, b);
		break;
	case HEAP_FN_CALLOC:
		a = PT_REGS_PARM1(ctx);
		b = PT_REGS_PARM2(ctx);
		size = heap_mul(a, b);
		break;
	case HEAP_FN_POSIX_MEMALIGN:
		pd.memptr = PT_REGS_PARM1(ctx);
		size = PT_REGS_PARM3(ctx);
		break;
	case HEAP_FN_MEMALIGN:
		size = PT_REGS_PARM2(ctx);
		break;
	case HEAP_FN_MALLOC:
	case HEAP_FN_PVALLOC:
		size = PT_REGS_PARM1(ctx);
		break;
	default:
		return false;
	}
	count(CPROF_CNT_HEAP_CALLS);
	if (!heap_sampled(size))
		return false;
	count(CPROF_CNT_HEAP_SAMPLED);

	/* the record it is counted in, with its stack, in one generation */
	pd.gen = gen_enter();
	pd.fn = fn;
	g = pd.gen & 1;
	sample_key__fill(&pd.key.k, pid_tgid);
	announce_weighted(&pd.key.k, CPROF_BUSY_SAMPLES);
	pd.key.k.ustack = heap_user_stack(ctx, &pd.key.k, g);
	pd.key.size = size;
	pd.key.id = heap_key_hash(&pd.key);
	count_key(&heap_allocs, g, &pd.key, CPROF_CNT_HEAP_COUNTS_FULL);
	if (bpf_map_update_elem(&heap_pending, &tid, &pd, BPF_ANY)) {
		/* cannot wait for its address: as if freed at once */
		struct heap_free_key fk = { .id = pd.key.id, .alloc_gen = pd.gen };

		count(CPROF_CNT_HEAP_PENDING_LOST);
		count_key(&heap_frees, g, &fk, CPROF_CNT_HEAP_COUNTS_FULL);
		gen_leave(pd.gen);
		return false;
	}
	gen_leave(pd.gen);
	return true;
}

/* A sampled allocation's return: its block goes live. */
static __always_inline void heap_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid(), addr = PT_REGS_RC(ctx);
	__u32 tid = (__u32)pid_tgid;
	struct heap_live_key lk = { .tgid = pid_tgid >> 32 };
	struct heap_pending *pd = bpf_map_lookup_elem(&heap_pending, &tid);
	struct heap_free_key fk = {};
	struct heap_live lv = {};
	__u32 seq;

	if (!pd) {
		count(CPROF_CNT_HEAP_PENDING_LOST);
		return;
	}
	fk.id = lv.id = pd->key.id;
	fk.alloc_gen = lv.gen = pd->gen;
	if (pd->fn == HEAP_FN_POSIX_MEMALIGN) {
		__u64 ptr = 0;

		if (addr || bpf_probe_read_user(&ptr, sizeof(ptr), (void *)pd->memptr))
			ptr = 0;	/* it failed: returned an error */
		addr = ptr;
	}
	bpf_map_delete_elem(&heap_pending, &tid);
	lk.addr = addr;
	if (!addr) {
		count(CPROF_CNT_HEAP_FAILED);
	} else if (bpf_map_update_elem(&heap_live, &lk, &lv, BPF_ANY)) {
		count(CPROF_CNT_HEAP_LIVE_FULL);
	} else {
		return;
	}
	/* no block to wait for the free of: freed at once */
	seq = gen_enter();
	count_key(&heap_frees, seq & 1, &fk, CPROF_CNT_HEAP_COUNTS_FULL);
	gen_leave(seq);
}

/* With uprobe sessions (6.13): one program for entry and return; an entry
 * that returns 1 cancels its return probe. */
SEC("uprobe")
int heap_session(struct pt_regs *ctx)
{
	if (bpf_session_is_return()) {
		heap_return(ctx);
		return 0;
	}
	return heap_entry(ctx) ? 0 : 1;
}

/* Without: an entry probe, and a return probe on every allocation. */
/* These run under the kernel's bpf_prog_active, which keeps every other
 * BPF program from running on the CPU meanwhile, the cpu source's sampling
 * included: their time is counted, so that what they cost the CPU view is
 * known. */
SEC("uprobe")
int heap_uprobe(struct pt_regs *ctx)
{
	__u64 t0 = bpf_ktime_get_ns();

	heap_entry(ctx);
	count_add(CPROF_CNT_HEAP_BLOCK_NS, bpf_ktime_get_ns() - t0);
	return 0;
}

SEC("uretprobe")
int heap_uretprobe(struct pt_regs *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 t0 = bpf_ktime_get_ns();

	/* unsampled calls: nothing noted for the thread */
	if (bpf_map_lookup_elem(&heap_pending, &tid))
		heap_return(ctx);
	count_add(CPROF_CNT_HEAP_BLOCK_NS, bpf_ktime_get_ns() - t0);
	return 0;
}

#endif /* CPROF_BPF_HEAP_H */
