/* A bounded cache of elfobjs keyed by file identity (device, inode), and
 * shared by build id: every process that maps an object, and every copy of
 * it (containers), use one. Bounds: 64 MiB and 1024 objects by default
 * (cprofd's); what is charged is each object's symbols, demangled names,
 * DWARF lookup cache and bookkeeping (elfobj__mem), not libdw's own
 * lazily-read DWARF, which is file-backed memory. Not thread-safe. */
#ifndef CPROF_SYMCACHE_H
#define CPROF_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "elfobj.h"

struct debuginfo;

struct symcache_opts {
	size_t max_bytes;		/* 0: 64 MiB */
	size_t max_objects;		/* 0: 1024 */
	struct debuginfo *debuginfo;	/* where to find debug files; NULL: nowhere */
};

struct symcache_stats {
	uint64_t objects, bytes, hits, misses, open_errors, evictions;
	uint64_t shared;		/* misses served by an object of the same build id */
	uint64_t debug_reopened;	/* objects opened again once debuginfod had their file */
};

/* How to reach one mapped object. */
struct symcache_ref {
	uint64_t dev, inode;		/* its identity, as /proc/PID/maps says */
	uint64_t stamp;		/* and its contents' (struct procmap) */
	const char *const *paths;	/* where to open it, best first */
	size_t nr_paths;
	const char *path;		/* its path as the process sees it (debug links), or NULL */
	const char *root;		/* "/proc/PID/root" (containers), or NULL */
	bool verified;			/* paths are known to be that file (descriptors
					 * the caller opened and checked): not checked again */
};

struct symcache *symcache__new(const struct symcache_opts *opts);
/* The object for ref's (dev, inode, stamp); on a miss, opened from the first of paths
 * that opens (e.g. /proc/PID/map_files/..., /proc/PID/root/PATH, PATH).
 * A miss that could not be opened is remembered for a while, so it is not
 * retried on every frame. Borrowed: valid until symcache__trim(). NULL when
 * it cannot be opened. */
struct elfobj *symcache__find(struct symcache *c, const struct symcache_ref *ref);
/* The same without debug-link paths. */
struct elfobj *symcache__get(struct symcache *c, uint64_t dev, uint64_t inode,
			     const char *const *paths, size_t nr_paths);
/* Evict least recently used objects until within bounds. */
void symcache__trim(struct symcache *c);
void symcache__stats(const struct symcache *c, struct symcache_stats *st);
void symcache__free(struct symcache *c);

#endif /* CPROF_SYMCACHE_H */
