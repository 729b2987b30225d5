/* Unit test of daemon/history/merge.c: three windows built with the pprof
 * builder (overlapping stacks, different processes, a gap in time, ids
 * handed out in different orders) merged into one and read back; filters by
 * pid and by comm; refusals (other sample types, garbage, nothing added);
 * a hand-made profile full of ids that point nowhere; and `go tool pprof`
 * as the independent reader when it is installed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "merge.h"
#include "pprof.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define T0		1700000000000000000LL	/* the first window's start */
#define WINDOW_NS	10000000000LL		/* 10 s */
#define PERIOD		10000000LL

static const struct pprof_value_type types[] = {
	{ "samples", "count" },
	{ "cpu", "nanoseconds" },
};

/* Mappings every test profile may use; has_functions everywhere, so that
 * pprof does not look for the (missing) files to symbolize them. */
static const struct pprof_mapping maps[] = {
	{ .start = 0x400000, .limit = 0x500000, .offset = 0, .file = "/usr/bin/app",
	  .build_id = "abcdef0123456789", .has_functions = true, .has_filenames = true,
	  .has_line_numbers = true },
	{ .start = 0x500000, .limit = 0x600000, .offset = 0x1000, .file = "/usr/sbin/db",
	  .has_functions = true },
	{ .start = 0x7f0000000000ULL, .limit = 0x7f0000100000ULL, .offset = 0x2000,
	  .file = "/lib/x86_64-linux-gnu/libc.so.6", .build_id = "00112233",
	  .has_functions = true, .has_filenames = true, .has_line_numbers = true,
	  .has_inline_frames = true },
};

/* Each function at its one address; map -1: no mapping (made-up frames,
 * all at address 0, as cprofd writes them). "tick" has "loop" inlined. */
static const struct fn {
	const char *name;
	int map;
	uint64_t addr;
} fns[] = {
	{ "leaf", 0, 0x401000 }, { "work", 0, 0x401100 }, { "main", 0, 0x401200 },
	{ "query", 1, 0x501000 }, { "dbmain", 1, 0x501100 },
	{ "tick", 2, 0x7f0000001234ULL },
	{ "[stack lost]", -1, 0 }, { "[kernel]", -1, 0 },
};

static const struct fn *fn_named(const char *name)
{
	for (size_t i = 0; i < N(fns); i++) {
		if (!strcmp(fns[i].name, name))
			return &fns[i];
	}
	return NULL;
}

/* The builder's location for a function, with its mapping. */
static uint64_t location(struct pprof_builder *b, const char *name)
{
	const struct fn *f = fn_named(name);
	const struct pprof_line inl[] = {
		{ "loop", NULL, "loop.c", 7 },
		{ "tick", "__tick", "tick.c", 70 },
	};
	struct pprof_line one = { name, NULL, "src.c", 10 };
	uint64_t mapping = 0;

	if (!f)
		return 0;
	if (f->map >= 0) {
		mapping = pprof_builder__mapping(b, &maps[f->map]);
		if (!mapping)
			return 0;
	}
	if (!strcmp(name, "tick"))
		return pprof_builder__location(b, mapping, f->addr, inl, N(inl));
	return pprof_builder__location(b, mapping, f->addr, &one, 1);
}

/* Add a sample of n events on stack ("leaf;work;main", leaf first) for
 * process pid, comm; with a "bytes" label with a unit when bytes. */
static int sample(struct pprof_builder *b, const char *stack, int pid, const char *comm,
		  int64_t n, bool bytes)
{
	struct pprof_label labels[3] = {
		{ .key = "pid", .num = pid },
		{ .key = "comm", .str = comm },
		{ .key = "bytes", .num = 1024, .num_unit = "bytes" },
	};
	int64_t values[2] = { n, n * PERIOD };
	uint64_t locs[16];
	char copy[256], *save = NULL, *tok;
	size_t nr = 0;

	snprintf(copy, sizeof(copy), "%s", stack);
	for (tok = strtok_r(copy, ";", &save); tok && nr < N(locs);
	     tok = strtok_r(NULL, ";", &save)) {
		locs[nr] = location(b, tok);
		if (!locs[nr++])
			return -ENOMEM;
	}
	return pprof_builder__sample(b, locs, nr, values, labels, bytes ? 3 : 2);
}

struct blob {
	uint8_t *buf;
	size_t len;
};

/* Write b into out and free it; false on failure. */
static bool finish(struct pprof_builder *b, int err, bool gzip, struct blob *out)
{
	bool ok = b && !err && !pprof_builder__write(b, gzip, &out->buf, &out->len);

	pprof_builder__free(b);
	return ok;
}

static struct pprof_builder *window(int64_t start, const char *comment)
{
	const char *const comments[] = { comment };
	const struct pprof_opts o = {
		.sample_types = types, .nr_sample_types = N(types),
		.default_sample_type = "cpu", .period_type = { "cpu", "nanoseconds" },
		.period = PERIOD, .time_nanos = start, .duration_nanos = WINDOW_NS,
		.comments = comments, .nr_comments = 1,
	};

	return pprof_builder__new(&o);
}

/* Window 1: app (pid 42) and db (pid 7). */
static bool window1(struct blob *out)
{
	struct pprof_builder *b = window(T0, "window 1");
	int err = 0;

	if (!b)
		return false;
	err |= sample(b, "leaf;work;main", 42, "app", 1, false);
	err |= sample(b, "work;main", 42, "app", 2, false);
	err |= sample(b, "query;dbmain", 7, "db", 5, false);
	return finish(b, err, true, out);
}

/* Window 2, right after: the same stacks of app, but the db mapping and the
 * locations are made in another order, so every id differs from window 1's;
 * a second app process (43); a lost stack. Written raw, not gzipped. */
static bool window2(struct blob *out)
{
	struct pprof_builder *b = window(T0 + WINDOW_NS, "window 2");
	int err = 0;

	if (!b)
		return false;
	err |= !pprof_builder__mapping(b, &maps[1]);
	err |= sample(b, "[stack lost]", 42, "app", 4, false);
	err |= sample(b, "main", 42, "app", 1, false);
	err |= sample(b, "leaf;work;main", 42, "app", 3, false);
	err |= sample(b, "leaf;work;main", 43, "app", 6, false);
	return finish(b, err, false, out);
}

/* Window 3, after a gap of one window: cron (pid 99) in libc, through an
 * inlined frame, and a "[kernel]" frame at the address of window 2's
 * "[stack lost]". */
static bool window3(struct blob *out)
{
	struct pprof_builder *b = window(T0 + 3 * WINDOW_NS, "window 3");
	int err = 0;

	if (!b)
		return false;
	err |= sample(b, "tick;main", 99, "cron", 7, true);
	err |= sample(b, "[kernel];tick;main", 99, "cron", 2, false);
	return finish(b, err, true, out);
}

/* ---------------------------------------------------------------------------
 * Reading the result
 */

static const char *S(const Perftools__Profiles__Profile *p, int64_t i)
{
	if (i < 0 || (size_t)i >= p->n_string_table)
		return "<out of range>";
	return p->string_table[i];
}

static const Perftools__Profiles__Location *loc_by_id(const Perftools__Profiles__Profile *p,
						      uint64_t id)
{
	for (size_t i = 0; i < p->n_location; i++) {
		if (p->location[i]->id == id)
			return p->location[i];
	}
	return NULL;
}

static const Perftools__Profiles__Function *func_by_id(const Perftools__Profiles__Profile *p,
						       uint64_t id)
{
	for (size_t i = 0; i < p->n_function; i++) {
		if (p->function[i]->id == id)
			return p->function[i];
	}
	return NULL;
}

static const Perftools__Profiles__Mapping *map_by_id(const Perftools__Profiles__Profile *p,
						     uint64_t id)
{
	for (size_t i = 0; i < p->n_mapping; i++) {
		if (p->mapping[i]->id == id)
			return p->mapping[i];
	}
	return NULL;
}

/* The sample's stack as "leaf;work;main": every line of every location,
 * innermost first; "?" for what cannot be found. */
static void stack_of(const Perftools__Profiles__Profile *p, const Perftools__Profiles__Sample *s,
		     char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_location_id; i++) {
		const Perftools__Profiles__Location *l = loc_by_id(p, s->location_id[i]);

		for (size_t j = 0; l && j < l->n_line; j++) {
			const Perftools__Profiles__Function *f;

			f = func_by_id(p, l->line[j]->function_id);

			n += snprintf(buf + n, n < size ? size - n : 0, "%s%s", n ? ";" : "",
				      f ? S(p, f->name) : "?");
		}
		if (!l)
			n += snprintf(buf + n, n < size ? size - n : 0, "%s?", n ? ";" : "");
	}
}

static const Perftools__Profiles__Label *label(const Perftools__Profiles__Profile *p,
					       const Perftools__Profiles__Sample *s,
					       const char *key)
{
	for (size_t i = 0; i < s->n_label; i++) {
		if (!strcmp(S(p, s->label[i]->key), key))
			return s->label[i];
	}
	return NULL;
}

/* The sample with this stack of process pid (0: any). */
static const Perftools__Profiles__Sample *find(const Perftools__Profiles__Profile *p,
					       const char *stack, int pid)
{
	char buf[256];

	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Label *l = label(p, p->sample[i], "pid");

		stack_of(p, p->sample[i], buf, sizeof(buf));
		if (!strcmp(buf, stack) && (!pid || (l && !l->str && l->num == pid)))
			return p->sample[i];
	}
	return NULL;
}

/* Sum of value i over every sample. */
static int64_t total(const Perftools__Profiles__Profile *p, size_t i)
{
	int64_t t = 0;

	for (size_t k = 0; k < p->n_sample; k++)
		t += i < p->sample[k]->n_value ? p->sample[k]->value[i] : 0;
	return t;
}

static bool has_string(const Perftools__Profiles__Profile *p, const char *s)
{
	for (size_t i = 0; i < p->n_string_table; i++) {
		if (!strcmp(p->string_table[i], s))
			return true;
	}
	return false;
}

/* Merge blobs with filter (NULL: none), write with one comment and read the
 * result back; NULL on failure. */
static Perftools__Profiles__Profile *merged(const struct blob *w, size_t nr,
					    const struct merge_filter *filter, bool gzip)
{
	static const char *const comments[] = { "merged for a test" };
	Perftools__Profiles__Profile *p = NULL;
	struct merge *m = merge__new();
	uint8_t *out = NULL;
	size_t len, i;
	int err = m ? 0 : -errno;

	for (i = 0; !err && i < nr; i++)
		err = merge__add(m, w[i].buf, w[i].len, filter);
	if (!err)
		err = merge__write(m, comments, N(comments), gzip, &out, &len);
	if (!err)
		p = pprof__read(out, len);
	if (err || !p)
		printf("# merge failed: %d, errno %d\n", err, errno);
	free(out);
	merge__free(m);
	return p;
}

/* ---------------------------------------------------------------------------
 * Tests
 */

static void test_merge_all(const struct blob *w)
{
	Perftools__Profiles__Profile *p = merged(w, 3, NULL, true);
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Mapping *mp;
	const Perftools__Profiles__Label *lab;
	bool unique = true;

	CHECK(p, "all: merged and read back", "errno %d", errno);
	if (!p)
		return;
	CHECK(p->n_sample_type == 2 && !strcmp(S(p, p->sample_type[0]->type), "samples") &&
	      !strcmp(S(p, p->sample_type[0]->unit), "count") &&
	      !strcmp(S(p, p->sample_type[1]->type), "cpu") &&
	      !strcmp(S(p, p->sample_type[1]->unit), "nanoseconds"), "all: sample types",
	      "%zu types", p->n_sample_type);
	CHECK(!strcmp(S(p, p->default_sample_type), "cpu"), "all: default sample type",
	      "\"%s\"", S(p, p->default_sample_type));
	CHECK(p->period_type && !strcmp(S(p, p->period_type->type), "cpu") &&
	      !strcmp(S(p, p->period_type->unit), "nanoseconds") && p->period == PERIOD,
	      "all: period type and period", "period %lld", (long long)p->period);
	CHECK(p->time_nanos == T0, "all: time is the earliest", "%lld", (long long)p->time_nanos);
	CHECK(p->duration_nanos == 4 * WINDOW_NS, "all: duration spans all, gap included",
	      "%lld", (long long)p->duration_nanos);
	CHECK(p->n_comment == 2 && !strcmp(S(p, p->comment[0]), "merged for a test") &&
	      !strcmp(S(p, p->comment[1]), "window 1"),
	      "all: comments given, then the first profile's", "%zu comments", p->n_comment);

	s = find(p, "leaf;work;main", 42);
	CHECK(s && s->value[0] == 4 && s->value[1] == 4 * PERIOD,
	      "all: equal samples add up across windows", "%lld",
	      s ? (long long)s->value[0] : -1LL);
	lab = s ? label(p, s, "comm") : NULL;
	CHECK(lab && !strcmp(S(p, lab->str), "app") && s->n_label == 2, "all: string label kept",
	      "differs");
	s = find(p, "leaf;work;main", 43);
	CHECK(s && s->value[0] == 6, "all: other pid, same stack: not merged", "%lld",
	      s ? (long long)s->value[0] : -1LL);
	s = find(p, "work;main", 42);
	CHECK(s && s->value[0] == 2, "all: sample of one window", "missing");
	s = find(p, "main", 42);
	CHECK(s && s->value[0] == 1, "all: sample of another window", "missing");
	s = find(p, "query;dbmain", 7);
	CHECK(s && s->value[0] == 5 && s->value[1] == 5 * PERIOD, "all: db sample", "missing");
	s = find(p, "loop;tick;main", 99);
	lab = s ? label(p, s, "bytes") : NULL;
	CHECK(s && s->value[0] == 7 && lab && !lab->str && lab->num == 1024 &&
	      !strcmp(S(p, lab->num_unit), "bytes"),
	      "all: inlined frames innermost first, num label with unit", "missing");
	CHECK(find(p, "[stack lost]", 42) && find(p, "[kernel];loop;tick;main", 99),
	      "all: frames at the same address with other names stay apart",
	      "one took the other's name");
	CHECK(p->n_sample == 8, "all: 8 samples", "%zu", p->n_sample);
	CHECK(total(p, 0) == 1 + 2 + 5 + 4 + 1 + 3 + 6 + 7 + 2 &&
	      total(p, 1) == total(p, 0) * PERIOD, "all: totals are the sum of the windows'",
	      "%lld %lld", (long long)total(p, 0), (long long)total(p, 1));

	/* leaf, work, main, query, dbmain, tick (with loop), lost, kernel */
	CHECK(p->n_location == 8, "all: locations once each", "%zu", p->n_location);
	CHECK(p->n_mapping == 3, "all: mappings once each", "%zu", p->n_mapping);
	for (size_t i = 0; i < p->n_location; i++) {
		for (size_t j = i + 1; j < p->n_location; j++)
			unique &= p->location[i]->mapping_id != p->location[j]->mapping_id ||
				  p->location[i]->address != p->location[j]->address ||
				  p->location[i]->mapping_id == 0;
	}
	CHECK(unique, "all: one location per mapped address", "duplicates");

	s = find(p, "loop;tick;main", 99);
	l = s ? loc_by_id(p, s->location_id[0]) : NULL;
	mp = l ? map_by_id(p, l->mapping_id) : NULL;
	CHECK(l && l->address == 0x7f0000001234ULL && l->n_line == 2 &&
	      l->line[0]->line == 7 && l->line[1]->line == 70 &&
	      !strcmp(S(p, func_by_id(p, l->line[1]->function_id)->system_name), "__tick") &&
	      !strcmp(S(p, func_by_id(p, l->line[0]->function_id)->filename), "loop.c"),
	      "all: location lines, system name, file name", "differs");
	CHECK(mp && mp->memory_start == maps[2].start && mp->memory_limit == maps[2].limit &&
	      mp->file_offset == maps[2].offset && !strcmp(S(p, mp->filename), maps[2].file) &&
	      !strcmp(S(p, mp->build_id), "00112233") && mp->has_functions &&
	      mp->has_filenames && mp->has_line_numbers && mp->has_inline_frames,
	      "all: mapping with every field", "differs");
	s = find(p, "query;dbmain", 7);
	l = s ? loc_by_id(p, s->location_id[0]) : NULL;
	mp = l ? map_by_id(p, l->mapping_id) : NULL;
	CHECK(mp && !strcmp(S(p, mp->filename), "/usr/sbin/db") &&
	      !strcmp(S(p, mp->build_id), "") && mp->has_functions && !mp->has_filenames &&
	      !mp->has_inline_frames && mp->file_offset == 0x1000,
	      "all: mapping without build id, fewer flags", "differs");
	s = find(p, "[stack lost]", 42);
	l = s ? loc_by_id(p, s->location_id[0]) : NULL;
	CHECK(l && l->mapping_id == 0 && l->address == 0, "all: frame without mapping",
	      "differs");
	pprof__free(p);

	/* The same, raw: the order of adding does not change the sums. */
	{
		struct blob rev[3] = { w[2], w[1], w[0] };

		p = merged(rev, 3, NULL, false);
		s = p ? find(p, "leaf;work;main", 42) : NULL;
		CHECK(p && s && s->value[0] == 4 && p->time_nanos == T0 &&
		      p->duration_nanos == 4 * WINDOW_NS && total(p, 0) == 31 &&
		      p->n_comment == 2 && !strcmp(S(p, p->comment[1]), "window 3"),
		      "all: reverse order, raw output", "differs");
		pprof__free(p);
	}
}

static void test_filters(const struct blob *w)
{
	static const int pid42[] = { 42 }, pid7[] = { 7 }, nobody[] = { 12345 };
	static const char *const cron[] = { "cron" }, *const app[] = { "app" };
	const struct merge_filter by_pid = { .pids = pid42, .nr_pids = 1 };
	const struct merge_filter by_comm = { .comms = cron, .nr_comms = 1 };
	const struct merge_filter either = { .pids = pid7, .nr_pids = 1, .comms = cron,
					     .nr_comms = 1 };
	const struct merge_filter app_comm = { .comms = app, .nr_comms = 1 };
	const struct merge_filter none = { .pids = nobody, .nr_pids = 1 };
	const struct merge_filter empty = { 0 };
	Perftools__Profiles__Profile *p;
	bool only = true;

	p = merged(w, 3, &by_pid, true);
	for (size_t i = 0; p && i < p->n_sample; i++) {
		const Perftools__Profiles__Label *l = label(p, p->sample[i], "pid");

		only &= l && l->num == 42;
	}
	CHECK(p && only && p->n_sample == 4 && total(p, 0) == 1 + 2 + 4 + 1 + 3,
	      "filter: pid keeps only its samples", "%zu samples, total %lld",
	      p ? p->n_sample : 0, p ? (long long)total(p, 0) : -1LL);
	/* What only other processes used is not in the file at all. */
	CHECK(p && !has_string(p, "/usr/sbin/db") && !has_string(p, "query") &&
	      !has_string(p, "cron") && !has_string(p, maps[2].file) &&
	      p->n_mapping == 1 && !has_string(p, "tick"),
	      "filter: other processes' names left out", "%zu mappings", p ? p->n_mapping : 0);
	CHECK(p && p->time_nanos == T0 && p->duration_nanos == 4 * WINDOW_NS,
	      "filter: time span of every window added", "differs");
	pprof__free(p);

	p = merged(w, 3, &by_comm, true);
	CHECK(p && p->n_sample == 2 && total(p, 0) == 9 && find(p, "loop;tick;main", 99) &&
	      !has_string(p, "app"), "filter: comm keeps only its samples", "%zu samples",
	      p ? p->n_sample : 0);
	pprof__free(p);

	p = merged(w, 3, &either, true);
	CHECK(p && p->n_sample == 3 && total(p, 0) == 14 && find(p, "query;dbmain", 7),
	      "filter: a pid or a comm", "%zu samples", p ? p->n_sample : 0);
	pprof__free(p);

	p = merged(w, 3, &app_comm, true);
	CHECK(p && p->n_sample == 5 && total(p, 0) == 17 && find(p, "leaf;work;main", 43),
	      "filter: a comm of two processes", "%zu samples", p ? p->n_sample : 0);
	pprof__free(p);

	p = merged(w, 3, &none, true);
	CHECK(p && p->n_sample == 0 && p->n_location == 0 && p->n_sample_type == 2 &&
	      p->time_nanos == T0, "filter: nothing matches: an empty profile of the range",
	      "%zu samples", p ? p->n_sample : 0);
	pprof__free(p);

	p = merged(w, 3, &empty, true);
	CHECK(p && p->n_sample == 8, "filter: nothing given keeps all", "%zu samples",
	      p ? p->n_sample : 0);
	pprof__free(p);
}

static void test_refusals(const struct blob *w)
{
	static const struct pprof_value_type heap[] = {
		{ "alloc_objects", "count" }, { "alloc_space", "bytes" },
	};
	static const struct pprof_value_type cpu_ms[] = {
		{ "samples", "count" }, { "cpu", "milliseconds" },
	};
	static const uint8_t junk[] = "not a profile at all, just text\n";
	const struct pprof_opts oh = { .sample_types = heap, .nr_sample_types = N(heap) };
	const struct pprof_opts oc = { .sample_types = cpu_ms, .nr_sample_types = N(cpu_ms) };
	const struct pprof_opts o1 = { .sample_types = types, .nr_sample_types = 1 };
	struct blob other = {}, unit = {}, fewer = {};
	struct merge *m = merge__new();
	uint8_t rnd[2048], *out = NULL;
	uint32_t x = 4242;
	size_t len = 0;
	int ret;

	CHECK(m, "refuse: new", "errno %d", errno);
	if (!m)
		return;
	ret = merge__write(m, NULL, 0, true, &out, &len);
	CHECK(ret == -ENOENT && !out, "refuse: nothing added: -ENOENT", "ret %d", ret);
	CHECK(merge__count(m) == 0, "refuse: count 0", "%zu", merge__count(m));

	/* Garbage, before and after a good profile. */
	ret = merge__add(m, junk, sizeof(junk) - 1, NULL);
	CHECK(ret == -EINVAL, "refuse: text", "ret %d", ret);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		x = x * 1103515245 + 12345;
		rnd[i] = x >> 16;
	}
	ret = merge__add(m, rnd, sizeof(rnd), NULL);
	CHECK(ret == -EINVAL, "refuse: random bytes", "ret %d", ret);
	rnd[0] = 0x1f, rnd[1] = 0x8b;
	ret = merge__add(m, rnd, sizeof(rnd), NULL);
	CHECK(ret == -EINVAL, "refuse: gzip magic, then junk", "ret %d", ret);
	ret = merge__add(m, w[0].buf, w[0].len / 2, NULL);
	CHECK(ret == -EINVAL, "refuse: truncated gzip", "ret %d", ret);
	ret = merge__add(m, NULL, 10, NULL);
	CHECK(ret == -EINVAL, "refuse: NULL buffer", "ret %d", ret);
	ret = merge__add(m, w[0].buf, 0, NULL);
	CHECK(ret == -EINVAL, "refuse: empty buffer", "ret %d", ret);
	{
		const struct merge_filter bad = { .nr_pids = 2 };

		ret = merge__add(m, w[0].buf, w[0].len, &bad);
		CHECK(ret == -EINVAL, "refuse: filter with a count and no array", "ret %d", ret);
	}
	CHECK(merge__count(m) == 0 && merge__write(m, NULL, 0, true, &out, &len) == -ENOENT,
	      "refuse: still nothing added", "%zu", merge__count(m));

	ret = merge__add(m, w[0].buf, w[0].len, NULL);
	CHECK(ret == 0 && merge__count(m) == 1, "refuse: then a good one is taken", "ret %d", ret);
	ret = merge__add(m, junk, sizeof(junk) - 1, NULL);
	CHECK(ret == -EINVAL && merge__count(m) == 1, "refuse: garbage after a good one", "ret %d",
	      ret);

	if (!finish(pprof_builder__new(&oh), 0, true, &other) ||
	    !finish(pprof_builder__new(&oc), 0, true, &unit) ||
	    !finish(pprof_builder__new(&o1), 0, false, &fewer)) {
		CHECK(0, "refuse: fixtures", "errno %d", errno);
		goto cleanup;
	}
	ret = merge__add(m, other.buf, other.len, NULL);
	CHECK(ret == -EINVAL, "refuse: other sample types", "ret %d", ret);
	ret = merge__add(m, unit.buf, unit.len, NULL);
	CHECK(ret == -EINVAL, "refuse: same types, another unit", "ret %d", ret);
	ret = merge__add(m, fewer.buf, fewer.len, NULL);
	CHECK(ret == -EINVAL, "refuse: fewer sample types", "ret %d", ret);
	ret = merge__add(m, w[1].buf, w[1].len, NULL);
	CHECK(ret == 0 && merge__count(m) == 2, "refuse: a matching one still taken", "ret %d",
	      ret);
	ret = merge__write(m, NULL, 0, true, &out, &len);
	{
		Perftools__Profiles__Profile *p = ret ? NULL : pprof__read(out, len);

		CHECK(p && total(p, 0) == 8 + 14 && p->n_sample_type == 2 &&
		      p->duration_nanos == 2 * WINDOW_NS && p->n_comment == 1 &&
		      merge__skipped(m) == 0, "refuse: refused ones left nothing behind",
		      "ret %d total %lld", ret, p ? (long long)total(p, 0) : -1LL);
		pprof__free(p);
	}
	free(out);
	out = NULL;
	/* Written twice: the comments are replaced, not added to. */
	{
		static const char *const c[] = { "again" };
		Perftools__Profiles__Profile *p;

		ret = merge__write(m, c, 1, false, &out, &len);
		p = ret ? NULL : pprof__read(out, len);
		CHECK(p && p->n_comment == 2 && !strcmp(S(p, p->comment[0]), "again") &&
		      total(p, 0) == 22, "refuse: written again", "ret %d", ret);
		pprof__free(p);
	}

	/* A profile of the other types may start a merge of its own. */
	{
		struct merge *h = merge__new();

		ret = h ? merge__add(h, other.buf, other.len, NULL) : -ENOMEM;
		CHECK(ret == 0 && merge__add(h, w[0].buf, w[0].len, NULL) == -EINVAL,
		      "refuse: the first one decides", "ret %d", ret);
		merge__free(h);
	}
	CHECK(merge__add(NULL, w[0].buf, w[0].len, NULL) == -EINVAL &&
	      merge__write(NULL, NULL, 0, true, &out, &len) == -EINVAL &&
	      merge__write(m, NULL, 0, true, NULL, &len) == -EINVAL &&
	      merge__write(m, NULL, 1, true, &out, &len) == -EINVAL && merge__count(NULL) == 0,
	      "refuse: NULL arguments", "-");
	merge__free(NULL);

cleanup:
	free(out);
	free(other.buf);
	free(unit.buf);
	free(fewer.buf);
	merge__free(m);
}

/* Pack a hand-made profile; false when it does not fit. */
static bool pack(const Perftools__Profiles__Profile *hp, uint8_t *buf, size_t size, size_t *len)
{
	*len = perftools__profiles__profile__get_packed_size(hp);
	if (*len > size)
		return false;
	perftools__profiles__profile__pack(hp, buf);
	return true;
}

/* Ids are sparse and out of order, given twice, or point nowhere. What can
 * be followed is kept; a sample with anything that cannot is skipped. */
static void test_hostile(const struct blob *w)
{
	char *strs[] = { "", "samples", "count", "cpu", "nanoseconds", "good", "pid",
			 "/bin/h", "comm", "h", "other" };
	Perftools__Profiles__ValueType vt0 = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType vt1 = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType pt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *vts[] = { &vt0, &vt1 };
	Perftools__Profiles__Mapping m5 = PERFTOOLS__PROFILES__MAPPING__INIT;
	Perftools__Profiles__Mapping m6 = PERFTOOLS__PROFILES__MAPPING__INIT;
	Perftools__Profiles__Mapping *maps_[] = { &m6, &m5 };
	Perftools__Profiles__Function f1000 = PERFTOOLS__PROFILES__FUNCTION__INIT;
	Perftools__Profiles__Function f7 = PERFTOOLS__PROFILES__FUNCTION__INIT;
	Perftools__Profiles__Function *funcs[] = { &f7, &f1000 };
	Perftools__Profiles__Line lgood = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Line lmissing = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Line lbadname = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Line *good_lines[] = { &lgood }, *missing_lines[] = { &lmissing };
	Perftools__Profiles__Line *badname_lines[] = { &lbadname };
	Perftools__Profiles__Location l10 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l10dup = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l20 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l30 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l40 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l50 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l0 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location *locs[] = { &l50, &l10, &l20, &l30, &l40, &l0, &l10dup };
	Perftools__Profiles__Label pid5 = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label badkey = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label badstr = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label badunit = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label *lab_pid5[] = { &pid5 }, *lab_badkey[] = { &badkey };
	Perftools__Profiles__Label *lab_badstr[] = { &badstr }, *lab_badunit[] = { &badunit };
	uint64_t at10[] = { 10 }, at10x2[] = { 10, 10 }, at999[] = { 10, 999 }, at20[] = { 20 };
	uint64_t at30[] = { 30 }, at40[] = { 40 }, at50[] = { 50 }, at0[] = { 0 };
	int64_t v1[] = { 1, 100 }, v2[] = { 2, 200 }, v4[] = { 4, 400 }, vshort[] = { 9 };
	int64_t v3[] = { 3, 300, 3 };
	struct {
		uint64_t *locs;
		size_t nr_locs;
		int64_t *values;
		size_t nr_values;
		Perftools__Profiles__Label **labels;
	} sd[] = {
		{ at10, 1, v1, 2, lab_pid5 },	/* kept */
		{ at10x2, 2, v2, 2, NULL },	/* kept */
		{ NULL, 0, v4, 2, NULL },	/* kept: no stack at all */
		{ at999, 2, v1, 2, NULL },	/* no location 999 */
		{ at20, 1, v1, 2, NULL },	/* its mapping is missing */
		{ at30, 1, v1, 2, NULL },	/* its mapping's file is no string */
		{ at40, 1, v1, 2, NULL },	/* its function is missing */
		{ at50, 1, v1, 2, NULL },	/* its function's name is no string */
		{ at0, 1, v1, 2, NULL },	/* id 0 is no location */
		{ at10, 1, vshort, 1, NULL },	/* one value for two types */
		{ at10, 1, v3, 3, NULL },	/* three values for two types */
		{ at10, 1, v1, 2, lab_badkey },
		{ at10, 1, v1, 2, lab_badstr },
		{ at10, 1, v1, 2, lab_badunit },
	};
	Perftools__Profiles__Sample samples[N(sd)], *samplep[N(sd)];
	Perftools__Profiles__Profile hp = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__Profile *p;
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Location *l;
	struct merge *m = NULL;
	uint8_t buf[8192], *out = NULL;
	size_t len, olen;
	int ret;

	vt0.type = 1, vt0.unit = 2, vt1.type = 3, vt1.unit = 4;
	pt.type = 3, pt.unit = 4;
	m5.id = 5, m5.filename = 7, m5.memory_start = 0x1000, m5.memory_limit = 0x2000;
	m5.has_functions = true;
	m6.id = 6, m6.filename = 9999;
	f1000.id = 1000, f1000.name = 5, f1000.system_name = 5, f1000.filename = 7;
	f7.id = 7, f7.name = 12345;
	lgood.function_id = 1000, lgood.line = 3;
	lmissing.function_id = 55;
	lbadname.function_id = 7;
	l10.id = 10, l10.mapping_id = 5, l10.address = 0x1010, l10.n_line = 1;
	l10.line = good_lines;
	l10dup.id = 10, l10dup.mapping_id = 5, l10dup.address = 0x1999, l10dup.n_line = 1;
	l10dup.line = badname_lines;
	l20.id = 20, l20.mapping_id = 77, l20.address = 0x20;
	l30.id = 30, l30.mapping_id = 6, l30.address = 0x30;
	l40.id = 40, l40.mapping_id = 5, l40.address = 0x1040, l40.n_line = 1;
	l40.line = missing_lines;
	l50.id = 50, l50.mapping_id = 5, l50.address = 0x1050, l50.n_line = 1;
	l50.line = badname_lines;
	pid5.key = 6, pid5.num = 5;
	badkey.key = 5000, badkey.str = 9;
	badstr.key = 8, badstr.str = 4444;
	badunit.key = 6, badunit.num = 1, badunit.num_unit = -3;
	for (size_t i = 0; i < N(sd); i++) {
		perftools__profiles__sample__init(&samples[i]);
		samples[i].location_id = sd[i].locs;
		samples[i].n_location_id = sd[i].nr_locs;
		samples[i].value = sd[i].values;
		samples[i].n_value = sd[i].nr_values;
		samples[i].label = sd[i].labels;
		samples[i].n_label = sd[i].labels ? 1 : 0;
		samplep[i] = &samples[i];
	}
	hp.n_sample_type = 2, hp.sample_type = vts;
	hp.n_sample = N(sd), hp.sample = samplep;
	hp.n_mapping = N(maps_), hp.mapping = maps_;
	hp.n_location = N(locs), hp.location = locs;
	hp.n_function = N(funcs), hp.function = funcs;
	hp.n_string_table = N(strs), hp.string_table = strs;
	hp.period_type = &pt, hp.period = 7;
	hp.default_sample_type = 500;		/* no such string: dropped */
	hp.time_nanos = -1;			/* no time to give */
	hp.duration_nanos = 5;

	if (!pack(&hp, buf, sizeof(buf), &len)) {
		CHECK(0, "hostile: pack", "too big");
		return;
	}
	m = merge__new();
	ret = m ? merge__add(m, buf, len, NULL) : -ENOMEM;
	CHECK(ret == 0 && merge__count(m) == 1 && merge__skipped(m) == N(sd) - 3,
	      "hostile: bad samples skipped, the rest added", "ret %d, skipped %zu", ret,
	      merge__skipped(m));
	ret = ret ? ret : merge__write(m, NULL, 0, true, &out, &olen);
	p = ret ? NULL : pprof__read(out, olen);
	CHECK(p && total(p, 0) == 1 + 2 + 4 && total(p, 1) == 700 && p->n_sample == 3,
	      "hostile: only the good samples count", "ret %d total %lld", ret,
	      p ? (long long)total(p, 0) : -1LL);
	if (!p)
		goto cleanup;
	s = find(p, "good", 5);
	l = s ? loc_by_id(p, s->location_id[0]) : NULL;
	CHECK(s && s->value[0] == 1 && l && l->address == 0x1010 && l->line[0]->line == 3,
	      "hostile: sparse ids followed, the first of a twice-given id kept", "differs");
	CHECK(find(p, "good;good", 0) && find(p, "", 0), "hostile: repeated and empty stacks",
	      "missing");
	CHECK(p->n_location == 1 && p->n_mapping == 1 && p->n_function == 1 &&
	      !strcmp(S(p, p->mapping[0]->filename), "/bin/h"),
	      "hostile: nothing of the skipped ones copied", "%zu locations %zu mappings",
	      p->n_location, p->n_mapping);
	CHECK(p->time_nanos == 0 && p->duration_nanos == 0 && p->period == 7 &&
	      !strcmp(S(p, p->default_sample_type), ""),
	      "hostile: no time, no default type", "time %lld default \"%s\"",
	      (long long)p->time_nanos, S(p, p->default_sample_type));
	pprof__free(p);
	p = NULL;

	/* Beside good windows: they give the time, it adds its good samples. */
	ret = merge__add(m, w[0].buf, w[0].len, NULL);
	free(out);
	out = NULL;
	ret = ret ? ret : merge__write(m, NULL, 0, true, &out, &olen);
	p = ret ? NULL : pprof__read(out, olen);
	CHECK(p && p->time_nanos == T0 && p->duration_nanos == WINDOW_NS &&
	      total(p, 0) == 7 + 8, "hostile: then a good window", "ret %d", ret);
	pprof__free(p);
	p = NULL;
	merge__free(m);
	m = merge__new();

	/* A header naming strings that are not there is no profile to start
	 * from; nor is one without sample types. */
	vt1.unit = 99;
	ret = pack(&hp, buf, sizeof(buf), &len) && m ? merge__add(m, buf, len, NULL) : -ENOMEM;
	CHECK(ret == -EINVAL && merge__count(m) == 0, "hostile: sample type unit no string",
	      "ret %d", ret);
	vt1.unit = 4;
	pt.type = -2;
	ret = pack(&hp, buf, sizeof(buf), &len) ? merge__add(m, buf, len, NULL) : -ENOMEM;
	CHECK(ret == -EINVAL, "hostile: period type no string", "ret %d", ret);
	pt.type = 3;
	hp.n_comment = 1;
	hp.comment = (int64_t[]){ 77 };
	ret = pack(&hp, buf, sizeof(buf), &len) ? merge__add(m, buf, len, NULL) : -ENOMEM;
	CHECK(ret == -EINVAL, "hostile: comment no string", "ret %d", ret);
	hp.n_comment = 0;
	hp.n_sample_type = 0;
	hp.n_sample = 0;
	ret = pack(&hp, buf, sizeof(buf), &len) ? merge__add(m, buf, len, NULL) : -ENOMEM;
	CHECK(ret == -EINVAL && merge__count(m) == 0, "hostile: no sample types", "ret %d", ret);

	/* Times at the edge of int64: the span stops at the end of time. */
	hp.n_sample_type = 2;
	hp.time_nanos = INT64_MAX - 10;
	hp.duration_nanos = INT64_MAX;
	free(out);
	out = NULL;
	ret = pack(&hp, buf, sizeof(buf), &len) ? merge__add(m, buf, len, NULL) : -ENOMEM;
	ret = ret ? ret : merge__add(m, w[0].buf, w[0].len, NULL);
	ret = ret ? ret : merge__write(m, NULL, 0, true, &out, &olen);
	p = ret ? NULL : pprof__read(out, olen);
	CHECK(p && p->time_nanos == T0 && p->duration_nanos == INT64_MAX - T0,
	      "hostile: huge duration clamped, no overflow", "ret %d", ret);

cleanup:
	pprof__free(p);
	free(out);
	merge__free(m);
}

/* Random damage to a real window: whatever still decodes is merged, or
 * refused, without a crash (ASan and UBSan tell). */
static void test_mutations(const struct blob *w)
{
	enum { ROUNDS = 2000 };
	struct merge *m = merge__new();
	size_t len = w[1].len, added = 0;
	uint8_t *buf = malloc(len), *out = NULL;
	uint32_t x = 99;
	size_t olen;
	int ret = 0;

	if (!m || !buf) {
		CHECK(0, "mutations: setup", "ENOMEM");
		goto cleanup;
	}
	for (int r = 0; r < ROUNDS; r++) {
		int k;

		memcpy(buf, w[1].buf, len);
		for (k = 0; k < 1 + r % 4; k++) {
			x = x * 1103515245 + 12345;
			size_t i = (x >> 8) % len;

			x = x * 1103515245 + 12345;
			buf[i] = x >> 16;
		}
		k = merge__add(m, buf, len, NULL);
		if (!k)
			added++;
		else if (k != -EINVAL)
			ret = k;
	}
	if (merge__count(m))
		ret = ret ? ret : merge__write(m, NULL, 0, true, &out, &olen);
	CHECK(ret == 0 && added > 0 && added == merge__count(m),
	      "mutations: damaged windows merged or refused", "ret %d, %zu added", ret, added);
	printf("# %zu of %d damaged windows added, %zu samples skipped\n", added, ROUNDS,
	       merge__skipped(m));

cleanup:
	free(out);
	free(buf);
	merge__free(m);
}

static int read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	buf[0] = '\0';
	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

/* `go tool pprof` must read the merged file without a word on stderr. */
static void test_go(const struct blob *w)
{
	static const char *const comments[] = { "cprofd: 3 windows" };
	char pb[] = "/tmp/test_merge.XXXXXX", outf[64], errf[64], cmd[512];
	static char gout[65536], gerr[65536];
	struct merge *m = NULL;
	uint8_t *out = NULL;
	size_t len;
	int fd = -1, status, i;

	if (system("command -v go >/dev/null 2>&1")) {
		SKIP("go tool pprof reads the merge", "go is not on PATH");
		return;
	}
	m = merge__new();
	for (i = 0; m && i < 3; i++) {
		if (merge__add(m, w[i].buf, w[i].len, NULL))
			break;
	}
	if (!m || i < 3 || merge__write(m, comments, 1, true, &out, &len)) {
		CHECK(0, "go: merge", "errno %d", errno);
		goto cleanup;
	}
	fd = mkstemp(pb);
	if (fd < 0 || write(fd, out, len) != (ssize_t)len) {
		CHECK(0, "go: temporary file", "errno %d", errno);
		goto cleanup;
	}
	snprintf(outf, sizeof(outf), "%s.out", pb);
	snprintf(errf, sizeof(errf), "%s.err", pb);
	for (i = 0; i < 2; i++) {
		const char *mode = i ? "-top -sample_index=samples" : "-raw";

		snprintf(cmd, sizeof(cmd), "go tool pprof %s %s >%s 2>%s", mode, pb, outf, errf);
		printf("# %s\n", cmd);
		status = system(cmd);
		read_text(outf, gout, sizeof(gout));
		read_text(errf, gerr, sizeof(gerr));
		printf("%s", gout);
		if (*gerr)
			printf("# stderr:\n%s", gerr);
		snprintf(cmd, sizeof(cmd), "go: %s exits 0, nothing on stderr", mode);
		CHECK(status == 0 && !*gerr, cmd, "status %d, stderr: %s", status, gerr);
	}
	/* gout holds -top's output now */
	CHECK(strstr(gout, "Showing nodes accounting for 31, 100% of 31 total") &&
	      strstr(gout, "[stack lost]") && strstr(gout, "[kernel]") && strstr(gout, "loop"),
	      "go: -top agrees on the total and the names", "see above");

cleanup:
	if (fd >= 0) {
		close(fd);
		unlink(pb);
		unlink(outf);
		unlink(errf);
	}
	free(out);
	merge__free(m);
}

int main(void)
{
	struct blob w[3] = {};
	bool ok = window1(&w[0]) && window2(&w[1]) && window3(&w[2]);

	CHECK(ok, "fixtures: three windows built", "errno %d", errno);
	if (ok) {
		test_merge_all(w);
		test_filters(w);
		test_refusals(w);
		test_hostile(w);
		test_mutations(w);
		test_go(w);
	}
	for (size_t i = 0; i < N(w); i++)
		free(w[i].buf);
	return CHECK_EXIT();
}
