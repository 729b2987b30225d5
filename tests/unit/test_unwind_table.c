// SPDX-License-Identifier: GPL-2.0
/*
 * Unwind tables against an independent reader: binutils' readelf
 * --debug-dump=frames-interp prints every FDE's rows ("LOC CFA rbx rbp ...
 * ra") from its own CFI interpreter. For each of its rows the table must
 * give the rules the walker (bpf/unwind_step.h) needs, at the row's first
 * and last byte, and the walker's own row search must find the same row;
 * right after an FDE that no other FDE continues, the table must say "no
 * rule". Run on small programs built here (frame pointers omitted and kept,
 * CFI in .debug_frame with FDEs of discarded code, CFI in both sections, an
 * IBT PLT), on libc and on python3; also the error cases, and what a build
 * costs for big objects.
 *
 * readelf prints "exp" for every CFA expression; the raw dump
 * (--debug-dump=frames) tells the standard lazy-PLT one from the others.
 * It prints "u" both for a register no rule mentions yet (same value by the
 * x86-64 ABI: UNW_RBP_SAME) and for DW_CFA_undefined (which the table makes
 * UNW_RBP_UNSUPPORTED); no file here says DW_CFA_undefined for rbp, so "u"
 * is taken as the former.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "unwind_table.h"

/* The walker's own row search, fed from the table under test. */
static const struct unwind_table *walk_table;
#define UNW_INLINE inline
#define UNW_TABLE(m) ((void)(m), (void *)walk_table)
static uint64_t *walk_index;
static size_t walk_nr_index;
static struct unwind_table_hdr walk_hdr;
#define UNW_HDR(m, hdr) ((void)(m), (void)(hdr), -1)	/* unused: find_row is called directly */
#define UNW_INDEX(i, out) ((i) < walk_nr_index ? ((out) = (__u32)walk_index[i], 0) : -1)
#define UNW_CACHE(i) ((void)(i), (struct unwind_row_cache_ent *)NULL)
#define UNW_ROW(tbl, idx) ((idx) < walk_table->nr ? &walk_table->rows[idx] : NULL)
#define UNW_MAP(idx) ((const struct unwind_mapping *)((void)(idx), NULL))
#define UNW_READ(dst, size, addr) (memset((dst), 0, (size)), (void)(addr), -1)
#include "../../bpf/unwind_step.h"

#define LIBC		"/usr/lib/x86_64-linux-gnu/libc.so.6"
#define PYTHON3		"/usr/bin/python3"
#define MAX_REPORT	8

static char dir[] = "/tmp/cprof-unwind-XXXXXX";

static const char prog_src[] =
	"#include <alloca.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#define NOINLINE __attribute__((noinline, noclone))\n"
	"static volatile int sink;\n"
	"NOINLINE int leaf(int n) { return n * 3 + sink; }\n"
	"/* Run-time frame sizes: the CFA moves to rbp. */\n"
	"NOINLINE int with_alloca(int n)\n"
	"{ char *p = alloca(n); memset(p, n, n); sink = p[n / 2]; return leaf(p[0]) + 1; }\n"
	"NOINLINE int with_vla(int n)\n"
	"{ char buf[n]; memset(buf, n, n); sink = buf[n / 2]; return leaf(buf[0]) + 2; }\n"
	"/* 20000 bytes: the CFA offset fits in 16 bits; 70000: it does not. */\n"
	"NOINLINE int big_frame(int n)\n"
	"{ volatile char buf[20000]; buf[n] = 1; return leaf(buf[n / 2]) + 3; }\n"
	"NOINLINE int huge_frame(int n)\n"
	"{ volatile char buf[70000]; buf[n] = 1; return leaf(buf[n / 2]) + 4; }\n"
	"/* Callee-saved registers live across calls: pushes and pops. */\n"
	"NOINLINE long saver(long a, long b, long c, long d)\n"
	"{ long r = 0; for (long i = 0; i < a; i++) r += leaf(i) * b + c * d + leaf(r);\n"
	"  return r + a * b * c * d; }\n"
	"/* Never called: --gc-sections drops it. */\n"
	"NOINLINE int cprof_unused(int n) { return leaf(n) * 7 + 1; }\n"
	"NOINLINE int recurse(int n) { return n <= 0 ? leaf(n) : recurse(n - 1) + leaf(n) + 1; }\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	printf(\"%d\\n\", with_alloca(argc + 8) + with_vla(argc + 9) + big_frame(argc) +\n"
	"	       huge_frame(argc) + (int)saver(argc, 2, 3, 4) + recurse(argc + 3));\n"
	"	return 0;\n"
	"}\n";

static const char nocfi_src[] = "void _start(void) { for (;;) ; }\n";

/* ---- What readelf says ---- */

enum sect { SECT_OTHER, SECT_EH, SECT_DEBUG };

struct trow {
	uint64_t loc;
	char cfa[32], rbp[16], ra[16];	/* rbp "" when the column is absent */
};

struct tcie {
	enum sect sect;
	uint64_t off;
	bool signal;			/* 'S' in the augmentation */
	bool has_row;
	struct trow row;		/* the initial rules */
};

struct tfde {
	enum sect sect;
	uint64_t off, cie, lo, hi;
	size_t first, nr;		/* its rows in truth.rows */
	bool std_plt;			/* its CFA expressions are all the standard PLT one */
};

struct truth {
	struct trow *rows;
	size_t nr_rows, cap_rows;
	struct tcie *cies;
	size_t nr_cies, cap_cies;
	struct tfde *fdes;
	size_t nr_fdes, cap_fdes;
};

/* Facts about the file, read with libelf. */
struct range {
	uint64_t lo, hi;
};

struct elf_facts {
	struct range exec[16], plt[4];
	int nr_exec, nr_plt;
};

static void *grow(void *arr, size_t *cap, size_t nr, size_t size)
{
	void *tmp;

	if (nr < *cap)
		return arr;
	*cap = *cap ? *cap * 2 : 256;
	tmp = realloc(arr, *cap * size);
	if (!tmp)
		abort();	/* a test: no point limping on */
	return tmp;
}

static void truth_free(struct truth *t)
{
	free(t->rows);
	free(t->cies);
	free(t->fdes);
	memset(t, 0, sizeof(*t));
}

/* Fields of a line. A register rule prints as "r10 (r10)": the name in
 * parentheses belongs to the field before it and is dropped. */
static int split(char *line, char **tok, int max)
{
	int n = 0;
	char *save = NULL, *s;

	for (s = strtok_r(line, " \t\n", &save); s && n < max; s = strtok_r(NULL, " \t\n", &save))
		if (s[0] != '(' || !n)
			tok[n++] = s;
	return n;
}

static bool is_loc(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 16 && s[n] == '\0';
}

static enum sect section_of(const char *line)
{
	if (strstr(line, " .eh_frame section"))
		return SECT_EH;
	if (strstr(line, " .debug_frame section"))
		return SECT_DEBUG;
	return SECT_OTHER;
}

/* Run readelf --debug-dump=frames-interp and collect CIEs, FDEs and rows. */
static int parse_interp(const char *path, struct truth *t)
{
	char cmd[1024], line[1024], *tok[64];
	int idx_rbp = -1, idx_ra = -1, ntok;
	enum sect sect = SECT_OTHER;
	struct tcie *cie = NULL;
	struct tfde *fde = NULL;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf --debug-dump=frames-interp,no-follow-links '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long off, len, id, a, b;
		char kind[8];
		const char *s;

		if (!strncmp(line, "Contents of the ", 16)) {
			sect = section_of(line);
			cie = NULL;
			fde = NULL;
			continue;
		}
		if (sscanf(line, "%llx %llx %llx %7s", &off, &len, &id, kind) == 4 &&
		    (!strcmp(kind, "CIE") || !strcmp(kind, "FDE"))) {
			cie = NULL;
			fde = NULL;
			if (sect == SECT_OTHER)
				continue;
			if (kind[0] == 'C') {
				t->cies = grow(t->cies, &t->cap_cies, t->nr_cies, sizeof(*t->cies));
				cie = &t->cies[t->nr_cies++];
				memset(cie, 0, sizeof(*cie));
				cie->sect = sect;
				cie->off = off;
				s = strchr(line, '"');
				cie->signal = s && memchr(s + 1, 'S', strcspn(s + 1, "\""));
				continue;
			}
			s = strstr(line, "cie=");
			if (!s || sscanf(s, "cie=%llx", &id) != 1)
				continue;
			s = strstr(line, "pc=");
			if (!s || sscanf(s, "pc=%llx..%llx", &a, &b) != 2)
				continue;
			t->fdes = grow(t->fdes, &t->cap_fdes, t->nr_fdes, sizeof(*t->fdes));
			fde = &t->fdes[t->nr_fdes++];
			memset(fde, 0, sizeof(*fde));
			fde->sect = sect;
			fde->off = off;
			fde->cie = id;
			fde->lo = a;
			fde->hi = b;
			fde->first = t->nr_rows;
			continue;
		}
		ntok = split(line, tok, 64);
		if (ntok >= 2 && !strcmp(tok[0], "LOC") && !strcmp(tok[1], "CFA")) {
			idx_rbp = idx_ra = -1;
			for (int i = 2; i < ntok; i++) {
				if (!strcmp(tok[i], "rbp"))
					idx_rbp = i;
				else if (!strcmp(tok[i], "ra"))
					idx_ra = i;
			}
			continue;
		}
		if (ntok >= 2 && is_loc(tok[0]) && (cie || fde)) {
			struct trow r;

			memset(&r, 0, sizeof(r));
			r.loc = strtoull(tok[0], NULL, 16);
			snprintf(r.cfa, sizeof(r.cfa), "%s", tok[1]);
			if (idx_rbp > 0 && idx_rbp < ntok)
				snprintf(r.rbp, sizeof(r.rbp), "%s", tok[idx_rbp]);
			if (idx_ra > 0 && idx_ra < ntok)
				snprintf(r.ra, sizeof(r.ra), "%s", tok[idx_ra]);
			if (cie) {
				cie->row = r;
				cie->has_row = true;
			} else {
				t->rows = grow(t->rows, &t->cap_rows, t->nr_rows, sizeof(*t->rows));
				t->rows[t->nr_rows++] = r;
				fde->nr++;
			}
		}
	}
	return pclose(p) == 0 && t->nr_fdes ? 0 : -EIO;
}

/* The raw dump (--debug-dump=frames) shows the CFA expressions that the
 * interpreted one prints as "exp": mark the FDEs whose expressions are all
 * binutils' standard lazy-PLT one. */
static int parse_raw(const char *path, struct truth *t)
{
	static const char std_plt[] =
		"DW_CFA_def_cfa_expression (DW_OP_breg7 (rsp): 8; DW_OP_breg16 (rip): 0; "
		"DW_OP_lit15; DW_OP_and; DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; "
		"DW_OP_plus)";
	char cmd[1024], line[1024];
	enum sect sect = SECT_OTHER;
	struct tfde *fde = NULL;
	size_t next = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf --debug-dump=frames,no-follow-links '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long off, len, id;
		char kind[8], *s;

		if (!strncmp(line, "Contents of the ", 16)) {
			sect = section_of(line);
			fde = NULL;
			continue;
		}
		if (sscanf(line, "%llx %llx %llx %7s", &off, &len, &id, kind) == 4 &&
		    (!strcmp(kind, "CIE") || !strcmp(kind, "FDE"))) {
			fde = NULL;
			if (kind[0] != 'F' || sect == SECT_OTHER)
				continue;
			/* Same order as the interpreted dump. */
			for (; next < t->nr_fdes; next++) {
				if (t->fdes[next].sect == sect && t->fdes[next].off == off) {
					fde = &t->fdes[next++];
					fde->std_plt = true;
					break;
				}
			}
			continue;
		}
		s = line + strspn(line, " ");
		s[strcspn(s, "\n")] = '\0';
		if (fde && !strncmp(s, "DW_CFA_def_cfa_expression", 25) && strcmp(s, std_plt))
			fde->std_plt = false;
	}
	return pclose(p) == 0 ? 0 : -EIO;
}

static void read_elf_facts(const char *path, struct elf_facts *f)
{
	size_t phnum, shstrndx;
	Elf_Scn *scn = NULL;
	Elf *elf;
	int fd;

	memset(f, 0, sizeof(*f));
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && !elf_getphdrnum(elf, &phnum)) {
		for (size_t i = 0; i < phnum && f->nr_exec < 16; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
				f->exec[f->nr_exec++] = (struct range){ ph.p_vaddr, ph.p_vaddr + ph.p_memsz };
		}
	}
	if (elf && !elf_getshdrstrndx(elf, &shstrndx)) {
		while ((scn = elf_nextscn(elf, scn)) && f->nr_plt < 4) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(elf, shstrndx, sh.sh_name);
			if (name && (!strcmp(name, ".plt") || !strcmp(name, ".plt.sec")))
				f->plt[f->nr_plt++] = (struct range){ sh.sh_addr, sh.sh_addr + sh.sh_size };
		}
	}
	elf_end(elf);
	close(fd);
}

static bool in_ranges(const struct range *r, int n, uint64_t pc)
{
	for (int i = 0; i < n; i++)
		if (pc >= r[i].lo && pc < r[i].hi)
			return true;
	return false;
}

/* ---- What the table should say ---- */

struct expect {
	int cfa, cfa_off, rbp, rbp_off;
};

/* "rsp+8", "rbp-16", "r11+24": a register name and a signed offset. */
static bool parse_reg_off(const char *s, char *reg, size_t size, long *off)
{
	size_t n = strcspn(s, "+-");

	if (!n || n >= size || !s[n])
		return false;
	memcpy(reg, s, n);
	reg[n] = '\0';
	*off = strtol(s + n, NULL, 10);
	return true;
}

static bool fits_s16(long v)
{
	return v >= INT16_MIN && v <= INT16_MAX;
}

static struct expect expected(const struct trow *r, bool signal, bool plt)
{
	struct expect e = { .cfa = UNW_CFA_UNSUPPORTED };
	char reg[16];
	long off;

	/* A signal frame's caller is the interrupted context. */
	if (signal)
		return e;
	if (!strcmp(r->ra, "u")) {
		e.cfa = UNW_CFA_END;
		return e;
	}
	if (strcmp(r->ra, "c-8"))
		return e;
	if (!strcmp(r->cfa, "exp")) {
		if (plt)
			e.cfa = UNW_CFA_PLT;
	} else if (parse_reg_off(r->cfa, reg, sizeof(reg), &off) && fits_s16(off)) {
		if (!strcmp(reg, "rsp"))
			e.cfa = UNW_CFA_RSP;
		else if (!strcmp(reg, "rbp"))
			e.cfa = UNW_CFA_RBP;
		e.cfa_off = (int)off;
	}
	if (e.cfa == UNW_CFA_UNSUPPORTED || e.cfa == UNW_CFA_PLT)
		e.cfa_off = 0;
	if (e.cfa == UNW_CFA_UNSUPPORTED)
		return e;
	/* rbp: not mentioned, "u" (no rule yet) and "s" all leave it as it
	 * was; "c-16" is saved at CFA - 16. */
	if (!r->rbp[0] || !strcmp(r->rbp, "u") || !strcmp(r->rbp, "s")) {
		e.rbp = UNW_RBP_SAME;
	} else if (r->rbp[0] == 'c' && (r->rbp[1] == '-' || r->rbp[1] == '+') &&
		   fits_s16(strtol(r->rbp + 1, NULL, 10))) {
		e.rbp = UNW_RBP_CFA;
		e.rbp_off = (int)strtol(r->rbp + 1, NULL, 10);
	} else {
		e.rbp = UNW_RBP_UNSUPPORTED;
	}
	return e;
}

static bool row_matches(const struct unwind_row *row, const struct expect *e)
{
	if (!row || row->cfa_type != e->cfa)
		return false;
	if ((e->cfa == UNW_CFA_RSP || e->cfa == UNW_CFA_RBP) && row->cfa_off != e->cfa_off)
		return false;
	if (e->cfa != UNW_CFA_RSP && e->cfa != UNW_CFA_RBP && e->cfa != UNW_CFA_PLT)
		return true;	/* the walker reads no rbp rule then */
	if (row->rbp_type != e->rbp)
		return false;
	return e->rbp != UNW_RBP_CFA || row->rbp_off == e->rbp_off;
}

struct stats {
	size_t rows;			/* readelf rows compared */
	size_t lookups;
	size_t mismatches;
	size_t walker_diff;		/* unwind_find_row disagrees with find */
	size_t gaps, gap_errors;
	size_t outside;			/* FDEs outside executable segments */
	size_t debug_rows;		/* rows compared from .debug_frame */
	size_t by_cfa[UNW_CFA_UNSUPPORTED + 1];
	size_t table_rows;
	int from_debug_frame;
};

struct sorted {
	struct range *r;
	size_t n;
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* FDE ranges of some sections, sorted and merged. */
static void cover(const struct truth *t, const struct elf_facts *f, bool debug_too,
		  struct sorted *s)
{
	size_t i, n = 0;

	s->r = calloc(t->nr_fdes + 1, sizeof(*s->r));
	s->n = 0;
	if (!s->r)
		abort();
	for (i = 0; i < t->nr_fdes; i++) {
		const struct tfde *d = &t->fdes[i];

		if (d->lo == d->hi || !in_ranges(f->exec, f->nr_exec, d->lo))
			continue;
		if (d->sect == SECT_EH || (debug_too && d->sect == SECT_DEBUG))
			s->r[s->n++] = (struct range){ d->lo, d->hi };
	}
	if (!s->n)
		return;
	qsort(s->r, s->n, sizeof(*s->r), cmp_range);
	for (i = 1; i < s->n; i++) {
		if (s->r[i].lo <= s->r[n].hi) {
			if (s->r[i].hi > s->r[n].hi)
				s->r[n].hi = s->r[i].hi;
		} else {
			s->r[++n] = s->r[i];
		}
	}
	s->n = n + 1;
}

static bool covered(const struct sorted *s, uint64_t pc)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->r[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo && pc < s->r[lo - 1].hi;
}

static const char *cfa_name(int type)
{
	static const char *const names[] = { "NONE", "RSP", "RBP", "PLT", "END", "UNSUPPORTED" };

	return type >= 0 && type <= UNW_CFA_UNSUPPORTED ? names[type] : "?";
}

static void lookup(const char *name, const struct unwind_table *tab, uint64_t pc,
		   const struct trow *r, const struct expect *e, struct stats *st)
{
	const struct unwind_row *row = unwind_table__find(tab, pc);

	st->lookups++;
	if (unwind_find_row((void *)tab, &walk_hdr, (__u32)tab->nr, (__u32)pc) != row)
		st->walker_diff++;
	if (row_matches(row, e))
		return;
	if (st->mismatches++ < MAX_REPORT)
		printf("# %s: pc %#llx: readelf cfa %s rbp %s ra %s -> want %s%+d rbp %d%+d, "
		       "got %s%+d rbp %d%+d\n", name, (unsigned long long)pc, r->cfa,
		       r->rbp[0] ? r->rbp : "-", r->ra, cfa_name(e->cfa), e->cfa_off, e->rbp,
		       e->rbp_off, row ? cfa_name(row->cfa_type) : "NULL", row ? row->cfa_off : 0,
		       row ? row->rbp_type : -1, row ? row->rbp_off : 0);
}

static const struct tcie *find_cie(const struct truth *t, enum sect sect, uint64_t off)
{
	for (size_t i = 0; i < t->nr_cies; i++)
		if (t->cies[i].sect == sect && t->cies[i].off == off)
			return &t->cies[i];
	return NULL;
}

/* Every readelf row, at its first and last byte. */
static void compare(const char *name, const struct unwind_table *tab, const struct truth *t,
		    const struct elf_facts *f, struct stats *st)
{
	struct sorted eh, all;

	cover(t, f, false, &eh);
	cover(t, f, true, &all);
	for (size_t i = 0; i < t->nr_fdes; i++) {
		const struct tfde *d = &t->fdes[i];
		const struct tcie *cie = find_cie(t, d->sect, d->cie);
		bool plt = d->std_plt && in_ranges(f->plt, f->nr_plt, d->lo);
		const struct trow *rows = &t->rows[d->first];
		size_t nr = d->nr;

		if (d->lo == d->hi)
			continue;
		if (!in_ranges(f->exec, f->nr_exec, d->lo)) {
			/* discarded code (.debug_frame tombstones) */
			st->outside++;
			continue;
		}
		/* readelf prints no row for an FDE without instructions:
		 * its CIE's initial rules hold over all of it. */
		if (!nr && cie && cie->has_row) {
			rows = &cie->row;
			nr = 1;
		}
		for (size_t j = 0; j < nr; j++) {
			uint64_t lo = j || d->nr ? rows[j].loc : d->lo;
			uint64_t hi = j + 1 < nr ? rows[j + 1].loc : d->hi;
			struct expect e;

			if (hi > d->hi)
				hi = d->hi;
			if (lo >= hi)
				continue;	/* replaced at the same pc, or past the end */
			/* .eh_frame wins where both describe a pc */
			if (d->sect == SECT_DEBUG && covered(&eh, lo))
				continue;
			e = expected(&rows[j], cie && cie->signal, plt);
			st->rows++;
			st->by_cfa[e.cfa]++;
			if (d->sect == SECT_DEBUG)
				st->debug_rows++;
			lookup(name, tab, lo, &rows[j], &e, st);
			if (hi - 1 != lo && !(d->sect == SECT_DEBUG && covered(&eh, hi - 1)))
				lookup(name, tab, hi - 1, &rows[j], &e, st);
		}
		if (!covered(&all, d->hi)) {
			const struct unwind_row *row = unwind_table__find(tab, d->hi);

			st->gaps++;
			if (!row || row->cfa_type != UNW_CFA_NONE) {
				if (st->gap_errors++ < MAX_REPORT)
					printf("# %s: gap at %#llx has %s\n", name,
					       (unsigned long long)d->hi,
					       row ? cfa_name(row->cfa_type) : "no row");
			}
		}
	}
	free(eh.r);
	free(all.r);
}

/* Sorted, unique, merged, closed by a gap marker; NULL before the first row. */
static bool invariants(const struct unwind_table *t, const char **why)
{
	for (size_t i = 1; i < t->nr; i++) {
		const struct unwind_row *a = &t->rows[i - 1], *b = &t->rows[i];

		if (a->pc >= b->pc) {
			*why = "pcs not increasing";
			return false;
		}
		if (a->cfa_type == b->cfa_type && a->cfa_off == b->cfa_off &&
		    a->rbp_type == b->rbp_type && a->rbp_off == b->rbp_off) {
			*why = "neighbours with the same rules";
			return false;
		}
	}
	if (!t->nr || t->rows[t->nr - 1].cfa_type != UNW_CFA_NONE) {
		*why = "no gap marker at the end";
		return false;
	}
	if (t->rows[0].pc && unwind_table__find(t, t->rows[0].pc - 1)) {
		*why = "a row before the first";
		return false;
	}
	if (unwind_table__find(t, UINT64_MAX) != &t->rows[t->nr - 1]) {
		*why = "far pcs do not get the last row";
		return false;
	}
	return true;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Build the table of path, compare it with readelf; the stats for checks
 * specific to the file. */
static int check_file(const char *name, const char *path, struct stats *st)
{
	struct unwind_table tab;
	struct elf_facts f;
	struct truth t = { 0 };
	const char *why = "";
	char label[256];
	double ms;
	int err;

	memset(st, 0, sizeof(*st));
	ms = now_ms();
	err = unwind_table__build(path, &tab);
	ms = now_ms() - ms;
	snprintf(label, sizeof(label), "%s: build", name);
	CHECK(err == 0, label, "unwind_table__build(%s) = %d", path, err);
	if (err)
		return err;
	printf("# %s: %zu rows (%zu KiB) from %zu FDEs in %.1f ms; %zu unsupported, %zu PLT%s\n",
	       name, tab.nr, tab.nr * sizeof(*tab.rows) / 1024, tab.nr_fdes, ms, tab.nr_unsupported,
	       tab.nr_plt, tab.from_debug_frame ? ", used .debug_frame" : "");

	st->table_rows = tab.nr;
	st->from_debug_frame = tab.from_debug_frame;
	snprintf(label, sizeof(label), "%s: sorted, merged, gap-terminated", name);
	CHECK(invariants(&tab, &why), label, "%s", why);

	read_elf_facts(path, &f);
	err = parse_interp(path, &t);
	if (!err)
		err = parse_raw(path, &t);
	snprintf(label, sizeof(label), "%s: readelf frames dump", name);
	CHECK(!err, label, "readelf failed on %s: %d", path, err);
	if (!err) {
		walk_table = &tab;
		/* its indexes, as the daemon makes them */
		walk_nr_index = unwind_table__index_len(&tab);
		walk_index = calloc(walk_nr_index + 1, sizeof(*walk_index));
		if (walk_index)
			unwind_table__index(&tab, 0, walk_index, &walk_hdr);
		compare(name, &tab, &t, &f, st);
		free(walk_index);
		walk_index = NULL;
		walk_nr_index = 0;
		printf("# %s: %zu readelf rows compared (%zu from .debug_frame), %zu lookups, "
		       "%zu mismatches; want RSP %zu RBP %zu PLT %zu END %zu UNSUPPORTED %zu; "
		       "%zu gaps; %zu FDEs outside code\n",
		       name, st->rows, st->debug_rows, st->lookups, st->mismatches,
		       st->by_cfa[UNW_CFA_RSP], st->by_cfa[UNW_CFA_RBP], st->by_cfa[UNW_CFA_PLT],
		       st->by_cfa[UNW_CFA_END], st->by_cfa[UNW_CFA_UNSUPPORTED], st->gaps,
		       st->outside);
		snprintf(label, sizeof(label), "%s: every readelf row matches", name);
		CHECK(st->rows > 0 && st->mismatches == 0, label, "%zu of %zu lookups differ",
		      st->mismatches, st->lookups);
		snprintf(label, sizeof(label), "%s: pcs between FDEs have no rule", name);
		CHECK(st->gap_errors == 0, label, "%zu of %zu gaps", st->gap_errors, st->gaps);
		snprintf(label, sizeof(label), "%s: the walker's row search agrees", name);
		CHECK(st->walker_diff == 0, label, "%zu lookups differ", st->walker_diff);
	}
	truth_free(&t);
	unwind_table__clear(&tab);
	return err;
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static void check_errors(const char *src)
{
	struct unwind_table t;
	char path[512], cmd[2048];
	int err;

	err = unwind_table__build("/nonexistent/cprof", &t);
	CHECK(err == -ENOENT && !t.rows && !t.nr, "missing file: -ENOENT", "got %d", err);
	err = unwind_table__build(src, &t);
	CHECK(err == -ENOEXEC && !t.rows, "not ELF: -ENOEXEC", "got %d", err);

	/* No CFI at all: the object is left to frame pointers. */
	snprintf(path, sizeof(path), "%s/nocfi.c", dir);
	if (write_file(path, nocfi_src)) {
		CHECK(0, "write nocfi.c", "errno %d", errno);
		return;
	}
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -nostdlib -static -fno-asynchronous-unwind-tables -fno-unwind-tables "
		 "-o '%s/nocfi' '%s'", dir, path);
	if (sh(cmd)) {
		SKIP("no CFI: -ENOENT", "cannot link a program without CFI");
	} else {
		snprintf(path, sizeof(path), "%s/nocfi", dir);
		err = unwind_table__build(path, &t);
		CHECK(err == -ENOENT && !t.rows, "no CFI: -ENOENT", "got %d", err);
	}

	/* Code above 4 GiB cannot be described with 32-bit pcs. */
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -fPIC -shared -Wl,-Ttext-segment=0x100000000 -o '%s/high.so' '%s/prog.c'",
		 dir, dir);
	if (sh(cmd)) {
		SKIP("code above 4 GiB: -ERANGE", "cannot link at 4 GiB");
	} else {
		snprintf(path, sizeof(path), "%s/high.so", dir);
		err = unwind_table__build(path, &t);
		CHECK(err == -ERANGE && !t.rows, "code above 4 GiB: -ERANGE", "got %d", err);
	}

	unwind_table__clear(NULL);
	memset(&t, 0, sizeof(t));
	CHECK(unwind_table__find(&t, 0x1000) == NULL, "empty table: no row", "got a row");
}

enum variant { OMIT_FP, KEEP_FP, DEBUG_FRAME, BOTH, IBT_PLT, NR_VARIANTS };

static void check_programs(void)
{
	/* %1$s: the output, %2$s: the source */
	static const struct {
		const char *name, *build;
	} variants[NR_VARIANTS] = {
		[OMIT_FP] = { "omit-fp", "gcc -O2 -fomit-frame-pointer -o '%1$s' '%2$s'" },
		[KEEP_FP] = { "keep-fp", "gcc -O2 -fno-omit-frame-pointer -o '%1$s' '%2$s'" },
		/* Our code's CFI in .debug_frame, crt1's in .eh_frame; the
		 * linker points the FDE of the discarded function at 0. */
		[DEBUG_FRAME] = { "debug-frame",
			"gcc -O2 -g -fno-asynchronous-unwind-tables -fomit-frame-pointer "
			"-ffunction-sections -Wl,--gc-sections -o '%1$s' '%2$s'" },
		/* The same CFI in both sections: .eh_frame's is used. */
		[BOTH] = { "both-sections",
			"gcc -O2 -fomit-frame-pointer -S -o '%1$s.s' '%2$s' && "
			"sed -i '1i .cfi_sections .eh_frame, .debug_frame' '%1$s.s' && "
			"gcc -o '%1$s' '%1$s.s'" },
		/* IBT PLT: its CFA expression tests pc & 15 >= 9, not 11 */
		[IBT_PLT] = { "ibt-plt",
			"gcc -O2 -fcf-protection=full -Wl,-z,ibtplt -o '%1$s' '%2$s'" },
	};
	char src[512], out[512], cmd[2048], label[128];
	struct stats st, omit_fp = { 0 };

	snprintf(src, sizeof(src), "%s/prog.c", dir);
	if (write_file(src, prog_src)) {
		CHECK(0, "write prog.c", "errno %d", errno);
		return;
	}
	for (int i = 0; i < NR_VARIANTS; i++) {
		snprintf(out, sizeof(out), "%s/%s", dir, variants[i].name);
		snprintf(cmd, sizeof(cmd), variants[i].build, out, src);
		if (sh(cmd)) {
			SKIP(variants[i].name, "cannot build it here");
			continue;
		}
		if (check_file(variants[i].name, out, &st))
			continue;

		snprintf(label, sizeof(label), "%s: has the rows it is built for", variants[i].name);
		switch (i) {
		case OMIT_FP:
			/* alloca/VLA: rbp-based CFA; huge_frame: offset over
			 * 16 bits; .plt; _start */
			CHECK(st.by_cfa[UNW_CFA_RBP] && st.by_cfa[UNW_CFA_UNSUPPORTED] &&
			      st.by_cfa[UNW_CFA_PLT] && st.by_cfa[UNW_CFA_END] &&
			      !st.from_debug_frame, label,
			      "RBP %zu UNSUPPORTED %zu PLT %zu END %zu", st.by_cfa[UNW_CFA_RBP],
			      st.by_cfa[UNW_CFA_UNSUPPORTED], st.by_cfa[UNW_CFA_PLT],
			      st.by_cfa[UNW_CFA_END]);
			omit_fp = st;
			break;
		case KEEP_FP:
			/* every function of ours, huge_frame included */
			CHECK(st.by_cfa[UNW_CFA_RBP] >= 8 && !st.by_cfa[UNW_CFA_UNSUPPORTED], label,
			      "RBP %zu UNSUPPORTED %zu", st.by_cfa[UNW_CFA_RBP],
			      st.by_cfa[UNW_CFA_UNSUPPORTED]);
			break;
		case DEBUG_FRAME:
			CHECK(st.debug_rows > 10 && st.from_debug_frame && st.outside > 0, label,
			      "%zu rows from .debug_frame, used %d, %zu FDEs outside code",
			      st.debug_rows, st.from_debug_frame, st.outside);
			break;
		case BOTH:
			CHECK(!st.from_debug_frame && st.debug_rows == 0 &&
			      (!omit_fp.table_rows || st.table_rows == omit_fp.table_rows), label,
			      "used .debug_frame %d, %zu rows (omit-fp: %zu)", st.from_debug_frame,
			      st.table_rows, omit_fp.table_rows);
			break;
		case IBT_PLT:
			CHECK(st.by_cfa[UNW_CFA_PLT] == 0 && st.by_cfa[UNW_CFA_UNSUPPORTED] >= 2,
			      label, "PLT %zu UNSUPPORTED %zu", st.by_cfa[UNW_CFA_PLT],
			      st.by_cfa[UNW_CFA_UNSUPPORTED]);
			break;
		}
	}
}

/* Our CFI interpreter against libdw's, row for row, on one file: the same
 * rows, or the first pc where they part. Counts into *rows. */
static bool same_as_libdw(const char *path, size_t *rows, char *why, size_t len)
{
	struct unwind_table a, b;
	int ea = unwind_table__build(path, &a), eb = unwind_table__build_libdw(path, &b);
	bool same = ea == eb;

	why[0] = 0;
	if (!same)
		snprintf(why, len, "errors %d vs libdw %d", ea, eb);
	for (size_t i = 0; same && !ea && i < a.nr && i < b.nr; i++) {
		const struct unwind_row *x = &a.rows[i], *y = &b.rows[i];

		if (memcmp(x, y, sizeof(*x))) {
			snprintf(why, len, "row %zu: pc %#x cfa %u%+d rbp %u%+d vs libdw pc %#x cfa %u%+d rbp %u%+d",
				 i, x->pc, x->cfa_type, x->cfa_off, x->rbp_type, x->rbp_off,
				 y->pc, y->cfa_type, y->cfa_off, y->rbp_type, y->rbp_off);
			same = false;
		}
	}
	if (same && !ea && a.nr != b.nr) {
		snprintf(why, len, "%zu rows vs libdw %zu", a.nr, b.nr);
		same = false;
	}
	if (!ea)
		*rows += a.nr;
	unwind_table__clear(&a);
	unwind_table__clear(&b);
	return same;
}

/* Every shared object in the system's library directory (and the test
 * programs): the interpreter must give libdw's rows exactly. */
static void check_against_libdw(void)
{
	char cmd[512], path[4096], why[256];
	size_t files = 0, differ = 0, rows = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "{ ls %s/prog* 2>/dev/null; find /usr/lib/x86_64-linux-gnu /usr/bin -maxdepth 1 -type f "
		 "\\( -name '*.so*' -o -perm -u+x \\) -size -200M 2>/dev/null | sort; } | "
		 "while read -r f; do head -c 4 \"$f\" 2>/dev/null | grep -q ELF && echo \"$f\"; done",
		 dir);
	f = popen(cmd, "r");
	if (!f) {
		CHECK(0, "libdw: list objects", "errno %d", errno);
		return;
	}
	while (fgets(path, sizeof(path), f)) {
		path[strcspn(path, "\n")] = 0;
		files++;
		if (!same_as_libdw(path, &rows, why, sizeof(why))) {
			if (differ++ < 10)
				printf("  %s: %s\n", path, why);
		}
	}
	pclose(f);
	CHECK(files > 100 && !differ, "interpreter: the rows libdw gives, on every object here",
	      "%zu of %zu objects differ", differ, files);
	printf("# interpreter vs libdw: %zu objects, %zu rows\n", files, rows);
}

int main(void)
{
	struct stats st;
	char cmd[512];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "errno %d", errno);
		return CHECK_EXIT();
	}
	if (system("readelf --version >/dev/null 2>&1")) {
		SKIP("unwind tables against readelf", "readelf (binutils) not found");
		goto out;
	}
	if (system("gcc --version >/dev/null 2>&1")) {
		SKIP("compiled programs", "gcc not found");
	} else {
		check_programs();
		snprintf(cmd, sizeof(cmd), "%s/prog.c", dir);
		check_errors(cmd);
	}
	check_against_libdw();

	if (access(LIBC, R_OK)) {
		SKIP("libc.so.6", "%s not found", LIBC);
	} else if (!check_file("libc.so.6", LIBC, &st)) {
		CHECK(st.by_cfa[UNW_CFA_PLT] && st.by_cfa[UNW_CFA_END] &&
		      st.by_cfa[UNW_CFA_UNSUPPORTED], "libc.so.6: has PLT, END and unsupported rows",
		      "PLT %zu END %zu UNSUPPORTED %zu", st.by_cfa[UNW_CFA_PLT],
		      st.by_cfa[UNW_CFA_END], st.by_cfa[UNW_CFA_UNSUPPORTED]);
	}
	if (access(PYTHON3, R_OK))
		SKIP("python3", "%s not found", PYTHON3);
	else
		check_file("python3", PYTHON3, &st);

out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return CHECK_EXIT();
}
