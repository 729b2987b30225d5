/* Fills a history store with HOURS of windows of VIEW ending now, one every
 * WINDOW seconds, cycling through the windows a real cprofd kept of that view
 * in SRC (a soak's), so that a query's cost can be measured on a history as
 * long as a host would keep, at the rate that host produced it. As cprofd
 * does, each hour is rolled up as its last window is kept (rollup.h).
 * usage: histgen SRC DST VIEW HOURS WINDOW_S
 * Prints "windows N bytes B" (what DST then holds). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollup.h"
#include "store.h"

struct win {
	uint8_t *raw;
	size_t len;
};

struct wins {
	struct win *v;
	size_t nr, cap;
};

static int take(void *arg, int64_t start_ns __attribute__((unused)),
		int64_t end_ns __attribute__((unused)), const uint8_t *raw, size_t len)
{
	struct wins *w = arg;

	if (w->nr == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		struct win *v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->nr].raw = malloc(len);
	if (!w->v[w->nr].raw)
		return -ENOMEM;
	memcpy(w->v[w->nr].raw, raw, len);
	w->v[w->nr++].len = len;
	return 0;
}

int main(int argc, char **argv)
{
	struct store_opts so = { 0 }, dopts = { 0 };
	struct wins w = { 0 };
	struct store_stats st;
	struct store *src, *dst;
	struct timespec now;
	int64_t win_ns, t, n;
	int e;

	if (argc != 6) {
		fprintf(stderr, "usage: histgen SRC DST VIEW HOURS WINDOW_S\n");
		return 2;
	}
	so.dir = argv[1];
	src = store__open(&so);
	if (!src) {
		fprintf(stderr, "histgen: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	e = store__scan(src, argv[3], 0, INT64_MAX, take, &w);
	store__free(src);
	if (e || !w.nr) {
		fprintf(stderr, "histgen: no %s windows in %s (%s)\n", argv[3], argv[1], strerror(-e));
		return 1;
	}
	dopts.dir = argv[2];
	dst = store__open(&dopts);
	if (!dst) {
		fprintf(stderr, "histgen: cannot open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	win_ns = atoll(argv[5]) * 1000000000LL;
	n = (int64_t)(atof(argv[4]) * 3600e9) / win_ns;
	clock_gettime(CLOCK_REALTIME, &now);
	t = (now.tv_sec * 1000000000LL + now.tv_nsec) / win_ns * win_ns - n * win_ns;
	for (int64_t i = 0; i < n; i++, t += win_ns) {
		const struct win *x = &w.v[i % (int64_t)w.nr];

		int64_t period = rollup__period_ns(), b = (t + win_ns) / period * period;

		e = store__append(dst, argv[3], t, t + win_ns, x->raw, x->len);
		if (e) {
			fprintf(stderr, "histgen: cannot append: %s\n", strerror(-e));
			return 1;
		}
		if (b > t && b >= period && (e = rollup__make(dst, argv[3], b - period)) && e != -ENOENT) {
			fprintf(stderr, "histgen: cannot roll up: %s\n", strerror(-e));
			return 1;
		}
	}
	store__stats(dst, &st);
	printf("windows %llu bytes %llu\n", (unsigned long long)st.windows, (unsigned long long)st.bytes);
	store__free(dst);
	for (size_t i = 0; i < w.nr; i++)
		free(w.v[i].raw);
	free(w.v);
	return 0;
}
