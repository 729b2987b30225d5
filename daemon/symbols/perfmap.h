/* SPDX-License-Identifier: GPL-2.0 */
/* Perf maps: the symbols JITs (node --perf-basic-prof, perf-map-agent,
 * LuaJIT, .NET) write to /tmp/perf-PID.map, one "START SIZE name" line per
 * function, START and SIZE in hex with or without 0x. */
#ifndef CPROF_PERFMAP_H
#define CPROF_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bounds on what one map holds. Lines past either bound are not parsed:
 * once a line would exceed one, it and every later line are ignored and
 * counted in perfmap__skipped(), and perfmap__nr() stays at the bound.
 * Names count with their terminating NUL. A line of PERFMAP_MAX_LINE bytes
 * or more is skipped and counted like a malformed one.
 */
#define PERFMAP_MAX_ENTRIES	1000000u
#define PERFMAP_MAX_BYTES	(64u << 20)
#define PERFMAP_MAX_LINE	(64u << 10)

struct perfmap;

/* Parse a perf map file. Later lines win where entries overlap (the code
 * at that address was re-JITed), so one entry may split an earlier one.
 * Malformed lines (bad hex, no name, size 0, start + size past 2^64) are
 * skipped and counted; blank lines are ignored. The path must name a
 * regular file and is not followed when it is a symlink (ELOOP). NULL and
 * errno on failure (ENOENT when absent). */
struct perfmap *perfmap__open(const char *path);
/* The user a process runs as: its perf map is read as that user would read
 * it, and only when that user or root owns the file (EPERM otherwise). */
struct perfmap_user {
	uint32_t uid, gid;
};
/* perfmap__open() as user as (NULL: as the daemon). Changes this thread's
 * filesystem ids for the open only. */
struct perfmap *perfmap__open_as(const char *path, const struct perfmap_user *as);
/* Re-read *m's file only if it changed (size, mtime or inode) since it was
 * read; opens it when *m is NULL, as user as (see perfmap__open_as). 0, or
 * -errno with *m untouched (the old map is kept, e.g. -ENOENT when the file
 * vanished with its process). */
int perfmap__refresh(struct perfmap **m, const char *path, const struct perfmap_user *as);
/* The name at addr, or NULL. *start, when start is non-NULL, gets the start
 * of the entry the name comes from (below the piece holding addr when a
 * later entry split it). O(log n). */
const char *perfmap__lookup(const struct perfmap *m, uint64_t addr, uint64_t *start);
/* Lines accepted as entries, and lines skipped (malformed, too long or
 * past the bounds). */
size_t perfmap__nr(const struct perfmap *m);
size_t perfmap__skipped(const struct perfmap *m);
/* Heap bytes held by the map, for cache bounds (allocator overhead aside). */
size_t perfmap__mem(const struct perfmap *m);
void perfmap__free(struct perfmap *m);
/* The path to pid's perf map as the host sees it,
 * /proc/PID/root/tmp/perf-NSPID.map, where NSPID is the pid in the
 * process's own pid namespace (last field of NSpid: in /proc/PID/status,
 * PID itself when the kernel has no NSpid line). 0, -ENOENT/-ESRCH when the
 * process is gone, -ENOSPC when buf is too small, or -errno. */
int perfmap__path(uint32_t pid, char *buf, size_t len);

/* Override the bounds for maps opened from now on (0: the default), for
 * tests and memory tuning. Not thread-safe: call before any perfmap__open.
 * max_entries is capped at 2^31 - 1 and max_bytes at 4 GiB - 1. */
void perfmap__set_limits(size_t max_entries, size_t max_bytes);

#endif /* CPROF_PERFMAP_H */
