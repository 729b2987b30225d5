#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "views.h"


const struct view_def views[] = {
	{
		.name = "cpu", .path = "profile",
		.summary = "CPU: where threads run, sampled per CPU",
		.sources = SOURCE_CPU,
		.types = { { "samples", "count" }, { "cpu", "nanoseconds" } }, .nr_types = 2,
		.default_type = "cpu", .period = { "cpu", "nanoseconds" },
		.window = WINDOW_CPU,
		.built = true,
	},
	{
		.name = "heap", .path = "heap",
		.summary = "live memory, by the stacks that allocated it",
		.sources = SOURCE_ALLOC,
		.types = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
			   { "inuse_objects", "count" }, { "inuse_space", "bytes" } }, .nr_types = 4,
		.default_type = "inuse_space", .period = { "space", "bytes" },
		.cumulative = true, .labels = "bytes", .window = WINDOW_HEAP,
		.built = true,
	},
	{
		.name = "allocs", .path = "allocs",
		.summary = "every allocation sampled, by stack",
		.sources = SOURCE_ALLOC,
		.types = { { "alloc_objects", "count" }, { "alloc_space", "bytes" },
			   { "inuse_objects", "count" }, { "inuse_space", "bytes" } }, .nr_types = 4,
		.default_type = "alloc_space", .period = { "space", "bytes" },
		.cumulative = true, .same_data_as = "heap", .labels = "bytes", .window = WINDOW_HEAP,
		.built = true,
	},
	{
		.name = "offcpu", .path = "offcpu",
		.summary = "time off CPU: where threads wait, and why (labels state, syscall)",
		.sources = SOURCE_SCHED,
		.types = { { "events", "count" }, { "offcpu", "nanoseconds" } }, .nr_types = 2,
		.default_type = "offcpu", .period = { "offcpu", "nanoseconds" },
		.labels = "state, syscall", .window = WINDOW_OFFCPU,
		.built = true,
	},
	{
		.name = "wall", .path = "wall",
		.summary = "wall-clock time per thread: CPU samples and time off CPU together",
		.sources = SOURCE_CPU | SOURCE_SCHED,
		.types = { { "wall", "nanoseconds" } }, .nr_types = 1,
		.default_type = "wall", .period = { "wall", "nanoseconds" },
		.labels = "state, syscall", .window = WINDOW_WALL,
		.built = true,
	},
	{
		.name = "block", .path = "block",
		.summary = "waits on synchronization (futex waits), on the waiters' stacks (label lock)",
		.sources = SOURCE_FUTEX,
		.types = { { "contentions", "count" }, { "delay", "nanoseconds" } }, .nr_types = 2,
		.default_type = "delay", .period = { "contentions", "count" },
		.cumulative = true, .labels = "lock", .window = WINDOW_LOCK,
		.built = true,
	},
	{
		.name = "mutex", .path = "mutex",
		.summary = "lock contention: waiters' delay, on the stacks of the releases that ended it (label lock)",
		.sources = SOURCE_FUTEX,
		.types = { { "contentions", "count" }, { "delay", "nanoseconds" } }, .nr_types = 2,
		.default_type = "delay", .period = { "contentions", "count" },
		.cumulative = true, .labels = "lock", .window = WINDOW_LOCK,
		.built = true,
	},
};

const size_t nr_views = sizeof(views) / sizeof(views[0]);

const struct view_def *views__find(const char *name)
{
	for (size_t i = 0; i < nr_views; i++)
		if (!strcmp(views[i].name, name))
			return &views[i];
	return NULL;
}

const struct view_def *views__by_path(const char *path)
{
	for (size_t i = 0; i < nr_views; i++)
		if (!strcmp(views[i].path, path))
			return &views[i];
	return NULL;
}

void views__names(char *buf, size_t len, bool built_only)
{
	size_t n = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < nr_views && n < len; i++)
		if (views[i].built || !built_only)
			n += snprintf(buf + n, len - n, "%s%s", n ? " " : "", views[i].name);
}

int views__parse_list(const char *list, const char *what, unsigned int *mask, char *err,
		      size_t errlen)
{
	const char *p = list;
	char names[128];

	_Static_assert(sizeof(views) / sizeof(views[0]) <= 32, "a view is a bit of a mask");
	*mask = 0;
	while (*p) {
		size_t len = strcspn(p, ",");
		const struct view_def *v = NULL;
		char name[32];

		if (len && len < sizeof(name)) {
			memcpy(name, p, len);
			name[len] = '\0';
			if (!strcmp(name, "all")) {
				for (size_t i = 0; i < nr_views; i++)
					if (views[i].built)
						*mask |= 1u << i;
				goto next;
			}
			v = views__find(name);
		}
		views__names(names, sizeof(names), true);
		if (!v) {
			snprintf(err, errlen, "%s: no view '%.*s'; views: %s", what, (int)(len > 32 ? 32 : len),
				 p, names);
			return -EINVAL;
		}
		if (!v->built) {
			snprintf(err, errlen, "%s: the %s view is not available in this version (it has: %s)",
				 what, v->name, names);
			return -EINVAL;
		}
		*mask |= 1u << (v - views);
next:
		p += len;
		if (*p == ',')
			p++;
	}
	if (!*mask) {
		snprintf(err, errlen, "%s: no view named", what);
		return -EINVAL;
	}
	return 0;
}
