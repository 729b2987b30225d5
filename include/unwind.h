/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Unwind tables shared by user space (which builds them from .eh_frame and
 * .debug_frame) and BPF (which walks user stacks with them). x86-64. */
#ifndef CPROF_UNWIND_H
#define CPROF_UNWIND_H

#ifndef __BPF__
#include <linux/types.h>
#endif

/* How to find the canonical frame address (CFA) at a pc. The return
 * address is always at CFA - 8 on x86-64 (the call pushed it there); an FDE
 * that says otherwise is UNW_CFA_UNSUPPORTED. */
enum unwind_cfa {
	UNW_CFA_NONE = 0,		/* no call-frame information here */
	UNW_CFA_RSP = 1,		/* CFA = rsp + cfa_off */
	UNW_CFA_RBP = 2,		/* CFA = rbp + cfa_off */
	UNW_CFA_PLT = 3,		/* PLT stub: CFA = rsp + 8, + 8 if (pc & 15) >= 11 */
	UNW_CFA_END = 4,		/* outermost frame: the return address is undefined */
	UNW_CFA_UNSUPPORTED = 5,	/* a rule we cannot follow (expressions, other registers) */
};

/* Where the caller's rbp is. */
enum unwind_rbp {
	UNW_RBP_SAME = 0,		/* unchanged by this frame */
	UNW_RBP_CFA = 1,		/* saved at CFA + rbp_off */
	UNW_RBP_UNSUPPORTED = 2,	/* some other rule: rbp is unknown after this frame */
};

/* One row: from pc up to the next row's pc, these rules hold. pc is the ELF
 * virtual address (what the symbol table uses), so rows do not depend on
 * where the object is loaded and are shared by every process mapping it. */
struct unwind_row {
	__u32 pc;
	__u8 cfa_type;			/* enum unwind_cfa */
	__u8 rbp_type;			/* enum unwind_rbp */
	__s16 cfa_off;
	__s16 rbp_off;
	__u16 _pad;
	__u32 _reserved;		/* array map elements are 8-byte aligned anyway */
};

/* Each object's rows are one array map of their own, exactly its size,
 * sorted by pc, created when the table is loaded and put in a slot of an
 * array of maps (the table slots). One element per row, looked up by index:
 * indexing into a big map value instead makes the verifier track the search
 * bounds precisely and never prune its states. Tables come and go with
 * the objects, so the row space grows on demand up to a budget, and an
 * object of any size (libLLVM: 948,856 rows) fits. */
#define UNWIND_MAX_TABLES	16384	/* table slots */
#define UNWIND_MAX_TABLE_ROWS	(1u << 24)	/* one object's: 256 MiB */

/* A lookup in a map of a map is an indirect call (a retpoline on most
 * kernels), some 30 ns, where a lookup in an array map the program names
 * is inlined into a few instructions; and every step of a binary search
 * over a big table is a cache miss. A search over libLLVM's million rows
 * took 21 of the first, 1.9 µs a frame. So each table also has two indexes,
 * in one array map of all of them (unwind_index, 64-bit entries):
 *   blocks: the pc of every UNWIND_INDEX_STRIDE-th row;
 *   pages:  for every page of 2^shift bytes of pcs from the first row's,
 *           the block holding the page's first byte.
 * A search reads the page's entry, searches the few blocks it and the next
 * page's entry bound (neighbours in memory), then at most
 * UNWIND_INDEX_STRIDE rows of the table. */
#define UNWIND_INDEX_STRIDE	32
#define UNWIND_INDEX_SEARCH_STEPS	21	/* covers UNWIND_MAX_TABLE_ROWS / STRIDE */
#define UNWIND_BLOCK_SEARCH_STEPS	5	/* covers the rows after a block's first */
#define UNWIND_PAGE_SHIFT_MIN	12	/* pages as small as 4 KiB */

/* Where a table's indexes are, per table slot. */
struct unwind_table_hdr {
	__u32 blocks;			/* first entry of its block index */
	__u32 nr_blocks;
	__u32 pages;			/* first entry of its page index */
	__u32 nr_pages;			/* at most nr_blocks */
	__u32 pc0;			/* its first row's pc */
	__u32 shift;			/* a page is 2^shift bytes of pcs */
	__u32 gen;			/* bumped whenever the slot gets a table */
	__u32 _pad;
};

/* A per-CPU cache of rows found, by table slot, its generation and pc.
 * The return addresses of a program's hot paths come back in sample after
 * sample (and 40 times in one walk of a 40-deep recursion): a hit costs one
 * inlined lookup instead of a search. Direct-mapped. */
#define UNWIND_ROW_CACHE_BITS	10
#define UNWIND_ROW_CACHE	(1u << UNWIND_ROW_CACHE_BITS)

struct unwind_row_cache_ent {
	__u32 slot;
	__u32 gen;			/* 0: empty (generations start at 1) */
	__u32 pc;
	__u32 _pad;
	struct unwind_row row;
};

/* One executable mapping of a process; a process's mappings are contiguous
 * elements of another array map, sorted by start. */
struct unwind_mapping {
	__u64 start, end;		/* [start, end) runtime addresses */
	__u64 bias;			/* ELF vaddr = runtime address - bias */
	__u32 table;			/* its object's table slot */
	__u32 nr_rows;			/* 0: no table for it: frame pointers */
};

#define UNWIND_DEFAULT_MAPPINGS	(1u << 17)
#define UNWIND_MAX_MAPPINGS	256	/* per process */

/* A process's mappings, for the instance (start_ns, exec_id) they were read
 * from: a table left from before an exec is not used. */
struct unwind_proc {
	__u64 start_ns;
	__u32 exec_id;
	__u32 first_map;
	__u32 nr_maps;
	__u32 _pad;
};

#define UNWIND_MAX_FRAMES	127	/* CPROF_MAX_STACK_DEPTH */

#ifndef __BPF__
_Static_assert(sizeof(struct unwind_row) == 16, "unwind_row layout");
_Static_assert(sizeof(struct unwind_mapping) == 32, "unwind_mapping layout");
_Static_assert(sizeof(struct unwind_proc) == 24, "unwind_proc layout");
_Static_assert(sizeof(struct unwind_table_hdr) == 32, "unwind_table_hdr layout");
_Static_assert(sizeof(struct unwind_row_cache_ent) == 32, "unwind_row_cache_ent layout");
#endif

#endif /* CPROF_UNWIND_H */
