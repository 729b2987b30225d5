/* Targets by pid and by name: the values options give, checked, and
 * whether a process matches them, from /proc. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "params.h"
#include "targets.h"

/* PID_MAX_LIMIT on 64-bit kernels */
#define MAX_PID			4194304
/* a cgroup v2 file has one line; a hybrid host's a dozen */
#define CGROUP_FILE_MAX		(256u << 10)
#define DELETED			" (deleted)"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Grow *list to hold one more element of size; 0 or -ENOMEM. */
static int grow(void *list, int nr, size_t size)
{
	void *more = realloc(*(void **)list, (size_t)(nr + 1) * size);

	if (!more)
		return -ENOMEM;
	*(void **)list = more;
	return 0;
}

int targets__add_pid(struct targets_spec *s, int pid)
{
	for (int i = 0; i < s->nr_pids; i++)
		if (s->pids[i] == pid)
			return 0;
	if (grow(&s->pids, s->nr_pids, sizeof(*s->pids)))
		return -ENOMEM;
	s->pids[s->nr_pids++] = pid;
	return 0;
}

static int add_pid(struct targets_spec *s, const char *value, char *err, size_t errlen)
{
	char *end;
	long pid;

	errno = 0;
	pid = value[0] >= '0' && value[0] <= '9' ? strtol(value, &end, 10) : 0;
	if (!pid || errno || *end || pid > MAX_PID) {
		set_err(err, errlen, "--pid %.64s: expected a process id", value);
		return -EINVAL;
	}
	if (s->nr_pids == TARGETS_MAX_PIDS) {
		set_err(err, errlen, "--pid: at most %d processes", TARGETS_MAX_PIDS);
		return -EINVAL;
	}
	return targets__add_pid(s, (int)pid);
}

static int add_comm(struct targets_spec *s, const char *value, char *err, size_t errlen)
{
	struct cprof_comm c;

	_Static_assert(sizeof(c.name) == PARAMS_COMM_LEN, "one name length");
	if (params__comm("--comm", value, c.name, err, errlen))
		return -EINVAL;
	for (int i = 0; i < s->nr_comms; i++)
		if (!memcmp(&s->comms[i], &c, sizeof(c)))
			return 0;
	if (s->nr_comms == TARGETS_MAX_NAMES) {
		set_err(err, errlen, "--comm: at most %d names", TARGETS_MAX_NAMES);
		return -EINVAL;
	}
	if (grow(&s->comms, s->nr_comms, sizeof(*s->comms)))
		return -ENOMEM;
	s->comms[s->nr_comms++] = c;
	return 0;
}

static int add_exe(struct targets_spec *s, const char *value, char *err, size_t errlen)
{
	char path[PATH_MAX], *copy;

	if (params__exe("--exe", value, path, sizeof(path), err, errlen))
		return -EINVAL;
	for (int i = 0; i < s->nr_exes; i++)
		if (!strcmp(s->exes[i], path))
			return 0;
	if (s->nr_exes == TARGETS_MAX_NAMES) {
		set_err(err, errlen, "--exe: at most %d executables", TARGETS_MAX_NAMES);
		return -EINVAL;
	}
	copy = strdup(path);
	if (!copy || grow(&s->exes, s->nr_exes, sizeof(*s->exes))) {
		free(copy);
		return -ENOMEM;
	}
	s->exes[s->nr_exes++] = copy;
	return 0;
}

static int add_cgroup(struct targets_spec *s, const char *value, char *err, size_t errlen)
{
	char path[PATH_MAX], mount[PATH_MAX], rel[PATH_MAX], dir[2 * PATH_MAX];
	struct targets_cgroup cg = { 0 };
	struct stat st;

	size_t ml;

	if (targets__cgroup2_mount(mount, sizeof(mount))) {
		set_err(err, errlen, "--cgroup %.200s: this host has no cgroup v2 hierarchy (no cgroup2 file system is mounted)",
			value);
		return -EINVAL;
	}
	/* a path under cgroup2's mount, wherever that is */
	ml = strlen(mount);
	if (!strncmp(value, mount, ml) && (value[ml] == '/' || !value[ml]) && strcmp(mount, "/"))
		snprintf(rel, sizeof(rel), "/%s", value + ml);
	else
		snprintf(rel, sizeof(rel), "%s", value);
	if (params__cgroup("--cgroup", rel, path, sizeof(path), err, errlen))
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%s%s", mount, strcmp(path, "/") ? path : "");
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		set_err(err, errlen, "--cgroup %.200s: no such cgroup: %.300s is not a directory of the cgroup v2 hierarchy",
			value, dir);
		return -EINVAL;
	}
	for (int i = 0; i < s->nr_cgroups; i++)
		if (!strcmp(s->cgroups[i].path, path))
			return 0;
	if (s->nr_cgroups == TARGETS_MAX_NAMES) {
		set_err(err, errlen, "--cgroup: at most %d cgroups", TARGETS_MAX_NAMES);
		return -EINVAL;
	}
	/* cgroup2 directories' inode numbers are the kernel's cgroup ids
	 * (kernfs node ids, 64-bit), which BPF compares */
	cg.id = st.st_ino;
	for (const char *p = path; *p; p++)
		cg.level += *p == '/' && p[1];
	if (cg.level >= CPROF_CGROUP_LEVELS) {
		set_err(err, errlen, "--cgroup %.200s: cgroups at most %d levels deep are taken",
			value, CPROF_CGROUP_LEVELS - 1);
		return -EINVAL;
	}
	cg.path = strdup(path);
	if (!cg.path || grow(&s->cgroups, s->nr_cgroups, sizeof(*s->cgroups))) {
		free(cg.path);
		return -ENOMEM;
	}
	s->cgroups[s->nr_cgroups++] = cg;
	return 0;
}

int targets__add(struct targets_spec *s, enum targets_kind kind, const char *value,
		 char *err, size_t errlen)
{
	int ret = -EINVAL;

	if (err && errlen)
		err[0] = '\0';
	if (!value)
		value = "";
	switch (kind) {
	case TARGETS_PID:
		ret = add_pid(s, value, err, errlen);
		break;
	case TARGETS_COMM:
		ret = add_comm(s, value, err, errlen);
		break;
	case TARGETS_EXE:
		ret = add_exe(s, value, err, errlen);
		break;
	case TARGETS_CGROUP:
		ret = add_cgroup(s, value, err, errlen);
		break;
	}
	if (ret == -ENOMEM)
		set_err(err, errlen, "out of memory");
	return ret;
}

void targets__clear(struct targets_spec *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nr_exes; i++)
		free(s->exes[i]);
	for (int i = 0; i < s->nr_cgroups; i++)
		free(s->cgroups[i].path);
	free(s->pids);
	free(s->comms);
	free(s->exes);
	free(s->cgroups);
	memset(s, 0, sizeof(*s));
}

int targets__copy(struct targets_spec *dst, const struct targets_spec *src)
{
	struct targets_spec c = { 0 };

	targets__clear(dst);
	if (!src)
		return 0;
	if (src->nr_pids && !(c.pids = malloc(src->nr_pids * sizeof(*c.pids))))
		goto fail;
	memcpy(c.pids, src->pids, src->nr_pids * sizeof(*c.pids));
	c.nr_pids = src->nr_pids;
	if (src->nr_comms && !(c.comms = malloc(src->nr_comms * sizeof(*c.comms))))
		goto fail;
	memcpy(c.comms, src->comms, src->nr_comms * sizeof(*c.comms));
	c.nr_comms = src->nr_comms;
	if (src->nr_exes && !(c.exes = calloc(src->nr_exes, sizeof(*c.exes))))
		goto fail;
	for (; c.nr_exes < src->nr_exes; c.nr_exes++)
		if (!(c.exes[c.nr_exes] = strdup(src->exes[c.nr_exes])))
			goto fail;
	if (src->nr_cgroups && !(c.cgroups = calloc(src->nr_cgroups, sizeof(*c.cgroups))))
		goto fail;
	for (; c.nr_cgroups < src->nr_cgroups; c.nr_cgroups++) {
		c.cgroups[c.nr_cgroups] = src->cgroups[c.nr_cgroups];
		if (!(c.cgroups[c.nr_cgroups].path = strdup(src->cgroups[c.nr_cgroups].path)))
			goto fail;
	}
	*dst = c;
	return 0;
fail:
	targets__clear(&c);
	return -ENOMEM;
}

bool targets__same(const struct targets_spec *a, const struct targets_spec *b)
{
	if (a->nr_pids != b->nr_pids || a->nr_comms != b->nr_comms ||
	    a->nr_exes != b->nr_exes || a->nr_cgroups != b->nr_cgroups)
		return false;
	for (int i = 0; i < a->nr_pids; i++)
		if (a->pids[i] != b->pids[i])
			return false;
	for (int i = 0; i < a->nr_comms; i++)
		if (memcmp(&a->comms[i], &b->comms[i], sizeof(a->comms[i])))
			return false;
	for (int i = 0; i < a->nr_exes; i++)
		if (strcmp(a->exes[i], b->exes[i]))
			return false;
	for (int i = 0; i < a->nr_cgroups; i++)
		if (strcmp(a->cgroups[i].path, b->cgroups[i].path) || a->cgroups[i].id != b->cgroups[i].id)
			return false;
	return true;
}

bool targets__empty(const struct targets_spec *s)
{
	return !s || (!s->nr_pids && !targets__has_names(s));
}

bool targets__has_names(const struct targets_spec *s)
{
	return s && (s->nr_comms || s->nr_exes || s->nr_cgroups);
}

/* Append "sep what value" to buf at *n, or "..." once it does not fit. */
static void describe1(char *buf, size_t len, size_t *n, const char *what, const char *value)
{
	size_t need = strlen(what) + strlen(value) + 3;

	if (*n >= len)
		return;
	if (*n + need + 4 > len) {	/* room for ", ..." */
		snprintf(buf + *n, len - *n, "%s...", *n ? ", " : "");
		*n = len;
		return;
	}
	*n += snprintf(buf + *n, len - *n, "%s%s %s", *n ? ", " : "", what, value);
}

void targets__describe(const struct targets_spec *s, char *buf, size_t len)
{
	char num[16];
	size_t n = 0;

	if (!len)
		return;
	buf[0] = '\0';
	if (targets__empty(s)) {
		snprintf(buf, len, "every process");
		return;
	}
	for (int i = 0; i < s->nr_pids; i++) {
		snprintf(num, sizeof(num), "%d", s->pids[i]);
		describe1(buf, len, &n, "pid", num);
	}
	for (int i = 0; i < s->nr_comms; i++)
		describe1(buf, len, &n, "comm", s->comms[i].name);
	for (int i = 0; i < s->nr_exes; i++)
		describe1(buf, len, &n, "exe", s->exes[i]);
	for (int i = 0; i < s->nr_cgroups; i++)
		describe1(buf, len, &n, "cgroup", s->cgroups[i].path);
}

bool targets__match_comm(const struct targets_spec *s, const char *comm)
{
	for (int i = 0; comm && i < s->nr_comms; i++)
		if (!strncmp(comm, s->comms[i].name, CPROF_COMM_LEN))
			return true;
	return false;
}

bool targets__match_exe(const struct targets_spec *s, const char *exe)
{
	for (int i = 0; exe && i < s->nr_exes; i++)
		if (!strcmp(exe, s->exes[i]))
			return true;
	return false;
}

bool targets__match_cgroup(const struct targets_spec *s, const char *cgroup)
{
	for (int i = 0; cgroup && i < s->nr_cgroups; i++)
		if (params__cgroup_within(cgroup, s->cgroups[i].path))
			return true;
	return false;
}

int targets__match(const struct targets_spec *s, uint32_t pid, const char *comm)
{
	char c[CPROF_COMM_LEN], *buf;
	int ret = 0;

	if (s->nr_comms) {
		if (!comm && !targets__read_comm(pid, c))
			comm = c;
		if (targets__match_comm(s, comm))
			return 1;
	}
	if (!s->nr_cgroups && !s->nr_exes)
		return 0;
	buf = malloc(PATH_MAX);
	if (!buf)
		return 0;
	if (s->nr_cgroups && !targets__read_cgroup(pid, buf, PATH_MAX) &&
	    targets__match_cgroup(s, buf))
		ret = 1;
	else if (s->nr_exes && !targets__read_exe(pid, buf, PATH_MAX) && targets__match_exe(s, buf))
		ret = 1;
	free(buf);
	return ret;
}

int targets__read_exe(uint32_t pid, char *buf, size_t len)
{
	char path[32];
	size_t dl = strlen(DELETED);
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/exe", pid);
	n = readlink(path, buf, len);
	if (n < 0)
		return -errno;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	if ((size_t)n > dl && !strcmp(buf + n - dl, DELETED))
		buf[n - dl] = '\0';
	return 0;
}

/* A small /proc file, NUL-terminated: its length, or -errno (-ESRCH when
 * it reads empty: the process has gone). */
static ssize_t read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (!n)
		return -ESRCH;
	if (n > 0)
		buf[n] = '\0';
	return n;
}

int targets__read_comm(uint32_t pid, char buf[CPROF_COMM_LEN])
{
	char path[32], text[CPROF_COMM_LEN + 1];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/comm", pid);
	n = read_small(path, text, sizeof(text));
	if (n < 0)
		return (int)n;
	n = (ssize_t)strcspn(text, "\n");
	if (n > CPROF_COMM_LEN - 1)
		n = CPROF_COMM_LEN - 1;
	memset(buf, 0, CPROF_COMM_LEN);
	memcpy(buf, text, (size_t)n);
	return 0;
}

int targets__cgroup_from_text(const char *text, char *buf, size_t len)
{
	const char *line = text;

	while (line && *line) {
		size_t n = strcspn(line, "\n");

		if (n >= 3 && !strncmp(line, "0::", 3)) {
			n -= 3;
			if (n >= len)
				return -ENAMETOOLONG;
			memcpy(buf, line + 3, n);
			buf[n] = '\0';
			return 0;
		}
		line = line[n] ? line + n + 1 : NULL;
	}
	return -ENOENT;
}

int targets__read_cgroup(uint32_t pid, char *buf, size_t len)
{
	char path[32], *text;
	size_t tlen;
	int err;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	err = read_file(path, CGROUP_FILE_MAX, &text, &tlen);
	if (err)
		return err;
	err = targets__cgroup_from_text(text, buf, len);
	free(text);
	return err;
}

int targets__proc_stat(uint32_t pid, uint64_t *start_ticks, bool *exited)
{
	char path[32], buf[1024], *p, state;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	p = strrchr(buf, ')');	/* the name may hold spaces and parentheses */
	if (!p || p[1] != ' ' || !p[2])
		return -EINVAL;
	state = p[2];
	/* each step moves to the space before the next field: the first lands
	 * before field 3 (state), the twentieth before 22 (starttime) */
	for (int field = 3; field <= 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	*start_ticks = strtoull(p + 1, NULL, 10);
	*exited = state == 'Z' || state == 'X' || state == 'x';
	return 0;
}

bool targets__cgroup_exists(const char *path)
{
	char mount[PATH_MAX], dir[2 * PATH_MAX];
	struct stat st;

	if (targets__cgroup2_mount(mount, sizeof(mount)))
		return false;
	snprintf(dir, sizeof(dir), "%s%s", mount, strcmp(path, "/") ? path : "");
	return !stat(dir, &st) && S_ISDIR(st.st_mode);
}

int targets__cgroup2_mount(char *buf, size_t len)
{
	char *text, *line, *save = NULL;
	size_t tlen;
	int err = -ENOENT;

	if (read_file("/proc/self/mounts", 4u << 20, &text, &tlen))
		return -ENOENT;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dev[64], dir[PATH_MAX], type[32];

		/* "cgroup2 /sys/fs/cgroup cgroup2 rw,..."; paths with spaces
		 * are \040-escaped, and cgroup2 is never mounted at one */
		if (sscanf(line, "%63s %4095s %31s", dev, dir, type) != 3 || strcmp(type, "cgroup2"))
			continue;
		if (strlen(dir) < len) {
			strcpy(buf, dir);
			err = 0;
		}
		break;
	}
	free(text);
	return err;
}
