/* The view table: every profile cprofd serves, as Go's runtime/pprof keeps
 * its profiles. Routing, the index page, /metrics, --views and cprof-ctl's
 * view list all read it. A view reads one or more data sources; a source
 * may feed several views. */
#ifndef CPROF_VIEWS_H
#define CPROF_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include "pprof.h"
#include "window.h"

/* What the kernel side samples or traces. */
enum view_source {
	SOURCE_CPU = 1 << 0,		/* perf_event cpu-clock sampling */
	SOURCE_SCHED = 1 << 1,		/* scheduler switches */
	SOURCE_ALLOC = 1 << 2,		/* the allocator's entry points */
	SOURCE_FUTEX = 1 << 3,		/* futex waits and wakes */
};

#define VIEW_MAX_TYPES 4

struct view_def {
	const char *name;		/* --views, cprof-ctl collect VIEW */
	const char *path;		/* under /debug/pprof/ */
	const char *summary;		/* one line, for the index page */
	unsigned int sources;		/* enum view_source */
	struct pprof_value_type types[VIEW_MAX_TYPES];	/* as pprof names them */
	int nr_types;
	const char *default_type;
	struct pprof_value_type period;
	bool cumulative;		/* totals since tracking began; seconds=N a delta */
	const char *same_data_as;	/* a view whose profile this one is, with another
					 * default type (allocs: heap), or NULL */
	enum window_kind window;	/* what its windows collect (windowed views) */
	const char *labels;		/* its labels beyond pid, tid, comm, thread */
	bool built;			/* served by this version */
};

extern const struct view_def views[];
extern const size_t nr_views;

/* By name, or by path under /debug/pprof/ ("profile"). NULL: none. */
const struct view_def *views__find(const char *name);
const struct view_def *views__by_path(const char *path);

/* "cpu,offcpu" or "all" into a mask of indexes into views[]. 0, or -EINVAL
 * with a one-line reason naming the flag (what) in err. */
int views__parse_list(const char *list, const char *what, unsigned int *mask, char *err,
		      size_t errlen);

/* The names, space-separated; only those built when built_only. */
void views__names(char *buf, size_t len, bool built_only);

#endif /* CPROF_VIEWS_H */
