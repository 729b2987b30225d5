/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* One step of a user-stack walk with unwind tables: find the mapping and the
 * row for a pc, compute the caller's pc, sp and rbp. Compiled into the BPF
 * programs and into a user-space unit test, so it is tested without a kernel.
 *
 * The includer defines, before including:
 *   UNW_READ(dst, size, addr)	read size bytes of the target's memory; 0 on success
 *   UNW_TABLE(m)		the rows of mapping m's object (a handle for UNW_ROW),
 *				or NULL when they are not loaded (evicted)
 *   UNW_ROW(tbl, idx)		const struct unwind_row * for row idx of a table, or NULL
 *   UNW_HDR(m, hdr)		copy the struct unwind_table_hdr of m's table into hdr;
 *				0 on success
 *   UNW_INDEX(i, out)		set __u32 out to entry i of the index space; 0 on success
 *   UNW_CACHE(i)		struct unwind_row_cache_ent * for entry i of this CPU's
 *				row cache, or NULL
 *   UNW_MAP(idx)		const struct unwind_mapping * for a mapping index, or NULL
 *   UNW_INLINE			the inline attribute to use
 *   UNW_SEARCH			(optional) how to declare the mapping search
 */
#ifndef CPROF_UNWIND_STEP_H
#define CPROF_UNWIND_STEP_H

#include "unwind.h"

struct unwind_regs {
	__u64 ip, sp, bp;
	/* Not a register: the mapping of the previous step, as its index
	 * (UNW_MAP) + 1, 0 for none. Consecutive frames are mostly in one
	 * object, and checking it first saves the mapping search (about 9%
	 * of a walk's time, measured). */
	__u32 last_map;
	__u32 _pad;
};

enum unwind_result {
	UNW_CONTINUE = 0,
	UNW_DONE = 1,			/* reached the outermost frame */
	UNW_ERR_READ = -1,		/* the stack could not be read */
	UNW_ERR_BAD_FRAME = -2,		/* the frame does not make sense (sp did not
					 * grow, rbp below sp or misaligned) */
	UNW_ERR_FP_END = -3,		/* frame-pointer walk reached rbp 0 */
	UNW_ERR_DEPTH = -4,		/* the frame limit came first (set by the loop) */
	UNW_ERR_NOT_CODE = -5,		/* the pc is in no executable mapping of the
					 * process: not a return address. The frame
					 * is not recorded */
};

/* Whether a walk that ended so stopped short of the outermost frame for a
 * reason the walker knows: the stack is marked truncated. A frame-pointer
 * walk that reaches rbp 0 ended as frame-pointer code ends. */
#define UNW_TRUNCATED(res) ((res) != UNW_DONE && (res) != UNW_ERR_FP_END && (res) != UNW_CONTINUE)

/* How the step was taken, for counters. */
enum unwind_how {
	UNW_HOW_TABLE = 0,		/* with the object's row */
	UNW_HOW_FP_NO_MAPPING = 1,	/* pc in no known mapping (JIT, vdso, unknown) */
	UNW_HOW_FP_NO_TABLE = 2,	/* mapping without a table */
	UNW_HOW_FP_NO_ROW = 3,		/* pc outside every FDE of its object */
	UNW_HOW_FP_UNSUPPORTED = 4,	/* a rule we cannot follow */
	UNW_HOW_FP_EVICTED = 5,		/* its table was evicted, or refused for room */
	UNW_HOW_NR = 6,
	UNW_HOW_ENTRY = 7,		/* at a function's entry (UNW_STEP_ENTRY): exact
					 * without a table; not a frame-pointer way */
};

#ifndef UNW_SEARCH
#define UNW_SEARCH static UNW_INLINE
#endif

/* Of the nr mappings from index first, the one that may hold ip (the last
 * that starts at or below it), by binary search: 9 steps cover
 * UNWIND_MAX_MAPPINGS. Its offset from first, or -1: none. The includer
 * may make it a function of its own (UNW_SEARCH): the BPF verifier then
 * checks it once, apart from the walk, instead of with every path the
 * walk may take into it. */
UNW_SEARCH int unwind_mapping_search(__u32 first, __u32 nr, __u64 ip)
{
	const struct unwind_mapping *m;
	__u32 lo = 0, hi = nr, mid;

	for (int i = 0; i < 10 && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		m = UNW_MAP(first + mid);
		if (!m)
			return -1;
		if (m->start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (int)lo - 1;
}

/* The mapping holding ip. */
static UNW_INLINE const struct unwind_mapping *
unwind_find_mapping(const struct unwind_proc *p, __u64 ip)
{
	int i = unwind_mapping_search(p->first_map, p->nr_maps, ip);
	const struct unwind_mapping *m;

	if (i < 0)
		return 0;
	m = UNW_MAP(p->first_map + (__u32)i);
	return m && ip < m->end ? m : 0;
}

/* The last row of table tbl (nr rows, its indexes as hdr says) whose pc
 * <= pc: the page's entries bound the blocks to search, and the block
 * found bounds the rows. */
static UNW_INLINE const struct unwind_row *
unwind_find_row(void *tbl, const struct unwind_table_hdr *hdr, __u32 nr, __u32 pc)
{
	__u32 page, lo, hi, mid, first, v;
	const struct unwind_row *row;

	if (pc < hdr->pc0 || !hdr->nr_pages || hdr->shift >= 32)
		return 0;
	page = (pc - hdr->pc0) >> hdr->shift;
	if (page >= hdr->nr_pages)
		page = hdr->nr_pages - 1;
	/* the block holding the page's first byte is at or before pc's;
	 * the next page's is at or after it */
	if (UNW_INDEX(hdr->pages + page, lo))
		return 0;
	hi = hdr->nr_blocks;
	if (page + 1 < hdr->nr_pages) {
		if (UNW_INDEX(hdr->pages + page + 1, v))
			return 0;
		hi = v + 1 < hi ? v + 1 : hi;
	}
	if (lo >= hi)
		return 0;
	/* the last block in [lo, hi) whose first pc <= pc: lo is one */
	lo++;
	for (int i = 0; i < UNWIND_INDEX_SEARCH_STEPS && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		if (UNW_INDEX(hdr->blocks + mid, v))
			return 0;
		if (v <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the block's first row is <= pc: search the rest of it */
	first = (lo - 1) * UNWIND_INDEX_STRIDE;
	if (first >= nr)
		return 0;
	hi = nr - first < UNWIND_INDEX_STRIDE ? nr - first : UNWIND_INDEX_STRIDE;
	lo = 1;
	for (int i = 0; i < UNWIND_BLOCK_SEARCH_STEPS && lo < hi; i++) {
		mid = lo + (hi - lo) / 2;
		row = UNW_ROW(tbl, first + mid);
		if (!row)
			return 0;
		if (row->pc <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	row = UNW_ROW(tbl, first + lo - 1);
	/* an index that disagrees with the rows is no index: no row */
	return row && row->pc <= pc ? row : 0;
}

/* The frame-pointer step: [rbp] is the caller's rbp, [rbp + 8] the return
 * address. Used where there is no table (JIT code, the vdso): the last
 * resort. */
static UNW_INLINE int unwind_fp_step(struct unwind_regs *r)
{
	__u64 frame[2];

	if (r->bp == 0)
		return UNW_ERR_FP_END;
	if (r->bp < r->sp || (r->bp & 7))
		return UNW_ERR_BAD_FRAME;
	if (UNW_READ(frame, sizeof(frame), r->bp))
		return UNW_ERR_READ;
	r->sp = r->bp + 16;
	r->bp = frame[0];
	r->ip = frame[1];
	return r->ip ? UNW_CONTINUE : UNW_DONE;
}

/* Step from the frame in r to its caller. leaf: r->ip is where the thread
 * was, not a return address (which points after its call, so is looked up
 * one byte back). *how says which way the step went.
 *
 * A return address must lie in an executable mapping of the process: one
 * that does not (text or a pointer read off the stack as a frame) ends the
 * walk with UNW_ERR_NOT_CODE before the frame is recorded, and r is left
 * as it was. The leaf pc came from the registers, so it is real even
 * outside the known mappings (JIT code or a library loaded since the maps
 * were read): that frame is stepped by frame pointer.
 *
 * unwind_step_in() is the step with the process's mappings as the index
 * range [first, first + nr) and flags UNW_STEP_*: what the includer may
 * make a function of its own (UNW_STEP), verified once apart from the walk
 * around it (one step's paths, times the walk's, are more than the BPF
 * verifier takes). */
#define UNW_STEP_LEAF	1	/* r->ip is where the thread was */
#define UNW_STEP_PROC	2	/* the process's mappings are known */
/* With UNW_STEP_LEAF: r->ip is at the entry of a function, before it has
 * moved rsp or touched rbp (an entry probe, placed no later than its first
 * push). The return address is at [rsp] and rbp is the caller's: a step
 * that needs no table, and is right where a frame-pointer step would skip
 * the caller (its table not built yet, a library loaded since). */
#define UNW_STEP_ENTRY	4

#ifndef UNW_STEP
#define UNW_STEP static UNW_INLINE
#endif

UNW_STEP int unwind_step_in(struct unwind_regs *r, __u32 first, __u32 nr, int flags, int *how)
{
	const struct unwind_mapping *m = 0;
	struct unwind_row_cache_ent *ce;
	const struct unwind_row *row;
	struct unwind_table_hdr hdr;
	__u64 cfa, pc, frame[2];
	__u32 idx;
	int leaf = flags & UNW_STEP_LEAF, i;
	void *tbl;

	if (!r || !how)		/* a function of its own may be passed NULL */
		return UNW_ERR_READ;
	if ((flags & (UNW_STEP_LEAF | UNW_STEP_ENTRY)) == (UNW_STEP_LEAF | UNW_STEP_ENTRY)) {
		*how = UNW_HOW_ENTRY;
		if (UNW_READ(&frame[1], 8, r->sp))
			return UNW_ERR_READ;
		r->ip = frame[1];
		r->sp += 8;
		r->last_map = 0;
		return r->ip ? UNW_CONTINUE : UNW_DONE;
	}
	idx = r->last_map;
	if (idx)
		m = UNW_MAP(idx - 1);
	if (!m || r->ip < m->start || r->ip >= m->end) {
		m = 0;
		idx = 0;
		i = flags & UNW_STEP_PROC ? unwind_mapping_search(first, nr, r->ip) : -1;
		if (i >= 0) {
			idx = first + (__u32)i;
			m = UNW_MAP(idx);
			if (m && r->ip >= m->end)
				m = 0;
			idx++;
		}
	}

	if (!m) {
		if ((flags & UNW_STEP_PROC) && !leaf)
			return UNW_ERR_NOT_CODE;
		r->last_map = 0;
		*how = UNW_HOW_FP_NO_MAPPING;
		return unwind_fp_step(r);
	}
	r->last_map = idx;
	if (!m->nr_rows) {
		*how = UNW_HOW_FP_NO_TABLE;
		return unwind_fp_step(r);
	}
	tbl = UNW_TABLE(m);
	if (!tbl || UNW_HDR(m, hdr)) {
		*how = UNW_HOW_FP_EVICTED;
		return unwind_fp_step(r);
	}
	pc = r->ip - m->bias - (leaf ? 0 : 1);
	ce = UNW_CACHE((((__u32)pc * 0x9e3779b1u) ^ (m->table * 0x85ebca6bu)) >>
		       (32 - UNWIND_ROW_CACHE_BITS));
	if (ce && ce->gen == hdr.gen && ce->pc == (__u32)pc && ce->slot == m->table) {
		row = &ce->row;
	} else {
		row = unwind_find_row(tbl, &hdr, m->nr_rows, (__u32)pc);
		if (ce && row) {
			ce->slot = m->table;
			ce->gen = hdr.gen;
			ce->pc = (__u32)pc;
			ce->row = *row;
		}
	}
	if (!row || row->cfa_type == UNW_CFA_NONE) {
		*how = UNW_HOW_FP_NO_ROW;
		return unwind_fp_step(r);
	}
	*how = UNW_HOW_TABLE;
	switch (row->cfa_type) {
	case UNW_CFA_RSP:
		cfa = r->sp + row->cfa_off;
		break;
	case UNW_CFA_RBP:
		cfa = r->bp + row->cfa_off;
		break;
	case UNW_CFA_PLT:
		cfa = r->sp + 8 + ((r->ip & 15) >= 11 ? 8 : 0);
		break;
	case UNW_CFA_END:
		return UNW_DONE;
	default:
		*how = UNW_HOW_FP_UNSUPPORTED;
		return unwind_fp_step(r);
	}
	if (cfa <= r->sp)
		return UNW_ERR_BAD_FRAME;
	if (row->rbp_type == UNW_RBP_CFA && row->rbp_off == -16) {
		/* the usual prologue: saved rbp and return address side by
		 * side, one read for both (reads are the walk's main cost) */
		if (UNW_READ(frame, 16, cfa - 16))
			return UNW_ERR_READ;
		r->bp = frame[0];
	} else {
		if (UNW_READ(&frame[1], 8, cfa - 8))
			return UNW_ERR_READ;
		if (row->rbp_type == UNW_RBP_CFA) {
			if (UNW_READ(&frame[0], 8, cfa + row->rbp_off))
				return UNW_ERR_READ;
			r->bp = frame[0];
		} else if (row->rbp_type == UNW_RBP_UNSUPPORTED) {
			r->bp = 0;
		}
	}
	r->ip = frame[1];
	r->sp = cfa;
	return r->ip ? UNW_CONTINUE : UNW_DONE;
}

/* The step for process p (NULL: its mappings are not known); leaf: 0, or
 * UNW_STEP_LEAF, with UNW_STEP_ENTRY or not. */
static UNW_INLINE int unwind_step(struct unwind_regs *r, const struct unwind_proc *p, int leaf,
				  int *how)
{
	return unwind_step_in(r, p ? p->first_map : 0, p ? p->nr_maps : 0,
			      (leaf ? leaf | UNW_STEP_LEAF : 0) | (p ? UNW_STEP_PROC : 0), how);
}

#endif /* CPROF_UNWIND_STEP_H */
