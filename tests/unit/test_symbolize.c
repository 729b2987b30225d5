// SPDX-License-Identifier: GPL-2.0
/*
 * End-to-end symbolization without root: small programs are compiled as a
 * PIE, a non-PIE executable and a shared library, run, and report where
 * their functions landed plus their own /proc/self/maps. Each address is
 * then resolved the way the daemon does it (maps -> file offset -> ELF
 * vaddr -> symbol) and must give back the exact function name. Of several
 * names at one address, the public one is reported: in a library built
 * here with glibc's and the vDSO's patterns of aliases, and in the libc
 * this process maps (with libc6-dbg). Also covers symcache (hits, misses,
 * negative entries, trim) and ksyms.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "debuginfo.h"
#include "elfobj.h"
#include "ksyms.h"
#include "procmaps.h"
#include "symcache.h"

#define MAX_FILES	24
#define MAX_FUNCS	16

/* The directory name has a space so that paths with spaces go through
 * maps parsing for real. */
static char dir[] = "/tmp/cprof sym XXXXXX";
static char files[MAX_FILES][512];
static int nr_files;

static const char prog_src[] =
	"#include <stdio.h>\n"
	"#include <stdint.h>\n"
	"#define NOINLINE __attribute__((noinline, noclone))\n"
	"static volatile int sink;\n"
	"NOINLINE int cprof_alpha(int n)\n"
	"{ int acc = 0; for (int i = 0; i < n; i++) acc += i * 3 + sink; sink = acc; return acc; }\n"
	"NOINLINE static int cprof_beta(int n)\n"
	"{ int acc = 1; for (int i = 0; i < n; i++) acc ^= i * 7 + sink; sink = acc; return acc; }\n"
	"NOINLINE int cprof_gamma(int n)\n"
	"{ int r = cprof_alpha(n) + cprof_beta(n + 1); sink = r; return r + sink; }\n"
	"/* Tiny, and followed by an aligned function: padding after it. */\n"
	"NOINLINE int cprof_tiny(void) { return sink + 1; }\n"
	"__attribute__((aligned(64))) NOINLINE int cprof_after_tiny(int n)\n"
	"{ return cprof_tiny() + n; }\n"
	"static void dump_maps(void)\n"
	"{ char buf[4096]; size_t n; FILE *f = fopen(\"/proc/self/maps\", \"r\");\n"
	"  if (!f) return;\n"
	"  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) fwrite(buf, 1, n, stdout);\n"
	"  fclose(f); }\n"
	"#define SHOW(f) printf(\"FUNC %s %llx\\n\", #f, (unsigned long long)(uintptr_t)&f)\n"
	"#ifdef WITH_LIB\n"
	"void cprof_lib_report(void);\n"
	"#endif\n"
	"int main(void)\n"
	"{\n"
	"	cprof_gamma(5); cprof_after_tiny(1);\n"
	"	SHOW(cprof_alpha); SHOW(cprof_beta); SHOW(cprof_gamma); SHOW(main);\n"
	"	SHOW(cprof_tiny); SHOW(cprof_after_tiny);\n"
	"#ifdef WITH_LIB\n"
	"	cprof_lib_report();\n"
	"#endif\n"
	"	printf(\"MAPS\\n\");\n"
	"	fflush(stdout);\n"
	"	dump_maps();\n"
	"	return 0;\n"
	"}\n";

static const char lib_src[] =
	"#include <stdio.h>\n"
	"#include <stdint.h>\n"
	"#define NOINLINE __attribute__((noinline, noclone))\n"
	"static volatile int sink;\n"
	"NOINLINE int cprof_lib_exported(int n)\n"
	"{ int acc = 0; for (int i = 0; i < n; i++) acc += i * 5 + sink; sink = acc; return acc; }\n"
	"NOINLINE static int cprof_lib_static(int n)\n"
	"{ int acc = 2; for (int i = 0; i < n; i++) acc ^= i * 11 + sink; sink = acc; return acc; }\n"
	"__attribute__((visibility(\"hidden\"))) NOINLINE int cprof_lib_hidden(int n)\n"
	"{ int r = cprof_lib_exported(n) + cprof_lib_static(n); sink = r; return r + sink; }\n"
	"#define SHOW(f) printf(\"FUNC %s %llx\\n\", #f, (unsigned long long)(uintptr_t)&f)\n"
	"void cprof_lib_report(void)\n"
	"{\n"
	"	cprof_lib_hidden(4);\n"
	"	SHOW(cprof_lib_exported); SHOW(cprof_lib_static); SHOW(cprof_lib_hidden);\n"
	"}\n";

struct func {
	char name[64];
	uint64_t addr;
};

struct run {
	struct func funcs[MAX_FUNCS];
	int nr_funcs;
	struct procmaps maps;
};

/* Path of a file in the temp dir, remembered for cleanup. */
static const char *tmp_path(const char *name)
{
	char *p;

	if (nr_files == MAX_FILES)
		abort();
	p = files[nr_files++];
	snprintf(p, sizeof(files[0]), "%s/%s", dir, name);
	return p;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

static char *read_whole(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *tmp;

	if (!buf)
		return NULL;
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			tmp = realloc(buf, cap * 2);
			if (!tmp) {
				free(buf);
				return NULL;
			}
			buf = tmp;
			cap *= 2;
		}
	}
	*len = n;
	return buf;
}

static int copy_file(const char *from, const char *to)
{
	FILE *f = fopen(from, "r");
	size_t len;
	char *buf;
	int err;

	if (!f)
		return -errno;
	buf = read_whole(f, &len);
	fclose(f);
	if (!buf)
		return -ENOMEM;
	err = write_file(to, buf, len);
	free(buf);
	return err;
}

/* Run a test program; split its output into FUNC lines and maps text. */
static int run_program(const char *path, struct run *r)
{
	char cmd[1024], *out, *maps, *line;
	size_t len;
	FILE *p;
	int err = 0;

	memset(r, 0, sizeof(*r));
	snprintf(cmd, sizeof(cmd), "'%s'", path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	out = read_whole(p, &len);
	if (pclose(p) != 0)
		err = -ECHILD;
	if (!out)
		return -ENOMEM;
	if (err)
		goto cleanup;

	maps = memmem(out, len, "MAPS\n", 5);
	if (!maps) {
		err = -EINVAL;
		goto cleanup;
	}
	*maps = '\0';
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		struct func *f = &r->funcs[r->nr_funcs];
		unsigned long long a;

		if (r->nr_funcs == MAX_FUNCS)
			break;
		if (sscanf(line, "FUNC %63s %llx", f->name, &a) == 2) {
			f->addr = a;
			r->nr_funcs++;
		}
	}
	maps += 5;
	err = procmaps__parse(maps, len - (size_t)(maps - out), &r->maps);

cleanup:
	free(out);
	return err;
}

static int is_hex_id(const char *s, size_t want)
{
	size_t i;

	if (!s || strlen(s) != want)
		return 0;
	for (i = 0; i < want; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* Runtime address -> name, as the daemon does it. */
static const char *symbolize(struct symcache *c, const struct procmaps *maps, uint64_t addr,
			     uint64_t *vaddr_out, uint64_t *start, struct elfobj **objp)
{
	const struct procmap *m = procmaps__find(maps, addr);
	const char *paths[1];
	struct elfobj *o;
	uint64_t vaddr;

	if (!m || !m->path)
		return NULL;
	paths[0] = m->path;
	o = symcache__get(c, m->dev, m->inode, paths, 1);
	if (!o)
		return NULL;
	if (objp)
		*objp = o;
	if (elfobj__offset_to_vaddr(o, addr - m->start + m->offset, &vaddr))
		return NULL;
	if (vaddr_out)
		*vaddr_out = vaddr;
	return elfobj__lookup(o, vaddr, start);
}

static int elf_type(const char *path)
{
	Elf64_Ehdr eh;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, &eh, sizeof(eh));
	close(fd);
	return n == (ssize_t)sizeof(eh) ? eh.e_type : -1;
}

static void check_program(struct symcache *c, const char *label, const char *path,
			  int want_funcs, const char *want_file)
{
	struct run r;
	char name[256];
	int i, err;

	err = run_program(path, &r);
	snprintf(name, sizeof(name), "%s: run and parse output", label);
	CHECK(err == 0 && r.nr_funcs == want_funcs && r.maps.nr > 0, name,
	      "err %d, %d funcs, %zu maps", err, r.nr_funcs, r.maps.nr);
	if (err)
		goto out;

	for (i = 0; i < r.nr_funcs; i++) {
		const struct func *f = &r.funcs[i];
		const struct procmap *m = procmaps__find(&r.maps, f->addr);
		const char *got, *file = want_file;
		struct elfobj *o = NULL;
		uint64_t vaddr = 0, start = 0, vaddr5 = 0, start5 = 0, probe, pstart;
		int ok_tail = 1;

		if (!strncmp(f->name, "cprof_lib_", 10))
			file = "libcproftest.so";
		snprintf(name, sizeof(name), "%s: %s is in a mapping of %s", label, f->name, file);
		CHECK(m && m->path && strstr(m->path, file) && strstr(m->path, "cprof sym "), name,
		      "addr %llx in %s", (unsigned long long)f->addr,
		      m && m->path ? m->path : "(nothing)");

		got = symbolize(c, &r.maps, f->addr, &vaddr, &start, &o);
		snprintf(name, sizeof(name), "%s: %s symbolizes exactly", label, f->name);
		CHECK(got && !strcmp(got, f->name) && start == vaddr, name,
		      "addr %llx vaddr %llx -> %s at %llx", (unsigned long long)f->addr,
		      (unsigned long long)vaddr, got ? got : "(null)", (unsigned long long)start);

		got = symbolize(c, &r.maps, f->addr + 5, &vaddr5, &start5, NULL);
		snprintf(name, sizeof(name), "%s: %s+5 names the same function", label, f->name);
		CHECK(got && !strcmp(got, f->name) && start5 == vaddr && vaddr5 == vaddr + 5, name,
		      "-> %s at %llx", got ? got : "(null)", (unsigned long long)start5);

		if (!o)
			continue;
		snprintf(name, sizeof(name), "%s: %s build id is 40 hex chars", label, file);
		CHECK(is_hex_id(elfobj__build_id(o), 40), name, "'%s'",
		      elfobj__build_id(o) ? elfobj__build_id(o) : "(none)");

		/* Walk to the function's end: the first byte that is not it
		 * must be padding (no name) or another symbol's first byte. */
		for (probe = vaddr + 1; probe < vaddr + 4096; probe++) {
			got = elfobj__lookup(o, probe, &pstart);
			if (got && !strcmp(got, f->name))
				continue;
			ok_tail = !got || pstart == probe;
			break;
		}
		snprintf(name, sizeof(name), "%s: past the end of %s is not %s", label,
			 f->name, f->name);
		CHECK(ok_tail && probe < vaddr + 4096, name, "at +%llu: %s",
		      (unsigned long long)(probe - vaddr), got ? got : "(null)");
		/* A sized symbol must not claim the padding after it. */
		if (!strcmp(f->name, "cprof_tiny")) {
			snprintf(name, sizeof(name), "%s: padding after cprof_tiny has no name",
				 label);
			CHECK(!got && probe < vaddr + 64, name, "at +%llu: %s",
			      (unsigned long long)(probe - vaddr), got ? got : "(null)");
		}
	}

out:
	procmaps__clear(&r.maps);
}

/* The object through .dynsym only: exported names survive strip, static
 * ones do not, and the build id is kept. */
static void check_stripped(const char *lib, const char *stripped)
{
	struct elfobj *full = NULL, *bare = NULL;
	uint64_t v_exp = 0, v_static = 0;
	const char *got;
	char cmd[1200];
	size_t i;

	snprintf(cmd, sizeof(cmd), "strip -o '%s' '%s'", stripped, lib);
	if (sh(cmd)) {
		SKIP("stripped library", "strip failed");
		return;
	}
	full = elfobj__open(lib, NULL);
	bare = elfobj__open(stripped, NULL);
	CHECK(full && bare, "stripped: both open", "errno %d", errno);
	if (!full || !bare)
		goto out;
	CHECK(elfobj__build_id(full) && elfobj__build_id(bare) &&
	      !strcmp(elfobj__build_id(full), elfobj__build_id(bare)),
	      "stripped: same build id", "differs");
	CHECK(elfobj__nr_symbols(bare) > 0 && elfobj__nr_symbols(bare) < elfobj__nr_symbols(full),
	      "stripped: fewer symbols, not none", "%d vs %d",
	      elfobj__nr_symbols(bare), elfobj__nr_symbols(full));

	/* Find the functions' addresses through the full object by scanning
	 * its text: the API only maps addresses to names. */
	for (i = 0; i < (1u << 20) && (!v_exp || !v_static); i++) {
		uint64_t s;

		got = elfobj__lookup(full, i, &s);
		if (got && s == i && !strcmp(got, "cprof_lib_exported"))
			v_exp = i;
		if (got && s == i && !strcmp(got, "cprof_lib_static"))
			v_static = i;
	}
	CHECK(v_exp && v_static, "stripped: functions found in full object", "%llx %llx",
	      (unsigned long long)v_exp, (unsigned long long)v_static);
	got = elfobj__lookup(bare, v_exp + 3, NULL);
	CHECK(got && !strcmp(got, "cprof_lib_exported"), "stripped: .dynsym names exported",
	      "%s", got ? got : "(null)");
	got = elfobj__lookup(bare, v_static + 3, NULL);
	CHECK(!got || strcmp(got, "cprof_lib_static"), "stripped: static one is gone",
	      "%s", got ? got : "(null)");
out:
	elfobj__free(full);
	elfobj__free(bare);
}

/* No section headers at all (as some stripped objects ship): the build id
 * must come from PT_NOTE, and the segments still map offsets. */
static void check_no_sections(const char *exe, const char *copy)
{
	struct elfobj *orig = NULL, *o = NULL;
	uint64_t v1 = 0, v2 = 0;
	Elf64_Ehdr eh;
	int fd, ok;

	if (copy_file(exe, copy)) {
		CHECK(0, "no sections: copy", "errno %d", errno);
		return;
	}
	fd = open(copy, O_RDWR | O_CLOEXEC);
	ok = fd >= 0 && pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh);
	if (ok) {
		eh.e_shoff = 0;
		eh.e_shnum = 0;
		eh.e_shstrndx = 0;
		ok = pwrite(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh);
	}
	if (fd >= 0)
		close(fd);
	CHECK(ok, "no sections: header patched", "errno %d", errno);

	orig = elfobj__open(exe, NULL);
	o = elfobj__open(copy, NULL);
	CHECK(o && orig, "no sections: opens", "errno %d", errno);
	if (!o || !orig)
		goto out;
	CHECK(elfobj__build_id(o) && elfobj__build_id(orig) &&
	      !strcmp(elfobj__build_id(o), elfobj__build_id(orig)),
	      "no sections: build id from PT_NOTE", "%s",
	      elfobj__build_id(o) ? elfobj__build_id(o) : "(none)");
	CHECK(elfobj__nr_symbols(o) == 0, "no sections: no symbols", "%d",
	      elfobj__nr_symbols(o));
	CHECK(elfobj__offset_to_vaddr(o, 0x1010, &v1) == 0 &&
	      elfobj__offset_to_vaddr(orig, 0x1010, &v2) == 0 && v1 == v2,
	      "no sections: segments kept", "%llx vs %llx",
	      (unsigned long long)v1, (unsigned long long)v2);
out:
	elfobj__free(orig);
	elfobj__free(o);
}

/* Truncated and scribbled-over copies of a real object: open may fail, but
 * must not crash or read out of bounds (run under valgrind). */
static void check_damaged(const char *lib, const char *scratch)
{
	size_t len, cuts[] = { 0, 4, 16, 63, 64, 100, 500, 1000, 4096, 0, 0, 0 };
	unsigned int seed = 777;
	int i, opened = 0, failed = 0;
	char *buf;
	FILE *f;

	f = fopen(lib, "r");
	buf = f ? read_whole(f, &len) : NULL;
	if (f)
		fclose(f);
	if (!buf) {
		CHECK(0, "damaged: read library", "errno %d", errno);
		return;
	}
	cuts[9] = len / 3;
	cuts[10] = len / 2;
	cuts[11] = len - 1;
	for (i = 0; i < (int)(sizeof(cuts) / sizeof(cuts[0])); i++) {
		struct elfobj *o;

		if (write_file(scratch, buf, cuts[i] < len ? cuts[i] : len))
			continue;
		o = elfobj__open(scratch, NULL);
		if (o) {
			opened++;
			elfobj__lookup(o, 0x1000, NULL);
		} else {
			failed++;
		}
		elfobj__free(o);
	}
	for (i = 0; i < 200; i++) {
		char *copy = malloc(len);
		struct elfobj *o;
		int j;

		if (!copy)
			break;
		memcpy(copy, buf, len);
		/* Flip bytes in the headers and tables, where it hurts. */
		for (j = 0; j < 8; j++) {
			size_t at = (size_t)rand_r(&seed) % (j < 4 ? 64 : len);

			copy[at] = (char)rand_r(&seed);
		}
		if (!write_file(scratch, copy, len)) {
			o = elfobj__open(scratch, NULL);
			if (o) {
				opened++;
				elfobj__lookup(o, 0x1100, NULL);
				elfobj__build_id(o);
			} else {
				failed++;
			}
			elfobj__free(o);
		}
		free(copy);
	}
	free(buf);
	CHECK(opened + failed > 200, "damaged: truncated and corrupted objects handled",
	      "%d opened, %d refused", opened, failed);
}

/* A library with several names at one address, the way glibc and the vDSO
 * make them, to check which one is reported without depending on glibc. */
static const char alias_src[] =
	"#define NOINLINE __attribute__((noinline, noclone, used))\n"
	"static volatile int sink;\n"
	"/* glibc: a global internal name, public weak aliases, and a local\n"
	" * __GI_ alias for calls from inside the library */\n"
	"NOINLINE int __libc_frob(int x) { return x * 3 + sink; }\n"
	"extern int frob(int) __attribute__((weak, alias(\"__libc_frob\")));\n"
	"extern int __frob(int) __attribute__((weak, alias(\"__libc_frob\")));\n"
	"static int __GI___libc_frob(int) __attribute__((alias(\"__libc_frob\"), used));\n"
	"/* two public names, one the 64-bit twin of the other (pwrite64) */\n"
	"NOINLINE int __libc_grind64(int x) { return x ^ 5 ^ sink; }\n"
	"extern int grind(int) __attribute__((weak, alias(\"__libc_grind64\")));\n"
	"extern int grind64(int) __attribute__((weak, alias(\"__libc_grind64\")));\n"
	"/* internal only, both local: the __GI_ one loses */\n"
	"NOINLINE static int __twiddle(int x) { return x + 7 * sink; }\n"
	"static int __GI___twiddle(int) __attribute__((alias(\"__twiddle\"), used));\n"
	"int call_twiddle(int x) { return __twiddle(x) + 1; }\n"
	"/* a compatibility version and the default one: the default wins,\n"
	" * though the other would on length */\n"
	"NOINLINE int spin_impl(int x) { return x - sink; }\n"
	"__asm__(\".symver spin_impl, spin_compat_long@VERS_1\");\n"
	"__asm__(\".symver spin_impl, spin@@VERS_2\");\n"
	"/* the vDSO: __vdso_tick and its weak alias tick */\n"
	"NOINLINE int __vdso_tick(int x) { return x + 2 + sink; }\n"
	"extern int tick(int) __attribute__((weak, alias(\"__vdso_tick\")));\n";

static const char alias_map[] =
	"VERS_1 { global: spin_compat_long; };\n"
	"VERS_2 { global: *; local: spin_impl; };\n";

/* The address of sym in bin, from nm. */
static uint64_t nm_addr(const char *bin, const char *sym)
{
	char cmd[1200], line[512];
	uint64_t addr = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "nm '%s'", bin);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long a;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 && !strcmp(name, sym))
			addr = a;
	}
	pclose(p);
	return addr;
}

/* The name elfobj__symbolize gives the function holding vaddr (its
 * outermost frame: what a profile shows), or "(null)". */
static const char *outer_name(struct elfobj *o, uint64_t vaddr)
{
	static struct srcline fr[DWARFSRC_FRAMES_MAX];
	int n = elfobj__symbolize(o, vaddr, fr, DWARFSRC_FRAMES_MAX);

	return n > 0 && fr[n - 1].function ? fr[n - 1].function : "(null)";
}

static void check_alias_names(const char *lib, const char *stripped)
{
	static const struct {
		const char *defined;	/* the name nm finds its address by */
		const char *want;	/* with .symtab and DWARF */
		const char *want_stripped;	/* .dynsym alone; NULL: not there */
		const char *want_vdso;	/* opened as a vDSO image */
	} cases[] = {
		{ "__libc_frob", "frob", "frob", "frob" },
		{ "__libc_grind64", "grind64", "grind64", "grind64" },
		{ "__twiddle", "__twiddle", NULL, NULL },
		{ "spin_impl", "spin", "spin", "spin" },
		{ "__vdso_tick", "tick", "tick", "__vdso_tick" },
	};
	struct elfobj *full = elfobj__open(lib, NULL), *bare = elfobj__open(stripped, NULL);
	struct elfobj *vdso = NULL;
	char name[256], *image = NULL;
	size_t i, len = 0;
	FILE *f;

	CHECK(full && bare && elfobj__has_dwarf(full), "aliases: library opens, with DWARF",
	      "errno %d", errno);
	f = fopen(stripped, "r");
	image = f ? read_whole(f, &len) : NULL;
	if (f)
		fclose(f);
	vdso = image ? elfobj__open_vdso(image, len) : NULL;
	CHECK(vdso != NULL, "aliases: the stripped library opens as an image too", "errno %d",
	      errno);
	if (!full || !bare || !vdso)
		goto out;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = nm_addr(lib, cases[i].defined), start = 0;
		const char *got;

		snprintf(name, sizeof(name), "aliases: %s's address is named %s", cases[i].defined,
			 cases[i].want);
		got = elfobj__lookup(full, v + 1, &start);
		CHECK(v && got && !strcmp(got, cases[i].want) && start == v, name, "got %s at %#llx",
		      got ? got : "(null)", (unsigned long long)v);
		snprintf(name, sizeof(name), "aliases: %s also where DWARF names it %s",
			 cases[i].want, cases[i].defined);
		got = outer_name(full, v + 1);
		CHECK(!strcmp(got, cases[i].want), name, "got %s", got);
		if (!cases[i].want_stripped)
			continue;
		snprintf(name, sizeof(name), "aliases: stripped, .dynsym names %s",
			 cases[i].want_stripped);
		got = elfobj__lookup(bare, v + 1, NULL);
		CHECK(got && !strcmp(got, cases[i].want_stripped), name, "got %s",
		      got ? got : "(null)");
		snprintf(name, sizeof(name), "aliases: as a vDSO image, %s", cases[i].want_vdso);
		got = elfobj__lookup(vdso, v + 1, NULL);
		CHECK(got && !strcmp(got, cases[i].want_vdso), name, "got %s",
		      got ? got : "(null)");
	}
out:
	free(image);
	elfobj__free(full);
	elfobj__free(bare);
	elfobj__free(vdso);
}

/* In the libc this process maps, with its debug file (libc6-dbg), the
 * public names of functions that have half a dozen each. */
static void check_libc_names(void)
{
	static const char *const funcs[] = {
		"malloc", "free", "pthread_mutex_lock", "pwrite64", "write", "read",
	};
	struct debuginfo *d = debuginfo__new(NULL);
	struct procmaps maps = { 0 };
	struct elfobj *o = NULL;
	const char *libc_path = NULL;
	char name[256], debug[600], cmd[800];
	void *h = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	size_t i;

	if (!h || !d || procmaps__read(getpid(), &maps)) {
		CHECK(0, "libc names: libc and this process's maps", "errno %d", errno);
		goto out;
	}
	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
		uint64_t addr = (uint64_t)(uintptr_t)dlsym(h, funcs[i]), vaddr = 0;
		const struct procmap *m = addr ? procmaps__find(&maps, addr) : NULL;
		const char *got;

		if (!m || !m->path) {
			CHECK(0, "libc names: function in a mapping", "%s", funcs[i]);
			continue;
		}
		if (!o || strcmp(libc_path, m->path)) {
			elfobj__free(o);
			libc_path = m->path;
			o = elfobj__open(m->path, &(struct elfobj_debug){ d, m->path, "" });
		}
		if (o && elfobj__source(o) != ELFOBJ_SRC_DEBUG_FILE &&
		    elfobj__source(o) != ELFOBJ_SRC_SYMTAB) {
			SKIP("libc names", "no debug file for %s (apt-get install libc6-dbg)",
			     m->path);
			goto out;
		}
		if (!o || elfobj__offset_to_vaddr(o, addr - m->start + m->offset, &vaddr)) {
			CHECK(0, "libc names: open libc", "%s: errno %d", m->path, errno);
			continue;
		}
		got = elfobj__lookup(o, vaddr + 1, NULL);
		snprintf(name, sizeof(name), "libc names: %s's symbol is %s", funcs[i], funcs[i]);
		CHECK(got && !strcmp(got, funcs[i]), name, "got %s", got ? got : "(null)");
		got = outer_name(o, vaddr + 1);
		snprintf(name, sizeof(name), "libc names: %s with DWARF is still %s", funcs[i],
			 funcs[i]);
		CHECK(!strcmp(got, funcs[i]), name, "got %s", got);
	}

	/* memcpy's AVX implementation has only internal names: kept, and
	 * the one glibc defines (memmove's; memcpy's is its alias). */
	if (o && elfobj__build_id(o)) {
		uint64_t v;
		const char *got;

		snprintf(debug, sizeof(debug), "/usr/lib/debug/.build-id/%.2s/%s.debug",
			 elfobj__build_id(o), elfobj__build_id(o) + 2);
		snprintf(cmd, sizeof(cmd), "nm '%s' 2>/dev/null | grep -q ' __memmove_avx_unaligned_erms$'",
			 debug);
		if (system(cmd)) {
			SKIP("libc names: __memmove_avx_unaligned_erms", "not in %s", debug);
			goto out;
		}
		v = nm_addr(debug, "__memmove_avx_unaligned_erms");
		got = outer_name(o, v + 1);
		CHECK(v && !strcmp(got, "__memmove_avx_unaligned_erms"),
		      "libc names: __memmove_avx_unaligned_erms, no public alias, is kept",
		      "got %s", got);
	}
out:
	elfobj__free(o);
	procmaps__clear(&maps);
	debuginfo__free(d);
	if (h)
		dlclose(h);
}

static void check_elfobj_errors(const char *text_file)
{
	struct elfobj *o;
	uint64_t v;

	errno = 0;
	o = elfobj__open(text_file, NULL);
	CHECK(!o && errno == ENOEXEC, "elfobj: not ELF is ENOEXEC", "errno %d", errno);
	elfobj__free(o);
	errno = 0;
	o = elfobj__open("/nonexistent/cprof/file", NULL);
	CHECK(!o && errno == ENOENT, "elfobj: missing is ENOENT", "errno %d", errno);
	elfobj__free(o);
	errno = 0;
	o = elfobj__open(NULL, NULL);
	CHECK(!o && errno == EINVAL, "elfobj: NULL path is EINVAL", "errno %d", errno);
	o = elfobj__open(dir, NULL);
	CHECK(!o, "elfobj: directory refused", "opened");
	elfobj__free(o);
	CHECK(elfobj__lookup(NULL, 1, NULL) == NULL && elfobj__build_id(NULL) == NULL &&
	      elfobj__offset_to_vaddr(NULL, 0, &v) == -EINVAL && elfobj__nr_symbols(NULL) == 0 &&
	      elfobj__mem(NULL) == 0, "elfobj: NULL-safe accessors", "not safe");
	elfobj__free(NULL);
}

static int file_id(const char *path, uint64_t *dev, uint64_t *ino)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*dev = st.st_dev;
	*ino = st.st_ino;
	return 0;
}

static void check_symcache(const char *pie, const char *nopie, const char *lib,
			   const char *late, const char *text_file)
{
	struct symcache_opts opts = { .max_objects = 2 };
	struct symcache *c = NULL, *small = NULL;
	struct elfobj *o1, *o2, *o3, *o;
	uint64_t d1, i1, d2, i2, d3, i3, dl, il, dt, it;
	struct symcache_stats st;
	const char *paths[2];

	if (file_id(pie, &d1, &i1) || file_id(nopie, &d2, &i2) || file_id(lib, &d3, &i3)) {
		CHECK(0, "symcache: stat test files", "errno %d", errno);
		return;
	}
	c = symcache__new(&opts);
	CHECK(c, "symcache: new", "errno %d", errno);
	if (!c)
		return;

	paths[0] = pie;
	o1 = symcache__get(c, d1, i1, paths, 1);
	o = symcache__get(c, d1, i1, paths, 1);
	symcache__stats(c, &st);
	CHECK(o1 && o == o1 && st.misses == 1 && st.hits == 1 && st.objects == 1 &&
	      st.bytes >= elfobj__mem(o1), "symcache: miss then hit, same object",
	      "misses %llu hits %llu objects %llu", (unsigned long long)st.misses,
	      (unsigned long long)st.hits, (unsigned long long)st.objects);

	/* Paths are tried in order: a missing first one falls through. */
	paths[0] = "/nonexistent/cprof/map_files/x";
	paths[1] = nopie;
	o2 = symcache__get(c, d2, i2, paths, 2);
	CHECK(o2 != NULL, "symcache: second path used", "errno %d", errno);

	/* A failed open is remembered: once the file appears, the cached
	 * failure still answers (until it expires), and open() is not
	 * tried again. */
	paths[0] = late;
	errno = 0;
	o = symcache__get(c, 1, 999999999, paths, 1);
	CHECK(!o && errno == ENOENT, "symcache: missing file fails with ENOENT",
	      "errno %d", errno);
	if (copy_file(lib, late))
		CHECK(0, "symcache: create late file", "errno %d", errno);
	symcache__stats(c, &st);
	errno = 0;
	o = symcache__get(c, 1, 999999999, paths, 1);
	{
		struct symcache_stats st2;

		symcache__stats(c, &st2);
		CHECK(!o && errno == ENOENT && st2.open_errors == st.open_errors &&
		      st2.misses == st.misses && st2.hits == st.hits + 1,
		      "symcache: failure cached, not retried",
		      "o %p errno %d open_errors %llu->%llu misses %llu->%llu", (void *)o, errno,
		      (unsigned long long)st.open_errors, (unsigned long long)st2.open_errors,
		      (unsigned long long)st.misses, (unsigned long long)st2.misses);
	}
	if (file_id(late, &dl, &il) || file_id(text_file, &dt, &it)) {
		CHECK(0, "symcache: stat late files", "errno %d", errno);
		symcache__free(c);
		return;
	}
	o = symcache__get(c, dl, il, paths, 1);
	CHECK(o != NULL, "symcache: same path under another key opens", "errno %d", errno);

	paths[0] = text_file;
	errno = 0;
	o = symcache__get(c, dt, it, paths, 1);
	CHECK(!o && errno == ENOEXEC, "symcache: not ELF fails with ENOEXEC", "errno %d", errno);
	errno = 0;
	o = symcache__get(c, dt, it, paths, 1);
	CHECK(!o && errno == ENOEXEC, "symcache: cached failure keeps its errno", "errno %d",
	      errno);

	symcache__stats(c, &st);
	o = symcache__get(c, 1, 999999996, NULL, 0);
	{
		struct symcache_stats st2;

		symcache__stats(c, &st2);
		CHECK(!o && st2.open_errors == st.open_errors, "symcache: no paths, no entry",
		      "open_errors %llu", (unsigned long long)st2.open_errors);
	}

	/* get() never evicts: three objects with max_objects 2, and the
	 * first one is still usable. lib is the file "late" was copied
	 * from: same build id, so it shares that object, not a fourth. */
	paths[0] = lib;
	o3 = symcache__get(c, d3, i3, paths, 1);
	symcache__stats(c, &st);
	CHECK(o3 && st.objects == 3, "symcache: get does not evict", "objects %llu",
	      (unsigned long long)st.objects);
	CHECK(o3 && o3 == symcache__get(c, dl, il, paths, 1) && st.shared == 1,
	      "symcache: a copy with the same build id shares one object", "shared %llu",
	      (unsigned long long)st.shared);
	CHECK(elfobj__nr_symbols(o1) > 0 && elfobj__build_id(o1),
	      "symcache: borrowed pointer still valid", "no");

	/* Touch pie and lib: nopie is the least recently used now, and
	 * evicting it is enough (the late entry shares lib's object). */
	paths[0] = pie;
	symcache__get(c, d1, i1, paths, 1);
	paths[0] = lib;
	symcache__get(c, d3, i3, paths, 1);
	symcache__trim(c);
	symcache__stats(c, &st);
	CHECK(st.objects == 2 && st.evictions == 1, "symcache: trim to max_objects",
	      "objects %llu evictions %llu", (unsigned long long)st.objects,
	      (unsigned long long)st.evictions);
	paths[0] = pie;
	o = symcache__get(c, d1, i1, paths, 1);
	{
		struct symcache_stats st2;

		symcache__stats(c, &st2);
		CHECK(o && st2.hits == st.hits + 1, "symcache: recently used survives trim",
		      "hits %llu", (unsigned long long)st2.hits);
		paths[0] = nopie;
		o = symcache__get(c, d2, i2, paths, 1);
		symcache__stats(c, &st);
		CHECK(o && st.misses == st2.misses + 1, "symcache: least recently used evicted",
		      "misses %llu", (unsigned long long)st.misses);
	}

	opts.max_objects = 0;
	opts.max_bytes = 1;
	small = symcache__new(&opts);
	CHECK(small, "symcache: new small", "errno %d", errno);
	if (small) {
		paths[0] = pie;
		o = symcache__get(small, d1, i1, paths, 1);
		symcache__stats(small, &st);
		CHECK(o && st.bytes > 1, "symcache: bytes counted", "bytes %llu",
		      (unsigned long long)st.bytes);
		symcache__trim(small);
		symcache__stats(small, &st);
		CHECK(st.objects == 0 && st.bytes <= 1 && st.evictions == 1,
		      "symcache: trim to max_bytes", "objects %llu bytes %llu",
		      (unsigned long long)st.objects, (unsigned long long)st.bytes);
	}

	symcache__stats(NULL, &st);
	CHECK(st.objects == 0 && st.hits == 0, "symcache: stats of NULL", "not zero");
	errno = 0;
	CHECK(!symcache__get(NULL, 1, 1, paths, 1) && errno == EINVAL, "symcache: NULL cache",
	      "errno %d", errno);
	symcache__free(small);
	symcache__free(c);

	/* Another file on pie's (dev, inode) with another stamp, as when a
	 * rebuilt binary gets the inode its old version freed: its own
	 * object, not the old file's symbols. */
	c = symcache__new(NULL);
	if (c) {
		struct symcache_ref ref = { .dev = d1, .inode = i1, .stamp = 1, .paths = paths,
					    .nr_paths = 1 };

		paths[0] = pie;
		o1 = symcache__get(c, d1, i1, paths, 1);
		paths[0] = lib;
		errno = 0;
		o = symcache__find(c, &ref);
		CHECK(o1 && !o && errno == ESTALE,
		      "symcache: a path that now holds another file is not read for the old one",
		      "%s, errno %d", o == o1 ? "got the old object" : o ? "got an object" : "none",
		      errno);
		paths[0] = pie;
		CHECK(symcache__get(c, d1, i1, paths, 1) == o1,
		      "symcache: the old stamp still finds the old object", "another object");
		symcache__free(c);
	}
	symcache__free(NULL);
}

/* Files are read only if they are the file the process mapped, never
 * blocking, and objects are shared by build id only between one owner's
 * files. */
static void check_symcache_identity(const char *lib)
{
	struct symcache *c = symcache__new(NULL);
	char fifo[300], theirs[300];
	const char *paths[1];
	struct symcache_stats st, st2;
	struct elfobj *mine, *o;
	uint64_t d, i;
	struct timespec t0, t1;

	if (!c || file_id(lib, &d, &i)) {
		CHECK(0, "identity: set up", "errno %d", errno);
		symcache__free(c);
		return;
	}
	/* a FIFO put where a binary was: refused at once, not waited on */
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	if (mkfifo(fifo, 0644) == 0) {
		uint64_t fd_, fi;

		file_id(fifo, &fd_, &fi);
		paths[0] = fifo;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		errno = 0;
		o = symcache__get(c, fd_, fi, paths, 1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		CHECK(!o && errno == EINVAL && t1.tv_sec - t0.tv_sec < 2,
		      "identity: a FIFO is refused without blocking", "errno %d after %lld s", errno,
		      (long long)(t1.tv_sec - t0.tv_sec));
	}
	/* the path now holds another file than the one mapped */
	paths[0] = lib;
	errno = 0;
	o = symcache__get(c, d, i + 1, paths, 1);
	CHECK(!o && errno == ESTALE, "identity: another file at the path is refused",
	      "errno %d", errno);

	/* root's copy, then a copy with the same build id that another user
	 * owns: its own object, not root's (and the reverse) */
	paths[0] = lib;
	mine = symcache__get(c, d, i, paths, 1);
	snprintf(theirs, sizeof(theirs), "%s/theirs.so", dir);
	if (!mine || copy_file(lib, theirs) || chown(theirs, 65534, 65534) || file_id(theirs, &d, &i)) {
		CHECK(0, "identity: a copy another user owns", "errno %d", errno);
	} else {
		symcache__stats(c, &st);
		paths[0] = theirs;
		o = symcache__get(c, d, i, paths, 1);
		symcache__stats(c, &st2);
		CHECK(o && o != mine && st2.shared == st.shared,
		      "identity: another owner's copy with the same build id is not shared",
		      "%s", o == mine ? "shared" : "not opened");
		/* and two copies of that user's share */
		snprintf(fifo, sizeof(fifo), "%s/theirs2.so", dir);
		if (!copy_file(lib, fifo) && !chown(fifo, 65534, 65534) && !file_id(fifo, &d, &i)) {
			paths[0] = fifo;
			CHECK(symcache__get(c, d, i, paths, 1) == o,
			      "identity: one owner's copies with one build id share", "not shared");
		}
		/* a group-writable file is shared with nobody */
		if (!chmod(fifo, 0664) && !file_id(fifo, &d, &i)) {
			struct symcache *c2 = symcache__new(NULL);

			paths[0] = theirs;
			file_id(theirs, &d, &i);
			o = c2 ? symcache__get(c2, d, i, paths, 1) : NULL;
			paths[0] = fifo;
			file_id(fifo, &d, &i);
			CHECK(o && symcache__get(c2, d, i, paths, 1) != o,
			      "identity: a file others may write is not shared", "shared");
			symcache__free(c2);
		}
	}
	symcache__free(c);
}

static const char kallsyms_text[] =
	"0000000000000000 A fixed_percpu_data\n"
	"ffffffff81000000 T _text\n"
	"ffffffff81000000 T _stext\n"
	"ffffffff81000000 T startup_64\n"
	"ffffffff81001000 t do_one_initcall\n"
	"ffffffff81002000 D some_data\n"
	"ffffffff81003000 W weak_fn\n"
	"ffffffff81004000 T last_core\n"
	"this is not a kallsyms line\n"
	"ffffffffzz000000 T bad_addr\n"
	"ffffffff81005000 T\n"
	"ffffffff81006000 Tx glued_type\n"
	"ffffffffc0b00000 t baz\t[other]\n"
	"ffffffffc0a01100 T bar\t[mymod]\n"
	"ffffffffc0a01000 t foo\t[mymod]\n"
	"ffffffffc0a02000 d foo_data\t[mymod]\n"
	"ffffffffc0a03000 t broken\t[mymod\n"
	"\n"
	"ffffffffc0d00000 t tail_no_newline\t[third]";

static void check_ksym(const struct ksyms *k, uint64_t addr, const char *want,
		       uint64_t want_start, const char *want_mod, const char *name)
{
	const char *mod = (const char *)1, *got;
	uint64_t start = 0;

	got = ksyms__lookup(k, addr, &start, &mod);
	if (!want) {
		CHECK(!got && !mod, name, "got %s", got ? got : "(null)");
		return;
	}
	CHECK(got && !strcmp(got, want) && start == want_start &&
	      (want_mod ? mod && !strcmp(mod, want_mod) : !mod), name,
	      "got %s at %llx in %s", got ? got : "(null)", (unsigned long long)start,
	      mod ? mod : "(core)");
}

static void check_ksyms(void)
{
	static const char hidden[] =
		"0000000000000000 T _text\n0000000000000000 t foo\t[mod]\n";
	struct ksyms *k;

	k = ksyms__parse(kallsyms_text, sizeof(kallsyms_text) - 1);
	CHECK(k != NULL, "ksyms: parse", "errno %d", errno);
	if (!k)
		return;
	/* _text/_stext/startup_64 collapse into one; data and junk dropped. */
	CHECK(ksyms__count(k) == 8, "ksyms: text symbols kept, aliases merged", "count %zu",
	      ksyms__count(k));
	check_ksym(k, 0xffffffff80000000ull, NULL, 0, NULL, "ksyms: before the first is unknown");
	check_ksym(k, 0xffffffff81000010ull, "startup_64", 0xffffffff81000000ull, NULL,
		   "ksyms: alias picked without underscores");
	check_ksym(k, 0xffffffff81001000ull, "do_one_initcall", 0xffffffff81001000ull, NULL,
		   "ksyms: exact start");
	check_ksym(k, 0xffffffff81002fffull, "do_one_initcall", 0xffffffff81001000ull, NULL,
		   "ksyms: between symbols");
	check_ksym(k, 0xffffffff81003001ull, "weak_fn", 0xffffffff81003000ull, NULL,
		   "ksyms: weak text kept");
	check_ksym(k, 0xffffffff81004100ull, "last_core", 0xffffffff81004000ull, NULL,
		   "ksyms: just past the last core symbol");
	check_ksym(k, 0xffffffff81004000ull + (2u << 20), NULL, 0, NULL,
		   "ksyms: far past the last core symbol is unknown");
	check_ksym(k, 0xffffffffc0a01050ull, "foo", 0xffffffffc0a01000ull, "mymod",
		   "ksyms: module symbol");
	check_ksym(k, 0xffffffffc0a01100ull, "bar", 0xffffffffc0a01100ull, "mymod",
		   "ksyms: module symbol, unsorted input");
	check_ksym(k, 0xffffffffc0a02000ull, "bar", 0xffffffffc0a01100ull, "mymod",
		   "ksyms: module data dropped");
	check_ksym(k, 0xffffffffc0b00010ull, "baz", 0xffffffffc0b00000ull, "other",
		   "ksyms: second module");
	check_ksym(k, 0xffffffffc0b00000ull + (3u << 19), NULL, 0, NULL,
		   "ksyms: far past a module's last symbol is unknown");
	check_ksym(k, 0xffffffffc0d00001ull, "tail_no_newline", 0xffffffffc0d00000ull, "third",
		   "ksyms: last line without newline");
	CHECK(ksyms__lookup(k, 0xffffffff81000001ull, NULL, NULL) != NULL,
	      "ksyms: NULL out-parameters", "NULL");
	ksyms__free(k);

	errno = 0;
	k = ksyms__parse(hidden, sizeof(hidden) - 1);
	CHECK(!k && errno == EPERM, "ksyms: all-zero addresses is EPERM", "errno %d", errno);
	ksyms__free(k);
	k = ksyms__parse("", 0);
	CHECK(k && ksyms__count(k) == 0 && !ksyms__lookup(k, 1, NULL, NULL),
	      "ksyms: empty text", "k %p", (void *)k);
	ksyms__free(k);
	CHECK(ksyms__count(NULL) == 0 && !ksyms__lookup(NULL, 1, NULL, NULL),
	      "ksyms: NULL-safe", "not safe");
	ksyms__free(NULL);

	/* Garbage from the kallsyms alphabet: no crash, sorted output. */
	{
		static const char alphabet[] = "0123456789abcdef tTwWdD\t\n[]_xyz";
		unsigned int seed = 4242;
		int round, bad = 0;
		char buf[400];
		size_t i;

		for (round = 0; round < 2000; round++) {
			size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(buf));

			for (i = 0; i < len; i++)
				buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
			if (round % 3 == 0 && len > 30)
				memcpy(buf, "ffffffff81000000 T x\n", 21);
			k = ksyms__parse(buf, len);
			if (k) {
				const char *mod;
				uint64_t s1 = 0, s2 = 0;

				if (ksyms__lookup(k, 0xffffffff81000000ull, &s1, &mod) &&
				    s1 != 0xffffffff81000000ull)
					bad++;
				if (ksyms__lookup(k, UINT64_MAX, &s2, &mod) && s2 == 0)
					bad++;
			}
			ksyms__free(k);
		}
		CHECK(bad == 0, "ksyms: garbage handled", "%d bad", bad);
	}
}

/* The real table, compared with a line read back from the same file. */
static void check_ksyms_load(void)
{
	unsigned long long want = 0, a;
	char type, sym[256], line[512];
	struct ksyms *k;
	const char *got;
	uint64_t start = 0;
	FILE *f;

	if (geteuid() != 0) {
		SKIP("ksyms: load /proc/kallsyms", "not root");
		return;
	}
	k = ksyms__load();
	if (!k && errno == EPERM) {
		SKIP("ksyms: load /proc/kallsyms", "addresses hidden (kptr_restrict)");
		return;
	}
	CHECK(k && ksyms__count(k) > 1000, "ksyms: load /proc/kallsyms", "errno %d count %zu",
	      errno, ksyms__count(k));
	if (!k)
		return;

	f = fopen("/proc/kallsyms", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &a, &type, sym) == 3 &&
		    (type == 'T' || type == 't') && !strcmp(sym, "schedule")) {
			want = a;
			break;
		}
	}
	if (f)
		fclose(f);
	if (!want) {
		SKIP("ksyms: lookup schedule", "no schedule symbol");
	} else {
		const char *mod = NULL;

		got = ksyms__lookup(k, want + 4, &start, &mod);
		CHECK(got && !strcmp(got, "schedule") && start == want && !mod,
		      "ksyms: lookup schedule+4", "got %s", got ? got : "(null)");
	}
	ksyms__free(k);
}

static void cleanup_dir(void)
{
	int i;

	for (i = 0; i < nr_files; i++)
		unlink(files[i]);
	rmdir(dir);
}

int main(void)
{
	const char *prog_c, *lib_c, *pie, *nopie, *lib, *libexe, *stripped, *late, *text,
		*noshdr, *scratch, *alias_c, *alias_ver, *alias_lib, *alias_bare;
	struct symcache *c = NULL;
	char cmd[4096];
	int have_gcc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	check_ksyms();
	check_ksyms_load();

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "errno %d", errno);
		return CHECK_EXIT();
	}
	prog_c = tmp_path("prog.c");
	lib_c = tmp_path("lib.c");
	pie = tmp_path("prog_pie");
	nopie = tmp_path("prog_nopie");
	lib = tmp_path("libcproftest.so");
	libexe = tmp_path("prog_lib");
	stripped = tmp_path("libstripped.so");
	late = tmp_path("late.so");
	text = tmp_path("notelf.txt");
	noshdr = tmp_path("prog_noshdr");
	scratch = tmp_path("damaged.so");
	alias_c = tmp_path("alias.c");
	alias_ver = tmp_path("alias.map");
	alias_lib = tmp_path("libalias.so");
	alias_bare = tmp_path("libalias-stripped.so");

	if (write_file(prog_c, prog_src, sizeof(prog_src) - 1) ||
	    write_file(lib_c, lib_src, sizeof(lib_src) - 1) ||
	    write_file(alias_c, alias_src, sizeof(alias_src) - 1) ||
	    write_file(alias_ver, alias_map, sizeof(alias_map) - 1) ||
	    write_file(text, "just text, not an ELF file\n", 27)) {
		CHECK(0, "write sources", "errno %d", errno);
		goto out;
	}
	check_elfobj_errors(text);
	check_libc_names();

	have_gcc = system("gcc --version >/dev/null 2>&1") == 0;
	if (!have_gcc) {
		SKIP("symbolize compiled programs", "gcc not found");
		goto out;
	}
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -fPIE -pie -o '%s' '%s' && "
		 "gcc -O2 -fno-pie -no-pie -o '%s' '%s' && "
		 "gcc -O2 -fPIC -shared -o '%s' '%s' && "
		 "gcc -O2 -fPIE -pie -DWITH_LIB -o '%s' '%s' -L'%s' -lcproftest -Wl,-rpath,'%s'",
		 pie, prog_c, nopie, prog_c, lib, lib_c, libexe, prog_c, dir, dir);
	if (sh(cmd)) {
		CHECK(0, "compile test programs", "gcc failed");
		goto out;
	}
	CHECK(elf_type(pie) == ET_DYN && elf_type(nopie) == ET_EXEC && elf_type(lib) == ET_DYN,
	      "built PIE, non-PIE and shared object", "types %d %d %d", elf_type(pie),
	      elf_type(nopie), elf_type(lib));

	c = symcache__new(NULL);
	CHECK(c, "symcache__new(NULL)", "errno %d", errno);
	if (!c)
		goto out;
	check_program(c, "pie", pie, 6, "prog_pie");
	check_program(c, "non-pie", nopie, 6, "prog_nopie");
	check_program(c, "shared lib", libexe, 9, "prog_lib");
	symcache__free(c);

	check_stripped(lib, stripped);
	check_no_sections(pie, noshdr);
	check_damaged(lib, scratch);
	snprintf(cmd, sizeof(cmd),
		 "gcc -O2 -g -fPIC -shared -Wl,--version-script='%s' -o '%s' '%s' && "
		 "strip -o '%s' '%s'", alias_ver, alias_lib, alias_c, alias_bare, alias_lib);
	if (sh(cmd))
		CHECK(0, "aliases: build the library", "gcc or strip failed");
	else
		check_alias_names(alias_lib, alias_bare);
	check_symcache(pie, nopie, lib, late, text);
	check_symcache_identity(lib);

out:
	cleanup_dir();
	return CHECK_EXIT();
}
