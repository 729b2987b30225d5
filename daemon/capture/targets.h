/* Targets: which processes cprofd profiles. By pid (--pid), and by name,
 * which also matches processes that start later: --comm (the process name
 * the kernel keeps, 15 bytes at most), --exe (the executable's path, as
 * /proc/PID/exe shows it) and --cgroup (a cgroup v2 directory and every
 * cgroup below it). A process that matches any target is profiled; with
 * none, every process is.
 *
 * This module holds what was asked (a spec), checks each value as an
 * option gives it, and tells whether a process matches from /proc. The
 * kernel side (bpf/targets.h) matches comms and cgroups at exec itself;
 * the capture core (core.c) keeps the targets map with both. */
#ifndef CPROF_TARGETS_H
#define CPROF_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "cprof.h"

enum targets_kind {
	TARGETS_PID,
	TARGETS_COMM,
	TARGETS_EXE,
	TARGETS_CGROUP,
};

/* Values a spec takes of each kind: comms and cgroups are BPF map keys. */
#define TARGETS_MAX_PIDS	1024
#define TARGETS_MAX_NAMES	CPROF_MAX_TARGET_NAMES

struct targets_cgroup {
	char *path;		/* as /proc/PID/cgroup's "0::" line shows it: "/a/b" */
	uint64_t id;		/* the cgroup's id: its directory's inode number */
	int level;		/* components in path: 0 for the root */
};

/* What was asked. Zero-initialised is empty; targets__clear() frees it. */
struct targets_spec {
	int *pids;
	int nr_pids;
	struct cprof_comm *comms;
	int nr_comms;
	char **exes;		/* absolute, symlinks resolved when they existed */
	int nr_exes;
	struct targets_cgroup *cgroups;
	int nr_cgroups;
};

/* Add one option's value: kind TARGETS_PID "42", TARGETS_COMM
 * "redis-server", TARGETS_EXE "/usr/bin/python3", TARGETS_CGROUP
 * "system.slice/nginx.service" (or under /sys/fs/cgroup, or as
 * /proc/PID/cgroup shows it; it must exist). A value given twice is kept
 * once. 0, or -EINVAL (-ENOMEM) with a one-line reason in err, naming the
 * option: "--comm averyveryverylongname: ...". */
int targets__add(struct targets_spec *s, enum targets_kind kind, const char *value,
		 char *err, size_t errlen);
/* Add a pid already checked (cprofd's --pid list). 0 or -ENOMEM. */
int targets__add_pid(struct targets_spec *s, int pid);
/* A deep copy into dst (cleared first). 0 or -ENOMEM (dst is then empty). */
int targets__copy(struct targets_spec *dst, const struct targets_spec *src);
void targets__clear(struct targets_spec *s);

/* The same targets, in the same order (a cgroup made again is another). */
bool targets__same(const struct targets_spec *a, const struct targets_spec *b);
/* Nothing asked: every process. */
bool targets__empty(const struct targets_spec *s);
/* Targets that match processes that start later (comm, exe, cgroup). */
bool targets__has_names(const struct targets_spec *s);
/* "pid 42, comm redis-server, exe /usr/sbin/nginx, cgroup /system.slice/x",
 * shortened with "..." to fit len; "every process" when empty. */
void targets__describe(const struct targets_spec *s, char *buf, size_t len);

/* Whether a process with these properties matches a name target (pids are
 * not looked at). NULL: not known, matches nothing of its kind. A cgroup
 * matches a target cgroup and those below it (params__cgroup_within). */
bool targets__match_comm(const struct targets_spec *s, const char *comm);
bool targets__match_exe(const struct targets_spec *s, const char *exe);
bool targets__match_cgroup(const struct targets_spec *s, const char *cgroup);

/* Whether live process pid matches a name target, reading only what its
 * targets need from /proc: its comm (unless given), cgroup, executable.
 * 1, 0, or -errno when it could be read for none of them (gone). */
int targets__match(const struct targets_spec *s, uint32_t pid, const char *comm);

/* From /proc/PID: the executable's path (" (deleted)" taken off: a binary
 * replaced by an upgrade is still that program), the process's name, its
 * cgroup v2 path. 0 or -errno (-ENOENT for a kernel thread's exe, or for
 * a cgroup file without a v2 line; -ENAMETOOLONG past len). */
int targets__read_exe(uint32_t pid, char *buf, size_t len);
int targets__read_comm(uint32_t pid, char buf[CPROF_COMM_LEN]);
int targets__read_cgroup(uint32_t pid, char *buf, size_t len);
/* The v2 ("0::") path in the text of a /proc/PID/cgroup file. */
int targets__cgroup_from_text(const char *text, char *buf, size_t len);
/* Its start (clock ticks since boot, as /proc/PID/stat's field 22) and
 * whether it has exited (a zombie, or dead). 0 or -errno. */
int targets__proc_stat(uint32_t pid, uint64_t *start_ticks, bool *exited);

/* Whether cgroup path ("/a/b", as params__cgroup gives it) is a directory
 * of the cgroup v2 hierarchy now. */
bool targets__cgroup_exists(const char *path);
/* Where cgroup2 is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
 * beside v1), from /proc/self/mounts. 0, or -ENOENT when it is not. */
int targets__cgroup2_mount(char *buf, size_t len);

#endif /* CPROF_TARGETS_H */
