/* HTTP request parameters of the profile endpoints: strict parsing of the
 * few numbers a request may carry, with a one-line reason for a refusal. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "params.h"

/* PID_MAX_LIMIT on 64-bit kernels: no pid is ever above it. */
#define PARAMS_MAX_PID		4194304

/* How much of a refused value is quoted back; the rest becomes "...". */
#define QUOTE_MAX		32
/* Worst case of quote(): every byte as \xNN, two quotes, "...", NUL. */
#define QUOTED_SIZE		(QUOTE_MAX * 4 + 2 + 3 + 1)

/* Quote value for an error message: at most QUOTE_MAX bytes of it, with
 * quotes, backslashes, control characters and non-ASCII bytes escaped, so a
 * hostile value cannot break the one-line reason or a log. */
static void quote(const char *value, char buf[QUOTED_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	size_t len = 0, i;

	buf[len++] = '"';
	for (i = 0; value[i] && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)value[i];

		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			buf[len++] = '\\';
			buf[len++] = 'x';
			buf[len++] = hex[c >> 4];
			buf[len++] = hex[c & 0xf];
		} else {
			buf[len++] = (char)c;
		}
	}
	buf[len++] = '"';
	if (value[i]) {
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	buf[len] = '\0';
}

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

/* A whole number from min to max: decimal digits only, no sign, no spaces,
 * no exponent; leading zeros are allowed, as Go's strconv allows them.
 * 0, or -EINVAL with the reason in err. */
static int parse_whole(const char *key, const char *value, long min, long max,
		       long *out, char *err, size_t errlen)
{
	char quoted[QUOTED_SIZE];
	long n = 0;
	const char *p;

	if (!value) {
		set_err(err, errlen, "%s: must be a whole number from %ld to %ld, but no value was given",
			key, min, max);
		return -EINVAL;
	}
	for (p = value; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		n = n * 10 + (*p - '0');
		if (n > max)		/* also stops overflow: max is small */
			goto bad;
	}
	if (p == value || n < min)
		goto bad;
	*out = n;
	return 0;
bad:
	quote(value, quoted);
	set_err(err, errlen, "%s: must be a whole number from %ld to %ld, not %s",
		key, min, max, quoted);
	return -EINVAL;
}

/* debug and gc: Go reads a missing or empty value as 0, so do we. */
static int parse_flag(const char *key, const char *value, long max, long *out,
		      char *err, size_t errlen)
{
	if (!value || !*value) {
		*out = 0;
		return 0;
	}
	return parse_whole(key, value, 0, max, out, err, errlen);
}

static int add_pid(struct profile_request *req, const char *value, char *err, size_t errlen)
{
	long pid;
	int i, ret;

	ret = parse_whole("pid", value, 1, PARAMS_MAX_PID, &pid, err, errlen);
	if (ret)
		return ret;
	for (i = 0; i < req->nr_pids; i++) {
		if (req->pids[i] == pid)
			return 0;
	}
	if (req->nr_pids == PARAMS_MAX_PIDS) {
		set_err(err, errlen, "pid: at most %d different processes may be given, not more",
			PARAMS_MAX_PIDS);
		return -EINVAL;
	}
	req->pids[req->nr_pids++] = (int)pid;
	return 0;
}

int params__comm(const char *key, const char *value, char out[PARAMS_COMM_LEN],
		 char *err, size_t errlen)
{
	char quoted[QUOTED_SIZE], prefix[PARAMS_COMM_LEN], qprefix[QUOTED_SIZE];
	size_t n;

	if (!value || !*value) {
		set_err(err, errlen, "%s: must be a process name of 1 to %d bytes, but none was given",
			key, PARAMS_COMM_LEN - 1);
		return -EINVAL;
	}
	n = strlen(value);
	if (n >= PARAMS_COMM_LEN) {
		/* what the kernel would have kept of it */
		memcpy(prefix, value, PARAMS_COMM_LEN - 1);
		prefix[PARAMS_COMM_LEN - 1] = '\0';
		quote(value, quoted);
		quote(prefix, qprefix);
		set_err(err, errlen, "%s: process names are at most %d bytes, as the kernel keeps them: give %s, not %s",
			key, PARAMS_COMM_LEN - 1, qprefix, quoted);
		return -EINVAL;
	}
	memset(out, 0, PARAMS_COMM_LEN);
	memcpy(out, value, n);
	return 0;
}

static int path_too_long(const char *key, const char *value, size_t len, char *err, size_t errlen)
{
	char quoted[QUOTED_SIZE];

	quote(value, quoted);
	set_err(err, errlen, "%s: paths of at most %zu bytes are taken, not %s (%zu bytes)", key,
		len - 1, quoted, strlen(value));
	return -EINVAL;
}

int params__exe(const char *key, const char *value, char *out, size_t len,
		char *err, size_t errlen)
{
	char quoted[QUOTED_SIZE], *real;
	const char *path;
	int ret = 0;

	if (!value || !*value) {
		set_err(err, errlen, "%s: must be the absolute path of an executable, but none was given",
			key);
		return -EINVAL;
	}
	if (value[0] != '/') {
		quote(value, quoted);
		set_err(err, errlen, "%s: must be the absolute path of an executable, as in /usr/bin/python3, not %s",
			key, quoted);
		return -EINVAL;
	}
	if (strlen(value) >= len)
		return path_too_long(key, value, len, err, errlen);
	/* /proc/PID/exe has its symlinks resolved: /usr/bin/python3 runs as
	 * /usr/bin/python3.11 */
	real = realpath(value, NULL);
	path = real ? real : value;
	if (strlen(path) >= len)
		ret = path_too_long(key, path, len, err, errlen);
	else
		strcpy(out, path);
	free(real);
	return ret;
}

/* value starts with the directory dir (followed by a slash or its end) */
static const char *under(const char *value, const char *dir)
{
	size_t n = strlen(dir);

	if (strncmp(value, dir, n) || (value[n] && value[n] != '/'))
		return NULL;
	return value + n;
}

int params__cgroup(const char *key, const char *value, char *out, size_t len,
		   char *err, size_t errlen)
{
	char quoted[QUOTED_SIZE];
	const char *p;
	size_t n = 0;

	if (!value || !*value) {
		set_err(err, errlen, "%s: must be a cgroup, as in system.slice/cron.service, but none was given",
			key);
		return -EINVAL;
	}
	if (len < 2)
		return path_too_long(key, value, len, err, errlen);
	/* where cgroup2 is mounted: alone, or beside v1 (systemd's hybrid
	 * layout); else a path as /proc/PID/cgroup shows it, or relative */
	p = under(value, "/sys/fs/cgroup/unified");
	if (!p)
		p = under(value, "/sys/fs/cgroup");
	if (!p)
		p = value;
	out[n++] = '/';
	while (*p) {
		const char *c;
		size_t clen;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		c = p;
		clen = strcspn(p, "/");
		p += clen;
		if (c[0] == '.' && (clen == 1 || (clen == 2 && c[1] == '.'))) {
			quote(value, quoted);
			set_err(err, errlen, "%s: a cgroup path without \".\" or \"..\" is needed, not %s",
				key, quoted);
			return -EINVAL;
		}
		if (n + (n > 1) + clen >= len)
			return path_too_long(key, value, len, err, errlen);
		if (n > 1)
			out[n++] = '/';
		memcpy(out + n, c, clen);
		n += clen;
	}
	out[n] = '\0';
	return 0;
}

bool params__cgroup_within(const char *path, const char *target)
{
	size_t n = strlen(target);

	if (!strcmp(target, "/"))
		return path[0] == '/';
	return !strncmp(path, target, n) && (path[n] == '\0' || path[n] == '/');
}

/* Add a name to a request's list, once. */
static int add_name(const char *key, char *list, size_t size, int *nr, const char *name,
		    char *err, size_t errlen)
{
	for (int i = 0; i < *nr; i++)
		if (!strcmp(list + (size_t)i * size, name))
			return 0;
	if (*nr == PARAMS_MAX_NAMES) {
		set_err(err, errlen, "%s: at most %d different values may be given, not more", key,
			PARAMS_MAX_NAMES);
		return -EINVAL;
	}
	strcpy(list + (size_t)(*nr)++ * size, name);
	return 0;
}

int params__parse(const struct param *params, size_t nr, struct profile_request *req,
		  char *err, size_t errlen)
{
	struct profile_request r;
	bool seen_seconds = false, seen_hz = false, seen_debug = false, seen_gc = false;
	long n;
	size_t i;
	int ret = 0;

	memset(&r, 0, sizeof(r));
	if (err && errlen)
		err[0] = '\0';

	/* Every occurrence is checked; as with Go's FormValue, the first
	 * occurrence of a single-valued key is the one used. */
	for (i = 0; i < nr; i++) {
		const char *key = params[i].key, *value = params[i].value;

		if (!key)
			continue;
		if (!strcmp(key, "seconds")) {
			ret = parse_whole(key, value, 1, PARAMS_MAX_SECONDS, &n, err, errlen);
			if (!ret && !seen_seconds)
				r.seconds = (int)n;
			seen_seconds = true;
		} else if (!strcmp(key, "hz")) {
			ret = parse_whole(key, value, 1, PARAMS_MAX_HZ, &n, err, errlen);
			if (!ret && !seen_hz)
				r.hz = (int)n;
			seen_hz = true;
		} else if (!strcmp(key, "pid")) {
			ret = add_pid(&r, value, err, errlen);
		} else if (!strcmp(key, "comm")) {
			char comm[PARAMS_COMM_LEN];

			ret = params__comm(key, value, comm, err, errlen);
			if (!ret)
				ret = add_name(key, r.comms[0], sizeof(r.comms[0]), &r.nr_comms, comm,
					       err, errlen);
		} else if (!strcmp(key, "exe") || !strcmp(key, "cgroup")) {
			bool exe = key[0] == 'e';
			char path[PARAMS_PATH_LEN];

			ret = exe ? params__exe(key, value, path, sizeof(path), err, errlen) :
				    params__cgroup(key, value, path, sizeof(path), err, errlen);
			if (!ret)
				ret = add_name(key, exe ? r.exes[0] : r.cgroups[0], PARAMS_PATH_LEN,
					       exe ? &r.nr_exes : &r.nr_cgroups, path, err, errlen);
		} else if (!strcmp(key, "debug")) {
			ret = parse_flag(key, value, 2, &n, err, errlen);
			if (!ret && !seen_debug)
				r.debug = (int)n;
			seen_debug = true;
		} else if (!strcmp(key, "gc")) {
			ret = parse_flag(key, value, 1, &n, err, errlen);
			if (!ret && !seen_gc)
				r.gc = (int)n;
			seen_gc = true;
		}
		if (ret)
			goto cleanup;
	}
	*req = r;
cleanup:
	return ret;
}

int params__parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case '\0': break;
	default: return -EINVAL;
	}
	if ((*end == 'i' || *end == 'I') && shift && (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	else if ((*end == 'B' || *end == 'b') && shift)
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}
