/* A bounded cache of elfobjs keyed by file identity (device, inode), shared
 * by every process that maps an object. Not thread-safe: callers serialize. */
#ifndef CPROF_SYMCACHE_H
#define CPROF_SYMCACHE_H

#include <stddef.h>
#include <stdint.h>
#include "elfobj.h"

struct symcache_opts {
	size_t max_bytes;		/* 0: 64 MiB */
	size_t max_objects;		/* 0: 1024 */
};

struct symcache_stats {
	uint64_t objects, bytes, hits, misses, open_errors, evictions;
};

struct symcache *symcache__new(const struct symcache_opts *opts);
/* The object for (dev, inode); on a miss, opened from the first of paths
 * that opens (e.g. /proc/PID/map_files/..., /proc/PID/root/PATH, PATH).
 * A miss that could not be opened is remembered for a while, so it is not
 * retried on every frame. Borrowed: valid until symcache__trim(). NULL when
 * it cannot be opened. */
struct elfobj *symcache__get(struct symcache *c, uint64_t dev, uint64_t inode,
			     const char *const *paths, size_t nr_paths);
/* Evict least recently used objects until within bounds. */
void symcache__trim(struct symcache *c);
void symcache__stats(const struct symcache *c, struct symcache_stats *st);
void symcache__free(struct symcache *c);

#endif /* CPROF_SYMCACHE_H */
