/* The process table: for every process instance that has been sampled, its
 * executable mappings, read while it lived, kept for a while after it exits
 * so that windows that saw it can still be symbolized. An instance is
 * (pid, start time, exec id), so pid reuse and exec never mix up maps. */
#ifndef CPROF_PROCTAB_H
#define CPROF_PROCTAB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "procmaps.h"

struct proc_instance {
	uint32_t pid;
	uint32_t exec_id;
	uint64_t start_ns;		/* group leader's boot-time start */
	struct procmaps maps;
	int maps_err;			/* 0, or -errno of the last read */
	int64_t exited_ns;		/* CLOCK_MONOTONIC when seen gone; 0: alive */
	int64_t refreshed_ns;		/* last read of the maps */
	char container[80];		/* container id from its cgroup, "" when none */
	char *exe;			/* its executable (/proc/PID/exe), NULL: not known */
	char *cgroup;			/* its cgroup v2 path, as read with its maps; NULL: not known */
	uint32_t uid, gid;		/* whom it runs as (its /proc dir's owner) */
	bool user_known;		/* uid and gid were read while it lived */
	struct perfmap *perfmap;	/* its JIT's /tmp/perf-PID.map, once needed */
	int64_t perfmap_checked_ns;	/* when that file was last looked at */
};

struct proctab_stats {
	uint64_t instances, exited, maps_reads, maps_errors, evicted;
	uint64_t shed;			/* exited instances a window still needed,
					 * dropped to stay within max_bytes */
	uint64_t bytes;			/* held, as of the last collection */
	uint64_t max_bytes;
};

/* retention_ns: how long an exited instance is kept at least; max_bytes:
 * what the table may hold before exited instances are dropped, oldest
 * exit first, even when a window needs them. */
struct proctab *proctab__new(int64_t retention_ns, size_t max_bytes);
/* A new instance was announced: read its maps now, while it lives. */
int proctab__add(struct proctab *t, uint32_t pid, uint64_t start_ns, uint32_t exec_id);
/* Lookups and refreshes are done under the table's lock. */
void proctab__lock(struct proctab *t);
void proctab__unlock(struct proctab *t);
struct proc_instance *proctab__get(struct proctab *t, uint32_t pid, uint64_t start_ns, uint32_t exec_id);
/* Re-read an instance's maps (a library was loaded since), if it is still
 * the same process and, unless force, was not read in the last 100 ms. */
void proctab__refresh(struct proctab *t, struct proc_instance *in, bool force);
/* Mark instances whose process has gone. Forget those exited longer ago
 * than the retention, unless at or after keep_since (CLOCK_MONOTONIC: the
 * oldest window that may hold their samples opened then); and past
 * max_bytes, exited ones oldest exit first. */
void proctab__gc(struct proctab *t, int64_t keep_since);
/* Called (under the table's lock) for each instance when it is found gone. */
typedef void (*proctab_exit_fn)(void *arg, const struct proc_instance *in);
void proctab__set_exit_hook(struct proctab *t, proctab_exit_fn fn, void *arg);
/* Whether pid is a live process now. */
bool proc_alive(int pid);
/* Whether the process with pid now is the one that started at start_ns
 * (not a later one with its pid; a zombie still is). */
bool proc_instance_alive(uint32_t pid, uint64_t start_ns);
void proctab__stats(struct proctab *t, struct proctab_stats *st);
void proctab__free(struct proctab *t);

#endif /* CPROF_PROCTAB_H */
