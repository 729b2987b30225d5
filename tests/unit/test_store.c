/* The history store against what was appended: exact bytes back in order,
 * the midpoint rule, views apart, reopen, compactness, torn and hostile
 * files, rotation, retention by size and by age, a failed write, scans
 * while windows are appended and dropped. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <zlib.h>
#include "check.h"
#include "store.h"

#define S		1000000000ll
#define T0		(1700000000ll * S)
#define MAX_GOT		512

static char root[64];

/* Window id's bytes: its id, then 1-4 KB that differ from id to id. */
static size_t window(uint32_t id, uint8_t *buf)
{
	size_t len = 1000 + (id * 37) % 3000;
	uint32_t x = id * 2654435761u + 1;

	memcpy(buf, &id, 4);
	for (size_t i = 4; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (uint8_t)(i % 7 ? 'a' + x % 8 : x);	/* partly compressible */
	}
	return len;
}

struct got {
	int n, bad, stop_after;
	uint32_t ids[MAX_GOT];
};

/* Records each window's id, and whether its bytes are those appended. */
static int collect(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw, size_t len)
{
	static uint8_t want[4096];
	struct got *g = arg;
	uint32_t id;

	if (len < 4) {
		g->bad++;
		return 0;
	}
	memcpy(&id, raw, 4);
	if (window(id, want) != len || memcmp(want, raw, len) || end_ns - start_ns != 10 * S)
		g->bad++;
	if (g->n < MAX_GOT)
		g->ids[g->n] = id;
	g->n++;
	return g->stop_after && g->n == g->stop_after ? 7 : 0;
}

static int64_t start_of(uint32_t id)
{
	return T0 + (int64_t)(id % 10000) * 10 * S;
}

static int append(struct store *s, const char *view, uint32_t id)
{
	static uint8_t buf[4096];
	size_t len = window(id, buf);

	if (!s)
		return -1;
	return store__append(s, view, start_of(id), start_of(id) + 10 * S, buf, len);
}

/* The ids a scan of view over everything returns; -1 when any is wrong. */
static int scan_all(struct store *s, const char *view, struct got *g)
{
	memset(g, 0, sizeof(*g));
	if (!s || store__scan(s, view, INT64_MIN, INT64_MAX, collect, g) || g->bad)
		return -1;
	return g->n;
}

/* Whether g holds ids first, first + 1, ... in order (n of them). */
static int run(const struct got *g, uint32_t first, int n)
{
	if (g->n != n)
		return 0;
	for (int i = 0; i < n; i++)
		if (g->ids[i] != first + (uint32_t)i)
			return 0;
	return 1;
}

static struct store *open_at(const char *sub, uint64_t max_bytes, uint64_t max_age_ns,
			     uint32_t windows)
{
	char dir[128];
	struct store_opts o = { dir, max_bytes, max_age_ns, windows };

	snprintf(dir, sizeof(dir), "%s/%s", root, sub);
	return store__open(&o);
}

/* A store that failed to open shows as empty, so its checks fail, not crash. */
static void stats(struct store *s, struct store_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (s)
		store__stats(s, st);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static void test_basic(void)
{
	struct store_view_info vi[4];
	struct store_stats st;
	struct store *s = open_at("basic", 0, 0, 0);
	const char *bad[] = { "", "CPU", "a/b", "..", "cpu-1", "x y",
			      "abcdefghijklmnopqrstuvwxyz012345" };
	int err = 0, nbad = 0, ids;
	struct got g;
	size_t nr;

	CHECK(s, "store: open creates the directory", "%s", strerror(errno));
	if (!s)
		return;
	for (uint32_t i = 0; i < 20; i++)
		err |= append(s, "cpu", i);
	for (uint32_t i = 10000; i < 10005; i++)
		err |= append(s, "heap", i);
	CHECK(!err, "store: append", "%d", err);
	CHECK(scan_all(s, "cpu", &g) == 20 && run(&g, 0, 20),
	      "store: scan returns every window's exact bytes in time order",
	      "%d windows, %d wrong", g.n, g.bad);
	CHECK(scan_all(s, "heap", &g) == 5 && run(&g, 10000, 5), "store: two views kept apart",
	      "%d windows, %d wrong", g.n, g.bad);

	/* window 2's midpoint is T0 + 25 s: in; window 5's is T0 + 55 s: out */
	memset(&g, 0, sizeof(g));
	err = store__scan(s, "cpu", T0 + 25 * S, T0 + 55 * S, collect, &g);
	CHECK(!err && run(&g, 2, 3), "store: scan takes windows by midpoint in [from, to)",
	      "err %d, %d windows from %u", err, g.n, g.ids[0]);
	memset(&g, 0, sizeof(g));
	g.stop_after = 3;
	err = store__scan(s, "cpu", INT64_MIN, INT64_MAX, collect, &g);
	CHECK(err == 7 && g.n == 3, "store: fn's non-zero return stops the scan and is returned",
	      "err %d after %d windows", err, g.n);
	memset(&g, 0, sizeof(g));
	err = store__scan(s, "wall", INT64_MIN, INT64_MAX, collect, &g);
	CHECK(!err && !g.n, "store: a view with nothing kept scans empty", "err %d, %d", err, g.n);

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		nbad += store__append(s, bad[i], T0, T0 + S, (const uint8_t *)"x", 1) == -EINVAL &&
			store__scan(s, bad[i], 0, 1, collect, &g) == -EINVAL;
	CHECK(nbad == (int)(sizeof(bad) / sizeof(*bad)), "store: bad view names refused",
	      "%d of %zu", nbad, sizeof(bad) / sizeof(*bad));
	CHECK(store__append(s, "cpu", T0, T0 - 1, (const uint8_t *)"x", 1) == -EINVAL,
	      "store: a window that ends before it starts refused", "accepted");

	err = store__list(s, vi, 1, &nr);
	CHECK(!err && nr == 2 && !strcmp(vi[0].view, "cpu") && vi[0].windows == 20 &&
	      vi[0].first_start_ns == T0 && vi[0].last_end_ns == T0 + 200 * S && vi[0].bytes,
	      "store: list (max 1 of 2 views)", "nr %zu, %s %lu", nr, vi[0].view,
	      (unsigned long)vi[0].windows);
	err = store__list(s, vi, 4, &nr);
	CHECK(!err && nr == 2 && !strcmp(vi[1].view, "heap") && vi[1].windows == 5 &&
	      vi[1].first_start_ns == T0, "store: list sorted by name", "nr %zu, %s", nr,
	      vi[1].view);
	stats(s, &st);
	CHECK(st.windows == 25 && st.appended == 25 && st.segments == 2 && !st.torn_records &&
	      st.bytes == vi[0].bytes + vi[1].bytes && st.raw_bytes > st.bytes,
	      "store: stats", "windows %lu appended %lu segments %lu", (unsigned long)st.windows,
	      (unsigned long)st.appended, (unsigned long)st.segments);
	store__free(s);

	s = open_at("basic", 0, 0, 0);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(ids == 20 && run(&g, 0, 20) && scan_all(s, "heap", &g) == 5,
	      "store: reopen finds everything", "%d cpu windows", ids);
	err = s ? append(s, "cpu", 20) : -1;
	stats(s, &st);
	CHECK(!err && scan_all(s, "cpu", &g) == 21 && run(&g, 0, 21) && st.segments == 2,
	      "store: append after reopen continues the last segment",
	      "err %d, %d windows, %lu segs", err, g.n, (unsigned long)st.segments);
	store__free(s);
	s = open_at("basic", 0, 0, 0);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	stats(s, &st);
	CHECK(ids == 21 && run(&g, 0, 21) && !st.torn_records,
	      "store: the continued chain reads back after another reopen", "%d windows", ids);
	store__free(s);
	store__free(NULL);
}

/* Something like a pprof window: a string table of 500 names in an order
 * of its own, functions and locations pointing into it, samples whose
 * values change a little. About 50 KB. */
static size_t profile_like(int w, uint8_t *buf, char names[][48], uint32_t *x)
{
	uint16_t order[500];
	uint16_t where[500];
	size_t n = 0;

	for (int i = 0; i < 500; i++)
		order[i] = (uint16_t)i;
	for (int i = 499; i > 0; i--) {	/* a shuffle */
		uint16_t t = order[i];
		int j;

		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		j = (int)(*x % (uint32_t)(i + 1));
		order[i] = order[j];
		order[j] = t;
	}
	for (int i = 0; i < 500; i++) {
		size_t l = strlen(names[order[i]]);

		where[order[i]] = (uint16_t)i;
		buf[n++] = 0x32;
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, names[order[i]], l);
		n += l;
	}
	for (int f = 0; f < 500; f++)	/* function: id, name, file, start line */
		n += (size_t)sprintf((char *)buf + n, "F%d:%d:%d:%d;", f + 1, where[f],
				     where[(f * 7) % 500], 100 + f * 3);
	for (int l = 0; l < 1000; l++)	/* location: id, address, function, line */
		n += (size_t)sprintf((char *)buf + n, "L%d:%x:%d:%d;", l + 1, 0x401000 + l * 52,
				     l % 500 + 1, 120 + l % 37);
	for (int sm = 0; sm < 400; sm++) {	/* sample: stack, value */
		int v = 1 + sm % 13;

		*x ^= *x << 13;
		*x ^= *x >> 17;
		*x ^= *x << 5;
		if (*x % 10 == 0)
			v += (int)(*x >> 8) % 50 + w;
		n += (size_t)sprintf((char *)buf + n, "S%d,%d,%d,%d,%d,%d=%d;",
				     (sm * 3) % 1000 + 1, (sm * 5) % 1000 + 1,
				     (sm * 11) % 1000 + 1, sm % 17 + 1, sm % 3 + 1, 1, v);
	}
	return n;
}

static int check_profile(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw,
			 size_t len)
{
	uint8_t **want = arg;
	int w = (int)((start_ns - T0) / (10 * S));

	return w < 0 || w >= 100 || memcmp(raw, want[w], len) || !len ? -EILSEQ : 0;
}

static void test_compact(void)
{
	static char names[500][48];
	static uint8_t *win[100];
	static const char *parts[] = { "runtime", "net/http", "main", "encoding/json", "sync",
				       "github.com/acme/svc/internal/store", "os", "bufio",
				       "crypto/tls", "database/sql" };
	uint64_t raw_total = 0;
	struct store_stats st;
	uint32_t x = 12345;
	char name[96];
	size_t len;
	double ratio;
	int err = 0;
	struct store *s = open_at("compact", 0, 0, 0);

	for (int i = 0; i < 500; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		snprintf(names[i], sizeof(names[i]), "%s.(*T%x).%c%xHandler", parts[x % 10],
			 (x >> 4) & 0xffff, 'A' + (x >> 20) % 26, (x >> 8) & 0xfff);
	}
	for (int w = 0; w < 100 && s; w++) {
		win[w] = malloc(80000);
		len = profile_like(w, win[w], names, &x);
		raw_total += len;
		err |= store__append(s, "cpu", T0 + w * 10 * S, T0 + (w + 1) * 10 * S, win[w], len);
	}
	stats(s, &st);
	ratio = raw_total ? (double)st.bytes / (double)raw_total : 1;
	snprintf(name, sizeof(name), "store: 100 windows of ~%lu KB kept in %.1f%% of their size",
		 (unsigned long)(raw_total / 100 / 1024), ratio * 100);
	CHECK(s && !err && ratio < 0.15 && st.raw_bytes == raw_total, name,
	      "err %d, %lu of %lu bytes", err, (unsigned long)st.bytes, (unsigned long)raw_total);
	err = s ? store__scan(s, "cpu", INT64_MIN, INT64_MAX, check_profile, win) : -1;
	CHECK(!err, "store: the compressed windows read back exact", "%d", err);
	store__free(s);
	for (int w = 0; w < 100; w++)
		free(win[w]);
}

/* Tear the last record of DIR/<sub>/cpu/<seq>.seg: cut it short, or flip a
 * byte of its payload. */
static void tear(const char *sub, int seq, int cut)
{
	char path[192];
	off_t size;
	uint8_t b;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/cpu/%016x.seg", root, sub, seq);
	size = file_size(path);
	fd = open(path, O_RDWR);
	if (cut) {
		if (ftruncate(fd, size - 100))
			printf("# truncate failed\n");
	} else if (pread(fd, &b, 1, size - 10) == 1) {
		b ^= 0x20;
		if (pwrite(fd, &b, 1, size - 10) != 1)
			printf("# write failed\n");
	}
	close(fd);
}

/* Whether g holds ids 0..8 and then 10: window 9 was torn, 10 appended after. */
static int torn_run(const struct got *g)
{
	for (uint32_t i = 0; i < 9; i++)
		if (g->ids[i] != i)
			return 0;
	return g->n == 10 && g->ids[9] == 10;
}

static void test_torn(int cut)
{
	const char *sub = cut ? "cut" : "flip", *how = cut ? "cut short" : "a byte flipped";
	struct store *s = open_at(sub, 0, 0, 0);
	struct store_stats st;
	char name[128];
	int err = 0, ids;
	struct got g;

	for (uint32_t i = 0; i < 10; i++)
		err |= append(s, "cpu", i);
	store__free(s);
	tear(sub, 1, cut);
	s = open_at(sub, 0, 0, 0);
	stats(s, &st);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	snprintf(name, sizeof(name), "store: last record %s: the 9 before it served, not it", how);
	CHECK(!err && ids == 9 && run(&g, 0, 9) && st.torn_records == 1 && st.windows == 9, name,
	      "err %d, %d windows, torn %lu", err, ids, (unsigned long)st.torn_records);
	err = s ? append(s, "cpu", 10) : -1;
	ids = s ? scan_all(s, "cpu", &g) : -1;
	store__free(s);
	snprintf(name, sizeof(name), "store: last record %s: the next append works", how);
	CHECK(!err && ids == 10 && torn_run(&g), name, "err %d, %d windows", err, ids);
	s = open_at(sub, 0, 0, 0);
	stats(s, &st);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	snprintf(name, sizeof(name), "store: last record %s: all read back after another reopen",
		 how);
	CHECK(ids == 10 && torn_run(&g) && !st.torn_records && st.segments == 1, name,
	      "%d windows, torn %lu", ids, (unsigned long)st.torn_records);
	store__free(s);
}

static void test_rotation(void)
{
	struct store *s = open_at("rotate", 0, 0, 5);
	struct store_stats st;
	char path[192];
	int err = 0, ids;
	struct got g;

	for (uint32_t i = 0; i < 12; i++)
		err |= append(s, "cpu", i);
	stats(s, &st);
	snprintf(path, sizeof(path), "%s/rotate/cpu/0000000000000003.seg", root);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(!err && st.segments == 3 && file_size(path) > 0 && ids == 12 && run(&g, 0, 12),
	      "store: a new segment every 5 windows, read across them",
	      "err %d, %lu segments, %d windows", err, (unsigned long)st.segments, ids);
	store__free(s);
	s = open_at("rotate", 0, 0, 5);
	for (uint32_t i = 12; i < 16; i++)
		err |= append(s, "cpu", i);
	stats(s, &st);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(!err && st.segments == 4 && ids == 16 && run(&g, 0, 16),
	      "store: after reopen the last segment fills up to 5, then rotates",
	      "err %d, %lu segments, %d windows", err, (unsigned long)st.segments, ids);
	store__free(s);
}

/* Windows of random bytes (they do not compress): about 4 KB a window on
 * disk, 5 to a segment, at most 40 KB kept. */
static void test_retention_size(void)
{
	struct store *s = open_at("size", 40000, 0, 5);
	struct store_stats st;
	uint8_t buf[4000];
	uint32_t x = 7;
	int err = 0;
	struct got g;

	for (uint32_t id = 0; id < 40 && s; id++) {
		size_t len = window(id, buf);

		for (size_t i = 4; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			buf[i] = (uint8_t)x;
		}
		err |= store__append(s, "cpu", start_of(id), start_of(id) + 10 * S, buf, len);
	}
	stats(s, &st);
	memset(&g, 0, sizeof(g));
	if (s)
		store__scan(s, "cpu", INT64_MIN, INT64_MAX, collect, &g);
	/* collect says these are wrong (their bytes are not window()'s): only ids count */
	CHECK(!err && st.bytes <= 40000 && st.windows < 40 && st.windows == (uint64_t)g.n &&
	      st.dropped_windows == 40 - st.windows && g.n > 0 && g.ids[g.n - 1] == 39 &&
	      g.ids[0] == 40 - (uint32_t)g.n && st.appended == 40,
	      "store: retention by size drops the oldest windows, the newest stay",
	      "err %d, %lu bytes, %lu kept, %lu dropped, first %u", err, (unsigned long)st.bytes,
	      (unsigned long)st.windows, (unsigned long)st.dropped_windows, g.ids[0]);
	CHECK(g.n > 0 && st.dropped_until_ns == start_of(g.ids[0] - 1) + 10 * S &&
	      st.dropped_bytes > 0,
	      "store: dropped_until_ns is the end of the newest window dropped", "%ld",
	      (long)st.dropped_until_ns);
	store__free(s);
}

static void test_retention_age(void)
{
	struct store *s = open_at("age", 0, 0, 5);
	int64_t now = (int64_t)time(NULL) * S, old = now - 2 * 86400 * S;
	struct store_stats st;
	uint8_t buf[4096];
	int err = 0, got;
	struct got g;
	size_t len;

	for (uint32_t i = 0; i < 10 && s; i++) {
		len = window(i, buf);
		err |= store__append(s, "cpu", old + i * 10 * S, old + (i + 1) * 10 * S, buf, len);
	}
	store__free(s);
	s = open_at("age", 0, 3600 * S, 5);
	stats(s, &st);
	CHECK(!err && s && !st.windows && st.dropped_windows == 10 && !st.segments &&
	      st.dropped_until_ns == old + 100 * S,
	      "store: retention by age at open drops windows two days old",
	      "err %d, kept %lu, dropped %lu", err, (unsigned long)st.windows,
	      (unsigned long)st.dropped_windows);
	len = window(10, buf);
	err = s ? store__append(s, "cpu", now - 10 * S, now, buf, len) : -1;
	/* a view that only ever had old windows: each goes as soon as it is in */
	for (uint32_t i = 11; i < 14 && s; i++) {
		len = window(i, buf);
		err |= store__append(s, "offcpu", old + i * 10 * S, old + (i + 1) * 10 * S, buf,
				     len);
	}
	stats(s, &st);
	got = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(!err && got == 1 && g.ids[0] == 10 && st.windows == 1 && st.dropped_windows == 13 &&
	      st.appended == 4,
	      "store: by age on append: old windows go, the one of now stays",
	      "err %d, %d windows, dropped %lu", err, got, (unsigned long)st.dropped_windows);
	store__free(s);
}

static void write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, p, len) != (ssize_t)len)
		printf("# cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
}

/* A header that claims 4 GiB of raw bytes, with a right CRC. */
static void huge_header(uint8_t *h)
{
	uint32_t crc;

	memset(h, 0, 36 + 16);
	memcpy(h, "CPRW", 4);
	h[4] = 1;
	memset(h + 24, 0xff, 4);	/* raw_len */
	h[28] = 16;			/* comp_len */
	crc = (uint32_t)crc32(crc32(0, h, 36), h + 36, 16);
	memcpy(h + 32, &crc, 4);	/* little-endian host */
}

static void test_hostile(void)
{
	char dir[128], path[192], link[192];
	uint8_t junk[10000], hdr[52];
	struct store_view_info vi[4];
	struct store_stats st;
	struct store *s;
	uint32_t x = 99;
	int err = 0, ids;
	struct got g;
	size_t nr;

	snprintf(dir, sizeof(dir), "%s/hostile", root);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/cpu", dir);
	mkdir(path, 0700);
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	memcpy(junk, "CPRW\1\0\0\0", 8);	/* a magic, and then nonsense */
	snprintf(path, sizeof(path), "%s/cpu/0000000000000001.seg", dir);
	write_file(path, junk, sizeof(junk));
	snprintf(path, sizeof(path), "%s/cpu/0000000000000002.seg", dir);
	snprintf(link, sizeof(link), "%s/cpu/0000000000000001.seg", dir);
	if (symlink(link, path))
		printf("# symlink failed\n");
	huge_header(hdr);
	snprintf(path, sizeof(path), "%s/cpu/0000000000000003.seg", dir);
	write_file(path, hdr, sizeof(hdr));
	snprintf(path, sizeof(path), "%s/cpu/0000000000000004.seg", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cpu/notes.seg", dir);
	write_file(path, "x", 1);
	snprintf(path, sizeof(path), "%s/cpu/000000000000000A.seg", dir);
	write_file(path, junk, 100);
	snprintf(path, sizeof(path), "%s/heap", dir);	/* a file where a view would be */
	write_file(path, junk, 100);
	snprintf(path, sizeof(path), "%s/BAD", dir);
	mkdir(path, 0700);

	s = open_at("hostile", 0, 0, 0);
	stats(s, &st);
	CHECK(s && st.torn_records == 2 && !st.windows && st.segments == 2,
	      "store: hostile files: random bytes, a 4 GiB raw_len, a symlink, odd names",
	      "%s, torn %lu, segments %lu", s ? "open" : strerror(errno),
	      (unsigned long)st.torn_records, (unsigned long)st.segments);
	for (uint32_t i = 0; i < 3 && s; i++)
		err |= append(s, "cpu", i);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(!err && ids == 3 && run(&g, 0, 3),
	      "store: after hostile files, appends go to the cut last segment and read back",
	      "err %d, %d windows", err, ids);
	store__free(s);
	s = open_at("hostile", 0, 0, 0);
	stats(s, &st);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	err = s ? store__list(s, vi, 4, &nr) : -1;
	snprintf(path, sizeof(path), "%s/cpu/0000000000000003.seg", dir);
	CHECK(ids == 3 && st.torn_records == 1 && !err && nr == 1 && vi[0].windows == 3 &&
	      vi[0].bytes == (uint64_t)file_size(path) + sizeof(junk) &&
	      file_size(link) == sizeof(junk),
	      "store: hostile files: reopen serves the 3, counts the older bad segment",
	      "%d windows, torn %lu, nr %zu", ids, (unsigned long)st.torn_records, nr);
	store__free(s);
}

/* A write that fails half way (the file size limit): cut back, counted, and
 * the segment goes on as before. */
static void test_write_error(void)
{
	struct store *s = open_at("werr", 0, 0, 0);
	struct store_stats st;
	struct rlimit old, lim;
	char path[192];
	uint8_t *big = malloc(1 << 20);
	off_t before;
	int err, ok = 0, ids;
	struct got g;

	snprintf(path, sizeof(path), "%s/werr/cpu/0000000000000001.seg", root);
	ok |= append(s, "cpu", 0) | append(s, "cpu", 1);
	before = file_size(path);
	for (size_t i = 0; i < (1 << 20); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)before + 4096;
	setrlimit(RLIMIT_FSIZE, &lim);
	err = s ? store__append(s, "cpu", start_of(2), start_of(2) + 10 * S, big, 1 << 20) : -1;
	setrlimit(RLIMIT_FSIZE, &old);
	stats(s, &st);
	CHECK(err == -EFBIG && st.append_errors == 1 && file_size(path) == before &&
	      st.windows == 2, "store: a failed write is cut back and counted",
	      "err %d, errors %lu, size %ld of %ld", err, (unsigned long)st.append_errors,
	      (long)file_size(path), (long)before);
	ok |= append(s, "cpu", 2);
	store__free(s);
	s = open_at("werr", 0, 0, 0);
	stats(s, &st);
	ids = s ? scan_all(s, "cpu", &g) : -1;
	CHECK(!ok && ids == 3 && run(&g, 0, 3) && !st.torn_records,
	      "store: after a failed write the chain goes on, whole after reopen",
	      "err %d, %d windows", ok, ids);
	store__free(s);
	free(big);
}

static void *appender(void *arg)
{
	intptr_t err = 0;

	for (uint32_t i = 0; i < 300; i++)
		err |= append(arg, "cpu", i);
	return (void *)err;
}

/* Scans from another thread see whole windows, in order, while the
 * appender fills segments and retention deletes them under the scan. */
static void test_threads(void)
{
	struct store *s = open_at("threads", 60000, 0, 4);
	int scans = 0, bad = 0, err = 0;
	struct store_stats st;
	void *ret = (void *)-1;
	pthread_t t;
	struct got g;

	if (s && !pthread_create(&t, NULL, appender, s)) {
		for (int done = 0; !done; scans++) {
			stats(s, &st);
			done = st.appended + st.append_errors >= 300;
			err |= store__scan(s, "cpu", INT64_MIN, INT64_MAX, collect,
					   memset(&g, 0, sizeof(g)));
			bad += g.bad;
			for (int i = 1; i < g.n && i < MAX_GOT; i++)
				bad += g.ids[i] <= g.ids[i - 1];
		}
		pthread_join(t, &ret);
	}
	stats(s, &st);
	CHECK(!ret && !err && !bad && st.dropped_windows && scan_all(s, "cpu", &g) > 0 &&
	      g.ids[g.n - 1] == 299,
	      "store: scans while appending and dropping see whole windows in order",
	      "append %ld, scan %d, %d wrong in %d scans, %lu dropped", (long)(intptr_t)ret, err,
	      bad, scans, (unsigned long)st.dropped_windows);
	printf("# %d scans during 300 appends; %lu windows dropped\n", scans,
	       (unsigned long)st.dropped_windows);
	store__free(s);
}

int main(void)
{
	char cmd[128];

	snprintf(root, sizeof(root), "/tmp/cprof-store-XXXXXX");
	if (!mkdtemp(root)) {
		printf("FAIL: store: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_basic();
	test_compact();
	test_torn(1);
	test_torn(0);
	test_rotation();
	test_retention_size();
	test_retention_age();
	test_hostile();
	test_write_error();
	test_threads();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	sh(cmd);
	return CHECK_EXIT();
}
