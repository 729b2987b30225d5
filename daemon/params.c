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
