/* cprof-ctl: the command line of cprofd. Collects profiles into files, live
 * or from the history cprofd keeps, compares two ranges of that history,
 * prints top tables of profile files and the daemon's status. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client.h"
#include "fleet.h"
#include "params.h"
#include "pprof.h"
#include "views.h"

#ifndef CPROF_VERSION
#error "CPROF_VERSION comes from the top-level VERSION file: build with make"
#endif

#define DEFAULT_SOCKET		"/run/cprofd.sock"
#define DEFAULT_TOP_ROWS	20
#define COLLECT_TOP_ROWS	10
/* The request may take this much longer than the window it asks for. */
#define COLLECT_GRACE		60	/* seconds */
/* Requests answered at once: status, and what the history keeps. */
#define STATUS_TIMEOUT		30	/* seconds */
#define MAX_FILE_SIZE		(1L << 30)
/* --since reaches back at most this far: 100 years, as the daemon's
 * relative times (params__time). */
#define MAX_SINCE_DAYS		36525

enum { RC_OK = 0, RC_FAIL = 1, RC_USAGE = 2 };

static const char usage_text[] =
	"usage: cprof-ctl [--socket PATH | --url http://HOST:PORT] COMMAND ...\n"
	"\n"
	"  cprof-ctl collect VIEW DURATION [--pid N]... [-o FILE] [--hz N]\n"
	"      Profile for DURATION (10s, 2m, 1m30s; whole seconds, at most 1h) and write\n"
	"      the pprof file to FILE (default VIEW-YYYYMMDD-HHMMSS.pb.gz), then print its\n"
	"      top %d. VIEW: %s\n"
	"      (this version serves: %s). --pid (repeatable) limits it to those\n"
	"      processes; --hz sets the cpu sampling rate.\n"
	"  cprof-ctl collect VIEW --since DURATION [--pid N]... [-o FILE]\n"
	"  cprof-ctl collect VIEW --from T [--to T] [--pid N]... [-o FILE]\n"
	"      The same from the history cprofd keeps (cprofd --continuous): its windows\n"
	"      of the last DURATION (30m, 1h30m, 2d; units d, h, m, s), or from T to T\n"
	"      (default: now), merged into one profile. T: 2026-12-03T17:00:00Z, Unix\n"
	"      seconds, or relative: -1h, -30m, -2d, now.\n"
	"  cprof-ctl diff VIEW FROM..TO FROM..TO [--pid N]... [-o PREFIX]\n"
	"      Two ranges of the history, as in diff cpu -2h..-1h -1h..now, into\n"
	"      PREFIX-before.pb.gz and PREFIX-after.pb.gz (default\n"
	"      VIEW-diff-YYYYMMDD-HHMMSS); prints the go tool pprof -diff_base command\n"
	"      that compares them and the top %d of each.\n"
	"  cprof-ctl fleet --clickhouse URL collect VIEW --since DURATION | --from T [--to T]\n"
	"          [--host H,...] [--comm NAME] [--container ID] [--per-host] [-o FILE]\n"
	"      One profile of every host's windows that cprofd --export sent to ClickHouse\n"
	"      (URL: its HTTP interface, http[s]://[USER:PASSWORD@]HOST:8123/[?database=DB]),\n"
	"      added up by ClickHouse; samples labelled comm, and with --per-host each\n"
	"      host's apart, labelled host.\n"
	"  cprof-ctl fleet --clickhouse URL diff VIEW FROM..TO FROM..TO [filters] [-o PREFIX]\n"
	"      Two ranges of the fleet, as diff does with the history.\n"
	"  cprof-ctl fleet --clickhouse URL top VIEW --since DURATION | --from T [--to T]\n"
	"          [--host H,...] [--comm NAME] [--container ID] [--by host|process] [-n N]\n"
	"      The hosts (or hosts and processes) by the view's default sample type.\n"
	"  cprof-ctl history\n"
	"      Show what the history keeps: each view's time span, windows and size.\n"
	"  cprof-ctl top FILE [-n N] [--sample-index TYPE]\n"
	"      Print the top N functions (default %d, 0: all) of a pprof file, by the\n"
	"      sample type TYPE (name or index; default: the profile's default).\n"
	"  cprof-ctl status\n"
	"      Show which views cprofd runs and its counters, drops included.\n"
	"\n"
	"  --socket PATH   cprofd's Unix socket (default " DEFAULT_SOCKET ")\n"
	"  --url URL       reach cprofd over TCP instead, e.g. http://127.0.0.1:6070\n"
	"                  or https://HOST:PORT\n"
	"  --token-file FILE  send the bearer token in FILE (its first line): what a\n"
	"                  cprofd beyond loopback asks for\n"
	"  --cacert FILE   trust the CA in FILE for an https --url\n"
	"  -h, --help      this help;  --version  the version\n"
	"\n"
	"Exit status: 0 ok, 1 failure, 2 bad arguments.\n";

#define COMMANDS "collect diff history top status fleet"

enum command { CMD_NONE, CMD_COLLECT, CMD_TOP, CMD_STATUS, CMD_HISTORY, CMD_DIFF, CMD_FLEET };

/* Options, as a bit each, so each command can refuse those not its own. */
enum {
	OPT_SOCKET = 1 << 0,
	OPT_URL = 1 << 1,
	OPT_PID = 1 << 2,
	OPT_OUTPUT = 1 << 3,
	OPT_HZ = 1 << 4,
	OPT_ROWS = 1 << 5,
	OPT_SAMPLE_INDEX = 1 << 6,
	OPT_HELP = 1 << 7,
	OPT_VERSION = 1 << 8,
	OPT_TOKEN = 1 << 9,
	OPT_CACERT = 1 << 10,
	OPT_SINCE = 1 << 11,
	OPT_FROM = 1 << 12,
	OPT_TO = 1 << 13,
	OPT_CLICKHOUSE = 1 << 14,
	OPT_HOST = 1 << 15,
	OPT_COMM = 1 << 16,
	OPT_CONTAINER = 1 << 17,
	OPT_BY = 1 << 18,
	OPT_PER_HOST = 1 << 19,
};

/* The options that read the history instead of profiling from now on. */
#define OPT_HISTORY	(OPT_SINCE | OPT_FROM | OPT_TO)

/* A range of the history, FROM..TO, split in place of the argument. */
struct range {
	const char *arg;		/* as given, for messages */
	const char *from;		/* from_len bytes of arg */
	size_t from_len;
	const char *to;			/* NUL-terminated: the rest of arg */
};

struct args {
	enum command cmd;
	unsigned int opts;		/* OPT_* given */
	struct http_target target;
	/* collect */
	const struct view_def *view;	/* from the view table (daemon/views/views.c) */
	int seconds;
	int pids[PARAMS_MAX_PIDS];
	int nr_pids;
	int hz;
	const char *output;		/* collect: FILE; diff: PREFIX */
	/* collect from the history: --since's start, or --from and --to */
	char since[32];			/* "-1h30m" */
	const char *from, *to;
	/* diff */
	struct range ranges[2];
	/* fleet */
	bool fleet_top;			/* top, not collect */
	bool fleet_diff;		/* diff (its ranges in ranges[]) */
	const char *clickhouse;
	const char *host_list[FLEET_MAX_HOSTS];	/* --host H,... */
	size_t nr_host_list;
	const char *comm, *container;
	bool by_process;
	/* top */
	const char *file;
	int rows;
	const char *sample_index;
};

static void print_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr, "cprof-ctl: " first. */
static void print_err(const char *fmt, ...)
{
	va_list ap;

	fputs("cprof-ctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* strerror() as it reads after a colon: "no such file or directory". */
static const char *errstr(int err)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s", strerror(err));
	if (buf[0] && buf[1] && !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* ---- arguments ---------------------------------------------------------- */

/* A whole number from min to max, digits only. */
static int parse_number(const char *s, long min, long max, int *out)
{
	long n = 0;
	const char *p;

	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		n = n * 10 + (*p - '0');
		if (n > max)
			return -ERANGE;
	}
	if (p == s || n < min)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

/* 10, 10s, 2m, 1m30s, 1h: hours, minutes and seconds, each at most once and
 * in that order; whole seconds from 1 to PARAMS_MAX_SECONDS. */
static int parse_duration(const char *s, int *seconds)
{
	static const struct { char unit; long mult; } units[] = {
		{ 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	const char *p = s;
	size_t next = 0, i;
	long total = 0, n;

	if (!*p)
		return -EINVAL;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > PARAMS_MAX_SECONDS)
				return -ERANGE;
		}
		if (!*p && p != s && next == 0) {	/* bare number: seconds */
			total = n;
			break;
		}
		for (i = next; i < sizeof(units) / sizeof(units[0]); i++) {
			if (*p == units[i].unit)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;			/* "ms", "1.5m", "2x", "1s1m" */
		total += n * units[i].mult;
		if (total > PARAMS_MAX_SECONDS)
			return -ERANGE;
		next = i + 1;
		p++;
	}
	if (total < 1)
		return -EINVAL;
	*seconds = (int)total;
	return 0;
}

/* --since: 90s, 30m, 1h30m, 2d (a leading '-' is allowed): days, hours,
 * minutes and seconds, each at most once and in that order, a unit after
 * every number; from 1s to MAX_SINCE_DAYS. Written into out as the start=
 * the daemon takes: "-1h30m". */
static int parse_since(const char *s, char *out, size_t size)
{
	static const struct { char unit; long mult; } units[] = {
		{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
	};
	const long max = MAX_SINCE_DAYS * 86400L;
	const char *p;
	size_t next = 0, i;
	long total = 0, n;

	if (*s == '-')
		s++;
	if (!*s || strlen(s) + 2 > size)
		return -EINVAL;
	for (p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n * 10 + (*p - '0');
			if (n > max)
				return -ERANGE;
		}
		for (i = next; i < sizeof(units) / sizeof(units[0]); i++) {
			if (*p == units[i].unit)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;			/* "90", "1.5h", "1m1h", "2w" */
		total += n * units[i].mult;
		if (total > max)
			return -ERANGE;
		next = i + 1;
	}
	if (total < 1)
		return -EINVAL;
	snprintf(out, size, "-%s", s);
	return 0;
}

/* FROM..TO, both sides given; the times themselves are the daemon's to check. */
static int parse_range(const char *arg, struct range *r)
{
	const char *dots = strstr(arg, "..");

	if (!dots || dots == arg || !dots[2] || strstr(dots + 2, ".."))
		return -EINVAL;
	r->arg = arg;
	r->from = arg;
	r->from_len = (size_t)(dots - arg);
	r->to = dots + 2;
	return 0;
}

static void bad_range(const char *arg)
{
	print_err("bad range \"%s\": must be FROM..TO with a time on each side, like -2h..-1h or 2026-12-03T17:00:00Z..now",
		  arg);
}

/* A diff RANGE that begins with a relative time ("-2h..-1h") is an argument,
 * not a cluster of short options: none is a digit. */
static bool is_negative_range(const char *arg)
{
	return arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9' && strstr(arg, "..");
}

static int add_pid(struct args *a, const char *arg)
{
	int pid, i;

	/* The daemon's limit on pid numbers (the kernel's PID_MAX_LIMIT). */
	if (parse_number(arg, 1, 4194304, &pid)) {
		print_err("--pid must be a process id (a whole number from 1 to 4194304), not \"%s\"",
			  arg);
		return -EINVAL;
	}
	for (i = 0; i < a->nr_pids; i++) {
		if (a->pids[i] == pid)
			return 0;
	}
	if (a->nr_pids == PARAMS_MAX_PIDS) {
		print_err("at most %d different --pid may be given", PARAMS_MAX_PIDS);
		return -EINVAL;
	}
	a->pids[a->nr_pids++] = pid;
	return 0;
}

static int set_url(struct args *a, const char *arg)
{
	static char url[1024];
	size_t len = strlen(arg);

	if ((strncmp(arg, "http://", 7) && strncmp(arg, "https://", 8)) ||
	    len >= sizeof(url) || !strcmp(arg, "http://") || !strcmp(arg, "https://")) {
		print_err("--url must look like http://HOST:PORT, not \"%s\"", arg);
		return -EINVAL;
	}
	memcpy(url, arg, len + 1);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	a->target.url = url;
	return 0;
}

/* VIEW, from the view table, or -EINVAL after naming the views. */
static int set_view(struct args *a, const char *name)
{
	char names[128];

	a->view = views__find(name);
	if (a->view)
		return 0;
	views__names(names, sizeof(names), false);
	print_err("unknown view \"%s\"; views: %s", name, names);
	return -EINVAL;
}

/* The positional arguments of the command, checked and stored. */
static int set_positionals(struct args *a, char **pos, int nr_pos)
{
	const char *cmd = pos[0];
	int want, ret;

	if (!strcmp(cmd, "collect")) {
		a->cmd = CMD_COLLECT;
		if (nr_pos < 2 || (nr_pos < 3 && !(a->opts & OPT_HISTORY))) {
			print_err("collect needs a VIEW and a DURATION (or --since or --from), e.g. cprof-ctl collect cpu 10s");
			return -EINVAL;
		}
		if (set_view(a, pos[1]))
			return -EINVAL;
		want = 2;
		if (nr_pos > 2 && (a->opts & OPT_HISTORY)) {
			const char *opt = a->opts & OPT_SINCE ? "--since" :
					  a->opts & OPT_FROM ? "--from" : "--to";

			print_err("collect takes a DURATION (profile from now on) or %s (read the history), not both: drop \"%s\" or %s",
				  opt, pos[2], opt);
			return -EINVAL;
		}
		if (!(a->opts & OPT_HISTORY)) {
			ret = parse_duration(pos[2], &a->seconds);
			if (ret) {
				print_err("bad duration \"%s\": must be whole seconds from 1s to %ds, like 10s, 2m or 1m30s",
					  pos[2], PARAMS_MAX_SECONDS);
				return ret;
			}
			want = 3;
		}
	} else if (!strcmp(cmd, "diff")) {
		a->cmd = CMD_DIFF;
		if (nr_pos < 4) {
			print_err("diff needs a VIEW and two ranges FROM..TO, e.g. cprof-ctl diff cpu -2h..-1h -1h..now");
			return -EINVAL;
		}
		if (set_view(a, pos[1]))
			return -EINVAL;
		for (int i = 0; i < 2; i++) {
			if (parse_range(pos[2 + i], &a->ranges[i])) {
				bad_range(pos[2 + i]);
				return -EINVAL;
			}
		}
		want = 4;
	} else if (!strcmp(cmd, "fleet")) {
		a->cmd = CMD_FLEET;
		if (nr_pos < 3 || (strcmp(pos[1], "collect") && strcmp(pos[1], "top") &&
				   strcmp(pos[1], "diff"))) {
			print_err("fleet needs collect, top or diff and a VIEW, e.g. cprof-ctl fleet --clickhouse http://HOST:8123/ collect cpu --since 1h");
			return -EINVAL;
		}
		a->fleet_top = !strcmp(pos[1], "top");
		a->fleet_diff = !strcmp(pos[1], "diff");
		if (set_view(a, pos[2]))
			return -EINVAL;
		if (!a->clickhouse) {
			print_err("fleet needs --clickhouse URL: ClickHouse's HTTP interface, as http://HOST:8123/");
			return -EINVAL;
		}
		want = 3;
		if (a->fleet_diff) {
			if (nr_pos < 5) {
				print_err("fleet diff needs a VIEW and two ranges FROM..TO, e.g. cprof-ctl fleet --clickhouse URL diff cpu -2h..-1h -1h..now");
				return -EINVAL;
			}
			for (int i = 0; i < 2; i++) {
				if (parse_range(pos[3 + i], &a->ranges[i])) {
					bad_range(pos[3 + i]);
					return -EINVAL;
				}
			}
			want = 5;
		} else if (!(a->opts & (OPT_SINCE | OPT_FROM))) {
			print_err("fleet needs a range: --since DURATION, or --from T [--to T]");
			return -EINVAL;
		}
	} else if (!strcmp(cmd, "history")) {
		a->cmd = CMD_HISTORY;
		want = 1;
	} else if (!strcmp(cmd, "top")) {
		a->cmd = CMD_TOP;
		if (nr_pos < 2) {
			print_err("top needs a FILE, e.g. cprof-ctl top cpu.pb.gz");
			return -EINVAL;
		}
		a->file = pos[1];
		want = 2;
	} else if (!strcmp(cmd, "status")) {
		a->cmd = CMD_STATUS;
		want = 1;
	} else {
		print_err("unknown command \"%s\"; commands: " COMMANDS, cmd);
		return -EINVAL;
	}
	if (nr_pos > want) {
		print_err("%s: unexpected argument \"%s\"", cmd, pos[want]);
		return -EINVAL;
	}
	return 0;
}

/* Refuse the options the command does not take. */
static int check_options(const struct args *a, const char *cmd)
{
	static const struct { unsigned int opt; const char *name; } names[] = {
		{ OPT_PID, "--pid" }, { OPT_OUTPUT, "-o" }, { OPT_HZ, "--hz" },
		{ OPT_ROWS, "-n" }, { OPT_SAMPLE_INDEX, "--sample-index" },
		{ OPT_SINCE, "--since" }, { OPT_FROM, "--from" }, { OPT_TO, "--to" },
		{ OPT_CLICKHOUSE, "--clickhouse" }, { OPT_HOST, "--host" }, { OPT_COMM, "--comm" },
		{ OPT_CONTAINER, "--container" }, { OPT_BY, "--by" }, { OPT_PER_HOST, "--per-host" },
	};
	unsigned int allowed;
	size_t i;

	switch (a->cmd) {
	case CMD_COLLECT:
		allowed = OPT_PID | OPT_OUTPUT | OPT_HZ | OPT_HISTORY;
		break;
	case CMD_DIFF:
		allowed = OPT_PID | OPT_OUTPUT;
		break;
	case CMD_TOP:
		allowed = OPT_ROWS | OPT_SAMPLE_INDEX;
		break;
	case CMD_FLEET:
		allowed = OPT_CLICKHOUSE | OPT_HOST | OPT_COMM | OPT_CONTAINER |
			  (a->fleet_diff ? OPT_OUTPUT | OPT_PER_HOST :
			   a->fleet_top ? OPT_ROWS | OPT_BY | OPT_HISTORY :
			   OPT_OUTPUT | OPT_HISTORY | OPT_PER_HOST);
		break;
	default:
		allowed = 0;
		break;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((a->opts & names[i].opt) && !(allowed & names[i].opt)) {
			print_err("%s does not take %s", cmd, names[i].name);
			return -EINVAL;
		}
	}
	if ((a->opts & OPT_SINCE) && (a->opts & (OPT_FROM | OPT_TO))) {
		print_err("--since and %s exclude each other: give --since DURATION, or --from T [--to T]",
			  a->opts & OPT_FROM ? "--from" : "--to");
		return -EINVAL;
	}
	if ((a->opts & OPT_TO) && !(a->opts & OPT_FROM)) {
		print_err("--to needs --from: a range of the history, as in --from -2h --to -1h");
		return -EINVAL;
	}
	if ((a->opts & OPT_HZ) && (a->opts & OPT_HISTORY)) {
		print_err("--hz does not apply to the history: its windows were sampled at the daemon's rate");
		return -EINVAL;
	}
	if ((a->opts & OPT_HZ) && a->view && !(a->view->sources & SOURCE_CPU)) {
		print_err("--hz sets the rate of CPU samples (the cpu and wall views), not %s",
			  a->view->name);
		return -EINVAL;
	}
	return 0;
}

/* The first line of FILE that is not blank or a comment: the bearer token. */
static int read_token(struct args *a, const char *path)
{
	static char token[520];
	char line[520];
	FILE *f = fopen(path, "re");

	if (!f) {
		print_err("--token-file %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	token[0] = '\0';
	while (!token[0] && fgets(line, sizeof(line), f)) {
		char *t = line + strspn(line, " \t");

		t[strcspn(t, " \t\r\n")] = '\0';
		if (*t && *t != '#')
			snprintf(token, sizeof(token), "%s", t);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (!token[0]) {
		print_err("--token-file %s holds no token", path);
		return -EINVAL;
	}
	a->target.token = token;
	return 0;
}

/* Parse argv into a. 0, or -EINVAL after saying what is wrong. Sets OPT_HELP
 * or OPT_VERSION in a->opts when those are asked, and stops there. */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option long_opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "url", required_argument, NULL, 'U' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "cacert", required_argument, NULL, 'C' },
		{ "pid", required_argument, NULL, 'p' },
		{ "output", required_argument, NULL, 'o' },
		{ "hz", required_argument, NULL, 'z' },
		{ "sample-index", required_argument, NULL, 'i' },
		{ "sample_index", required_argument, NULL, 'i' },	/* as go tool pprof */
		{ "since", required_argument, NULL, 's' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "clickhouse", required_argument, NULL, 'K' },
		{ "host", required_argument, NULL, 'H' },
		{ "comm", required_argument, NULL, 'c' },
		{ "container", required_argument, NULL, 'k' },
		{ "by", required_argument, NULL, 'b' },
		{ "per-host", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char **pos, **args;
	int nr_pos = 0, c, e, i, at, ret = -EINVAL;

	memset(a, 0, sizeof(*a));
	a->rows = DEFAULT_TOP_ROWS;
	pos = calloc((size_t)argc + 1, sizeof(*pos));
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!pos || !args) {
		free(pos);
		free(args);
		print_err("out of memory");
		return -ENOMEM;
	}
	/* getopt sees "-2h..-1h" as "2h..-1h", an argument, and every value it
	 * hands back is mapped back to argv's. In order ("-"): no permutation. */
	for (i = 0; i < argc; i++)
		args[i] = i && is_negative_range(argv[i]) ? argv[i] + 1 : argv[i];

	opterr = 0;
	/* "-": options anywhere, positionals handed back in order as 1. */
	while ((at = optind, c = getopt_long(argc, args, "-:ho:n:", long_opts, NULL)) != -1) {
		for (i = 1; optarg && i < argc; i++) {
			if (optarg == args[i]) {
				optarg = argv[i];
				break;
			}
		}
		switch (c) {
		case 1:
			pos[nr_pos++] = optarg;
			break;
		case 'S':
			a->opts |= OPT_SOCKET;
			a->target.socket_path = optarg;
			break;
		case 'U':
			a->opts |= OPT_URL;
			if (set_url(a, optarg))
				goto cleanup;
			break;
		case 'T':
			a->opts |= OPT_TOKEN;
			if (read_token(a, optarg))
				goto cleanup;
			break;
		case 'C':
			a->opts |= OPT_CACERT;
			a->target.cacert = optarg;
			break;
		case 'K':
			a->opts |= OPT_CLICKHOUSE;
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
				print_err("--clickhouse %s: give ClickHouse's HTTP interface, as http://HOST:8123/", optarg);
				goto cleanup;
			}
			a->clickhouse = optarg;
			break;
		case 'H': {
			char *save = NULL;

			a->opts |= OPT_HOST;
			for (char *h = strtok_r(optarg, ",", &save); h; h = strtok_r(NULL, ",", &save)) {
				if (a->nr_host_list == FLEET_MAX_HOSTS) {
					print_err("--host: at most %d hosts", FLEET_MAX_HOSTS);
					goto cleanup;
				}
				a->host_list[a->nr_host_list++] = h;
			}
			if (!a->nr_host_list) {
				print_err("--host needs host names, comma-separated");
				goto cleanup;
			}
			break;
		}
		case 'c':
		case 'k':
			a->opts |= c == 'c' ? OPT_COMM : OPT_CONTAINER;
			if (!*optarg) {
				print_err("%s needs a value", c == 'c' ? "--comm" : "--container");
				goto cleanup;
			}
			*(c == 'c' ? &a->comm : &a->container) = optarg;
			break;
		case 'P':
			a->opts |= OPT_PER_HOST;
			break;
		case 'b':
			a->opts |= OPT_BY;
			if (strcmp(optarg, "host") && strcmp(optarg, "process")) {
				print_err("--by %s: expected host or process", optarg);
				goto cleanup;
			}
			a->by_process = !strcmp(optarg, "process");
			break;
		case 'p':
			a->opts |= OPT_PID;
			if (add_pid(a, optarg))
				goto cleanup;
			break;
		case 'o':
			a->opts |= OPT_OUTPUT;
			if (!*optarg) {
				print_err("-o needs a file name");
				goto cleanup;
			}
			a->output = optarg;
			break;
		case 'z':
			a->opts |= OPT_HZ;
			if (parse_number(optarg, 1, PARAMS_MAX_HZ, &a->hz)) {
				print_err("--hz must be a whole number from 1 to %d, not \"%s\"",
					  PARAMS_MAX_HZ, optarg);
				goto cleanup;
			}
			break;
		case 'n':
			a->opts |= OPT_ROWS;
			if (parse_number(optarg, 0, 1000000, &a->rows)) {
				print_err("-n must be a whole number (0: all rows), not \"%s\"", optarg);
				goto cleanup;
			}
			break;
		case 'i':
			a->opts |= OPT_SAMPLE_INDEX;
			a->sample_index = optarg;
			break;
		case 's':
			a->opts |= OPT_SINCE;
			e = parse_since(optarg, a->since, sizeof(a->since));
			if (e == -ERANGE) {
				print_err("bad --since \"%s\": reaches back more than %dd (100 years)",
					  optarg, MAX_SINCE_DAYS);
				goto cleanup;
			} else if (e) {
				print_err("bad --since \"%s\": must be a time back from now like 90s, 30m, 1h30m or 2d (units d, h, m, s, in that order)",
					  optarg);
				goto cleanup;
			}
			break;
		case 'f':
		case 't':
			a->opts |= c == 'f' ? OPT_FROM : OPT_TO;
			if (!*optarg) {
				print_err("%s needs a time, like -1h, now, 1764781200 or 2026-12-03T17:00:00Z",
					  c == 'f' ? "--from" : "--to");
				goto cleanup;
			}
			if (c == 'f')
				a->from = optarg;
			else
				a->to = optarg;
			break;
		case 'h':
			a->opts |= OPT_HELP;
			ret = 0;
			goto cleanup;
		case 'V':
			a->opts |= OPT_VERSION;
			ret = 0;
			goto cleanup;
		case ':':
			print_err("option %s needs a value", argv[optind - 1]);
			goto cleanup;
		default:
			/* "-2h" or "-2h-1h" where diff wants a RANGE: no option is a
			 * digit, and an element's first one is where getopt stops */
			if (optopt >= '0' && optopt <= '9' && nr_pos &&
			    (!strcmp(pos[0], "diff") || (nr_pos > 1 && !strcmp(pos[1], "diff"))) &&
			    at < argc && argv[at][0] == '-' && argv[at][1] == optopt)
				bad_range(argv[at]);
			else if (optopt)
				print_err("unknown option -%c", optopt);
			else
				print_err("unknown option %s", argv[optind - 1]);
			goto cleanup;
		}
	}
	while (optind < argc)			/* after "--" */
		pos[nr_pos++] = argv[optind++];

	if ((a->opts & OPT_SOCKET) && (a->opts & OPT_URL)) {
		print_err("--socket and --url exclude each other: give one");
		goto cleanup;
	}
	if (!a->target.url && !a->target.socket_path)
		a->target.socket_path = DEFAULT_SOCKET;
	if (!nr_pos) {
		print_err("no command given; commands: " COMMANDS " (see cprof-ctl --help)");
		goto cleanup;
	}
	if (set_positionals(a, pos, nr_pos))
		goto cleanup;
	ret = check_options(a, pos[0]);
cleanup:
	free(args);
	free(pos);
	return ret;
}

/* ---- collect ------------------------------------------------------------ */

struct progress {
	const char *view;
	int seconds;
	int shown_len;			/* of the line on screen, 0: none */
	char last[128];
};

static void progress_draw(void *ctx, double elapsed, uint64_t received)
{
	struct progress *pr = ctx;
	char line[128];
	int secs = (int)elapsed, len;

	if (received)
		len = snprintf(line, sizeof(line), "collecting %s profile: %ds / %ds, received %llu KiB",
			       pr->view, pr->seconds, pr->seconds,
			       (unsigned long long)(received + 1023) / 1024);
	else if (secs < pr->seconds)
		len = snprintf(line, sizeof(line), "collecting %s profile: %ds / %ds",
			       pr->view, secs, pr->seconds);
	else
		len = snprintf(line, sizeof(line), "collecting %s profile: %ds / %ds, waiting for cprofd",
			       pr->view, pr->seconds, pr->seconds);
	if (!strcmp(line, pr->last))
		return;
	/* Pad with spaces over whatever longer line was there before. */
	fprintf(stderr, "\r%s%*s", line, pr->shown_len > len ? pr->shown_len - len : 0, "");
	fflush(stderr);
	memcpy(pr->last, line, sizeof(line));
	if (len > pr->shown_len)
		pr->shown_len = len;
}

static void progress_clear(struct progress *pr)
{
	if (!pr->shown_len)
		return;
	fprintf(stderr, "\r%*s\r", pr->shown_len, "");
	fflush(stderr);
	pr->shown_len = 0;
}

/* /debug/pprof/VIEW?seconds=N[&hz=N][&pid=N]... */
static char *collect_path(const struct args *a)
{
	struct buf b = { 0 };
	char part[64];
	int i, ret;

	snprintf(part, sizeof(part), "/debug/pprof/%s?seconds=%d", a->view->path, a->seconds);
	ret = buf__append(&b, part, strlen(part));
	if (!ret && a->hz) {
		snprintf(part, sizeof(part), "&hz=%d", a->hz);
		ret = buf__append(&b, part, strlen(part));
	}
	for (i = 0; !ret && i < a->nr_pids; i++) {
		snprintf(part, sizeof(part), "&pid=%d", a->pids[i]);
		ret = buf__append(&b, part, strlen(part));
	}
	if (ret) {
		buf__free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return b.data;
}

/* "&key=" and len bytes of value, percent-encoded but for the characters
 * RFC 3986 leaves as they are and ':' ("+01:00" must not read " 01:00"). */
static int append_param(struct buf *b, const char *key, const char *value, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[3] = { '%' };
	int ret;

	ret = buf__append(b, "&", 1);
	if (!ret)
		ret = buf__append(b, key, strlen(key));
	if (!ret)
		ret = buf__append(b, "=", 1);
	for (size_t i = 0; !ret && i < len; i++) {
		unsigned char c = (unsigned char)value[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == ':') {
			ret = buf__append(b, &value[i], 1);
			continue;
		}
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		ret = buf__append(b, enc, 3);
	}
	return ret;
}

/* /debug/pprof/VIEW?start=FROM[&end=TO][&pid=N]...: the windows the history
 * keeps over [FROM, TO) merged; FROM is from_len bytes of from, TO NULL for
 * now. NULL and errno on failure. */
static char *history_path(const struct args *a, const char *from, size_t from_len, const char *to)
{
	struct buf b = { 0 };
	char part[64];
	int i, ret;

	/* "?start=" is "&start=" with its first byte replaced */
	snprintf(part, sizeof(part), "/debug/pprof/%s", a->view->path);
	ret = buf__append(&b, part, strlen(part));
	if (!ret)
		ret = append_param(&b, "start", from, from_len);
	if (!ret)
		b.data[strlen(part)] = '?';
	if (!ret && to)
		ret = append_param(&b, "end", to, strlen(to));
	for (i = 0; !ret && i < a->nr_pids; i++) {
		snprintf(part, sizeof(part), "&pid=%d", a->pids[i]);
		ret = buf__append(&b, part, strlen(part));
	}
	if (ret) {
		buf__free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return b.data;
}

/* NAME-YYYYMMDD-HHMMSS in local time, or with -2, -3... while a file named
 * that and one of the suffixes is there. 0 or -EEXIST. */
static int default_prefix(const char *name, time_t when, const char *const *suffixes,
			  size_t nr_suffixes, char *out, size_t size)
{
	char stamp[32], file[512];
	struct tm tm;
	struct stat st;
	size_t j;
	int i;

	localtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(out, size, "%s-%s", name, stamp);
		else
			snprintf(out, size, "%s-%s-%d", name, stamp, i);
		for (j = 0; j < nr_suffixes; j++) {
			snprintf(file, sizeof(file), "%s%s", out, suffixes[j]);
			if (!lstat(file, &st) || errno != ENOENT)
				break;
		}
		if (j == nr_suffixes)
			return 0;
	}
	return -EEXIST;
}

/* VIEW-YYYYMMDD-HHMMSS.pb.gz in local time, or with -2, -3... if taken. */
static int default_output(const char *view, time_t when, char *out, size_t size)
{
	static const char *const suffix[] = { ".pb.gz" };
	size_t len;

	if (default_prefix(view, when, suffix, 1, out, size))
		return -EEXIST;
	len = strlen(out);
	snprintf(out + len, size - len, "%s", suffix[0]);
	return 0;
}

/* Before spending DURATION: can FILE be written where it is to go? */
static int check_writable(const char *file)
{
	char *copy = strdup(file);
	struct stat st;
	const char *dir;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	if (!stat(file, &st) && S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		goto cleanup;
	}
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK))
		ret = -errno;
cleanup:
	free(copy);
	return ret;
}

static int write_all(int fd, const char *data, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write data to file through a temporary file in the same directory and a
 * rename, so that file is either whole or untouched. 0 or -errno. */
static int write_file_atomic(const char *file, const char *data, size_t len)
{
	char *dir = NULL, *base = NULL, *tmp = NULL;
	mode_t mask;
	int fd = -1, ret;

	dir = strdup(file);		/* dirname() and basename() write */
	base = strdup(file);
	if (!dir || !base ||
	    asprintf(&tmp, "%s/.%s.XXXXXX", dirname(dir), basename(base)) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		goto cleanup;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		tmp = NULL;
		goto cleanup;
	}
	mask = umask(0);
	umask(mask);
	ret = write_all(fd, data, len);
	if (!ret && fchmod(fd, 0666 & ~mask))
		ret = -errno;
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	fd = -1;
	if (!ret && rename(tmp, file))
		ret = -errno;
cleanup:
	if (fd >= 0)
		close(fd);
	if (ret && tmp)
		unlink(tmp);
	free(tmp);
	free(base);
	free(dir);
	return ret;
}

/* "wrote FILE (N bytes, M samples)": M counts samples, not the sample
 * records (one per distinct stack) the file holds, when the profile has a
 * samples/count or events/count value to count them by; else stacks (a
 * heap profile's counts are estimates, not samples). */
static void print_written(const char *file, size_t bytes, const Perftools__Profiles__Profile *p)
{
	int idx = pprof__sample_index(p, "samples");
	int64_t n = 0;

	if (idx < 0)
		idx = pprof__sample_index(p, "events");	/* offcpu; heap's counts are estimates */
	if (idx < 0) {
		printf("wrote %s (%zu bytes, %zu stacks)\n", file, bytes, p->n_sample);
		return;
	}
	for (size_t i = 0; i < p->n_sample; i++)
		if ((size_t)idx < p->sample[i]->n_value)
			n += p->sample[i]->value[idx];
	printf("wrote %s (%zu bytes, %lld samples)\n", file, bytes, (long long)n);
}

/* Decode what cprofd sent; NULL after saying why. */
static Perftools__Profiles__Profile *decode_profile(const struct buf *body)
{
	Perftools__Profiles__Profile *prof = pprof__read((const uint8_t *)body->data, body->len);

	if (!prof) {
		if (errno == EINVAL)
			print_err("cprofd sent %zu bytes that are not a pprof profile; nothing written",
				  body->len);
		else
			print_err("cannot decode the profile from cprofd: %s", errstr(errno));
	}
	return prof;
}

/* The profile's comments, a "note" line each on stderr: what the history
 * says of the range (its X-Cprof-Note, as a comment of the profile too), as
 * "the cpu history starts at ...: the range asked begins 1800 s before it". */
static void print_notes(const Perftools__Profiles__Profile *p, const char *which)
{
	char note[512];
	size_t i, n;

	fflush(stdout);
	for (i = 0; i < p->n_comment; i++) {
		int64_t s = p->comment[i];
		const char *c;

		if (s <= 0 || (size_t)s >= p->n_string_table || !*p->string_table[s])
			continue;
		c = p->string_table[s];
		for (n = 0; c[n] && n + 1 < sizeof(note); n++)
			note[n] = iscntrl((unsigned char)c[n]) ? '?' : c[n];
		note[n] = '\0';
		if (which)
			print_err("note on %s: %s", which, note);
		else
			print_err("note: %s", note);
	}
}

/* Where collect writes: -o FILE, or VIEW-YYYYMMDD-HHMMSS.pb.gz here, into
 * name; checked writable. NULL after saying what is wrong. */
static const char *output_file(const struct args *a, char *name, size_t size)
{
	const char *file = a->output;
	int ret;

	if (!file) {
		if (default_output(a->view->name, time(NULL), name, size)) {
			print_err("cannot find a free file name for %s-*.pb.gz here; use -o FILE",
				  a->view->name);
			return NULL;
		}
		file = name;
	}
	ret = check_writable(file);
	if (ret) {
		print_err("cannot write %s: %s", file, errstr(-ret));
		return NULL;
	}
	return file;
}

/* The profile in body into file, then what it says (notes: its comments)
 * and its top table. RC_OK or RC_FAIL after saying why. */
static int save_profile(const char *file, const struct buf *body, bool notes)
{
	Perftools__Profiles__Profile *prof = decode_profile(body);
	int ret, rc = RC_FAIL;

	if (!prof)
		return RC_FAIL;
	ret = write_file_atomic(file, body->data, body->len);
	if (ret) {
		print_err("cannot write %s: %s", file, errstr(-ret));
		goto out;
	}
	print_written(file, body->len, prof);
	if (notes)
		print_notes(prof, NULL);
	fflush(stdout);
	ret = pprof__top(prof, NULL, COLLECT_TOP_ROWS, stdout);
	if (ret) {
		print_err("%s: cannot print its top table: %s", file, errstr(-ret));
		goto out;
	}
	rc = RC_OK;
out:
	pprof__free(prof);
	return rc;
}

/* collect VIEW DURATION: a profile from now on, for DURATION; collect VIEW
 * --since/--from: the history's windows, merged by the daemon at once. */
static int cmd_collect(const struct args *a)
{
	bool history = a->opts & OPT_HISTORY;
	struct progress pr = { .view = a->view->name, .seconds = a->seconds };
	struct http_get_opts opts = {
		.timeout = history ? STATUS_TIMEOUT : a->seconds + COLLECT_GRACE,
	};
	char err[1024], name[256];
	const char *file = output_file(a, name, sizeof(name));
	struct buf body = { 0 };
	char *path = NULL;
	int ret, rc = RC_FAIL;

	if (!file)
		goto cleanup;
	if (history) {
		const char *from = a->from ? a->from : a->since;

		path = history_path(a, from, strlen(from), a->to);
	} else {
		path = collect_path(a);
	}
	if (!path) {
		print_err("out of memory");
		goto cleanup;
	}

	/* the history answers at once: no progress to show */
	if (!history && isatty(STDERR_FILENO)) {
		opts.progress = progress_draw;
		opts.ctx = &pr;
	}
	ret = http_get(&a->target, path, &opts, &body, err, sizeof(err));
	progress_clear(&pr);
	if (ret) {
		print_err("%s", err);
		goto cleanup;
	}
	rc = save_profile(file, &body, history);
cleanup:
	buf__free(&body);
	free(path);
	return rc;
}

/* ---- diff --------------------------------------------------------------- */

/* A file name as a shell reads it back: quoted when it has to be. */
static void print_shell_word(const char *s, FILE *out)
{
	const char *p;

	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789@%+=:,./_-") == strlen(s)) {
		fputs(s, out);
		return;
	}
	fputc('\'', out);
	for (p = s; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", out);
		else
			fputc(*p, out);
	}
	fputc('\'', out);
}

/* diff VIEW RANGE1 RANGE2: both ranges of the history into PREFIX-before
 * and PREFIX-after, each whole or not there, and how to compare them. */
static int fleet_query_of(const struct args *a, const char *from, const char *to,
			  struct fleet_query *q, char *err, size_t errlen);

static int cmd_diff(const struct args *a)
{
	static const char *const suffixes[2] = { "-before.pb.gz", "-after.pb.gz" };
	static const char *const sides[2] = { "before", "after" };
	struct http_get_opts opts = { .timeout = STATUS_TIMEOUT };
	Perftools__Profiles__Profile *prof[2] = { NULL, NULL };
	struct buf body[2] = { { 0 }, { 0 } };
	char *file[2] = { NULL, NULL }, *path = NULL;
	char err[1024], prefix[256], which[320];
	const char *pre = a->output;
	int i, ret, rc = RC_FAIL;

	if (!pre) {
		snprintf(which, sizeof(which), "%s-diff", a->view->name);
		if (default_prefix(which, time(NULL), suffixes, 2, prefix, sizeof(prefix))) {
			print_err("cannot find free file names for %s-*-before.pb.gz here; use -o PREFIX",
				  which);
			goto cleanup;
		}
		pre = prefix;
	}
	for (i = 0; i < 2; i++) {
		if (asprintf(&file[i], "%s%s", pre, suffixes[i]) < 0) {
			file[i] = NULL;
			print_err("out of memory");
			goto cleanup;
		}
		ret = check_writable(file[i]);
		if (ret) {
			print_err("cannot write %s: %s", file[i], errstr(-ret));
			goto cleanup;
		}
	}

	/* both fetched before either is written */
	for (i = 0; i < 2; i++) {
		const struct range *r = &a->ranges[i];

		if (a->cmd == CMD_FLEET) {
			char from[64];
			struct fleet_query q;

			snprintf(from, sizeof(from), "%.*s", (int)r->from_len, r->from);
			if (fleet_query_of(a, from, r->to, &q, err, sizeof(err)) ||
			    fleet__collect(&q, &body[i], err, sizeof(err))) {
				print_err("%s: %s", r->arg, err);
				goto cleanup;
			}
			prof[i] = decode_profile(&body[i]);
			if (!prof[i])
				goto cleanup;
			continue;
		}
		path = history_path(a, r->from, r->from_len, r->to);
		if (!path) {
			print_err("out of memory");
			goto cleanup;
		}
		ret = http_get(&a->target, path, &opts, &body[i], err, sizeof(err));
		free(path);
		path = NULL;
		if (ret) {
			print_err("%s: %s", r->arg, err);
			goto cleanup;
		}
		prof[i] = decode_profile(&body[i]);
		if (!prof[i])
			goto cleanup;
	}
	for (i = 0; i < 2; i++) {
		ret = write_file_atomic(file[i], body[i].data, body[i].len);
		if (ret) {
			print_err("cannot write %s: %s", file[i], errstr(-ret));
			if (i)
				unlink(file[0]);	/* both or neither */
			goto cleanup;
		}
	}

	for (i = 0; i < 2; i++)
		print_written(file[i], body[i].len, prof[i]);
	for (i = 0; i < 2; i++) {
		snprintf(which, sizeof(which), "%s (%s)", sides[i], a->ranges[i].arg);
		print_notes(prof[i], which);
	}
	fputs("compare them with: go tool pprof -diff_base ", stdout);
	print_shell_word(file[0], stdout);
	fputc(' ', stdout);
	print_shell_word(file[1], stdout);
	fputc('\n', stdout);
	for (i = 0; i < 2; i++) {
		printf("\n%s (%s):\n", sides[i], a->ranges[i].arg);
		fflush(stdout);
		ret = pprof__top(prof[i], NULL, COLLECT_TOP_ROWS, stdout);
		if (ret) {
			print_err("%s: cannot print its top table: %s", file[i], errstr(-ret));
			goto cleanup;
		}
	}
	rc = RC_OK;
cleanup:
	for (i = 0; i < 2; i++) {
		pprof__free(prof[i]);
		buf__free(&body[i]);
		free(file[i]);
	}
	free(path);
	return rc;
}

/* ---- history ------------------------------------------------------------ */

/* 1023 B, 1.2 KiB, 120.6 MiB */
static void human_size(uint64_t n, char *out, size_t size)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)n;
	size_t i = 0;

	if (n < 1024) {
		snprintf(out, size, "%" PRIu64 " B", n);
		return;
	}
	for (v /= 1024; v >= 1024 && i + 1 < sizeof(units) / sizeof(units[0]); i++)
		v /= 1024;
	snprintf(out, size, "%.1f %s", v, units[i]);
}

/* A whole number, digits only, that fits. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t n = 0;
	const char *p;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (p == s || *p)
		return -EINVAL;
	*out = n;
	return 0;
}

/* One view's line of /debug/history: "cpu FROM TO WINDOWS BYTES". */
struct history_row {
	char *view, *from, *to, *windows;
	char size[32];
};

static int parse_history_row(char *line, struct history_row *row)
{
	char *field[5], *save = NULL, *extra;
	uint64_t windows, bytes;
	int i;

	for (i = 0; i < 5; i++) {
		field[i] = strtok_r(i ? NULL : line, " \t", &save);
		if (!field[i])
			return -EINVAL;
	}
	extra = strtok_r(NULL, " \t", &save);
	if (extra || parse_u64(field[3], &windows) || parse_u64(field[4], &bytes))
		return -EINVAL;
	row->view = field[0];
	row->from = field[1];
	row->to = field[2];
	row->windows = field[3];
	human_size(bytes, row->size, sizeof(row->size));
	return 0;
}

/* The closing line, "# window 10 s; kept N bytes (M uncompressed); dropped
 * by --retention: K windows", with the sizes in human units; as it came
 * (without its "# ") when it does not read so. */
static void print_history_summary(const char *line)
{
	unsigned long long kept, raw, dropped;
	char a[32], b[32];
	int window, end = 0;

	if (sscanf(line, "# window %d s; kept %llu bytes (%llu uncompressed); dropped by --retention: %llu windows%n",
		   &window, &kept, &raw, &dropped, &end) == 4 && end && !line[end]) {
		human_size(kept, a, sizeof(a));
		human_size(raw, b, sizeof(b));
		printf("window %d s; kept %s (%s uncompressed); dropped by --retention: %llu windows\n",
		       window, a, b, dropped);
		return;
	}
	printf("%s\n", line + 2);
}

static int cmd_history(const struct args *a)
{
	struct http_get_opts opts = { .timeout = STATUS_TIMEOUT };
	struct history_row *rows = NULL;
	size_t nr = 0, cap = 0, i, w[4] = { 4, 4, 2, 7 };	/* the headers' widths */
	struct buf body = { 0 }, other = { 0 };
	char err[1024], *line, *next;
	const char *summary = NULL;
	int rc = RC_FAIL;

	if (http_get(&a->target, "/debug/history", &opts, &body, err, sizeof(err))) {
		print_err("%s", err);
		goto cleanup;
	}
	for (line = body.data; line && *line; line = next) {
		struct history_row row;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (!strncmp(line, "# window ", 9)) {
			summary = line;
			continue;
		}
		if (!line[0] || line[0] == '#')
			continue;			/* the header, blank lines */
		if (parse_history_row(line, &row)) {
			/* not a view's line: shown as it came, after the table */
			if (buf__append(&other, line, strlen(line)) || buf__append(&other, "\n", 1))
				goto nomem;
			continue;
		}
		if (nr == cap) {
			struct history_row *r = realloc(rows, (cap ? cap * 2 : 16) * sizeof(*r));

			if (!r)
				goto nomem;
			rows = r;
			cap = cap ? cap * 2 : 16;
		}
		rows[nr++] = row;
		if (strlen(row.view) > w[0])
			w[0] = strlen(row.view);
		if (strlen(row.from) > w[1])
			w[1] = strlen(row.from);
		if (strlen(row.to) > w[2])
			w[2] = strlen(row.to);
		if (strlen(row.windows) > w[3])
			w[3] = strlen(row.windows);
	}

	if (!nr) {
		printf("no windows kept yet\n");
	} else {
		printf("%-*s  %-*s  %-*s  %*s  %s\n", (int)w[0], "VIEW", (int)w[1], "FROM",
		       (int)w[2], "TO", (int)w[3], "WINDOWS", "SIZE");
		for (i = 0; i < nr; i++)
			printf("%-*s  %-*s  %-*s  %*s  %s\n", (int)w[0], rows[i].view, (int)w[1],
			       rows[i].from, (int)w[2], rows[i].to, (int)w[3], rows[i].windows,
			       rows[i].size);
	}
	if (other.len)
		fputs(other.data, stdout);
	if (summary)
		print_history_summary(summary);
	rc = RC_OK;
	goto cleanup;
nomem:
	print_err("out of memory");
cleanup:
	free(rows);
	buf__free(&other);
	buf__free(&body);
	return rc;
}

/* ---- top ---------------------------------------------------------------- */

static int read_file(const char *file, struct buf *b)
{
	char chunk[65536];
	size_t n;
	FILE *f;
	int ret = 0;

	f = fopen(file, "rb");
	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->len + n > MAX_FILE_SIZE) {
			ret = -EFBIG;
			goto cleanup;
		}
		ret = buf__append(b, chunk, n);
		if (ret)
			goto cleanup;
	}
	if (ferror(f))
		ret = -EIO;
cleanup:
	fclose(f);
	return ret;
}

/* --sample-index TYPE: a type name, or its index as go tool pprof takes it. */
static const char *sample_type_name(const Perftools__Profiles__Profile *p, const char *arg)
{
	int idx;

	if (!arg)
		return NULL;
	if (!parse_number(arg, 0, (long)p->n_sample_type - 1, &idx) &&
	    p->sample_type[idx]->type >= 0 && (size_t)p->sample_type[idx]->type < p->n_string_table)
		return p->string_table[p->sample_type[idx]->type];
	return arg;
}

static void print_sample_types(const Perftools__Profiles__Profile *p, char *out, size_t size)
{
	size_t i, len = 0;
	int64_t s;

	out[0] = '\0';
	for (i = 0; i < p->n_sample_type && len < size; i++) {
		s = p->sample_type[i]->type;
		len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "",
					s >= 0 && (size_t)s < p->n_string_table ? p->string_table[s] : "?");
	}
}

static int cmd_top(const struct args *a)
{
	Perftools__Profiles__Profile *prof = NULL;
	const char *type;
	struct buf body = { 0 };
	char types[512];
	int ret, rc = RC_FAIL;

	ret = read_file(a->file, &body);
	if (ret) {
		print_err("cannot read %s: %s", a->file, errstr(-ret));
		goto cleanup;
	}
	prof = pprof__read((const uint8_t *)body.data, body.len);
	if (!prof) {
		if (errno == EINVAL)
			print_err("%s: not a pprof profile", a->file);
		else
			print_err("%s: cannot decode: %s", a->file, errstr(errno));
		goto cleanup;
	}
	type = sample_type_name(prof, a->sample_index);
	if (type && pprof__sample_index(prof, type) < 0) {
		print_sample_types(prof, types, sizeof(types));
		print_err("%s has no sample type \"%s\"; it has: %s", a->file, type, types);
		goto cleanup;
	}
	ret = pprof__top(prof, type, a->rows, stdout);
	if (ret) {
		print_err("%s: cannot print its top table: %s", a->file, errstr(-ret));
		goto cleanup;
	}
	rc = RC_OK;
cleanup:
	pprof__free(prof);
	buf__free(&body);
	return rc;
}

/* ---- status ------------------------------------------------------------- */

/* One sample line of the Prometheus text format, split in place. */
struct metric {
	char *series;			/* name{labels} as written */
	char *value;
};

/* Split "name{l="v",...} value [timestamp]" in place. 0, or -EINVAL for a
 * line that is not a sample (comments, blank lines, garbage). */
static int parse_metric(char *line, struct metric *m)
{
	char *p = line;
	bool quoted = false;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return -EINVAL;
	m->series = p;
	while (*p && *p != '{' && *p != ' ' && *p != '\t')
		p++;
	if (*p == '{') {
		for (p++; *p && (quoted || *p != '}'); p++) {
			if (quoted && *p == '\\' && p[1])
				p++;
			else if (*p == '"')
				quoted = !quoted;
		}
		if (*p != '}')
			return -EINVAL;
		p++;
	}
	if (*p != ' ' && *p != '\t')
		return -EINVAL;
	*p++ = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return -EINVAL;
	m->value = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*p = '\0';			/* drop the timestamp, if any */
	return 0;
}

/* The value of label key in series, unescaped into out; 0 or -ENOENT. */
static int label_value(const char *series, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), n;
	const char *p = strchr(series, '{');

	if (!p)
		return -ENOENT;
	for (p++; *p && *p != '}';) {
		bool match = !strncmp(p, key, klen) && p[klen] == '=';

		p = strchr(p, '=');
		if (!p || p[1] != '"')
			return -ENOENT;
		for (p += 2, n = 0; *p && *p != '"'; p++) {
			char c = *p;

			if (c == '\\' && p[1]) {
				c = *++p;
				if (c == 'n')
					c = '\n';
			}
			if (match && n + 1 < size)
				out[n++] = c;
		}
		if (match) {
			out[n] = '\0';
			return 0;
		}
		if (*p)
			p++;		/* closing quote */
		while (*p == ',' || *p == ' ')
			p++;
	}
	return -ENOENT;
}

/* The data sources, as /metrics labels their counters. */
static const struct {
	const char *name, *title;
	unsigned int bit;		/* enum view_source; 0: the capture core */
} sources[] = {
	{ "cpu", "cpu sampling", SOURCE_CPU },
	{ "sched", "scheduler", SOURCE_SCHED },
	{ "alloc", "allocator", SOURCE_ALLOC },
	{ "futex", "futex waits and wakes", SOURCE_FUTEX },
	{ "core", "capture core: stacks, unwinder, targets", 0 },
};

static int cmd_status(const struct args *a)
{
	const char *where = a->target.socket_path ? a->target.socket_path : a->target.url;
	struct http_get_opts opts = { .timeout = STATUS_TIMEOUT };
	struct metric *table = NULL;
	struct buf running = { 0 }, stopped = { 0 }, body = { 0 };
	size_t nr = 0, cap = 0, i, name_w = 0, value_w = 0;
	char err[1024], view[64], *line, *next;
	struct metric m;
	int rc = RC_FAIL;

	if (http_get(&a->target, "/metrics", &opts, &body, err, sizeof(err))) {
		print_err("%s", err);
		goto cleanup;
	}

	for (line = body.data; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (parse_metric(line, &m))
			continue;
		if (!strcmp(m.series, "cprofd_view_running") ||
		    !strncmp(m.series, "cprofd_view_running{", 20)) {
			struct buf *list = strtod(m.value, NULL) != 0 ? &running : &stopped;

			if (label_value(m.series, "view", view, sizeof(view)))
				snprintf(view, sizeof(view), "?");
			if ((list->len && buf__append(list, ", ", 2)) ||
			    buf__append(list, view, strlen(view)))
				goto nomem;
			continue;
		}
		if (nr == cap) {
			struct metric *t = realloc(table, (cap ? cap * 2 : 64) * sizeof(*t));

			if (!t)
				goto nomem;
			table = t;
			cap = cap ? cap * 2 : 64;
		}
		table[nr++] = m;
		if (strlen(m.series) > name_w)
			name_w = strlen(m.series);
		if (strlen(m.value) > value_w)
			value_w = strlen(m.value);
	}

	printf("cprofd at %s\n", where);
	printf("views running: %s\n", running.len ? running.data : "none");
	if (stopped.len)
		printf("views stopped: %s\n", stopped.data);
	/* what the BPF side counted, by data source, under the views it feeds */
	for (size_t g = 0; g < sizeof(sources) / sizeof(sources[0]); g++) {
		char feeds[128] = "", src[16];
		size_t n = 0;
		bool header = false;

		for (size_t v = 0; v < nr_views && n < sizeof(feeds); v++)
			if (views[v].built && (views[v].sources & sources[g].bit))
				n += snprintf(feeds + n, sizeof(feeds) - n, "%s%s", n ? ", " : "", views[v].name);
		for (i = 0; i < nr; i++) {
			char event[64];

			if (strncmp(table[i].series, "cprofd_bpf_events_total{", 24) ||
			    label_value(table[i].series, "source", src, sizeof(src)) ||
			    strcmp(src, sources[g].name) ||
			    label_value(table[i].series, "event", event, sizeof(event)))
				continue;
			if (!header)
				printf("\n%s (%s):\n", sources[g].title, sources[g].bit ? feeds : "every view");
			header = true;
			printf("  %-32s  %*s\n", event, (int)value_w, table[i].value);
		}
	}
	if (nr)
		printf("\ndaemon:\n");
	for (i = 0; i < nr; i++)
		if (strncmp(table[i].series, "cprofd_bpf_events_total{", 24))
			printf("  %-*s  %*s\n", (int)name_w - 2, table[i].series, (int)value_w, table[i].value);
	rc = RC_OK;
	goto cleanup;
nomem:
	print_err("out of memory");
cleanup:
	free(table);
	buf__free(&running);
	buf__free(&stopped);
	buf__free(&body);
	return rc;
}

/* ---- main --------------------------------------------------------------- */

static void print_usage(FILE *out)
{
	char all_views[128], built_views[128];

	views__names(all_views, sizeof(all_views), false);
	views__names(built_views, sizeof(built_views), true);
	fprintf(out, usage_text, COLLECT_TOP_ROWS, all_views, built_views, COLLECT_TOP_ROWS,
		DEFAULT_TOP_ROWS);
}

/* ---- fleet ------------------------------------------------------------- */

/* The fleet query of a's view, filters and the range from..to (times as
 * --from takes them). 0, or -1 with the reason in err. */
static int fleet_query_of(const struct args *a, const char *from, const char *to,
			  struct fleet_query *q, char *err, size_t errlen)
{
	struct timespec now;
	int64_t now_ns;

	*q = (struct fleet_query){ .url = a->clickhouse, .cacert = a->target.cacert,
				   .view = a->view, .comm = a->comm, .container = a->container,
				   .per_host = a->opts & OPT_PER_HOST };
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
	if (params__time("from", from, now_ns, &q->from_ns, err, errlen) ||
	    params__time("to", to, now_ns, &q->to_ns, err, errlen))
		return -1;
	if (q->to_ns <= q->from_ns) {
		snprintf(err, errlen, "the range is empty: its end must come after its start");
		return -1;
	}
	for (size_t i = 0; i < a->nr_host_list; i++)
		q->hosts[i] = a->host_list[i];
	q->nr_hosts = a->nr_host_list;
	return 0;
}

/* fleet collect|top|diff VIEW: from the ClickHouse tables cprofd exports to. */
static int cmd_fleet(const struct args *a)
{
	const char *from = a->from ? a->from : a->since, *file;
	struct fleet_query q;
	struct buf body = { 0 };
	char err[1024], name[256];
	int rc = RC_FAIL;

	if (a->fleet_diff)
		return cmd_diff(a);
	if (fleet_query_of(a, from, a->to ? a->to : "now", &q, err, sizeof(err))) {
		print_err("%s", err);
		return RC_USAGE;
	}
	if (a->fleet_top) {
		if (fleet__top(&q, a->by_process, a->rows, stdout, err, sizeof(err))) {
			print_err("%s", err);
			return RC_FAIL;
		}
		return RC_OK;
	}
	file = output_file(a, name, sizeof(name));
	if (!file)
		return RC_FAIL;
	if (fleet__collect(&q, &body, err, sizeof(err)))
		print_err("%s", err);
	else
		rc = save_profile(file, &body, false);
	buf__free(&body);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	int rc;

	if (argc < 2) {
		print_usage(stderr);
		return RC_USAGE;
	}
	if (parse_args(argc, argv, &a))
		return RC_USAGE;
	if (a.opts & OPT_HELP) {
		print_usage(stdout);
		return RC_OK;
	}
	if (a.opts & OPT_VERSION) {
		printf("cprof-ctl %s (libcurl %s)\n", CPROF_VERSION,
		       curl_version_info(CURLVERSION_NOW)->version);
		return RC_OK;
	}

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		print_err("cannot initialize libcurl");
		return RC_FAIL;
	}
	switch (a.cmd) {
	case CMD_COLLECT:
		rc = cmd_collect(&a);
		break;
	case CMD_TOP:
		rc = cmd_top(&a);
		break;
	case CMD_STATUS:
		rc = cmd_status(&a);
		break;
	case CMD_HISTORY:
		rc = cmd_history(&a);
		break;
	case CMD_DIFF:
		rc = cmd_diff(&a);
		break;
	case CMD_FLEET:
		rc = cmd_fleet(&a);
		break;
	default:
		rc = RC_USAGE;
		break;
	}
	curl_global_cleanup();
	return rc;
}
