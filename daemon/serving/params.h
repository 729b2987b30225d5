/* HTTP request parameters of the profile endpoints, as Go's net/http/pprof
 * takes them, checked with a one-line reason for every refusal. */
#ifndef CPROF_PARAMS_H
#define CPROF_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARAMS_MAX_SECONDS	3600	/* longest window a request may ask */
#define PARAMS_DEFAULT_SECONDS	30	/* Go's default for /profile */
#define PARAMS_MAX_HZ		1000
#define PARAMS_MAX_PIDS		64
#define PARAMS_MAX_NAMES	16	/* comm=, exe=, cgroup= values, each */
#define PARAMS_COMM_LEN		16	/* TASK_COMM_LEN: 15 bytes and a NUL */
#define PARAMS_PATH_LEN		512	/* an exe= or cgroup= path and its NUL */

struct param {
	const char *key;
	const char *value;		/* NULL: given without '=' */
};

struct profile_request {
	int seconds;			/* 0: not given */
	int hz;				/* 0: not given */
	int pids[PARAMS_MAX_PIDS];
	int nr_pids;
	/* Processes by name, as --comm, --exe and --cgroup take them: a
	 * sample is kept when its process matches any pid=, comm=, exe= or
	 * cgroup= given (all of them when none is). */
	char comms[PARAMS_MAX_NAMES][PARAMS_COMM_LEN];
	int nr_comms;
	char exes[PARAMS_MAX_NAMES][PARAMS_PATH_LEN];	/* symlinks resolved */
	int nr_exes;
	char cgroups[PARAMS_MAX_NAMES][PARAMS_PATH_LEN];/* as /proc/PID/cgroup's "0::" */
	int nr_cgroups;
	int debug;			/* 0: protobuf; 1, 2: text */
	int gc;				/* accepted for Go compatibility, ignored */
};

/* Fill req from the query parameters. Unknown keys are ignored, as Go does.
 * 0, or -EINVAL with a reason like "seconds: must be a whole number from 1
 * to 3600, not \"abc\"" in err. */
int params__parse(const struct param *params, size_t nr, struct profile_request *req,
		  char *err, size_t errlen);

/* The values of comm=, exe= and cgroup=, and of the daemon's --comm, --exe
 * and --cgroup; key names the option in the reason ("comm", "--comm").
 * 0, or -EINVAL with a one-line reason in err.
 *
 * A process name: 1 to 15 bytes, as the kernel keeps it (TASK_COMM_LEN). */
int params__comm(const char *key, const char *value, char out[PARAMS_COMM_LEN],
		 char *err, size_t errlen);
/* An executable: an absolute path, with symlinks resolved (realpath) when
 * it exists, as /proc/PID/exe shows it. */
int params__exe(const char *key, const char *value, char *out, size_t len,
		char *err, size_t errlen);
/* A cgroup v2 path as /proc/PID/cgroup's "0::" line shows it ("/" is the
 * root), from "/sys/fs/cgroup/system.slice/x.service" (or under
 * /sys/fs/cgroup/unified, where systemd mounts it on hybrid hosts),
 * "/system.slice/x.service" or "system.slice/x.service". Repeated and
 * trailing slashes go; "." and ".." are refused. The file system is not
 * looked at. */
int params__cgroup(const char *key, const char *value, char *out, size_t len,
		   char *err, size_t errlen);
/* Whether cgroup path (as params__cgroup gives it) is target or a cgroup
 * below it: "/a/b" is within "/a", not within "/ab"; all are within "/". */
bool params__cgroup_within(const char *path, const char *target);

/* A size as flags give it: bytes, or with K, M or G (powers of 1024; "MiB"
 * and "MB" read the same). 0, or -EINVAL. */
int params__parse_size(const char *s, uint64_t *out);

/* A point in time as start=/end= and the CLI's --from/--to take it: RFC 3339
 * ("2026-12-03T17:00:00Z", "2026-12-03T17:00:00.5+01:00", also with a space
 * instead of T), Unix seconds ("1764781200", "1764781200.25"), or relative to
 * now ("-1h", "-90s", "-1h30m", "-2d", "-500ms", "-1.5h", "now"; units d, h,
 * m, s, ms, us, ns). key names the parameter in the reason. *out_ns: ns since
 * the epoch, which an int64_t holds from 1970 to 2262; relative times reach
 * back at most 100 years. 0, or -EINVAL with a one-line reason in err like
 * "start: not a time: \"abc\" (RFC 3339, Unix seconds, or relative like -1h)". */
int params__time(const char *key, const char *value, int64_t now_ns, int64_t *out_ns,
		 char *err, size_t errlen);

#endif /* CPROF_PARAMS_H */
