/* Roll-ups: as each hour closes, a view's windows of that hour are merged
 * into one profile and kept beside them (as the view "<view>_1h"), so that
 * a query over days decodes a profile an hour, and windows only at its
 * edges and in the hours that have none (the daemon was down as the hour
 * closed). Windows stay; retention drops both, oldest first. */
#ifndef CPROF_ROLLUP_H
#define CPROF_ROLLUP_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

/* The period: an hour (CPROF_TEST_ROLLUP_SECONDS, for the tests only, makes
 * it shorter), in ns. */
int64_t rollup__period_ns(void);

/* The name view's roll-ups are kept under: "<view>_1h". 0, or -EINVAL
 * when it does not fit in len. */
int rollup__name(const char *view, char *out, size_t len);

/* Merge view's windows whose midpoints lie in the period from start_ns (a
 * multiple of the period) and keep the result. 0; -ENOENT when there are
 * none; -errno. */
int rollup__make(struct store *s, const char *view, int64_t start_ns);

/* As store__scan(s, view, from_ns, to_ns, fn, arg), but each whole period
 * inside the range that has a roll-up is read from it, not from its
 * windows. fn is called for roll-ups first, then windows. */
int rollup__scan(struct store *s, const char *view, int64_t from_ns, int64_t to_ns,
		 store_window_fn fn, void *arg);

#endif /* CPROF_ROLLUP_H */
