// SPDX-License-Identifier: GPL-2.0
/*
 * Unwind tables from call-frame information.
 *
 * libdw reads the sections' entries (dwarf_next_cfi) and we play each FDE's
 * program ourselves, once, in order (see "Our own CFI interpreter"): files
 * any user wrote come here, and libdw's own interpreter sizes its state by
 * the largest register number a program names (a crafted one made it
 * allocate gigabytes) and replays the FDE from its start for every row. The
 * tests build every table both ways and compare: libdw's way is kept as
 * unwind_table__build_libdw(), where dwarf_cfi_addrframe() plays the FDE up
 * to a pc and says which rules hold over which [start, end).
 *
 * What libdw does not offer is a list of the FDEs, so we walk
 * the section's entries with dwarf_next_cfi() and decode each FDE's
 * initial_location and address_range ourselves: that needs only the
 * pointer encoding of the CIE ('R' augmentation, DW_EH_PE_pcrel|sdata4 in
 * practice, absolute 8-byte addresses in .debug_frame). We chose this over
 * the .eh_frame_hdr search table because the same walk serves .debug_frame
 * (which has no such table) and because .eh_frame_hdr is optional. Each FDE
 * is then covered row by row: start at its first byte, ask libdw for the
 * row, continue at the row's end.
 *
 * Go code has no call-frame information once stripped (-ldflags=-s -w),
 * and never .eh_frame, but the runtime's own pclntab says, for every pc,
 * how far the stack pointer is below the function's entry (pcsp): that is
 * the CFA. Functions no FDE covers get their rows from it, and those where
 * Go's own traceback ends (go_ends_walk) get UNW_CFA_END rows, FDE or not.
 *
 * Rows are reduced to what bpf/unwind_step.h can follow (CFA from rsp or
 * rbp plus a 16-bit offset, the PLT expression, the outermost frame, the
 * caller's rbp unchanged or saved next to the CFA) and everything else is
 * UNW_CFA_UNSUPPORTED, so the walker falls back to frame pointers there.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile.h"
#include "elfinit.h"
#include "gopclntab.h"
#include "unwind_table.h"

/* DWARF register numbers on x86-64. */
#define REG_RBP		6
#define REG_RSP		7
#define REG_RA		16

/* The binutils PLT CFA expression compares pc & 15 with this: the lazy
 * stub's push ends 11 bytes into a 16-byte entry. The IBT PLT says 9; the
 * walker knows only 11 (UNW_CFA_PLT), so that one stays unsupported. */
#define PLT_THRESHOLD	11

/* Rows hold 32-bit pcs; the end marker of the last FDE must fit too. */
#define PC_LIMIT	UINT32_MAX

struct rule {
	__u8 cfa_type;
	__u8 rbp_type;
	__s16 cfa_off;
	__s16 rbp_off;
};

/* Rules over [start, end), before gaps are marked and neighbours merged. */
struct seg {
	uint64_t start, end;
	struct rule r;
	uint32_t seq;			/* insertion order: ties sort stably */
};

struct range {
	uint64_t lo, hi;
};

struct builder {
	Elf *elf;
	const unsigned char *e_ident;
	struct range *exec;		/* executable PT_LOAD segments */
	size_t nr_exec;
	struct range *eh;		/* .eh_frame FDEs kept, then sorted and merged */
	size_t nr_eh, cap_eh;
	struct seg *segs;
	size_t nr_segs, cap_segs;
	size_t nr_fdes;
	size_t nr_go_funcs;
	bool used_debug_frame;
	bool libdw;			/* rows by libdw (the tests' reference) */
};

struct cfi_prog;

/* One FDE's call-frame program. */
struct fde_prog {
	struct cfi_prog *pr;
	const uint8_t *ins, *end;	/* its instructions */
	uint64_t lo;			/* where they start from */
};

static bool fits_s16(int64_t v)
{
	return v >= INT16_MIN && v <= INT16_MAX;
}

/* arr with room for one more element (nr in use), or NULL (arr intact). */
static void *grow(void *arr, size_t *cap, size_t nr, size_t size)
{
	size_t ncap;
	void *tmp;

	if (nr < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 1024;
	tmp = realloc(arr, ncap * size);
	if (tmp)
		*cap = ncap;
	return tmp;
}

/* ---- Pointer encodings (only what FDE headers use) ---- */

static int read_leb128(const uint8_t **pp, const uint8_t *end, uint64_t *val, bool is_signed)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;
	unsigned int shift = 0;
	uint8_t byte;

	do {
		if (p >= end || shift >= 64)
			return -EINVAL;
		byte = *p++;
		v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	if (is_signed && shift < 64 && (byte & 0x40))
		v |= ~(uint64_t)0 << shift;
	*pp = p;
	*val = v;
	return 0;
}

/* A value in the format part (low 4 bits) of a DW_EH_PE encoding. */
static int read_format(uint8_t enc, const uint8_t **pp, const uint8_t *end, uint64_t *val)
{
	const uint8_t *p = *pp;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	size_t size;

	switch (enc & 0x0f) {
	case DW_EH_PE_uleb128:
		return read_leb128(pp, end, val, false);
	case DW_EH_PE_sleb128:
		return read_leb128(pp, end, val, true);
	case DW_EH_PE_udata2:
	case DW_EH_PE_sdata2:
		size = 2;
		break;
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		size = 4;
		break;
	case DW_EH_PE_absptr:	/* an address: 8 bytes in an ELF64 file */
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		size = 8;
		break;
	default:
		return -ENOTSUP;
	}
	if ((size_t)(end - p) < size)
		return -EINVAL;
	switch (enc & 0x0f) {
	case DW_EH_PE_udata2:
		memcpy(&u16, p, 2);
		*val = le16toh(u16);
		break;
	case DW_EH_PE_sdata2:
		memcpy(&u16, p, 2);
		*val = (uint64_t)(int64_t)(int16_t)le16toh(u16);
		break;
	case DW_EH_PE_udata4:
		memcpy(&u32, p, 4);
		*val = le32toh(u32);
		break;
	case DW_EH_PE_sdata4:
		memcpy(&u32, p, 4);
		*val = (uint64_t)(int64_t)(int32_t)le32toh(u32);
		break;
	default:
		memcpy(&u64, p, 8);
		*val = le64toh(u64);
		break;
	}
	*pp = p + size;
	return 0;
}

/*
 * The encoding of the FDE addresses of a CIE: its 'R' augmentation, found by
 * stepping over the entries that precede it (the augmentation data is in
 * the order of the letters). DW_EH_PE_absptr when there is no 'R' (always
 * so in .debug_frame). -1 when an unknown letter hides what follows.
 */
static int cie_fde_encoding(const Dwarf_CIE *cie)
{
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p + cie->augmentation_data_size;
	const char *aug = cie->augmentation;
	uint64_t skip;

	if (*aug == 'z')
		aug++;
	for (; *aug; aug++) {
		switch (*aug) {
		case 'R':
			return p < end ? *p : -1;
		case 'L':		/* LSDA encoding byte */
			p++;
			break;
		case 'P':		/* personality: encoding, then a pointer */
			if (p >= end || (*p & 0x70) == DW_EH_PE_aligned)
				return -1;
			p++;
			if (read_format(p[-1], &p, end, &skip))
				return -1;
			break;
		case 'S':		/* signal frame: libdw reports it per row */
		case 'B':
		case 'G':
			break;
		default:
			return -1;
		}
	}
	return DW_EH_PE_absptr;
}

/* An FDE's [lo, hi). field_addr: the vaddr of initial_location, for pcrel. */
static int fde_range(const Dwarf_FDE *fde, uint8_t enc, uint64_t field_addr, uint64_t *lo,
		     uint64_t *hi)
{
	const uint8_t *p = fde->start;
	uint64_t start, len;

	if ((enc & DW_EH_PE_indirect) || read_format(enc, &p, fde->end, &start))
		return -EINVAL;
	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
		break;
	case DW_EH_PE_pcrel:
		start += field_addr;
		break;
	default:		/* textrel, datarel, ...: not used for x86-64 code */
		return -ENOTSUP;
	}
	/* The range has the same format but is a length, never relative. */
	if (read_format(enc & 0x0f, &p, fde->end, &len))
		return -EINVAL;
	if (start + len < start)
		return -EINVAL;
	*lo = start;
	*hi = start + len;
	return 0;
}

/* ---- Rules of one row ---- */

/* "Saved at CFA + off": libdw spells the offset rule DW_OP_call_frame_cfa,
 * then DW_OP_plus_uconst (two's complement) unless the offset is 0. */
static bool cfa_offset_rule(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
	if (nops == 1 && ops[0].atom == DW_OP_call_frame_cfa) {
		*off = 0;
		return true;
	}
	if (nops == 2 && ops[0].atom == DW_OP_call_frame_cfa && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return true;
	}
	return false;
}

/* DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_lit11;
 * DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus: what binutils writes for the
 * lazy .plt, where the stub pushes a word 11 bytes into each entry. */
static bool is_plt_expr(const Dwarf_Op *ops, size_t nops)
{
	static const uint8_t atoms[] = {
		DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, DW_OP_lit0 + PLT_THRESHOLD,
		DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus,
	};
	size_t i;

	if (nops != sizeof(atoms))
		return false;
	for (i = 0; i < nops; i++)
		if (ops[i].atom != atoms[i])
			return false;
	return ops[0].number == 8 && ops[1].number == 0;
}

static void cfa_rule(Dwarf_Frame *frame, struct rule *r)
{
	Dwarf_Op *ops;
	size_t nops;
	uint64_t reg;
	int64_t off;

	r->cfa_type = UNW_CFA_UNSUPPORTED;
	if (dwarf_frame_cfa(frame, &ops, &nops) || nops == 0)
		return;
	if (is_plt_expr(ops, nops)) {
		r->cfa_type = UNW_CFA_PLT;
		return;
	}
	if (nops != 1)
		return;
	/* DW_CFA_def_cfa reg, off comes back as DW_OP_bregx reg, off; an
	 * expression of one DW_OP_bregN off means the same. */
	if (ops[0].atom == DW_OP_bregx) {
		reg = ops[0].number;
		off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		reg = ops[0].atom - DW_OP_breg0;
		off = (int64_t)ops[0].number;
	} else {
		return;
	}
	if (!fits_s16(off) || (reg != REG_RSP && reg != REG_RBP))
		return;
	r->cfa_type = reg == REG_RSP ? UNW_CFA_RSP : UNW_CFA_RBP;
	r->cfa_off = (__s16)off;
}

static void rbp_rule(Dwarf_Frame *frame, struct rule *r)
{
	Dwarf_Op ops_mem[3], *ops;
	size_t nops;
	int64_t off;

	r->rbp_type = UNW_RBP_UNSUPPORTED;
	if (dwarf_frame_register(frame, REG_RBP, ops_mem, &ops, &nops))
		return;
	/* nops 0 and ops NULL: same value (libdw also reports a register the
	 * CFI never mentions this way, from the x86-64 ABI defaults). nops 0
	 * and ops == ops_mem: undefined, the caller's rbp is lost. */
	if (nops == 0) {
		if (!ops)
			r->rbp_type = UNW_RBP_SAME;
		return;
	}
	if (cfa_offset_rule(ops, nops, &off) && fits_s16(off)) {
		r->rbp_type = UNW_RBP_CFA;
		r->rbp_off = (__s16)off;
	}
}

/* The rules of one row, reduced to what the walker can follow. */
static void classify(Dwarf_Frame *frame, int ra_reg, bool signalp, struct rule *r)
{
	Dwarf_Op ops_mem[3], *ops;
	size_t nops;
	int64_t off;

	memset(r, 0, sizeof(*r));
	r->cfa_type = UNW_CFA_UNSUPPORTED;
	/* A signal frame's caller is the interrupted context, restored from
	 * the sigcontext, not from a return address. */
	if (signalp || ra_reg != REG_RA)
		return;
	if (dwarf_frame_register(frame, REG_RA, ops_mem, &ops, &nops))
		return;
	if (nops == 0 && ops == ops_mem) {
		/* Undefined return address: _start, start_thread and clone3
		 * mark the outermost frame so. */
		r->cfa_type = UNW_CFA_END;
		return;
	}
	if (!cfa_offset_rule(ops, nops, &off) || off != -8)
		return;
	cfa_rule(frame, r);
	if (r->cfa_type == UNW_CFA_UNSUPPORTED) {
		r->cfa_off = 0;
		return;
	}
	rbp_rule(frame, r);
}

/* ---- Building ---- */

static int add_seg(struct builder *b, uint64_t start, uint64_t end, const struct rule *r)
{
	struct seg *s = grow(b->segs, &b->cap_segs, b->nr_segs, sizeof(*b->segs));

	if (!s)
		return -ENOMEM;
	b->segs = s;
	s = &b->segs[b->nr_segs];
	s->start = start;
	s->end = end;
	s->r = *r;
	s->seq = (uint32_t)b->nr_segs;
	b->nr_segs++;
	return 0;
}

/* Rows of [lo, hi), which lies in one FDE, one libdw row at a time. libdw
 * replays the FDE from its start for every row: quadratic in the rows of an
 * FDE, but FDEs are short and this keeps us out of CFI interpretation. */
static int add_rows(struct builder *b, Dwarf_CFI *cfi, uint64_t lo, uint64_t hi)
{
	uint64_t pc = lo, end;
	int err = 0;

	while (pc < hi) {
		Dwarf_Frame *frame = NULL;
		Dwarf_Addr fstart, fend;
		struct rule r;
		bool signalp = false;
		int ra_reg;

		if (dwarf_cfi_addrframe(cfi, pc, &frame)) {
			/* There is an FDE here but libdw cannot play it
			 * (bad opcodes, or not in the .eh_frame_hdr table it
			 * searches): nothing here can be followed. */
			memset(&r, 0, sizeof(r));
			r.cfa_type = UNW_CFA_UNSUPPORTED;
			end = hi;
		} else {
			ra_reg = dwarf_frame_info(frame, &fstart, &fend, &signalp);
			end = fend;
			/* An advance past the FDE's end, or an FDE other
			 * than ours found for pc: stay within ours, and
			 * always move on. */
			if (end <= pc || end > hi)
				end = hi;
			classify(frame, ra_reg, signalp, &r);
			free(frame);
		}
		err = add_seg(b, pc, end, &r);
		if (err)
			break;
		pc = end;
	}
	return err;
}

/* ---- Our own CFI interpreter ---- */

/*
 * The call-frame program of an FDE, played once from its first byte to its
 * last, row after row: linear in its length (libdw replays the FDE from the
 * start for each row it is asked about), and bounded by what it reads. Only
 * the rules the walker can use are kept (the CFA, rbp, the return address);
 * instructions about any other register are read past, whatever number
 * they name, so no register number sizes anything. Anything malformed or
 * unknown ends the FDE's rows with an unsupported one.
 */

#define CFI_STATE_DEPTH	16	/* DW_CFA_remember_state nesting kept */
/* DWARF numbers x86-64's registers below 130 (the psABI's table); a program
 * naming one past this was not written by a compiler */
#define CFI_REG_MAX	255

enum reg_how {
	REG_UNDEF,		/* lost: the outermost frame for the RA */
	REG_SAME,		/* unchanged */
	REG_AT_CFA,		/* saved at CFA + off */
	REG_OTHER,		/* any other rule: not followed */
};

struct reg_rule {
	uint8_t how;
	int64_t off;
};

enum cfa_how {
	CFA_REG,		/* reg + off */
	CFA_PLT,		/* the binutils lazy .plt expression */
	CFA_OTHER,		/* any other expression */
};

struct cfi_state {
	bool bad_reg;			/* a register number past CFI_REG_MAX */
	uint8_t cfa_how;
	uint64_t cfa_reg;
	int64_t cfa_off;
	struct reg_rule rbp, ra;
};

struct cfi_prog {
	uint64_t caf;			/* code alignment factor */
	int64_t daf;			/* data alignment factor */
	bool bad;			/* signal frame, or RA not in register 16 */
	struct cfi_state init;		/* after the CIE's instructions */
};

/* The lazy .plt's CFA expression, as bytes (see is_plt_expr). */
static const uint8_t plt_expr[] = {
	DW_OP_breg7, 8, DW_OP_breg16, 0, DW_OP_lit15, DW_OP_and, DW_OP_lit0 + PLT_THRESHOLD,
	DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus,
};

/* The CFA rule of a DW_CFA_def_cfa_expression block. */
static void cfa_expr(struct cfi_state *st, const uint8_t *p, uint64_t len)
{
	const uint8_t *q = p + 1;
	uint64_t off;

	st->cfa_how = CFA_OTHER;
	if (len == sizeof(plt_expr) && !memcmp(p, plt_expr, len)) {
		st->cfa_how = CFA_PLT;
		return;
	}
	/* one DW_OP_bregN off: the same as DW_CFA_def_cfa N, off */
	if (len >= 2 && p[0] >= DW_OP_breg0 && p[0] <= DW_OP_breg31 &&
	    !read_leb128(&q, p + len, &off, true) && q == p + len) {
		st->cfa_how = CFA_REG;
		st->cfa_reg = p[0] - DW_OP_breg0;
		st->cfa_off = (int64_t)off;
	}
}

/* off × the data alignment factor; past int64 (a crafted file), a value
 * no row can hold, so the rule is not followed. */
static int64_t factored(uint64_t off, int64_t daf)
{
	int64_t v;

	if (__builtin_mul_overflow((int64_t)off, daf, &v))
		return INT64_MAX;
	return v;
}

static struct reg_rule *rule_of(struct cfi_state *st, uint64_t reg)
{
	if (reg == REG_RBP)
		return &st->rbp;
	if (reg == REG_RA)
		return &st->ra;
	return NULL;
}

static void set_rule(struct cfi_state *st, uint64_t reg, uint8_t how, int64_t off)
{
	struct reg_rule *r = rule_of(st, reg);

	if (reg > CFI_REG_MAX)
		st->bad_reg = true;
	if (r) {
		r->how = how;
		r->off = off;
	}
}

/* What the walker can follow of state st (as classify() does for libdw). */
static void rule_from_state(const struct cfi_prog *pr, const struct cfi_state *st, struct rule *r)
{
	memset(r, 0, sizeof(*r));
	r->cfa_type = UNW_CFA_UNSUPPORTED;
	if (pr->bad)
		return;
	if (st->ra.how == REG_UNDEF) {
		r->cfa_type = UNW_CFA_END;
		return;
	}
	if (st->ra.how != REG_AT_CFA || st->ra.off != -8)
		return;
	if (st->cfa_how == CFA_PLT) {
		r->cfa_type = UNW_CFA_PLT;
	} else if (st->cfa_how == CFA_REG && fits_s16(st->cfa_off) &&
		   (st->cfa_reg == REG_RSP || st->cfa_reg == REG_RBP)) {
		r->cfa_type = st->cfa_reg == REG_RSP ? UNW_CFA_RSP : UNW_CFA_RBP;
		r->cfa_off = (__s16)st->cfa_off;
	} else {
		return;
	}
	r->rbp_type = UNW_RBP_UNSUPPORTED;
	if (st->rbp.how == REG_SAME) {
		r->rbp_type = UNW_RBP_SAME;
	} else if (st->rbp.how == REG_AT_CFA && fits_s16(st->rbp.off)) {
		r->rbp_type = UNW_RBP_CFA;
		r->rbp_off = (__s16)st->rbp.off;
	}
}

/* The segment [lo, hi) of st, cut to [from, to). */
static int emit_state(struct builder *b, const struct cfi_prog *pr, const struct cfi_state *st,
		      uint64_t lo, uint64_t hi, uint64_t from, uint64_t to)
{
	struct rule r;

	if (lo < from)
		lo = from;
	if (hi > to)
		hi = to;
	if (lo >= hi)
		return 0;
	rule_from_state(pr, st, &r);
	return add_seg(b, lo, hi, &r);
}

/*
 * Play the instructions [p, end). With b NULL, the CIE's initial ones: they
 * set pr->init. Otherwise an FDE's over [lo, hi), its rows added to b where
 * they fall in [from, to). 0, or -errno for a bad program (the rows up to
 * it are kept; the caller marks the rest).
 */
static int cfi_run(struct builder *b, struct cfi_prog *pr, const uint8_t *p, const uint8_t *end,
		   uint64_t lo, uint64_t hi, uint64_t from, uint64_t to, uint64_t *done)
{
	struct cfi_state st = pr->init, saved[CFI_STATE_DEPTH];
	unsigned int depth = 0;
	uint64_t loc = lo, reg, off, len, delta;
	int err = 0;

	*done = lo;
	while (p < end && loc < hi) {
		uint8_t op = *p++, low = op & 0x3f;

		if (st.bad_reg || st.cfa_reg > CFI_REG_MAX)
			return -ERANGE;
		delta = UINT64_MAX;
		switch (op >> 6) {
		case 1:			/* DW_CFA_advance_loc */
			delta = low;
			break;
		case 2:			/* DW_CFA_offset */
			if (read_leb128(&p, end, &off, false))
				return -EINVAL;
			set_rule(&st, low, REG_AT_CFA, factored(off, pr->daf));
			continue;
		case 3:			/* DW_CFA_restore */
			if (rule_of(&st, low))
				*rule_of(&st, low) = *rule_of(&pr->init, low);
			continue;
		}
		if (delta == UINT64_MAX) {
			switch (op) {
			case DW_CFA_nop:
				continue;
			case DW_CFA_advance_loc1:
				if (end - p < 1)
					return -EINVAL;
				delta = p[0];
				p += 1;
				break;
			case DW_CFA_advance_loc2:
				if (end - p < 2)
					return -EINVAL;
				delta = (uint64_t)p[0] | (uint64_t)p[1] << 8;
				p += 2;
				break;
			case DW_CFA_advance_loc4:
				if (end - p < 4)
					return -EINVAL;
				delta = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
					(uint64_t)p[3] << 24;
				p += 4;
				break;
			case DW_CFA_offset_extended:
			case DW_CFA_offset_extended_sf:
			case DW_CFA_GNU_negative_offset_extended:
			case DW_CFA_val_offset:
			case DW_CFA_val_offset_sf:
				if (read_leb128(&p, end, &reg, false) ||
				    read_leb128(&p, end, &off, op == DW_CFA_offset_extended_sf ||
						op == DW_CFA_val_offset_sf))
					return -EINVAL;
				if (op == DW_CFA_GNU_negative_offset_extended)
					off = -off;
				set_rule(&st, reg, op == DW_CFA_val_offset || op == DW_CFA_val_offset_sf ?
					 REG_OTHER : REG_AT_CFA, factored(off, pr->daf));
				continue;
			case DW_CFA_restore_extended:
			case DW_CFA_undefined:
			case DW_CFA_same_value:
				if (read_leb128(&p, end, &reg, false))
					return -EINVAL;
				if (op == DW_CFA_restore_extended && rule_of(&st, reg))
					*rule_of(&st, reg) = *rule_of(&pr->init, reg);
				else if (op != DW_CFA_restore_extended)
					set_rule(&st, reg, op == DW_CFA_undefined ? REG_UNDEF : REG_SAME, 0);
				continue;
			case DW_CFA_register:
				if (read_leb128(&p, end, &reg, false) || read_leb128(&p, end, &off, false))
					return -EINVAL;
				set_rule(&st, reg, REG_OTHER, 0);
				continue;
			case DW_CFA_remember_state:
				if (depth == CFI_STATE_DEPTH)
					return -E2BIG;
				saved[depth++] = st;
				continue;
			case DW_CFA_restore_state:
				if (!depth)
					return -EINVAL;
				st = saved[--depth];
				continue;
			case DW_CFA_def_cfa:
			case DW_CFA_def_cfa_sf:
				if (read_leb128(&p, end, &reg, false) ||
				    read_leb128(&p, end, &off, op == DW_CFA_def_cfa_sf))
					return -EINVAL;
				st.cfa_how = CFA_REG;
				st.cfa_reg = reg;
				st.cfa_off = op == DW_CFA_def_cfa_sf ? factored(off, pr->daf) : (int64_t)off;
				continue;
			case DW_CFA_def_cfa_register:
				if (read_leb128(&p, end, &reg, false))
					return -EINVAL;
				if (st.cfa_how != CFA_REG)
					st.cfa_how = CFA_OTHER;	/* no offset to keep */
				st.cfa_reg = reg;
				continue;
			case DW_CFA_def_cfa_offset:
			case DW_CFA_def_cfa_offset_sf:
				if (read_leb128(&p, end, &off, op == DW_CFA_def_cfa_offset_sf))
					return -EINVAL;
				if (st.cfa_how != CFA_REG)
					st.cfa_how = CFA_OTHER;
				st.cfa_off = op == DW_CFA_def_cfa_offset_sf ? factored(off, pr->daf) :
					     (int64_t)off;
				continue;
			case DW_CFA_def_cfa_expression:
				if (read_leb128(&p, end, &len, false) || len > (uint64_t)(end - p))
					return -EINVAL;
				cfa_expr(&st, p, len);
				p += len;
				continue;
			case DW_CFA_expression:
			case DW_CFA_val_expression:
				if (read_leb128(&p, end, &reg, false) ||
				    read_leb128(&p, end, &len, false) || len > (uint64_t)(end - p))
					return -EINVAL;
				set_rule(&st, reg, REG_OTHER, 0);
				p += len;
				continue;
			case DW_CFA_GNU_args_size:
				if (read_leb128(&p, end, &off, false))
					return -EINVAL;
				continue;
			default:	/* DW_CFA_set_loc, vendor opcodes: not for x86-64 */
				return -ENOTSUP;
			}
		}
		if (!b)
			return -EINVAL;	/* a CIE has no rows to advance over */
		if (!pr->caf || delta > (hi - loc) / pr->caf)
			delta = hi - loc;	/* past the FDE's end (or a crafted factor) */
		else
			delta *= pr->caf;
		err = emit_state(b, pr, &st, loc, loc + delta, from, to);
		if (err)
			return err;
		loc += delta;
		*done = loc;
	}
	if (st.bad_reg || st.cfa_reg > CFI_REG_MAX)
		return -ERANGE;
	if (!b) {
		pr->init = st;
		return 0;
	}
	err = emit_state(b, pr, &st, loc, hi, from, to);
	if (!err)
		*done = hi;
	return err;
}

/* The CIE's part of every FDE program: its factors and initial rules. */
static int cfi_prog_init(struct cfi_prog *pr, const Dwarf_CIE *cie)
{
	uint64_t unused;

	memset(pr, 0, sizeof(*pr));
	pr->caf = cie->code_alignment_factor;
	pr->daf = cie->data_alignment_factor;
	/* a signal frame's caller is the interrupted context, restored from
	 * the sigcontext, not from a return address */
	pr->bad = cie->return_address_register != REG_RA || strchr(cie->augmentation, 'S');
	/* the x86-64 ABI's rules before any instruction (what libdw starts
	 * from too): CFA rsp + 8, rbp unchanged, the RA lost */
	pr->init.cfa_how = CFA_REG;
	pr->init.cfa_reg = REG_RSP;
	pr->init.cfa_off = 8;
	pr->init.rbp.how = REG_SAME;
	pr->init.ra.how = REG_UNDEF;
	return cfi_run(NULL, pr, cie->initial_instructions, cie->initial_instructions_end,
		       0, 1, 0, 0, &unused);
}

/* Rows of the FDE for [lo, hi) (whose instructions are [p, end)) that fall
 * in [from, to); past a bad instruction, one unsupported row to its end. */
static int add_rows_cfi(struct builder *b, struct cfi_prog *pr, const uint8_t *p,
			const uint8_t *end, uint64_t lo, uint64_t hi, uint64_t from, uint64_t to)
{
	uint64_t done;
	int err = cfi_run(b, pr, p, end, lo, hi, from, to, &done);

	if (err && err != -ENOMEM) {
		struct rule r = { .cfa_type = UNW_CFA_UNSUPPORTED };

		hostile__count(HOSTILE_CFI);
		if (done < from)
			done = from;
		err = done < (hi < to ? hi : to) ? add_seg(b, done, hi < to ? hi : to, &r) : 0;
	}
	return err;
}

/* The executable segment holding pc, or NULL. */
static const struct range *exec_range(const struct builder *b, uint64_t pc)
{
	size_t i;

	for (i = 0; i < b->nr_exec; i++)
		if (pc >= b->exec[i].lo && pc < b->exec[i].hi)
			return &b->exec[i];
	return NULL;
}

/* Index of the first of sorted, disjoint ranges r[0..nr) ending after pc. */
static size_t range_after(const struct range *r, size_t nr, uint64_t pc)
{
	size_t lo = 0, hi = nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].hi <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of the first .eh_frame range ending after pc. */
static size_t eh_after(const struct builder *b, uint64_t pc)
{
	return range_after(b->eh, b->nr_eh, pc);
}

/*
 * Rows of one FDE. A .debug_frame FDE gets rows only where no .eh_frame FDE
 * has them: .eh_frame is what the running code was built with (and what the
 * C++ runtime trusts), while .debug_frame may come from other options.
 */
static int fde_rows(struct builder *b, Dwarf_CFI *cfi, const struct fde_prog *f, uint64_t hi,
		    uint64_t from, uint64_t to)
{
	if (b->libdw)
		return add_rows(b, cfi, from, to);
	return add_rows_cfi(b, f->pr, f->ins, f->end, f->lo, hi, from, to);
}

static int add_fde(struct builder *b, Dwarf_CFI *cfi, const struct fde_prog *f, uint64_t lo,
		   uint64_t hi, bool eh_frame)
{
	size_t before = b->nr_segs, i;
	struct range *eh;
	int err = 0;

	if (eh_frame) {
		eh = grow(b->eh, &b->cap_eh, b->nr_eh, sizeof(*b->eh));
		if (!eh)
			return -ENOMEM;
		b->eh = eh;
		b->eh[b->nr_eh++] = (struct range){ lo, hi };
		err = fde_rows(b, cfi, f, hi, lo, hi);
		goto cleanup;
	}

	i = eh_after(b, lo);
	while (lo < hi) {
		uint64_t piece_end = hi;

		if (i < b->nr_eh && b->eh[i].lo <= lo) {
			lo = b->eh[i++].hi;	/* .eh_frame has it */
			continue;
		}
		if (i < b->nr_eh && b->eh[i].lo < hi)
			piece_end = b->eh[i].lo;
		err = fde_rows(b, cfi, f, hi, lo, piece_end);
		if (err)
			goto cleanup;
		lo = piece_end;
	}
	if (b->nr_segs > before)
		b->used_debug_frame = true;

cleanup:
	if (b->nr_segs > before)
		b->nr_fdes++;
	return err;
}

/*
 * Every FDE of one CFI section. An entry libdw cannot read ends the walk
 * (its own lookups parse the same bytes). FDEs we cannot place are skipped:
 * unknown pointer encodings, and FDEs outside the executable segments (the
 * linker points FDEs of discarded code at 0 or -1 in .debug_frame).
 */
static int add_section(struct builder *b, Dwarf_CFI *cfi, Elf_Data *data, uint64_t sh_addr,
		       bool eh_frame)
{
	Dwarf_Off off = 0, next, cie_off = (Dwarf_Off)-1;
	Dwarf_CFI_Entry entry;
	struct cfi_prog pr;
	bool z = false;
	int enc = -1, err = 0;

	for (; dwarf_next_cfi(b->e_ident, data, eh_frame, off, &next, &entry) == 0; off = next) {
		const struct range *seg;
		struct fde_prog f = { .pr = &pr };
		uint64_t lo, hi, field, skip;

		if (dwarf_cfi_cie_p(&entry))
			continue;
		/* FDEs of one CIE come in runs: decode it once per run. */
		if (entry.fde.CIE_pointer != cie_off) {
			Dwarf_CFI_Entry cie;
			Dwarf_Off cie_next;

			cie_off = entry.fde.CIE_pointer;
			enc = -1;
			if (dwarf_next_cfi(b->e_ident, data, eh_frame, cie_off, &cie_next, &cie) == 0 &&
			    dwarf_cfi_cie_p(&cie)) {
				enc = cie_fde_encoding(&cie.cie);
				z = cie.cie.augmentation[0] == 'z';
				/* a CIE whose own program is bad: its FDEs get
				 * one unsupported row (b->libdw: unused) */
				if (cfi_prog_init(&pr, &cie.cie)) {
					hostile__count(HOSTILE_CFI);
					pr.bad = true;
				}
			}
		}
		if (enc < 0)
			continue;
		field = sh_addr + (uint64_t)(entry.fde.start - (const uint8_t *)data->d_buf);
		if (fde_range(&entry.fde, (uint8_t)enc, field, &lo, &hi) || lo == hi)
			continue;
		/* the instructions: after the location, the range and, with
		 * 'z', the augmentation data's length and bytes */
		f.ins = entry.fde.start;
		f.end = entry.fde.end;
		if (read_format((uint8_t)enc, &f.ins, f.end, &skip) ||
		    read_format((uint8_t)enc & 0x0f, &f.ins, f.end, &skip) ||
		    (z && (read_leb128(&f.ins, f.end, &skip, false) ||
			   skip > (uint64_t)(f.end - f.ins))))
			continue;
		if (z)
			f.ins += skip;
		f.lo = lo;
		seg = exec_range(b, lo);
		if (!seg)
			continue;
		if (hi > seg->hi)
			hi = seg->hi;
		err = add_fde(b, cfi, &f, lo, hi, eh_frame);
		if (err)
			break;
	}
	return err;
}

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	return 0;
}

/* Sort ranges and merge touching ones; the new count. */
static size_t merge_ranges(struct range *r, size_t nr)
{
	size_t i, n = 0;

	if (!nr)
		return 0;
	qsort(r, nr, sizeof(*r), cmp_range);
	for (i = 1; i < nr; i++) {
		if (r[i].lo <= r[n].hi) {
			if (r[i].hi > r[n].hi)
				r[n].hi = r[i].hi;
		} else {
			r[++n] = r[i];
		}
	}
	return n + 1;
}

/* The .eh_frame FDE ranges, merged so that the .debug_frame pass can cut
 * its FDEs against them. */
static void merge_eh(struct builder *b)
{
	b->nr_eh = merge_ranges(b->eh, b->nr_eh);
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool same_rule(const struct rule *a, const struct rule *b)
{
	return a->cfa_type == b->cfa_type && a->rbp_type == b->rbp_type &&
	       a->cfa_off == b->cfa_off && a->rbp_off == b->rbp_off;
}

/* Append a row, or only count it while t->rows is NULL. */
static void put_row(struct unwind_table *t, uint64_t pc, const struct rule *r)
{
	struct unwind_row *row;

	if (t->rows) {
		row = &t->rows[t->nr];
		memset(row, 0, sizeof(*row));
		row->pc = (__u32)pc;
		row->cfa_type = r->cfa_type;
		row->rbp_type = r->rbp_type;
		row->cfa_off = r->cfa_off;
		row->rbp_off = r->rbp_off;
	}
	t->nr++;
}

/* One pass over the sorted segments: gaps closed with UNW_CFA_NONE,
 * neighbours with the same rules merged. Where FDEs of one section overlap
 * (malformed), the first one read keeps the overlap; clipping is repeated
 * identically on the second pass. */
static void put_rows(struct builder *b, struct unwind_table *t)
{
	static const struct rule none = { .cfa_type = UNW_CFA_NONE };
	const struct rule *last = NULL;
	uint64_t prev_end = 0;
	size_t i;

	for (i = 0; i < b->nr_segs; i++) {
		struct seg *s = &b->segs[i];

		if (last && s->start < prev_end)
			s->start = prev_end;
		if (s->start >= s->end)
			continue;
		if (last && s->start > prev_end) {
			put_row(t, prev_end, &none);
			last = &none;
		}
		if (!last || !same_rule(last, &s->r))
			put_row(t, s->start, &s->r);
		last = &s->r;
		prev_end = s->end;
	}
	put_row(t, prev_end, &none);
}

/* Segments to rows: counted first so that the table is allocated once at
 * its final size (the daemon keeps tables of many objects). */
static int emit_rows(struct builder *b, struct unwind_table *t)
{
	size_t i, nr;

	if (!b->nr_segs)
		return -ENOENT;
	qsort(b->segs, b->nr_segs, sizeof(*b->segs), cmp_seg);
	t->nr = 0;
	put_rows(b, t);
	nr = t->nr;
	t->rows = calloc(nr, sizeof(*t->rows));
	if (!t->rows)
		return -ENOMEM;
	t->nr = 0;
	put_rows(b, t);
	for (i = 0; i < t->nr; i++) {
		if (t->rows[i].cfa_type == UNW_CFA_PLT)
			t->nr_plt++;
		if (t->rows[i].cfa_type == UNW_CFA_UNSUPPORTED ||
		    t->rows[i].rbp_type == UNW_RBP_UNSUPPORTED)
			t->nr_unsupported++;
	}
	return 0;
}

/* The executable PT_LOAD segments: code lives there, and the walker only
 * looks up pcs of executable mappings. */
static int read_segments(struct builder *b)
{
	size_t phnum, i;

	if (elf_getphdrnum(b->elf, &phnum))
		return -ENOEXEC;
	b->exec = calloc(phnum ? phnum : 1, sizeof(*b->exec));
	if (!b->exec)
		return -ENOMEM;
	for (i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(b->elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X) || !ph.p_memsz)
			continue;
		/* Rows hold 32-bit pcs and the walker truncates to 32 bits:
		 * a pc beyond would alias a low row. */
		if (ph.p_vaddr + ph.p_memsz > (uint64_t)PC_LIMIT)
			return -ERANGE;
		b->exec[b->nr_exec++] = (struct range){ ph.p_vaddr, ph.p_vaddr + ph.p_memsz };
	}
	return 0;
}

/* A section by name, with its data; NULL when absent or without contents
 * (NOBITS in a separate debug file). */
static Elf_Data *find_section(Elf *elf, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *s;
		Elf_Data *data;

		if (!gelf_getshdr(scn, shdr) || shdr->sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (!s || strcmp(s, name))
			continue;
		data = elf_getdata(scn, NULL);
		return data && data->d_size ? data : NULL;
	}
	return NULL;
}

static bool has_section(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr shdr;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *s;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, shdr.sh_name);
		if (s && !strcmp(s, name))
			return true;
	}
	return false;
}

/* What the Go pass needs while walking the pclntab. */
struct go_pass {
	struct builder *b;
	struct range *cfi;		/* what the CFI covers, sorted and merged */
	size_t nr_cfi;
	struct range *ends;		/* functions given UNW_CFA_END rows */
	size_t nr_ends, cap_ends;
	uint64_t entry;			/* the function last judged */
	bool skip;			/* ... and whether its runs add nothing */
};

/* Does the CFI cover any of [lo, hi)? */
static bool cfi_covers(const struct go_pass *g, uint64_t lo, uint64_t hi)
{
	size_t i = range_after(g->cfi, g->nr_cfi, lo);

	return i < g->nr_cfi && g->cfi[i].lo < hi;
}

/* Functions the walk ends at in Go binaries whose pclntab has no flag byte
 * (before Go 1.17): the stack bases, and what the runtime's traceback of
 * those versions stopped at or jumped stacks from. */
static const char *const go_end_names[] = {
	"runtime.goexit", "runtime.mstart", "runtime.rt0_go", "runtime.systemstack",
	"runtime.mcall", "runtime.morestack", "runtime.gogo", "runtime.asmcgocall",
};

/*
 * Whether walks end at f, as Go's own traceback (runtime/traceback.go) ends
 * there: at a TOPFRAME function, the base of a stack (goexit, mstart,
 * rt0_go), and at an SPWRITE one, which sets the stack pointer to something
 * its pcsp table cannot say (systemstack, mcall, morestack, gogo,
 * asmcgocall, the vDSO calls). Past such a frame the caller may be on
 * another stack: systemstack runs fn on g0, and stepping out of its frame
 * there reads whatever lies at the top of g0's stack (stale frames of
 * rt0_go on the main thread) and makes up callers. The runtime follows the
 * switch only by jumping to the goroutine's saved registers, which a walk
 * from BPF cannot do, so the walk ends instead.
 *
 * The runtime steps past an innermost SPWRITE frame only in a GC stack
 * scan; its profiler stops there too, and so does our walk, at every pc: a
 * sample whose leaf is in systemstack itself (before the switch, or after
 * it: the pc does not tell on x86) ends there, without its callers. A short
 * stack is acceptable, a made-up caller is not. cgocallback is SPWRITE but
 * keeps its frame valid on both stacks, and the runtime unwinds through it:
 * so do we.
 *
 * Before 1.17 there is no flag byte (1.16 has padding there, reading 0),
 * so the names decide; each of them carries its flag wherever there is one.
 */
static bool go_ends_walk(const struct gopclntab_func *f)
{
	size_t i;

	if (!strcmp(f->name, "runtime.cgocallback"))
		return false;
	if (f->flag & (GOPCLNTAB_FLAG_TOPFRAME | GOPCLNTAB_FLAG_SPWRITE))
		return true;
	for (i = 0; i < sizeof(go_end_names) / sizeof(go_end_names[0]); i++)
		if (!strcmp(f->name, go_end_names[i]))
			return true;
	return false;
}

/* One UNW_CFA_END row over all of f, whatever its pcsp table says; the CFI
 * rows of its pcs are cut away afterwards (cut_ends). */
static int add_end(struct go_pass *g, const struct gopclntab_func *f)
{
	static const struct rule end = { .cfa_type = UNW_CFA_END };
	const struct range *seg = exec_range(g->b, f->entry);
	uint64_t hi = f->end < seg->hi ? f->end : seg->hi;
	struct range *r;

	r = grow(g->ends, &g->cap_ends, g->nr_ends, sizeof(*g->ends));
	if (!r)
		return -ENOMEM;
	g->ends = r;
	g->ends[g->nr_ends++] = (struct range){ f->entry, hi };
	return add_seg(g->b, f->entry, hi, &end);
}

static int go_run(void *ctx, const struct gopclntab_func *f, uint64_t start, uint64_t end,
		  int32_t sp)
{
	struct go_pass *g = ctx;
	const struct range *seg;
	struct rule r = { .cfa_type = UNW_CFA_RSP, .rbp_type = UNW_RBP_SAME };

	if (f->entry != g->entry) {
		bool ends = go_ends_walk(f);

		g->entry = f->entry;
		/* The end rule holds over the CFI too, so that a binary and its
		 * stripped twin end their walks at the same frames. */
		g->skip = !exec_range(g->b, f->entry) ||
			  (!ends && cfi_covers(g, f->entry, f->end));
		if (g->skip)
			return 0;
		g->b->nr_go_funcs++;
		if (ends) {
			g->skip = true;		/* one row for all its runs */
			return add_end(g, f);
		}
	}
	if (g->skip)
		return 0;
	seg = exec_range(g->b, start);
	if (!seg)
		return 0;
	if (end > seg->hi)
		end = seg->hi;
	if (sp < 0 || !fits_s16((int64_t)sp + 8)) {
		r.cfa_type = UNW_CFA_UNSUPPORTED;
	} else {
		/* the return address is at the entry's sp; a function with a
		 * frame saves the caller's rbp just below it (Go's amd64
		 * prologue, compiled or assembled), a frameless one leaves it */
		r.cfa_off = (__s16)(sp + 8);
		if (sp > 0) {
			r.rbp_type = UNW_RBP_CFA;
			r.rbp_off = -16;
		}
	}
	return add_seg(g->b, start, end, &r);
}

/*
 * Take the pcs of the ranges ends[0..nr) (sorted, disjoint) out of the
 * first n segments, those of the CFI: a segment keeps its first piece in
 * place and gets any later one appended.
 */
static int cut_ends(struct builder *b, size_t n, const struct range *ends, size_t nr)
{
	size_t i, j;
	int err = 0;

	for (i = 0; i < n && !err; i++) {
		uint64_t pos = b->segs[i].start, hi = b->segs[i].end;
		struct rule r = b->segs[i].r;
		bool first = true;

		j = range_after(ends, nr, pos);
		if (j == nr || ends[j].lo >= hi)
			continue;
		b->segs[i].end = pos;	/* empty unless a piece is left */
		for (; !err && pos < hi; j++) {
			uint64_t piece_end = j < nr && ends[j].lo < hi ? ends[j].lo : hi;

			if (pos < piece_end) {
				if (first) {
					b->segs[i].start = pos;
					b->segs[i].end = piece_end;
					first = false;
				} else {
					err = add_seg(b, pos, piece_end, &r);
				}
			}
			if (j >= nr || ends[j].lo >= hi)
				break;
			pos = ends[j].hi;
		}
	}
	return err;
}

/* Rows for Go functions the CFI does not cover, from the pclntab, and end
 * rows for those where Go's traceback ends, CFI or not. A file with no
 * pclntab, or a malformed one, adds none. */
static int add_go(struct builder *b)
{
	struct go_pass g = { .b = b, .entry = UINT64_MAX };
	size_t before = b->nr_segs;
	int ret;

	if (b->nr_segs) {
		g.cfi = calloc(b->nr_segs, sizeof(*g.cfi));
		if (!g.cfi)
			return -ENOMEM;
		for (size_t i = 0; i < b->nr_segs; i++)
			g.cfi[i] = (struct range){ b->segs[i].start, b->segs[i].end };
		g.nr_cfi = merge_ranges(g.cfi, b->nr_segs);
	}
	ret = gopclntab__read_sp(b->elf, go_run, &g);
	if (ret >= 0 && g.nr_ends) {
		g.nr_ends = merge_ranges(g.ends, g.nr_ends);
		ret = cut_ends(b, before, g.ends, g.nr_ends);
	}
	free(g.cfi);
	free(g.ends);
	if (ret == -ENOMEM)
		return ret;
	if (ret < 0) {
		/* no pclntab, or a malformed one: none of its rows */
		b->nr_segs = before;
		b->nr_go_funcs = 0;
	}
	return 0;
}

/* Read the file's CFI into b->segs; libdw and the file are released before
 * the rows are made, which keeps the peak memory down. */
static int collect(const char *path, struct builder *b)
{
	Dwarf_CFI *eh_cfi = NULL, *dbg_cfi;
	Dwarf *dw = NULL;
	Elf_Data *data;
	GElf_Ehdr ehdr;
	GElf_Shdr shdr;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	b->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!b->elf || elf_kind(b->elf) != ELF_K_ELF || !gelf_getehdr(b->elf, &ehdr)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	/* The rows describe x86-64 registers; FDE decoding assumes ELF64 LE. */
	b->e_ident = (const unsigned char *)elf_getident(b->elf, NULL);
	if (!b->e_ident || b->e_ident[EI_CLASS] != ELFCLASS64 ||
	    b->e_ident[EI_DATA] != ELFDATA2LSB || ehdr.e_machine != EM_X86_64 ||
	    (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = read_segments(b);
	if (err)
		goto cleanup;

	data = find_section(b->elf, ".eh_frame", &shdr);
	if (data) {
		eh_cfi = dwarf_getcfi_elf(b->elf);
		if (eh_cfi) {
			err = add_section(b, eh_cfi, data, shdr.sh_addr, true);
			if (err)
				goto cleanup;
		}
	}
	merge_eh(b);

	/* .debug_frame is read through a Dwarf handle; its data is looked up
	 * only afterwards because dwarf_begin_elf decompresses it in place. */
	if (has_section(b->elf, ".debug_frame")) {
		dw = dwarf_begin_elf(b->elf, DWARF_C_READ, NULL);
		dbg_cfi = dw ? dwarf_getcfi(dw) : NULL;
		data = dbg_cfi ? find_section(b->elf, ".debug_frame", &shdr) : NULL;
		if (data)
			err = add_section(b, dbg_cfi, data, 0, false);
		if (err)
			goto cleanup;
	}
	err = add_go(b);

cleanup:
	if (eh_cfi)
		dwarf_cfi_end(eh_cfi);
	if (dw)
		dwarf_end(dw);
	if (b->elf)
		elf_end(b->elf);
	b->elf = NULL;
	b->e_ident = NULL;
	if (fd >= 0)
		close(fd);
	return err;
}

static int build(const char *path, struct unwind_table *t, bool libdw)
{
	struct builder b = { .libdw = libdw };
	int err;

	memset(t, 0, sizeof(*t));
	if (!elf_ready()) {
		err = -EINVAL;
		goto cleanup;
	}
	err = collect(path, &b);
	if (err)
		goto cleanup;
	free(b.eh);
	b.eh = NULL;
	err = emit_rows(&b, t);
	if (err)
		goto cleanup;
	t->nr_fdes = b.nr_fdes;
	t->nr_go_funcs = b.nr_go_funcs;
	t->from_debug_frame = b.used_debug_frame;

cleanup:
	if (err)
		unwind_table__clear(t);
	free(b.segs);
	free(b.eh);
	free(b.exec);
	return err;
}

int unwind_table__build(const char *path, struct unwind_table *t)
{
	return build(path, t, false);
}

int unwind_table__build_libdw(const char *path, struct unwind_table *t)
{
	return build(path, t, true);
}

/* Pages of at least 4 KiB, as many as there are blocks at most: the page
 * index is never larger than the block index. */
static uint32_t page_shift(const struct unwind_table *t, uint32_t nr_blocks)
{
	uint32_t span = t->rows[t->nr - 1].pc - t->rows[0].pc, shift = UNWIND_PAGE_SHIFT_MIN;

	while (shift < 31 && (span >> shift) + 1 > nr_blocks)
		shift++;
	return shift;
}

size_t unwind_table__index_len(const struct unwind_table *t)
{
	size_t nr_blocks = (t->nr + UNWIND_INDEX_STRIDE - 1) / UNWIND_INDEX_STRIDE;

	if (!t->nr)
		return 0;
	return nr_blocks + ((t->rows[t->nr - 1].pc - t->rows[0].pc) >> page_shift(t, nr_blocks)) + 1;
}

void unwind_table__index(const struct unwind_table *t, uint32_t base, uint64_t *out,
			 struct unwind_table_hdr *hdr)
{
	uint32_t nr_blocks = (uint32_t)((t->nr + UNWIND_INDEX_STRIDE - 1) / UNWIND_INDEX_STRIDE);
	uint32_t b = 0;

	memset(hdr, 0, sizeof(*hdr));
	if (!t->nr)
		return;
	hdr->blocks = base;
	hdr->nr_blocks = nr_blocks;
	hdr->pc0 = t->rows[0].pc;
	hdr->shift = page_shift(t, nr_blocks);
	hdr->nr_pages = ((t->rows[t->nr - 1].pc - hdr->pc0) >> hdr->shift) + 1;
	hdr->pages = base + nr_blocks;
	for (uint32_t j = 0; j < nr_blocks; j++)
		out[j] = t->rows[(size_t)j * UNWIND_INDEX_STRIDE].pc;
	/* each page: the last block whose first pc is at or before the
	 * page's first byte */
	for (uint32_t p = 0; p < hdr->nr_pages; p++) {
		uint64_t start = hdr->pc0 + ((uint64_t)p << hdr->shift);

		while (b + 1 < nr_blocks && out[b + 1] <= start)
			b++;
		out[nr_blocks + p] = b;
	}
}

const struct unwind_row *unwind_table__find(const struct unwind_table *t, uint64_t pc)
{
	size_t lo = 0, hi = t->nr;

	/* Above 4 GiB there are no rows; the last one (a gap marker) holds. */
	if (pc > UINT32_MAX)
		pc = UINT32_MAX;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].pc <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}

void unwind_table__clear(struct unwind_table *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}
