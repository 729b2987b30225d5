/* Unit test of daemon/profile/pprof.c: build a profile with everything a real one
 * has (two mappings, an inlined location, one without lines, recursion,
 * samples that must merge, string and numeric labels), write it, read it
 * back and compare every field; check pprof__top's numbers against hand
 * computed ones and against `go tool pprof` when it is installed; feed the
 * reader garbage and hostile profiles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "pprof.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct pprof_value_type types[] = {
	{ "samples", "count" },
	{ "cpu", "nanoseconds" },
};

static const char *const comments[] = { "cprof unit test", "second comment" };

static const struct pprof_opts opts = {
	.sample_types = types,
	.nr_sample_types = N(types),
	.default_sample_type = "cpu",
	.period_type = { "cpu", "nanoseconds" },
	.period = 10000000,
	.time_nanos = 1700000000123456789LL,
	.duration_nanos = 2500000000LL,
	.comments = comments,
	.nr_comments = N(comments),
};

static const struct pprof_mapping map_app = {
	.start = 0x400000, .limit = 0x500000, .offset = 0,
	.file = "/usr/bin/app", .build_id = "abcdef0123456789",
	.has_functions = true, .has_filenames = true, .has_line_numbers = true,
	.has_inline_frames = false,
};

static const struct pprof_mapping map_libc = {
	.start = 0x7f0000000000ULL, .limit = 0x7f0000100000ULL, .offset = 0x1000,
	.file = "/lib/x86_64-linux-gnu/libc.so.6", .build_id = NULL,
	.has_functions = true,
};

/* Ids handed out by the builder for the fixture. */
struct fixture {
	uint64_t m_app, m_libc;
	uint64_t l_leaf, l_inl, l_main, l_libc, l_rec1, l_rec2;
};

/* Labels are built from copies that are overwritten afterwards, so the test
 * also shows that the builder copies its strings. */
static char scratch_comm[16];

static struct pprof_builder *build_fixture(struct fixture *f)
{
	const struct pprof_line leaf[] = { { "leaf", NULL, "src/app.c", 10 } };
	/* helper() inlined into work(): innermost first. */
	const struct pprof_line inl[] = {
		{ "helper", NULL, "src/app.c", 20 },
		{ "work", "_Z4workv", "src/app.c", 30 },
	};
	const struct pprof_line mainl[] = { { "main", NULL, "src/app.c", 40 } };
	const struct pprof_line rec1[] = { { "recurse", NULL, "src/app.c", 50 } };
	const struct pprof_line rec2[] = { { "recurse", NULL, "src/app.c", 52 } };
	struct pprof_label l42[2], l43[2], l42r[2], lrec[2];
	struct pprof_builder *b = pprof_builder__new(&opts);
	int64_t v[2];
	int err = 0;

	if (!b)
		return NULL;
	f->m_app = pprof_builder__mapping(b, &map_app);
	f->m_libc = pprof_builder__mapping(b, &map_libc);
	f->l_leaf = pprof_builder__location(b, f->m_app, 0x401000, leaf, N(leaf));
	f->l_inl = pprof_builder__location(b, f->m_app, 0x401100, inl, N(inl));
	f->l_main = pprof_builder__location(b, f->m_app, 0x401200, mainl, N(mainl));
	f->l_libc = pprof_builder__location(b, f->m_libc, 0x7f0000001234ULL, NULL, 0);
	f->l_rec1 = pprof_builder__location(b, f->m_app, 0x401300, rec1, N(rec1));
	f->l_rec2 = pprof_builder__location(b, f->m_app, 0x401310, rec2, N(rec2));

	strcpy(scratch_comm, "app");
	l42[0] = (struct pprof_label){ .key = "pid", .num = 42 };
	l42[1] = (struct pprof_label){ .key = "comm", .str = scratch_comm };
	l43[0] = (struct pprof_label){ .key = "pid", .num = 43 };
	l43[1] = (struct pprof_label){ .key = "comm", .str = scratch_comm };
	l42r[0] = l42[1];	/* the same labels in the other order */
	l42r[1] = l42[0];
	lrec[0] = (struct pprof_label){ .key = "bytes", .num = 1024, .num_unit = "bytes" };
	lrec[1] = (struct pprof_label){ .key = "thread", .str = "t1" };

	{
		const uint64_t s1[] = { f->l_leaf, f->l_inl, f->l_main };
		const uint64_t s5[] = { f->l_rec1, f->l_rec2, f->l_rec1, f->l_main };
		const uint64_t s6[] = { f->l_libc, f->l_main };

		v[0] = 1, v[1] = 10000000;
		err |= pprof_builder__sample(b, s1, N(s1), v, l42, 2);
		v[0] = 2, v[1] = 20000000;
		err |= pprof_builder__sample(b, s1, N(s1), v, l42, 2);
		v[0] = 1, v[1] = 10000000;
		err |= pprof_builder__sample(b, s1, N(s1), v, l42r, 2);
		err |= pprof_builder__sample(b, s1, N(s1), v, l43, 2);
		v[0] = 5, v[1] = 50000000;
		err |= pprof_builder__sample(b, s5, N(s5), v, lrec, 2);
		v[0] = 2, v[1] = 20000000;
		err |= pprof_builder__sample(b, s6, N(s6), v, l42, 2);
	}
	strcpy(scratch_comm, "XXX");
	if (err) {
		pprof_builder__free(b);
		errno = -err;
		return NULL;
	}
	return b;
}

/* String i of a decoded profile, or a marker that no test expects. */
static const char *S(const Perftools__Profiles__Profile *p, int64_t i)
{
	if (i < 0 || (size_t)i >= p->n_string_table)
		return "<out of range>";
	return p->string_table[i];
}

static const Perftools__Profiles__Function *func_by_id(const Perftools__Profiles__Profile *p,
						       uint64_t id)
{
	size_t i;

	for (i = 0; i < p->n_function; i++) {
		if (p->function[i]->id == id)
			return p->function[i];
	}
	return NULL;
}

static const Perftools__Profiles__Location *loc_by_id(const Perftools__Profiles__Profile *p,
						      uint64_t id)
{
	size_t i;

	for (i = 0; i < p->n_location; i++) {
		if (p->location[i]->id == id)
			return p->location[i];
	}
	return NULL;
}

/* Name of line j of location id, or "". */
static const char *loc_func(const Perftools__Profiles__Profile *p, uint64_t id, size_t j)
{
	const Perftools__Profiles__Location *l = loc_by_id(p, id);
	const Perftools__Profiles__Function *f;

	if (!l || j >= l->n_line)
		return "";
	f = func_by_id(p, l->line[j]->function_id);
	return f ? S(p, f->name) : "";
}

/* The label key of sample s, or NULL. */
static const Perftools__Profiles__Label *label(const Perftools__Profiles__Profile *p,
					       const Perftools__Profiles__Sample *s,
					       const char *key)
{
	size_t i;

	for (i = 0; i < s->n_label; i++) {
		if (!strcmp(S(p, s->label[i]->key), key))
			return s->label[i];
	}
	return NULL;
}

/* The sample with these locations whose numeric label key is num. */
static const Perftools__Profiles__Sample *find_sample(const Perftools__Profiles__Profile *p,
						      const uint64_t *locs, size_t nr,
						      const char *key, int64_t num)
{
	size_t i;

	for (i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		const Perftools__Profiles__Label *l = label(p, s, key);

		if (s->n_location_id == nr && !memcmp(s->location_id, locs, nr * sizeof(*locs)) &&
		    l && !l->str && l->num == num)
			return s;
	}
	return NULL;
}

static void check_mapping(const Perftools__Profiles__Profile *p, size_t i, uint64_t id,
			  const struct pprof_mapping *want)
{
	const Perftools__Profiles__Mapping *m = i < p->n_mapping ? p->mapping[i] : NULL;
	char name[64];

	snprintf(name, sizeof(name), "roundtrip: mapping %zu", i + 1);
	CHECK(m && m->id == id && m->id == i + 1 && m->memory_start == want->start &&
	      m->memory_limit == want->limit && m->file_offset == want->offset &&
	      !strcmp(S(p, m->filename), want->file) &&
	      !strcmp(S(p, m->build_id), want->build_id ? want->build_id : "") &&
	      m->has_functions == want->has_functions && m->has_filenames == want->has_filenames &&
	      m->has_line_numbers == want->has_line_numbers &&
	      m->has_inline_frames == want->has_inline_frames,
	      name, "mapping differs (id %llu)", m ? (unsigned long long)m->id : 0ULL);
}

static void check_profile(const Perftools__Profiles__Profile *p, const struct fixture *f,
			  const char *how)
{
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Location *l;
	const Perftools__Profiles__Function *fn;
	const Perftools__Profiles__Label *lab;
	bool dup = false, ids = true;
	size_t i, j;

	printf("# checking the %s profile\n", how);
	CHECK(p->n_string_table > 0 && !strcmp(p->string_table[0], ""), "roundtrip: strings[0]",
	      "string table starts with \"%s\"", p->n_string_table ? p->string_table[0] : "?");
	for (i = 0; i < p->n_string_table; i++) {
		for (j = i + 1; j < p->n_string_table; j++)
			dup |= !strcmp(p->string_table[i], p->string_table[j]);
	}
	CHECK(!dup, "roundtrip: strings unique", "duplicate strings in the table");

	CHECK(p->n_sample_type == 2 && !strcmp(S(p, p->sample_type[0]->type), "samples") &&
	      !strcmp(S(p, p->sample_type[0]->unit), "count") &&
	      !strcmp(S(p, p->sample_type[1]->type), "cpu") &&
	      !strcmp(S(p, p->sample_type[1]->unit), "nanoseconds"),
	      "roundtrip: sample types", "%zu types", p->n_sample_type);
	CHECK(!strcmp(S(p, p->default_sample_type), "cpu"), "roundtrip: default type",
	      "\"%s\"", S(p, p->default_sample_type));
	CHECK(p->period_type && !strcmp(S(p, p->period_type->type), "cpu") &&
	      !strcmp(S(p, p->period_type->unit), "nanoseconds") && p->period == 10000000,
	      "roundtrip: period", "period %lld", (long long)p->period);
	CHECK(p->time_nanos == opts.time_nanos && p->duration_nanos == opts.duration_nanos,
	      "roundtrip: time", "time %lld duration %lld", (long long)p->time_nanos,
	      (long long)p->duration_nanos);
	CHECK(p->n_comment == 2 && !strcmp(S(p, p->comment[0]), comments[0]) &&
	      !strcmp(S(p, p->comment[1]), comments[1]), "roundtrip: comments",
	      "%zu comments", p->n_comment);
	CHECK(p->drop_frames == 0 && p->keep_frames == 0, "roundtrip: no drop/keep frames",
	      "%lld %lld", (long long)p->drop_frames, (long long)p->keep_frames);

	CHECK(p->n_mapping == 2, "roundtrip: 2 mappings", "%zu", p->n_mapping);
	check_mapping(p, 0, f->m_app, &map_app);
	check_mapping(p, 1, f->m_libc, &map_libc);

	/* leaf, helper, work, main, recurse: recurse is one function for two
	 * locations. */
	CHECK(p->n_function == 5, "roundtrip: 5 functions", "%zu", p->n_function);
	for (i = 0; i < p->n_function; i++)
		ids &= p->function[i]->id == i + 1;
	CHECK(ids, "roundtrip: function ids 1..n", "ids not numbered from 1");
	fn = func_by_id(p, loc_by_id(p, f->l_leaf)->line[0]->function_id);
	CHECK(fn && !strcmp(S(p, fn->name), "leaf") && !strcmp(S(p, fn->system_name), "leaf") &&
	      !strcmp(S(p, fn->filename), "src/app.c"), "roundtrip: system_name defaults to name",
	      "leaf: %s %s", fn ? S(p, fn->name) : "?", fn ? S(p, fn->system_name) : "?");
	l = loc_by_id(p, f->l_inl);
	fn = l && l->n_line == 2 ? func_by_id(p, l->line[1]->function_id) : NULL;
	CHECK(fn && !strcmp(S(p, fn->name), "work") && !strcmp(S(p, fn->system_name), "_Z4workv"),
	      "roundtrip: system_name given", "work: %s", fn ? S(p, fn->system_name) : "?");
	CHECK(loc_by_id(p, f->l_rec1)->line[0]->function_id ==
	      loc_by_id(p, f->l_rec2)->line[0]->function_id, "roundtrip: functions deduplicated",
	      "recurse has two function ids");

	CHECK(p->n_location == 6, "roundtrip: 6 locations", "%zu", p->n_location);
	ids = true;
	for (i = 0; i < p->n_location; i++)
		ids &= p->location[i]->id == i + 1;
	CHECK(ids && f->l_leaf == 1 && f->l_rec2 == 6, "roundtrip: location ids 1..n",
	      "ids not numbered from 1");
	l = loc_by_id(p, f->l_leaf);
	CHECK(l && l->mapping_id == f->m_app && l->address == 0x401000 && l->n_line == 1 &&
	      l->line[0]->line == 10 && !strcmp(loc_func(p, f->l_leaf, 0), "leaf"),
	      "roundtrip: leaf location", "differs");
	l = loc_by_id(p, f->l_inl);
	CHECK(l && l->mapping_id == f->m_app && l->address == 0x401100 && l->n_line == 2 &&
	      !strcmp(loc_func(p, f->l_inl, 0), "helper") && l->line[0]->line == 20 &&
	      !strcmp(loc_func(p, f->l_inl, 1), "work") && l->line[1]->line == 30,
	      "roundtrip: inlined location", "differs");
	l = loc_by_id(p, f->l_libc);
	CHECK(l && l->mapping_id == f->m_libc && l->address == 0x7f0000001234ULL && !l->n_line,
	      "roundtrip: location without lines", "differs");

	/* s1, s2 and s3 (labels reordered) merged; s4 differs by pid. */
	CHECK(p->n_sample == 4, "roundtrip: 4 samples after merging", "%zu", p->n_sample);
	{
		const uint64_t s1[] = { f->l_leaf, f->l_inl, f->l_main };
		const uint64_t s5[] = { f->l_rec1, f->l_rec2, f->l_rec1, f->l_main };
		const uint64_t s6[] = { f->l_libc, f->l_main };

		s = find_sample(p, s1, N(s1), "pid", 42);
		lab = s ? label(p, s, "comm") : NULL;
		CHECK(s && s->n_value == 2 && s->value[0] == 4 && s->value[1] == 40000000 &&
		      s->n_label == 2 && lab && !strcmp(S(p, lab->str), "app") && !lab->num &&
		      !lab->num_unit, "roundtrip: merged sample values and labels",
		      "values %lld %lld", s ? (long long)s->value[0] : -1LL,
		      s && s->n_value > 1 ? (long long)s->value[1] : -1LL);
		lab = s ? label(p, s, "pid") : NULL;
		CHECK(lab && !lab->str && lab->num == 42 && !lab->num_unit,
		      "roundtrip: num label without unit", "differs");
		s = find_sample(p, s1, N(s1), "pid", 43);
		CHECK(s && s->value[0] == 1 && s->value[1] == 10000000,
		      "roundtrip: different labels not merged", "pid 43 sample missing");
		s = find_sample(p, s5, N(s5), "bytes", 1024);
		lab = s ? label(p, s, "bytes") : NULL;
		CHECK(s && s->value[0] == 5 && lab && !strcmp(S(p, lab->num_unit), "bytes") &&
		      label(p, s, "thread") && !strcmp(S(p, label(p, s, "thread")->str), "t1"),
		      "roundtrip: recursive sample, num_unit", "differs");
		s = find_sample(p, s6, N(s6), "pid", 42);
		CHECK(s && s->value[0] == 2 && s->value[1] == 20000000,
		      "roundtrip: sample through libc", "differs");
	}
	ids = true;
	for (i = 0; i < p->n_sample; i++)
		ids &= p->sample[i]->n_value == 2;
	CHECK(ids, "roundtrip: every sample has 2 values", "one has not");
}

/* The whole output of fn(p, ...) into a malloc'd string. */
static char *top_string(const Perftools__Profiles__Profile *p, const char *type, int n, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		*ret = -errno;
		return NULL;
	}
	*ret = pprof__top(p, type, n, f);
	fclose(f);
	return buf;
}

static char *text_string(const Perftools__Profiles__Profile *p, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		*ret = -errno;
		return NULL;
	}
	*ret = pprof__text(p, f);
	fclose(f);
	return buf;
}

/* The row of a -top table for name: its five number columns joined by
 * single spaces, so that our table and Go's compare exactly. */
static bool top_row(const char *table, const char *name, char *row, size_t size)
{
	const char *line = table;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char copy[512], c[5][64], *rest;
		int off = -1;

		if (len < sizeof(copy)) {
			memcpy(copy, line, len);
			copy[len] = '\0';
			/* Go marks inlined functions; not part of the name. */
			if (len > 9 && !strcmp(copy + len - 9, " (inline)"))
				copy[len - 9] = '\0';
			sscanf(copy, "%63s %63s %63s %63s %63s %n", c[0], c[1], c[2], c[3], c[4],
			       &off);
			rest = off >= 0 ? copy + off : NULL;
			if (rest && !strcmp(rest, name))
				return snprintf(row, size, "%s %s %s %s %s", c[0], c[1], c[2], c[3],
						c[4]) < (int)size;
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

static void test_roundtrip(void)
{
	Perftools__Profiles__Profile *p;
	struct pprof_builder *b;
	struct fixture f;
	uint8_t *out = NULL, *z = NULL;
	size_t len = 0;
	uLongf zlen;
	int ret;

	b = build_fixture(&f);
	CHECK(b, "build fixture", "errno %d", errno);
	if (!b)
		return;
	CHECK(f.m_app == 1 && f.m_libc == 2 && pprof_builder__mapping(b, &map_app) == 1,
	      "mapping ids and dedup", "%llu %llu", (unsigned long long)f.m_app,
	      (unsigned long long)f.m_libc);
	CHECK(pprof_builder__find_location(b, f.m_app, 0x401100) == f.l_inl &&
	      pprof_builder__find_location(b, f.m_app, 0x999999) == 0 &&
	      pprof_builder__find_location(b, f.m_libc, 0x401100) == 0,
	      "find_location", "wrong ids");
	CHECK(pprof_builder__location(b, f.m_app, 0x401000, NULL, 0) == f.l_leaf,
	      "location dedup", "new id for a known address");
	errno = 0;
	CHECK(pprof_builder__location(b, 99, 0x1234, NULL, 0) == 0 && errno == EINVAL,
	      "location with unknown mapping", "errno %d", errno);
	{
		const uint64_t bad[] = { f.l_leaf, 99 };
		const int64_t v[2] = { 1, 1 };
		const struct pprof_label nokey = { .key = NULL, .str = "x" };

		CHECK(pprof_builder__sample(b, bad, 2, v, NULL, 0) == -EINVAL,
		      "sample with unknown location", "accepted");
		CHECK(pprof_builder__sample(b, bad, 1, NULL, NULL, 0) == -EINVAL,
		      "sample without values", "accepted");
		CHECK(pprof_builder__sample(b, bad, 1, v, &nokey, 1) == -EINVAL,
		      "label without key", "accepted");
	}

	ret = pprof_builder__write(b, true, &out, &len);
	CHECK(ret == 0 && len > 2 && out[0] == 0x1f && out[1] == 0x8b, "write gzip",
	      "ret %d len %zu", ret, len);
	p = ret ? NULL : pprof__read(out, len);
	CHECK(p, "read gzip", "errno %d", errno);
	if (p)
		check_profile(p, &f, "gzipped");
	pprof__free(p);
	free(out);
	out = NULL;

	ret = pprof_builder__write(b, false, &out, &len);
	CHECK(ret == 0 && len > 2 && out[0] != 0x1f, "write raw", "ret %d", ret);
	p = ret ? NULL : pprof__read(out, len);
	CHECK(p, "read raw", "errno %d", errno);
	if (p)
		check_profile(p, &f, "raw");
	pprof__free(p);

	/* zlib rather than gzip framing is accepted too. */
	zlen = compressBound(len);
	z = malloc(zlen);
	if (z && out && compress2(z, &zlen, out, len, 6) == Z_OK) {
		p = pprof__read(z, zlen);
		CHECK(p && p->n_sample == 4 && p->n_location == 6, "read zlib", "errno %d", errno);
		pprof__free(p);
	} else {
		CHECK(0, "read zlib", "compress2 failed");
	}
	free(z);
	free(out);
	{
		struct pprof_mapping m = map_app;

		/* Flags are not part of a mapping's identity. */
		m.has_inline_frames = true;
		CHECK(pprof_builder__mapping(b, &m) == 1, "mapping dedup ignores flags", "new id");
		m.offset = 0x2000;
		CHECK(pprof_builder__mapping(b, &m) == 3, "mapping with new offset is new",
		      "not 3");
	}
	pprof_builder__free(b);
}

static void test_top(void)
{
	Perftools__Profiles__Profile *p = NULL;
	struct pprof_builder *b;
	struct fixture f;
	uint8_t *out = NULL;
	char *t, row[256];
	size_t len;
	int ret;

	b = build_fixture(&f);
	if (!b || pprof_builder__write(b, true, &out, &len) || !(p = pprof__read(out, len))) {
		CHECK(0, "top: fixture", "errno %d", errno);
		goto cleanup;
	}

	CHECK(pprof__sample_index(p, NULL) == 1 && pprof__sample_index(p, "samples") == 0 &&
	      pprof__sample_index(p, "cpu") == 1 && pprof__sample_index(p, "nope") == -1,
	      "sample_index", "wrong index");

	t = top_string(p, "samples", 0, &ret);
	printf("# pprof__top samples:\n%s", t ? t : "");
	CHECK(ret == 0 && t && strstr(t, "Showing nodes accounting for 12, 100% of 12 total\n"),
	      "top: total", "ret %d", ret);
	/* recurse is three frames of one sample of 5: flat 5, cum 5, not 15. */
	CHECK(t && top_row(t, "recurse", row, sizeof(row)) &&
	      !strcmp(row, "5 41.67% 83.33% 5 41.67%"), "top: recursive flat and cum",
	      "row \"%s\"", row);
	CHECK(t && top_row(t, "leaf", row, sizeof(row)) &&
	      !strcmp(row, "5 41.67% 41.67% 5 41.67%"), "top: leaf (ties sorted by name)",
	      "row \"%s\"", row);
	CHECK(t && top_row(t, "main", row, sizeof(row)) && !strcmp(row, "0 0% 100% 12 100%"),
	      "top: main cum", "row \"%s\"", row);
	CHECK(t && top_row(t, "helper", row, sizeof(row)) && !strcmp(row, "0 0% 100% 5 41.67%"),
	      "top: inlined function cum", "row \"%s\"", row);
	CHECK(t && top_row(t, "work", row, sizeof(row)) && !strcmp(row, "0 0% 100% 5 41.67%"),
	      "top: inlined-into function cum", "row \"%s\"", row);
	CHECK(t && top_row(t, "0x7f0000001234 [libc.so.6]", row, sizeof(row)) &&
	      !strcmp(row, "2 16.67% 100% 2 16.67%"), "top: address without lines",
	      "row \"%s\"", row);
	CHECK(t && strstr(t, "      flat  flat%   sum%        cum   cum%\n") &&
	      strstr(t, "         5 41.67% 41.67%          5 41.67%  leaf\n         5 41.67% "),
	      "top: layout", "see the table above");
	free(t);

	t = top_string(p, NULL, 0, &ret);
	CHECK(ret == 0 && t && strstr(t, "Type: cpu\n") &&
	      strstr(t, "accounting for 120ms, 100% of 120ms total") &&
	      top_row(t, "recurse", row, sizeof(row)) &&
	      !strcmp(row, "50ms 41.67% 83.33% 50ms 41.67%"), "top: default type, ns as ms",
	      "ret %d, row \"%s\"", ret, row);
	free(t);

	t = top_string(p, "samples", 2, &ret);
	CHECK(ret == 0 && t && strstr(t, "Showing top 2 nodes out of 6\n") &&
	      strstr(t, "accounting for 10, 83.33% of 12 total") &&
	      !top_row(t, "main", row, sizeof(row)), "top: n limits rows",
	      "ret %d", ret);
	free(t);

	t = top_string(p, "nope", 0, &ret);
	CHECK(ret == -EINVAL, "top: unknown type", "ret %d", ret);
	free(t);

	t = text_string(p, &ret);
	printf("# pprof__text:\n%s", t ? t : "");
	CHECK(ret == 0 && t &&
	      strstr(t, "Sample types: samples/count cpu/nanoseconds (default: cpu)\n") &&
	      strstr(t, "Period: 10000000 cpu/nanoseconds\n") &&
	      strstr(t, "Comment: cprof unit test\n") &&
	      strstr(t, " 4 40000000\n") && strstr(t, "comm=\"app\"") && strstr(t, "pid=42") &&
	      strstr(t, "bytes=1024[bytes]") &&
	      strstr(t, "0x0000000000401100 helper src/app.c:20 (inline)\n") &&
	      strstr(t, "0x0000000000401100 work src/app.c:30\n") &&
	      strstr(t, "0x7f0000001234 [libc.so.6]\n") && strstr(t, "build_id=abcdef0123456789"),
	      "text: dump", "ret %d", ret);
	free(t);

cleanup:
	pprof__free(p);
	free(out);
	pprof_builder__free(b);
}

/* Human units: one sample of each size that matters. */
static void test_units(void)
{
	static const struct pprof_value_type ut[] = {
		{ "cpu", "nanoseconds" }, { "alloc_space", "bytes" }, { "objects", "count" },
	};
	const struct pprof_opts o = { .sample_types = ut, .nr_sample_types = N(ut) };
	const struct pprof_line la[] = { { "a", NULL, NULL, 0 } };
	const struct pprof_line lb[] = { { "b", NULL, NULL, 0 } };
	const int64_t va[] = { 1500000000, 1536, 7 }, vb[] = { 450000000, 3 << 20, 1234567 };
	struct pprof_builder *b = pprof_builder__new(&o);
	Perftools__Profiles__Profile *p = NULL;
	uint64_t a, bb;
	uint8_t *out = NULL;
	size_t len;
	char *t, row[256];
	int ret;

	if (!b)
		goto fail;
	a = pprof_builder__location(b, 0, 0x10, la, 1);
	bb = pprof_builder__location(b, 0, 0x20, lb, 1);
	if (!a || !bb || pprof_builder__sample(b, &a, 1, va, NULL, 0) ||
	    pprof_builder__sample(b, &bb, 1, vb, NULL, 0) ||
	    pprof_builder__write(b, true, &out, &len) || !(p = pprof__read(out, len)))
		goto fail;

	t = top_string(p, "cpu", 0, &ret);
	CHECK(t && strstr(t, "accounting for 1.95s, 100% of 1.95s total") &&
	      top_row(t, "a", row, sizeof(row)) && !strncmp(row, "1.50s ", 6) &&
	      top_row(t, "b", row, sizeof(row)) && !strncmp(row, "450ms ", 6),
	      "units: nanoseconds", "%s", t ? t : "");
	free(t);
	t = top_string(p, "alloc_space", 0, &ret);
	CHECK(t && top_row(t, "a", row, sizeof(row)) && !strncmp(row, "1.50kB ", 7) &&
	      top_row(t, "b", row, sizeof(row)) && !strncmp(row, "3MB ", 4),
	      "units: bytes", "%s", t ? t : "");
	free(t);
	/* The default with none named is the last type, as in Go. */
	t = top_string(p, NULL, 0, &ret);
	CHECK(t && strstr(t, "Type: objects\n") && top_row(t, "b", row, sizeof(row)) &&
	      !strncmp(row, "1234567 ", 8), "units: count, last type by default",
	      "%s", t ? t : "");
	free(t);
	goto cleanup;

fail:
	CHECK(0, "units: build", "errno %d", errno);
cleanup:
	pprof__free(p);
	free(out);
	pprof_builder__free(b);
}

static void expect_einval(const char *name, const uint8_t *buf, size_t len)
{
	Perftools__Profiles__Profile *p;

	errno = 0;
	p = pprof__read(buf, len);
	CHECK(!p && errno == EINVAL, name, "p %p errno %d", (void *)p, errno);
	pprof__free(p);
}

static size_t gzip_mem(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs = {};
	size_t n;

	if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	zs.next_in = (Bytef *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	n = deflate(&zs, Z_FINISH) == Z_STREAM_END ? cap - zs.avail_out : 0;
	deflateEnd(&zs);
	return n;
}

static void test_garbage(void)
{
	static const char text[] = "this is not a profile, just some text\n";
	uint8_t rnd[4096], gz[8192], good[8192];
	struct pprof_builder *b;
	struct fixture f;
	uint8_t *out = NULL;
	uint32_t x = 12345;
	size_t len = 0, n, i;
	int seed;
	char name[64];

	expect_einval("garbage: text", (const uint8_t *)text, sizeof(text) - 1);
	expect_einval("garbage: empty", (const uint8_t *)"", 0);
	expect_einval("garbage: NULL", NULL, 10);
	for (seed = 0; seed < 8; seed++) {
		for (i = 0; i < sizeof(rnd); i++) {
			x = x * 1103515245 + 12345;
			rnd[i] = x >> 16;
		}
		snprintf(name, sizeof(name), "garbage: random bytes %d", seed);
		expect_einval(name, rnd, sizeof(rnd) >> seed);
	}
	n = gzip_mem((const uint8_t *)text, sizeof(text) - 1, gz, sizeof(gz));
	expect_einval("garbage: gzipped text", gz, n);
	rnd[0] = 0x1f, rnd[1] = 0x8b;
	expect_einval("garbage: gzip magic then junk", rnd, 512);

	b = build_fixture(&f);
	if (!b || pprof_builder__write(b, true, &out, &len) || len > sizeof(good)) {
		CHECK(0, "garbage: fixture", "errno %d", errno);
		goto cleanup;
	}
	expect_einval("garbage: truncated gzip", out, len / 2);
	expect_einval("garbage: gzip without its trailer", out, len - 4);
	memcpy(good, out, len);
	memcpy(good + len, "junk", 4);
	expect_einval("garbage: gzip with trailing junk", good, len + 4);
	/* Two gzip members, as `cat a.gz b.gz` makes: Go reads them as one. */
	if (2 * len <= sizeof(good)) {
		Perftools__Profiles__Profile *p;

		memcpy(good + len, out, len);
		p = pprof__read(good, 2 * len);

		/* The concatenated protobuf repeats every message: twice the
		 * samples, string table "" twice. */
		CHECK(p && p->n_sample == 8, "read: concatenated gzip members", "errno %d", errno);
		pprof__free(p);
	}
	free(out);
	out = NULL;
	if (!pprof_builder__write(b, false, &out, &len))
		expect_einval("garbage: raw protobuf truncated", out, len - 1);

cleanup:
	free(out);
	pprof_builder__free(b);
}

/* A profile that decodes but references nothing that exists: the reader
 * side must show unknowns, not crash. */
static void test_hostile(void)
{
	char *strs[] = { "", "cpu", "nanoseconds", "x" };
	Perftools__Profiles__ValueType vt0 = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType vt1 = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType pt = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *vts[] = { &vt0, &vt1 };
	Perftools__Profiles__Line ln0 = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Line ln1 = PERFTOOLS__PROFILES__LINE__INIT;
	Perftools__Profiles__Line *lns[] = { &ln0, &ln1 };
	Perftools__Profiles__Location l1 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l2 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location l0 = PERFTOOLS__PROFILES__LOCATION__INIT;
	Perftools__Profiles__Location *locs[] = { &l1, &l2, &l0, &l1 };
	Perftools__Profiles__Function f1 = PERFTOOLS__PROFILES__FUNCTION__INIT;
	Perftools__Profiles__Function *funcs[] = { &f1 };
	Perftools__Profiles__Mapping m1 = PERFTOOLS__PROFILES__MAPPING__INIT;
	Perftools__Profiles__Mapping *maps[] = { &m1 };
	Perftools__Profiles__Label lab = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label lab2 = PERFTOOLS__PROFILES__LABEL__INIT;
	Perftools__Profiles__Label *labs[] = { &lab, &lab2 };
	Perftools__Profiles__Sample s0 = PERFTOOLS__PROFILES__SAMPLE__INIT;
	Perftools__Profiles__Sample s1 = PERFTOOLS__PROFILES__SAMPLE__INIT;
	Perftools__Profiles__Sample s2 = PERFTOOLS__PROFILES__SAMPLE__INIT;
	Perftools__Profiles__Sample *samples[] = { &s0, &s1, &s2 };
	Perftools__Profiles__Profile hp = PERFTOOLS__PROFILES__PROFILE__INIT;
	uint64_t ids0[] = { 999, 1, 2 }, ids2[] = { 1 };
	int64_t v0[] = { 5 }, v1[] = { 3, 4 }, v2[] = { 7, 7 }, cm[] = { 1234, -1 };
	Perftools__Profiles__Profile *p;
	uint8_t buf[4096];
	size_t len;
	char *t;
	int ret;

	vt0.type = 1, vt0.unit = 2;
	vt1.type = 99, vt1.unit = -3;
	pt.type = 77, pt.unit = -88;
	ln0.function_id = 55;
	ln1.function_id = 1;
	l1.id = 1, l1.mapping_id = 77, l1.address = 0x1000, l1.n_line = 2, l1.line = lns;
	l2.id = 2, l2.mapping_id = 1, l2.address = 0x2000;
	l0.id = 0;
	f1.id = 1, f1.name = -5, f1.system_name = 1 << 30, f1.filename = 999;
	m1.id = 1, m1.filename = 1234, m1.build_id = -1;
	lab.key = 1000, lab.str = -1;
	lab2.key = 3, lab2.num = 5, lab2.num_unit = 4444;
	s0.n_location_id = 3, s0.location_id = ids0, s0.n_value = 1, s0.value = v0;
	s1.n_value = 2, s1.value = v1;		/* no locations at all */
	s2.n_location_id = 1, s2.location_id = ids2, s2.n_value = 2, s2.value = v2;
	s2.n_label = 2, s2.label = labs;
	hp.n_sample_type = 2, hp.sample_type = vts;
	hp.n_sample = 3, hp.sample = samples;
	hp.n_mapping = 1, hp.mapping = maps;
	hp.n_location = 4, hp.location = locs;	/* id 1 twice, id 0 */
	hp.n_function = 1, hp.function = funcs;
	hp.n_string_table = N(strs), hp.string_table = strs;
	hp.period_type = &pt;
	hp.n_comment = 2, hp.comment = cm;
	hp.default_sample_type = 500;
	hp.time_nanos = -1;

	len = perftools__profiles__profile__get_packed_size(&hp);
	if (len > sizeof(buf)) {
		CHECK(0, "hostile: pack", "too big");
		return;
	}
	perftools__profiles__profile__pack(&hp, buf);
	p = pprof__read(buf, len);
	CHECK(p, "hostile: decodes", "errno %d", errno);
	if (!p)
		return;
	t = top_string(p, "cpu", 0, &ret);
	CHECK(ret == 0 && t && strstr(t, "<unknown>") && strstr(t, "0x1000") &&
	      strstr(t, "0x2000"), "hostile: top by type", "ret %d: %s", ret, t ? t : "");
	free(t);
	t = top_string(p, NULL, 3, &ret);
	CHECK(ret == 0, "hostile: top default type out of range", "ret %d", ret);
	free(t);
	t = text_string(p, &ret);
	CHECK(ret == 0 && t && strstr(t, "<unknown location 999>"), "hostile: text",
	      "ret %d", ret);
	free(t);
	pprof__free(p);

	/* In memory, NULL entries too, which protobuf-c never makes but a
	 * caller building a profile by hand might. */
	{
		Perftools__Profiles__Sample *ns[] = { &s0, NULL, &s2 };
		Perftools__Profiles__Location *nl[] = { NULL, &l2, &l1 };
		Perftools__Profiles__Line *nln[] = { NULL, &ln1 };
		char *nstr[] = { "", NULL, "nanoseconds" };

		hp.sample = ns;
		hp.location = nl;
		hp.n_location = 3;
		l1.line = nln;
		hp.string_table = nstr;
		hp.n_string_table = 3;
		t = top_string(&hp, NULL, 0, &ret);
		CHECK(ret == 0, "hostile: top with NULL entries", "ret %d", ret);
		free(t);
		t = text_string(&hp, &ret);
		CHECK(ret == 0, "hostile: text with NULL entries", "ret %d", ret);
		free(t);
		hp.n_string_table = 0;
		hp.string_table = NULL;
		t = text_string(&hp, &ret);
		CHECK(ret == 0, "hostile: text with no string table", "ret %d", ret);
		free(t);
		t = top_string(&hp, "", 0, &ret);
		CHECK(ret == 0, "hostile: top with no string table", "ret %d", ret);
		free(t);
	}
	t = top_string(NULL, NULL, 0, &ret);
	CHECK(ret == -EINVAL, "top: NULL profile", "ret %d", ret);
	free(t);
}

/* Random damage to a real profile: whatever still decodes must go through
 * pprof__top and pprof__text (valgrind and ASan tell if it did cleanly). */
static void test_mutations(void)
{
	enum { ROUNDS = 3000 };
	struct pprof_builder *b;
	struct fixture f;
	uint8_t *out = NULL, *m = NULL;
	uint32_t x = 777;
	size_t len, i, decoded = 0;
	FILE *null = fopen("/dev/null", "w");
	int r, k, ret = 0;

	b = build_fixture(&f);
	if (!null || !b || pprof_builder__write(b, false, &out, &len) || !(m = malloc(len))) {
		CHECK(0, "mutations: fixture", "errno %d", errno);
		goto cleanup;
	}
	for (r = 0; r < ROUNDS; r++) {
		Perftools__Profiles__Profile *p;

		memcpy(m, out, len);
		for (k = 0; k < 1 + r % 4; k++) {
			x = x * 1103515245 + 12345;
			i = (x >> 8) % len;
			x = x * 1103515245 + 12345;
			m[i] = x >> 16;
		}
		p = pprof__read(m, len);
		if (!p)
			continue;
		decoded++;
		/* The sample type may be what got damaged: -EINVAL is fine. */
		k = pprof__top(p, NULL, 0, null);
		ret = k && k != -EINVAL ? k : ret;
		k = pprof__top(p, "samples", 3, null);
		ret = k && k != -EINVAL ? k : ret;
		k = pprof__text(p, null);
		ret = k ? k : ret;
		pprof__free(p);
	}
	CHECK(ret == 0 && decoded > 0, "mutations: top and text survive damaged profiles",
	      "ret %d, %zu of %d decoded", ret, decoded, ROUNDS);
	printf("# %zu of %d damaged profiles decoded\n", decoded, ROUNDS);

cleanup:
	if (null)
		fclose(null);
	free(m);
	free(out);
	pprof_builder__free(b);
}

/* Every table has to grow well past any initial size without losing ids. */
static void test_growth(void)
{
	enum { NR = 20000 };
	static const struct pprof_value_type ct[] = { { "samples", "count" } };
	const struct pprof_opts o = { .sample_types = ct, .nr_sample_types = 1 };
	struct pprof_builder *b = pprof_builder__new(&o);
	Perftools__Profiles__Profile *p = NULL;
	bool ok = b != NULL;
	uint8_t *out = NULL;
	size_t len;
	char name[32];
	int i, round;

	for (i = 0; ok && i < NR; i++) {
		struct pprof_mapping m = { .start = i * 0x1000ULL, .limit = (i + 1) * 0x1000ULL,
					   .file = name };
		struct pprof_line l = { .function = name };

		snprintf(name, sizeof(name), "f%d", i);
		ok = pprof_builder__mapping(b, &m) == (uint64_t)i + 1 &&
		     pprof_builder__location(b, i + 1, 0x10, &l, 1) == (uint64_t)i + 1;
	}
	CHECK(ok, "growth: ids in order", "at %d", i);
	for (round = 0; ok && round < 3; round++) {
		for (i = 0; ok && i < NR; i++) {
			uint64_t loc[2] = { i + 1, (i + 7) % NR + 1 };
			int64_t v = 1;
			struct pprof_label lab = { .key = "n", .num = i % 3 };

			ok = !pprof_builder__sample(b, loc, 2, &v, &lab, 1);
		}
	}
	ok = ok && !pprof_builder__write(b, true, &out, &len) && (p = pprof__read(out, len));
	CHECK(ok && p->n_mapping == NR && p->n_location == NR && p->n_function == NR &&
	      p->n_sample == NR && p->n_string_table == NR + 4 &&
	      p->sample[NR - 1]->value[0] == 3, "growth: 20000 of each, merged 3 times",
	      "errno %d", errno);
	for (i = 0; ok && i < NR; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		ok = pprof_builder__find_location(b, i + 1, 0x10) == (uint64_t)i + 1;
	}
	CHECK(ok, "growth: find_location after growth", "at %d", i);
	pprof__free(p);
	free(out);
	pprof_builder__free(b);
}

static void test_api_errors(void)
{
	const struct pprof_opts bad_default = {
		.sample_types = types, .nr_sample_types = N(types), .default_sample_type = "wall",
	};
	const struct pprof_opts no_types = { .nr_sample_types = 2 };

	errno = 0;
	CHECK(!pprof_builder__new(NULL) && errno == EINVAL, "new: NULL opts", "errno %d", errno);
	errno = 0;
	CHECK(!pprof_builder__new(&bad_default) && errno == EINVAL, "new: unknown default type",
	      "errno %d", errno);
	errno = 0;
	CHECK(!pprof_builder__new(&no_types) && errno == EINVAL, "new: NULL sample types",
	      "errno %d", errno);
	pprof_builder__free(NULL);
	pprof__free(NULL);
	CHECK(1, "free: NULL-safe", "-");
}

static int read_file(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	return 0;
}

static bool has_word(const char *s, const char *word)
{
	return strcasestr(s, word) != NULL;
}

/* `go tool pprof` is the reader that matters: it must take the file without
 * a word of complaint and agree with pprof__top's numbers. */
static void test_go(void)
{
	static const char *const names[] = { "leaf", "helper", "work", "main", "recurse" };
	char pb[] = "/tmp/test_pprof.XXXXXX", errf[64] = "", cmd[512], row[256], go_row[256];
	Perftools__Profiles__Profile *p = NULL;
	static char gout[65536], gerr[65536];
	struct pprof_builder *b = NULL;
	struct fixture f;
	uint8_t *out = NULL;
	size_t len, n, i;
	char *ours = NULL;
	FILE *pipe;
	int fd = -1, ret, status;

	if (system("command -v go >/dev/null 2>&1")) {
		SKIP("go tool pprof", "go is not on PATH");
		return;
	}
	b = build_fixture(&f);
	if (!b || pprof_builder__write(b, true, &out, &len) || !(p = pprof__read(out, len))) {
		CHECK(0, "go: fixture", "errno %d", errno);
		goto cleanup;
	}
	fd = mkstemp(pb);
	if (fd < 0 || write(fd, out, len) != (ssize_t)len) {
		CHECK(0, "go: temporary file", "errno %d", errno);
		goto cleanup;
	}
	snprintf(errf, sizeof(errf), "%s.err", pb);

	for (i = 0; i < 2; i++) {
		const char *mode = i ? "-raw" : "-top -nodecount=100 -sample_index=samples";

		snprintf(cmd, sizeof(cmd), "go tool pprof %s %s 2>%s", mode, pb, errf);
		printf("# %s\n", cmd);
		pipe = popen(cmd, "r");
		if (!pipe) {
			CHECK(0, "go: run", "popen: errno %d", errno);
			goto cleanup;
		}
		n = fread(gout, 1, sizeof(gout) - 1, pipe);
		gout[n] = '\0';
		status = pclose(pipe);
		gerr[0] = '\0';
		read_file(errf, gerr, sizeof(gerr));
		printf("%s", gout);
		if (*gerr)
			printf("# stderr:\n%s", gerr);
		snprintf(cmd, sizeof(cmd), "go: %s exits 0 with nothing alarming on stderr",
			 i ? "-raw" : "-top");
		CHECK(status == 0 && !has_word(gerr, "warning") && !has_word(gerr, "error") &&
		      !has_word(gerr, "fail") && !has_word(gerr, "malformed") &&
		      !has_word(gerr, "not available"), cmd, "status %d, stderr: %s", status, gerr);
		if (i == 1) {
			CHECK(strstr(gout, "PeriodType: cpu nanoseconds") &&
			      strstr(gout, "Period: 10000000") && strstr(gout, "comm:[app]") &&
			      strstr(gout, "pid:[42]") && strstr(gout, "bytes:[1024 bytes]") &&
			      strstr(gout, "thread:[t1]") && strstr(gout, "/usr/bin/app") &&
			      strstr(gout, "work src/app.c:30 s=0(_Z4workv)") &&
			      strstr(gout, "abcdef0123456789"),
			      "go: -raw shows period, labels and mappings", "see above");
			break;
		}
		for (n = 0; n < N(names); n++) {
			snprintf(cmd, sizeof(cmd), "go: -top lists %s", names[n]);
			CHECK(top_row(gout, names[n], go_row, sizeof(go_row)), cmd, "missing");
		}
		/* Same numbers from both readers, column for column. */
		ours = top_string(p, "samples", 0, &ret);
		for (n = 0; ours && n < N(names); n++) {
			snprintf(cmd, sizeof(cmd), "go: -top agrees on %s", names[n]);
			if (top_row(gout, names[n], go_row, sizeof(go_row)) &&
			    top_row(ours, names[n], row, sizeof(row)))
				CHECK(!strcmp(row, go_row), cmd, "ours \"%s\", go \"%s\"", row,
				      go_row);
			else
				CHECK(0, cmd, "row missing");
		}
		CHECK(ours && strstr(gout, "Showing nodes accounting for 12, 100% of 12 total"),
		      "go: same total", "see above");
	}

cleanup:
	if (fd >= 0) {
		close(fd);
		unlink(pb);
	}
	if (*errf)
		unlink(errf);
	free(ours);
	pprof__free(p);
	free(out);
	pprof_builder__free(b);
}

int main(void)
{
	test_api_errors();
	test_roundtrip();
	test_top();
	test_units();
	test_garbage();
	test_hostile();
	test_mutations();
	test_growth();
	test_go();
	return CHECK_EXIT();
}
