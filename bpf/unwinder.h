/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The user-stack walker: unwind tables built by user space from .eh_frame,
 * walked with bpf_loop() from the task's saved user registers. Included by
 * common.h; the step itself is bpf/unwind_step.h, shared with a unit test. */
#ifndef CPROF_BPF_UNWINDER_H
#define CPROF_BPF_UNWINDER_H

#include "unwind.h"

/* Set by user space when the kernel has bpf_loop and bpf_task_pt_regs;
 * otherwise every stack is walked by frame pointers (bpf_get_stack). */
const volatile bool dwarf_unwind = false;

/* One object's rows: user space creates one such map per table, exactly
 * its size (BPF_F_INNER_MAP lets the sizes differ), fills it through mmap
 * and puts it into a slot of unwind_tables. Mappings name the slot. */
struct unwind_rows {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE | BPF_F_INNER_MAP);
	__uint(max_entries, 1);
	/* sizes, not types: vmlinux.h of recent kernels declares a struct
	 * unwind_row of its own, and the inner map's BTF would find that */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct unwind_row));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, UNWIND_MAX_TABLES);
	__type(key, __u32);
	__array(values, struct unwind_rows);
} unwind_tables SEC(".maps");

/* Every table's indexes (unwind.h): user space writes them before it puts
 * the table into its slot, and sizes the map for the row budget. 64-bit
 * entries: array map elements are 8 bytes at least anyway. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unwind_index SEC(".maps");

/* Where each table slot's indexes are in unwind_index. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UNWIND_MAX_TABLES);
	__type(key, __u32);
	__type(value, struct unwind_table_hdr);
} unwind_table_hdrs SEC(".maps");

/* Rows found, per CPU (unwind.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, UNWIND_ROW_CACHE);
	__type(key, __u32);
	__type(value, struct unwind_row_cache_ent);
} unwind_row_cache SEC(".maps");

/* User space writes a process's mappings into free slots, then publishes
 * the process by updating unwind_procs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UNWIND_DEFAULT_MAPPINGS);
	__type(key, __u32);
	__type(value, struct unwind_mapping);
} unwind_maps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);			/* tgid */
	__type(value, struct unwind_proc);
} unwind_procs SEC(".maps");

/* Processes recently reported for a pc in no mapping, so the report is
 * sent about once a second, not on every sample. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} unwind_stale SEC(".maps");

static __always_inline void *unwind_table_of(const struct unwind_mapping *m)
{
	__u32 slot = m->table;

	return bpf_map_lookup_elem(&unwind_tables, &slot);
}

static __always_inline const struct unwind_row *unwind_row_at(void *tbl, __u32 idx)
{
	return bpf_map_lookup_elem(tbl, &idx);
}

static __always_inline int unwind_hdr_of(const struct unwind_mapping *m,
					 struct unwind_table_hdr *hdr)
{
	__u32 slot = m->table;
	struct unwind_table_hdr *h = bpf_map_lookup_elem(&unwind_table_hdrs, &slot);

	if (!h)
		return -1;
	*hdr = *h;
	return 0;
}

static __always_inline struct unwind_row_cache_ent *unwind_cache_at(__u32 i)
{
	return bpf_map_lookup_elem(&unwind_row_cache, &i);
}

static __always_inline int unwind_index_at(__u32 i, __u32 *out)
{
	__u64 *v = bpf_map_lookup_elem(&unwind_index, &i);

	if (!v)
		return -1;
	*out = (__u32)*v;
	return 0;
}

static __always_inline const struct unwind_mapping *unwind_map_at(__u32 idx)
{
	return bpf_map_lookup_elem(&unwind_maps, &idx);
}

#define UNW_INLINE __always_inline
/* global functions: each verified once, on its own */
#define UNW_SEARCH __noinline
#define UNW_STEP __noinline
#define UNW_READ(dst, size, addr) bpf_probe_read_user(dst, size, (const void *)(addr))
#define UNW_TABLE(m) unwind_table_of(m)
#define UNW_ROW(tbl, idx) unwind_row_at(tbl, idx)
#define UNW_HDR(m, hdr) unwind_hdr_of(m, &(hdr))
#define UNW_CACHE(i) unwind_cache_at(i)
#define UNW_INDEX(i, out) unwind_index_at(i, &(out))
#define UNW_MAP(idx) unwind_map_at(idx)
#include "unwind_step.h"

struct unwind_ctx {
	struct unwind_regs regs;
	const struct unwind_proc *proc;
	struct stack_trace *st;
	__u32 nr;
	int result;
	int leaf;			/* how frame 0 is stepped: UNW_STEP_LEAF[|ENTRY] */
	bool no_mapping;		/* some frame's pc was in no mapping */
};

/* The counters of the ways a step went by frame pointer, in the order of
 * enum unwind_how from UNW_HOW_FP_NO_MAPPING on (checked below). */
#define UNW_HOW_COUNTER(how) (CPROF_CNT_UNW_FP_NO_MAPPING + (how) - UNW_HOW_FP_NO_MAPPING)
_Static_assert(UNW_HOW_COUNTER(UNW_HOW_FP_NO_TABLE) == CPROF_CNT_UNW_FP_NO_TABLE &&
	       UNW_HOW_COUNTER(UNW_HOW_FP_NO_ROW) == CPROF_CNT_UNW_FP_NO_ROW &&
	       UNW_HOW_COUNTER(UNW_HOW_FP_UNSUPPORTED) == CPROF_CNT_UNW_FP_UNSUPPORTED &&
	       UNW_HOW_COUNTER(UNW_HOW_FP_EVICTED) == CPROF_CNT_UNW_FP_EVICTED &&
	       UNW_HOW_NR == UNW_HOW_FP_EVICTED + 1, "unwind_how and the counters agree");

/* Frame i of the walk. The frame is indexed by i, which the verifier sees
 * as unknown, not by a count kept in c: a count it tracks exactly makes
 * every iteration a new state, and the callback never verifies. */
static long unwind_frame(__u32 i, void *arg)
{
	struct unwind_ctx *c = arg;
	int how = UNW_HOW_TABLE, ret;
	__u64 ip = c->regs.ip;
	__u32 h;

	if (i >= CPROF_MAX_STACK_DEPTH) {
		c->result = UNW_ERR_DEPTH;
		return 1;
	}
	ret = unwind_step(&c->regs, c->proc, i == 0 ? c->leaf : 0, &how);
	if (ret == UNW_ERR_NOT_CODE) {
		/* not a frame: not recorded; maybe a library came since */
		c->no_mapping = true;
		c->result = ret;
		return 1;
	}
	/* checked again where it is used: across the step the compiler
	 * keeps i where the verifier loses its bound */
	asm volatile("" : "+r"(i));
	if (i >= CPROF_MAX_STACK_DEPTH)
		return 1;
	c->st->ips[i] = ip;
	c->nr = i + 1;
	h = (__u32)how;
	if (h != UNW_HOW_TABLE && h < UNW_HOW_NR) {
		count(UNW_HOW_COUNTER(h));
		if (how == UNW_HOW_FP_NO_MAPPING)
			c->no_mapping = true;
	}
	if (ret != UNW_CONTINUE) {
		c->result = ret;
		return 1;
	}
	return 0;
}

/* Ask user space to re-read a process's maps (a library was loaded since,
 * or the pc is JIT code), at most about once a second per process. */
static __always_inline void report_stale(const struct sample_key *key)
{
	struct cprof_instance in = { .pid = key->pid, .exec_id = key->exec_id, .start_ns = key->start_ns };
	__u64 now = bpf_ktime_get_ns(), *last;

	last = bpf_map_lookup_elem(&unwind_stale, &key->pid);
	if (last && now - *last < 1000000000ULL)
		return;
	bpf_map_update_elem(&unwind_stale, &key->pid, &now, BPF_ANY);
	send_event(CPROF_EV_MAPS_STALE, &in);
}

/* Walk the current task's user stack into st with the tables; false when
 * the process has none (yet), so the caller falls back to frame pointers.
 * at_entry: the thread is at a function's entry (an allocator's probe), so
 * the first step needs no table (UNW_STEP_ENTRY). */
static __always_inline bool unwind_user(const struct sample_key *key, struct stack_trace *st,
					bool at_entry)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct unwind_ctx c = {
		.st = st, .result = UNW_ERR_DEPTH,
		.leaf = UNW_STEP_LEAF | (at_entry ? UNW_STEP_ENTRY : 0),
	};
	__u64 t0;

	c.proc = bpf_map_lookup_elem(&unwind_procs, &key->pid);
	if (!c.proc || c.proc->start_ns != key->start_ns || c.proc->exec_id != key->exec_id) {
		count(CPROF_CNT_UNW_NO_PROC);
		return false;
	}
	c.regs.ip = BPF_CORE_READ(regs, ip);
	c.regs.sp = BPF_CORE_READ(regs, sp);
	c.regs.bp = BPF_CORE_READ(regs, bp);
	count(CPROF_CNT_UNW_WALKS);
	/* The walk's own time, apart from the rest of the sample, for the
	 * walk-cost figure: two clock reads, about 0.1 µs. */
	t0 = bpf_ktime_get_ns();
	bpf_loop(CPROF_MAX_STACK_DEPTH + 1, unwind_frame, &c, 0);
	count_add(CPROF_CNT_UNW_WALK_NS, bpf_ktime_get_ns() - t0);
	switch (c.result) {
	case UNW_DONE:
		count(CPROF_CNT_UNW_DONE);
		break;
	case UNW_ERR_FP_END:
		count(CPROF_CNT_UNW_END_FP);
		break;
	case UNW_ERR_READ:
		count(CPROF_CNT_UNW_END_READ);
		break;
	case UNW_ERR_BAD_FRAME:
		count(CPROF_CNT_UNW_END_BAD_FRAME);
		break;
	case UNW_ERR_NOT_CODE:
		count(CPROF_CNT_UNW_END_NOT_CODE);
		break;
	default:		/* UNW_ERR_DEPTH */
		count(CPROF_CNT_UNW_END_DEPTH);
	}
	if (c.no_mapping)
		report_stale(key);
	st->len = c.nr;
	st->flags = UNW_TRUNCATED(c.result) ? STACK_F_TRUNCATED : 0;
	return c.nr > 0;
}

#endif /* CPROF_BPF_UNWINDER_H */
