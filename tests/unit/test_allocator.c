/* daemon/capture/allocator.c: the probe points of this machine's
 * allocators, held to what libelf says of their symbols and segments, and
 * the analysis of files made to break it. */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "allocator.h"
#include "check.h"
#include "heap.h"

#define LIBC		"/lib/x86_64-linux-gnu/libc.so.6"
#define JEMALLOC	"/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#define TCMALLOC	"/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
#define LIBSTDCXX	"/usr/lib/x86_64-linux-gnu/libstdc++.so.6"

static char tmpdir[] = "/tmp/test_allocator.XXXXXX";

static int analyze_path(const char *path, struct allocator *a, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), ret;

	if (fd < 0)
		return -errno;
	ret = allocator__analyze(fd, a, err, errlen);
	close(fd);
	return ret;
}

static const struct alloc_probe *probe_named(const struct allocator *a, const char *name)
{
	for (int i = 0; i < a->nr; i++)
		if (!strcmp(a->probes[i].name, name))
			return &a->probes[i];
	return NULL;
}

static int probes_at(const struct allocator *a, uint64_t func)
{
	int n = 0;

	for (int i = 0; i < a->nr; i++)
		n += a->probes[i].func_vaddr == func;
	return n;
}

/* The reference: libelf's reading of the same file, .dynsym then .symtab. */
static bool ref_symbol(const char *path, const char *name, uint64_t *vaddr)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf_Scn *scn = NULL;
	bool found = false;
	Elf *elf;

	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	for (int pass = 0; elf && pass < 2 && !found; pass++) {
		while (!found && (scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *d;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != (pass ? SHT_SYMTAB : SHT_DYNSYM) ||
			    !(d = elf_getdata(scn, NULL)))
				continue;
			for (size_t i = 1; i < d->d_size / sizeof(Elf64_Sym); i++) {
				const char *s;
				GElf_Sym sym;

				if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF ||
				    GELF_ST_TYPE(sym.st_info) != STT_FUNC)
					continue;
				s = elf_strptr(elf, sh.sh_link, sym.st_name);
				if (s && !strcmp(s, name)) {
					*vaddr = sym.st_value;
					found = true;
					break;
				}
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return found;
}

static bool ref_offset(const char *path, uint64_t vaddr, uint64_t *off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool found = false;
	size_t nr = 0;
	Elf *elf;

	if (fd < 0)
		return false;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf && !elf_getphdrnum(elf, &nr)) {
		for (size_t i = 0; i < nr && !found; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && (ph.p_flags & PF_X) &&
			    vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
				*off = vaddr - ph.p_vaddr + ph.p_offset;
				found = true;
			}
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return found;
}

static bool read_at(const char *path, uint64_t off, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && pread(fd, buf, len, (off_t)off) == (ssize_t)len;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* Every probe where libelf puts its symbol, at the offset the program
 * headers give, a few instructions in at most, with the kind of its name. */
static void check_probes(const char *label, const char *path, const struct allocator *a)
{
	static const struct {
		const char *prefix;
		uint32_t fn;
	} kinds[] = {
		{ "malloc", HEAP_FN_MALLOC }, { "valloc", HEAP_FN_MALLOC }, { "calloc", HEAP_FN_CALLOC },
		{ "realloc", HEAP_FN_REALLOC }, { "reallocarray", HEAP_FN_REALLOCARRAY },
		{ "free", HEAP_FN_FREE }, { "cfree", HEAP_FN_FREE },
		{ "posix_memalign", HEAP_FN_POSIX_MEMALIGN }, { "memalign", HEAP_FN_MEMALIGN },
		{ "aligned_alloc", HEAP_FN_MEMALIGN }, { "pvalloc", HEAP_FN_PVALLOC },
		{ "_Zn", HEAP_FN_MALLOC }, { "_Zd", HEAP_FN_FREE },
	};
	int bad = 0, single = 0;
	char name[64], why[256] = "";

	for (int i = 0; i < a->nr; i++) {
		const struct alloc_probe *p = &a->probes[i];
		uint64_t vaddr = 0, off = 0;
		uint32_t fn = 0;

		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			if (!strcmp(p->name, kinds[k].prefix) ||
			    (kinds[k].prefix[0] == '_' && !strncmp(p->name, kinds[k].prefix, 3)))
				fn = kinds[k].fn;
		single += !p->emulated;
		if (!ref_symbol(path, p->name, &vaddr) || vaddr != p->func_vaddr ||
		    !ref_offset(path, p->vaddr, &off) || off != p->offset ||
		    p->vaddr < p->func_vaddr || p->vaddr - p->func_vaddr >= 64 || p->fn != fn) {
			if (!bad++)
				snprintf(why, sizeof(why), "%s: entry 0x%llx (libelf 0x%llx), offset 0x%llx (libelf 0x%llx), fn %u (want %u)",
					 p->name, (unsigned long long)p->func_vaddr, (unsigned long long)vaddr,
					 (unsigned long long)p->offset, (unsigned long long)off, p->fn, fn);
		}
	}
	snprintf(name, sizeof(name), "%s: every probe at libelf's symbol and offset", label);
	CHECK(!bad && a->nr > 0, name, "%d wrong, %s", bad, why);
	snprintf(name, sizeof(name), "%s: single-stepped probes counted", label);
	CHECK(single == a->nr_single_stepped, name, "%d not emulated, %d counted", single, a->nr_single_stepped);
}

static void test_glibc(void)
{
	const struct alloc_probe *p, *q;
	uint64_t ra = 0, ma = 0, aa = 0;
	struct allocator a;
	uint8_t b[8];
	char err[256];
	int ret;

	if (access(LIBC, R_OK)) {
		SKIP("glibc", "%s: %s", LIBC, strerror(errno));
		return;
	}
	ret = analyze_path(LIBC, &a, err, sizeof(err));
	CHECK(!ret && !strcmp(a.kind, "glibc"), "glibc: an allocator of kind glibc", "%d (%s), kind %s",
	      ret, err, a.kind);
	if (ret)
		return;
	check_probes("glibc", LIBC, &a);

	/* malloc saves registers first: a push, emulated, at its entry */
	p = probe_named(&a, "malloc");
	CHECK(p && p->vaddr == p->func_vaddr && p->emulated && p->fn == HEAP_FN_MALLOC &&
	      read_at(LIBC, p->offset, b, 2) && ((b[0] >= 0x50 && b[0] <= 0x57) ||
	      (b[0] == 0x41 && b[1] >= 0x50 && b[1] <= 0x57)),
	      "glibc: malloc probed at its entry, a push", "%s",
	      p ? "not there, or not a push" : "no probe");

	/* free: test %rdi,%rdi; je: on the je, 3 bytes in */
	p = probe_named(&a, "free");
	CHECK(p && p->vaddr == p->func_vaddr + 3 && p->emulated && p->fn == HEAP_FN_FREE &&
	      read_at(LIBC, p->offset - 3, b, 5) && !memcmp(b, "\x48\x85\xff", 3) &&
	      (b[3] == 0x74 || (b[3] == 0x0f && b[4] == 0x84)),
	      "glibc: free probed on the je after test %rdi,%rdi", "%s at +%lld",
	      p ? "not a je" : "no probe", p ? (long long)(p->vaddr - p->func_vaddr) : -1LL);
	CHECK(!probe_named(&a, "cfree"), "glibc: cfree is free's probe", "a probe of its own");

	/* reallocarray: jmp realloc@plt */
	CHECK(ref_symbol(LIBC, "reallocarray", &ra) && !probes_at(&a, ra) && a.nr_wrappers >= 1,
	      "glibc: reallocarray left to realloc, a wrapper", "probed (%d wrappers)", a.nr_wrappers);
	/* realloc tail-calls malloc and free for realloc(NULL, n) and
	 * realloc(p, 0): still realloc */
	p = probe_named(&a, "realloc");
	CHECK(p && p->fn == HEAP_FN_REALLOC, "glibc: realloc keeps its probe", "none");

	ref_symbol(LIBC, "memalign", &ma);
	ref_symbol(LIBC, "aligned_alloc", &aa);
	q = probe_named(&a, "memalign");
	CHECK(ma && ma == aa && probes_at(&a, ma) == 1 && q && q->fn == HEAP_FN_MEMALIGN &&
	      !probe_named(&a, "aligned_alloc"),
	      "glibc: memalign and aligned_alloc, one address, one probe", "memalign 0x%llx, aligned_alloc 0x%llx, %d probes",
	      (unsigned long long)ma, (unsigned long long)aa, probes_at(&a, ma));
}

static void test_jemalloc(void)
{
	uint64_t dl = 0, da = 0;
	struct allocator a;
	char err[256];
	int ret;

	if (access(JEMALLOC, R_OK)) {
		SKIP("jemalloc", "%s: %s (libjemalloc2)", JEMALLOC, strerror(errno));
		return;
	}
	ret = analyze_path(JEMALLOC, &a, err, sizeof(err));
	CHECK(!ret && !strcmp(a.kind, "jemalloc"), "jemalloc: an allocator of kind jemalloc",
	      "%d (%s), kind %s", ret, err, a.kind);
	if (ret)
		return;
	check_probes("jemalloc", JEMALLOC, &a);
	/* operator delete is jmp free@plt */
	CHECK(ref_symbol(JEMALLOC, "_ZdlPv", &dl) && ref_symbol(JEMALLOC, "_ZdaPv", &da) &&
	      !probes_at(&a, dl) && !probes_at(&a, da) && a.nr_wrappers >= 2 && probe_named(&a, "free"),
	      "jemalloc: _ZdlPv and _ZdaPv left to free, wrappers", "probed (%d wrappers)", a.nr_wrappers);
}

static void test_tcmalloc(void)
{
	uint64_t fr = 0, dl = 0, nw = 0, na = 0, va = 0;
	const struct alloc_probe *p;
	struct allocator a;
	char err[256];
	int ret;

	if (access(TCMALLOC, R_OK)) {
		SKIP("tcmalloc", "%s: %s (libgoogle-perftools4)", TCMALLOC, strerror(errno));
		return;
	}
	ret = analyze_path(TCMALLOC, &a, err, sizeof(err));
	CHECK(!ret && !strcmp(a.kind, "tcmalloc"), "tcmalloc: an allocator of kind tcmalloc",
	      "%d (%s), kind %s", ret, err, a.kind);
	if (ret)
		return;
	check_probes("tcmalloc", TCMALLOC, &a);

	/* free, cfree, _ZdlPv, _ZdaPv: one function */
	ref_symbol(TCMALLOC, "free", &fr);
	ref_symbol(TCMALLOC, "_ZdlPv", &dl);
	p = probe_named(&a, "free");
	CHECK(fr && fr == dl && probes_at(&a, fr) == 1 && p && !probe_named(&a, "_ZdlPv") &&
	      !probe_named(&a, "_ZdaPv") && !probe_named(&a, "cfree"),
	      "tcmalloc: free and operator delete, one address, one probe named free",
	      "free 0x%llx, _ZdlPv 0x%llx, %d probes", (unsigned long long)fr, (unsigned long long)dl,
	      probes_at(&a, fr));
	ref_symbol(TCMALLOC, "_Znwm", &nw);
	ref_symbol(TCMALLOC, "_Znam", &na);
	CHECK(nw && nw == na && probes_at(&a, nw) == 1 && probe_named(&a, "_Znwm") && !probe_named(&a, "_Znam"),
	      "tcmalloc: _Znwm and _Znam, one address, one probe named _Znwm", "%d probes", probes_at(&a, nw));

	/* valloc is getpagesize() and jmp tc_memalign@plt: memalign under
	 * another name, resolved through the relocation's symbol */
	CHECK(ref_symbol(TCMALLOC, "valloc", &va) && !probes_at(&a, va) && probe_named(&a, "memalign"),
	      "tcmalloc: valloc left to memalign (tc_memalign@plt), a wrapper", "probed");
	/* sized delete frees most blocks itself; only page-aligned ones go
	 * to free, on a branch */
	CHECK(probe_named(&a, "_ZdlPvm"), "tcmalloc: sized delete, which calls free on a branch only, probed",
	      "left out");
}

static void test_not_allocator(void)
{
	struct allocator a;
	char err[256];
	int ret;

	if (access(LIBSTDCXX, R_OK)) {
		SKIP("libstdc++", "%s: %s", LIBSTDCXX, strerror(errno));
		return;
	}
	/* operator new, but no malloc */
	ret = analyze_path(LIBSTDCXX, &a, err, sizeof(err));
	CHECK(ret == -ENOENT && a.nr == 0 && err[0], "libstdc++: not an allocator (-ENOENT)", "%d (%s)", ret, err);
}

/* A program with an allocator of its own, compiled here: calloc and
 * realloc call malloc (and free) and are wrappers; free is probed past a
 * test of its argument. */
static void test_own_allocator(void)
{
	static const char src[] =
		"#include <stddef.h>\n"
		"static char heap[1 << 20]; static size_t used; static void *last;\n"
		"__attribute__((noinline)) void *malloc(size_t n) {\n"
		"	if (n > sizeof(heap) - used) return NULL;\n"
		"	last = heap + used; used += (n + 15) & ~(size_t)15; return last; }\n"
		"__attribute__((noinline)) void free(void *p) { if (p == last) used = (char *)p - heap; }\n"
		"__attribute__((noinline)) void *calloc(size_t n, size_t s) {\n"
		"	char *p = malloc(n * s);\n"
		"	if (p) for (size_t i = 0; i < n * s; i++) ((volatile char *)p)[i] = 0;\n"
		"	return p; }\n"
		"__attribute__((noinline)) void *realloc(void *p, size_t n) {\n"
		"	char *q = malloc(n);\n"
		"	if (q && p) for (size_t i = 0; i < n; i++) q[i] = ((char *)p)[i];\n"
		"	free(p); return q; }\n"
		"int main(int argc, char **argv) { (void)argv; return malloc((size_t)argc) == NULL; }\n";
	char path[128], exe[128], cmd[512], err[256];
	struct allocator a;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/own.c", tmpdir);
	snprintf(exe, sizeof(exe), "%s/own", tmpdir);
	f = fopen(path, "w");
	if (!f || fputs(src, f) < 0 || fclose(f)) {
		SKIP("own allocator", "cannot write %s", path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "${CC:-cc} -O2 -fno-builtin -fno-optimize-sibling-calls -o %s %s", exe, path);
	if (sh(cmd)) {
		SKIP("own allocator", "no C compiler");
		return;
	}
	ret = analyze_path(exe, &a, err, sizeof(err));
	CHECK(!ret && !strcmp(a.kind, "other"), "own allocator: an allocator of kind other", "%d (%s), kind %s",
	      ret, err, a.kind);
	if (ret)
		return;
	check_probes("own allocator", exe, &a);
	CHECK(probe_named(&a, "malloc") && probe_named(&a, "free") && !probe_named(&a, "calloc") &&
	      !probe_named(&a, "realloc") && a.nr_wrappers == 2,
	      "own allocator: calloc and realloc (malloc, a copy, free) are wrappers", "%d probes, %d wrappers",
	      a.nr, a.nr_wrappers);
}

/* A static program: glibc's malloc in .symtab only. */
static void test_static(void)
{
	char path[128], exe[128], cmd[512], err[256];
	struct allocator a;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/static.c", tmpdir);
	snprintf(exe, sizeof(exe), "%s/static", tmpdir);
	f = fopen(path, "w");
	if (!f || fputs("#include <stdlib.h>\nint main(void) { free(malloc(1)); return 0; }\n", f) < 0 || fclose(f)) {
		SKIP("static", "cannot write %s", path);
		return;
	}
	snprintf(cmd, sizeof(cmd), "${CC:-cc} -O2 -static -o %s %s 2>/dev/null", exe, path);
	if (sh(cmd)) {
		SKIP("static", "cannot link statically (libc6-dev's libc.a)");
		return;
	}
	ret = analyze_path(exe, &a, err, sizeof(err));
	CHECK(!ret && !strcmp(a.kind, "glibc") && probe_named(&a, "malloc") && probe_named(&a, "free"),
	      "static: glibc's malloc and free found in .symtab", "%d (%s), kind %s, %d probes", ret, err,
	      a.kind, a.nr);
	if (!ret)
		check_probes("static", exe, &a);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* An error, one line of it, and nothing described. */
static void check_refused(const char *name, int ret, const struct allocator *a, const char *err)
{
	CHECK(ret < 0 && a->nr == 0 && err[0] && !strchr(err, '\n'), name, "%d, %d probes, \"%s\"", ret, a->nr, err);
}

static int analyze_bytes(const uint8_t *buf, size_t len, struct allocator *a, char *err, size_t errlen)
{
	char path[128];
	int fd, ret;

	snprintf(path, sizeof(path), "%s/hostile", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (len && write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -EIO;
	}
	ret = allocator__analyze(fd, a, err, errlen);
	close(fd);
	return ret;
}

static bool read_file_whole(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok;

	*buf = NULL;
	if (fd < 0 || fstat(fd, &st) || !(*buf = malloc((size_t)st.st_size))) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	*len = (size_t)st.st_size;
	ok = pread(fd, *buf, *len, 0) == (ssize_t)*len;
	close(fd);
	return ok;
}

/* Where in a copy of libc the fields the cases below change are. */
struct libc_layout {
	Elf64_Shdr *dynsym;		/* its section header */
	Elf64_Sym *malloc_sym;
	Elf64_Phdr *text;		/* the executable PT_LOAD */
};

static bool libc_layout(uint8_t *buf, size_t len, struct libc_layout *l)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Shdr *sh = (Elf64_Shdr *)(buf + eh->e_shoff);
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + eh->e_phoff);
	const char *strs;

	memset(l, 0, sizeof(*l));
	if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > len)
		return false;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && (ph[i].p_flags & PF_X))
			l->text = &ph[i];
	for (int i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_DYNSYM)
			l->dynsym = &sh[i];
	if (!l->dynsym || !l->text)
		return false;
	strs = (const char *)buf + sh[l->dynsym->sh_link].sh_offset;
	for (size_t i = 1; i < l->dynsym->sh_size / sizeof(Elf64_Sym); i++) {
		Elf64_Sym *sym = (Elf64_Sym *)(buf + l->dynsym->sh_offset) + i;

		if (!strcmp(strs + sym->st_name, "malloc") && sym->st_shndx != SHN_UNDEF)
			l->malloc_sym = sym;
	}
	return l->malloc_sym;
}

/* libc with one field made wrong at a time. */
static void test_patched(const uint8_t *libc, size_t len)
{
	struct libc_layout l;
	struct allocator a;
	char err[256];
	uint8_t *buf;
	int ret;

	buf = malloc(len);
	if (!buf)
		return;

	/* malloc nowhere in the code */
	memcpy(buf, libc, len);
	if (!libc_layout(buf, len, &l)) {
		SKIP("hostile: patched libc", "cannot find .dynsym's malloc in %s", LIBC);
		free(buf);
		return;
	}
	l.malloc_sym->st_value = 0xfffffffffffffff0ull;
	ret = analyze_bytes(buf, len, &a, err, sizeof(err));
	check_refused("hostile: malloc's symbol outside the code", ret, &a, err);

	/* malloc on the last byte of the code the file holds */
	memcpy(buf, libc, len);
	libc_layout(buf, len, &l);
	l.malloc_sym->st_value = l.text->p_vaddr + l.text->p_filesz - 1;
	l.malloc_sym->st_size = 1 << 20;
	ret = analyze_bytes(buf, len, &a, err, sizeof(err));
	CHECK((ret < 0 && err[0]) || (!ret && probe_named(&a, "malloc") &&
	      probe_named(&a, "malloc")->offset == l.text->p_offset + l.text->p_filesz - 1),
	      "hostile: malloc on the code's last byte, a megabyte long", "%d (%s)", ret, err);

	/* the executable segment said to go on for ever */
	memcpy(buf, libc, len);
	libc_layout(buf, len, &l);
	l.text->p_filesz = l.text->p_memsz = 0xffffffffffffull;
	ret = analyze_bytes(buf, len, &a, err, sizeof(err));
	CHECK(ret < 0 || (ret == 0 && a.nr > 0), "hostile: an executable segment of 256 TiB", "%d", ret);

	/* .dynsym bigger than we read */
	memcpy(buf, libc, len);
	libc_layout(buf, len, &l);
	l.dynsym->sh_size = 1ull << 40;
	ret = analyze_bytes(buf, len, &a, err, sizeof(err));
	check_refused("hostile: .dynsym of a terabyte", ret, &a, err);
	CHECK(ret == -EFBIG, "hostile: ... is -EFBIG", "%d (%s)", ret, err);

	/* .dynsym's strings in a section that is not a string table */
	memcpy(buf, libc, len);
	libc_layout(buf, len, &l);
	l.dynsym->sh_link = (uint32_t)(l.dynsym - (Elf64_Shdr *)(buf + ((Elf64_Ehdr *)buf)->e_shoff));
	ret = analyze_bytes(buf, len, &a, err, sizeof(err));
	check_refused("hostile: .dynsym linked to itself for its strings", ret, &a, err);
	free(buf);
}

static void test_hostile(void)
{
	uint8_t *libc = NULL, *buf;
	struct allocator a;
	size_t len = 0;
	char err[256];
	int ret, fd, crashed = 0;

	/* not files to read */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ret = allocator__analyze(fd, &a, err, sizeof(err));
	close(fd);
	check_refused("hostile: /dev/null, not a regular file", ret, &a, err);
	CHECK(ret == -EINVAL, "hostile: /dev/null is -EINVAL", "%d", ret);
	fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = allocator__analyze(fd, &a, err, sizeof(err));
	close(fd);
	check_refused("hostile: a directory", ret, &a, err);
	ret = allocator__analyze(-1, &a, err, sizeof(err));
	check_refused("hostile: a closed descriptor", ret, &a, err);

	ret = analyze_bytes(NULL, 0, &a, err, sizeof(err));
	check_refused("hostile: an empty file", ret, &a, err);
	CHECK(ret == -ENOEXEC, "hostile: an empty file is -ENOEXEC", "%d", ret);

	/* random bytes behind an x86-64 ELF header that points into them */
	buf = malloc(1 << 16);
	if (!buf)
		return;
	for (int round = 0; round < 16; round++) {
		Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;

		for (size_t i = 0; i < (1 << 16) / 8; i++) {
			uint64_t r = next_random();

			memcpy(buf + i * 8, &r, 8);
		}
		memcpy(eh->e_ident, ELFMAG, SELFMAG);
		eh->e_ident[EI_CLASS] = ELFCLASS64;
		eh->e_ident[EI_DATA] = ELFDATA2LSB;
		eh->e_ident[EI_VERSION] = EV_CURRENT;
		eh->e_type = round & 1 ? ET_EXEC : ET_DYN;
		eh->e_machine = EM_X86_64;
		eh->e_version = EV_CURRENT;
		eh->e_ehsize = sizeof(*eh);
		eh->e_phentsize = sizeof(Elf64_Phdr);
		eh->e_shentsize = sizeof(Elf64_Shdr);
		if (round < 8) {
			/* tables in the file, with random contents */
			eh->e_phoff = 64 + next_random() % 4096;
			eh->e_phnum = next_random() % 16;
			eh->e_shoff = 8192 + next_random() % 32768;
			eh->e_shnum = next_random() % 64;
			eh->e_shstrndx = next_random() % 64;
		}
		ret = analyze_bytes(buf, 1 << 16, &a, err, sizeof(err));
		crashed += ret >= 0;
	}
	CHECK(!crashed, "hostile: random bytes behind an ELF header are refused", "%d taken", crashed);
	free(buf);

	if (!read_file_whole(LIBC, &libc, &len) || len < (1 << 17)) {
		SKIP("hostile: truncated libc", "cannot read %s", LIBC);
		free(libc);
		return;
	}
	ret = analyze_bytes(libc, 1 << 16, &a, err, sizeof(err));
	check_refused("hostile: libc's first 64 KiB", ret, &a, err);
	CHECK(ret == -ENOEXEC, "hostile: ... is -ENOEXEC, not taken for a file without symbols", "%d (%s)",
	      ret, err);

	/* cut in the middle of .dynsym, the section headers put back after
	 * the cut: the symbol table runs past the end of the file */
	{
		Elf64_Ehdr eh;
		Elf64_Shdr *sh;
		uint64_t cut = 0;

		memcpy(&eh, libc, sizeof(eh));
		sh = (Elf64_Shdr *)(libc + eh.e_shoff);
		for (int i = 0; i < eh.e_shnum; i++)
			if (sh[i].sh_type == SHT_DYNSYM)
				cut = sh[i].sh_offset + sh[i].sh_size / 2;
		if (cut && eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(*sh) <= len) {
			size_t shlen = eh.e_shnum * sizeof(*sh);

			buf = malloc(cut + shlen);
			if (buf) {
				memcpy(buf, libc, cut);
				memcpy(buf + cut, sh, shlen);
				((Elf64_Ehdr *)buf)->e_shoff = cut;
				ret = analyze_bytes(buf, cut + shlen, &a, err, sizeof(err));
				check_refused("hostile: libc cut in the middle of .dynsym", ret, &a, err);
				CHECK(ret == -ENOEXEC, "hostile: ... is -ENOEXEC", "%d (%s)", ret, err);
				free(buf);
			}
		}
		/* the plain cut: no section headers at all */
		if (cut) {
			ret = analyze_bytes(libc, cut, &a, err, sizeof(err));
			check_refused("hostile: libc cut in .dynsym, headers gone", ret, &a, err);
		}
	}

	test_patched(libc, len);

	/* libc with bytes changed in its headers, tables and code: anything
	 * may come back but a crash (valgrind or ASan tell the rest) */
	buf = malloc(len);
	if (buf) {
		Elf64_Ehdr eh;
		int taken = 0;

		memcpy(&eh, libc, sizeof(eh));
		for (int round = 0; round < 48; round++) {
			int n = 1 + (int)(next_random() % 16);

			memcpy(buf, libc, len);
			for (int i = 0; i < n; i++) {
				uint64_t r = next_random(), at;

				switch (r % 3) {
				case 0:		/* the headers and the dynamic tables */
					at = (r >> 8) % (1 << 17);
					break;
				case 1:		/* the section headers */
					at = eh.e_shoff + (r >> 8) % (eh.e_shnum * sizeof(Elf64_Shdr));
					break;
				default:	/* anywhere */
					at = (r >> 8) % len;
				}
				if (at < len)
					buf[at] = (uint8_t)(r >> 40);
			}
			ret = analyze_bytes(buf, len, &a, err, sizeof(err));
			taken += !ret;
			if (!ret && (a.nr < 0 || a.nr > ALLOC_MAX_PROBES))
				crashed++;
		}
		CHECK(!crashed, "hostile: changed copies of libc analysed without harm", "%d out of bounds", crashed);
		printf("# %d of 48 changed copies of libc still taken as allocators\n", taken);
		free(buf);
	}
	free(libc);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(tmpdir)) {
		printf("FAIL: test_allocator: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	elf_version(EV_CURRENT);
	test_glibc();
	test_jemalloc();
	test_tcmalloc();
	test_not_allocator();
	test_own_allocator();
	test_static();
	test_hostile();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	sh(cmd);
	return CHECK_EXIT();
}
