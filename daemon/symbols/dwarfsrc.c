// SPDX-License-Identifier: GPL-2.0
/*
 * File, line and inlined frames of code addresses, from DWARF read through
 * libdw (DWARF 4 and 5, one file: split DWARF is not followed).
 *
 * An address is resolved from tables that are each built once, when first
 * needed, and then binary-searched:
 *
 *   1. Which compilation unit: the address ranges of every unit, read from
 *      the unit DIEs at open. Not .debug_aranges (dwarf_addrdie): LLVM
 *      (clang, rustc) does not emit it.
 *   2. Which function: per unit, the ranges of its subprogram DIEs: at the
 *      top level, inside namespaces and modules (C++, Rust), and inside
 *      functions' local types (gcc puts a lambda's body in its closure
 *      type). Walked once per unit, not entering inlined calls.
 *   3. Which inlined calls: per function, every inlined subroutine under it
 *      with its ranges and the frame around it. Lexical blocks are looked
 *      through and their ranges ignored, as binutils does: gcc leaves a
 *      block's ranges empty when its code all went into calls inlined in
 *      it (-gdwarf-4). The innermost call holding the address, then its
 *      callers up to the function, are the frames; each frame but the
 *      innermost is at the DW_AT_call_file/call_line of the one inside it.
 *      Names and call sites are kept in the table once read.
 *   4. Which line: the unit's line table (libdw parses and keeps it).
 *      Several rows often share an address (gcc emits a row per statement
 *      view); as binutils does, the last of them is the one that holds for
 *      the instruction there, the earlier ones being empty. (dwarf_getsrc_die
 *      picks the first, the line of a statement with no code of its own.)
 *
 * Where ranges overlap (units, functions such as glibc's assembly that
 * names memcpy and memmove on the same code, nested inlined calls), the
 * tables are made disjoint up front: each address keeps the deepest
 * inlined call, else the smallest range, else the later DIE (binutils'
 * choice).
 *
 * Function names come through DW_AT_abstract_origin and DW_AT_specification
 * (dwarf_attr_integrate): the linkage name demangled when there is one
 * (C++'s qualified name with parameters, Rust's path), else DW_AT_name.
 * When the outermost function of a C++ (or other mangling) unit has no
 * linkage name (lambdas, .isra and .cold clones, main), the ELF symbol
 * holding the address is used if it starts where the function's range
 * does, much as binutils does. Demangled names and joined paths are
 * interned, so each is built once.
 *
 * The object stays mapped (ELF_C_READ_MMAP) because libdw points into it:
 * every string we hand out is in the mapping, in libdw's tables or in our
 * interned strings, all alive until dwarfsrc__free. The descriptor is
 * closed at open. libdw decompresses compressed debug sections onto the
 * heap and keeps every line table it parsed; dwarfsrc__mem counts both.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "elfinit.h"
#include "bsearch.h"
#include "demangle.h"
#include "dwarfsrc.h"

/* The address cache: sets of CACHE_WAYS slots, least recently used out;
 * CACHE_MIN slots at first, doubled whenever half are used. */
#define CACHE_WAYS	8
#define CACHE_MIN	64
/* DIEs nested deeper than this (namespaces, types, blocks, inlined calls)
 * are not searched. */
#define NEST_MAX	256
#define NO_NODE		UINT32_MAX

/* libdw's heap, estimated for cache bounds from mallinfo2 on elfutils
 * 0.188 (libc6-dbg, a 33 MB .debug_info C++ program): every unit once
 * opened (its Dwarf_CU, search tree nodes), each unit whose DIEs we read
 * (abbreviations), per line table row and file entry read. On top come the
 * debug sections that libdw decompresses, counted exactly. */
#define LIBDW_CU_BYTES		1024
#define LIBDW_UNIT_BYTES	2048
#define LIBDW_ROW_BYTES		56
#define LIBDW_FILE_BYTES	144

/* An address range and what holds it. val's upper 32 bits are a priority
 * (inlining depth) while a table is made disjoint, then cleared. */
struct span {
	uint64_t lo, hi;		/* [lo, hi) */
	uint64_t val;			/* unit, function or node index */
};

struct spans {
	struct span *a;
	size_t nr, cap;
};

/* A frame a function can have: the function itself (node 0) or one of the
 * subroutines inlined into it. */
struct node {
	Dwarf_Off off;			/* its DIE */
	uint32_t parent;		/* the node it is inlined in; NO_NODE for 0 */
	int call_line;			/* where in the parent */
	const char *call_file;
	const char *function, *system_name;
	bool named;			/* the four above are filled */
	bool linkage;			/* DWARF gave a linkage name */
};

struct func {
	Dwarf_Off off;			/* the subprogram DIE */
	struct node *nodes;		/* NULL until the first lookup in it */
	size_t nr_nodes;
	struct span *inl;		/* ranges of nodes 1..; val: node index */
	size_t nr_inl;
};

struct unit {
	Dwarf_Die die;
	int version;
	int lang;			/* DW_LANG_*, -1 unknown */
	const char *comp_dir;		/* NULL: none */
	bool funcs_done, lines_done, files_done;
	struct func *funcs;		/* in DIE order */
	size_t nr_funcs;
	struct span *fspans;		/* sorted; val: index in funcs */
	size_t nr_fspans;
	Dwarf_Lines *lines;		/* libdw's, sorted by address */
	size_t nr_lines;
	Dwarf_Files *files;
	size_t nr_files;
};

/* A function symbol of the ELF file, for names DWARF leaves unqualified. */
struct esym {
	uint64_t addr, size;
	const char *name;		/* in the mapped string table */
	int rank;			/* global, weak, local: the first one wins */
};

struct slot {
	uint64_t vaddr;
	struct srcline *frames;		/* malloc'd, nr of them */
	int nr;				/* -1: empty */
	uint32_t used;			/* tick of the last use */
};

/* A string we made from one or two of libdw's (a demangled name, a joined
 * path), found by their addresses: libdw hands out the same pointer for
 * the same .debug_str entry or file table entry. */
struct istr {
	const char *k1, *k2;		/* k1 NULL: free slot */
	char *val;			/* NULL: nothing to add to k1 */
};

struct itab {
	struct istr *a;			/* open addressing, size slots */
	size_t size, nr;
	size_t bytes;			/* of the val strings */
};

struct dwarfsrc {
	Elf *elf;
	Dwarf *dw;
	struct unit *units;
	size_t nr_units;
	struct span *ranges;		/* units' address ranges; val: unit index */
	size_t nr_ranges;
	struct slot *cache;		/* cache_size slots in sets of CACHE_WAYS */
	size_t cache_size;		/* power of two, 0 before the first lookup */
	unsigned int cache_bits;	/* log2 of the number of sets */
	uint32_t tick;
	size_t cache_used;
	size_t cache_bytes;		/* frame arrays held by the cache */
	struct itab names;		/* linkage name -> demangled */
	struct itab paths;		/* (file, comp_dir) -> joined path */
	size_t table_bytes;		/* function and inline tables */
	struct esym *syms;		/* sorted by addr, loaded when first needed */
	size_t nr_syms;
	bool syms_done;
	size_t libdw_bytes;		/* libdw's heap, estimated */
};

static uint64_t hash_u64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdULL;
	v ^= v >> 33;
	return v;
}

/* arr with room for one more element (nr in use), or NULL (arr intact). */
static void *grow(void *arr, size_t *cap, size_t nr, size_t size)
{
	size_t ncap;
	void *tmp;

	if (nr < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	tmp = realloc(arr, ncap * size);
	if (tmp)
		*cap = ncap;
	return tmp;
}

/* ---- Address range tables ---- */

static int spans_push(struct spans *v, uint64_t lo, uint64_t hi, uint64_t val)
{
	struct span *a = grow(v->a, &v->cap, v->nr, sizeof(*a));

	if (!a)
		return -ENOMEM;
	v->a = a;
	v->a[v->nr++] = (struct span){ .lo = lo, .hi = hi, .val = val };
	return 0;
}

/* Append the address ranges of die. Ranges starting at 0 are code the
 * linker discarded (its tombstone), so are empty or reversed ones. An
 * unreadable range list ends the DIE's ranges, it is not an error. */
static int spans_add_die(struct spans *v, Dwarf_Die *die, uint64_t val)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;
	int err;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (!lo || lo >= hi)
			continue;
		err = spans_push(v, lo, hi, val);
		if (err)
			return err;
	}
	return 0;
}

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return x->val < y->val ? -1 : x->val > y->val;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The order in which spans claim addresses: higher priority (val's upper
 * half), then smaller, then the later DIE (higher index), as binutils
 * chooses between equal ranges. */
static int cmp_span_claim(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	if (x->val >> 32 != y->val >> 32)
		return x->val >> 32 > y->val >> 32 ? -1 : 1;
	if (x->hi - x->lo != y->hi - y->lo)
		return x->hi - x->lo < y->hi - y->lo ? -1 : 1;
	if (x->val != y->val)
		return x->val > y->val ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Index of v in the sorted array b (it is there). */
static size_t index_of(const uint64_t *b, size_t n, uint64_t v)
{
	return upper_bound_u64(b, n, sizeof(*b), 0, v) - 1;
}

/* Next piece at or after j not yet claimed (path halving). */
static size_t next_free(size_t *next, size_t j)
{
	while (next[j] != j) {
		next[j] = next[next[j]];
		j = next[j];
	}
	return j;
}

/*
 * Make overlapping spans disjoint. The boundaries of all spans cut the
 * addresses into pieces; the spans, in cmp_span_claim order, each claim the
 * pieces they cover that are still free (next[] skips claimed ones, so
 * every piece is visited once); neighbouring pieces with the same value
 * are merged again.
 */
static int spans_flatten(struct spans *v)
{
	size_t n = v->nr, nb = 0, i, j, end, out = 0;
	uint64_t *b = malloc(2 * n * sizeof(*b));
	size_t *next = malloc(2 * n * sizeof(*next));
	size_t *owner = malloc(2 * n * sizeof(*owner));
	struct span *res = NULL;
	int err = 0;

	if (!b || !next || !owner) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		b[2 * i] = v->a[i].lo;
		b[2 * i + 1] = v->a[i].hi;
	}
	qsort(b, 2 * n, sizeof(*b), cmp_u64);
	for (i = 0; i < 2 * n; i++) {
		if (!nb || b[nb - 1] != b[i])
			b[nb++] = b[i];
	}
	/* Pieces [b[j], b[j + 1]) for j < nb - 1; next[nb - 1] ends walks. */
	for (j = 0; j < nb; j++) {
		next[j] = j;
		owner[j] = SIZE_MAX;
	}
	qsort(v->a, n, sizeof(*v->a), cmp_span_claim);
	for (i = 0; i < n; i++) {
		end = index_of(b, nb, v->a[i].hi);
		for (j = next_free(next, index_of(b, nb, v->a[i].lo)); j < end; j = next_free(next, j + 1)) {
			owner[j] = i;
			next[j] = j + 1;
		}
	}
	res = malloc(nb * sizeof(*res));
	if (!res) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (j = 0; j + 1 < nb; j++) {
		if (owner[j] == SIZE_MAX)
			continue;
		if (out && res[out - 1].hi == b[j] && res[out - 1].val == v->a[owner[j]].val) {
			res[out - 1].hi = b[j + 1];
			continue;
		}
		res[out++] = (struct span){ .lo = b[j], .hi = b[j + 1], .val = v->a[owner[j]].val };
	}
	free(v->a);
	v->a = res;
	v->nr = out;
	v->cap = nb;
	res = NULL;

cleanup:
	free(b);
	free(next);
	free(owner);
	free(res);
	return err;
}

/* Sort, make disjoint, drop priorities and trim; the array moves to the
 * caller (NULL when empty). */
static int spans_finish(struct spans *v, struct span **arr, size_t *nr)
{
	struct span *tmp;
	size_t i;
	int err;

	if (v->nr)
		qsort(v->a, v->nr, sizeof(*v->a), cmp_span);
	for (i = 1; i < v->nr; i++) {
		if (v->a[i].lo < v->a[i - 1].hi)
			break;
	}
	if (i < v->nr) {
		err = spans_flatten(v);
		if (err)
			return err;
	}
	for (i = 0; i < v->nr; i++)
		v->a[i].val &= UINT32_MAX;
	if (v->nr && v->nr < v->cap) {
		tmp = realloc(v->a, v->nr * sizeof(*v->a));
		if (tmp)
			v->a = tmp;
	}
	*nr = v->nr;
	*arr = v->a;
	memset(v, 0, sizeof(*v));
	return 0;
}

/* The span holding addr, or NULL. */
static const struct span *span_find(const struct span *s, size_t n, uint64_t addr)
{
	size_t i = upper_bound_u64(s, n, sizeof(*s), offsetof(struct span, lo), addr);

	return i && addr < s[i - 1].hi ? &s[i - 1] : NULL;
}

/* ---- Units and functions ---- */

static int load_units(struct dwarfsrc *d)
{
	struct spans v = { 0 };
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Die cudie, subdie;
	Dwarf_Attribute attr;
	Dwarf_Half version;
	uint8_t unit_type;
	struct unit *u;
	size_t cap = 0, i;
	int err = 0;

	while (dwarf_get_units(d->dw, cu, &next, &version, &unit_type, &cudie, &subdie) == 0) {
		cu = next;
		/* Partial units (dwz) hold no code of their own; type and
		 * skeleton units none we can read. */
		if (dwarf_tag(&cudie) != DW_TAG_compile_unit)
			continue;
		u = grow(d->units, &cap, d->nr_units, sizeof(*u));
		if (!u) {
			err = -ENOMEM;
			goto cleanup;
		}
		d->units = u;
		u = &d->units[d->nr_units++];
		memset(u, 0, sizeof(*u));
		u->die = cudie;
		u->version = version;
		u->comp_dir = dwarf_formstring(dwarf_attr(&cudie, DW_AT_comp_dir, &attr));
		u->lang = dwarf_srclang(&cudie);
	}
	if (!d->nr_units) {
		err = -ENOENT;
		goto cleanup;
	}
	for (i = 0; i < d->nr_units; i++) {
		err = spans_add_die(&v, &d->units[i].die, i);
		if (err)
			goto cleanup;
	}
	err = spans_finish(&v, &d->ranges, &d->nr_ranges);
	if (err)
		goto cleanup;
	d->libdw_bytes += d->nr_units * LIBDW_CU_BYTES;

cleanup:
	free(v.a);
	return err;
}

struct func_list {
	struct spans v;
	struct func *a;
	size_t nr, cap;
	Dwarf_Off last;			/* the last DIE visited: see next_die() */
};

/* A walk of a DIE tree in order meets each DIE after the one before it
 * (children follow their parent, siblings the subtree before them), and
 * skipping a subtree keeps that true. A file whose sibling links point back
 * (or into a subtree) would have the walk meet DIEs again, in loops or
 * exponentially often: the walk stops at the first DIE not past the last. */
/* The DIE after die's subtree: dwarf_siblingof(), which follows a
 * DW_AT_sibling link where there is one. A link into die's own subtree
 * (before or at its first child) is a crafted one: -1, counted. Links
 * deeper into the subtree pass here, and next_die() keeps the walk from
 * meeting any DIE twice. */
static int next_sibling(Dwarf_Die *die)
{
	Dwarf_Off first = 0;
	Dwarf_Die kid;
	int r;

	if (dwarf_haschildren(die) > 0 && dwarf_child(die, &kid) == 0)
		first = dwarf_dieoffset(&kid);
	r = dwarf_siblingof(die, die);
	if (r == 0 && first && dwarf_dieoffset(die) <= first) {
		hostile__count(HOSTILE_DWARF);
		return -1;
	}
	return r;
}

static bool next_die(Dwarf_Off *last, Dwarf_Die *die)
{
	Dwarf_Off off = dwarf_dieoffset(die);

	if (off == (Dwarf_Off)-1 || off <= *last) {
		hostile__count(HOSTILE_DWARF);
		return false;
	}
	*last = off;
	return true;
}

/* A subprogram into l, when it has code. */
static int add_func(struct func_list *l, Dwarf_Die *die)
{
	size_t nr_spans = l->v.nr;
	struct func *f;
	int err;

	if (!dwarf_hasattr(die, DW_AT_low_pc) && !dwarf_hasattr(die, DW_AT_ranges))
		return 0;
	err = spans_add_die(&l->v, die, l->nr);
	if (err || l->v.nr == nr_spans)
		return err;
	f = grow(l->a, &l->cap, l->nr, sizeof(*f));
	if (!f)
		return -ENOMEM;
	l->a = f;
	f = &l->a[l->nr++];
	memset(f, 0, sizeof(*f));
	f->off = dwarf_dieoffset(die);
	return 0;
}

/*
 * Subprograms with code among the children of parent, descending into
 * namespaces and modules (C++, Rust, Fortran put functions there) and,
 * inside a function (in_func), into its local types and blocks: gcc puts
 * the body of a lambda in the closure type inside the function that
 * defines it, and GNU C's nested functions inside their parent. Inlined
 * subroutines are not entered: nothing out of line was found there.
 */
static int collect_funcs(struct func_list *l, Dwarf_Die *parent, int depth, bool in_func)
{
	Dwarf_Die child;
	int err = 0;

	if (depth >= NEST_MAX || dwarf_child(parent, &child) != 0)
		goto cleanup;
	do {
		if (!next_die(&l->last, &child))
			return -EINVAL;
		switch (dwarf_tag(&child)) {
		case DW_TAG_subprogram:
			err = add_func(l, &child);
			if (!err && dwarf_haschildren(&child))
				err = collect_funcs(l, &child, depth + 1, true);
			break;
		case DW_TAG_namespace:
		case DW_TAG_module:
			err = collect_funcs(l, &child, depth + 1, in_func);
			break;
		case DW_TAG_structure_type:
		case DW_TAG_class_type:
		case DW_TAG_union_type:
		case DW_TAG_lexical_block:
			if (in_func)
				err = collect_funcs(l, &child, depth + 1, in_func);
			break;
		default:
			break;
		}
		if (err)
			goto cleanup;
	} while (next_sibling(&child) == 0);

cleanup:
	return err;
}

static int unit_funcs(struct dwarfsrc *d, struct unit *u)
{
	struct func_list l = { 0 };
	int err;

	if (u->funcs_done)
		return 0;
	l.last = dwarf_dieoffset(&u->die);
	err = collect_funcs(&l, &u->die, 0, false);
	if (!err)
		err = spans_finish(&l.v, &u->fspans, &u->nr_fspans);
	if (err) {
		free(l.v.a);
		free(l.a);
		return err;
	}
	u->funcs = l.a;
	u->nr_funcs = l.nr;
	u->funcs_done = true;
	d->table_bytes += u->nr_fspans * sizeof(*u->fspans) + u->nr_funcs * sizeof(*u->funcs);
	d->libdw_bytes += LIBDW_UNIT_BYTES;
	return 0;
}

struct node_list {
	struct spans v;
	struct node *a;
	size_t nr, cap;
	Dwarf_Off last;			/* the last DIE visited: see next_die() */
};

/* The inlined subroutines under die (nested depth deep in the function)
 * into l, as children of node parent; lexical blocks are looked through.
 * The depth is also the priority of their ranges: the deepest call that
 * holds an address is its innermost frame. */
static int collect_nodes(struct node_list *l, Dwarf_Die *die, uint32_t parent, uint32_t depth)
{
	Dwarf_Die child;
	struct node *n;
	uint32_t idx;
	int err = 0;

	if (depth >= NEST_MAX || dwarf_child(die, &child) != 0)
		goto cleanup;
	do {
		if (!next_die(&l->last, &child))
			return -EINVAL;
		switch (dwarf_tag(&child)) {
		case DW_TAG_inlined_subroutine:
			n = grow(l->a, &l->cap, l->nr, sizeof(*n));
			if (!n) {
				err = -ENOMEM;
				break;
			}
			l->a = n;
			idx = (uint32_t)l->nr++;
			memset(&l->a[idx], 0, sizeof(*n));
			l->a[idx].off = dwarf_dieoffset(&child);
			l->a[idx].parent = parent;
			err = spans_add_die(&l->v, &child, (uint64_t)(depth + 1) << 32 | idx);
			if (!err)
				err = collect_nodes(l, &child, idx, depth + 1);
			break;
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
			err = collect_nodes(l, &child, parent, depth + 1);
			break;
		default:
			break;
		}
		if (err)
			goto cleanup;
	} while (next_sibling(&child) == 0);

cleanup:
	return err;
}

/* The inline table of f, walked from its DIE on first use. */
static int func_nodes(struct dwarfsrc *d, struct func *f)
{
	struct node_list l = { 0 };
	Dwarf_Die die;
	int err = 0;

	if (f->nodes)
		return 0;
	l.a = calloc(1, sizeof(*l.a));
	if (!l.a) {
		err = -ENOMEM;
		goto cleanup;
	}
	l.cap = l.nr = 1;
	l.a[0].off = f->off;
	l.a[0].parent = NO_NODE;
	l.last = f->off;
	if (dwarf_offdie(d->dw, f->off, &die))
		err = collect_nodes(&l, &die, 0, 0);
	if (!err)
		err = spans_finish(&l.v, &f->inl, &f->nr_inl);
	if (err)
		goto cleanup;
	if (l.nr < l.cap) {
		struct node *tmp = realloc(l.a, l.nr * sizeof(*l.a));

		if (tmp)
			l.a = tmp;
	}
	f->nodes = l.a;
	f->nr_nodes = l.nr;
	l.a = NULL;
	d->table_bytes += f->nr_nodes * sizeof(*f->nodes) + f->nr_inl * sizeof(*f->inl);

cleanup:
	free(l.a);
	free(l.v.a);
	return err;
}

/* ---- Line tables ---- */

/* The row of the line table that holds pc: of the rows at the greatest
 * address <= pc, the last one. libdw sorts an end_sequence row before the
 * other rows at its address, so if the last row there ends a sequence,
 * nothing covers pc. */
static bool unit_line(struct dwarfsrc *d, struct unit *u, uint64_t pc,
		      const char **file, int *line)
{
	size_t lo = 0, hi;
	Dwarf_Line *row;
	Dwarf_Addr addr;
	bool end;

	if (!u->lines_done) {
		u->lines_done = true;
		if (dwarf_getsrclines(&u->die, &u->lines, &u->nr_lines) != 0) {
			u->lines = NULL;
			u->nr_lines = 0;
		}
		d->libdw_bytes += u->nr_lines * LIBDW_ROW_BYTES;
	}
	hi = u->nr_lines;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		row = dwarf_onesrcline(u->lines, mid);
		if (!row || dwarf_lineaddr(row, &addr) != 0)
			return false;
		if (addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return false;
	row = dwarf_onesrcline(u->lines, lo - 1);
	if (!row || dwarf_lineendsequence(row, &end) != 0 || end)
		return false;
	*file = dwarf_linesrc(row, NULL, NULL);
	if (dwarf_lineno(row, line) != 0 || *line < 0)
		*line = 0;
	return true;
}

/* The file of a DW_AT_call_file index; DWARF 4 counts from 1 (0: none),
 * DWARF 5 from 0, and libdw's file list is laid out to match either. */
static const char *unit_file(struct dwarfsrc *d, struct unit *u, Dwarf_Word idx)
{
	if (!u->files_done) {
		u->files_done = true;
		if (dwarf_getsrcfiles(&u->die, &u->files, &u->nr_files) != 0) {
			u->files = NULL;
			u->nr_files = 0;
		}
		d->libdw_bytes += u->nr_files * LIBDW_FILE_BYTES;
	}
	if (idx >= u->nr_files || (u->version < 5 && idx == 0))
		return NULL;
	return dwarf_filesrc(u->files, idx, NULL, NULL);
}

/* ---- Interned strings ---- */

static size_t istr_hash(const char *k1, const char *k2)
{
	return hash_u64((uintptr_t)k1 ^ ((uintptr_t)k2 << 1));
}

static int itab_grow(struct itab *t)
{
	size_t nsize = t->size ? t->size * 2 : 256;
	struct istr *a = calloc(nsize, sizeof(*a));
	size_t i, j;

	if (!a)
		return -ENOMEM;
	for (i = 0; i < t->size; i++) {
		if (!t->a[i].k1)
			continue;
		j = istr_hash(t->a[i].k1, t->a[i].k2) & (nsize - 1);
		while (a[j].k1)
			j = (j + 1) & (nsize - 1);
		a[j] = t->a[i];
	}
	free(t->a);
	t->a = a;
	t->size = nsize;
	return 0;
}

/* The slot of (k1, k2): the one holding it, or the free one where it goes
 * (k1 still NULL: the caller fills it with itab_add). NULL when out of
 * memory. */
static struct istr *itab_slot(struct itab *t, const char *k1, const char *k2)
{
	size_t j;

	if ((t->nr + 1) * 4 > t->size * 3 && itab_grow(t) != 0 && t->nr + 1 >= t->size)
		return NULL;
	j = istr_hash(k1, k2) & (t->size - 1);
	while (t->a[j].k1 && (t->a[j].k1 != k1 || t->a[j].k2 != k2))
		j = (j + 1) & (t->size - 1);
	return &t->a[j];
}

static void itab_add(struct itab *t, struct istr *s, const char *k1, const char *k2, char *val)
{
	s->k1 = k1;
	s->k2 = k2;
	s->val = val;
	t->nr++;
	if (val)
		t->bytes += strlen(val) + 1;
}

static void itab_clear(struct itab *t)
{
	size_t i;

	for (i = 0; i < t->size; i++)
		free(t->a[i].val);
	free(t->a);
	memset(t, 0, sizeof(*t));
}

/* The demangled form of a linkage name, built once per name; *readable
 * is NULL when it does not demangle. */
static int name_readable(struct dwarfsrc *d, const char *linkage, const char **readable)
{
	struct istr *s = itab_slot(&d->names, linkage, NULL);
	char *val;

	if (!s)
		return -ENOMEM;
	if (!s->k1) {
		val = demangle(linkage);
		if (!val && errno == ENOMEM)
			return -ENOMEM;
		itab_add(&d->names, s, linkage, NULL, val);
	}
	*readable = s->val;
	return 0;
}

/* *path: file (from the unit's file table) with the compilation directory
 * in front. libdw joins a file with its directory entry, and for entry 0
 * (the compilation directory itself) that is already the full path; other
 * entries may be relative to the compilation directory, and libdw leaves
 * those as they are. */
static int unit_path(struct dwarfsrc *d, struct unit *u, const char *file, const char **path)
{
	size_t dlen, flen;
	struct istr *s;
	char *val;

	*path = file;
	if (!file || file[0] == '/' || !u->comp_dir || !u->comp_dir[0])
		return 0;
	dlen = strlen(u->comp_dir);
	if (!strncmp(file, u->comp_dir, dlen) && file[dlen] == '/')
		return 0;
	s = itab_slot(&d->paths, file, u->comp_dir);
	if (!s)
		return -ENOMEM;
	if (!s->k1) {
		flen = strlen(file);
		val = malloc(dlen + flen + 2);
		if (!val)
			return -ENOMEM;
		memcpy(val, u->comp_dir, dlen);
		val[dlen] = '/';
		memcpy(val + dlen + 1, file, flen + 1);
		itab_add(&d->paths, s, file, u->comp_dir, val);
	}
	*path = s->val;
	return 0;
}

/* ---- Names ---- */

static const char *die_string(Dwarf_Die *die, unsigned int at)
{
	Dwarf_Attribute attr;

	if (!dwarf_attr_integrate(die, at, &attr))
		return NULL;
	return dwarf_formstring(&attr);
}

/* Names from a linkage name: demangled, else name, else as it is. */
static int set_names(struct dwarfsrc *d, const char *linkage, const char *name,
		     const char **function, const char **system_name)
{
	const char *readable;
	int err;

	err = name_readable(d, linkage, &readable);
	if (err)
		return err;
	*function = readable ? readable : name ? name : linkage;
	*system_name = strcmp(*function, linkage) ? linkage : NULL;
	return 0;
}

/* Fill in a node's names and call site, from its DIE. */
static int node_names(struct dwarfsrc *d, struct unit *u, struct node *n)
{
	const char *name, *lname;
	Dwarf_Attribute attr;
	Dwarf_Word w;
	Dwarf_Die die;
	int err = 0;

	if (n->named)
		return 0;
	if (!dwarf_offdie(d->dw, n->off, &die))
		goto cleanup;
	name = die_string(&die, DW_AT_name);
	lname = die_string(&die, DW_AT_linkage_name);
	if (!lname)
		lname = die_string(&die, DW_AT_MIPS_linkage_name);
	n->function = name;
	n->linkage = lname != NULL;
	if (lname) {
		err = set_names(d, lname, name, &n->function, &n->system_name);
		if (err)
			goto cleanup;
	}
	if (n->parent == NO_NODE)
		goto cleanup;
	if (dwarf_attr(&die, DW_AT_call_line, &attr) && dwarf_formudata(&attr, &w) == 0)
		n->call_line = w > INT_MAX ? 0 : (int)w;
	if (dwarf_attr(&die, DW_AT_call_file, &attr) && dwarf_formudata(&attr, &w) == 0)
		err = unit_path(d, u, unit_file(d, u, w), &n->call_file);

cleanup:
	if (!err)
		n->named = true;
	return err;
}

/* Languages whose DW_AT_name is the symbol's name (binutils' list). */
static bool lang_plain(int lang)
{
	switch (lang) {
	case DW_LANG_C89:
	case DW_LANG_C:
	case DW_LANG_C99:
	case DW_LANG_C11:
	case 0x2c:			/* DW_LANG_C17 */
	case DW_LANG_Ada83:
	case DW_LANG_Ada95:
	case DW_LANG_Cobol74:
	case DW_LANG_Cobol85:
	case DW_LANG_Fortran77:
	case DW_LANG_Pascal83:
	case DW_LANG_PLI:
	case DW_LANG_UPC:
	case DW_LANG_Mips_Assembler:
		return true;
	default:
		return false;
	}
}

static int cmp_esym(const void *a, const void *b)
{
	const struct esym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return strcmp(x->name, y->name);
}

/* The function symbols of .symtab (else .dynsym). */
static int load_syms(struct dwarfsrc *d)
{
	Elf_Scn *scn = NULL, *best = NULL;
	GElf_Shdr shdr, best_shdr = { 0 };
	size_t n = 0, count, i;
	Elf_Data *data;
	int err = 0;

	d->syms_done = true;
	while ((scn = elf_nextscn(d->elf, scn))) {
		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (shdr.sh_type == SHT_SYMTAB || (shdr.sh_type == SHT_DYNSYM && !best)) {
			best = scn;
			best_shdr = shdr;
		}
	}
	data = best ? elf_getdata(best, NULL) : NULL;
	if (!data || !best_shdr.sh_entsize)
		goto cleanup;
	count = data->d_size / best_shdr.sh_entsize;
	d->syms = calloc(count ? count : 1, sizeof(*d->syms));
	if (!d->syms) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < count; i++) {
		unsigned char type, bind;
		const char *name;
		GElf_Sym sym;

		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		bind = GELF_ST_BIND(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || !sym.st_value ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		name = elf_strptr(d->elf, best_shdr.sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		d->syms[n++] = (struct esym){
			.addr = sym.st_value, .size = sym.st_size, .name = name,
			.rank = bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2,
		};
	}
	if (n)
		qsort(d->syms, n, sizeof(*d->syms), cmp_esym);
	d->nr_syms = n;

cleanup:
	return err;
}

/*
 * The outermost function of a language with mangled names but no linkage
 * name in DWARF (gcc: lambdas, clones such as .isra.0, methods of some
 * class templates, C++'s main) has only an unqualified DW_AT_name
 * ("operator()"). Name it after the ELF symbol that holds vaddr when that
 * symbol starts where the function's range holding vaddr starts (so a
 * .cold part gets its own symbol), as binutils does.
 */
static int symbol_names(struct dwarfsrc *d, const struct func *f, uint64_t vaddr, struct srcline *fr)
{
	Dwarf_Addr base, lo, hi;
	const struct esym *s;
	ptrdiff_t off = 0;
	Dwarf_Die die;
	size_t i;
	int err;

	if (!d->syms_done) {
		err = load_syms(d);
		if (err)
			return err;
	}
	i = upper_bound_u64(d->syms, d->nr_syms, sizeof(*d->syms), offsetof(struct esym, addr), vaddr);
	if (!i)
		return 0;
	while (i > 1 && d->syms[i - 2].addr == d->syms[i - 1].addr)
		i--;
	s = &d->syms[i - 1];
	if ((s->size && vaddr - s->addr >= s->size) || !dwarf_offdie(d->dw, f->off, &die))
		return 0;
	while ((off = dwarf_ranges(&die, off, &base, &lo, &hi)) > 0) {
		if (vaddr >= lo && vaddr < hi)
			break;
	}
	if (off <= 0 || lo != s->addr)
		return 0;
	return set_names(d, s->name, fr->function, &fr->function, &fr->system_name);
}

/* ---- Resolution ---- */

/* The frames at vaddr, innermost first, into frames[DWARFSRC_FRAMES_MAX]. */
static int resolve(struct dwarfsrc *d, uint64_t vaddr, struct srcline *frames)
{
	const struct span *r, *fs, *is;
	const char *file = NULL;
	struct node *n, *prev = NULL;
	struct unit *u;
	struct func *f;
	uint32_t idx;
	int nr = 0, line = 0, err;
	bool have_line;

	r = span_find(d->ranges, d->nr_ranges, vaddr);
	if (!r)
		return 0;
	u = &d->units[r->val];
	err = unit_funcs(d, u);
	if (err)
		return err;
	have_line = unit_line(d, u, vaddr, &file, &line);
	if (have_line) {
		err = unit_path(d, u, file, &file);
		if (err)
			return err;
	}

	fs = span_find(u->fspans, u->nr_fspans, vaddr);
	if (!fs) {
		/* Code without a function DIE (assembly): the line alone. */
		if (!have_line)
			return 0;
		frames[0] = (struct srcline){ .file = file, .line = line };
		return 1;
	}
	f = &u->funcs[fs->val];
	err = func_nodes(d, f);
	if (err)
		return err;
	is = span_find(f->inl, f->nr_inl, vaddr);
	idx = is ? (uint32_t)is->val : 0;

	/* Innermost first: the line table's file:line, then each caller at
	 * the call site of the frame before it. */
	for (; idx != NO_NODE && nr < DWARFSRC_FRAMES_MAX; idx = n->parent) {
		n = &f->nodes[idx];
		err = node_names(d, u, n);
		if (err)
			return err;
		frames[nr].function = n->function;
		frames[nr].system_name = n->system_name;
		frames[nr].file = prev ? prev->call_file : have_line ? file : NULL;
		frames[nr].line = prev ? prev->call_line : have_line ? line : 0;
		if (idx == 0 && !n->linkage && !lang_plain(u->lang)) {
			err = symbol_names(d, f, vaddr, &frames[nr]);
			if (err)
				return err;
		}
		prev = n;
		nr++;
	}
	return nr;
}

/* ---- Address cache ---- */

/* The CACHE_WAYS slots of vaddr's set. */
static struct slot *cache_set(const struct dwarfsrc *d, uint64_t vaddr)
{
	return &d->cache[(hash_u64(vaddr) >> (64 - d->cache_bits)) * CACHE_WAYS];
}

static struct slot *cache_find(struct dwarfsrc *d, uint64_t vaddr)
{
	struct slot *set = cache_set(d, vaddr);
	int w;

	for (w = 0; w < CACHE_WAYS; w++) {
		if (set[w].nr >= 0 && set[w].vaddr == vaddr) {
			set[w].used = ++d->tick;
			return &set[w];
		}
	}
	return NULL;
}

/* Where vaddr goes: a free slot of its set, else the least recently used. */
static struct slot *cache_victim(const struct dwarfsrc *d, uint64_t vaddr)
{
	struct slot *set = cache_set(d, vaddr), *best = &set[0];
	int w;

	for (w = 0; w < CACHE_WAYS; w++) {
		if (set[w].nr < 0)
			return &set[w];
		if ((int32_t)(set[w].used - best->used) < 0)
			best = &set[w];
	}
	return best;
}

static void slot_clear(struct dwarfsrc *d, struct slot *s)
{
	if (s->nr < 0)
		return;
	d->cache_bytes -= (size_t)s->nr * sizeof(*s->frames);
	d->cache_used--;
	free(s->frames);
	s->frames = NULL;
	s->nr = -1;
}

/* Double the table, up to DWARFSRC_CACHE_MAX slots; an entry whose new
 * set is full is dropped. */
static int cache_grow(struct dwarfsrc *d)
{
	size_t nsize = d->cache_size ? d->cache_size * 2 : CACHE_MIN;
	struct slot *old = d->cache, *s;
	size_t old_size = d->cache_size, i;

	if (d->cache_size >= DWARFSRC_CACHE_MAX)
		return 0;
	d->cache = malloc(nsize * sizeof(*d->cache));
	if (!d->cache) {
		d->cache = old;
		return -ENOMEM;
	}
	for (i = 0; i < nsize; i++)
		d->cache[i] = (struct slot){ .nr = -1 };
	d->cache_size = nsize;
	d->cache_bits = (unsigned int)__builtin_ctzl(nsize / CACHE_WAYS);
	d->cache_used = 0;
	d->cache_bytes = 0;
	for (i = 0; i < old_size; i++) {
		if (old[i].nr < 0)
			continue;
		s = cache_victim(d, old[i].vaddr);
		slot_clear(d, s);
		*s = old[i];
		d->cache_used++;
		d->cache_bytes += (size_t)s->nr * sizeof(*s->frames);
	}
	free(old);
	return 0;
}

struct dwarfsrc *dwarfsrc__open(const char *path)
{
	struct dwarfsrc *d = NULL;
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int fd = -1, err = 0;
	bool has_info = false;

	if (!path) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!elf_ready()) {
		err = -ENOTSUP;
		goto cleanup;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = -ENOMEM;
		goto cleanup;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	d->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!d->elf || elf_kind(d->elf) != ELF_K_ELF || elf_getshdrstrndx(d->elf, &shstrndx)) {
		err = -ENOEXEC;
		goto cleanup;
	}

	/* Whether there is DWARF at all, and how much of it libdw will
	 * decompress onto the heap (SHF_COMPRESSED, or the old GNU .zdebug
	 * sections that start with "ZLIB" and the size, big-endian). */
	while ((scn = elf_nextscn(d->elf, scn))) {
		const char *name;
		uint64_t size;
		Elf_Data *data;
		GElf_Chdr chdr;
		GElf_Shdr shdr;
		bool gnu;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS || !shdr.sh_size)
			continue;
		name = elf_strptr(d->elf, shstrndx, shdr.sh_name);
		if (!name || (strncmp(name, ".debug_", 7) && strncmp(name, ".zdebug_", 8)))
			continue;
		gnu = name[1] == 'z';
		if (!strcmp(name + 1 + gnu, "debug_info"))
			has_info = true;
		if ((shdr.sh_flags & SHF_COMPRESSED) && gelf_getchdr(scn, &chdr)) {
			d->libdw_bytes += chdr.ch_size;
		} else if (gnu && (data = elf_rawdata(scn, NULL)) && data->d_size >= 12 &&
			   !memcmp(data->d_buf, "ZLIB", 4)) {
			memcpy(&size, (const char *)data->d_buf + 4, sizeof(size));
			d->libdw_bytes += (size_t)be64toh(size);
		}
	}
	if (!has_info) {
		err = -ENOENT;
		goto cleanup;
	}
	d->dw = dwarf_begin_elf(d->elf, DWARF_C_READ, NULL);
	if (!d->dw) {
		err = -EINVAL;
		goto cleanup;
	}
	err = load_units(d);
	if (err)
		goto cleanup;
	/* All of it is mapped (or read, where mmap failed): the descriptor
	 * can go. */
	if (elf_cntl(d->elf, ELF_C_FDREAD) == 0)
		elf_cntl(d->elf, ELF_C_FDDONE);
	else
		err = -EIO;

cleanup:
	if (fd >= 0)
		close(fd);
	if (err) {
		dwarfsrc__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

int dwarfsrc__lookup(struct dwarfsrc *d, uint64_t vaddr, struct srcline *out, int max)
{
	struct srcline frames[DWARFSRC_FRAMES_MAX];
	struct srcline *copy = NULL;
	struct slot *s;
	int nr, err;

	if (!d || max < 0 || (max && !out))
		return -EINVAL;
	if (!d->cache_size) {
		err = cache_grow(d);
		if (err)
			return err;
	}
	s = cache_find(d, vaddr);
	if (s) {
		nr = s->nr < max ? s->nr : max;
		if (nr)
			memcpy(out, s->frames, (size_t)nr * sizeof(*out));
		return nr;
	}

	nr = resolve(d, vaddr, frames);
	if (nr < 0)
		return nr;
	if (nr) {
		copy = malloc((size_t)nr * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, frames, (size_t)nr * sizeof(*copy));
	}
	if (d->cache_used * 2 >= d->cache_size)
		cache_grow(d);	/* failing, the table just stays smaller */
	s = cache_victim(d, vaddr);
	slot_clear(d, s);
	s->vaddr = vaddr;
	s->frames = copy;
	s->nr = nr;
	s->used = ++d->tick;
	d->cache_used++;
	d->cache_bytes += (size_t)nr * sizeof(*copy);

	nr = nr < max ? nr : max;
	if (nr)
		memcpy(out, frames, (size_t)nr * sizeof(*out));
	return nr;
}

size_t dwarfsrc__mem(const struct dwarfsrc *d)
{
	if (!d)
		return 0;
	return sizeof(*d) + d->nr_units * sizeof(*d->units) +
	       d->nr_ranges * sizeof(*d->ranges) + d->table_bytes + d->nr_syms * sizeof(*d->syms) +
	       d->cache_size * sizeof(*d->cache) + d->cache_bytes +
	       (d->names.size + d->paths.size) * sizeof(struct istr) +
	       d->names.bytes + d->paths.bytes + d->libdw_bytes;
}

static void unit_clear(struct unit *u)
{
	size_t i;

	for (i = 0; i < u->nr_funcs; i++) {
		free(u->funcs[i].nodes);
		free(u->funcs[i].inl);
	}
	free(u->funcs);
	free(u->fspans);
}

void dwarfsrc__free(struct dwarfsrc *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->cache_size; i++)
		free(d->cache[i].frames);
	free(d->cache);
	itab_clear(&d->names);
	itab_clear(&d->paths);
	for (i = 0; i < d->nr_units; i++)
		unit_clear(&d->units[i]);
	free(d->syms);
	free(d->units);
	free(d->ranges);
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	free(d);
}
