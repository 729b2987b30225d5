// SPDX-License-Identifier: GPL-2.0
/*
 * perfmap: parsing real and broken perf maps, overlaps against a brute-force
 * model, refresh, the bounds, the path through /proc/PID/root.
 * "test_perfmap --bench" times a 100,000-line map instead.
 */
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "perfmap.h"

static char dir[] = "/tmp/test_perfmap.XXXXXX";

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static int write_bytes(const char *path, const char *data, size_t len, const char *mode)
{
	FILE *f = fopen(path, mode);
	int err = 0;

	if (!f)
		return -errno;
	if (len && fwrite(data, 1, len, f) != len)
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	return err;
}

static int write_text(const char *path, const char *text, const char *mode)
{
	return write_bytes(path, text, strlen(text), mode);
}

/* addr resolves to name (NULL: to nothing) starting at start. */
static void expect(const struct perfmap *m, uint64_t addr, const char *name, uint64_t start,
		   const char *what)
{
	uint64_t got_start = 0xdead;
	const char *got = perfmap__lookup(m, addr, &got_start);
	char label[160];

	snprintf(label, sizeof(label), "%s: 0x%llx", what, (unsigned long long)addr);
	if (!name) {
		CHECK(!got, label, "expected nothing, got \"%s\"", got);
		return;
	}
	CHECK(got && !strcmp(got, name) && got_start == start, label,
	      "expected \"%s\" at 0x%llx, got \"%s\" at 0x%llx", name,
	      (unsigned long long)start, got ? got : "(null)", (unsigned long long)got_start);
}

static void test_parse(void)
{
	static const char text[] =
		"7f0000001000 100 LazyCompile:~main /app/index.js:1\n"
		"0x7f0000001100 0x80 Builtin: (anonymous function) [native]\n"
		"0X7F0000002000 0X40 UPPER CASE\n"
		"  7f0000003000\t20\t  tabs, leading blanks and CRLF  \r\n"
		"\n"
		"7f0000004000 10 Ljava/lang/String;::hashCode()I\n"
		"00000000000000007f0000005000 8 last line, no newline";
	char path[256];
	struct perfmap *m;

	tmp_path(path, sizeof(path), "parse.map");
	write_text(path, text, "w");
	m = perfmap__open(path);
	CHECK(m, "parse: opens", "errno %d", errno);
	if (!m)
		return;
	CHECK(perfmap__nr(m) == 6 && perfmap__skipped(m) == 0, "parse: 6 entries, none skipped",
	      "nr %zu skipped %zu", perfmap__nr(m), perfmap__skipped(m));
	expect(m, 0x7f0000001000, "LazyCompile:~main /app/index.js:1", 0x7f0000001000, "parse: start");
	expect(m, 0x7f00000010ff, "LazyCompile:~main /app/index.js:1", 0x7f0000001000, "parse: end-1");
	expect(m, 0x7f0000001100, "Builtin: (anonymous function) [native]", 0x7f0000001100,
	       "parse: adjacent, 0x prefixes");
	expect(m, 0x7f000000117f, "Builtin: (anonymous function) [native]", 0x7f0000001100,
	       "parse: end-1 of 0x entry");
	expect(m, 0x7f0000001180, NULL, 0, "parse: end");
	expect(m, 0x7f0000001800, NULL, 0, "parse: gap");
	expect(m, 0x7f0000000fff, NULL, 0, "parse: below first");
	expect(m, 0, NULL, 0, "parse: zero");
	expect(m, UINT64_MAX, NULL, 0, "parse: top of address space");
	expect(m, 0x7f0000002020, "UPPER CASE", 0x7f0000002000, "parse: upper-case hex");
	expect(m, 0x7f000000301f, "tabs, leading blanks and CRLF", 0x7f0000003000,
	       "parse: tabs and CRLF trimmed");
	expect(m, 0x7f0000004000, "Ljava/lang/String;::hashCode()I", 0x7f0000004000,
	       "parse: JVM name");
	expect(m, 0x7f0000005007, "last line, no newline", 0x7f0000005000,
	       "parse: unterminated last line, leading zeros");
	expect(m, 0x7f0000005008, NULL, 0, "parse: end of last");
	CHECK(perfmap__mem(m) > 0, "parse: mem counted", "mem %zu", perfmap__mem(m));
	perfmap__free(m);
}

static void test_malformed(void)
{
	static const char text[] =
		"zz 10 bad_hex\n"
		"1000\n"
		"1000 10\n"
		"1000 10   \t \n"
		"1000 0 zero_size\n"
		"ffffffffffffff00 100 wraps\n"
		"10000000000000000 10 too_many_digits\n"
		"0x 10 empty_0x\n"
		"1000 -10 negative\n"
		"1000,10 comma\n"
		"1000 10z glued\n"
		"g1000 10 bad_start\n"
		"1000 0x fn\n"
		"# comment\n"
		"\x01\x02\xff\xfe garbage\n"
		"2000 10 good1\n"
		"\n"
		"   \n"
		"3000 10 good2\n"
		"ffffffffffffff00 ff near_top\n"
		"1000 10 \0name after a NUL\n"
		"4000 10 ok\0junk after a NUL\n";
	char path[256], *big;
	size_t biglen = PERFMAP_MAX_LINE + 5000;
	struct perfmap *m;

	tmp_path(path, sizeof(path), "malformed.map");
	write_bytes(path, text, sizeof(text) - 1, "w");
	/* A line longer than the longest kept, then a good one. */
	big = malloc(biglen + 1);
	if (!big) {
		CHECK(0, "malformed: alloc", "out of memory");
		return;
	}
	memset(big, 'x', biglen);
	memcpy(big, "5000 10 ", 8);
	big[biglen - 1] = '\n';
	write_bytes(path, big, biglen, "a");
	free(big);
	write_text(path, "6000 10 after_long", "a");

	m = perfmap__open(path);
	CHECK(m, "malformed: opens", "errno %d", errno);
	if (!m)
		return;
	CHECK(perfmap__nr(m) == 5, "malformed: 5 good lines", "nr %zu", perfmap__nr(m));
	CHECK(perfmap__skipped(m) == 17, "malformed: 17 bad lines counted, blanks not",
	      "skipped %zu", perfmap__skipped(m));
	expect(m, 0x1000, NULL, 0, "malformed: nothing from bad lines");
	expect(m, 0x200f, "good1", 0x2000, "malformed: good line kept");
	expect(m, 0x3000, "good2", 0x3000, "malformed: good line kept");
	expect(m, 0xfffffffffffffffe, "near_top", 0xffffffffffffff00, "malformed: entry up to 2^64-1");
	expect(m, UINT64_MAX, NULL, 0, "malformed: 2^64-1 itself");
	expect(m, 0x4000, "ok", 0x4000, "malformed: name cut at NUL");
	expect(m, 0x5000, NULL, 0, "malformed: long line skipped");
	expect(m, 0x6000, "after_long", 0x6000, "malformed: line after a long one");
	perfmap__free(m);
}

static void test_overlaps(void)
{
	static const char text[] =
		"1000 100 A\n"		/* split by B */
		"1040 20 B\n"
		"2000 100 C\n"		/* replaced by D, same range */
		"2000 100 D\n"
		"3000 100 E\n"		/* head covered by F */
		"2f80 100 F\n"
		"4000 10 G\n"		/* adjacent to H */
		"4010 10 H\n"
		"5000 100 I\n"		/* swallowed by J */
		"4f00 300 J\n"
		"6000 100 K\n"		/* tail covered by L, then a hole punched into L by M */
		"6080 100 L\n"
		"60c0 10 M\n"
		"7000 10 N\n"		/* an earlier, larger entry does not win over N */
		"8000 100 Q\n"
		"7000 2000 big\n"	/* ...but a later one does */
		"9000 10 R\n";
	char path[256];
	struct perfmap *m;

	tmp_path(path, sizeof(path), "overlap.map");
	write_text(path, text, "w");
	m = perfmap__open(path);
	CHECK(m, "overlap: opens", "errno %d", errno);
	if (!m)
		return;
	CHECK(perfmap__nr(m) == 17, "overlap: all 17 entries counted", "nr %zu", perfmap__nr(m));
	expect(m, 0x1000, "A", 0x1000, "overlap: split, first part");
	expect(m, 0x103f, "A", 0x1000, "overlap: split, end of first part");
	expect(m, 0x1040, "B", 0x1040, "overlap: splitter start");
	expect(m, 0x105f, "B", 0x1040, "overlap: splitter end-1");
	expect(m, 0x1060, "A", 0x1000, "overlap: split, second part keeps entry start");
	expect(m, 0x10ff, "A", 0x1000, "overlap: split, end-1");
	expect(m, 0x1100, NULL, 0, "overlap: split, end");
	expect(m, 0x2000, "D", 0x2000, "overlap: same range, later wins");
	expect(m, 0x20ff, "D", 0x2000, "overlap: same range, end-1");
	expect(m, 0x2f80, "F", 0x2f80, "overlap: later entry below");
	expect(m, 0x307f, "F", 0x2f80, "overlap: later entry covers head");
	expect(m, 0x3080, "E", 0x3000, "overlap: rest of earlier entry");
	expect(m, 0x30ff, "E", 0x3000, "overlap: rest, end-1");
	expect(m, 0x400f, "G", 0x4000, "overlap: adjacent, end-1 of first");
	expect(m, 0x4010, "H", 0x4010, "overlap: adjacent, start of second");
	expect(m, 0x4020, NULL, 0, "overlap: adjacent, end");
	expect(m, 0x5000, "J", 0x4f00, "overlap: swallowed");
	expect(m, 0x51ff, "J", 0x4f00, "overlap: swallower end-1");
	expect(m, 0x5200, NULL, 0, "overlap: swallower end");
	expect(m, 0x607f, "K", 0x6000, "overlap: before tail cover");
	expect(m, 0x6080, "L", 0x6080, "overlap: tail cover");
	expect(m, 0x60c0, "M", 0x60c0, "overlap: hole in a cover");
	expect(m, 0x60d0, "L", 0x6080, "overlap: after hole");
	expect(m, 0x617f, "L", 0x6080, "overlap: cover end-1");
	expect(m, 0x6180, NULL, 0, "overlap: cover end");
	expect(m, 0x7000, "big", 0x7000, "overlap: later big entry");
	expect(m, 0x8050, "big", 0x7000, "overlap: later big entry over Q");
	expect(m, 0x8fff, "big", 0x7000, "overlap: big end-1");
	expect(m, 0x9000, "R", 0x9000, "overlap: adjacent after big");
	perfmap__free(m);
}

/* Random maps, dense with overlaps, against the definition: the last line
 * whose range holds the address. Every address of the range is checked. */
static void test_random(void)
{
	static const struct {
		unsigned int nr, span, max_size;
	} rounds[] = {
		{ 3000, 0x4000, 0x200 },
		{ 500, 0x10000, 0x40 },		/* sparse: many gaps */
		{ 2000, 0x2000, 0x1000 },	/* huge overlaps */
		{ 1, 0x100, 0x10 },
	};
	const uint64_t base = 0x7f1234560000;
	unsigned int r, i, bad, checked;
	uint64_t *start = NULL, *end = NULL, a, got_start;
	char path[256], line[128], name[32];
	struct perfmap *m;
	const char *got;
	FILE *f;

	srand(42);
	for (r = 0; r < sizeof(rounds) / sizeof(rounds[0]); r++) {
		start = calloc(rounds[r].nr, sizeof(*start));
		end = calloc(rounds[r].nr, sizeof(*end));
		tmp_path(path, sizeof(path), "random.map");
		f = fopen(path, "w");
		if (!start || !end || !f) {
			CHECK(0, "random: setup", "errno %d", errno);
			goto next;
		}
		for (i = 0; i < rounds[r].nr; i++) {
			start[i] = base + (uint64_t)(rand() % rounds[r].span);
			end[i] = start[i] + 1 + (uint64_t)(rand() % rounds[r].max_size);
			snprintf(line, sizeof(line), i % 3 ? "%llx %llx f%u\n" : "0x%llx 0x%llx f%u\n",
				 (unsigned long long)start[i],
				 (unsigned long long)(end[i] - start[i]), i);
			fputs(line, f);
		}
		fclose(f);
		m = perfmap__open(path);
		if (!m) {
			CHECK(0, "random: opens", "errno %d", errno);
			goto next;
		}
		bad = checked = 0;
		for (a = base - 0x10; a < base + rounds[r].span + rounds[r].max_size + 0x10; a++) {
			const char *want = NULL;
			uint64_t want_start = 0;

			for (i = rounds[r].nr; i-- > 0;) {
				if (start[i] <= a && a < end[i]) {
					snprintf(name, sizeof(name), "f%u", i);
					want = name;
					want_start = start[i];
					break;
				}
			}
			got = perfmap__lookup(m, a, &got_start);
			checked++;
			if (want ? !got || strcmp(got, want) || got_start != want_start : got != NULL) {
				if (!bad++)
					printf("# random round %u: at 0x%llx want %s got %s\n", r,
					       (unsigned long long)a, want ? want : "(null)",
					       got ? got : "(null)");
			}
		}
		snprintf(line, sizeof(line), "random: %u entries over 0x%x bytes match the model",
			 rounds[r].nr, rounds[r].span);
		CHECK(!bad && perfmap__nr(m) == rounds[r].nr, line, "%u of %u addresses wrong, nr %zu",
		      bad, checked, perfmap__nr(m));
		perfmap__free(m);
next:
		free(start);
		free(end);
	}
}

static void test_refresh(void)
{
	char path[256], tmp[256];
	struct perfmap *m = NULL, *old;
	int err;

	tmp_path(path, sizeof(path), "refresh.map");
	tmp_path(tmp, sizeof(tmp), "refresh.tmp");
	unlink(path);

	err = perfmap__refresh(&m, path, NULL);
	CHECK(err == -ENOENT && !m, "refresh: absent file, no map", "err %d", err);

	write_text(path, "1000 10 a\n2000 10 b\n", "w");
	err = perfmap__refresh(&m, path, NULL);
	CHECK(!err && m && perfmap__nr(m) == 2, "refresh: opens when no map yet", "err %d", err);
	if (!m)
		return;

	old = m;
	err = perfmap__refresh(&m, path, NULL);
	CHECK(!err && m == old, "refresh: unchanged file is not read again", "err %d", err);

	write_text(path, "3000 10 c\n1000 10 a2\n", "a");
	err = perfmap__refresh(&m, path, NULL);
	CHECK(!err && m != old && perfmap__nr(m) == 4, "refresh: append read",
	      "err %d nr %zu", err, perfmap__nr(m));
	expect(m, 0x3000, "c", 0x3000, "refresh: appended entry");
	expect(m, 0x1000, "a2", 0x1000, "refresh: appended entry wins");
	expect(m, 0x2000, "b", 0x2000, "refresh: old entry kept");

	/* Same size, new inode: a JIT that rewrote its map. */
	old = m;
	write_text(tmp, "1000 10 x\n2000 10 y\n3000 10 z\n1000 10 w2\n", "w");
	rename(tmp, path);
	err = perfmap__refresh(&m, path, NULL);
	CHECK(!err && m != old, "refresh: replaced file read", "err %d", err);
	expect(m, 0x2000, "y", 0x2000, "refresh: replaced content");

	old = m;
	unlink(path);
	err = perfmap__refresh(&m, path, NULL);
	CHECK(err == -ENOENT && m == old, "refresh: vanished file keeps the old map", "err %d", err);
	expect(m, 0x3000, "z", 0x3000, "refresh: old map still answers");

	/* A path that cannot be read as a map: error, old map kept. */
	mkdir(path, 0700);
	err = perfmap__refresh(&m, path, NULL);
	CHECK(err == -EISDIR && m == old, "refresh: unreadable file keeps the old map", "err %d", err);
	rmdir(path);

	CHECK(perfmap__refresh(NULL, path, NULL) == -EINVAL, "refresh: NULL", "not refused");
	perfmap__free(m);
}

static void test_open_errors(void)
{
	char path[256], link[256];
	struct perfmap *m;

	tmp_path(path, sizeof(path), "absent.map");
	errno = 0;
	m = perfmap__open(path);
	CHECK(!m && errno == ENOENT, "open: absent gives ENOENT", "errno %d", errno);
	perfmap__free(m);

	errno = 0;
	m = perfmap__open(dir);
	CHECK(!m && errno == EISDIR, "open: directory refused", "errno %d", errno);
	perfmap__free(m);

	/* A FIFO planted by the process must not block the daemon. */
	tmp_path(path, sizeof(path), "fifo.map");
	if (mkfifo(path, 0600) == 0) {
		errno = 0;
		m = perfmap__open(path);
		CHECK(!m && errno == EINVAL, "open: FIFO refused without blocking", "errno %d", errno);
		perfmap__free(m);
		unlink(path);
	} else {
		SKIP("open: FIFO refused without blocking", "mkfifo: %s", strerror(errno));
	}

	tmp_path(path, sizeof(path), "target.map");
	tmp_path(link, sizeof(link), "link.map");
	write_text(path, "1000 10 a\n", "w");
	if (symlink(path, link) == 0) {
		errno = 0;
		m = perfmap__open(link);
		CHECK(!m && errno == ELOOP, "open: symlink not followed", "errno %d", errno);
		perfmap__free(m);
		unlink(link);
	} else {
		SKIP("open: symlink not followed", "symlink: %s", strerror(errno));
	}

	tmp_path(path, sizeof(path), "empty.map");
	write_text(path, "", "w");
	m = perfmap__open(path);
	CHECK(m && perfmap__nr(m) == 0 && !perfmap__lookup(m, 0x1000, NULL),
	      "open: empty file, empty map", "errno %d", errno);
	perfmap__free(m);

	errno = 0;
	CHECK(!perfmap__open(NULL) && errno == EINVAL, "open: NULL path", "errno %d", errno);
	perfmap__free(NULL);
	CHECK(!perfmap__lookup(NULL, 1, NULL) && perfmap__nr(NULL) == 0 &&
	      perfmap__skipped(NULL) == 0 && perfmap__mem(NULL) == 0,
	      "open: NULL map is empty", "not empty");
}

static int write_numbered(const char *path, unsigned int nr, const char *fmt)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f)
		return -errno;
	for (i = 0; i < nr; i++)
		fprintf(f, fmt, 0x10000 + 0x10 * i, i);
	return fclose(f) ? -EIO : 0;
}

static void test_bounds(void)
{
	char path[256], name[32];
	struct perfmap *m;

	tmp_path(path, sizeof(path), "bounds.map");
	write_numbered(path, 150, "%x 10 f%u\n");
	perfmap__set_limits(100, 0);
	m = perfmap__open(path);
	CHECK(m && perfmap__nr(m) == 100 && perfmap__skipped(m) == 50,
	      "bounds: entries capped, rest counted", "nr %zu skipped %zu",
	      perfmap__nr(m), perfmap__skipped(m));
	expect(m, 0x10000 + 0x10 * 99, "f99", 0x10000 + 0x10 * 99, "bounds: last entry kept");
	expect(m, 0x10000 + 0x10 * 100, NULL, 0, "bounds: first entry past the cap");
	perfmap__free(m);

	/* "name_NNNN" is 10 bytes with its NUL: 10 fit in 100 bytes. */
	write_numbered(path, 30, "%x 10 name_%04u\n");
	write_text(path, "100000 10 n\n", "a");	/* would fit, but comes after */
	perfmap__set_limits(0, 100);
	m = perfmap__open(path);
	CHECK(m && perfmap__nr(m) == 10 && perfmap__skipped(m) == 21,
	      "bounds: name bytes capped, rest counted", "nr %zu skipped %zu",
	      perfmap__nr(m), perfmap__skipped(m));
	expect(m, 0x10000 + 0x10 * 9, "name_0009", 0x10000 + 0x10 * 9, "bounds: last name kept");
	expect(m, 0x10000 + 0x10 * 10, NULL, 0, "bounds: first name past the cap");
	expect(m, 0x100000, NULL, 0, "bounds: nothing after the cap");
	perfmap__free(m);

	perfmap__set_limits(0, 0);
	m = perfmap__open(path);
	CHECK(m && perfmap__nr(m) == 31 && perfmap__skipped(m) == 0, "bounds: defaults restored",
	      "nr %zu skipped %zu", perfmap__nr(m), perfmap__skipped(m));
	perfmap__free(m);

	/* The real default, once: one line more than PERFMAP_MAX_ENTRIES. */
	if (write_numbered(path, PERFMAP_MAX_ENTRIES + 1, "%x 10 %x\n")) {
		SKIP("bounds: default entry cap", "cannot write %s", path);
		return;
	}
	m = perfmap__open(path);
	snprintf(name, sizeof(name), "%x", PERFMAP_MAX_ENTRIES - 1);
	CHECK(m && perfmap__nr(m) == PERFMAP_MAX_ENTRIES && perfmap__skipped(m) == 1,
	      "bounds: default entry cap", "nr %zu skipped %zu", perfmap__nr(m), perfmap__skipped(m));
	expect(m, 0x10000 + 0x10 * (uint64_t)(PERFMAP_MAX_ENTRIES - 1), name,
	       0x10000 + 0x10 * (uint64_t)(PERFMAP_MAX_ENTRIES - 1), "bounds: default cap, last kept");
	expect(m, 0x10000 + 0x10 * (uint64_t)PERFMAP_MAX_ENTRIES, NULL, 0,
	       "bounds: default cap, next refused");
	perfmap__free(m);
	unlink(path);
}

/* A child in a new pid namespace is pid 1 there: its map is perf-1.map. */
static void test_path_nspid(void)
{
	char want[128], got[128];
	pid_t child, inner = 0;
	int fds[2], err, status;

	fflush(stdout);		/* or the children print it again */
	if (pipe(fds)) {
		SKIP("path: process in a pid namespace", "pipe: %s", strerror(errno));
		return;
	}
	child = fork();
	if (child == 0) {
		pid_t gc = 0;

		close(fds[0]);
		if (unshare(CLONE_NEWPID) == 0) {
			gc = fork();
			if (gc == 0) {
				pause();
				_exit(0);
			}
		}
		if (write(fds[1], &gc, sizeof(gc)) != sizeof(gc))
			_exit(1);
		if (gc > 0)
			waitpid(gc, NULL, 0);
		_exit(0);
	}
	close(fds[1]);
	if (child < 0 || read(fds[0], &inner, sizeof(inner)) != sizeof(inner) || inner <= 0) {
		SKIP("path: process in a pid namespace", "cannot unshare(CLONE_NEWPID) here");
		goto cleanup;
	}
	err = perfmap__path((uint32_t)inner, got, sizeof(got));
	snprintf(want, sizeof(want), "/proc/%d/root/tmp/perf-1.map", (int)inner);
	CHECK(!err && !strcmp(got, want), "path: process in a pid namespace uses its NSpid",
	      "err %d got %s want %s", err, got, want);
	kill(inner, SIGKILL);
cleanup:
	close(fds[0]);
	if (child > 0)
		waitpid(child, &status, 0);
}

static void test_path(void)
{
	char want[128], got[128], tiny[8];
	uint32_t pid = (uint32_t)getpid();
	struct perfmap *m;
	int err;

	err = perfmap__path(pid, got, sizeof(got));
	snprintf(want, sizeof(want), "/proc/%u/root/tmp/perf-%u.map", pid, pid);
	CHECK(!err && !strcmp(got, want), "path: own pid", "err %d got %s want %s", err, got, want);

	err = perfmap__path(pid, tiny, sizeof(tiny));
	CHECK(err == -ENOSPC && !tiny[0], "path: small buffer", "err %d", err);
	err = perfmap__path(4194305, got, sizeof(got));	/* above the largest pid_max */
	CHECK(err == -ENOENT, "path: no such process", "err %d", err);
	err = perfmap__path(0, got, sizeof(got));
	CHECK(err == -EINVAL, "path: pid 0", "err %d", err);

	/* End to end: our own /tmp/perf-PID.map through /proc/PID/root. */
	snprintf(want, sizeof(want), "/tmp/perf-%u.map", pid);
	write_text(want, "401000 20 jitted_fn\n", "w");
	m = perfmap__open(got[0] ? got : want);
	expect(m, 0x401010, "jitted_fn", 0x401000, "path: map read through /proc/PID/root");
	perfmap__free(m);
	unlink(want);

	test_path_nspid();
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* A node-like map: 100,000 functions, 5% of them re-JITed later. */
static int bench(void)
{
	const unsigned int nr = 100000, lookups = 2000000;
	const uint64_t base = 0x3a0000000000;
	uint64_t addr = base, hit = 0;
	char path[256];
	struct perfmap *m;
	long rss0, rss1;
	double t0, t1;
	unsigned int i;
	struct stat st;
	FILE *f;

	tmp_path(path, sizeof(path), "bench.map");
	f = fopen(path, "w");
	if (!f)
		return 1;
	srand(1);
	for (i = 0; i < nr; i++) {
		unsigned int size = 0x40 + (unsigned int)(rand() % 0x400);

		if (i % 20 == 19)	/* re-JIT over an earlier function */
			fprintf(f, "%llx %x LazyCompile:*handler_%u /srv/app/node_modules/pkg/lib/file_%u.js:%u:%u\n",
				(unsigned long long)(base + (uint64_t)(rand() % (int)(addr - base))),
				size, i, i % 700, i % 300, i % 80);
		else
			fprintf(f, "%llx %x LazyCompile:~handler_%u /srv/app/node_modules/pkg/lib/file_%u.js:%u:%u\n",
				(unsigned long long)addr, size, i, i % 700, i % 300, i % 80);
		addr += size + (rand() % 4 ? 0 : 0x20);
	}
	fclose(f);
	stat(path, &st);

	rss0 = maxrss_kib();
	t0 = now();
	m = perfmap__open(path);
	t1 = now();
	rss1 = maxrss_kib();
	if (!m)
		return 1;
	printf("# parse: %u lines, %lld bytes: %.1f ms, map %zu KiB, peak RSS +%ld KiB\n", nr,
	       (long long)st.st_size, (t1 - t0) * 1e3, perfmap__mem(m) >> 10, rss1 - rss0);

	t0 = now();
	for (i = 0; i < lookups; i++) {
		uint64_t a = base + ((uint64_t)i * 2654435761u) % (addr - base);

		hit += perfmap__lookup(m, a, NULL) != NULL;
	}
	t1 = now();
	printf("# lookup: %u random addresses: %.1f ns each, %.1f%% hit\n", lookups,
	       (t1 - t0) * 1e9 / lookups, 100.0 * (double)hit / lookups);

	/* Samples land mostly in a few hot functions. */
	hit = 0;
	t0 = now();
	for (i = 0; i < lookups; i++) {
		uint64_t a = base + ((uint64_t)(i % 1000) * 2654435761u) % (addr - base);

		hit += perfmap__lookup(m, a, NULL) != NULL;
	}
	t1 = now();
	printf("# lookup: 1000 hot addresses: %.1f ns each, %.1f%% hit\n",
	       (t1 - t0) * 1e9 / lookups, 100.0 * (double)hit / lookups);
	perfmap__free(m);
	unlink(path);
	return 0;
}

/* A map is read as the process's user would read it, and only when that
 * user or root owns it (perf's rule). */
static void test_as_user(void)
{
	struct perfmap_user nobody = { 65534, 65534 };
	char secret[600], theirs[600], mine[600];
	struct perfmap *m;

	snprintf(secret, sizeof(secret), "%s/perf-secret.map", dir);
	snprintf(theirs, sizeof(theirs), "%s/perf-theirs.map", dir);
	snprintf(mine, sizeof(mine), "%s/perf-mine.map", dir);
	if (write_text(secret, "1000 10 root_only_name\n", "w") || chmod(secret, 0600) ||
	    write_text(theirs, "1000 10 another_users_name\n", "w") || chown(theirs, 65533, 65533) ||
	    chmod(theirs, 0644) || write_text(mine, "1000 10 own_name\n", "w") ||
	    chown(mine, 65534, 65534) || chmod(dir, 0755)) {
		CHECK(0, "as user: set up", "%s", strerror(errno));
		return;
	}
	errno = 0;
	m = perfmap__open_as(secret, &nobody);
	CHECK(!m && errno == EACCES, "as user: a root-only file is not read for another user",
	      "%s", m ? perfmap__lookup(m, 0x1000, NULL) : strerror(errno));
	perfmap__free(m);
	errno = 0;
	m = perfmap__open_as(theirs, &nobody);
	CHECK(!m && errno == EPERM, "as user: a map another user owns is refused", "%s",
	      m ? "read" : strerror(errno));
	perfmap__free(m);
	m = perfmap__open_as(mine, &nobody);
	CHECK(m && perfmap__lookup(m, 0x1000, NULL) &&
	      !strcmp(perfmap__lookup(m, 0x1000, NULL), "own_name"),
	      "as user: the process's own map is read", "%s", m ? "no name" : strerror(errno));
	perfmap__free(m);
	m = perfmap__open_as(secret, NULL);
	CHECK(m != NULL, "as user: the daemon itself still reads as root", "%s", strerror(errno));
	perfmap__free(m);
	CHECK(access(secret, R_OK) == 0, "as user: the thread is root again after", "%s",
	      strerror(errno));

	/* root's supplementary groups are not the user's: with root in them,
	 * a root:root 0640 file would be readable, and root owns it */
	{
		gid_t root_group = 0, after[4];
		int n;

		if (setgroups(1, &root_group) || chmod(secret, 0640)) {
			CHECK(0, "as user: set up groups", "%s", strerror(errno));
			return;
		}
		errno = 0;
		m = perfmap__open_as(secret, &nobody);
		CHECK(!m && errno == EACCES,
		      "as user: a file only root's group may read is not read through root's supplementary groups",
		      "%s", m ? perfmap__lookup(m, 0x1000, NULL) : strerror(errno));
		perfmap__free(m);
		n = getgroups(4, after);
		CHECK(n == 1 && after[0] == 0, "as user: the thread's groups are root's again after",
		      "%d groups", n);
		setgroups(0, NULL);
	}
}

int main(int argc, char **argv)
{
	char cmd[128];
	int ret;

	if (!mkdtemp(dir)) {
		printf("FAIL: setup: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--bench")) {
		ret = bench();
	} else {
		test_parse();
		test_malformed();
		test_overlaps();
		test_random();
		test_refresh();
		test_open_errors();
		test_bounds();
		test_path();
		if (geteuid() == 0)
			test_as_user();
		else
			SKIP("perf maps as the process's user", "needs root");
		ret = CHECK_EXIT();
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return ret;
}
