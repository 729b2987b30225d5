/* bpfmap__drain against real BPF hash maps (needs root): every entry
 * delivered once, with its value, and the map empty after, through both ways
 * it works (batches, and the get_next_key walk for older kernels); a fn that
 * fails, an empty map, a bucket bigger than the batch, and failures midway,
 * after which a second drain must deliver exactly the rest.
 *
 * The test includes daemon/capture/bpfmaps.c to reach both ways. It is built with
 * ASan and UBSan, and because ASan cannot see the memory the kernel reads and
 * writes through bpf(2), libbpf's map calls are wrapped (ld --wrap, see the
 * Makefile) to touch the same bytes first and, when a check asks, to fail. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "check.h"
#include "cpu.h"
#include "bpfmaps.c"

#define MANY 100000	/* entries in the big maps */
#define STACKS 3000	/* entries with a 1 KiB value */

_Static_assert(sizeof(struct stack_trace) == 1024, "a stacks map value is 1 KiB");

/* ---- the wrappers ---- */

/* Key and value sizes of the maps the test made, for the wrappers. */
static struct {
	int fd;
	__u32 key_size, value_size;
} maps[32];
static int nr_maps;

/* A failure to inject: the nth next call of `what` (0: the next one) returns
 * err; took: let the kernel take its batch first, then fail. */
enum call { NONE, NEXT_KEY, LOOKUP, DELETE, BATCH };
static struct {
	enum call what;
	int nth, err, took;
} fault;
static int old_kernel;		/* batch calls say EINVAL, as before 5.6 */
static long batch_calls, batch_enospc;

int __real_bpf_map_get_next_key(int fd, const void *key, void *next_key);
int __real_bpf_map_lookup_elem(int fd, const void *key, void *value);
int __real_bpf_map_delete_elem(int fd, const void *key);
int __real_bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys,
					   void *values, __u32 *count,
					   const struct bpf_map_batch_opts *opts);

static void sizes_of(int fd, __u32 *key_size, __u32 *value_size)
{
	for (int i = 0; i < nr_maps; i++)
		if (maps[i].fd == fd) {
			*key_size = maps[i].key_size;
			*value_size = maps[i].value_size;
			return;
		}
	*key_size = *value_size = 0;
}

/* What the kernel will read, read here first; what it will write, written. */
static void touch_read(const void *p, size_t n)
{
	static unsigned char sink[4096];

	if (p && n <= sizeof(sink))
		memcpy(sink, p, n);
}

static void touch_write(void *p, size_t n)
{
	if (p)
		memset(p, 0xa5, n);
}

static int injected(enum call what, int *err)
{
	if (fault.what != what || fault.nth-- > 0)
		return 0;
	fault.what = NONE;
	*err = fault.err;
	return 1;
}

int __wrap_bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	__u32 ks, vs;
	int err;

	sizes_of(fd, &ks, &vs);
	touch_read(key, ks);
	touch_write(next_key, ks);
	if (injected(NEXT_KEY, &err))
		return err;
	return __real_bpf_map_get_next_key(fd, key, next_key);
}

int __wrap_bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	__u32 ks, vs;
	int err;

	sizes_of(fd, &ks, &vs);
	touch_read(key, ks);
	touch_write(value, vs);
	if (injected(LOOKUP, &err))
		return err;
	return __real_bpf_map_lookup_elem(fd, key, value);
}

int __wrap_bpf_map_delete_elem(int fd, const void *key)
{
	__u32 ks, vs;
	int err;

	sizes_of(fd, &ks, &vs);
	touch_read(key, ks);
	if (injected(DELETE, &err))
		return err;
	return __real_bpf_map_delete_elem(fd, key);
}

int __wrap_bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys,
					   void *values, __u32 *count,
					   const struct bpf_map_batch_opts *opts)
{
	__u32 ks, vs;
	int err = 0, ret, fired;

	sizes_of(fd, &ks, &vs);
	touch_read(in_batch, sizeof(__u32));
	touch_write(out_batch, sizeof(__u32));
	touch_read(count, sizeof(*count));
	touch_write(keys, (size_t)*count * ks);
	touch_write(values, (size_t)*count * vs);
	batch_calls++;
	if (old_kernel)
		return -EINVAL;
	fired = injected(BATCH, &err);
	if (fired && !fault.took)
		return err;	/* before the kernel: count stays as passed */
	ret = __real_bpf_map_lookup_and_delete_batch(fd, in_batch, out_batch, keys, values, count,
						     opts);
	if (ret == -ENOSPC)
		batch_enospc++;
	if (fired && !ret)
		return err;	/* the kernel took count entries, then failed */
	return ret;
}

/* ---- maps and what a drain delivers ---- */

static int make_map(const char *name, __u32 key_size, __u32 value_size, __u32 entries)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_HASH, name, key_size, value_size, entries, NULL);

	if (fd >= 0 && nr_maps < (int)(sizeof(maps) / sizeof(maps[0]))) {
		maps[nr_maps].fd = fd;
		maps[nr_maps].key_size = key_size;
		maps[nr_maps].value_size = value_size;
		nr_maps++;
	}
	return fd;
}

/* Every byte of the key comes from the index, padding included. */
static void count_key(struct cpu_key *k, __u32 i)
{
	memset(k, 0, sizeof(*k));
	k->k.pid = i;
	k->k.tid = i ^ 0x5a5a;
	k->k.start_ns = i * 0x9e3779b97f4a7c15ULL;
	k->k.exec_id = i % 7;
	k->k._pad = ~i;
	k->k.ustack = (__u64)i << 20;
	k->k.kstack = (__u64)i << 40;
	snprintf(k->k.comm, sizeof(k->k.comm), "proc%u", i);
	snprintf(k->k.thread, sizeof(k->k.thread), "thread%u", i % 1000);
	k->period_ns = 1000000000ULL / (1 + i % 997);
}

static void stack_value(struct stack_trace *s, __u64 id)
{
	s->len = id % CPROF_MAX_STACK_DEPTH;
	s->flags = 0;
	for (int j = 0; j < CPROF_MAX_STACK_DEPTH; j++)
		s->ips[j] = id * 1000 + j;
}

static int fill_counts(int fd, __u32 n)
{
	struct cpu_key k;

	for (__u64 i = 0; i < n; i++) {
		count_key(&k, i);
		if (bpf_map_update_elem(fd, &k, &i, BPF_NOEXIST))
			return -errno;
	}
	return 0;
}

static int fill_stacks(int fd, __u32 n)
{
	struct stack_trace s;

	for (__u64 id = 0; id < n; id++) {
		stack_value(&s, id);
		if (bpf_map_update_elem(fd, &id, &s, BPF_NOEXIST))
			return -errno;
	}
	return 0;
}

struct tally {
	int stacks;		/* the map: 0 counts (struct cpu_key), 1 stacks */
	__u32 n;		/* entries put in */
	unsigned char *seen;	/* a bit per entry */
	long once, twice, wrong;
	int refuse;		/* fn returns non-zero for one entry in this many */
};

static int on_entry(const void *key, const void *value, void *arg)
{
	struct tally *t = arg;
	__u64 i;
	int ok;

	if (t->stacks) {
		struct stack_trace want;

		i = *(const __u64 *)key;
		stack_value(&want, i);
		ok = i < t->n && !memcmp(value, &want, sizeof(want));
	} else {
		struct cpu_key want;

		i = ((const struct cpu_key *)key)->k.pid;
		count_key(&want, i);
		ok = i < t->n && !memcmp(key, &want, sizeof(want)) && *(const __u64 *)value == i;
	}
	if (!ok) {
		t->wrong++;
		return -EINVAL;
	}
	if (t->seen[i / 8] & (1 << i % 8)) {
		t->twice++;
	} else {
		t->seen[i / 8] |= 1 << i % 8;
		t->once++;
	}
	return t->refuse && i % t->refuse == 0 ? -ENOMEM : 0;
}

static void tally_init(struct tally *t, int stacks, __u32 n)
{
	memset(t, 0, sizeof(*t));
	t->stacks = stacks;
	t->n = n;
	t->seen = calloc(n / 8 + 1, 1);
}

static int map_empty(int fd, size_t key_size)
{
	unsigned char key[128];

	return key_size <= sizeof(key) && bpf_map_get_next_key(fd, NULL, key) == -ENOENT;
}

static long entries_in(int fd, size_t key_size)
{
	unsigned char a[128], b[128], *prev = NULL, *next = a;
	long n = 0;

	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		prev = next;
		next = next == a ? b : a;
	}
	return n;
}

/* A drain that returned ret delivered all t->n entries once and left
 * nothing behind. */
static void check_all(const char *name, int fd, size_t key_size, struct tally *t, int ret)
{
	char what[160];

	snprintf(what, sizeof(what), "%s: returns the number of entries", name);
	CHECK(ret == (int)t->n, what, "%d, not %u", ret, t->n);
	snprintf(what, sizeof(what), "%s: every entry delivered once, with its value", name);
	CHECK(t->once == t->n && !t->twice && !t->wrong, what,
	      "%ld of %u once, %ld twice, %ld wrong", t->once, t->n, t->twice, t->wrong);
	snprintf(what, sizeof(what), "%s: the map is empty after", name);
	CHECK(map_empty(fd, key_size), what, "%ld entries left", entries_in(fd, key_size));
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

typedef int (*drain_way)(int fd, size_t key_size, size_t value_size, drain_fn fn, void *arg);

static int way_drain(int fd, size_t ks, size_t vs, drain_fn fn, void *arg)
{
	return bpfmap__drain(fd, ks, vs, fn, arg);
}

static int way_keywalk(int fd, size_t ks, size_t vs, drain_fn fn, void *arg)
{
	return drain_keywalk(fd, ks, vs, drain_cap(ks, vs), fn, arg);
}

static const struct {
	const char *name;
	drain_way drain;
} ways[] = {
	{ "drain", way_drain },
	{ "key walk", way_keywalk },
};

/* ---- the checks ---- */

static void many_counts(const char *way, drain_way drain, int refuse)
{
	char name[96];
	struct timespec t0;
	struct tally t;
	double ms;
	int fd, e;

	snprintf(name, sizeof(name), "%s of %d count keys%s", way, MANY,
		 refuse ? ", fn failing for a third of them" : "");
	fd = make_map("t_counts", sizeof(struct cpu_key), sizeof(__u64), MANY + 1000);
	if (fd < 0) {
		SKIP(name, "cannot create a BPF hash map: %s", strerror(errno));
		return;
	}
	e = fill_counts(fd, MANY);
	if (e) {
		SKIP(name, "cannot fill the map: %s", strerror(-e));
		close(fd);
		return;
	}
	tally_init(&t, 0, MANY);
	t.refuse = refuse;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = drain(fd, sizeof(struct cpu_key), sizeof(__u64), on_entry, &t);
	ms = ms_since(&t0);
	check_all(name, fd, sizeof(struct cpu_key), &t, e);
	if (!refuse)
		printf("# %s of %d keys of 80 bytes: %.1f ms (ASan build, wrapped calls)\n", way,
		       MANY, ms);
	free(t.seen);
	close(fd);
}

static void stacks(const char *way, drain_way drain)
{
	char name[96];
	struct tally t;
	int fd, e;

	snprintf(name, sizeof(name), "%s of %d stacks (1 KiB values)", way, STACKS);
	fd = make_map("t_stacks", sizeof(__u64), sizeof(struct stack_trace), STACKS);
	if (fd < 0 || fill_stacks(fd, STACKS)) {
		SKIP(name, "cannot create and fill a BPF hash map: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	tally_init(&t, 1, STACKS);
	e = drain(fd, sizeof(__u64), sizeof(struct stack_trace), on_entry, &t);
	check_all(name, fd, sizeof(__u64), &t, e);
	free(t.seen);
	close(fd);
}

static void empty(const char *way, drain_way drain)
{
	char name[96];
	struct tally t;
	int fd, e;

	snprintf(name, sizeof(name), "%s of an empty map", way);
	fd = make_map("t_empty", sizeof(struct cpu_key), sizeof(__u64), 64);
	if (fd < 0) {
		SKIP(name, "cannot create a BPF hash map: %s", strerror(errno));
		return;
	}
	tally_init(&t, 0, 0);
	e = drain(fd, sizeof(struct cpu_key), sizeof(__u64), on_entry, &t);
	CHECK(e == 0 && !t.once && !t.wrong, name, "returned %d, delivered %ld", e, t.once + t.wrong);
	free(t.seen);
	close(fd);
}

/* A failure midway: the drain says so, what it delivered is gone from the
 * map, and a second drain delivers exactly the rest. */
static void midway(const char *way, drain_way drain, enum call what, int nth, int took)
{
	const __u32 n = 20000;
	char name[128];
	struct tally t;
	long left;
	int fd, e, e2;

	snprintf(name, sizeof(name), "%s failing at call %d of %s%s", way, nth + 1,
		 what == NEXT_KEY ? "get_next_key" : what == LOOKUP ? "lookup" :
		 what == DELETE ? "delete" : "lookup_and_delete_batch",
		 took ? " after taking its batch" : "");
	fd = make_map("t_midway", sizeof(struct cpu_key), sizeof(__u64), n);
	if (fd < 0 || fill_counts(fd, n)) {
		SKIP(name, "cannot create and fill a BPF hash map: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	tally_init(&t, 0, n);
	fault.what = what;
	fault.nth = nth;
	fault.err = took ? -ENOMEM : -EIO;
	fault.took = took;
	e = drain(fd, sizeof(struct cpu_key), sizeof(__u64), on_entry, &t);
	left = entries_in(fd, sizeof(struct cpu_key));
	CHECK(e == fault.err && fault.what == NONE && t.once > 0 && t.once + left == n && !t.twice,
	      name, "returned %d, delivered %ld (%ld twice), %ld left of %u", e, t.once, t.twice,
	      left, n);
	fault.what = NONE;
	fault.took = 0;
	e2 = drain(fd, sizeof(struct cpu_key), sizeof(__u64), on_entry, &t);
	snprintf(name + strlen(name), sizeof(name) - strlen(name), ", then again");
	CHECK(e2 == left && t.once == n && !t.twice &&
	      !t.wrong && map_empty(fd, sizeof(struct cpu_key)), name,
	      "returned %d (%ld were left), %ld of %u once, %ld twice, %ld wrong", e2, left,
	      t.once, n, t.twice, t.wrong);
	free(t.seen);
	close(fd);
}

/* A batch too small for a bucket: ENOSPC, and the drain grows it. A map of
 * 1024 buckets holding 1024 entries has buckets of two and more. */
static void small_batch(void)
{
	const char *name = "batch of 1 entry: buckets of more grow it (ENOSPC)";
	struct tally t;
	long enospc = batch_enospc;
	int fd, e;

	fd = make_map("t_small", sizeof(__u64), sizeof(struct stack_trace), 1024);
	if (fd < 0 || fill_stacks(fd, 1024)) {
		SKIP(name, "cannot create and fill a BPF hash map: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	tally_init(&t, 1, 1024);
	e = drain_batch(fd, sizeof(__u64), sizeof(struct stack_trace), 1, on_entry, &t, true);
	check_all(name, fd, sizeof(__u64), &t, e);
	CHECK(batch_enospc > enospc, "batch of 1 entry: the kernel said ENOSPC", "it never did");
	free(t.seen);
	close(fd);
}

/* A kernel without batch operations: bpfmap__drain finds out and walks. */
static void no_batch_ops(void)
{
	int saved = batch_ops;
	long calls;

	old_kernel = 1;
	batch_ops = -1;
	calls = batch_calls;
	many_counts("drain on a kernel without batch operations", way_drain, 0);
	CHECK(batch_ops == 0 && batch_calls == calls + 1,
	      "without batch operations: asked once, remembered", "batch_ops %d, %ld calls",
	      batch_ops, batch_calls - calls);
	old_kernel = 0;
	batch_ops = saved;
}

static void wrong_maps(void)
{
	int fd = make_map("t_sizes", sizeof(struct cpu_key), sizeof(__u64), 16);
	int afd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_array", 4, 8, 16, NULL);
	struct cpu_key k;
	__u64 v = 1;
	int e1 = 0, e2 = 0, e3 = 0;

	if (fd < 0 || afd < 0) {
		SKIP("drain of the wrong map", "cannot create BPF maps: %s", strerror(errno));
		goto cleanup;
	}
	count_key(&k, 1);
	bpf_map_update_elem(fd, &k, &v, BPF_ANY);
	e1 = bpfmap__drain(fd, sizeof(k), sizeof(v) * 2, NULL, NULL);
	e2 = bpfmap__drain(fd, sizeof(k) - 8, sizeof(v), NULL, NULL);
	e3 = bpfmap__drain(afd, 4, 8, NULL, NULL);
	CHECK(e1 == -EINVAL && e2 == -EINVAL && e3 == -EINVAL && !map_empty(fd, sizeof(k)),
	      "drain of the wrong map: EINVAL, nothing taken",
	      "value size %d, key size %d, array %d", e1, e2, e3);
	CHECK(bpfmap__drain(fd, sizeof(k), sizeof(v), NULL, NULL) == 1 && map_empty(fd, sizeof(k)),
	      "drain without fn: deletes", "an entry left");
cleanup:
	if (fd >= 0)
		close(fd);
	if (afd >= 0)
		close(afd);
}

/* bpfmap__each: every entry once, with its value, and all left in; by
 * batches and, as on a kernel without them, by the key walk. */
static void each(void)
{
	int saved = batch_ops;

	for (int walk = 0; walk < 2; walk++) {
		const char *name = walk ? "each, by the key walk" : "each, in batches";
		struct tally t;
		char what[160];
		int fd, e;

		fd = make_map("t_each", sizeof(__u64), sizeof(struct stack_trace), STACKS);
		if (fd < 0 || fill_stacks(fd, STACKS)) {
			SKIP(name, "cannot create and fill a BPF hash map: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (walk)
			batch_ops = 0;
		tally_init(&t, 1, STACKS);
		e = bpfmap__each(fd, sizeof(__u64), sizeof(struct stack_trace), on_entry, &t);
		batch_ops = saved;
		snprintf(what, sizeof(what), "%s: returns the number of entries", name);
		CHECK(e == STACKS, what, "%d, not %d", e, STACKS);
		snprintf(what, sizeof(what), "%s: every entry delivered once, with its value", name);
		CHECK(t.once == STACKS && !t.twice && !t.wrong, what,
		      "%ld of %d once, %ld twice, %ld wrong", t.once, STACKS, t.twice, t.wrong);
		snprintf(what, sizeof(what), "%s: every entry is still in the map", name);
		CHECK(entries_in(fd, sizeof(__u64)) == STACKS, what, "%ld entries left",
		      entries_in(fd, sizeof(__u64)));
		free(t.seen);
		close(fd);
	}
}

int main(void)
{
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		SKIP("bpfmaps", "needs root to create BPF maps");
		return CHECK_EXIT();
	}
	fd = make_map("t_probe", 8, 8, 1);
	if (fd < 0) {
		SKIP("bpfmaps", "cannot create a BPF hash map: %s", strerror(errno));
		return CHECK_EXIT();
	}
	printf("# batch operations: %s\n", has_batch_ops(fd) ? "yes" : "no, the key walk");
	close(fd);

	for (size_t w = 0; w < sizeof(ways) / sizeof(ways[0]); w++) {
		many_counts(ways[w].name, ways[w].drain, 0);
		many_counts(ways[w].name, ways[w].drain, 3);
		stacks(ways[w].name, ways[w].drain);
		empty(ways[w].name, ways[w].drain);
	}
	if (batch_ops) {
		small_batch();
		midway("drain", way_drain, BATCH, 2, 0);
		midway("drain", way_drain, BATCH, 2, 1);
	}
	midway("key walk", way_keywalk, NEXT_KEY, 5000, 0);
	midway("key walk", way_keywalk, LOOKUP, 1000, 0);
	midway("key walk", way_keywalk, DELETE, 1000, 0);
	no_batch_ops();
	each();
	wrong_maps();
	return CHECK_EXIT();
}
