/* Merging stored profiles: the closed windows of a view that fall in a
 * queried time range become one profile, as `go tool pprof` reads it.
 *
 * The profiles come from our own store, but a store is a file on disk: each
 * is decoded as if hostile, and what refers to nothing is left out. */
#ifndef CPROF_MERGE_H
#define CPROF_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which samples a merge keeps: those whose numeric label "pid" is one of
 * pids or whose string label "comm" is one of comms; all of them when
 * neither is given. */
struct merge_filter {
	const int *pids;
	size_t nr_pids;
	const char *const *comms;
	size_t nr_comms;
};

struct merge;

/* NULL and errno on failure. */
struct merge *merge__new(void);
/* Add one profile (raw or gzipped pprof bytes), its samples that pass filter
 * (NULL: all). The first sets the sample types, the default sample type,
 * the period type and the period; a later one whose sample types differ is
 * refused with -EINVAL and nothing of it is added. The result starts at the
 * earliest time_nanos and lasts until the latest time + duration (a profile
 * without a time has no say). Locations, samples and labels that refer to
 * nothing in their profile are skipped, with their values (merge__skipped).
 * 0 or -errno: -EINVAL for what is not a profile; on -ENOMEM part of the
 * profile may be in, and the merge is best thrown away. */
int merge__add(struct merge *m, const uint8_t *buf, size_t len, const struct merge_filter *filter);
/* Profiles added. */
size_t merge__count(const struct merge *m);
/* Samples skipped because they referred to something their profile lacks. */
size_t merge__skipped(const struct merge *m);
/* The merged profile into a malloc'd buffer, gzipped when gzip, with these
 * comments followed by those of the first profile added. May be called again
 * after more profiles are added. 0 or -errno (-ENOENT: no profile added). */
int merge__write(struct merge *m, const char *const *comments, size_t nr_comments, bool gzip,
		 uint8_t **out, size_t *len);
/* The merged profile's default sample type, instead of the first
 * profile's (allocs, served from the heap's windows): before the first
 * merge__add. 0 or -errno (EBUSY: too late). */
int merge__set_default_type(struct merge *m, const char *type);
void merge__free(struct merge *m);

#endif /* CPROF_MERGE_H */
