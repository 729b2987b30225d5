// SPDX-License-Identifier: GPL-2.0
/*
 * vDSO frames named from the vDSO's own symbols. A child's vDSO is read
 * through /proc/PID/mem, as cprofd reads it, and dumped to a file that
 * readelf, the independent reader, lists the functions of: each must be
 * named by one of the names readelf gives at its address, and the kernel's
 * __vdso_ name where there is one (the plain names are weak aliases). This
 * process's own vDSO (getauxval(AT_SYSINFO_EHDR)) must give the very same
 * cached object. Truncated, edited and randomly
 * damaged images must be refused or parsed, never crash or read outside
 * the bytes given (each copy ends exactly at the end of its allocation, for
 * valgrind and ASan).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/auxv.h>
#include <sys/wait.h>

#include "check.h"
#include "elfobj.h"
#include "vdso.h"

#define MAX_FUNCS	64
#define FUZZ_ROUNDS	400

struct vfunc {
	uint64_t addr, size;
	char name[128];
};

static char dir[] = "/tmp/cprof-vdso-XXXXXX";
static char image_path[256];

/* The [vdso] mapping of process pid. 0 or -ENOENT. */
static int find_vdso(pid_t pid, uint64_t *start, uint64_t *end)
{
	char path[64], line[512];
	FILE *f;
	int err = -ENOENT;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (strstr(line, "[vdso]") && sscanf(line, "%llx-%llx", &s, &e) == 2) {
			*start = s;
			*end = e;
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

/* Bytes [start, start + size) of process pid. 0 or -errno. */
static int read_mem(pid_t pid, uint64_t start, unsigned char *buf, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, size, (off_t)start);
	close(fd);
	return n == (ssize_t)size ? 0 : -EIO;
}

/* A child running sleep(1), not this program: under valgrind, which hides
 * the vDSO from the programs it runs, it still has one. */
static pid_t start_child(uint64_t *start, uint64_t *end)
{
	pid_t pid = fork();
	int i;

	if (pid == 0) {
		execlp("sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	for (i = 0; pid > 0 && i < 500; i++) {
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strcmp(comm, "sleep\n"))
			return find_vdso(pid, start, end) ? -1 : pid;
		usleep(10000);
	}
	return -1;
}

/* The function symbols readelf lists in the dumped image. */
static int readelf_funcs(struct vfunc *out, int max)
{
	char cmd[512], line[512];
	int n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "readelf -W --dyn-syms '%s'", image_path);
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	while (fgets(line, sizeof(line), p)) {
		unsigned long long addr, size;
		char type[32], bind[32], vis[32], ndx[32], name[128];
		char *at;

		if (sscanf(line, " %*[0-9]: %llx %llu %31s %31s %31s %31s %127s", &addr, &size,
			   type, bind, vis, ndx, name) != 7 || strcmp(type, "FUNC") || n == max)
			continue;
		at = strchr(name, '@');
		if (at)
			*at = '\0';
		out[n].addr = addr;
		out[n].size = size;
		snprintf(out[n].name, sizeof(out[n].name), "%s", name);
		n++;
	}
	pclose(p);
	return n;
}

static bool has_name_at(const struct vfunc *f, int n, uint64_t addr, const char *name)
{
	for (int i = 0; i < n; i++)
		if (f[i].addr == addr && !strcmp(f[i].name, name))
			return true;
	return false;
}

static const char *vdso_name_at(const struct vfunc *f, int n, uint64_t addr)
{
	for (int i = 0; i < n; i++)
		if (f[i].addr == addr && !strncmp(f[i].name, "__vdso_", 7))
			return f[i].name;
	return NULL;
}

static void check_names(const struct elfobj *o, const struct vfunc *f, int n)
{
	int ok = 0, bad = 0;
	char what[160];

	for (int i = 0; i < n; i++) {
		const char *want = vdso_name_at(f, n, f[i].addr);
		uint64_t start = 0;
		const char *got = elfobj__lookup(o, f[i].addr + f[i].size / 2, &start);

		if (got && start == f[i].addr && has_name_at(f, n, f[i].addr, got) &&
		    (!want || !strcmp(got, want))) {
			ok++;
			continue;
		}
		if (!bad++)
			printf("# %s at %#llx (readelf: %s) named %s\n", f[i].name,
			       (unsigned long long)f[i].addr, f[i].name, got ? got : "(null)");
	}
	snprintf(what, sizeof(what), "vdso: each of %d function symbols named as readelf lists it, "
		 "the __vdso_ name first", n);
	CHECK(n >= 4 && !bad, what, "%d right, %d wrong", ok, bad);
}

/* clock_gettime's vDSO code, by its runtime address: the address a sample
 * in it would have. */
static void check_clock_gettime(struct vdso *v, const struct vfunc *f, int n, pid_t pid,
				uint64_t start, uint64_t end)
{
	uint64_t addr = 0, vaddr = 0;
	struct elfobj *o;
	const char *got;
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(f[i].name, "clock_gettime") || !strcmp(f[i].name, "__vdso_clock_gettime"))
			addr = start + f[i].addr + 1;
	if (!addr) {
		SKIP("vdso: clock_gettime", "this kernel's vDSO has no clock_gettime");
		return;
	}
	o = vdso__find(v, (uint32_t)pid, start, end);
	got = o && !elfobj__offset_to_vaddr(o, addr - start, &vaddr) ?
	      elfobj__lookup(o, vaddr, NULL) : NULL;
	printf("# clock_gettime's vDSO code at %#llx: %s\n", (unsigned long long)addr,
	       got ? got : "(null)");
	CHECK(got && (!strcmp(got, "__vdso_clock_gettime") ||
		      (!vdso_name_at(f, n, addr - start - 1) && !strcmp(got, "clock_gettime"))),
	      "vdso: clock_gettime's code is named __vdso_clock_gettime",
	      "got %s", got ? got : "(null)");
}

/* A copy of image whose last byte is the last of its allocation. */
static unsigned char *tight_copy(const unsigned char *image, size_t len)
{
	unsigned char *p = malloc(len ? len : 1);

	if (p && len)
		memcpy(p, image, len);
	return p;
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Edited copies that must be refused (the header checks), and where the
 * dynamic symbol table's section header is. */
static void check_edits(const unsigned char *image, size_t size)
{
	Elf64_Ehdr eh;
	struct {
		const char *what;
		size_t at;
		int width;
		uint64_t val;
	} edits[] = {
		{ "bad magic", 1, 1, 'X' },
		{ "other byte order", EI_DATA, 1, ELFDATA2MSB },
		{ "section headers past the end", offsetof(Elf64_Ehdr, e_shoff), 8, 0 },
		{ "program headers past the end", offsetof(Elf64_Ehdr, e_phoff), 8, 0 },
		{ "huge section count", offsetof(Elf64_Ehdr, e_shnum), 2, 0xffff },
		{ "huge segment count", offsetof(Elf64_Ehdr, e_phnum), 2, 0xffff },
		{ "string table index out of range", offsetof(Elf64_Ehdr, e_shstrndx), 2, 0xfff0 },
		{ "wrong section header size", offsetof(Elf64_Ehdr, e_shentsize), 2, 40 },
		{ "offset that wraps around", offsetof(Elf64_Ehdr, e_shoff), 8, UINT64_MAX - 8 },
	};
	char what[128];
	int accepted = 0;
	size_t i;

	memcpy(&eh, image, sizeof(eh));
	edits[2].val = size - 8;
	edits[3].val = size;
	for (i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		unsigned char *p = tight_copy(image, size);
		struct elfobj *o;

		if (!p)
			return;
		if (edits[i].width == 1)
			p[edits[i].at] = (unsigned char)edits[i].val;
		else if (edits[i].width == 2)
			put16(p + edits[i].at, (uint16_t)edits[i].val);
		else
			put64(p + edits[i].at, edits[i].val);
		errno = 0;
		o = elfobj__open_vdso(p, size);
		snprintf(what, sizeof(what), "damaged vdso: %s is refused", edits[i].what);
		CHECK(!o && errno == ENOEXEC, what, "%p errno %d", (void *)o, errno);
		elfobj__free(o);
		free(p);
	}

	/* Every section's offset or size pointing outside the image. */
	for (i = 1; i < eh.e_shnum; i++) {
		unsigned char *p = tight_copy(image, size), *sh;
		struct elfobj *o;
		int field;

		if (!p)
			return;
		for (field = 0; field < 2; field++) {
			memcpy(p, image, size);
			sh = p + eh.e_shoff + i * sizeof(Elf64_Shdr);
			if (field)
				put64(sh + offsetof(Elf64_Shdr, sh_size), size);
			else
				put64(sh + offsetof(Elf64_Shdr, sh_offset), size + 1);
			o = elfobj__open_vdso(p, size);
			if (o && !accepted++)
				printf("# section %zu with its %s outside the image was accepted\n", i,
				       field ? "size" : "offset");
			elfobj__free(o);
		}
		free(p);
	}
	CHECK(!accepted, "damaged vdso: every section's offset or size pointing outside is refused",
	      "%d accepted", accepted);
	CHECK(!elfobj__open_vdso(NULL, 10) && errno == EINVAL &&
	      !elfobj__open_vdso(image, ELFOBJ_IMAGE_MAX + 1) && errno == EINVAL,
	      "damaged vdso: no image, or too big, is EINVAL", "errno %d", errno);
}

/* Truncated copies at every length up to the section headers, then random
 * byte flips: refused or parsed, and a lookup in what parsed is safe. */
static void check_fuzz(const unsigned char *image, size_t size)
{
	unsigned int seed = 4711;
	int opened = 0, refused = 0, round;
	size_t len;

	for (len = 0; len < size; len += len < 128 ? 1 : 61) {
		unsigned char *p = tight_copy(image, len);
		struct elfobj *o = p ? elfobj__open_vdso(p, len) : NULL;

		if (o) {
			opened++;
			elfobj__lookup(o, 0xb20, NULL);
		} else {
			refused++;
		}
		elfobj__free(o);
		free(p);
	}
	CHECK(refused > 0, "damaged vdso: truncated images handled", "%d opened, %d refused",
	      opened, refused);

	opened = refused = 0;
	for (round = 0; round < FUZZ_ROUNDS; round++) {
		unsigned char *p = tight_copy(image, size);
		struct srcline fr[4];
		struct elfobj *o;
		int j, flips = 1 + rand_r(&seed) % 8;

		if (!p)
			break;
		for (j = 0; j < flips; j++) {
			/* half in the headers and tables, where it hurts */
			size_t at = (size_t)rand_r(&seed) % (round % 2 ? size : 0x600);

			p[at] = (unsigned char)rand_r(&seed);
		}
		o = elfobj__open_vdso(p, size);
		if (o) {
			uint64_t v;

			opened++;
			for (v = 0; v < 0x2000; v += 0x40)
				elfobj__symbolize(o, v, fr, 4);
			elfobj__build_id(o);
		} else {
			refused++;
		}
		elfobj__free(o);
		free(p);
	}
	printf("# %d random damages: %d opened, %d refused\n", FUZZ_ROUNDS, opened, refused);
	CHECK(opened + refused == FUZZ_ROUNDS, "damaged vdso: random byte flips handled",
	      "%d opened, %d refused", opened, refused);
}

/* A 32-bit image, as 32-bit processes' vDSO is: built here with the same
 * pair of names, read whole, truncated and with its section table moved
 * past the end. */
static void check_elf32(void)
{
	char src[300], so[300], cmd[1000];
	unsigned char *image = NULL;
	struct elfobj *o;
	const char *got;
	Elf32_Ehdr eh;
	size_t size = 0, len;
	int refused = 0;
	FILE *f;

	snprintf(src, sizeof(src), "%s/t32.c", dir);
	snprintf(so, sizeof(so), "%s/t32.so", dir);
	f = fopen(src, "w");
	if (f) {
		fputs("int __vdso_tick(int x) { return x + 2; }\n"
		      "extern int tick(int) __attribute__((weak, alias(\"__vdso_tick\")));\n", f);
		fclose(f);
	}
	/* no 32-bit libc needed: nothing is linked in */
	snprintf(cmd, sizeof(cmd), "gcc -m32 -O2 -nostdlib -shared -fPIC -o '%s' '%s' 2>/dev/null && "
		 "strip '%s'", so, src, so);
	if (!f || system(cmd)) {
		SKIP("vdso: a 32-bit image", "gcc -m32 cannot build a 32-bit object here");
		goto out;
	}
	f = fopen(so, "r");
	if (f) {
		image = malloc(65536);
		size = image ? fread(image, 1, 65536, f) : 0;
		fclose(f);
	}
	if (size < sizeof(eh)) {
		CHECK(0, "vdso: read the 32-bit object", "%zu bytes", size);
		goto out;
	}
	memcpy(&eh, image, sizeof(eh));
	o = elfobj__open_vdso(image, size);
	got = o ? elfobj__lookup(o, 0x1001, NULL) : NULL;
	CHECK(o && got && !strcmp(got, "__vdso_tick"), "vdso: a 32-bit image is named too",
	      "%s at 0x1001 of %zu bytes", got ? got : "(null)", size);
	elfobj__free(o);
	for (len = 0; len < size; len += 7) {
		unsigned char *p = tight_copy(image, len);

		o = p ? elfobj__open_vdso(p, len) : NULL;
		refused += !o;
		elfobj__free(o);
		free(p);
	}
	eh.e_shoff = (Elf32_Off)(size - 4);
	memcpy(image, &eh, sizeof(eh));
	o = elfobj__open_vdso(image, size);
	CHECK(refused && !o, "vdso: truncated 32-bit images, and one with its sections past the end, "
	      "handled", "%d truncations refused; %p", refused, (void *)o);
	elfobj__free(o);
out:
	free(image);
	unlink(so);
	unlink(src);
}

/* The cache: a refused image is remembered, and images beyond the bound
 * are refused with ENOSPC. */
static void check_cache(const unsigned char *image, size_t size)
{
	struct vdso *v = vdso__new();
	struct vdso_stats st;
	unsigned char *p = tight_copy(image, size);
	int i, ok = 1;

	if (!v || !p) {
		CHECK(0, "vdso cache: new", "out of memory");
		goto out;
	}
	p[1] = 'X';
	errno = 0;
	CHECK(!vdso__image(v, p, size) && errno == ENOEXEC && !vdso__image(v, p, size) &&
	      errno == ENOEXEC, "vdso cache: a bad image is refused, twice", "errno %d", errno);
	vdso__stats(v, &st);
	CHECK(st.images == 1 && st.refused == 1, "vdso cache: and parsed once",
	      "%llu images, %llu refused", (unsigned long long)st.images,
	      (unsigned long long)st.refused);
	/* Different images, as a debugger's breakpoints would make them:
	 * a byte changed at the end, in padding or code. */
	memcpy(p, image, size);
	for (i = 1; i < VDSO_MAX_IMAGES; i++) {
		p[size - 1] = (unsigned char)i;
		if (!vdso__image(v, p, size))
			ok = 0;
	}
	p[size - 1] = 0xee;
	errno = 0;
	CHECK(ok && !vdso__image(v, p, size) && errno == ENOSPC,
	      "vdso cache: at most VDSO_MAX_IMAGES images", "ok %d errno %d", ok, errno);
	p[size - 1] = 1;
	CHECK(vdso__image(v, p, size) != NULL, "vdso cache: a known image is still served",
	      "errno %d", errno);
	errno = 0;
	CHECK(!vdso__find(v, 1, 0x1000, 0x1000 + ELFOBJ_IMAGE_MAX + 4096) && errno == EFBIG,
	      "vdso cache: a mapping too big is EFBIG", "errno %d", errno);
	CHECK(!vdso__find(NULL, 1, 0, 1) && !vdso__image(NULL, image, size),
	      "vdso cache: NULL-safe", "not");
	vdso__stats(NULL, &st);
	vdso__free(NULL);
out:
	vdso__free(v);
	free(p);
}

int main(void)
{
	uint64_t start = 0, end = 0, own_start = 0, own_end = 0;
	struct vfunc funcs[MAX_FUNCS];
	unsigned char *image = NULL;
	struct vdso_stats st;
	struct elfobj *o = NULL, *own;
	struct vdso *v = NULL;
	char cmd[600];
	size_t size = 0;
	pid_t child;
	FILE *f;
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	child = start_child(&start, &end);
	if (child <= 0) {
		SKIP("vdso", "no child with a vDSO (sleep(1) not found, or no [vdso] mapping)");
		return CHECK_EXIT();
	}
	size = end - start;
	image = malloc(size);
	if (!image || read_mem(child, start, image, size)) {
		CHECK(0, "read a child's vdso", "errno %d", errno);
		goto out;
	}
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp", "errno %d", errno);
		goto out;
	}
	snprintf(image_path, sizeof(image_path), "%s/vdso.so", dir);
	f = fopen(image_path, "w");
	if (!f || fwrite(image, 1, size, f) != size) {
		CHECK(0, "dump the vdso", "errno %d", errno);
		if (f)
			fclose(f);
		goto out;
	}
	fclose(f);

	v = vdso__new();
	o = vdso__find(v, (uint32_t)child, start, end);
	CHECK(o && elfobj__nr_symbols(o) >= 4 && elfobj__build_id(o),
	      "vdso: read through /proc/PID/mem and parsed, with symbols and a build id",
	      "errno %d", errno);
	n = readelf_funcs(funcs, MAX_FUNCS);
	if (n <= 0) {
		SKIP("vdso: names against readelf", "readelf not found or no functions");
	} else if (o) {
		printf("# vdso: %zu bytes, %d function symbols, build id %s\n", size, n,
		       elfobj__build_id(o));
		check_names(o, funcs, n);
		check_clock_gettime(v, funcs, n, child, start, end);
	}
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' | grep -q 'Build ID: %s'", image_path,
		 o && elfobj__build_id(o) ? elfobj__build_id(o) : "none");
	CHECK(o && system(cmd) == 0, "vdso: build id as readelf -n says", "%s",
	      o && elfobj__build_id(o) ? elfobj__build_id(o) : "none");

	/* This process's own vDSO (getauxval), when it has one: the kernel
	 * gives every 64-bit process the same image. */
	if (!getauxval(AT_SYSINFO_EHDR) || find_vdso(getpid(), &own_start, &own_end)) {
		SKIP("vdso: this process's own is the same object", "no vDSO here (valgrind?)");
	} else {
		own = vdso__image(v, (const void *)(uintptr_t)getauxval(AT_SYSINFO_EHDR),
				  own_end - own_start);
		vdso__stats(v, &st);
		CHECK(own && own == o && st.images == 1,
		      "vdso: this process's own (getauxval) is the same object",
		      "%p vs %p, %llu images", (void *)own, (void *)o, (unsigned long long)st.images);
	}

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	child = 0;
	errno = 0;
	vdso__stats(v, &st);
	CHECK(!vdso__find(v, 1u << 30, start, end) && errno &&
	      (vdso__stats(v, &st), st.read_errors == 1),
	      "vdso: a process gone is a read error and no object", "errno %d read errors %llu",
	      errno, (unsigned long long)st.read_errors);

	check_edits(image, size);
	check_fuzz(image, size);
	check_cache(image, size);
	check_elf32();
out:
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	vdso__free(v);
	free(image);
	if (image_path[0])
		unlink(image_path);
	rmdir(dir);
	return CHECK_EXIT();
}
