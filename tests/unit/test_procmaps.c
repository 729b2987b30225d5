// SPDX-License-Identifier: GPL-2.0
/* procmaps: parsing tricky maps text, lookups at boundaries, /proc/self/maps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include "check.h"
#include "procmaps.h"

/* Out of order on purpose (sorting), with every kind of line we must keep
 * or drop. The last line has no newline. */
static const char maps_text[] =
	"7f0000001000-7f0000002000 r-xp 00002000 fd:00 43                         /tmp/gone.so (deleted)\n"
	"55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234                       /usr/bin/prog\n"
	"55d0c0a01000-55d0c0a05000 r-xp 00001000 08:01 1234                       /usr/bin/prog\n"
	"55d0c0a05000-55d0c0a06000 rw-p 00005000 08:01 1234                       /usr/bin/prog\n"
	"7f0000000000-7f0000001000 r-xp 00000000 103:02 42                        /tmp/my lib  with spaces.so\n"
	"7f0000003000-7f0000004000 rwxp 00000000 00:00 0 \n"
	"7f0000005000-7f0000006000 rw-p 00000000 00:00 0                          [heap]\n"
	"\n"
	"bogus line\n"
	"12345-zzz r-xp 00000000 00:00 0 /x\n"
	"9000-8000 r-xp 00000000 00:00 0 /reversed\n"
	"a000-b000 r-xp 00000000 00:00 12abc /badinode\n"
	"a000-b000 r-xp\n"
	"c000-d000 r-xp 00000000 0000 1 /nocolon\n"
	"ffffffffffffffffff-1 r-xp 00000000 00:00 0 /overflow\n"
	"7ffd12345000-7ffd12347000 r-xp 00000000 00:00 0                          [vdso]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

static void test_parse(void)
{
	struct procmaps m = { 0 };
	const struct procmap *p;
	char *buf;
	size_t len = sizeof(maps_text) - 1;
	int err;

	/* An exact-size copy without a NUL: valgrind catches any overread. */
	buf = malloc(len);
	if (!buf) {
		CHECK(0, "parse: alloc", "out of memory");
		return;
	}
	memcpy(buf, maps_text, len);
	err = procmaps__parse(buf, len, &m);
	free(buf);
	CHECK(err == 0, "parse: returns 0", "err %d", err);
	CHECK(m.nr == 6, "parse: keeps 6 executable mappings", "nr %zu", m.nr);
	if (m.nr != 6)
		goto out;

	CHECK(m.maps[0].start == 0x55d0c0a01000 && m.maps[0].end == 0x55d0c0a05000 &&
	      m.maps[0].offset == 0x1000 && m.maps[0].dev == makedev(8, 1) &&
	      m.maps[0].inode == 1234 && m.maps[0].path &&
	      !strcmp(m.maps[0].path, "/usr/bin/prog"),
	      "parse: plain file mapping, sorted first", "got %lx-%lx %lx %s",
	      (unsigned long)m.maps[0].start, (unsigned long)m.maps[0].end,
	      (unsigned long)m.maps[0].offset, m.maps[0].path ? m.maps[0].path : "(null)");
	CHECK(m.maps[1].start == 0x7f0000000000 && m.maps[1].dev == makedev(0x103, 2) &&
	      m.maps[1].inode == 42 && m.maps[1].path &&
	      !strcmp(m.maps[1].path, "/tmp/my lib  with spaces.so"),
	      "parse: path with spaces, 3-digit major", "path '%s' dev %lx",
	      m.maps[1].path ? m.maps[1].path : "(null)", (unsigned long)m.maps[1].dev);
	CHECK(m.maps[2].start == 0x7f0000001000 && m.maps[2].offset == 0x2000 &&
	      m.maps[2].path && !strcmp(m.maps[2].path, "/tmp/gone.so (deleted)"),
	      "parse: (deleted) suffix kept", "path '%s'",
	      m.maps[2].path ? m.maps[2].path : "(null)");
	CHECK(m.maps[3].start == 0x7f0000003000 && !m.maps[3].path && !m.maps[3].inode,
	      "parse: anonymous exec mapping has NULL path", "path '%s'",
	      m.maps[3].path ? m.maps[3].path : "(null)");
	CHECK(m.maps[4].path && !strcmp(m.maps[4].path, "[vdso]") &&
	      m.maps[4].end == 0x7ffd12347000,
	      "parse: [vdso] kept", "path '%s'", m.maps[4].path ? m.maps[4].path : "(null)");
	CHECK(m.maps[5].path && !strcmp(m.maps[5].path, "[vsyscall]") &&
	      m.maps[5].start == 0xffffffffff600000ull,
	      "parse: --xp [vsyscall] kept, no trailing newline", "path '%s'",
	      m.maps[5].path ? m.maps[5].path : "(null)");

	p = procmaps__find(&m, 0x55d0c0a01000);
	CHECK(p == &m.maps[0], "find: first byte", "got %p", (const void *)p);
	p = procmaps__find(&m, 0x55d0c0a04fff);
	CHECK(p == &m.maps[0], "find: last byte", "got %p", (const void *)p);
	p = procmaps__find(&m, 0x55d0c0a05000);
	CHECK(p == NULL, "find: end is exclusive", "got %p", (const void *)p);
	p = procmaps__find(&m, 0x55d0c0a00fff);
	CHECK(p == NULL, "find: before first", "got %p", (const void *)p);
	p = procmaps__find(&m, 0);
	CHECK(p == NULL, "find: zero", "got %p", (const void *)p);
	p = procmaps__find(&m, 0x7f0000001000);
	CHECK(p == &m.maps[2], "find: adjacent mappings split at start", "got %p",
	      (const void *)p);
	p = procmaps__find(&m, 0x7f0000002800);
	CHECK(p == NULL, "find: gap between mappings", "got %p", (const void *)p);
	p = procmaps__find(&m, 0xffffffffff600fffull);
	CHECK(p == &m.maps[5], "find: last byte of last mapping", "got %p", (const void *)p);
	p = procmaps__find(&m, UINT64_MAX);
	CHECK(p == NULL, "find: above everything", "got %p", (const void *)p);

out:
	procmaps__clear(&m);
	CHECK(m.maps == NULL && m.nr == 0, "clear: empties", "nr %zu", m.nr);
	procmaps__clear(&m);	/* twice is fine */
	procmaps__clear(NULL);
}

static void test_edge_inputs(void)
{
	struct procmaps m = { 0 };
	int err;

	err = procmaps__parse("", 0, &m);
	CHECK(err == 0 && m.nr == 0 && !m.maps, "parse: empty text", "err %d nr %zu", err, m.nr);
	err = procmaps__parse(NULL, 0, &m);
	CHECK(err == 0 && m.nr == 0, "parse: NULL, 0", "err %d", err);
	err = procmaps__parse(NULL, 5, &m);
	CHECK(err == -EINVAL, "parse: NULL with length", "err %d", err);
	err = procmaps__parse("x", 1, NULL);
	CHECK(err == -EINVAL, "parse: NULL out", "err %d", err);
	/* Length cuts the line in the middle of the path. */
	err = procmaps__parse("1000-2000 r-xp 00000000 08:01 7 /bin/truncated",
			      strlen("1000-2000 r-xp 00000000 08:01 7 /bin/tr"), &m);
	CHECK(err == 0 && m.nr == 1 && m.maps[0].path && !strcmp(m.maps[0].path, "/bin/tr"),
	      "parse: bounded by len", "err %d nr %zu", err, m.nr);
	procmaps__clear(&m);
	CHECK(procmaps__find(NULL, 1) == NULL, "find: NULL maps", "not NULL");
	CHECK(procmaps__find(&m, 1) == NULL, "find: empty maps", "not NULL");
}

/* Garbage made of the characters maps lines use: must never crash, and
 * whatever is kept must be sane. Deterministic, so failures reproduce. */
static void test_garbage(void)
{
	static const char alphabet[] = "0123456789abcdef-: \t\nrwxp/[]()del";
	unsigned int seed = 12345;
	char buf[512];
	int round, bad = 0, kept = 0;
	size_t i;

	for (round = 0; round < 2000; round++) {
		struct procmaps m = { 0 };
		size_t len = 1 + (size_t)(rand_r(&seed) % sizeof(buf));

		for (i = 0; i < len; i++)
			buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
		/* Every few rounds start from a valid prefix so that deeper
		 * parts of the parser get exercised too. */
		if (round % 3 == 0 && len > 40)
			memcpy(buf, "1000-2000 r-xp 00000000 08:01 7 ", 32);
		if (procmaps__parse(buf, len, &m)) {
			bad++;
			continue;
		}
		for (i = 0; i < m.nr; i++) {
			kept++;
			if (m.maps[i].start >= m.maps[i].end || (i && m.maps[i - 1].start > m.maps[i].start))
				bad++;
		}
		procmaps__clear(&m);
	}
	CHECK(bad == 0, "parse: garbage never yields bad mappings", "%d bad (%d kept)", bad, kept);
}

static void test_self(void)
{
	struct procmaps m = { 0 };
	const struct procmap *p;
	size_t i;
	int err, sorted = 1;

	err = procmaps__read(getpid(), &m);
	CHECK(err == 0 && m.nr > 0, "read: /proc/self/maps", "err %d nr %zu", err, m.nr);
	for (i = 1; i < m.nr; i++)
		if (m.maps[i - 1].start > m.maps[i].start)
			sorted = 0;
	CHECK(sorted, "read: sorted", "not sorted");
	p = procmaps__find(&m, (uint64_t)(uintptr_t)&test_self);
	CHECK(p && p->path && p->inode, "read: own code mapped from a file", "%s",
	      p && p->path ? p->path : "(none)");
	if (p && p->path) {
		struct stat st;
		uint64_t want = 0;

		if (!stat(p->path, &st))
			want = ((uint64_t)st.st_ctim.tv_sec * 1000000000ull +
				(uint64_t)st.st_ctim.tv_nsec) ^
			       ((uint64_t)st.st_size * 0x9e3779b97f4a7c15ull);
		CHECK(p->stamp && p->stamp == want, "read: own file's stamp is its ctime and size",
		      "%llx, stat gives %llx", (unsigned long long)p->stamp,
		      (unsigned long long)want);
	}
	p = procmaps__find(&m, (uint64_t)(uintptr_t)&getpid);
	CHECK(p && p->path && strstr(p->path, "libc"), "read: libc code found", "%s",
	      p && p->path ? p->path : "(none)");
	procmaps__clear(&m);

	err = procmaps__read(0x7ffffff0, &m);
	CHECK(err == -ENOENT || err == -ESRCH, "read: missing pid", "err %d", err);
	err = procmaps__read(-1, &m);
	CHECK(err == -EINVAL, "read: bad pid", "err %d", err);
}

int main(void)
{
	test_parse();
	test_edge_inputs();
	test_garbage();
	test_self();
	return CHECK_EXIT();
}
