// SPDX-License-Identifier: GPL-2.0
/*
 * gopclntab against the Go toolchain as the independent reader: a small
 * program (plain functions, a method, a closure, a generic function) is
 * built unstripped and stripped, as an executable, an internally linked PIE
 * and an externally linked PIE. Every function `go tool nm` lists in the Go
 * text of an unstripped build must come back from the pclntab of its
 * stripped twin with the same address and name, and an instruction in the
 * middle of main.spin (from `go tool objdump`) must map to main.spin.
 * The functions' flag bytes must say what the runtime's assembly declares
 * (TOPFRAME) and the assembler finds (SPWRITE), and where Go's traceback
 * ends on them, the unwind rows must end the walk, in the build with
 * .debug_frame as in the stripped one, and by name when the flags are gone.
 *
 * Then the fallbacks for the text start are exercised by editing images in
 * memory the way other toolchains and linkers leave them (header textStart
 * zero as newer Go writes it, relocated words zero as lld writes them), and
 * damaged images (bad header fields, truncation, random bytes, random byte
 * flips with the table moved to the very end of the buffer so that valgrind
 * sees any read past it) must give an error or a walk, never a crash.
 *
 * Last, what users see: the symbolizer (elfobj) must name every function
 * the same in a build with .symtab and DWARF, with .symtab alone (-w) and
 * stripped (-s -w), Go's own names, never .symtab's "x.abi0".
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
#include "elfobj.h"
#include "gopclntab.h"
#include "unwind_table.h"

#define FUZZ_ROUNDS	300

static char dir[] = "/tmp/cprof-gopcln-XXXXXX";

static const char go_src[] =
	"package main\n"
	"\n"
	"import (\n"
	"	\"fmt\"\n"
	"	\"os\"\n"
	")\n"
	"\n"
	"type Shape struct{ w, h int }\n"
	"\n"
	"//go:noinline\n"
	"func (s *Shape) Area() int { return s.w * s.h }\n"
	"\n"
	"//go:noinline\n"
	"func Max[T int | float64](a, b T) T {\n"
	"	if a > b {\n"
	"		return a\n"
	"	}\n"
	"	return b\n"
	"}\n"
	"\n"
	"//go:noinline\n"
	"func spin(n int) int {\n"
	"	acc := 0\n"
	"	for i := 0; i < n; i++ {\n"
	"		acc += i*i ^ (acc >> 3)\n"
	"		if acc%7 == 3 {\n"
	"			acc += len(os.Args)\n"
	"		}\n"
	"	}\n"
	"	return acc\n"
	"}\n"
	"\n"
	"//go:noinline\n"
	"func makeAdder(k int) func(int) int {\n"
	"	return func(x int) int {\n"
	"		for i := 0; i < k; i++ {\n"
	"			x += i * x\n"
	"		}\n"
	"		return x + k\n"
	"	}\n"
	"}\n"
	"\n"
	"func main() {\n"
	"	s := &Shape{3, 4}\n"
	"	add := makeAdder(len(os.Args))\n"
	"	fmt.Println(s.Area(), Max(1, 2), Max(1.5, 0.5), spin(1000), add(5))\n"
	"}\n";

struct fn {
	uint64_t start, end;
	char *name;
};

struct fnlist {
	struct fn *v;
	size_t n, cap;
};

struct image {
	unsigned char *buf;
	size_t size;
};

/* One build: name in the temp dir, go build flags, and which build holds
 * its symbol table (itself when unstripped). */
struct build {
	const char *name;
	const char *flags;
	const char *unstripped;
	bool external;
};

static const struct build builds[] = {
	{ "exe", "", "exe", false },
	{ "exe_s", "-ldflags='-s -w'", "exe", false },
	{ "pie", "-buildmode=pie", "pie", false },
	{ "pie_s", "-buildmode=pie -ldflags='-s -w'", "pie", false },
	{ "epie", "-buildmode=pie -ldflags='-linkmode=external'", "epie", true },
	{ "epie_s", "-buildmode=pie -ldflags='-s -w -linkmode=external'", "epie", true },
	{ "exe_w", "-ldflags=-w", "exe_w", false },	/* .symtab without DWARF */
};

#define NR_BUILDS (sizeof(builds) / sizeof(builds[0]))

static char *path_of(const char *name)
{
	static char paths[8][512];
	static int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

/*
 * Unwind rows of a stripped build, from its pclntab's stack-pointer table,
 * against the unstripped build's, from the .debug_frame Go's linker writes:
 * two readings of the same facts by different code. Every pc of every Go
 * function must get the same CFA (the text is the same in both builds).
 */
static void check_sp_rows(const char *stripped, const char *full, const struct fnlist *fns)
{
	struct unwind_table ts = { 0 }, tf = { 0 };
	size_t compared = 0, differ = 0, uncovered = 0, outermost = 0, ends_differ = 0;
	char what[160];
	uint64_t bad_pc = 0;
	int es, ef;

	es = unwind_table__build(path_of(stripped), &ts);
	ef = unwind_table__build(path_of(full), &tf);
	snprintf(what, sizeof(what), "%s: unwind rows from the pclntab (%zu functions)", stripped,
		 ts.nr_go_funcs);
	CHECK(es == 0 && ts.nr_go_funcs > fns->n / 2, what, "err %d, %zu of %zu functions", es,
	      ts.nr_go_funcs, fns->n);
	if (es || ef)
		goto out;
	for (size_t i = 0; i < fns->n; i++) {
		for (uint64_t pc = fns->v[i].start; pc < fns->v[i].end; pc++) {
			const struct unwind_row *a = unwind_table__find(&ts, pc);
			const struct unwind_row *b = unwind_table__find(&tf, pc);

			/* where Go's traceback ends, both end, CFI or not */
			if ((a && a->cfa_type == UNW_CFA_END) || (b && b->cfa_type == UNW_CFA_END)) {
				outermost++;
				ends_differ += !a || !b || a->cfa_type != b->cfa_type;
				continue;
			}
			if (!b || b->cfa_type != UNW_CFA_RSP)
				continue;	/* the linker wrote no rule here */
			compared++;
			if (!a || a->cfa_type == UNW_CFA_NONE) {
				uncovered++;
			} else if (a->cfa_type != b->cfa_type || a->cfa_off != b->cfa_off) {
				if (!differ++)
					bad_pc = pc;
			}
		}
	}
	printf("# %s: %zu rows for %zu pcs compared with %s's .debug_frame, %zu in outermost "
	       "functions\n", stripped, ts.nr, compared, full, outermost);
	snprintf(what, sizeof(what), "%s: pclntab CFA agrees with %s's .debug_frame at every pc",
		 stripped, full);
	CHECK(compared > 10000 && !differ && !uncovered, what,
	      "%zu compared, %zu differ (first at %#llx), %zu not covered", compared, differ,
	      (unsigned long long)bad_pc, uncovered);
	snprintf(what, sizeof(what), "%s: runtime.goexit and the other stack bases end the walk",
		 stripped);
	CHECK(outermost > 0, what, "no outermost rows");
	snprintf(what, sizeof(what), "%s and %s end the walk at the same pcs", stripped, full);
	CHECK(outermost > 0 && !ends_differ, what, "%zu of %zu pcs differ", ends_differ, outermost);
out:
	unwind_table__clear(&ts);
	unwind_table__clear(&tf);
}

static void fnlist_free(struct fnlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int fnlist_add(struct fnlist *l, uint64_t start, uint64_t end, const char *name)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		struct fn *tmp = realloc(l->v, ncap * sizeof(*tmp));

		if (!tmp)
			return -ENOMEM;
		l->v = tmp;
		l->cap = ncap;
	}
	l->v[l->n].start = start;
	l->v[l->n].end = end;
	l->v[l->n].name = strdup(name);
	if (!l->v[l->n].name)
		return -ENOMEM;
	l->n++;
	return 0;
}

static int collect(void *ctx, uint64_t start, uint64_t end, const char *name)
{
	return fnlist_add(ctx, start, end, name);
}

/* Index of the first function starting at or after addr. */
static size_t fnlist_lower(const struct fnlist *l, uint64_t addr)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid].start < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The function holding addr, from a pclntab walk (sorted by start). */
static const struct fn *fnlist_lookup(const struct fnlist *l, uint64_t addr)
{
	size_t i = fnlist_lower(l, addr + 1);

	if (i == 0 || addr >= l->v[i - 1].end)
		return NULL;
	return &l->v[i - 1];
}

static bool fnlist_equal(const struct fnlist *a, const struct fnlist *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++) {
		if (a->v[i].start != b->v[i].start || a->v[i].end != b->v[i].end ||
		    strcmp(a->v[i].name, b->v[i].name))
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

/* gopclntab__read() of a file, opened the way elfobj opens objects. */
static int read_path(const char *path, struct fnlist *out, double *ms)
{
	Elf *elf = NULL;
	double t0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	t0 = now_ms();
	elf = elf_begin(fd, ELF_C_READ, NULL);
	ret = gopclntab__read(elf, collect, out);
	if (ms)
		*ms = now_ms() - t0;
	if (elf)
		elf_end(elf);
	close(fd);
	return ret;
}

static int count_runs(void *ctx, const struct gopclntab_func *f, uint64_t start, uint64_t end,
		      int32_t sp)
{
	(void)f;
	(void)start;
	(void)end;
	(void)sp;
	++*(size_t *)ctx;
	return 0;
}

/* The names, and then the stack-pointer tables, of an image. */
static int read_image(const struct image *im, struct fnlist *out)
{
	Elf *elf = elf_memory((char *)im->buf, im->size);
	int ret = gopclntab__read(elf, collect, out);
	size_t runs = 0;

	if (ret >= 0)
		ret = gopclntab__read_sp(elf, count_runs, &runs);
	if (elf)
		elf_end(elf);
	return ret;
}

static int image_load(const char *path, struct image *im, size_t extra)
{
	FILE *f = fopen(path, "r");
	long len;
	int err = 0;

	memset(im, 0, sizeof(*im));
	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) {
		err = -EIO;
		goto cleanup;
	}
	im->size = (size_t)len;
	im->buf = calloc(1, im->size + extra);
	if (!im->buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (fread(im->buf, 1, im->size, f) != im->size)
		err = -EIO;

cleanup:
	fclose(f);
	return err;
}

static int image_dup(const struct image *from, struct image *to)
{
	to->size = from->size;
	to->buf = malloc(from->size);
	if (!to->buf)
		return -ENOMEM;
	memcpy(to->buf, from->buf, from->size);
	return 0;
}

/* The images are the test's own 64-bit little-endian builds; section
 * headers are trusted. */
static Elf64_Shdr *image_shdr(const struct image *im, int i)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)im->buf;

	return (Elf64_Shdr *)(im->buf + eh->e_shoff + (size_t)i * eh->e_shentsize);
}

static Elf64_Shdr *image_section(const struct image *im, const char *name)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)im->buf;
	const char *strs = (const char *)im->buf + image_shdr(im, eh->e_shstrndx)->sh_offset;
	int i;

	for (i = 1; i < eh->e_shnum; i++) {
		if (!strcmp(strs + image_shdr(im, i)->sh_name, name))
			return image_shdr(im, i);
	}
	return NULL;
}

/* File bytes at a virtual address, NULL when no section holds them. */
static unsigned char *image_at(const struct image *im, uint64_t vaddr, size_t len)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)im->buf;
	int i;

	for (i = 1; i < eh->e_shnum; i++) {
		Elf64_Shdr *sh = image_shdr(im, i);

		if (sh->sh_type == SHT_NOBITS || !(sh->sh_flags & SHF_ALLOC))
			continue;
		if (vaddr >= sh->sh_addr && vaddr + len <= sh->sh_addr + sh->sh_size)
			return im->buf + sh->sh_offset + (vaddr - sh->sh_addr);
	}
	return NULL;
}

/* Where the pclntab header is: its section, or the Go 1.18 amd64 header
 * found by its first eight bytes in .data.rel.ro. */
static uint64_t image_pclntab(const struct image *im, uint64_t *size)
{
	static const unsigned char hdr[8] = { 0xf0, 0xff, 0xff, 0xff, 0, 0, 1, 8 };
	Elf64_Shdr *sh = image_section(im, ".gopclntab");
	uint64_t off;

	if (!sh)
		sh = image_section(im, ".data.rel.ro.gopclntab");
	if (sh) {
		*size = sh->sh_size;
		return sh->sh_addr;
	}
	sh = image_section(im, ".data.rel.ro");
	if (!sh)
		return 0;
	for (off = 0; off + 8 <= sh->sh_size; off += 8) {
		if (!memcmp(im->buf + sh->sh_offset + off, hdr, 8)) {
			*size = sh->sh_size - off;
			return sh->sh_addr + off;
		}
	}
	return 0;
}

static uint64_t le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put_le64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Relative relocations (.rela.dyn, or .rela from Go's own linker): drop the one for vaddr (or, with
 * vaddr 0, none), and with zero_targets zero every relocated word in the
 * file the way lld leaves them. Returns how many were touched. */
static int image_relocs(struct image *im, uint64_t vaddr, bool zero_targets)
{
	Elf64_Shdr *sh = image_section(im, ".rela.dyn");
	Elf64_Rela *r;
	size_t i, n;
	int touched = 0;

	if (!sh)
		sh = image_section(im, ".rela");
	if (!sh)
		return 0;
	r = (Elf64_Rela *)(im->buf + sh->sh_offset);
	n = sh->sh_size / sizeof(*r);
	for (i = 0; i < n; i++) {
		unsigned char *p;

		if (ELF64_R_TYPE(r[i].r_info) != R_X86_64_RELATIVE)
			continue;
		if (vaddr && r[i].r_offset == vaddr) {
			r[i].r_info = ELF64_R_INFO(0, R_X86_64_NONE);
			touched++;
			continue;
		}
		if (zero_targets && (p = image_at(im, r[i].r_offset, 8))) {
			put_le64(p, 0);
			touched++;
		}
	}
	return touched;
}

/* A symbol name as .symtab has it, reduced to what the pclntab stores: the
 * linker writes "[...]" for everything from the first '[' to the last ']'
 * (type arguments, array lengths), and the ".abi0" suffix of assembly
 * functions exists only in the ELF symbol table. */
static void pcln_name(const char *sym, char *out, size_t size)
{
	const char *open = strchr(sym, '['), *close = strrchr(sym, ']');
	size_t len;

	if (open && close && close > open)
		snprintf(out, size, "%.*s[...]%s", (int)(open - sym), sym, close + 1);
	else
		snprintf(out, size, "%s", sym);
	len = strlen(out);
	if (len > 5 && !strcmp(out + len - 5, ".abi0"))
		out[len - 5] = '\0';
}

/* The functions `go tool nm` lists in the Go text of a build: T and t
 * symbols from runtime.text up to runtime.etext (an external link adds C
 * code around it that has no pclntab entry). */
static int load_nm(const char *bin, struct fnlist *out)
{
	uint64_t text = 0, etext = 0;
	struct fnlist all = { 0 };
	char cmd[1024], line[4096];
	size_t i;
	FILE *p;
	int err = 0;

	snprintf(cmd, sizeof(cmd), "go tool nm -sort address '%s'", bin);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long addr;
		char type;
		int name_at = 0;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%llx %c %n", &addr, &type, &name_at) != 2 || !name_at)
			continue;
		if (type != 'T' && type != 't')
			continue;
		if (!strcmp(line + name_at, "runtime.text"))
			text = addr;
		else if (!strcmp(line + name_at, "runtime.etext"))
			etext = addr;
		else if (fnlist_add(&all, addr, 0, line + name_at))
			err = -ENOMEM;
	}
	if (pclose(p) != 0 && !err)
		err = -ECHILD;
	if (!err && (!text || !etext))
		err = -ENOENT;
	for (i = 0; !err && i < all.n; i++) {
		if (all.v[i].start >= text && all.v[i].start < etext)
			err = fnlist_add(out, all.v[i].start, 0, all.v[i].name);
	}
	fnlist_free(&all);
	return err;
}

/* Instruction addresses of one function, from `go tool objdump`. */
static int objdump_addrs(const char *bin, const char *func, uint64_t *addrs, int max)
{
	char cmd[1024], line[4096];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "go tool objdump -s '^%s$' '%s'", func, bin);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		const char *hex = strstr(line, "\t0x");

		if (!strncmp(line, "TEXT", 4) || !hex || n == max)
			continue;
		addrs[n++] = strtoull(hex + 1, NULL, 16);
	}
	pclose(p);
	return n;
}

/* The stripped build against the symbols of its unstripped twin. */
static void check_against_nm(const struct build *b, const struct fnlist *got,
			     const struct fnlist *truth)
{
	size_t i, found = 0, main_total = 0, main_found = 0;
	char name[4096], what[128];
	const char *miss = NULL;

	for (i = 0; i < truth->n; i++) {
		size_t j = fnlist_lower(got, truth->v[i].start);
		bool is_main = !strncmp(truth->v[i].name, "main.", 5);
		bool ok = false;

		pcln_name(truth->v[i].name, name, sizeof(name));
		for (; j < got->n && got->v[j].start == truth->v[i].start; j++) {
			if (!strcmp(got->v[j].name, name)) {
				ok = true;
				break;
			}
		}
		found += ok;
		main_total += is_main;
		main_found += ok && is_main;
		if (!ok && !miss)
			miss = truth->v[i].name;
	}
	printf("# %s: %zu of %zu nm functions found (main.*: %zu of %zu), pclntab has %zu%s%s\n",
	       b->name, found, truth->n, main_found, main_total, got->n,
	       miss ? ", first missing: " : "", miss ? miss : "");

	snprintf(what, sizeof(what), "%s: every main.* function at its nm address", b->name);
	/* Area, Max x2, spin, makeAdder, its closure, main. */
	CHECK(main_total >= 7 && main_found == main_total, what, "%zu of %zu", main_found,
	      main_total);
	snprintf(what, sizeof(what), "%s: >= 99%% of nm functions at their address", b->name);
	CHECK(truth->n && found * 100 >= truth->n * 99, what, "%zu of %zu", found, truth->n);
}

static void check_mid_spin(const struct build *b, const struct fnlist *got)
{
	const struct fn *f = NULL;
	uint64_t addrs[512], mid = 0;
	char what[128];
	int n;

	n = objdump_addrs(path_of(b->unstripped), "main.spin", addrs, 512);
	if (n >= 3) {
		mid = addrs[n / 2];
		f = fnlist_lookup(got, mid);
	}
	snprintf(what, sizeof(what), "%s: middle of main.spin maps to main.spin", b->name);
	CHECK(f && !strcmp(f->name, "main.spin") && f->start < mid, what,
	      "%d instructions, %#llx -> %s", n, (unsigned long long)mid, f ? f->name : "nothing");
}

/* The outermost name elfobj gives at addr, or "" (into buf). */
static const char *elfobj_name(struct elfobj *o, uint64_t addr, char *buf, size_t size)
{
	struct srcline fr[DWARFSRC_FRAMES_MAX];
	int n = elfobj__symbolize(o, addr, fr, DWARFSRC_FRAMES_MAX);

	snprintf(buf, size, "%s", n > 0 && fr[n - 1].function ? fr[n - 1].function : "");
	return buf;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && !strcmp(s + n - t, tail);
}

/* Builds of one program, with and without .symtab and DWARF, name each
 * function of the pclntab fns alike: what a profile shows must not depend
 * on how the binary was stripped. */
static void check_names_alike(const char *label, const char *const *bins, int nr,
			      const struct fnlist *fns)
{
	struct elfobj *o[3] = { NULL };
	size_t i, same = 0, abi0 = 0, unnamed = 0, asm_funcs = 0;
	char want[4096], got[4096], what[160];
	const char *first_diff = NULL;
	int b;

	for (b = 0; b < nr && b < 3; b++) {
		o[b] = elfobj__open(path_of(bins[b]), NULL);
		if (!o[b]) {
			CHECK(0, "go names: open", "%s: errno %d", bins[b], errno);
			goto out;
		}
	}
	for (i = 0; i < fns->n; i++) {
		bool alike = true;

		elfobj_name(o[0], fns->v[i].start, want, sizeof(want));
		unnamed += !want[0];
		abi0 += ends_with(want, ".abi0");
		for (b = 1; b < nr; b++) {
			elfobj_name(o[b], fns->v[i].start, got, sizeof(got));
			abi0 += ends_with(got, ".abi0");
			if (strcmp(got, want)) {
				alike = false;
				if (!first_diff) {
					printf("# %s: at %#llx %s names %s, %s names %s\n", label,
					       (unsigned long long)fns->v[i].start, bins[0], want,
					       bins[b], got);
					first_diff = fns->v[i].name;
				}
			}
		}
		same += alike;
	}
	/* Assembly functions are the ones .symtab calls "x.abi0". */
	for (i = 0; i < fns->n; i++)
		asm_funcs += !strcmp(fns->v[i].name, "runtime.mstart") ||
			     !strcmp(fns->v[i].name, "runtime.memmove");
	printf("# %s: %zu of %zu functions named alike by %d builds\n", label, same, fns->n, nr);
	snprintf(what, sizeof(what), "go names (%s): every function named alike with and without "
		 ".symtab and DWARF", label);
	CHECK(fns->n > 500 && same == fns->n && !unnamed, what, "%zu of %zu alike, %zu unnamed",
	      same, fns->n, unnamed);
	snprintf(what, sizeof(what), "go names (%s): none ends in .abi0 (runtime.mstart, "
		 "runtime.memmove among them)", label);
	CHECK(!abi0 && asm_funcs == 2, what, "%zu .abi0 names, %zu of the 2 assembly functions",
	      abi0, asm_funcs);
out:
	for (b = 0; b < 3; b++)
		elfobj__free(o[b]);
}

/* An edited image must read exactly like the file it came from. */
static void check_variant(const char *what, const struct image *im, const struct fnlist *want,
			  int touched)
{
	struct fnlist got = { 0 };
	int ret = read_image(im, &got);

	CHECK(touched && ret == (int)want->n && fnlist_equal(&got, want), what,
	      "ret %d, want %zu, %d edits", ret, want->n, touched);
	fnlist_free(&got);
}

static void check_fallbacks(const char *name, const struct fnlist *want)
{
	struct image orig, im;
	uint64_t hdr, size = 0, word;
	char what[160];
	unsigned char *p;
	int n;

	if (image_load(path_of(name), &orig, 0))
		return;
	hdr = image_pclntab(&orig, &size);
	word = hdr + 8 + 2 * 8;
	if (!hdr || !(p = image_at(&orig, word, 8)) || !le64(p)) {
		CHECK(0, "find the header in the image", "%s", name);
		goto cleanup;
	}

	/* Newer Go leaves the header's textStart zero (and unrelocated). */
	if (!image_dup(&orig, &im)) {
		put_le64(image_at(&im, word, 8), 0);
		n = 1 + image_relocs(&im, word, false);
		snprintf(what, sizeof(what), "%s: textStart zero, no relocation", name);
		check_variant(what, &im, want, n);
		free(im.buf);
	}
	/* lld leaves relocated words zero, the value in the addend. */
	if (!image_dup(&orig, &im)) {
		n = image_relocs(&im, 0, true);
		if (n) {
			snprintf(what, sizeof(what), "%s: relocated words zero (lld)", name);
			check_variant(what, &im, want, n);
		}
		free(im.buf);
	}
	/* Both: only moduledata through the relocation addends is left. */
	if (!image_dup(&orig, &im)) {
		n = image_relocs(&im, 0, true);
		if (n) {
			put_le64(image_at(&im, word, 8), 0);
			n += image_relocs(&im, word, false);
			snprintf(what, sizeof(what), "%s: textStart and relocated words zero", name);
			check_variant(what, &im, want, n);
		}
		free(im.buf);
	}
	/* Go 1.20's magic on the same layout. */
	if (!image_dup(&orig, &im)) {
		image_at(&im, hdr, 8)[0] = 0xf1;
		snprintf(what, sizeof(what), "%s: Go 1.20 magic", name);
		check_variant(what, &im, want, 1);
		free(im.buf);
	}

cleanup:
	free(orig.buf);
}

/* Damage one copy of the image with edit(), expect an error. */
static void expect_error(const char *what, const struct image *orig, uint64_t hdr,
			 void (*edit)(struct image *im, unsigned char *hdr), int want)
{
	struct fnlist got = { 0 };
	struct image im;
	int ret;

	if (image_dup(orig, &im))
		return;
	edit(&im, image_at(&im, hdr, 64));
	ret = read_image(&im, &got);
	if (want)
		CHECK(ret == want, what, "ret %d, want %d", ret, want);
	else
		CHECK(ret < 0, what, "ret %d", ret);
	fnlist_free(&got);
	free(im.buf);
}

static void edit_magic(struct image *im, unsigned char *h)
{
	memset(h, 0x11, 4);
}

static void edit_ptrsize(struct image *im, unsigned char *h)
{
	h[7] = 7;
}

static void edit_nfunc(struct image *im, unsigned char *h)
{
	put_le64(h + 8, 0x7fffffffffffull);
}

static void edit_nfunc_zero(struct image *im, unsigned char *h)
{
	put_le64(h + 8, 0);
}

static void edit_nametab(struct image *im, unsigned char *h)
{
	put_le64(h + 8 + 3 * 8, 0xfffffffffff0ull);
}

static void edit_functab(struct image *im, unsigned char *h)
{
	put_le64(h + 8 + 7 * 8, le64(h + 8 + 7 * 8) + 0x10000000);
}

/* The first _func record's entry no longer matches the function table. */
static void edit_func_entry(struct image *im, unsigned char *h)
{
	uint64_t pcln = le64(h + 8 + 7 * 8);
	uint32_t funcoff, entry;

	memcpy(&funcoff, h + pcln + 4, 4);
	memcpy(&entry, h + pcln + funcoff, 4);
	entry += 0x40;
	memcpy(h + pcln + funcoff, &entry, 4);
}

/* The function table out of order. */
static void edit_order(struct image *im, unsigned char *h)
{
	uint64_t pcln = le64(h + 8 + 7 * 8);
	uint32_t v = 0xffffff00;

	memcpy(h + pcln + 8, &v, 4);
}

static void edit_shrink(struct image *im, unsigned char *h)
{
	Elf64_Shdr *sh = image_section(im, ".gopclntab");

	if (sh)
		sh->sh_size = 64;
}

static void edit_random(struct image *im, unsigned char *h)
{
	Elf64_Shdr *sh = image_section(im, ".gopclntab");
	size_t i;

	for (i = 0; sh && i < sh->sh_size; i++)
		im->buf[sh->sh_offset + i] = (unsigned char)rand();
}

static void check_damage(const char *name, bool has_section)
{
	struct fnlist got = { 0 };
	struct image orig, im;
	uint64_t hdr, size = 0;
	char what[160];
	int ret;

	if (image_load(path_of(name), &orig, 0))
		return;
	hdr = image_pclntab(&orig, &size);
	if (!hdr) {
		CHECK(0, "find the header in the image", "%s", name);
		goto cleanup;
	}

#define DAMAGE(label, fn, want)							\
	do {									\
		snprintf(what, sizeof(what), "%s: %s gives an error", name, label); \
		expect_error(what, &orig, hdr, fn, want);			\
	} while (0)

	/* Without a named section a header that does not read back is
	 * simply not found. */
	DAMAGE("bad magic", edit_magic, has_section ? -EINVAL : -ENOENT);
	DAMAGE("bad pointer size", edit_ptrsize, has_section ? -EINVAL : -ENOENT);
	DAMAGE("huge nfunc", edit_nfunc, has_section ? -EINVAL : -ENOENT);
	DAMAGE("zero nfunc", edit_nfunc_zero, has_section ? -EINVAL : -ENOENT);
	DAMAGE("name table offset out of bounds", edit_nametab, has_section ? -EINVAL : -ENOENT);
	DAMAGE("function table offset out of bounds", edit_functab,
	       has_section ? -EINVAL : -ENOENT);
	DAMAGE("_func entry disagreeing", edit_func_entry, has_section ? -EINVAL : -ENOENT);
	DAMAGE("function table out of order", edit_order, -EINVAL);
	if (has_section) {
		DAMAGE("section shrunk to 64 bytes", edit_shrink, -EINVAL);
		DAMAGE("section of random bytes", edit_random, -EINVAL);
	}
#undef DAMAGE

	/* A file cut in the middle of the table: libelf refuses the section
	 * (or the whole file, whose section headers are at the end). */
	if (!image_dup(&orig, &im)) {
		Elf64_Shdr *sh = image_section(&orig, has_section ? ".gopclntab" : ".data.rel.ro");

		im.size = sh->sh_offset + sh->sh_size / 2;
		ret = read_image(&im, &got);
		snprintf(what, sizeof(what), "%s: file truncated in the table gives an error", name);
		CHECK(ret < 0, what, "ret %d", ret);
		fnlist_free(&got);
		free(im.buf);
	}

cleanup:
	free(orig.buf);
}

/*
 * Random byte flips. The table is copied to the very end of an exactly
 * sized heap buffer and its section header pointed there, so a read past
 * the table is a read past the buffer, which valgrind reports.
 */
/* A pclntab whose last function's pcsp offset runs off the table: the
 * walk fails there, and the table must keep none of the Go rows read
 * before it rather than half a binary's. */
static void check_sp_malformed(const char *name)
{
	struct unwind_table t = { 0 };
	struct image im;
	Elf64_Shdr *sh;
	uint64_t functab, nfunc;
	uint32_t off, bad = 0xfffffff0u;
	FILE *f;
	int err;

	if (image_load(path_of(name), &im, 0))
		return;
	sh = image_section(&im, ".gopclntab");
	if (!sh)
		goto out;
	functab = le64(im.buf + sh->sh_offset + 8 + 7 * 8);
	nfunc = le64(im.buf + sh->sh_offset + 8);
	memcpy(&off, im.buf + sh->sh_offset + functab + (2 * (nfunc - 1) + 1) * 4, 4);
	memcpy(im.buf + sh->sh_offset + functab + off + 16, &bad, 4);
	f = fopen(path_of("bad_pcsp"), "w");
	if (!f || fwrite(im.buf, 1, im.size, f) != im.size) {
		CHECK(0, "write bad_pcsp", "errno %d", errno);
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	err = unwind_table__build(path_of("bad_pcsp"), &t);
	CHECK(err == -ENOENT && t.nr == 0, "a malformed pcsp table gives no Go rows at all",
	      "err %d, %zu rows", err, t.nr);
	unwind_table__clear(&t);
out:
	free(im.buf);
}

static void check_fuzz(const char *name)
{
	size_t rounds, ok = 0, errors = 0, moved_at;
	struct image orig, im;
	Elf64_Shdr *sh;
	uint64_t functab, nametab, pctab, nfunc;
	char what[128];

	if (image_load(path_of(name), &orig, 0))
		return;
	sh = image_section(&orig, ".gopclntab");
	if (!sh) {
		CHECK(0, "fuzz: .gopclntab", "%s has none", name);
		goto cleanup;
	}
	moved_at = (orig.size + 63) & ~(size_t)63;
	functab = le64(orig.buf + sh->sh_offset + 8 + 7 * 8);
	nametab = le64(orig.buf + sh->sh_offset + 8 + 3 * 8);
	pctab = le64(orig.buf + sh->sh_offset + 8 + 6 * 8);
	nfunc = le64(orig.buf + sh->sh_offset + 8);

	for (rounds = 0; rounds < FUZZ_ROUNDS; rounds++) {
		struct fnlist got = { 0 };
		unsigned char *tab;
		int i, flips = 1 + rand() % 8, ret;

		im.size = moved_at + sh->sh_size;
		im.buf = calloc(1, im.size);
		if (!im.buf)
			break;
		memcpy(im.buf, orig.buf, orig.size);
		memcpy(im.buf + moved_at, orig.buf + sh->sh_offset, sh->sh_size);
		image_section(&im, ".gopclntab")->sh_offset = moved_at;
		tab = im.buf + moved_at;
		for (i = 0; i < flips; i++) {
			uint64_t k = rand() % nfunc;
			uint32_t v;
			size_t at;

			switch (rand() % 6) {
			case 0:		/* the header */
				tab[rand() % 72] = (unsigned char)rand();
				break;
			case 1:		/* the function table */
				at = functab + rand() % ((2 * nfunc + 1) * 4);
				tab[at] = (unsigned char)rand();
				break;
			case 2:		/* a _func record just short of the end */
				v = (uint32_t)(sh->sh_size - functab - rand() % 12);
				memcpy(tab + functab + (2 * k + 1) * 4, &v, 4);
				break;
			case 3:		/* a name running into the end */
				memset(tab + sh->sh_size - 16, 'x', 16);
				memcpy(&v, tab + functab + (2 * k + 1) * 4, 4);
				at = functab + v + 4;
				if (at + 4 <= sh->sh_size) {
					v = (uint32_t)(sh->sh_size - nametab - 1 - rand() % 16);
					memcpy(tab + at, &v, 4);
				}
				break;
			case 4:		/* a pc-value table running into the end */
				memcpy(&v, tab + functab + (2 * k + 1) * 4, 4);
				at = functab + v + 16;	/* the _func's pcsp */
				if (at + 4 <= sh->sh_size) {
					memset(tab + sh->sh_size - 8, 0xff, 8);
					v = (uint32_t)(sh->sh_size - pctab - 1 - rand() % 8);
					memcpy(tab + at, &v, 4);
				}
				break;
			default:	/* anywhere, the end most of all */
				at = rand() % 2 ? sh->sh_size - 1 - rand() % 256 :
					(size_t)rand() % sh->sh_size;
				tab[at] = (unsigned char)rand();
				break;
			}
		}
		ret = read_image(&im, &got);
		if (ret >= 0)
			ok++;
		else
			errors++;
		fnlist_free(&got);
		free(im.buf);
	}
	snprintf(what, sizeof(what), "%s: %d rounds of random byte flips, no crash", name,
		 FUZZ_ROUNDS);
	CHECK(rounds == FUZZ_ROUNDS, what, "%zu rounds", rounds);
	printf("# %s fuzz: %zu walked, %zu errors\n", name, ok, errors);

cleanup:
	free(orig.buf);
}

/* What a function's flag byte must hold: bits set, and bits clear. */
struct flag_want {
	const char *name;
	uint8_t set, clear;
	bool found;
	uint8_t got;
};

static int probe_flags(void *ctx, const struct gopclntab_func *f, uint64_t start, uint64_t end,
		       int32_t sp)
{
	struct flag_want *w;

	(void)start;
	(void)end;
	(void)sp;
	for (w = ctx; w->name; w++) {
		if (!strcmp(f->name, w->name)) {
			w->found = true;
			w->got = f->flag;
		}
	}
	return 0;
}

/* gopclntab__read_sp() of a file into probe_flags. */
static int read_flags(const char *path, struct flag_want *want)
{
	Elf *elf = NULL;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	ret = gopclntab__read_sp(elf, probe_flags, want);
	if (elf)
		elf_end(elf);
	close(fd);
	return ret;
}

/* The flag byte of the _func record (Go 1.17 on), against what the runtime's
 * assembly declares (TOPFRAME) and the assembler finds (SPWRITE). */
static void check_flags(const char *name)
{
	struct flag_want want[] = {
		{ "runtime.systemstack", GOPCLNTAB_FLAG_SPWRITE, GOPCLNTAB_FLAG_TOPFRAME },
		{ "runtime.mcall", GOPCLNTAB_FLAG_SPWRITE, GOPCLNTAB_FLAG_TOPFRAME },
		{ "runtime.morestack", GOPCLNTAB_FLAG_SPWRITE, GOPCLNTAB_FLAG_TOPFRAME },
		{ "runtime.goexit", GOPCLNTAB_FLAG_TOPFRAME, GOPCLNTAB_FLAG_SPWRITE },
		{ "runtime.mstart", GOPCLNTAB_FLAG_TOPFRAME, GOPCLNTAB_FLAG_SPWRITE },
		{ "runtime.mallocgc", 0, 0xff },
		{ "main.main", 0, 0xff },
		{ "main.spin", 0, 0xff },
		{ NULL },
	};
	char what[160];
	struct flag_want *w;
	int ret = read_flags(path_of(name), want);

	for (w = want; w->name; w++) {
		snprintf(what, sizeof(what), "%s: %s has flag %s%s%s", name, w->name,
			 w->set & GOPCLNTAB_FLAG_SPWRITE ? "SPWRITE" : "",
			 w->set & GOPCLNTAB_FLAG_TOPFRAME ? "TOPFRAME" : "",
			 w->set ? "" : "0 (not TOPFRAME, not SPWRITE)");
		CHECK(ret > 0 && w->found && (w->got & w->set) == w->set && !(w->got & w->clear),
		      what, "ret %d, %s, flag %#x", ret, w->found ? "found" : "not found", w->got);
	}
}

/* How many of the pcs have a row of type cfa; the first that has not, and
 * its row's type (-1 for no row). */
static size_t rows_of_type(const struct unwind_table *t, const uint64_t *pcs, size_t n, int cfa,
			   uint64_t *other_pc, int *other)
{
	size_t i, same = 0;

	*other_pc = 0;
	*other = 0;
	for (i = 0; i < n; i++) {
		const struct unwind_row *r = unwind_table__find(t, pcs[i]);

		if (r && r->cfa_type == cfa) {
			same++;
		} else if (same == i) {
			*other = r ? r->cfa_type : -1;
			*other_pc = pcs[i];
		}
	}
	return same;
}

static const struct fn *fnlist_find(const struct fnlist *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i];
	return NULL;
}

/*
 * The functions that switch stacks end the walk at every pc, as Go's own
 * traceback ends there, in a build with .debug_frame (whose rows for them
 * the end rule must override) as in its stripped twin; every instruction of
 * an ordinary function keeps its stack-pointer row. spin: main.spin's
 * instruction addresses (the bytes after its last one are padding).
 */
static void check_end_rows(const char *name, const struct fnlist *fns, bool want_debug_frame,
			   const uint64_t *spin, size_t nr_spin)
{
	static const char *const ends[] = {
		"runtime.systemstack", "runtime.mcall", "runtime.morestack", "runtime.goexit",
	};
	struct unwind_table t = { 0 };
	uint64_t pcs[4096], other_pc;
	const struct fn *fn;
	char what[160];
	size_t i, n, nr;
	int err, other;

	err = unwind_table__build(path_of(name), &t);
	snprintf(what, sizeof(what), "%s: unwind table built%s", name,
		 want_debug_frame ? ", with .debug_frame rows" : "");
	CHECK(err == 0 && (!want_debug_frame || t.from_debug_frame), what, "err %d, debug_frame %d",
	      err, t.from_debug_frame);
	if (err)
		return;
	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		fn = fnlist_find(fns, ends[i]);
		nr = 0;
		for (uint64_t pc = fn ? fn->start : 0; fn && pc < fn->end && nr < 4096; pc++)
			pcs[nr++] = pc;
		n = rows_of_type(&t, pcs, nr, UNW_CFA_END, &other_pc, &other);
		snprintf(what, sizeof(what), "%s: every pc of %s has an UNW_CFA_END row", name,
			 ends[i]);
		CHECK(fn && nr && n == nr, what, "%s; %zu of %zu pcs, first other %#llx (type %d)",
		      fn ? "found" : "not in the pclntab", n, nr, (unsigned long long)other_pc,
		      other);
	}
	n = rows_of_type(&t, spin, nr_spin, UNW_CFA_RSP, &other_pc, &other);
	snprintf(what, sizeof(what), "%s: every instruction of main.spin has an rsp-based row",
		 name);
	CHECK(nr_spin >= 3 && n == nr_spin, what, "%zu of %zu, first other %#llx (type %d)", n,
	      nr_spin, (unsigned long long)other_pc, other);
	unwind_table__clear(&t);
}

/* The pclntab of a Go 1.18 image with every function's flag byte zeroed, as
 * Go 1.16 leaves it (padding) and older tables lack it: the name list must
 * still end the walk at the stack switchers. */
static void check_end_names(const char *name, const struct fnlist *fns, const uint64_t *spin,
			    size_t nr_spin)
{
	struct flag_want want[] = {
		{ "runtime.systemstack", 0, 0xff },
		{ NULL },
	};
	struct image im;
	Elf64_Shdr *sh;
	uint64_t functab, nfunc, k;
	unsigned char *tab;
	FILE *f;

	if (image_load(path_of(name), &im, 0))
		return;
	sh = image_section(&im, ".gopclntab");
	if (!sh) {
		CHECK(0, "flags zeroed: .gopclntab", "%s has none", name);
		goto out;
	}
	tab = im.buf + sh->sh_offset;
	nfunc = le64(tab + 8);
	functab = le64(tab + 8 + 7 * 8);
	for (k = 0; k < nfunc; k++) {
		uint32_t off;

		memcpy(&off, tab + functab + (2 * k + 1) * 4, 4);
		/* u32 entry, 8 u32 fields, funcID, then the flag */
		tab[functab + off + 4 + 8 * 4 + 1] = 0;
	}
	f = fopen(path_of("noflags"), "w");
	if (!f || fwrite(im.buf, 1, im.size, f) != im.size) {
		CHECK(0, "write noflags", "errno %d", errno);
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);
	CHECK(read_flags(path_of("noflags"), want) > 0 && want[0].found && !want[0].got,
	      "flags zeroed: runtime.systemstack reads flag 0", "flag %#x", want[0].got);
	check_end_rows("noflags", fns, false, spin, nr_spin);
out:
	free(im.buf);
}

static void check_not_go(void)
{
	struct fnlist got = { 0 };
	int ret;

	ret = read_path("/bin/true", &got, NULL);
	CHECK(ret == -ENOENT && !got.n, "non-Go ELF (/bin/true) gives -ENOENT", "ret %d", ret);
	fnlist_free(&got);
	ret = gopclntab__read(NULL, collect, &got);
	CHECK(ret == -EINVAL, "NULL Elf gives -EINVAL", "ret %d", ret);
}

static int stop_at_three(void *ctx, uint64_t start, uint64_t end, const char *name)
{
	return ++*(int *)ctx == 3 ? -ECANCELED : 0;
}

int main(void)
{
	struct fnlist got[NR_BUILDS] = { { 0 } };
	char cmd[4096];
	size_t i;
	int calls = 0, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	srand(42);
	if (elf_version(EV_CURRENT) == EV_NONE) {
		CHECK(0, "libelf", "elf_version failed");
		return CHECK_EXIT();
	}
	check_not_go();

	if (system("go version >/dev/null 2>&1") != 0) {
		SKIP("Go binaries", "no go toolchain on PATH (apt-get install golang-go)");
		return CHECK_EXIT();
	}
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "errno %d", errno);
		return CHECK_EXIT();
	}
	setenv("HOME", dir, 1);
	setenv("GOCACHE", path_of("cache"), 1);
	setenv("GOPATH", path_of("gopath"), 1);
	setenv("GOTOOLCHAIN", "local", 1);
	setenv("GOPROXY", "off", 1);
	setenv("GOFLAGS", "", 1);
	setenv("GO111MODULE", "", 1);

	snprintf(cmd, sizeof(cmd), "cat > '%s' <<'EOF'\n%sEOF\n", path_of("main.go"), go_src);
	if (sh(cmd)) {
		CHECK(0, "write main.go", "see above");
		goto out;
	}

	for (i = 0; i < NR_BUILDS; i++) {
		const struct build *b = &builds[i];
		struct fnlist truth = { 0 };
		char what[128];
		double ms = 0;

		if (b->external && system("gcc --version >/dev/null 2>&1") != 0) {
			SKIP(b->name, "external linking needs gcc");
			continue;
		}
		snprintf(cmd, sizeof(cmd), "cd '%s' && go build %s -o '%s' main.go", dir, b->flags,
			 b->name);
		if (sh(cmd)) {
			CHECK(0, "go build", "%s", b->name);
			continue;
		}
		ret = read_path(path_of(b->name), &got[i], &ms);
		snprintf(what, sizeof(what), "%s: pclntab read", b->name);
		CHECK(ret > 0 && (size_t)ret == got[i].n, what, "ret %d", ret);
		printf("# %s: %d functions in %.2f ms\n", b->name, ret, ms);
		if (ret <= 0)
			continue;
		if (load_nm(path_of(b->unstripped), &truth)) {
			CHECK(0, "go tool nm", "%s", b->unstripped);
			continue;
		}
		check_against_nm(b, &got[i], &truth);
		check_mid_spin(b, &got[i]);
		fnlist_free(&truth);
	}

	/* A non-zero callback return stops the walk and is returned. */
	if (got[1].n) {
		Elf *elf;
		int fd = open(path_of("exe_s"), O_RDONLY);

		elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
		ret = gopclntab__read(elf, stop_at_three, &calls);
		CHECK(ret == -ECANCELED && calls == 3, "callback's non-zero return stops the walk",
		      "ret %d after %d calls", ret, calls);
		if (elf)
			elf_end(elf);
		if (fd >= 0)
			close(fd);
	}

	/* Text start fallbacks; the expected answer is the unedited read. */
	if (got[0].n)
		check_fallbacks("exe", &got[0]);
	if (got[1].n)
		check_fallbacks("exe_s", &got[1]);
	if (got[3].n)
		check_fallbacks("pie_s", &got[3]);
	if (got[5].n)
		check_fallbacks("epie_s", &got[5]);

	if (got[0].n && got[1].n) {
		check_sp_rows("exe_s", "exe", &got[0]);
		check_sp_malformed("exe_s");
	}

	/* Where Go's traceback ends, the walk ends, with CFI or without. */
	for (i = 0; i < NR_BUILDS; i++) {
		uint64_t spin[512];
		int nr_spin;

		if (!got[i].n)
			continue;
		nr_spin = objdump_addrs(path_of(builds[i].unstripped), "main.spin", spin, 512);
		if (nr_spin < 0)
			nr_spin = 0;
		check_flags(builds[i].name);
		check_end_rows(builds[i].name, &got[i], !strcmp(builds[i].name, "exe"), spin,
			       (size_t)nr_spin);
		if (i == 1)
			check_end_names("exe_s", &got[1], spin, (size_t)nr_spin);
	}
	if (got[2].n && got[3].n)
		check_sp_rows("pie_s", "pie", &got[2]);
	if (got[4].n && got[5].n)
		check_sp_rows("epie_s", "epie", &got[4]);

	if (got[1].n) {
		check_damage("exe_s", true);
		check_fuzz("exe_s");
	}
	if (got[5].n)
		check_damage("epie_s", false);

	if (got[0].n && got[1].n && got[6].n) {
		static const char *const exe[] = { "exe", "exe_w", "exe_s" };

		check_names_alike("exe", exe, 3, &got[1]);
	}
	if (got[4].n && got[5].n) {
		static const char *const epie[] = { "epie", "epie_s" };

		check_names_alike("external pie", epie, 2, &got[5]);
	}

out:
	for (i = 0; i < NR_BUILDS; i++)
		fnlist_free(&got[i]);
	snprintf(cmd, sizeof(cmd), "chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
	sh(cmd);
	return CHECK_EXIT();
}
