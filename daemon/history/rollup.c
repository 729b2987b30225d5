// SPDX-License-Identifier: GPL-2.0
/* Roll-ups of the history's windows (rollup.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"
#include "rollup.h"

#define NS	1000000000LL

int64_t rollup__period_ns(void)
{
	const char *t = getenv("CPROF_TEST_ROLLUP_SECONDS");
	long s = t ? strtol(t, NULL, 10) : 0;

	return (s > 0 && s <= 3600 ? s : 3600) * NS;
}

int rollup__name(const char *view, char *out, size_t len)
{
	int n = snprintf(out, len, "%s_1h", view);

	return n > 0 && (size_t)n < len ? 0 : -EINVAL;
}

static int add_one(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw, size_t len)
{
	(void)start_ns;
	(void)end_ns;
	/* a window that cannot be read is left out, as a query leaves it */
	merge__add(arg, raw, len, NULL);
	return 0;
}

int rollup__make(struct store *s, const char *view, int64_t start_ns)
{
	int64_t period = rollup__period_ns();
	struct merge *m = merge__new();
	uint8_t *out = NULL;
	char name[32];
	size_t len = 0;
	int e;

	if (!m)
		return -errno;
	e = rollup__name(view, name, sizeof(name));
	if (!e)
		e = store__scan(s, view, start_ns, start_ns + period, add_one, m);
	if (!e)
		e = merge__write(m, NULL, 0, false, &out, &len);	/* -ENOENT: none */
	merge__free(m);
	if (!e)
		e = store__append(s, name, start_ns, start_ns + period, out, len);
	free(out);
	return e;
}

struct covered {
	int64_t period;
	int64_t *starts;		/* the periods read from roll-ups, ascending */
	size_t nr, cap;
	store_window_fn fn;
	void *arg;
};

/* A roll-up: delivered unless it is not a whole period, or one for its
 * period came already (a restart that made it again). */
static int take_rollup(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw, size_t len)
{
	struct covered *c = arg;
	int64_t *more;

	if (start_ns % c->period || end_ns - start_ns != c->period)
		return 0;
	for (size_t i = 0; i < c->nr; i++)
		if (c->starts[i] == start_ns)
			return 0;
	if (c->nr == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;

		more = realloc(c->starts, cap * sizeof(*more));
		if (!more)
			return -ENOMEM;
		c->starts = more;
		c->cap = cap;
	}
	c->starts[c->nr++] = start_ns;
	return c->fn(c->arg, start_ns, end_ns, raw, len);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int rollup__scan(struct store *s, const char *view, int64_t from_ns, int64_t to_ns,
		 store_window_fn fn, void *arg)
{
	struct covered c = { .period = rollup__period_ns(), .fn = fn, .arg = arg };
	int64_t first, last, at = from_ns;
	char name[32];
	int e = 0;

	if (from_ns < 0 || to_ns <= from_ns || rollup__name(view, name, sizeof(name)))
		return store__scan(s, view, from_ns, to_ns, fn, arg);
	/* the whole periods inside the range */
	first = (from_ns + c.period - 1) / c.period * c.period;
	last = to_ns / c.period * c.period;
	if (last > first)
		e = store__scan(s, name, first, last, take_rollup, &c);
	qsort(c.starts, c.nr, sizeof(*c.starts), cmp_i64);
	/* the windows of what they leave: windows are chosen by midpoint, as
	 * roll-ups were made, so none is read twice or left out */
	for (size_t i = 0; i < c.nr && !e; i++) {
		if (at < c.starts[i])
			e = store__scan(s, view, at, c.starts[i], fn, arg);
		at = c.starts[i] + c.period;
	}
	if (!e && at < to_ns)
		e = store__scan(s, view, at, to_ns, fn, arg);
	free(c.starts);
	return e;
}
