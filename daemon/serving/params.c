/* HTTP request parameters of the profile endpoints: strict parsing of the
 * few numbers a request may carry, with a one-line reason for a refusal. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

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

/* ---------------------------------------------------------------------------
 * Times: start=, end=, --from, --to
 */

#define NS_PER_SEC		1000000000LL
/* The furthest back a relative time reaches: 100 years of 365.25 days. */
#define MAX_RELATIVE_NS		(36525LL * 86400 * NS_PER_SEC)

#define TIME_FORMS		"RFC 3339, Unix seconds, or relative like -1h"

/* Why a time was refused; each has its reason in params__time. */
enum time_verdict {
	TIME_OK,
	TIME_FORM,		/* none of the forms */
	TIME_NO_ZONE,		/* RFC 3339 but for its zone */
	TIME_NO_SUCH,		/* a month 13, a 30 February, an hour 24 */
	TIME_RANGE,		/* before 1970, or past what ns in an int64_t hold */
	TIME_SPAN,		/* relative, more than 100 years back */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits at *s, which is moved past them. */
static bool digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

/* A fraction of a second after its '.': any number of digits, of which the
 * first nine count (ns). NULL when there is no digit. */
static const char *fraction_ns(const char *s, int64_t *ns)
{
	int64_t scale = NS_PER_SEC;

	*ns = 0;
	if (!is_digit(*s))
		return NULL;
	for (; is_digit(*s); s++) {
		scale /= 10;
		*ns += (*s - '0') * scale;
	}
	return s;
}

/* seconds + ns since the epoch as ns, if an int64_t holds it. */
static enum time_verdict epoch_ns(int64_t secs, int64_t ns, int64_t *out)
{
	int64_t v;

	if (secs < 0 || __builtin_mul_overflow(secs, NS_PER_SEC, &v) ||
	    __builtin_add_overflow(v, ns, &v))
		return TIME_RANGE;
	*out = v;
	return TIME_OK;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* "2026-12-03T17:00:00.5+01:00": the date, T (t or a space), the time with
 * seconds, a fraction if any, and a zone: Z or an offset. */
static enum time_verdict parse_rfc3339(const char *s, int64_t *out)
{
	int year, month, day, hour, min, sec, off_h = 0, off_m = 0, sign = 0;
	struct tm tm = {};
	int64_t frac = 0;
	time_t t;

	if (!digits(&s, 4, &year) || *s++ != '-' || !digits(&s, 2, &month) || *s++ != '-' ||
	    !digits(&s, 2, &day))
		return TIME_FORM;
	if (*s != 'T' && *s != 't' && *s != ' ')
		return TIME_FORM;
	s++;
	if (!digits(&s, 2, &hour) || *s++ != ':' || !digits(&s, 2, &min) || *s++ != ':' ||
	    !digits(&s, 2, &sec))
		return TIME_FORM;
	if (*s == '.') {
		s = fraction_ns(s + 1, &frac);
		if (!s)
			return TIME_FORM;
	}
	if (!*s)
		return TIME_NO_ZONE;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '+' ? 1 : -1;
		if (!digits(&s, 2, &off_h) || *s++ != ':' || !digits(&s, 2, &off_m))
			return TIME_FORM;
	} else {
		return TIME_FORM;
	}
	if (*s)
		return TIME_FORM;

	/* The year first: it bounds what timegm is given. */
	if (year < 1970)
		return TIME_RANGE;
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || min > 59 || sec > 59 || off_h > 23 || off_m > 59)
		return TIME_NO_SUCH;
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return TIME_RANGE;
	/* 17:00+01:00 is 16:00Z. */
	return epoch_ns((int64_t)t - sign * (off_h * 3600 + off_m * 60), frac, out);
}

/* "1764781200" or "1764781200.25". */
static enum time_verdict parse_unix(const char *s, int64_t *out)
{
	int64_t secs = 0, frac = 0;
	bool big = false;
	const char *p;

	for (p = s; is_digit(*p); p++) {
		/* Every digit is read, so that what follows is still checked. */
		if (secs > INT64_MAX / NS_PER_SEC)
			big = true;
		else
			secs = secs * 10 + (*p - '0');
	}
	if (p == s)
		return TIME_FORM;
	if (*p == '.') {
		p = fraction_ns(p + 1, &frac);
		if (!p)
			return TIME_FORM;
	}
	if (*p)
		return TIME_FORM;
	if (big)
		return TIME_RANGE;
	return epoch_ns(secs, frac, out);
}

/* The unit at *s, in ns, which is moved past it; 0 when there is none. */
static int64_t unit_ns(const char **s)
{
	static const struct {
		const char *name;
		int64_t ns;
	} units[] = {
		/* two letters before one: "ms" is not minutes and an s */
		{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", NS_PER_SEC }, { "m", 60 * NS_PER_SEC }, { "h", 3600 * NS_PER_SEC },
		{ "d", 86400 * NS_PER_SEC },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);

		if (!strncmp(*s, units[i].name, n)) {
			*s += n;
			return units[i].ns;
		}
	}
	return 0;
}

/* After the '-': one or more numbers, each with its unit ("1h30m", "1.5h").
 * Every number and the sum are bounded before they are multiplied or
 * added, so nothing overflows. */
static enum time_verdict parse_relative(const char *s, int64_t now_ns, int64_t *out)
{
	int64_t span = 0;
	bool far = false;

	if (!*s)
		return TIME_FORM;
	while (*s) {
		int64_t whole = 0, unit, v, scale;
		const char *start = s, *frac = NULL;

		for (; is_digit(*s); s++) {
			if (whole > MAX_RELATIVE_NS / 10)
				far = true;
			else
				whole = whole * 10 + (*s - '0');
		}
		if (*s == '.') {
			frac = ++s;
			while (is_digit(*s))
				s++;
		}
		/* "1.", ".5" and "1.5" are numbers; "." alone is not */
		if (s == start || (frac && s == frac && frac == start + 1))
			return TIME_FORM;
		unit = unit_ns(&s);
		if (!unit)
			return TIME_FORM;
		if (far || whole > MAX_RELATIVE_NS / unit) {
			far = true;
			continue;
		}
		v = whole * unit;
		/* Each digit of the fraction is worth a tenth of the last. */
		scale = unit;
		for (; frac && is_digit(*frac); frac++) {
			scale /= 10;
			v += (*frac - '0') * scale;
		}
		span += v;
		if (span > MAX_RELATIVE_NS)
			far = true;
	}
	if (far)
		return TIME_SPAN;
	if (__builtin_sub_overflow(now_ns, span, out) || *out < 0)
		return TIME_RANGE;
	return TIME_OK;
}

int params__time(const char *key, const char *value, int64_t now_ns, int64_t *out_ns,
		 char *err, size_t errlen)
{
	enum time_verdict v;
	char quoted[QUOTED_SIZE];
	int64_t ns = 0;

	if (!value || !*value) {
		set_err(err, errlen, "%s: must be a time (" TIME_FORMS "), but none was given", key);
		return -EINVAL;
	}
	if (!strcmp(value, "now")) {
		ns = now_ns;
		v = ns < 0 ? TIME_RANGE : TIME_OK;
	} else if (value[0] == '-') {
		v = parse_relative(value + 1, now_ns, &ns);
	} else if (is_digit(value[0]) && is_digit(value[1]) && is_digit(value[2]) &&
		   is_digit(value[3]) && value[4] == '-') {
		v = parse_rfc3339(value, &ns);
	} else {
		v = parse_unix(value, &ns);
	}
	if (v == TIME_OK) {
		*out_ns = ns;
		return 0;
	}

	quote(value, quoted);
	switch (v) {
	case TIME_NO_ZONE:
		set_err(err, errlen, "%s: not a time: %s has no time zone (add Z for UTC, or an offset like +01:00)",
			key, quoted);
		break;
	case TIME_NO_SUCH:
		set_err(err, errlen, "%s: no such date or time of day: %s", key, quoted);
		break;
	case TIME_RANGE:
		set_err(err, errlen, "%s: out of range: %s (times from 1970 to 2262 are taken)", key,
			quoted);
		break;
	case TIME_SPAN:
		set_err(err, errlen, "%s: out of range: %s (relative times reach back at most 100 years)",
			key, quoted);
		break;
	default:
		set_err(err, errlen, "%s: not a time: %s (" TIME_FORMS ")", key, quoted);
		break;
	}
	return -EINVAL;
}
