// SPDX-License-Identifier: GPL-2.0
/*
 * dwarfsrc (file, line and inlined frames from DWARF) and demangle, checked
 * against independent readers: for every instruction of the functions of
 * small C and C++ programs built here, dwarfsrc__lookup must give the
 * frames `addr2line -i -f [-C]` gives (their number, names, file basenames
 * and lines); for clang's DWARF, where binutils 2.40 is wrong, the same
 * against llvm-symbolizer. demangle() must agree with c++filt -i on every
 * C++ name of the program and of libstdc++, and give Rust's paths (legacy
 * and v0). libc must resolve through libc6-dbg's debug file like addr2line
 * and llvm-symbolizer do; compressed sections and dwz must not change any
 * frame; objects without DWARF must say so.
 *
 * Also prints the cost per address on libc as "# bench" lines;
 * `test_dwarfsrc --bench FILE` prints them for any object.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "check.h"
#include "demangle.h"
#include "dwarfsrc.h"
#include "hostile.h"

static char dir[] = "/tmp/cprof-dwarfsrc-XXXXXX";

/* ---- Programs under test ---- */

static const char inl_h[] =
	"/* Three levels of forced inlining, used from a.c and b.c. */\n"
	"#define AI static inline __attribute__((always_inline))\n"
	"extern volatile int sink;\n"
	"AI int lvl3(int x)\n"
	"{\n"
	"	int r = x * 7;\n"
	"	if (r & 1)\n"
	"		sink += r;\n"
	"	return r ^ 5;\n"
	"}\n"
	"AI int lvl2(int x)\n"
	"{\n"
	"	int s = 0;\n"
	"	for (int i = 0; i < x; i++)\n"
	"		s += lvl3(i + x);\n"
	"	return s;\n"
	"}\n"
	"AI int lvl1(int x)\n"
	"{\n"
	"	int t = lvl2(x) + lvl2(x + 1);\n"
	"	if (t > 100)\n"
	"		t -= sink;\n"
	"	return t;\n"
	"}\n";

static const char a_c[] =
	"#include \"inl.h\"\n"
	"volatile int sink;\n"
	"int work_b(int n);\n"
	"__attribute__((noinline)) int work_a(int n)\n"
	"{\n"
	"	return lvl1(n) + 1;\n"
	"}\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"	(void)argv;\n"
	"	sink = work_a(argc) + work_b(argc) + lvl3(argc);\n"
	"	return 0;\n"
	"}\n";

static const char b_c[] =
	"#include \"inl.h\"\n"
	"__attribute__((noinline)) int work_b(int n)\n"
	"{\n"
	"	int acc = 0;\n"
	"	for (int k = 0; k < 3; k++)\n"
	"		acc += lvl1(n + k);\n"
	"	return acc;\n"
	"}\n";

static const char cxx_src[] =
	"namespace geo {\n"
	"template <typename T> struct Vec {\n"
	"	T x, y;\n"
	"	Vec operator+(const Vec &o) const { return Vec{x + o.x, y + o.y}; }\n"
	"	T dot(const Vec &o) const { return x * o.x + y * o.y; }\n"
	"};\n"
	"class Acc {\n"
	"public:\n"
	"	__attribute__((noinline)) double add(const Vec<double> &v);\n"
	"	double total = 0;\n"
	"};\n"
	"double Acc::add(const Vec<double> &v)\n"
	"{\n"
	"	Vec<double> w = v + v;\n"
	"	total += w.dot(v);\n"
	"	return total;\n"
	"}\n"
	"template <typename T> __attribute__((noinline)) T sum(const Vec<T> *v, int n)\n"
	"{\n"
	"	Vec<T> s{0, 0};\n"
	"	for (int i = 0; i < n; i++)\n"
	"		s = s + v[i];\n"
	"	return s.dot(s);\n"
	"}\n"
	"__attribute__((noinline)) Vec<int> operator*(const Vec<int> &a, int k)\n"
	"{\n"
	"	return Vec<int>{a.x * k, a.y * k};\n"
	"}\n"
	"} // namespace geo\n"
	"static volatile int vsink;\n"
	"int main(int argc, char **)\n"
	"{\n"
	"	geo::Vec<int> vi[4] = {{1, 2}, {3, 4}, {argc, 5}, {6, 7}};\n"
	"	geo::Vec<double> vd[2] = {{1.5, 2.5}, {argc * 1.0, 3.0}};\n"
	"	geo::Acc acc;\n"
	"	auto lam = [&](int k) __attribute__((noinline)) {\n"
	"		return geo::sum(vi, k) + (int)geo::sum(vd, 2);\n"
	"	};\n"
	"	vsink = lam(argc + 2) + (vi[0] * 3).x + (int)acc.add(vd[1]);\n"
	"	return 0;\n"
	"}\n";

/* A second unit using the same template, so that dwz has DIEs to share. */
static const char cxx2_src[] =
	"namespace geo {\n"
	"template <typename T> struct Vec {\n"
	"	T x, y;\n"
	"	Vec operator+(const Vec &o) const { return Vec{x + o.x, y + o.y}; }\n"
	"	T dot(const Vec &o) const { return x * o.x + y * o.y; }\n"
	"};\n"
	"} // namespace geo\n"
	"__attribute__((noinline)) int other(const geo::Vec<int> *v, int n)\n"
	"{\n"
	"	geo::Vec<int> s{0, 0};\n"
	"	for (int i = 0; i < n; i++)\n"
	"		s = s + v[i];\n"
	"	return s.dot(s);\n"
	"}\n";

static const char rust_src[] =
	"pub struct Point {\n"
	"    x: f64,\n"
	"    y: f64,\n"
	"}\n"
	"impl Point {\n"
	"    #[inline(never)]\n"
	"    pub fn norm(&self) -> f64 {\n"
	"        (self.x * self.x + self.y * self.y).sqrt()\n"
	"    }\n"
	"}\n"
	"#[inline(never)]\n"
	"fn largest<T: PartialOrd + Copy>(v: &[T]) -> T {\n"
	"    let mut m = v[0];\n"
	"    for &x in v {\n"
	"        if x > m {\n"
	"            m = x;\n"
	"        }\n"
	"    }\n"
	"    m\n"
	"}\n"
	"#[inline(never)]\n"
	"fn apply<F: Fn(i32) -> i32>(f: F, k: i32) -> i32 {\n"
	"    f(k)\n"
	"}\n"
	"fn main() {\n"
	"    let n = std::env::args().count() as i32;\n"
	"    let p = Point { x: n as f64, y: 4.0 };\n"
	"    let r = apply(|k| k * n + 1, 3);\n"
	"    println!(\"{} {} {}\", p.norm(), largest(&[r, n]), largest(&[1.5f64, n as f64]));\n"
	"}\n";

/* ---- Helpers ---- */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;
	int err = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fputs(text, f) == EOF)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Everything a shell command prints, NUL-terminated; NULL when it fails. */
static char *read_cmd(const char *cmd)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *tmp;
	FILE *p = popen(cmd, "r");

	if (!p || !buf) {
		if (p)
			pclose(p);
		free(buf);
		return NULL;
	}
	while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
		n += got;
		if (n + 1 == cap) {
			tmp = realloc(buf, cap * 2);
			if (!tmp)
				break;
			buf = tmp;
			cap *= 2;
		}
	}
	buf[n] = '\0';
	if (pclose(p) != 0) {
		printf("# command failed: %s\n", cmd);
		free(buf);
		return NULL;
	}
	return buf;
}

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	if (!path)
		return "??";
	return s ? s + 1 : path;
}

struct sym {
	uint64_t addr, size;
	char type;
	char name[1024];
};

/* Sized symbols of prog (nm -S), filtered by keep() when given. */
static struct sym *read_syms(const char *prog, bool (*keep)(const struct sym *), size_t *nr)
{
	struct sym *syms = NULL, s, *tmp;
	size_t n = 0, cap = 0;
	char cmd[1024], *out, *line, *save = NULL;

	snprintf(cmd, sizeof(cmd), "nm -S --defined-only '%s' 2>/dev/null", prog);
	out = read_cmd(cmd);
	if (!out)
		return NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long a, sz;

		if (sscanf(line, "%llx %llx %c %1023s", &a, &sz, &s.type, s.name) != 4)
			continue;
		s.addr = a;
		s.size = sz;
		if (!s.size || (keep && !keep(&s)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			tmp = realloc(syms, cap * sizeof(*syms));
			if (!tmp)
				break;
			syms = tmp;
		}
		syms[n++] = s;
	}
	free(out);
	*nr = n;
	return syms;
}

/* Addresses of the instructions objdump finds inside the given symbols. */
static uint64_t *insn_addrs(const char *prog, const struct sym *syms, size_t nr_syms, size_t *nr)
{
	uint64_t *addrs = NULL, *tmp;
	size_t n = 0, cap = 0, i;
	char cmd[1024], *out, *line, *save = NULL;

	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s'", prog);
	out = read_cmd(cmd);
	if (!out)
		return NULL;
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long a;
		char colon;

		if (sscanf(line, " %llx%c", &a, &colon) != 2 || colon != ':' || line[0] != ' ')
			continue;
		for (i = 0; i < nr_syms; i++) {
			if (a >= syms[i].addr && a < syms[i].addr + syms[i].size)
				break;
		}
		if (i == nr_syms)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			tmp = realloc(addrs, cap * sizeof(*addrs));
			if (!tmp)
				break;
			addrs = tmp;
		}
		addrs[n++] = a;
	}
	free(out);
	*nr = n;
	return addrs;
}

/* ---- addr2line as the reference ---- */

struct ref_frame {
	char *func;
	char *file;			/* basename */
	int line;
};

struct ref {
	size_t *first, *count;		/* per address, into frames */
	struct ref_frame *frames;
	size_t nr_addrs, nr_frames;
};

static void ref_free(struct ref *r)
{
	size_t i;

	for (i = 0; i < r->nr_frames; i++) {
		free(r->frames[i].func);
		free(r->frames[i].file);
	}
	free(r->frames);
	free(r->first);
	free(r->count);
	memset(r, 0, sizeof(*r));
}

/* "dir/file.c:12 (discriminator 3)" -> "file.c", 12; "??:?" -> "??", 0. */
static void parse_loc(char *loc, struct ref_frame *f)
{
	char *p = strstr(loc, " (discriminator");
	char *colon;

	if (p)
		*p = '\0';
	colon = strrchr(loc, ':');
	f->line = 0;
	if (colon) {
		*colon = '\0';
		f->line = atoi(colon + 1);
	}
	f->file = strdup(base_name(loc));
}

/* Run the reference once over all addresses: tool is an addr2line -a -i -f
 * command line (or one that prints the same) without the addresses. */
static int ref_run(const char *tool, const uint64_t *addrs, size_t n, struct ref *r)
{
	char cmd[1024], path[512], *out, *line, *save = NULL;
	size_t cap = 0, i, cur = (size_t)-1;
	FILE *f;
	int err = 0;

	memset(r, 0, sizeof(*r));
	snprintf(path, sizeof(path), "%s/addrs.txt", dir);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (i = 0; i < n; i++)
		fprintf(f, "0x%llx\n", (unsigned long long)addrs[i]);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s < '%s'", tool, path);
	out = read_cmd(cmd);
	if (!out)
		return -EIO;
	r->first = calloc(n ? n : 1, sizeof(*r->first));
	r->count = calloc(n ? n : 1, sizeof(*r->count));
	if (!r->first || !r->count) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Groups: an address line, then function and location lines. */
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct ref_frame *fr;
		char *loc;

		if (!strncmp(line, "0x", 2)) {
			if (++cur >= n) {
				err = -EINVAL;
				goto cleanup;
			}
			r->first[cur] = r->nr_frames;
			continue;
		}
		loc = strtok_r(NULL, "\n", &save);
		if (cur >= n || !loc) {
			err = -EINVAL;
			goto cleanup;
		}
		if (r->nr_frames == cap) {
			struct ref_frame *tmp;

			cap = cap ? cap * 2 : 4096;
			tmp = realloc(r->frames, cap * sizeof(*tmp));
			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			r->frames = tmp;
		}
		fr = &r->frames[r->nr_frames++];
		fr->func = strdup(line);
		parse_loc(loc, fr);
		r->count[cur]++;
	}
	r->nr_addrs = cur + 1;
	if (r->nr_addrs != n)
		err = -EINVAL;

cleanup:
	free(out);
	if (err)
		ref_free(r);
	return err;
}

/* The name addr2line prints: mangled without -C, demangled with it. */
static const char *our_name(const struct srcline *s, bool demangled)
{
	const char *name = demangled ? s->function : (s->system_name ? s->system_name : s->function);

	return name ? name : "??";
}

struct cmp_stats {
	size_t addrs, frames, mismatches, deepest, at_depth[DWARFSRC_FRAMES_MAX + 1];
	size_t paths_outside;		/* files that are not the sources in dir */
};

/* Whether path names a file in the test's directory (or under it): our
 * sources are all there, so a full path must lead there. */
static bool path_in_dir(const char *path)
{
	char real[PATH_MAX], rdir[PATH_MAX];

	if (!path || !realpath(path, real) || !realpath(dir, rdir))
		return false;
	return !strncmp(real, rdir, strlen(rdir)) && real[strlen(rdir)] == '/';
}

enum { NAMES_NO, NAMES_MANGLED, NAMES_DEMANGLED };

/*
 * Compare dwarfsrc's frames at every address with the reference's: their
 * number, file basenames and lines, and names unless NAMES_NO. An address
 * without any DWARF is "??" with "??:0" for addr2line and 0 frames for us.
 */
static int compare_ref(struct dwarfsrc *d, const char *tool, int names,
		       const uint64_t *addrs, size_t n, struct cmp_stats *st)
{
	struct srcline fr[DWARFSRC_FRAMES_MAX];
	struct ref r;
	size_t i, j, shown = 0;
	int err, nr;

	memset(st, 0, sizeof(*st));
	err = ref_run(tool, addrs, n, &r);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const struct ref_frame *rf = &r.frames[r.first[i]];
		size_t rn = r.count[i];
		bool same;

		nr = dwarfsrc__lookup(d, addrs[i], fr, DWARFSRC_FRAMES_MAX);
		if (nr < 0) {
			err = nr;
			goto cleanup;
		}
		/* No source known to the reference: it may still name the
		 * function from the symbol table, which dwarfsrc leaves to
		 * the ELF symbolizer. */
		if (rn == 1 && !strcmp(rf[0].file, "??") && !rf[0].line)
			rn = 0;
		same = (size_t)nr == rn;
		for (j = 0; same && j < rn; j++) {
			same = (names == NAMES_NO ||
				!strcmp(our_name(&fr[j], names == NAMES_DEMANGLED), rf[j].func)) &&
			       !strcmp(base_name(fr[j].file), rf[j].file) && fr[j].line == rf[j].line;
		}
		for (j = 0; j < (size_t)nr; j++) {
			if (fr[j].file && fr[j].file[0] != '/')
				st->paths_outside++;
			else if (fr[j].file && !strstr(fr[j].file, "/usr/") && !path_in_dir(fr[j].file))
				st->paths_outside++;
		}
		st->addrs++;
		st->frames += (size_t)nr;
		st->at_depth[nr]++;
		if ((size_t)nr > st->deepest)
			st->deepest = (size_t)nr;
		if (same)
			continue;
		st->mismatches++;
		if (shown++ >= 8)
			continue;
		printf("# 0x%llx differs\n", (unsigned long long)addrs[i]);
		for (j = 0; j < (size_t)nr; j++)
			printf("#   ours  %s %s:%d\n", our_name(&fr[j], names == NAMES_DEMANGLED),
			       base_name(fr[j].file), fr[j].line);
		for (j = 0; j < rn; j++)
			printf("#   a2l   %s %s:%d\n", rf[j].func, rf[j].file, rf[j].line);
	}

cleanup:
	ref_free(&r);
	return err;
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Whether two objects with the same code give the same frames at addrs. */
static size_t count_differences(struct dwarfsrc *d1, struct dwarfsrc *d2, const uint64_t *addrs, size_t n)
{
	struct srcline a[DWARFSRC_FRAMES_MAX], b[DWARFSRC_FRAMES_MAX];
	size_t i, bad = 0;
	int n1, n2, j;

	for (i = 0; i < n; i++) {
		n1 = dwarfsrc__lookup(d1, addrs[i], a, DWARFSRC_FRAMES_MAX);
		n2 = dwarfsrc__lookup(d2, addrs[i], b, DWARFSRC_FRAMES_MAX);
		for (j = 0; n1 == n2 && j < n1; j++) {
			if (!same_str(a[j].function, b[j].function) || !same_str(a[j].system_name, b[j].system_name) ||
			    !same_str(a[j].file, b[j].file) || a[j].line != b[j].line)
				break;
		}
		bad += n1 != n2 || j < n1;
	}
	return bad;
}

/* ---- 1. C, inlined three deep across two files ---- */

static bool keep_c(const struct sym *s)
{
	return !strcmp(s->name, "main") || !strncmp(s->name, "work_", 5);
}

/* The reference for binaries gcc built: binutils. */
static void a2l_tool(char *tool, size_t len, const char *prog, bool demangle)
{
	snprintf(tool, len, "addr2line -a -i -f%s -e '%s'", demangle ? " -C" : "", prog);
}

/*
 * The reference for binaries clang built: llvm-symbolizer in addr2line's
 * output style. binutils 2.40 is wrong there: it drops inlined frames whose
 * ranges are DW_FORM_rnglistx offset pairs (clang's DWARF 5), e.g. reports
 * lvl1 at inl.h:14 (a line of lvl2) where lvl2 was inlined into lvl1.
 */
static void llvm_tool(char *tool, size_t len, const char *prog, bool demangle)
{
	snprintf(tool, len, "llvm-symbolizer --output-style=GNU --print-address --inlining "
		 "--functions=linkage%s --obj='%s'", demangle ? " --demangle" : " --no-demangle", prog);
}

static void cmp_program(const char *label, const char *prog, bool (*keep)(const struct sym *),
			const char *tool, bool demangled, size_t min_depth)
{
	struct cmp_stats st;
	struct dwarfsrc *d;
	struct sym *syms;
	uint64_t *addrs = NULL;
	size_t nr_syms = 0, nr = 0;
	char name[256];
	int err;

	syms = read_syms(prog, keep, &nr_syms);
	if (syms)
		addrs = insn_addrs(prog, syms, nr_syms, &nr);
	snprintf(name, sizeof(name), "%s: instructions found", label);
	CHECK(addrs && nr > 20, name, "%zu instructions in %zu functions", nr, nr_syms);
	d = dwarfsrc__open(prog);
	snprintf(name, sizeof(name), "%s: open", label);
	CHECK(d, name, "dwarfsrc__open: %s", strerror(errno));
	if (!d || !addrs)
		goto cleanup;

	err = compare_ref(d, tool, demangled ? NAMES_DEMANGLED : NAMES_MANGLED, addrs, nr, &st);
	snprintf(name, sizeof(name), "%s: every address as the reference", label);
	CHECK(!err && st.addrs == nr && !st.mismatches, name, "%s; %zu of %zu differ",
	      err ? strerror(-err) : "ran", st.mismatches, st.addrs);
	printf("# %s: %zu addresses, %zu frames, same as `%s`; frames per address:",
	       label, st.addrs, st.frames, tool);
	for (size_t i = 0; i <= st.deepest; i++)
		printf(" %zu:%zu", i, st.at_depth[i]);
	printf("\n");
	snprintf(name, sizeof(name), "%s: full paths to the sources", label);
	CHECK(!st.paths_outside, name, "%zu frames with a path that is relative or leads elsewhere",
	      st.paths_outside);
	snprintf(name, sizeof(name), "%s: inlined frames seen", label);
	CHECK(st.deepest >= min_depth, name, "deepest %zu frames, want %zu", st.deepest, min_depth);

cleanup:
	dwarfsrc__free(d);
	free(addrs);
	free(syms);
}

/* Same frames (same strings) from the cache as from a fresh object, with
 * the cache overrun in between; max truncates to the innermost frames. */
static void check_cache(const char *prog)
{
	struct srcline a[DWARFSRC_FRAMES_MAX], b[DWARFSRC_FRAMES_MAX], one;
	struct dwarfsrc *d1 = dwarfsrc__open(prog), *d2 = dwarfsrc__open(prog);
	struct sym *syms = NULL;
	uint64_t *addrs = NULL;
	size_t nr_syms = 0, nr = 0, i, bad = 0, deep = 0, trunc_bad = 0;
	int n1, n2, pass;

	if (!d1 || !d2)
		goto cleanup;
	syms = read_syms(prog, keep_c, &nr_syms);
	if (syms)
		addrs = insn_addrs(prog, syms, nr_syms, &nr);
	if (!addrs)
		goto cleanup;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < nr; i++)
			dwarfsrc__lookup(d1, addrs[i], a, DWARFSRC_FRAMES_MAX);
		/* Overrun the cache with addresses nothing covers. */
		for (i = 0; i < 3 * DWARFSRC_CACHE_MAX; i++)
			dwarfsrc__lookup(d1, 0x10000000 + i, a, DWARFSRC_FRAMES_MAX);
	}
	for (i = 0; i < nr; i++) {
		n1 = dwarfsrc__lookup(d1, addrs[i], a, DWARFSRC_FRAMES_MAX);
		n2 = dwarfsrc__lookup(d2, addrs[i], b, DWARFSRC_FRAMES_MAX);
		if (n1 != n2 || (n1 > 0 && (a[0].line != b[0].line || strcmp(base_name(a[0].file), base_name(b[0].file)))))
			bad++;
		if (n1 >= 3) {
			deep++;
			if (dwarfsrc__lookup(d1, addrs[i], &one, 1) != 1 || one.function != a[0].function ||
			    one.line != a[0].line)
				trunc_bad++;
		}
	}
	CHECK(nr && !bad, "cache: results survive eviction", "%zu of %zu differ", bad, nr);
	CHECK(deep && !trunc_bad, "cache: max=1 gives the innermost frame", "%zu of %zu wrong", trunc_bad, deep);
	CHECK(dwarfsrc__mem(d1) > dwarfsrc__mem(d2) / 2 && dwarfsrc__mem(d1) < (64u << 20),
	      "mem: plausible", "%zu bytes", dwarfsrc__mem(d1));

cleanup:
	free(addrs);
	free(syms);
	dwarfsrc__free(d1);
	dwarfsrc__free(d2);
}

/* The same frames from copies of prog with compressed debug sections
 * (ELF SHF_COMPRESSED and the older GNU .zdebug), which libdw inflates. */
static void check_compressed(const char *prog)
{
	static const char *const kinds[] = { "zlib", "zlib-gnu" };
	char cmd[2048], copy[600], name[128];
	struct dwarfsrc *d1, *d2;
	struct sym *syms;
	uint64_t *addrs = NULL;
	size_t nr_syms = 0, nr = 0, k, bad = 0;

	syms = read_syms(prog, keep_c, &nr_syms);
	if (syms)
		addrs = insn_addrs(prog, syms, nr_syms, &nr);
	d1 = dwarfsrc__open(prog);
	for (k = 0; d1 && addrs && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		snprintf(copy, sizeof(copy), "%s.%s", prog, kinds[k]);
		snprintf(cmd, sizeof(cmd), "objcopy --compress-debug-sections=%s '%s' '%s'", kinds[k], prog, copy);
		snprintf(name, sizeof(name), "compressed %s: same frames", kinds[k]);
		if (sh(cmd) != 0) {
			SKIP(name, "objcopy cannot compress with %s", kinds[k]);
			continue;
		}
		d2 = dwarfsrc__open(copy);
		if (d2)
			bad = count_differences(d1, d2, addrs, nr);
		CHECK(d2 && !bad, name, "%s; %zu of %zu differ", d2 ? "opened" : strerror(errno), bad, nr);
		dwarfsrc__free(d2);
	}
	dwarfsrc__free(d1);
	free(addrs);
	free(syms);
}

static void test_c(void)
{
	char cmd[2048], prog[512], tool[1024];
	static const char *const variants[][2] = {
		{ "gcc", "gcc -O2 -g -gdwarf-5" },
		{ "gcc-dwarf4", "gcc -O2 -g -gdwarf-4" },
		{ "clang", "clang -O2 -g" },
	};
	size_t v;

	/* The header in a directory of its own: its path in DWARF is then
	 * relative to the compilation directory, which dwarfsrc must join. */
	snprintf(cmd, sizeof(cmd), "%s/inc", dir);
	if (mkdir(cmd, 0755) || write_file("inc/inl.h", inl_h) || write_file("a.c", a_c) ||
	    write_file("b.c", b_c)) {
		CHECK(0, "c: write sources", "%s", strerror(errno));
		return;
	}
	for (v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
		char label[64];

		snprintf(label, sizeof(label), "c/%s", variants[v][0]);
		snprintf(prog, sizeof(prog), "%s/prog-%s", dir, variants[v][0]);
		snprintf(cmd, sizeof(cmd), "cd '%s' && %s -Iinc a.c b.c -o '%s' 2>&1", dir, variants[v][1], prog);
		if (v == 2 && system("(command -v clang && command -v llvm-symbolizer) >/dev/null 2>&1") != 0) {
			SKIP(label, "clang or llvm-symbolizer not installed");
			continue;
		}
		if (sh(cmd) != 0) {
			CHECK(0, label, "cannot build: %s", cmd);
			continue;
		}
		if (v == 2)
			llvm_tool(tool, sizeof(tool), prog, false);
		else
			a2l_tool(tool, sizeof(tool), prog, false);
		/* lvl3 in lvl2 in lvl1 in work_a/work_b: four frames. */
		cmp_program(label, prog, keep_c, tool, false, 4);
	}
	snprintf(prog, sizeof(prog), "%s/prog-gcc", dir);
	check_cache(prog);
	check_compressed(prog);
}

/* ---- 2. C++: templates, a namespace, a method, an operator ---- */

static bool keep_cxx(const struct sym *s)
{
	return !strcmp(s->name, "main") || strstr(s->name, "3geo") || !strncmp(s->name, "_ZZ4main", 8);
}

/*
 * dwz (Debian's -dbgsym packages are built with it) moves DIEs shared by
 * units into partial units and into a common file named by
 * .gnu_debugaltlink; abstract origins then point there. Frames must not
 * change.
 */
static void check_dwz(void)
{
	char cmd[8192], p1[512], p2[512], p3[512];
	struct dwarfsrc *d1 = NULL, *d2 = NULL;
	struct sym *syms = NULL;
	uint64_t *addrs = NULL;
	size_t nr_syms = 0, nr = 0, bad = 0;

	if (system("command -v dwz >/dev/null 2>&1") != 0) {
		SKIP("dwz: same frames", "dwz not installed");
		return;
	}
	snprintf(p1, sizeof(p1), "%s/geo-two", dir);
	snprintf(p2, sizeof(p2), "%s/geo-dwz", dir);
	snprintf(p3, sizeof(p3), "%s/geo-dwz2", dir);
	snprintf(cmd, sizeof(cmd), "cd '%s' && g++ -O2 -g geo.cc geo2.cc -o '%s' && cp '%s' '%s' && cp '%s' '%s' && "
		 "dwz -m common.debug -M '%s/common.debug' '%s' '%s' && "
		 "readelf --debug-dump=info '%s' | grep -q DW_TAG_partial_unit",
		 dir, p1, p1, p2, p1, p3, dir, p2, p3, p2);
	if (write_file("geo2.cc", cxx2_src) || sh(cmd) != 0) {
		CHECK(0, "dwz: build", "%s", cmd);
		return;
	}
	syms = read_syms(p1, keep_cxx, &nr_syms);
	if (syms)
		addrs = insn_addrs(p1, syms, nr_syms, &nr);
	d1 = dwarfsrc__open(p1);
	d2 = dwarfsrc__open(p2);
	if (d1 && d2 && addrs)
		bad = count_differences(d1, d2, addrs, nr);
	CHECK(d1 && d2 && addrs && !bad, "dwz: same frames", "%zu of %zu differ (%s)", bad, nr,
	      d2 ? "opened" : strerror(errno));
	printf("# dwz: %zu addresses, same frames with partial units and an alt file\n", nr);
	dwarfsrc__free(d1);
	dwarfsrc__free(d2);
	free(addrs);
	free(syms);
}

static void test_cxx(void)
{
	struct srcline fr[DWARFSRC_FRAMES_MAX];
	char cmd[2048], prog[512], tool[1024], *out = NULL, *line, *save = NULL;
	struct sym *syms = NULL;
	struct dwarfsrc *d = NULL;
	size_t nr_syms = 0, i, nr_cmp = 0, bad = 0;
	bool saw_op = false, saw_add = false;
	int nr;

	if (write_file("geo.cc", cxx_src)) {
		CHECK(0, "c++: write source", "%s", strerror(errno));
		return;
	}
	snprintf(prog, sizeof(prog), "%s/geo", dir);
	snprintf(cmd, sizeof(cmd), "cd '%s' && g++ -O2 -g geo.cc -o '%s' 2>&1", dir, prog);
	if (sh(cmd) != 0) {
		CHECK(0, "c++: build", "%s", cmd);
		return;
	}
	a2l_tool(tool, sizeof(tool), prog, true);
	cmp_program("c++ demangled", prog, keep_cxx, tool, true, 2);
	a2l_tool(tool, sizeof(tool), prog, false);
	cmp_program("c++ mangled", prog, keep_cxx, tool, false, 2);

	/* Expected names, spelled out. */
	syms = read_syms(prog, keep_cxx, &nr_syms);
	d = dwarfsrc__open(prog);
	for (i = 0; d && i < nr_syms; i++) {
		uint64_t a;

		for (a = syms[i].addr; a < syms[i].addr + syms[i].size; a++) {
			nr = dwarfsrc__lookup(d, a, fr, DWARFSRC_FRAMES_MAX);
			if (nr >= 2 && fr[0].function &&
			    !strcmp(fr[0].function, "geo::Vec<int>::operator+(geo::Vec<int> const&) const") &&
			    fr[0].system_name && !strcmp(fr[0].system_name, "_ZNK3geo3VecIiEplERKS1_"))
				saw_op = true;
			if (nr >= 1 && fr[nr - 1].function &&
			    !strcmp(fr[nr - 1].function, "geo::Acc::add(geo::Vec<double> const&)") &&
			    fr[nr - 1].system_name && !strcmp(fr[nr - 1].system_name, "_ZN3geo3Acc3addERKNS_3VecIdEE") &&
			    !strcmp(base_name(fr[nr - 1].file), "geo.cc"))
				saw_add = true;
		}
	}
	CHECK(saw_op, "c++: inlined operator+ named with its class and linkage name", "not seen");
	CHECK(saw_add, "c++: Acc::add named with parameters, system_name mangled", "not seen");

	check_dwz();

	/* demangle() of every _Z symbol in the program's .symtab and in
	 * libstdc++'s .dynsym against c++filt -i. */
	snprintf(cmd, sizeof(cmd), "(nm '%s'; nm -D \"$(g++ -print-file-name=libstdc++.so.6)\") | "
		 "awk '$NF ~ /^_Z/ { sub(/@.*/, \"\", $NF); print $NF }' > '%s/zsyms.txt' && "
		 "c++filt -i < '%s/zsyms.txt' | paste '%s/zsyms.txt' -", prog, dir, dir, dir);
	out = read_cmd(cmd);
	for (line = out ? strtok_r(out, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t'), *ours;

		if (!tab)
			continue;
		*tab = '\0';
		ours = demangle(line);
		nr_cmp++;
		if (!ours || strcmp(ours, tab + 1)) {
			if (bad++ < 5)
				printf("# demangle %s: ours %s, c++filt %s\n", line, ours ? ours : "(null)", tab + 1);
		}
		free(ours);
	}
	printf("# c++: %zu names (program and libstdc++) demangled as c++filt -i does\n", nr_cmp);
	CHECK(nr_cmp > 1000 && !bad, "c++: demangle() agrees with c++filt -i", "%zu of %zu differ", bad, nr_cmp);

	free(out);
	free(syms);
	dwarfsrc__free(d);
}

/* ---- 3. Rust ---- */

static bool find_rustc(char *path, size_t len)
{
	char *out = read_cmd("command -v rustc 2>/dev/null");

	if (out && out[0]) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(path, len, "%s", out);
		free(out);
		return true;
	}
	free(out);
	if (access("/root/.cargo/bin/rustc", X_OK) == 0) {
		snprintf(path, len, "/root/.cargo/bin/rustc");
		return true;
	}
	return false;
}

/* Whether one of demo's demangled names is want; the mangled names come
 * from nm. */
static bool rust_has(char **names, size_t n, const char *want)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (names[i] && !strcmp(names[i], want))
			return true;
	}
	return false;
}

static void rust_variant(const char *rustc, const char *label, const char *flags, bool v0)
{
	static const char *const legacy_want[] = {
		"demo::Point::norm", "demo::largest", "demo::apply", "demo::main::{{closure}}", "demo::main",
	};
	static const char *const v0_want[] = {
		"<demo::Point>::norm", "demo::largest::<i32>", "demo::largest::<f64>",
		"demo::apply::<demo::main::{closure#0}>", "demo::main::{closure#0}", "demo::main",
	};
	const char *const *want = v0 ? v0_want : legacy_want;
	size_t nr_want = v0 ? sizeof(v0_want) / sizeof(v0_want[0]) : sizeof(legacy_want) / sizeof(legacy_want[0]);
	char cmd[2048], prog[512], name[128], *names[256];
	struct srcline fr[DWARFSRC_FRAMES_MAX];
	struct sym *syms = NULL;
	struct dwarfsrc *d = NULL;
	size_t nr_syms = 0, n = 0, i, missing = 0, hashed = 0, kind_bad = 0;
	bool dwarf_ok = false;

	snprintf(prog, sizeof(prog), "%s/demo-%s", dir, label);
	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' --crate-name demo -C opt-level=0 -g %s main.rs -o '%s' 2>&1",
		 dir, rustc, flags, prog);
	snprintf(name, sizeof(name), "rust %s: build", label);
	if (sh(cmd) != 0) {
		CHECK(0, name, "%s", cmd);
		return;
	}
	syms = read_syms(prog, NULL, &nr_syms);
	for (i = 0; i < nr_syms && n < 256; i++) {
		const char *m = syms[i].name;

		if (!strstr(m, "4demo"))
			continue;
		/* The mangling asked for, or the compiler changed its default. */
		if (v0 != !strncmp(m, "_R", 2))
			kind_bad++;
		names[n] = demangle(m);
		if (names[n] && strstr(names[n], "::h") && strlen(strstr(names[n], "::h")) == 19)
			hashed++;
		n++;
	}
	snprintf(name, sizeof(name), "rust %s: symbols are %s-mangled", label, v0 ? "v0" : "legacy");
	CHECK(n && !kind_bad, name, "%zu of %zu are not", kind_bad, n);
	for (i = 0; i < nr_want; i++) {
		if (!rust_has(names, n, want[i])) {
			missing++;
			printf("# rust %s: no symbol demangles to %s\n", label, want[i]);
		}
	}
	snprintf(name, sizeof(name), "rust %s: demangled paths", label);
	CHECK(!missing && !hashed, name, "%zu expected names missing, %zu with a hash", missing, hashed);

	/* The same name through DWARF (LLVM's: no .debug_aranges). */
	d = dwarfsrc__open(prog);
	for (i = 0; d && i < nr_syms; i++) {
		char *dm = demangle(syms[i].name);
		int nr;

		if (dm && !strcmp(dm, want[0])) {
			nr = dwarfsrc__lookup(d, syms[i].addr + 1, fr, DWARFSRC_FRAMES_MAX);
			dwarf_ok = nr >= 1 && fr[nr - 1].function && !strcmp(fr[nr - 1].function, want[0]) &&
				   fr[nr - 1].system_name && !strcmp(fr[nr - 1].system_name, syms[i].name) &&
				   !strcmp(base_name(fr[nr - 1].file), "main.rs") && fr[nr - 1].line > 0;
		}
		free(dm);
	}
	snprintf(name, sizeof(name), "rust %s: dwarfsrc names %s in main.rs", label, want[0]);
	CHECK(dwarf_ok, name, "%s", d ? "wrong frame" : strerror(errno));

	for (i = 0; i < n; i++)
		free(names[i]);
	free(syms);
	dwarfsrc__free(d);
}

static void test_rust(void)
{
	char rustc[512];

	if (!find_rustc(rustc, sizeof(rustc))) {
		SKIP("rust", "rustc not on PATH nor in /root/.cargo/bin");
		return;
	}
	if (write_file("main.rs", rust_src)) {
		CHECK(0, "rust: write source", "%s", strerror(errno));
		return;
	}
	/* Legacy is stable rustc's default; asking for it by name needs
	 * -Z unstable-options, which only nightly takes. */
	rust_variant(rustc, "legacy", "", false);
	rust_variant(rustc, "v0", "-C symbol-mangling-version=v0", true);
}

/* ---- 4. libc through libc6-dbg ---- */

static bool find_libc(char *path, size_t len)
{
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && strstr(p, "/libc.so")) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, len, "%s", p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool keep_func(const struct sym *s)
{
	return s->type == 'T' || s->type == 't' || s->type == 'i' || s->type == 'W';
}

/*
 * 2000 addresses spread over all of libc against llvm-symbolizer: number
 * of frames, files and lines (not names: llvm-symbolizer names functions
 * from the symbol table, with versions, where we give DWARF's). Not
 * against addr2line: binutils 2.40 takes file 1 of a DWARF 5 line table
 * for file 0 (s_frexpl.c included by s_frexpf128.c is reported as
 * s_frexpf128.c; llvm-symbolizer and eu-addr2line agree with us).
 */
static void sample_libc(struct dwarfsrc *d, const char *debug, const struct sym *syms, size_t nr_syms)
{
	char tool[1024];
	struct cmp_stats st;
	uint64_t *addrs;
	size_t i, n = 2000;
	int err;

	if (system("command -v llvm-symbolizer >/dev/null 2>&1") != 0) {
		SKIP("libc: 2000 addresses as llvm-symbolizer", "llvm-symbolizer not installed");
		return;
	}
	addrs = malloc(n * sizeof(*addrs));
	if (!addrs)
		return;
	for (i = 0; i < n; i++) {
		const struct sym *s = &syms[(i * 7919) % nr_syms];

		addrs[i] = s->addr + (i * 104729) % s->size;
	}
	llvm_tool(tool, sizeof(tool), debug, false);
	err = compare_ref(d, tool, NAMES_NO, addrs, n, &st);
	CHECK(!err && st.addrs == n && !st.mismatches, "libc: 2000 addresses as llvm-symbolizer",
	      "%s; %zu of %zu differ", err ? strerror(-err) : "ran", st.mismatches, st.addrs);
	printf("# libc: %zu addresses, %zu frames, same frames, files and lines as llvm-symbolizer\n",
	       st.addrs, st.frames);
	free(addrs);
}

static size_t heap_bytes(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/*
 * Cost per address on the object at path, printed as "# bench" lines:
 * open; cold (4000 addresses spread over all functions, most the first in
 * their unit or function); uncached (4000 other addresses in the same
 * functions: tables built, the address cache missed); cache hits (1000
 * addresses looked up again). Also dwarfsrc__mem against the heap growth.
 */
static void bench(const char *label, const char *path)
{
	struct srcline fr[DWARFSRC_FRAMES_MAX];
	struct dwarfsrc *d = NULL;
	struct sym *syms;
	uint64_t addrs[4000];
	size_t nr_syms = 0, n = 4000, i, r, found = 0, h0, h1;
	double t0, t1, t2, t3, t4, t5;

	syms = read_syms(path, keep_func, &nr_syms);
	if (!syms || !nr_syms) {
		printf("# bench %s: no function symbols in %s\n", label, path);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		const struct sym *s = &syms[(i * 7919) % nr_syms];

		addrs[i] = s->addr + (i * 104729) % s->size;
	}
	h0 = heap_bytes();
	t0 = now_us();
	d = dwarfsrc__open(path);
	t1 = now_us();
	if (!d) {
		printf("# bench %s: %s: %s\n", label, path, strerror(errno));
		goto cleanup;
	}
	for (i = 0; i < n; i++)
		found += dwarfsrc__lookup(d, addrs[i], fr, DWARFSRC_FRAMES_MAX) > 0;
	t2 = now_us();
	for (i = 0; i < n; i++)
		dwarfsrc__lookup(d, addrs[i] ^ 1, fr, DWARFSRC_FRAMES_MAX);
	t3 = now_us();
	for (i = 0; i < 1000; i++)
		dwarfsrc__lookup(d, addrs[i], fr, DWARFSRC_FRAMES_MAX);
	t4 = now_us();
	for (r = 0; r < 10; r++) {
		for (i = 0; i < 1000; i++)
			dwarfsrc__lookup(d, addrs[i], fr, DWARFSRC_FRAMES_MAX);
	}
	t5 = now_us();
	h1 = heap_bytes();
	printf("# bench %s: open %.0f us; per address: cold %.2f us, uncached %.2f us, "
	       "cached %.3f us (%zu addresses, %zu with DWARF)\n",
	       label, t1 - t0, (t2 - t1) / n, (t3 - t2) / n, (t5 - t4) / 10000, n, found);
	printf("# bench %s: dwarfsrc__mem %zu KiB, heap grew by %zu KiB\n", label,
	       dwarfsrc__mem(d) >> 10, (h1 - h0) >> 10);

cleanup:
	dwarfsrc__free(d);
	free(syms);
}

static void test_libc(void)
{
	static const char *const funcs[][2] = {
		{ "malloc", "malloc/malloc.c" },
		{ "qsort", "stdlib/msort.c" },
		{ "memcpy", "memcpy.c" },
		{ "__memmove_avx_unaligned_erms", "memmove-vec-unaligned-erms.S" },
	};
	char libc[512], cmd[1024], debug[600], *out, *p;
	struct dwarfsrc *d;
	struct sym *syms;
	struct cmp_stats st;
	uint64_t addrs[64];
	size_t nr_syms = 0, n = 0, i, j;
	int err;

	if (!find_libc(libc, sizeof(libc))) {
		SKIP("libc", "libc.so not found in /proc/self/maps");
		return;
	}
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' | awk '/Build ID/ { print $3 }'", libc);
	out = read_cmd(cmd);
	if (!out || strlen(out) < 3) {
		SKIP("libc", "no build id in %s", libc);
		free(out);
		return;
	}
	out[strcspn(out, "\n")] = '\0';
	snprintf(debug, sizeof(debug), "/usr/lib/debug/.build-id/%.2s/%s.debug", out, out + 2);
	free(out);
	if (access(debug, R_OK) != 0) {
		SKIP("libc", "no %s: install libc6-dbg", debug);
		return;
	}

	syms = read_syms(debug, keep_func, &nr_syms);
	d = dwarfsrc__open(debug);
	CHECK(d, "libc: open debug file", "%s: %s", debug, strerror(errno));
	if (!d || !syms)
		goto cleanup;
	for (i = 0; i < sizeof(funcs) / sizeof(funcs[0]); i++) {
		struct srcline fr[DWARFSRC_FRAMES_MAX];
		char name[128];
		int nr = 0;

		for (j = 0; j < nr_syms; j++) {
			if (!strcmp(syms[j].name, funcs[i][0]))
				break;
		}
		snprintf(name, sizeof(name), "libc: %s resolves to %s", funcs[i][0], funcs[i][1]);
		if (j == nr_syms) {
			SKIP(name, "no symbol %s", funcs[i][0]);
			continue;
		}
		addrs[n++] = syms[j].addr;
		addrs[n++] = syms[j].addr + syms[j].size / 2;
		nr = dwarfsrc__lookup(d, syms[j].addr + syms[j].size / 2, fr, DWARFSRC_FRAMES_MAX);
		p = nr > 0 && fr[nr - 1].file ? strstr(fr[nr - 1].file, funcs[i][1]) : NULL;
		CHECK(p && strlen(p) == strlen(funcs[i][1]) && fr[0].line > 0, name, "%d frames, %s:%d", nr,
		      nr > 0 && fr[nr - 1].file ? fr[nr - 1].file : "??", nr > 0 ? fr[0].line : 0);
		if (nr > 0)
			printf("# libc %s+0x%llx: %s at %s:%d (%d frames)\n", funcs[i][0],
			       (unsigned long long)(syms[j].size / 2), fr[nr - 1].function ? fr[nr - 1].function : "??",
			       fr[0].file ? fr[0].file : "??", fr[0].line, nr);
	}
	/* Both ends and the middle of each, against addr2line on the same
	 * file. glibc's internal aliases make the linkage name differ from
	 * DW_AT_name (__GI___libc_malloc, __libc_malloc): addr2line shows the
	 * linkage name, which is our system_name. */
	snprintf(cmd, sizeof(cmd), "addr2line -a -i -f -e '%s'", debug);
	err = compare_ref(d, cmd, NAMES_MANGLED, addrs, n, &st);
	CHECK(!err && n && !st.mismatches, "libc: same frames as addr2line", "%s; %zu of %zu differ",
	      err ? strerror(-err) : "ran", st.mismatches, st.addrs);
	sample_libc(d, debug, syms, nr_syms);
	bench("libc", debug);

cleanup:
	dwarfsrc__free(d);
	free(syms);
}

/* ---- 5. No DWARF, bad input ---- */

static void test_errors(void)
{
	struct srcline fr[4];
	char cmd[2048], path[512], big[DEMANGLE_MAX_LEN + 64];
	struct dwarfsrc *d;
	struct sym *syms;
	size_t nr_syms = 0, i;
	uint64_t bad[] = { 0, 1, 0xfff, 0x7fffffff0000ull, UINT64_MAX, 0 };
	int nr, bad_nr = 0;
	char *s;

	snprintf(path, sizeof(path), "%s/prog-gcc", dir);
	snprintf(cmd, sizeof(cmd), "strip -o '%s/stripped' '%s' && objcopy --only-keep-debug '%s' '%s/prog.debug'",
		 dir, path, path, dir);
	if (sh(cmd) != 0) {
		CHECK(0, "errors: strip", "%s", cmd);
		return;
	}
	snprintf(path, sizeof(path), "%s/stripped", dir);
	errno = 0;
	d = dwarfsrc__open(path);
	CHECK(!d && errno == ENOENT, "errors: stripped binary is ENOENT", "%p, %s", (void *)d, strerror(errno));
	dwarfsrc__free(d);
	snprintf(path, sizeof(path), "%s/a.c", dir);
	errno = 0;
	d = dwarfsrc__open(path);
	CHECK(!d && errno == ENOEXEC, "errors: not ELF is ENOEXEC", "%s", strerror(errno));
	errno = 0;
	d = dwarfsrc__open("/nonexistent/prog");
	CHECK(!d && errno == ENOENT, "errors: missing file is ENOENT", "%s", strerror(errno));

	/* A separate debug file (objcopy --only-keep-debug) answers for the
	 * stripped binary: same addresses. */
	snprintf(path, sizeof(path), "%s/prog.debug", dir);
	d = dwarfsrc__open(path);
	CHECK(d, "errors: --only-keep-debug file opens", "%s", strerror(errno));
	if (!d)
		return;
	snprintf(path, sizeof(path), "%s/prog-gcc", dir);
	syms = read_syms(path, NULL, &nr_syms);
	for (i = 0; i < nr_syms; i++) {
		if (!strcmp(syms[i].name, "sink"))
			bad[sizeof(bad) / sizeof(bad[0]) - 1] = syms[i].addr;
		if (!strcmp(syms[i].name, "work_a")) {
			nr = dwarfsrc__lookup(d, syms[i].addr, fr, 4);
			CHECK(nr >= 1 && fr[nr - 1].function && !strcmp(fr[nr - 1].function, "work_a"),
			      "errors: debug file names work_a", "%d frames", nr);
		}
	}
	free(syms);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		nr = dwarfsrc__lookup(d, bad[i], fr, 4);
		if (nr != 0) {
			bad_nr++;
			printf("# 0x%llx gave %d\n", (unsigned long long)bad[i], nr);
		}
	}
	CHECK(!bad_nr, "errors: addresses outside code give 0", "%d did not", bad_nr);
	CHECK(dwarfsrc__lookup(d, 0x1000, fr, 0) == 0, "errors: max 0 gives 0", "nonzero");
	CHECK(dwarfsrc__lookup(NULL, 0x1000, fr, 4) == -EINVAL && dwarfsrc__lookup(d, 0x1000, NULL, 4) == -EINVAL,
	      "errors: NULL arguments are -EINVAL", "not");
	dwarfsrc__free(d);
	dwarfsrc__free(NULL);

	s = demangle("main");
	CHECK(!s && errno == EINVAL, "demangle: plain C name is NULL", "%s", s);
	free(s);
	s = demangle("_Zfoo_not_valid");
	CHECK(!s, "demangle: invalid is NULL", "%s", s);
	free(s);
	CHECK(!demangle(NULL), "demangle: NULL is NULL", "not");
	memset(big, 'A', sizeof(big));
	memcpy(big, "_ZN3foo", 7);
	big[sizeof(big) - 1] = '\0';
	s = demangle(big);
	CHECK(!s, "demangle: over DEMANGLE_MAX_LEN is NULL", "%.40s", s);
	free(s);
	s = demangle("_ZN3foo3barEv");
	CHECK(s && !strcmp(s, "foo::bar()"), "demangle: C++ with parameters", "%s", s);
	free(s);
	s = demangle("_ZNKSs4sizeEv");
	CHECK(s && !strcmp(s, "std::string::size() const"), "demangle: not verbose", "%s", s);
	free(s);
	s = demangle("_Z3fooi.isra.0");
	CHECK(s && !strcmp(s, "foo(int) [clone .isra.0]"), "demangle: clone suffix", "%s", s);
	free(s);
	s = demangle("_ZN4demo5Point4norm17h0123456789abcdefE");
	CHECK(s && !strcmp(s, "demo::Point::norm"), "demangle: Rust legacy without hash", "%s", s);
	free(s);
	{
		/* 16 bytes whose v0 backreferences make libiberty's text run
		 * away (2.8 GB in 18 s before): given up at DEMANGLE_MAX_OUT */
		struct timespec t0, t1;
		double ms;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		errno = 0;
		s = demangle("_RYDGLORRYDGLOR_");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		CHECK(!s && ms < 1000, "demangle: a runaway Rust name is given up, fast",
		      "%s after %.0f ms", s ? "demangled" : "NULL", ms);
		printf("# runaway name: %s in %.1f ms\n", strerror(errno), ms);
		free(s);

		/* a binder of 2^60 lifetimes: libiberty loops writing nothing */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		errno = 0;
		s = demangle("_RNvC1r3f33YDGRDYDGRDRR_");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
		CHECK(!s && errno == ETIME && ms < 1000,
		      "demangle: a Rust name that loops writing nothing is given up at its CPU limit",
		      "%s, %s after %.0f ms", s ? "demangled" : "NULL", strerror(errno), ms);
		free(s);
		/* and the timer is left disarmed: names after it demangle */
		for (int i = 0; i < 3; i++) {
			s = demangle("_RNvCs1234_7mycrate3foo");
			CHECK(s && !strcmp(s, "mycrate::foo"), "demangle: a Rust name after a timed-out one",
			      "%s", s ? s : strerror(errno));
			free(s);
		}
	}
}

static void test_sibling_loops(void)
{
	char cmd[1024], path[512];
	struct srcline fr[8];
	struct timespec t0, t1;
	struct dwarfsrc *d;
	struct sym *syms;
	size_t nr_syms = 0;
	int n, looked = 0;
	uint64_t before;
	double ms;

	/* tests/tools/craft points the DW_AT_sibling of every DIE with
	 * children, in the first unit, at its own first child: a walk that
	 * follows them meets each subtree again, exponentially often */
	snprintf(path, sizeof(path), "%s/siblings", dir);
	snprintf(cmd, sizeof(cmd), "build/tests/craft sibling-loop '%s/prog-gcc' '%s' >/dev/null", dir, path);
	n = sh(cmd);
	CHECK(n == 0, "sibling loops: links rewritten (build/tests/craft)", "exit %d", n);
	if (n)
		return;
	syms = read_syms(path, NULL, &nr_syms);
	before = hostile__get(HOSTILE_DWARF);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	d = dwarfsrc__open(path);
	for (size_t i = 0; d && i < nr_syms; i++)
		if (dwarfsrc__lookup(d, syms[i].addr, fr, 8) >= 0)
			looked++;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
	CHECK(d && ms < 2000, "sibling loops: every lookup returns, in bounded time",
	      "%s, %d of %zu lookups in %.0f ms", d ? "opened" : "not opened", looked, nr_syms, ms);
	CHECK(hostile__get(HOSTILE_DWARF) > before, "sibling loops: the walk refused them, counted",
	      "counter %llu", (unsigned long long)hostile__get(HOSTILE_DWARF));
	dwarfsrc__free(d);
	free(syms);
}

int main(int argc, char **argv)
{
	char cmd[600];

	/* test_dwarfsrc --bench FILE: only the cost per address on FILE. */
	if (argc == 3 && !strcmp(argv[1], "--bench")) {
		bench(argv[2], argv[2]);
		return 0;
	}
	if (!mkdtemp(dir)) {
		CHECK(0, "setup: mkdtemp", "%s", strerror(errno));
		return CHECK_EXIT();
	}
	test_c();
	test_cxx();
	test_rust();
	test_libc();
	test_errors();
	test_sibling_loops();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return CHECK_EXIT();
}
