/* cprof-ctl: the command line of cprofd. Collects profiles into files,
 * prints top tables of profile files and the daemon's status. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
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
#define STATUS_TIMEOUT		30	/* seconds */
#define MAX_FILE_SIZE		(1L << 30)

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

enum command { CMD_NONE, CMD_COLLECT, CMD_TOP, CMD_STATUS };

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
	const char *output;
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

/* The positional arguments of the command, checked and stored. */
static int set_positionals(struct args *a, char **pos, int nr_pos)
{
	const char *cmd = pos[0];
	int want, ret;

	if (!strcmp(cmd, "collect")) {
		a->cmd = CMD_COLLECT;
		if (nr_pos < 3) {
			print_err("collect needs a VIEW and a DURATION, e.g. cprof-ctl collect cpu 10s");
			return -EINVAL;
		}
		a->view = views__find(pos[1]);
		if (!a->view) {
			char names[128];

			views__names(names, sizeof(names), false);
			print_err("unknown view \"%s\"; views: %s", pos[1], names);
			return -EINVAL;
		}
		ret = parse_duration(pos[2], &a->seconds);
		if (ret) {
			print_err("bad duration \"%s\": must be whole seconds from 1s to %ds, like 10s, 2m or 1m30s",
				  pos[2], PARAMS_MAX_SECONDS);
			return ret;
		}
		want = 3;
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
		print_err("unknown command \"%s\"; commands: collect top status", cmd);
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
	};
	unsigned int allowed;
	size_t i;

	switch (a->cmd) {
	case CMD_COLLECT:
		allowed = OPT_PID | OPT_OUTPUT | OPT_HZ;
		break;
	case CMD_TOP:
		allowed = OPT_ROWS | OPT_SAMPLE_INDEX;
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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char **pos;
	int nr_pos = 0, c, ret = -EINVAL;

	memset(a, 0, sizeof(*a));
	a->rows = DEFAULT_TOP_ROWS;
	pos = calloc((size_t)argc + 1, sizeof(*pos));
	if (!pos) {
		print_err("out of memory");
		return -ENOMEM;
	}

	opterr = 0;
	/* "-": options anywhere, positionals handed back in order as 1. */
	while ((c = getopt_long(argc, argv, "-:ho:n:", long_opts, NULL)) != -1) {
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
			if (optopt)
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
		print_err("no command given; commands: collect top status (see cprof-ctl --help)");
		goto cleanup;
	}
	if (set_positionals(a, pos, nr_pos))
		goto cleanup;
	ret = check_options(a, pos[0]);
cleanup:
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

/* VIEW-YYYYMMDD-HHMMSS.pb.gz in local time, or with -2, -3... if taken. */
static int default_output(const char *view, time_t when, char *out, size_t size)
{
	char stamp[32];
	struct tm tm;
	struct stat st;
	int i;

	localtime_r(&when, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	for (i = 1; i < 100; i++) {
		if (i == 1)
			snprintf(out, size, "%s-%s.pb.gz", view, stamp);
		else
			snprintf(out, size, "%s-%s-%d.pb.gz", view, stamp, i);
		if (lstat(out, &st) && errno == ENOENT)
			return 0;
	}
	return -EEXIST;
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

static int cmd_collect(const struct args *a)
{
	struct progress pr = { .view = a->view->name, .seconds = a->seconds };
	struct http_get_opts opts = { .timeout = a->seconds + COLLECT_GRACE };
	Perftools__Profiles__Profile *prof = NULL;
	char err[1024], name[256];
	const char *file = a->output;
	struct buf body = { 0 };
	char *path = NULL;
	int ret, rc = RC_FAIL;

	if (!file) {
		if (default_output(a->view->name, time(NULL), name, sizeof(name))) {
			print_err("cannot find a free file name for %s-*.pb.gz here; use -o FILE",
				  a->view->name);
			goto cleanup;
		}
		file = name;
	}
	ret = check_writable(file);
	if (ret) {
		print_err("cannot write %s: %s", file, errstr(-ret));
		goto cleanup;
	}
	path = collect_path(a);
	if (!path) {
		print_err("out of memory");
		goto cleanup;
	}

	if (isatty(STDERR_FILENO)) {
		opts.progress = progress_draw;
		opts.ctx = &pr;
	}
	ret = http_get(&a->target, path, &opts, &body, err, sizeof(err));
	progress_clear(&pr);
	if (ret) {
		print_err("%s", err);
		goto cleanup;
	}

	prof = pprof__read((const uint8_t *)body.data, body.len);
	if (!prof) {
		if (errno == EINVAL)
			print_err("cprofd sent %zu bytes that are not a pprof profile; nothing written",
				  body.len);
		else
			print_err("cannot decode the profile from cprofd: %s", errstr(errno));
		goto cleanup;
	}
	ret = write_file_atomic(file, body.data, body.len);
	if (ret) {
		print_err("cannot write %s: %s", file, errstr(-ret));
		goto cleanup;
	}
	print_written(file, body.len, prof);
	fflush(stdout);
	ret = pprof__top(prof, NULL, COLLECT_TOP_ROWS, stdout);
	if (ret) {
		print_err("%s: cannot print its top table: %s", file, errstr(-ret));
		goto cleanup;
	}
	rc = RC_OK;
cleanup:
	pprof__free(prof);
	buf__free(&body);
	free(path);
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

int main(int argc, char **argv)
{
	char all_views[128], built_views[128];
	struct args a;
	int rc;

	views__names(all_views, sizeof(all_views), false);
	views__names(built_views, sizeof(built_views), true);
	if (argc < 2) {
		fprintf(stderr, usage_text, COLLECT_TOP_ROWS, all_views, built_views, DEFAULT_TOP_ROWS);
		return RC_USAGE;
	}
	if (parse_args(argc, argv, &a))
		return RC_USAGE;
	if (a.opts & OPT_HELP) {
		printf(usage_text, COLLECT_TOP_ROWS, all_views, built_views, DEFAULT_TOP_ROWS);
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
	default:
		rc = RC_USAGE;
		break;
	}
	curl_global_cleanup();
	return rc;
}
