/* Unit test of daemon/serving/params.c: every accepted and refused form of the
 * profile endpoints' query parameters, with the exact reason text. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "params.h"

#define P(k, v) { .key = (k), .value = (v) }
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char err[256];

/* Parse one key=value; return the result and leave the reason in err. */
static int parse1(const char *key, const char *value, struct profile_request *req)
{
	struct param p = P(key, value);

	memset(req, 0x55, sizeof(*req));	/* parse must reset it */
	return params__parse(&p, 1, req, err, sizeof(err));
}

/* key=value must be accepted, setting *field (through req) to want. */
static void accept1(const char *name, const char *key, const char *value,
		    const int *field, int want, struct profile_request *req)
{
	int ret = parse1(key, value, req);

	CHECK(ret == 0 && *field == want, name, "ret %d, value %d, want %d (err \"%s\")",
	      ret, *field, want, err);
}

/* key=value must be refused with exactly want_err. */
static void refuse1(const char *name, const char *key, const char *value, const char *want_err)
{
	struct profile_request req;
	int ret = parse1(key, value, &req);

	CHECK(ret == -EINVAL && !strcmp(err, want_err), name, "ret %d, err \"%s\", want \"%s\"",
	      ret, err, want_err);
}

#define SECONDS_ERR(q) "seconds: must be a whole number from 1 to 3600, not " q
#define HZ_ERR(q) "hz: must be a whole number from 1 to 1000, not " q
#define PID_ERR(q) "pid: must be a whole number from 1 to 4194304, not " q

static void test_seconds(void)
{
	struct profile_request r = { 0 };

	accept1("seconds=1", "seconds", "1", &r.seconds, 1, &r);
	accept1("seconds=30", "seconds", "30", &r.seconds, 30, &r);
	accept1("seconds=3600", "seconds", "3600", &r.seconds, 3600, &r);
	accept1("seconds=007 (leading zeros, as Go)", "seconds", "007", &r.seconds, 7, &r);

	refuse1("seconds=\"\"", "seconds", "", SECONDS_ERR("\"\""));
	refuse1("seconds=abc", "seconds", "abc", SECONDS_ERR("\"abc\""));
	refuse1("seconds=5x", "seconds", "5x", SECONDS_ERR("\"5x\""));
	refuse1("seconds=-1", "seconds", "-1", SECONDS_ERR("\"-1\""));
	refuse1("seconds=+5", "seconds", "+5", SECONDS_ERR("\"+5\""));
	refuse1("seconds=0", "seconds", "0", SECONDS_ERR("\"0\""));
	refuse1("seconds=3601", "seconds", "3601", SECONDS_ERR("\"3601\""));
	refuse1("seconds=1e3", "seconds", "1e3", SECONDS_ERR("\"1e3\""));
	refuse1("seconds=1.5", "seconds", "1.5", SECONDS_ERR("\"1.5\""));
	refuse1("seconds=0x10", "seconds", "0x10", SECONDS_ERR("\"0x10\""));
	refuse1("seconds overflow", "seconds", "99999999999999999999",
		SECONDS_ERR("\"99999999999999999999\""));
	refuse1("seconds leading space", "seconds", " 5", SECONDS_ERR("\" 5\""));
	refuse1("seconds trailing space", "seconds", "5 ", SECONDS_ERR("\"5 \""));
	refuse1("seconds without value", "seconds", NULL,
		"seconds: must be a whole number from 1 to 3600, but no value was given");
}

static void test_hz(void)
{
	struct profile_request r = { 0 };

	accept1("hz=1", "hz", "1", &r.hz, 1, &r);
	accept1("hz=99", "hz", "99", &r.hz, 99, &r);
	accept1("hz=1000", "hz", "1000", &r.hz, 1000, &r);
	refuse1("hz=0", "hz", "0", HZ_ERR("\"0\""));
	refuse1("hz=1001", "hz", "1001", HZ_ERR("\"1001\""));
	refuse1("hz=\"\"", "hz", "", HZ_ERR("\"\""));
	refuse1("hz=-5", "hz", "-5", HZ_ERR("\"-5\""));
	refuse1("hz=ten", "hz", "ten", HZ_ERR("\"ten\""));
	refuse1("hz without value", "hz", NULL,
		"hz: must be a whole number from 1 to 1000, but no value was given");
}

static void test_pid(void)
{
	struct profile_request r = { 0 };
	struct param many[PARAMS_MAX_PIDS + 1];
	char values[PARAMS_MAX_PIDS + 1][16];
	int i, ret;

	accept1("pid=1", "pid", "1", &r.pids[0], 1, &r);
	CHECK(r.nr_pids == 1, "pid=1 gives one pid", "nr_pids %d", r.nr_pids);
	accept1("pid=4194304", "pid", "4194304", &r.pids[0], 4194304, &r);
	refuse1("pid=4194305", "pid", "4194305", PID_ERR("\"4194305\""));
	refuse1("pid=2147483648", "pid", "2147483648", PID_ERR("\"2147483648\""));
	refuse1("pid=0", "pid", "0", PID_ERR("\"0\""));
	refuse1("pid=-1", "pid", "-1", PID_ERR("\"-1\""));
	refuse1("pid=\"\"", "pid", "", PID_ERR("\"\""));
	refuse1("pid=12a", "pid", "12a", PID_ERR("\"12a\""));
	refuse1("pid without value", "pid", NULL,
		"pid: must be a whole number from 1 to 4194304, but no value was given");

	{
		struct param p[] = { P("pid", "10"), P("pid", "20"), P("pid", "10"),
				     P("pid", "30"), P("pid", "20") };

		ret = params__parse(p, N(p), &r, err, sizeof(err));
		CHECK(ret == 0 && r.nr_pids == 3 && r.pids[0] == 10 && r.pids[1] == 20 &&
		      r.pids[2] == 30, "pid repeated, duplicates collapse",
		      "ret %d nr %d pids %d %d %d", ret, r.nr_pids, r.pids[0], r.pids[1], r.pids[2]);
	}

	/* PARAMS_MAX_PIDS different pids pass, one more is refused... */
	for (i = 0; i <= PARAMS_MAX_PIDS; i++) {
		snprintf(values[i], sizeof(values[i]), "%d", 100 + i);
		many[i].key = "pid";
		many[i].value = values[i];
	}
	ret = params__parse(many, PARAMS_MAX_PIDS, &r, err, sizeof(err));
	CHECK(ret == 0 && r.nr_pids == PARAMS_MAX_PIDS && r.pids[PARAMS_MAX_PIDS - 1] ==
	      100 + PARAMS_MAX_PIDS - 1, "pid: PARAMS_MAX_PIDS accepted", "ret %d nr %d (%s)",
	      ret, r.nr_pids, err);
	ret = params__parse(many, PARAMS_MAX_PIDS + 1, &r, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, "pid: at most 64 different processes may be given, not more"),
	      "pid: PARAMS_MAX_PIDS + 1 refused", "ret %d err \"%s\"", ret, err);

	/* ...but a repeat of one already given does not count. */
	many[PARAMS_MAX_PIDS].value = values[0];
	ret = params__parse(many, PARAMS_MAX_PIDS + 1, &r, err, sizeof(err));
	CHECK(ret == 0 && r.nr_pids == PARAMS_MAX_PIDS, "pid: duplicate past the limit collapses",
	      "ret %d nr %d (%s)", ret, r.nr_pids, err);
}

static void test_debug_gc(void)
{
	struct profile_request r = { 0 };

	accept1("debug=0", "debug", "0", &r.debug, 0, &r);
	accept1("debug=1", "debug", "1", &r.debug, 1, &r);
	accept1("debug=2", "debug", "2", &r.debug, 2, &r);
	accept1("debug=\"\" is 0, as Go", "debug", "", &r.debug, 0, &r);
	accept1("debug without value is 0, as Go", "debug", NULL, &r.debug, 0, &r);
	refuse1("debug=3", "debug", "3", "debug: must be a whole number from 0 to 2, not \"3\"");
	refuse1("debug=yes", "debug", "yes", "debug: must be a whole number from 0 to 2, not \"yes\"");

	accept1("gc=0", "gc", "0", &r.gc, 0, &r);
	accept1("gc=1", "gc", "1", &r.gc, 1, &r);
	accept1("gc without value is 0", "gc", NULL, &r.gc, 0, &r);
	refuse1("gc=2", "gc", "2", "gc: must be a whole number from 0 to 1, not \"2\"");
}

static void test_request(void)
{
	struct profile_request r = { 0 };
	struct param all[] = { P("seconds", "10"), P("hz", "49"), P("pid", "42"),
			       P("debug", "1"), P("gc", "1"), P("unknown", "zzz"),
			       P("flag", NULL), P(NULL, "x") };
	struct param first[] = { P("seconds", "10"), P("seconds", "20") };
	struct param later_bad[] = { P("seconds", "10"), P("seconds", "x") };
	struct param bad_after_good[] = { P("hz", "10"), P("pid", "7"), P("seconds", "0") };
	struct profile_request zero;
	int ret;

	ret = params__parse(NULL, 0, &r, err, sizeof(err));
	memset(&zero, 0, sizeof(zero));
	CHECK(ret == 0 && !memcmp(&r, &zero, sizeof(r)), "no parameters: all zero", "ret %d", ret);

	ret = params__parse(all, N(all), &r, err, sizeof(err));
	CHECK(ret == 0 && r.seconds == 10 && r.hz == 49 && r.nr_pids == 1 && r.pids[0] == 42 &&
	      r.debug == 1 && r.gc == 1, "all keys, unknown ones ignored",
	      "ret %d (%s) seconds %d hz %d nr_pids %d debug %d gc %d", ret, err,
	      r.seconds, r.hz, r.nr_pids, r.debug, r.gc);

	ret = params__parse(first, N(first), &r, err, sizeof(err));
	CHECK(ret == 0 && r.seconds == 10, "repeated seconds: first wins, as Go",
	      "ret %d seconds %d", ret, r.seconds);
	ret = params__parse(later_bad, N(later_bad), &r, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, SECONDS_ERR("\"x\"")),
	      "repeated seconds: a bad later one is still refused", "ret %d err \"%s\"", ret, err);

	memset(&r, 0x55, sizeof(r));
	ret = params__parse(bad_after_good, N(bad_after_good), &r, err, sizeof(err));
	CHECK(ret == -EINVAL && r.seconds == 0x55555555 && !strcmp(err, SECONDS_ERR("\"0\"")),
	      "refusal leaves the request untouched", "ret %d seconds %#x err \"%s\"",
	      ret, r.seconds, err);

	{
		struct param key_case = P("Seconds", "abc");

		ret = params__parse(&key_case, 1, &r, err, sizeof(err));
		CHECK(ret == 0 && r.seconds == 0, "keys are case-sensitive, as Go",
		      "ret %d seconds %d", ret, r.seconds);
	}
}

static void test_error_text(void)
{
	struct profile_request r = { 0 };
	char longv[4096], small[24];
	struct param p;
	int ret;

	memset(longv, '7', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	refuse1("long value truncated", "seconds", longv,
		SECONDS_ERR("\"77777777777777777777777777777777\"..."));

	refuse1("control characters escaped", "seconds", "1\n2\r\t\x1b[31m",
		SECONDS_ERR("\"1\\x0a2\\x0d\\x09\\x1b[31m\""));
	refuse1("quote and backslash escaped", "hz", "a\"b\\c", HZ_ERR("\"a\\\"b\\\\c\""));
	refuse1("non-ASCII escaped", "pid", "\xc3\xa9\x7f", PID_ERR("\"\\xc3\\xa9\\x7f\""));

	/* 32 bytes that each take 4: the worst case still fits. */
	memset(longv, '\x01', 40);
	longv[40] = '\0';
	ret = parse1("seconds", longv, &r);
	CHECK(ret == -EINVAL && strlen(err) == strlen(SECONDS_ERR("")) + 2 + 32 * 4 + 3 &&
	      !strchr(err, '\x01'), "worst-case escaping", "ret %d len %zu \"%s\"",
	      ret, strlen(err), err);

	p = (struct param)P("seconds", "abc");
	ret = params__parse(&p, 1, &r, small, sizeof(small));
	CHECK(ret == -EINVAL && strlen(small) == sizeof(small) - 1 &&
	      !strncmp(small, "seconds: must be a whole", sizeof(small) - 1),
	      "small err buffer: truncated, terminated", "ret %d \"%s\"", ret, small);
	ret = params__parse(&p, 1, &r, NULL, 0);
	CHECK(ret == -EINVAL, "NULL err buffer", "ret %d", ret);
}

/* key=value must be accepted as the one name want (comms, exes or cgroups). */
static void accept_name(const char *name, const char *key, const char *value, const char *want)
{
	struct profile_request r;
	int ret = parse1(key, value, &r);
	const char *got = key[0] == 'c' && key[1] == 'o' ? r.comms[0] :
			  key[0] == 'e' ? r.exes[0] : r.cgroups[0];
	int nr = key[0] == 'c' && key[1] == 'o' ? r.nr_comms : key[0] == 'e' ? r.nr_exes : r.nr_cgroups;

	CHECK(ret == 0 && nr == 1 && !strcmp(got, want), name, "ret %d nr %d got \"%s\" want \"%s\" (%s)",
	      ret, nr, ret ? "" : got, want, err);
}

static void test_names(void)
{
	struct profile_request r;
	struct param many[PARAMS_MAX_NAMES + 1];
	char values[PARAMS_MAX_NAMES + 1][16], longpath[PARAMS_PATH_LEN + 8], real[4096];
	int ret;

	accept_name("comm=redis-server", "comm", "redis-server", "redis-server");
	accept_name("comm of 15 bytes", "comm", "abcdefghijklmno", "abcdefghijklmno");
	accept_name("comm with a space and a slash", "comm", "kworker/0:1 x", "kworker/0:1 x");
	refuse1("comm of 16 bytes", "comm", "abcdefghijklmnop",
		"comm: process names are at most 15 bytes, as the kernel keeps them: give \"abcdefghijklmno\", not \"abcdefghijklmnop\"");
	refuse1("comm=\"\"", "comm", "", "comm: must be a process name of 1 to 15 bytes, but none was given");
	refuse1("comm without value", "comm", NULL,
		"comm: must be a process name of 1 to 15 bytes, but none was given");
	ret = parse1("comm", "x", &r);
	CHECK(ret == 0 && !memcmp(r.comms[0], "x\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16),
	      "comm is zero-padded", "ret %d", ret);

	accept_name("exe of no file: as given", "exe", "/nonexistent/cprof/bin", "/nonexistent/cprof/bin");
	if (realpath("/proc/self/exe", real))
		accept_name("exe: symlinks resolved", "exe", "/proc/self/exe", real);
	refuse1("exe relative", "exe", "bin/python3",
		"exe: must be the absolute path of an executable, as in /usr/bin/python3, not \"bin/python3\"");
	refuse1("exe=\"\"", "exe", "", "exe: must be the absolute path of an executable, but none was given");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ret = parse1("exe", longpath, &r);
	CHECK(ret == -EINVAL && strstr(err, "paths of at most 511 bytes are taken"), "exe too long refused",
	      "ret %d err \"%s\"", ret, err);

	accept_name("cgroup relative", "cgroup", "system.slice/cron.service", "/system.slice/cron.service");
	accept_name("cgroup as /proc/PID/cgroup shows it", "cgroup", "/system.slice/cron.service",
		    "/system.slice/cron.service");
	accept_name("cgroup under /sys/fs/cgroup", "cgroup", "/sys/fs/cgroup/system.slice/cron.service",
		    "/system.slice/cron.service");
	accept_name("cgroup under /sys/fs/cgroup/unified", "cgroup",
		    "/sys/fs/cgroup/unified/system.slice/cron.service", "/system.slice/cron.service");
	accept_name("cgroup: /sys/fs/cgroupx is not the mount", "cgroup", "/sys/fs/cgroupx/a",
		    "/sys/fs/cgroupx/a");
	accept_name("cgroup: slashes collapse", "cgroup", "//a///b//", "/a/b");
	accept_name("cgroup: the root", "cgroup", "/sys/fs/cgroup/", "/");
	accept_name("cgroup: the root, as /", "cgroup", "/", "/");
	refuse1("cgroup with ..", "cgroup", "a/../b", "cgroup: a cgroup path without \".\" or \"..\" is needed, not \"a/../b\"");
	refuse1("cgroup with .", "cgroup", "./a", "cgroup: a cgroup path without \".\" or \"..\" is needed, not \"./a\"");
	accept_name("cgroup: ..a is a name", "cgroup", "..a/b.", "/..a/b.");
	refuse1("cgroup=\"\"", "cgroup", "", "cgroup: must be a cgroup, as in system.slice/cron.service, but none was given");
	longpath[0] = 'a';
	ret = parse1("cgroup", longpath, &r);
	CHECK(ret == -EINVAL && strstr(err, "paths of at most 511 bytes are taken"), "cgroup too long refused",
	      "ret %d err \"%s\"", ret, err);

	{
		struct param p[] = { P("comm", "a"), P("exe", "/x"), P("comm", "a"), P("cgroup", "c"),
				     P("comm", "b"), P("cgroup", "/c/"), P("pid", "3") };

		ret = params__parse(p, N(p), &r, err, sizeof(err));
		CHECK(ret == 0 && r.nr_comms == 2 && r.nr_exes == 1 && r.nr_cgroups == 1 && r.nr_pids == 1 &&
		      !strcmp(r.comms[1], "b") && !strcmp(r.cgroups[0], "/c"),
		      "names repeated, duplicates collapse (after normalizing)", "ret %d (%s) %d %d %d",
		      ret, err, r.nr_comms, r.nr_exes, r.nr_cgroups);
	}
	for (int i = 0; i <= PARAMS_MAX_NAMES; i++) {
		snprintf(values[i], sizeof(values[i]), "name%d", i);
		many[i] = (struct param)P("comm", values[i]);
	}
	ret = params__parse(many, PARAMS_MAX_NAMES, &r, err, sizeof(err));
	CHECK(ret == 0 && r.nr_comms == PARAMS_MAX_NAMES, "comm: PARAMS_MAX_NAMES accepted",
	      "ret %d (%s)", ret, err);
	ret = params__parse(many, PARAMS_MAX_NAMES + 1, &r, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, "comm: at most 16 different values may be given, not more"),
	      "comm: PARAMS_MAX_NAMES + 1 refused", "ret %d err \"%s\"", ret, err);

	CHECK(params__cgroup_within("/a/b", "/a") && params__cgroup_within("/a", "/a") &&
	      !params__cgroup_within("/ab", "/a") && !params__cgroup_within("/", "/a") &&
	      params__cgroup_within("/x", "/") && params__cgroup_within("/", "/") &&
	      !params__cgroup_within("/a", "/a/b"), "cgroup within: below and at, not beside", "%s", "no");
}

/* ---------------------------------------------------------------------------
 * params__time
 */

#define NS		1000000000LL
#define NOW		(1764781200LL * NS)	/* 2025-12-03T17:00:00Z */
#define T2026		(1796317200LL * NS)	/* 2026-12-03T17:00:00Z */
#define FORMS		" (RFC 3339, Unix seconds, or relative like -1h)"

/* value must be taken as want ns since the epoch (now is NOW). */
static void accept_time(const char *name, const char *value, int64_t want)
{
	int64_t got = -1;
	int ret = params__time("start", value, NOW, &got, err, sizeof(err));

	CHECK(ret == 0 && got == want, name, "ret %d, got %lld, want %lld (err \"%s\")", ret,
	      (long long)got, (long long)want, ret ? err : "");
}

/* value must be refused with exactly want_err, *out_ns untouched. */
static void refuse_time(const char *name, const char *value, const char *want_err)
{
	int64_t got = 12345;
	int ret = params__time("start", value, NOW, &got, err, sizeof(err));

	CHECK(ret == -EINVAL && got == 12345 && !strcmp(err, want_err), name,
	      "ret %d, got %lld, err \"%s\", want \"%s\"", ret, (long long)got, err, want_err);
}

#define NOT_A_TIME(q)	"start: not a time: " q FORMS
#define NO_SUCH(q)	"start: no such date or time of day: " q
#define RANGE(q)	"start: out of range: " q " (times from 1970 to 2262 are taken)"
#define SPAN(q)		"start: out of range: " q " (relative times reach back at most 100 years)"

static void test_time_rfc3339(void)
{
	accept_time("time: RFC 3339 UTC", "2026-12-03T17:00:00Z", T2026);
	accept_time("time: RFC 3339 lower-case t and z", "2026-12-03t17:00:00z", T2026);
	accept_time("time: RFC 3339 with a space", "2026-12-03 17:00:00Z", T2026);
	accept_time("time: RFC 3339 offset and fraction", "2026-12-03T17:00:00.5+01:00",
		    T2026 - 3600 * NS + NS / 2);
	accept_time("time: RFC 3339 negative offset", "2026-12-03T17:00:00-05:30",
		    T2026 + (5 * 3600 + 30 * 60) * NS);
	accept_time("time: RFC 3339 offset -00:00", "2026-12-03T17:00:00-00:00", T2026);
	accept_time("time: RFC 3339 ns", "2026-12-03T17:00:00.123456789Z", T2026 + 123456789);
	accept_time("time: RFC 3339 beyond ns: truncated", "2026-12-03T17:00:00.9999999999999Z",
		    T2026 + 999999999);
	accept_time("time: RFC 3339 one digit of fraction", "2026-12-03T17:00:00.1Z",
		    T2026 + 100000000);
	accept_time("time: RFC 3339 leap day", "2024-02-29T00:00:00Z", 1709164800LL * NS);
	accept_time("time: RFC 3339 leap day of 2000", "2000-02-29T12:00:00Z", 951825600LL * NS);
	accept_time("time: RFC 3339 the epoch", "1970-01-01T00:00:00Z", 0);
	accept_time("time: RFC 3339 the epoch, with an offset", "1970-01-01T01:00:00+01:00", 0);
	accept_time("time: RFC 3339 the last ns an int64 holds", "2262-04-11T23:47:16.854775807Z",
		    INT64_MAX);
	accept_time("time: RFC 3339 23:59:59", "2026-12-31T23:59:59Z", 1798761599LL * NS);

	refuse_time("time: RFC 3339 without a zone", "2026-12-03T17:00:00",
		    "start: not a time: \"2026-12-03T17:00:00\" has no time zone (add Z for UTC, or an offset like +01:00)");
	refuse_time("time: RFC 3339 fraction without a zone", "2026-12-03T17:00:00.5",
		    "start: not a time: \"2026-12-03T17:00:00.5\" has no time zone (add Z for UTC, or an offset like +01:00)");
	refuse_time("time: month 13", "2026-13-03T17:00:00Z", NO_SUCH("\"2026-13-03T17:00:00Z\""));
	refuse_time("time: month 00", "2026-00-03T17:00:00Z", NO_SUCH("\"2026-00-03T17:00:00Z\""));
	refuse_time("time: day 00", "2026-12-00T17:00:00Z", NO_SUCH("\"2026-12-00T17:00:00Z\""));
	refuse_time("time: 31 November", "2026-11-31T17:00:00Z",
		    NO_SUCH("\"2026-11-31T17:00:00Z\""));
	refuse_time("time: 29 February 2023", "2023-02-29T00:00:00Z",
		    NO_SUCH("\"2023-02-29T00:00:00Z\""));
	refuse_time("time: 29 February 2100", "2100-02-29T00:00:00Z",
		    NO_SUCH("\"2100-02-29T00:00:00Z\""));
	refuse_time("time: hour 24", "2026-12-03T24:00:00Z", NO_SUCH("\"2026-12-03T24:00:00Z\""));
	refuse_time("time: minute 60", "2026-12-03T17:60:00Z", NO_SUCH("\"2026-12-03T17:60:00Z\""));
	refuse_time("time: second 60", "2026-12-03T17:00:60Z", NO_SUCH("\"2026-12-03T17:00:60Z\""));
	refuse_time("time: offset hour 24", "2026-12-03T17:00:00+24:00",
		    NO_SUCH("\"2026-12-03T17:00:00+24:00\""));
	refuse_time("time: offset minute 60", "2026-12-03T17:00:00+01:60",
		    NO_SUCH("\"2026-12-03T17:00:00+01:60\""));
	refuse_time("time: 1969", "1969-12-31T23:59:59Z", RANGE("\"1969-12-31T23:59:59Z\""));
	refuse_time("time: year 0", "0000-01-01T00:00:00Z", RANGE("\"0000-01-01T00:00:00Z\""));
	refuse_time("time: before the epoch through its offset", "1970-01-01T00:30:00+01:00",
		    RANGE("\"1970-01-01T00:30:00+01:00\""));
	refuse_time("time: one ns past int64", "2262-04-11T23:47:16.854775808Z",
		    RANGE("\"2262-04-11T23:47:16.854775808Z\""));
	refuse_time("time: 2263", "2263-01-01T00:00:00Z", RANGE("\"2263-01-01T00:00:00Z\""));
	refuse_time("time: 9999", "9999-12-31T23:59:59Z", RANGE("\"9999-12-31T23:59:59Z\""));

	refuse_time("time: a date alone", "2026-12-03", NOT_A_TIME("\"2026-12-03\""));
	refuse_time("time: no seconds", "2026-12-03T17:00Z", NOT_A_TIME("\"2026-12-03T17:00Z\""));
	refuse_time("time: one-digit month", "2026-1-03T17:00:00Z",
		    NOT_A_TIME("\"2026-1-03T17:00:00Z\""));
	refuse_time("time: five-digit year", "20260-12-03T17:00:00Z",
		    NOT_A_TIME("\"20260-12-03T17:00:00Z\""));
	refuse_time("time: other separator", "2026-12-03_17:00:00Z",
		    NOT_A_TIME("\"2026-12-03_17:00:00Z\""));
	refuse_time("time: two spaces", "2026-12-03  17:00:00Z",
		    NOT_A_TIME("\"2026-12-03  17:00:00Z\""));
	refuse_time("time: dot without digits", "2026-12-03T17:00:00.Z",
		    NOT_A_TIME("\"2026-12-03T17:00:00.Z\""));
	refuse_time("time: comma fraction", "2026-12-03T17:00:00,5Z",
		    NOT_A_TIME("\"2026-12-03T17:00:00,5Z\""));
	refuse_time("time: offset without a colon", "2026-12-03T17:00:00+0100",
		    NOT_A_TIME("\"2026-12-03T17:00:00+0100\""));
	refuse_time("time: offset of hours only", "2026-12-03T17:00:00+01",
		    NOT_A_TIME("\"2026-12-03T17:00:00+01\""));
	refuse_time("time: zone name", "2026-12-03T17:00:00 UTC",
		    NOT_A_TIME("\"2026-12-03T17:00:00 UTC\""));
	refuse_time("time: trailing garbage after Z", "2026-12-03T17:00:00Zx",
		    NOT_A_TIME("\"2026-12-03T17:00:00Zx\""));
	refuse_time("time: trailing garbage after an offset", "2026-12-03T17:00:00+01:00:00",
		    NOT_A_TIME("\"2026-12-03T17:00:00+01:00:00\""));
	refuse_time("time: trailing space", "2026-12-03T17:00:00Z ",
		    NOT_A_TIME("\"2026-12-03T17:00:00Z \""));
	refuse_time("time: cut short", "2026-12-0", NOT_A_TIME("\"2026-12-0\""));
	refuse_time("time: signed hour", "2026-12-03T+7:00:00Z",
		    NOT_A_TIME("\"2026-12-03T+7:00:00Z\""));
}

static void test_time_unix(void)
{
	accept_time("time: Unix seconds", "1764781200", NOW);
	accept_time("time: Unix seconds with a fraction", "1764781200.25", NOW + NS / 4);
	accept_time("time: Unix seconds, ns", "1764781200.000000001", NOW + 1);
	accept_time("time: Unix seconds beyond ns: truncated", "1764781200.1234567899",
		    NOW + 123456789);
	accept_time("time: Unix seconds with leading zeros", "0001764781200", NOW);
	accept_time("time: Unix 0", "0", 0);
	accept_time("time: Unix 2026", "2026", 2026 * NS);
	accept_time("time: Unix, the last ns an int64 holds", "9223372036.854775807", INT64_MAX);

	refuse_time("time: Unix one ns past int64", "9223372036.854775808",
		    RANGE("\"9223372036.854775808\""));
	refuse_time("time: Unix one s past int64", "9223372037", RANGE("\"9223372037\""));
	refuse_time("time: Unix huge", "99999999999999999999999999999",
		    RANGE("\"99999999999999999999999999999\""));
	refuse_time("time: Unix huge with garbage", "99999999999999999999999999999x",
		    NOT_A_TIME("\"99999999999999999999999999999x\""));
	refuse_time("time: Unix dot without digits", "1764781200.", NOT_A_TIME("\"1764781200.\""));
	refuse_time("time: Unix fraction alone", ".5", NOT_A_TIME("\".5\""));
	refuse_time("time: Unix two dots", "1764781200.2.5", NOT_A_TIME("\"1764781200.2.5\""));
	refuse_time("time: Unix with a unit", "1764781200s", NOT_A_TIME("\"1764781200s\""));
	refuse_time("time: Unix exponent", "1.7e9", NOT_A_TIME("\"1.7e9\""));
	refuse_time("time: Unix plus sign", "+1764781200", NOT_A_TIME("\"+1764781200\""));
	refuse_time("time: Unix leading space", " 1764781200", NOT_A_TIME("\" 1764781200\""));
	refuse_time("time: Unix trailing space", "1764781200 ", NOT_A_TIME("\"1764781200 \""));
	refuse_time("time: hex", "0x10", NOT_A_TIME("\"0x10\""));
	refuse_time("time: word", "abc", NOT_A_TIME("\"abc\""));
	refuse_time("time: yesterday", "yesterday", NOT_A_TIME("\"yesterday\""));
	refuse_time("time: Now (case)", "Now", NOT_A_TIME("\"Now\""));
	refuse_time("time: now with garbage", "now-1h", NOT_A_TIME("\"now-1h\""));
}

static void test_time_relative(void)
{
	int64_t got = -1;
	int ret;

	accept_time("time: now", "now", NOW);
	accept_time("time: -1h", "-1h", NOW - 3600 * NS);
	accept_time("time: -90s", "-90s", NOW - 90 * NS);
	accept_time("time: -1h30m", "-1h30m", NOW - 5400 * NS);
	accept_time("time: -30m1h, any order", "-30m1h", NOW - 5400 * NS);
	accept_time("time: -2d", "-2d", NOW - 2 * 86400 * NS);
	accept_time("time: -5m", "-5m", NOW - 300 * NS);
	accept_time("time: -500ms", "-500ms", NOW - 500000000);
	accept_time("time: -250us", "-250us", NOW - 250000);
	accept_time("time: -1000ns", "-1000ns", NOW - 1000);
	accept_time("time: -1m1ms (m, then ms)", "-1m1ms", NOW - 60 * NS - 1000000);
	accept_time("time: -1d2h3m4s5ms6us7ns, every unit", "-1d2h3m4s5ms6us7ns",
		    NOW - (86400 + 7200 + 180 + 4) * NS - 5006007);
	accept_time("time: -1.5h", "-1.5h", NOW - 5400 * NS);
	accept_time("time: -.5s", "-.5s", NOW - NS / 2);
	accept_time("time: -1.s", "-1.s", NOW - NS);
	accept_time("time: -0.000000001s", "-0.000000001s", NOW - 1);
	accept_time("time: -1.9ns, below a ns: dropped", "-1.9ns", NOW - 1);
	accept_time("time: -0s", "-0s", NOW);
	accept_time("time: -1h1h, summed", "-1h1h", NOW - 7200 * NS);
	accept_time("time: -007m", "-007m", NOW - 420 * NS);

	/* 100 years of 365.25 days, however it is written */
	ret = params__time("start", "-36525d", INT64_MAX, &got, err, sizeof(err));
	CHECK(ret == 0 && got == INT64_MAX - 36525LL * 86400 * NS, "time: -36525d, 100 years",
	      "ret %d (%s)", ret, err);
	ret = params__time("start", "-876600h", INT64_MAX, &got, err, sizeof(err));
	CHECK(ret == 0 && got == INT64_MAX - 36525LL * 86400 * NS, "time: -876600h, 100 years",
	      "ret %d (%s)", ret, err);
	refuse_time("time: -36526d", "-36526d", SPAN("\"-36526d\""));
	refuse_time("time: 100 years and a ns", "-36525d1ns", SPAN("\"-36525d1ns\""));
	refuse_time("time: 100 years in two halves and a ns", "-18262d12h18262d12h1ns",
		    SPAN("\"-18262d12h18262d12h1ns\""));
	refuse_time("time: -36525.000000000001d", "-36525.000000000001d",
		    SPAN("\"-36525.000000000001d\""));
	refuse_time("time: huge hours", "-99999999999999999999999h",
		    SPAN("\"-99999999999999999999999h\""));
	refuse_time("time: int64 max ns", "-9223372036854775807ns",
		    SPAN("\"-9223372036854775807ns\""));
	refuse_time("time: past uint64 ns", "-99999999999999999999ns",
		    SPAN("\"-99999999999999999999ns\""));
	refuse_time("time: huge, then garbage", "-99999999999999999999999hx",
		    NOT_A_TIME("\"-99999999999999999999999hx\""));
	ret = params__time("start", "-1h", 1000 * NS, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, RANGE("\"-1h\"")), "time: before 1970",
	      "ret %d err \"%s\"", ret, err);
	ret = params__time("start", "-50000d", INT64_MIN + 1, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, SPAN("\"-50000d\"")), "time: span checked first",
	      "ret %d err \"%s\"", ret, err);
	ret = params__time("start", "-1h", INT64_MIN + 1, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, RANGE("\"-1h\"")), "time: no overflow below now",
	      "ret %d err \"%s\"", ret, err);
	ret = params__time("start", "now", -1, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, RANGE("\"now\"")), "time: now before 1970",
	      "ret %d err \"%s\"", ret, err);

	refuse_time("time: -1 without a unit", "-1", NOT_A_TIME("\"-1\""));
	refuse_time("time: -1h30, last without a unit", "-1h30", NOT_A_TIME("\"-1h30\""));
	refuse_time("time: -h", "-h", NOT_A_TIME("\"-h\""));
	refuse_time("time: - alone", "-", NOT_A_TIME("\"-\""));
	refuse_time("time: -.h", "-.h", NOT_A_TIME("\"-.h\""));
	refuse_time("time: -1..5h", "-1..5h", NOT_A_TIME("\"-1..5h\""));
	refuse_time("time: -1H (case)", "-1H", NOT_A_TIME("\"-1H\""));
	refuse_time("time: -1w (no weeks)", "-1w", NOT_A_TIME("\"-1w\""));
	refuse_time("time: -1y (no years)", "-1y", NOT_A_TIME("\"-1y\""));
	refuse_time("time: -1 h", "-1 h", NOT_A_TIME("\"-1 h\""));
	refuse_time("time: -1h trailing space", "-1h ", NOT_A_TIME("\"-1h \""));
	refuse_time("time: -1hx", "-1hx", NOT_A_TIME("\"-1hx\""));
	refuse_time("time: -1hour", "-1hour", NOT_A_TIME("\"-1hour\""));
	refuse_time("time: --1h", "--1h", NOT_A_TIME("\"--1h\""));
	refuse_time("time: -1h-30m", "-1h-30m", NOT_A_TIME("\"-1h-30m\""));
	refuse_time("time: +1h (the future)", "+1h", NOT_A_TIME("\"+1h\""));
	refuse_time("time: 1h without a sign", "1h", NOT_A_TIME("\"1h\""));
	refuse_time("time: -1e3s", "-1e3s", NOT_A_TIME("\"-1e3s\""));
	refuse_time("time: -1µs", "-1\xc2\xb5s", NOT_A_TIME("\"-1\\xc2\\xb5s\""));
}

static void test_time_errors(void)
{
	char small[16];
	int64_t got = 7;
	int ret;

	refuse_time("time: empty", "",
		    "start: must be a time" FORMS ", but none was given");
	refuse_time("time: no value", NULL,
		    "start: must be a time" FORMS ", but none was given");
	ret = params__time("--from", "abc", NOW, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, "--from: not a time: \"abc\"" FORMS),
	      "time: key names the option", "err \"%s\"", err);
	ret = params__time("end", "1\n2\x1b[31m", NOW, &got, err, sizeof(err));
	CHECK(ret == -EINVAL && !strcmp(err, "end: not a time: \"1\\x0a2\\x1b[31m\"" FORMS),
	      "time: control characters escaped", "err \"%s\"", err);
	ret = params__time("end", "-99999999999999999999999999999999999999999999999h", NOW, &got,
			   err, sizeof(err));
	CHECK(ret == -EINVAL && strstr(err, "\"...") && strlen(err) < sizeof(err) - 1,
	      "time: long value cut in the reason", "err \"%s\"", err);
	ret = params__time("end", "abc", NOW, &got, small, sizeof(small));
	CHECK(ret == -EINVAL && strlen(small) == sizeof(small) - 1 && got == 7,
	      "time: small err buffer: truncated, terminated", "\"%s\"", small);
	ret = params__time("end", "abc", NOW, &got, NULL, 0);
	CHECK(ret == -EINVAL && got == 7, "time: NULL err buffer", "ret %d", ret);
	ret = params__time("end", "now", NOW, &got, NULL, 0);
	CHECK(ret == 0 && got == NOW, "time: NULL err buffer, accepted", "ret %d", ret);
}

int main(void)
{
	test_seconds();
	test_hz();
	test_pid();
	test_debug_gc();
	test_request();
	test_error_text();
	test_names();
	test_time_rfc3339();
	test_time_unix();
	test_time_relative();
	test_time_errors();
	return CHECK_EXIT();
}
