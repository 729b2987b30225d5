/* Unit test of daemon/history/rollup.c on a real store: three periods of six
 * windows each (a period of 60 s, as CPROF_TEST_ROLLUP_SECONDS makes it),
 * each window one sample on the function of its period; two periods rolled
 * up. A query read through the roll-ups gets the same profile as one read
 * window by window, with a record a period instead of six; a roll-up made
 * twice is read once; a range inside one period reads windows only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "merge.h"
#include "pprof.h"
#include "profile.pb-c.h"
#include "rollup.h"
#include "store.h"

#define NS		1000000000LL
#define T0		(1700000040LL * NS)	/* a multiple of 60 s */
#define WINDOW_NS	(10 * NS)
#define PERIOD_NS	(60 * NS)

static const struct pprof_value_type types[] = { { "samples", "count" } };
static const struct pprof_mapping app = {
	.start = 0x400000, .limit = 0x500000, .file = "/usr/bin/app", .has_functions = true,
};
static const char *const fns[] = { "period0", "period1", "period2" };

/* Window i: from T0 + i windows, one sample of i + 1 on its period's function. */
static int window(int i, uint8_t **out, size_t *len)
{
	const struct pprof_opts o = {
		.sample_types = types, .nr_sample_types = 1, .default_sample_type = "samples",
		.period_type = { "samples", "count" }, .period = 1,
		.time_nanos = T0 + i * WINDOW_NS, .duration_nanos = WINDOW_NS,
	};
	struct pprof_builder *b = pprof_builder__new(&o);
	struct pprof_line line = { fns[i / 6], NULL, "app.c", 1 };
	int64_t value = i + 1;
	uint64_t map, loc;
	int e = -ENOMEM;

	if (!b)
		return -ENOMEM;
	map = pprof_builder__mapping(b, &app);
	loc = map ? pprof_builder__location(b, map, 0x401000 + 0x100 * (uint64_t)(i / 6), &line, 1)
		  : 0;
	if (loc && !pprof_builder__sample(b, &loc, 1, &value, NULL, 0))
		e = pprof_builder__write(b, false, out, len);
	pprof_builder__free(b);
	return e;
}

struct got {
	struct merge *m;
	int records, rollups;
};

static int take(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw, size_t len)
{
	struct got *g = arg;

	g->records++;
	g->rollups += end_ns - start_ns == PERIOD_NS;
	return merge__add(g->m, raw, len, NULL);
}

/* The value of each period's function in what was read, into v[3]; false
 * when it cannot be read back. */
static bool values(struct got *g, int64_t v[3])
{
	Perftools__Profiles__Profile *p;
	uint8_t *out = NULL;
	size_t len = 0;

	memset(v, 0, 3 * sizeof(*v));
	if (merge__write(g->m, NULL, 0, false, &out, &len))
		return false;
	p = perftools__profiles__profile__unpack(NULL, len, out);
	free(out);
	if (!p)
		return false;
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		const Perftools__Profiles__Location *l = NULL;

		for (size_t k = 0; k < p->n_location && s->n_location_id; k++)
			if (p->location[k]->id == s->location_id[0])
				l = p->location[k];
		if (!l || !l->n_line || !s->n_value)
			continue;
		for (size_t f = 0; f < p->n_function; f++) {
			if (p->function[f]->id != l->line[0]->function_id)
				continue;
			for (int j = 0; j < 3; j++)
				if (!strcmp(p->string_table[p->function[f]->name], fns[j]))
					v[j] += s->value[0];
		}
	}
	perftools__profiles__profile__free_unpacked(p, NULL);
	return true;
}

/* Read [from, to) both ways; check what came and that both agree. */
static void query(struct store *s, const char *name, int64_t from, int64_t to, int want_records,
		  int want_rollups)
{
	struct got a = { .m = merge__new() }, b = { .m = merge__new() };
	int64_t va[3], vb[3];
	char what[160];
	int ea, eb;

	ea = rollup__scan(s, "cpu", from, to, take, &a);
	eb = store__scan(s, "cpu", from, to, take, &b);
	snprintf(what, sizeof(what), "%s: %d records, %d of them roll-ups", name, want_records,
		 want_rollups);
	CHECK(!ea && !eb && a.records == want_records && a.rollups == want_rollups, what,
	      "scan %d/%d, %d records, %d roll-ups", ea, eb, a.records, a.rollups);
	snprintf(what, sizeof(what), "%s: the same profile as its windows", name);
	CHECK(values(&a, va) && values(&b, vb) && !memcmp(va, vb, sizeof(va)), what,
	      "roll-ups %lld %lld %lld, windows %lld %lld %lld", (long long)va[0], (long long)va[1],
	      (long long)va[2], (long long)vb[0], (long long)vb[1], (long long)vb[2]);
	merge__free(a.m);
	merge__free(b.m);
}

int main(void)
{
	char dir[] = "/tmp/test_rollup.XXXXXX", cmd[64];
	struct store_opts o = { .dir = dir };
	struct store *s;
	int e = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("CPROF_TEST_ROLLUP_SECONDS", "60", 1);
	CHECK(rollup__period_ns() == PERIOD_NS, "the tests' period is taken", "%lld",
	      (long long)rollup__period_ns());
	if (!mkdtemp(dir) || !(s = store__open(&o))) {
		SKIP("rollup", "cannot make a store in /tmp: %s", strerror(errno));
		return CHECK_EXIT();
	}
	for (int i = 0; i < 18 && !e; i++) {
		uint8_t *raw = NULL;
		size_t len = 0;

		e = window(i, &raw, &len);
		if (!e)
			e = store__append(s, "cpu", T0 + i * WINDOW_NS, T0 + (i + 1) * WINDOW_NS, raw, len);
		free(raw);
	}
	CHECK(!e, "18 windows kept", "%s", strerror(-e));
	CHECK(!rollup__make(s, "cpu", T0) && !rollup__make(s, "cpu", T0 + PERIOD_NS),
	      "the first two periods rolled up", "failed");
	CHECK(rollup__make(s, "cpu", T0 + 5 * PERIOD_NS) == -ENOENT,
	      "a period without windows: ENOENT, nothing kept", "not ENOENT");

	/* all three periods: two roll-ups and the third's six windows */
	query(s, "the three periods", T0, T0 + 3 * PERIOD_NS, 8, 2);
	/* from inside the first to inside the third: the second's roll-up,
	 * then windows by midpoint: the first's six (the first's is at 5 s),
	 * the third's first five (the last's is at the range's end) */
	query(s, "from 5 s in to 5 s before the end", T0 + 5 * NS, T0 + 3 * PERIOD_NS - 5 * NS,
	      12, 1);
	/* inside one period: windows only */
	query(s, "inside one period", T0 + 15 * NS, T0 + 45 * NS, 3, 0);
	/* a roll-up made again (a restart): read once */
	CHECK(!rollup__make(s, "cpu", T0), "a period rolled up again", "failed");
	query(s, "a period rolled up twice", T0, T0 + 2 * PERIOD_NS, 2, 2);

	store__free(s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
	return CHECK_EXIT();
}
