/* cprofd: samples stacks with BPF and serves pprof profiles over HTTP. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include "access.h"
#include "caps.h"
#include "core.h"
#include "cprofd.h"
#include "http.h"
#include "ksyms.h"
#include "log.h"
#include "params.h"
#include "proctab.h"
#include "targets.h"
#include "isolate.h"
#include "parserd.h"
#include "vdso.h"
#include "views.h"
#include "export.h"
#include "history.h"
#include "store.h"

#define CPROFD_VERSION CPROF_VERSION	/* the top-level VERSION file, passed by the Makefile */
#define TICK_MS 1000
#define GC_EVERY_TICKS 10
/* An exited process is kept this long at least; longer while a window
 * that may hold its samples is open or being built. */
#define PROCESS_RETENTION_NS (10 * 1000000000LL)
#define DEFAULT_MEMORY (96ull << 20)
#define DEFAULT_PARSER_MEMORY (512ull << 20)
/* What one request may take a parser process: far more than any real object
 * needs (libLLVM's table: 0.3 s; its symbols cold: under 2 s). */
#define DEFAULT_PARSER_TIMEOUT 30
#define DEFAULT_WINDOW_S 10
#define DEFAULT_STORE "/var/lib/cprofd"
#define DEFAULT_RETENTION_BYTES (1ull << 30)
#define DEFAULT_RETENTION_AGE_S (14 * 86400ull)
#define DEFAULT_EXPORT_SPOOL (256ull << 20)

struct options {
	int pids[PARAMS_MAX_PIDS];
	int nr_pids;
	struct targets_spec targets;	/* --comm, --exe, --cgroup */
	const char *listen;
	const char *socket;
	int hz;
	uint64_t memory;		/* the daemon's memory budget */
	uint64_t unwind_memory;		/* unwind tables' (kernel) budget; 0: from the host */
	uint64_t parser_memory;		/* each parser process's data limit */
	int parser_timeout;		/* seconds one request may take it */
	bool frame_pointers;
	bool verbose;
	unsigned int views;		/* --views: bits of indexes into views[] */
	uint64_t offcpu_min_ns;		/* --offcpu-min */
	uint32_t offcpu_rate_ns;	/* --offcpu-rate */
	uint32_t offcpu_reads;		/* --offcpu-reads */
	uint64_t heap_rate;		/* --heap-rate */
	uint64_t lock_rate_ns;		/* --lock-rate */
	unsigned int continuous;	/* --continuous: bits of indexes into views[] */
	bool continuous_all;		/* ...given as all */
	unsigned int continuous_named;	/* ...the views it named one by one */
	unsigned int continuous_left;	/* ...views all left out (host-wide heap, allocs) */
	int window_s;			/* --window: the history's windows */
	const char *store;		/* --store: where the history is kept */
	uint64_t retention_bytes;	/* --retention SIZE,AGE */
	uint64_t retention_age_s;
	const char *export_url;		/* --export clickhouse=URL */
	const char *host_name;		/* --host-name */
	uint64_t export_spool;		/* --export-spool SIZE */
	const char *export_ca;		/* --export-ca FILE */
	const char *config;		/* --config: the file read first, and on SIGHUP */
	const char *group;		/* members see every process */
	const char *tls_cert, *tls_key;	/* TLS on the TCP listener */
	const char *token_file;		/* bearer tokens that see everything */
	char **owned;			/* strings read from the config file */
	size_t nr_owned;
};

static const char usage[] =
	"usage: cprofd [--pid N]... [--comm NAME]... [--exe PATH]... [--cgroup PATH]...\n"
	"              [--listen HOST:PORT | --listen none] [--socket PATH | --socket none]\n"
	"              [--hz N] [--views LIST] [--continuous LIST] [--window SECONDS]\n"
	"              [--store DIR] [--retention SIZE,AGE] [--export clickhouse=URL]\n"
	"              [--host-name NAME] [--export-spool SIZE] [--export-ca FILE] [--heap-rate BYTES]\n"
	"              [--offcpu-min USEC] [--offcpu-rate USEC] [--offcpu-reads N] [--lock-rate USEC]\n"
	"              [--memory SIZE] [--unwind-memory SIZE]\n"
	"              [--parser-memory SIZE] [--parser-timeout SECONDS] [--frame-pointers]\n"
	"              [--config FILE] [--group NAME] [--tls-cert FILE --tls-key FILE]\n"
	"              [--token-file FILE] [-v]\n"
	"Serve pprof profiles of this host's processes at http://127.0.0.1:6070/debug/pprof/.\n"
	"  --pid N          profile only process N and its threads (repeatable); default: every process\n"
	"  --comm NAME      profile the processes named NAME (the name ps -o comm shows, at most\n"
	"                   15 bytes), those that start later too, and their child processes\n"
	"  --exe PATH       likewise the processes that run the executable PATH\n"
	"  --cgroup PATH    likewise the processes in cgroup v2 PATH (as in system.slice/nginx.service,\n"
	"                   or under /sys/fs/cgroup) and in the cgroups below it\n"
	"                   --pid, --comm, --exe and --cgroup repeat; a process that matches any is profiled\n"
	"  --listen H:P     TCP address to serve on (default 127.0.0.1:6070), or none\n"
	"  --socket PATH    Unix socket to serve on (default /run/cprofd.sock), or none\n"
	"  --hz N           CPU sampling rate, 1 to 1000 (default 99)\n"
	"  --views LIST     views to serve, comma-separated, or all (default): cpu, heap, allocs,\n"
	"                   offcpu, wall, block, mutex\n"
	"  --continuous LIST  views kept on all the time (or all: for the whole host, all but heap\n"
	"                   and allocs, whose probes trap at every malloc and free; name them to\n"
	"                   keep them too), their windows kept in the\n"
	"                   history and served for start= and end=; heap, allocs, block and\n"
	"                   mutex also serve their totals since start without seconds= (on for\n"
	"                   --pid targets anyway)\n"
	"  --window SECONDS  the history's windows, cut at multiples of it (default 10)\n"
	"  --store DIR      where the history is kept (default /var/lib/cprofd); none: no\n"
	"                   history (--continuous then keeps only heap, allocs, block and mutex\n"
	"                   totals)\n"
	"  --retention SIZE,AGE  the history's bounds: oldest windows dropped first past SIZE\n"
	"                   bytes or AGE (s, m, h, d) old (default 1G,14d)\n"
	"  --export clickhouse=URL  send every window the history keeps to ClickHouse's HTTP\n"
	"                   interface, as http[s]://[USER:PASSWORD@]HOST:8123/[?database=DB];\n"
	"                   tables cprof_stacks_v1 and cprof_samples_v1 are made on first use\n"
	"  --host-name NAME  the host's name in what is sent (default: this host's)\n"
	"  --export-spool SIZE  what waits on disk while ClickHouse does not answer, in\n"
	"                   STORE/export-spool; windows beyond are dropped, counted (default 256M)\n"
	"  --export-ca FILE  CA certificates for an https:// ClickHouse (default: the system's)\n"
	"  --heap-rate BYTES  one allocation sampled per BYTES allocated on average, as Go's\n"
	"                   MemProfileRate (default 512K; 1: every allocation)\n"
	"  --offcpu-min USEC  off-CPU intervals shorter than this are counted, not recorded\n"
	"                   (default 1)\n"
	"  --offcpu-rate USEC  shorter intervals are sampled, each with probability its length\n"
	"                   over USEC, and weighted to keep the totals (default 50; 0: all)\n"
	"  --offcpu-reads N  the waits whose stacks a CPU reads, at most about N a second:\n"
	"                   past that it raises its rate above --offcpu-rate (default 50;\n"
	"                   0: no bound)\n"
	"  --lock-rate USEC  futex waits (block) and the delay blamed at a wake (mutex) shorter\n"
	"                   than this are sampled likewise, as Go's SetBlockProfileRate\n"
	"                   (default 100; 0: all)\n"
	"  --memory SIZE    the daemon's own memory budget (default 96M): symbols 40%\n"
	"                   (held by its symbols parser), profile windows 25%,\n"
	"                   exited processes' maps 15%\n"
	"  --parser-memory SIZE  what each parser process (symbols, unwind tables) may\n"
	"                   allocate before a file that needs more is given up (default 512M)\n"
	"  --parser-timeout SECONDS  what parsing one file may take before it is given up\n"
	"                   and the parser restarted (default 30)\n"
	"  --unwind-memory SIZE  kernel memory unwind tables may grow to\n"
	"                   (default: 1/64 of RAM, from 64M to 1G)\n"
	"  --frame-pointers walk user stacks by frame pointers only, not with .eh_frame tables\n"
	"  --config FILE    read settings from FILE first: one \"flag = value\" a line, flags\n"
	"                   without their dashes (hz = 99); the command line wins; SIGHUP\n"
	"                   reads it again\n"
	"  --group NAME     members of this group, and root, see every process (default cprof);\n"
	"                   other users see their own processes only, without kernel frames\n"
	"  --tls-cert FILE, --tls-key FILE  serve TCP over TLS with this PEM certificate\n"
	"                   chain and key (needed to listen beyond loopback)\n"
	"  --token-file FILE  bearer tokens, one a line, that see every process from\n"
	"                   anywhere (needed to listen beyond loopback)\n"
	"  -v               verbose: debug messages and libbpf's log\n";

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (log_level < LOG_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

/* A duration: seconds, or a number with s, m, h or d, from lo to hi seconds. */
static int parse_seconds(const char *s, int lo, int hi, int *out)
{
	char *end;
	long long v;
	int unit = 1;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end) {
		unit = !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 :
		       !strcmp(end, "d") ? 86400 : 0;
		if (!unit)
			return -EINVAL;
	}
	if (v > hi / unit || v * unit < lo)
		return -EINVAL;
	*out = (int)(v * unit);
	return 0;
}

static void opt_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --views, --continuous: from the view table; views not built in this
 * version are refused by name. */
static int parse_views(const char *list, const char *opt, unsigned int *mask)
{
	char err[256];

	if (views__parse_list(list, opt, mask, err, sizeof(err))) {
		opt_err("%s", err);
		return -EINVAL;
	}
	return 0;
}

/* Which views a list names one by one, and whether it says all. */
static void named_views(const char *list, bool *all, unsigned int *mask)
{
	*all = false;
	*mask = 0;
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		char name[32];

		if (len < sizeof(name)) {
			const struct view_def *v;

			memcpy(name, p, len);
			name[len] = '\0';
			v = views__find(name);
			if (v)
				*mask |= 1u << (v - views);
			else if (!strcmp(name, "all"))
				*all = true;
		}
		p += len + (p[len] == ',');
	}
}

/* The names of the views in mask, as "heap and allocs". */
static void view_names(unsigned int mask, char *out, size_t size)
{
	size_t k = 0;

	out[0] = '\0';
	for (size_t i = 0; i < nr_views && k < size; i++)
		if (mask & (1u << i))
			k += snprintf(out + k, size - k, "%s%s", k ? " and " : "", views[i].name);
}

/* The views fed by the allocator's probes (heap, allocs). */
static unsigned int alloc_views(void)
{
	unsigned int mask = 0;

	for (size_t i = 0; i < nr_views; i++)
		if (views[i].sources & SOURCE_ALLOC)
			mask |= 1u << i;
	return mask;
}

enum { OPT_PID = 256, OPT_LISTEN, OPT_SOCKET, OPT_HZ, OPT_VIEWS, OPT_CONTINUOUS,
       OPT_HEAP_RATE, OPT_OFFCPU_MIN, OPT_VERSION, OPT_FP, OPT_MEMORY, OPT_UNWIND_MEMORY,
       OPT_PARSER_MEMORY, OPT_PARSER_TIMEOUT, OPT_CONFIG, OPT_GROUP, OPT_TLS_CERT, OPT_TLS_KEY,
       OPT_TOKEN_FILE, OPT_COMM, OPT_EXE, OPT_CGROUP, OPT_OFFCPU_RATE, OPT_OFFCPU_READS, OPT_LOCK_RATE,
       OPT_WINDOW, OPT_STORE, OPT_RETENTION, OPT_EXPORT, OPT_HOST_NAME, OPT_EXPORT_SPOOL,
       OPT_EXPORT_CA };
static const struct option longopts[] = {
	{ "pid", required_argument, NULL, OPT_PID },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "exe", required_argument, NULL, OPT_EXE },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "hz", required_argument, NULL, OPT_HZ },
	{ "views", required_argument, NULL, OPT_VIEWS },
	{ "continuous", required_argument, NULL, OPT_CONTINUOUS },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "retention", required_argument, NULL, OPT_RETENTION },
	{ "export", required_argument, NULL, OPT_EXPORT },
	{ "host-name", required_argument, NULL, OPT_HOST_NAME },
	{ "export-spool", required_argument, NULL, OPT_EXPORT_SPOOL },
	{ "export-ca", required_argument, NULL, OPT_EXPORT_CA },
	{ "heap-rate", required_argument, NULL, OPT_HEAP_RATE },
	{ "offcpu-min", required_argument, NULL, OPT_OFFCPU_MIN },
	{ "offcpu-rate", required_argument, NULL, OPT_OFFCPU_RATE },
	{ "offcpu-reads", required_argument, NULL, OPT_OFFCPU_READS },
	{ "lock-rate", required_argument, NULL, OPT_LOCK_RATE },
	{ "frame-pointers", no_argument, NULL, OPT_FP },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "unwind-memory", required_argument, NULL, OPT_UNWIND_MEMORY },
	{ "parser-memory", required_argument, NULL, OPT_PARSER_MEMORY },
	{ "parser-timeout", required_argument, NULL, OPT_PARSER_TIMEOUT },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "group", required_argument, NULL, OPT_GROUP },
	{ "tls-cert", required_argument, NULL, OPT_TLS_CERT },
	{ "tls-key", required_argument, NULL, OPT_TLS_KEY },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

/* Where a setting came from, for its error: "" (the command line) or
 * "FILE:LINE: ". */
static char opt_where[PATH_MAX + 32];

static void opt_err(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* on a reload the daemon is running: its log takes it */
	fprintf(stderr, "cprofd: %s%s\n", opt_where, msg);
}

static void set_defaults(struct options *o)
{
	o->listen = "127.0.0.1:6070";
	o->socket = "/run/cprofd.sock";
	o->hz = 99;
	o->memory = DEFAULT_MEMORY;
	o->parser_memory = DEFAULT_PARSER_MEMORY;
	o->parser_timeout = DEFAULT_PARSER_TIMEOUT;
	o->group = "cprof";
	views__parse_list("all", "--views", &o->views, NULL, 0);
	o->offcpu_min_ns = OFFCPU_DEFAULT_MIN_NS;
	o->offcpu_rate_ns = OFFCPU_DEFAULT_RATE_NS;
	o->offcpu_reads = OFFCPU_DEFAULT_READS;
	o->heap_rate = HEAP_DEFAULT_RATE;
	o->lock_rate_ns = LOCK_DEFAULT_RATE_NS;
	o->window_s = DEFAULT_WINDOW_S;
	o->store = DEFAULT_STORE;
	o->retention_bytes = DEFAULT_RETENTION_BYTES;
	o->retention_age_s = DEFAULT_RETENTION_AGE_S;
	o->export_spool = DEFAULT_EXPORT_SPOOL;
}

static void options_free(struct options *o)
{
	for (size_t i = 0; i < o->nr_owned; i++)
		free(o->owned[i]);
	free(o->owned);
	o->owned = NULL;
	o->nr_owned = 0;
	targets__clear(&o->targets);
}

/* One setting. 0, the exit status to leave with, or -1 (help, version:
 * leave with 0). */
static int apply_opt(struct options *o, int c, const char *arg)
{
	char msg[512];
	int pid;

	switch (c) {
	case OPT_PID:
		if (parse_int(arg, 1, 4194304, &pid)) {
			opt_err("--pid %s: expected a process id", arg);
			return 2;
		}
		if (o->nr_pids == PARAMS_MAX_PIDS) {
			opt_err("--pid: at most %d processes", PARAMS_MAX_PIDS);
			return 2;
		}
		o->pids[o->nr_pids++] = pid;
		break;
	case OPT_COMM:
	case OPT_EXE:
	case OPT_CGROUP:
		if (targets__add(&o->targets, c == OPT_COMM ? TARGETS_COMM : c == OPT_EXE ? TARGETS_EXE :
				 TARGETS_CGROUP, arg, msg, sizeof(msg))) {
			opt_err("%s", msg);
			return 2;
		}
		break;
	case OPT_LISTEN:
		o->listen = arg;
		break;
	case OPT_SOCKET:
		o->socket = arg;
		break;
	case OPT_HZ:
		if (parse_int(arg, 1, PARAMS_MAX_HZ, &o->hz)) {
			opt_err("--hz %s: expected a rate from 1 to %d", arg, PARAMS_MAX_HZ);
			return 2;
		}
		break;
	case OPT_VIEWS:
		if (parse_views(arg, "--views", &o->views))
			return 2;
		break;
	case OPT_CONTINUOUS:
		if (parse_views(arg, "--continuous", &o->continuous))
			return 2;
		named_views(arg, &o->continuous_all, &o->continuous_named);
		break;
	case OPT_WINDOW:
		if (parse_seconds(arg, 1, 3600, &o->window_s)) {
			opt_err("--window %s: expected a duration from 1s to 1h, as in 10s or 1m", arg);
			return 2;
		}
		break;
	case OPT_EXPORT:
		if (strncmp(arg, "clickhouse=", 11) || !arg[11]) {
			opt_err("--export %s: expected clickhouse=URL, as in clickhouse=http://127.0.0.1:8123/", arg);
			return 2;
		}
		o->export_url = arg + 11;
		break;
	case OPT_HOST_NAME:
		if (!arg[0] || strlen(arg) > 255 || strpbrk(arg, "\t\n\r")) {
			opt_err("--host-name %s: expected a name of 1 to 255 bytes, without tabs or newlines", arg);
			return 2;
		}
		o->host_name = arg;
		break;
	case OPT_EXPORT_SPOOL:
		if (params__parse_size(arg, &o->export_spool) || o->export_spool < 4096) {
			opt_err("--export-spool %s: expected a size of 4K or more, as in 256M", arg);
			return 2;
		}
		break;
	case OPT_EXPORT_CA:
		o->export_ca = arg;
		break;
	case OPT_STORE:
		if (arg[0] != '/' && strcmp(arg, "none")) {
			opt_err("--store %s: expected an absolute path, or none", arg);
			return 2;
		}
		o->store = arg;
		break;
	case OPT_RETENTION: {
		const char *comma = strchr(arg, ',');
		char size[32] = "";
		int age;

		if (comma && (size_t)(comma - arg) < sizeof(size))
			memcpy(size, arg, (size_t)(comma - arg));
		if (!size[0] || params__parse_size(size, &o->retention_bytes) ||
		    o->retention_bytes < (64ull << 10) ||
		    parse_seconds(comma + 1, 60, 3650 * 86400, &age)) {
			opt_err("--retention %s: expected SIZE,AGE with SIZE 64K or more and AGE from 1m to 3650d, as in 1G,14d",
				arg);
			return 2;
		}
		o->retention_age_s = (uint64_t)age;
		break;
	}
	case OPT_HEAP_RATE:
		if (params__parse_size(arg, &o->heap_rate) || !o->heap_rate ||
		    o->heap_rate > (1ull << 32)) {
			opt_err("--heap-rate %s: expected bytes from 1 to 4G, as in 512K", arg);
			return 2;
		}
		break;
	case OPT_OFFCPU_MIN: {
		int us;

		if (parse_int(arg, 0, 1000000, &us)) {
			opt_err("--offcpu-min %s: expected microseconds from 0 to 1000000", arg);
			return 2;
		}
		o->offcpu_min_ns = (uint64_t)us * 1000;
		break;
	}
	case OPT_OFFCPU_RATE: {
		int us;

		if (parse_int(arg, 0, 1000000, &us)) {
			opt_err("--offcpu-rate %s: expected microseconds from 0 to 1000000", arg);
			return 2;
		}
		o->offcpu_rate_ns = (uint32_t)us * 1000;
		break;
	}
	case OPT_OFFCPU_READS: {
		int n;

		if (parse_int(arg, 0, 1000000, &n)) {
			opt_err("--offcpu-reads %s: expected waits a second per CPU, from 0 (no bound) to 1000000", arg);
			return 2;
		}
		o->offcpu_reads = (uint32_t)n;
		break;
	}
	case OPT_LOCK_RATE: {
		int us;

		if (parse_int(arg, 0, 1000000, &us)) {
			opt_err("--lock-rate %s: expected microseconds from 0 to 1000000", arg);
			return 2;
		}
		o->lock_rate_ns = (uint64_t)us * 1000;
		break;
	}
	case OPT_FP:
		o->frame_pointers = true;
		break;
	case OPT_MEMORY:
		if (params__parse_size(arg, &o->memory) || o->memory < (16ull << 20)) {
			opt_err("--memory %s: expected a size of 16M or more, as in 96M or 1G", arg);
			return 2;
		}
		break;
	case OPT_UNWIND_MEMORY:
		if (params__parse_size(arg, &o->unwind_memory) || o->unwind_memory < (1ull << 20)) {
			opt_err("--unwind-memory %s: expected a size of 1M or more, as in 256M", arg);
			return 2;
		}
		break;
	case OPT_PARSER_TIMEOUT:
		if (parse_int(arg, 1, 3600, &o->parser_timeout)) {
			opt_err("--parser-timeout %s: expected seconds, 1 to 3600", arg);
			return 2;
		}
		break;
	case OPT_PARSER_MEMORY:
		if (params__parse_size(arg, &o->parser_memory) || o->parser_memory < (64ull << 20)) {
			opt_err("--parser-memory %s: expected a size of 64M or more, as in 512M", arg);
			return 2;
		}
		break;
	case OPT_CONFIG:
		o->config = arg;
		break;
	case OPT_GROUP:
		o->group = arg;
		break;
	case OPT_TLS_CERT:
		o->tls_cert = arg;
		break;
	case OPT_TLS_KEY:
		o->tls_key = arg;
		break;
	case OPT_TOKEN_FILE:
		o->token_file = arg;
		break;
	case 'v':
		o->verbose = true;
		break;
	case 'h':
		fputs(usage, stdout);
		return -1;
	case OPT_VERSION:
		printf("cprofd %s\n", CPROFD_VERSION);
		return -1;
	default:
		fputs(usage, stderr);
		return 2;
	}
	return 0;
}

static char *keep(struct options *o, const char *s, size_t len)
{
	char **p = realloc(o->owned, (o->nr_owned + 1) * sizeof(*p));

	if (!p)
		return NULL;
	o->owned = p;
	p[o->nr_owned] = strndup(s, len);
	return p[o->nr_owned] ? p[o->nr_owned++] : NULL;
}

#define CONFIG_MAX_BYTES (1 << 20)

/* The config file: "key = value" a line (or "key value"), keys the long
 * flags without their dashes, '#' comments, flags without a value as
 * "key = true" (or false, or the key alone). 0, or the exit status. */
static int read_config(struct options *o, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t n;
	int lineno = 0, ret = 0;

	if (!f) {
		opt_err("--config %s: %s", path, strerror(errno));
		return 2;
	}
	while (!ret && (n = getline(&line, &cap, f)) >= 0) {
		const struct option *opt = NULL;
		char *k = line, *v, *end;
		size_t klen;

		lineno++;
		total += (size_t)n;
		snprintf(opt_where, sizeof(opt_where), "%s:%d: ", path, lineno);
		if (total > CONFIG_MAX_BYTES || memchr(line, '\0', (size_t)n)) {
			opt_err("not a config file (over 1 MiB, or binary)");
			ret = 2;
			break;
		}
		k += strspn(k, " \t");
		end = k + strlen(k);
		while (end > k && strchr(" \t\r\n", end[-1]))
			*--end = '\0';
		if (!*k || *k == '#')
			continue;
		klen = strcspn(k, " \t=");
		v = k + klen;
		v += strspn(v, " \t");
		if (*v == '=')
			v++;
		v += strspn(v, " \t");
		for (const struct option *l = longopts; l->name; l++)
			if (strlen(l->name) == klen && !strncmp(l->name, k, klen))
				opt = l;
		if (!opt || opt->val == 'h' || opt->val == OPT_VERSION || opt->val == OPT_CONFIG) {
			opt_err("unknown setting '%.*s': settings are cprofd's long flags without "
				"their dashes, as in hz = 99", (int)(klen > 64 ? 64 : klen), k);
			ret = 2;
			break;
		}
		if (opt->has_arg == no_argument) {
			if (*v && strcmp(v, "true") && strcmp(v, "false")) {
				opt_err("%s takes true or false, not '%.64s'", opt->name, v);
				ret = 2;
			} else if (strcmp(v, "false")) {
				ret = apply_opt(o, opt->val, NULL);
			}
			continue;
		}
		if (!*v) {
			opt_err("%s needs a value, as in %s = ...", opt->name, opt->name);
			ret = 2;
			break;
		}
		v = keep(o, v, strlen(v));
		if (!v) {
			opt_err("out of memory");
			ret = 2;
			break;
		}
		ret = apply_opt(o, opt->val, v);
	}
	opt_where[0] = '\0';
	free(line);
	fclose(f);
	return ret < 0 ? 2 : ret;
}

/* Defaults, then the config file if one is named, then the command line.
 * 0, or the exit status to leave with (-1: leave with 0). */
static int parse_args(int argc, char **argv, struct options *o)
{
	int c, ret;

	set_defaults(o);
	/* the file first, so that flags given with it override it */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1)
		if (c == OPT_CONFIG)
			o->config = optarg;
	if (o->config) {
		ret = read_config(o, o->config);
		if (ret)
			return ret;
	}
	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		ret = apply_opt(o, c, optarg);
		if (ret)
			return ret;
	}
	if (optind < argc) {
		fprintf(stderr, "cprofd: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	if (!o->tls_cert != !o->tls_key) {
		opt_err("--tls-cert and --tls-key go together: give both, or neither");
		return 2;
	}
	/* --continuous all, for the whole host, leaves out the views fed by
	 * allocator probes: kept on, every malloc and free of every process
	 * traps (a compile took 3.3 times as long here); named, they stay */
	o->continuous_left = 0;
	if (o->continuous_all && !o->nr_pids && targets__empty(&o->targets)) {
		o->continuous_left = o->continuous & alloc_views() & ~o->continuous_named;
		o->continuous &= ~o->continuous_left;
	}
	return 0;
}

/* New processes are announced here, and their maps must be read before
 * they exit: among thousands of busy threads a thread of normal priority
 * waits seconds for its turn, so this one asks for a real-time priority
 * (its work is bounded: one maps file a process). */
static void *event_loop(void *arg)
{
	struct cprofd *d = arg;

	while (!d->stopping)
		core__poll_events(d->core, 200);
	return NULL;
}

static void on_process_exit(void *arg, const struct proc_instance *in)
{
	struct cprofd *d = arg;

	core__process_exited(d->core, in);
	for (int i = 0; i < d->nr_pids; i++)
		if (d->pids[i] == (int)in->pid) {
			log_info("pid %u exited: profiles of it are empty from now on%s", in->pid,
				 d->nr_pids > 1 ? "" : "; restart cprofd with --pid of a running process");
			__atomic_add_fetch(&d->targets_exited, 1, __ATOMIC_RELAXED);
		}
}

/* Now and then: exited processes' records leave the tracks (the history
 * does that after its cuts, when there is one), and the process table
 * lets go of exited processes no window needs. */
static void gc(struct cprofd *d)
{
	struct window *tracks[2];
	size_t nr = 0;
	int64_t keep = core__oldest_window(d->core), since;
	struct timespec ts;

	if (d->heap_track)
		tracks[nr++] = d->heap_track;
	if (d->lock_track)
		tracks[nr++] = d->lock_track;
	if (nr && !d->history)
		cprofd__retire(d, tracks, nr, NULL, NULL, 0);
	if (nr) {
		/* what the tracks still hold of processes gone lately */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		since = ts.tv_sec * 1000000000LL + ts.tv_nsec - TRACK_KEEP_NS(d->window_s);
		keep = d->nr_pids ? INT64_MIN : since < keep ? since : keep;
	}
	proctab__gc(d->proctab, keep);
}

/* glibc gives each thread that allocates an arena of its own, and keeps
 * freed memory in them: a daemon whose HTTP threads build profiles then
 * grows for hours. Two arenas, and a fixed mmap threshold (the dynamic one
 * moves large blocks into the heap after they are freed once), keep the
 * memory returned. */
static void tune_malloc(void)
{
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
}

/* Objects with DWARF keep their file open (up to the symbol cache's 1024):
 * take the hard limit on descriptors rather than the usual 1024. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_debug("cannot raise the open-file limit: %s", strerror(errno));
}

/* Targets by name and --pid's processes: what core__set_targets takes. */
static int all_targets(const struct targets_spec *names, const struct options *o,
		       struct targets_spec *all)
{
	int e = targets__copy(all, names);

	for (int i = 0; !e && i < o->nr_pids; i++)
		e = targets__add_pid(all, o->pids[i]);
	return e;
}

static void print_start(const struct options *o, const struct core_stats *cs)
{
	struct targets_spec all = { 0 };
	char who[256] = "every process", served[128] = "", names[64];
	size_t n = 0;

	if (!all_targets(&o->targets, o, &all))
		targets__describe(&all, who, sizeof(who));
	targets__clear(&all);
	if (targets__has_names(&o->targets))
		log_info("%llu running processes match %s; those that start later are matched as they exec",
			 (unsigned long long)cs->targets_scanned, who);
	for (size_t i = 0; i < nr_views && n < sizeof(served); i++)
		if ((o->views & (1u << i)) && (cs->sources & views[i].sources) == views[i].sources)
			n += snprintf(served + n, sizeof(served) - n, "%s%s", n ? ", " : "", views[i].name);
	log_info("profiling %s: views %s; cpu at %d Hz, user stacks by %s; serving http://%s/debug/pprof/%s%s",
		 who, served, o->hz, cs->dwarf_unwind ? "unwind tables (.eh_frame)" :
		 o->frame_pointers ? "frame pointers" : "frame pointers (this kernel lacks bpf_loop)", strcmp(o->listen, "none") ? o->listen : "(no tcp)",
		 strcmp(o->socket, "none") ? " and " : "", strcmp(o->socket, "none") ? o->socket : "");
	if (o->continuous_left) {
		view_names(o->continuous_left, names, sizeof(names));
		log_info("--continuous all leaves %s out for the whole host: kept on, every malloc and free of every process traps into their probes (about %.2f us a call here); name them (--continuous all,%s) to keep them anyway, or give targets (--pid, --comm, --exe, --cgroup); seconds=N profiles of them work as before",
			 names, cs->heap.call_ns / 1000, o->continuous_left == alloc_views() ? "heap,allocs" : names);
	}
	if ((o->continuous & alloc_views()) && !o->nr_pids && targets__empty(&o->targets)) {
		view_names(o->continuous & alloc_views(), names, sizeof(names));
		log_info("warning: %s kept on for the whole host (--continuous): every malloc and free of every process traps into their probes, about %.2f us a call here; an allocation-heavy program (a compiler) can run several times slower",
			 names, cs->heap.call_ns / 1000);
	}
	if (cs->sources & SOURCE_ALLOC)
		log_info("allocations sampled one per %llu bytes on average (--heap-rate), by uprobes on each target's allocator (%s)%s; each allocator call of a target costs about %.2f us while they are attached%s",
			 (unsigned long long)cs->heap_rate,
			 cs->heap.sessions ? "sessions: unsampled calls pay the entry probe only" :
			 "entry and return probes: this kernel has no uprobe sessions",
			 o->nr_pids || (o->continuous & alloc_views()) ? ", attached all the time (--pid, --continuous)" :
			 ", attached while heap or allocs profiles run",
			 cs->heap.call_ns / 1000, cs->heap.call_ns ? "" : " (not measured)");
	if (cs->sources & SOURCE_FUTEX)
		log_info("futex waits and wakes traced where threads sleep and wake (%s sched_switch and sched_waking) %s; waits and blame under %llu us sampled (--lock-rate); uncontended locks never enter the kernel and pay nothing",
			 cs->lock_raw ? "raw_tp" : "tp_btf",
			 o->nr_pids || o->continuous ? "all the time (--pid, --continuous)" :
			 "while block or mutex profiles run", (unsigned long long)(cs->lock_rate_ns / 1000));
	if (cs->sources & SOURCE_SCHED) {
		char reads[96];

		if (cs->offcpu_reads && cs->offcpu_rate_ns)
			snprintf(reads, sizeof(reads), "a rate raised by a CPU that reads more than %u waits' stacks a second (--offcpu-reads)",
				 cs->offcpu_reads);
		else
			snprintf(reads, sizeof(reads), "no bound on the stacks read (--offcpu-reads)");
		log_info("off-CPU intervals from %llu us recorded (--offcpu-min), those under %u us sampled (--offcpu-rate), %s, by the scheduler programs (%s, %u instructions; user stacks read %s), attached while offcpu or wall profiles run",
			 (unsigned long long)(cs->offcpu_min_ns / 1000), cs->offcpu_rate_ns / 1000,
			 reads,
			 cs->sched_raw ? "raw_tp" : "tp_btf", cs->sched_insns,
			 cs->sched_rseq ? "as threads go back to user code (rseq_update), or as they leave if not registered with rseq" :
			 "at system calls' exits (sys_exit: every system call of the host takes the kernel's slow path meanwhile)");
	}
	log_info("kernel maps: %u samples and %u stacks per generation (%d CPUs x %d Hz at most: --hz %d plus hz= requests up to %d), %.0f MiB",
		 cs->counts_entries, cs->stacks_entries, cs->nr_cpus, cs->max_hz, o->hz,
		 cs->max_hz - o->hz, cs->kernel_map_bytes / 1048576.0);
	if (cs->dwarf_unwind)
		log_info("unwind tables: on demand up to %.0f MiB (--unwind-memory), with %.0f MiB of index, slots and caches made now",
			 cs->unwind.rows_total * sizeof(struct unwind_row) / 1048576.0,
			 cs->unwind_fixed_bytes / 1048576.0);
	log_info("memory budget %.0f MiB (--memory): symbols %.0f, windows %.0f, exited processes %.0f; "
		 "files are parsed in two processes of their own, as nobody, up to %.0f MiB each (--parser-memory)",
		 o->memory / 1048576.0, o->memory * 0.40 / 1048576.0, o->memory * 0.25 / 1048576.0,
		 o->memory * 0.15 / 1048576.0, o->parser_memory / 1048576.0);
}

/* A PEM file root configured, read whole (at most 1 MiB). NULL and the
 * reason in err. */
static char *read_pem(const char *flag, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n = 0;

	if (f) {
		buf = calloc(1, (1 << 20) + 1);
		n = buf ? fread(buf, 1, 1 << 20, f) : 0;
	}
	if (!f || !buf || ferror(f) || n == 1 << 20 || !strstr(buf, "-----BEGIN ")) {
		snprintf(err, errlen, "%s %s: %s", flag, path,
			 !f ? strerror(errno) : !buf ? "out of memory" : "not a PEM file of at most 1 MiB");
		free(buf);
		buf = NULL;
	}
	if (f)
		fclose(f);
	return buf;
}

/* Whether the TCP listener can be reached from other hosts. */
static bool listens_beyond_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &len))
		return false;
	return !access__is_loopback((struct sockaddr *)&ss);
}

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* SIGHUP: the config file again. What can change while running changes
 * (the sampling rate, who sees what, tokens, verbosity); the rest is said
 * to need a restart. Profiles in progress and collected go on. */
static void reload(struct cprofd *d, struct options *o, int argc, char **argv, bool remote)
{
	struct options n = { 0 };
	struct access_policy *ap, *old;
	char err[512] = "";
	int ret;

	if (!o->config) {
		log_info("SIGHUP: cprofd was started without --config: nothing to read again");
		return;
	}
	ret = parse_args(argc, argv, &n);
	if (ret) {
		log_error("SIGHUP: %s has errors (above): the settings in force are kept", o->config);
		options_free(&n);
		return;
	}
	ap = access__new(n.group, n.token_file, err, sizeof(err));
	if (ap && remote && !access__has_tokens(ap)) {
		snprintf(err, sizeof(err), "--listen %s is reachable from other hosts, and needs a --token-file", o->listen);
		access__free(ap);
		ap = NULL;
	}
	if (!ap) {
		log_error("SIGHUP: %s: the settings in force are kept", err);
		options_free(&n);
		return;
	}
	pthread_rwlock_wrlock(&d->access_lock);
	old = d->access;
	d->access = ap;
	pthread_rwlock_unlock(&d->access_lock);
	access__free(old);
	o->group = n.group;
	o->token_file = n.token_file;
	if (n.hz != o->hz) {
		int e = core__set_hz(d->core, n.hz);

		if (e) {
			log_error("SIGHUP: cannot sample at %d Hz (%s): still %d Hz; restart cprofd for it",
				  n.hz, e == -EBUSY ? "past what the kernel maps were sized for at start" : strerror(-e),
				  o->hz);
		} else {
			log_info("SIGHUP: sampling at %d Hz (was %d)", n.hz, o->hz);
			o->hz = d->hz = n.hz;
		}
	}
	if (n.verbose != o->verbose) {
		o->verbose = n.verbose;
		log_level = o->verbose ? LOG_DEBUG : LOG_INFO;
	}
#define NEEDS_RESTART(cond, name) \
	if (cond) \
		log_warn("SIGHUP: %s changed in %s: it takes effect when cprofd restarts", name, o->config)
	NEEDS_RESTART(!same_str(n.listen, o->listen), "listen");
	NEEDS_RESTART(!same_str(n.socket, o->socket), "socket");
	NEEDS_RESTART(!same_str(n.tls_cert, o->tls_cert) || !same_str(n.tls_key, o->tls_key), "tls-cert or tls-key");
	NEEDS_RESTART(n.nr_pids != o->nr_pids || memcmp(n.pids, o->pids, n.nr_pids * sizeof(int)), "pid");
	if (!targets__same(&n.targets, &o->targets)) {
		struct targets_spec all = { 0 };
		char who[256];
		int e = all_targets(&n.targets, o, &all);

		if (e)
			snprintf(err, sizeof(err), "out of memory");
		else
			e = core__set_targets(d->core, &all, err, sizeof(err));
		if (e) {
			log_error("SIGHUP: cannot change the targets: %s", err);
		} else {
			targets__describe(&all, who, sizeof(who));
			log_info("SIGHUP: profiling %s", who);
			targets__clear(&o->targets);
			o->targets = n.targets;
			memset(&n.targets, 0, sizeof(n.targets));
		}
		targets__clear(&all);
	}
	NEEDS_RESTART(n.memory != o->memory, "memory");
	NEEDS_RESTART(n.unwind_memory != o->unwind_memory, "unwind-memory");
	NEEDS_RESTART(n.parser_memory != o->parser_memory, "parser-memory");
	NEEDS_RESTART(n.parser_timeout != o->parser_timeout, "parser-timeout");
	NEEDS_RESTART(n.frame_pointers != o->frame_pointers, "frame-pointers");
	NEEDS_RESTART(n.views != o->views, "views");
	NEEDS_RESTART(n.offcpu_min_ns != o->offcpu_min_ns, "offcpu-min");
	NEEDS_RESTART(n.offcpu_rate_ns != o->offcpu_rate_ns, "offcpu-rate");
	NEEDS_RESTART(n.offcpu_reads != o->offcpu_reads, "offcpu-reads");
	NEEDS_RESTART(n.heap_rate != o->heap_rate, "heap-rate");
	NEEDS_RESTART(n.lock_rate_ns != o->lock_rate_ns, "lock-rate");
	NEEDS_RESTART(n.continuous != o->continuous, "continuous");
	NEEDS_RESTART(n.window_s != o->window_s, "window");
	NEEDS_RESTART(!same_str(n.store, o->store), "store");
	NEEDS_RESTART(n.retention_bytes != o->retention_bytes ||
		      n.retention_age_s != o->retention_age_s, "retention");
#undef NEEDS_RESTART
	/* what the new settings point into stays */
	for (size_t i = 0; i < n.nr_owned; i++)
		if (keep(o, "", 0)) {
			free(o->owned[o->nr_owned - 1]);
			o->owned[o->nr_owned - 1] = n.owned[i];
			n.owned[i] = NULL;
		}
	options_free(&n);
	log_info("SIGHUP: %s read again; who may see what: group %s%s", o->config,
		 o->group && o->group[0] ? o->group : "(none)", o->token_file ? ", tokens from --token-file" : "");
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct cprofd d = { 0 };
	struct core_opts co = { 0 };
	struct isolate *tables = NULL;
	struct http_server *http = NULL;
	struct http_tls tls = { 0 };
	bool remote = false;
	pthread_t events_thread;
	bool events_started = false;
	int tcp_fd = -1, unix_fd = -1, ret = 1, sig, ticks = 0;
	struct timespec interval = { TICK_MS / 1000, (TICK_MS % 1000) * 1000000L };
	char err[512];
	sigset_t sigs;

	/* cprofd's parser processes are cprofd too (parserd.h) */
	if (argc > 1 && !strcmp(argv[1], "--parser"))
		return parserd__main(argc, argv);
	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	ret = 1;
	tune_malloc();
	log_level = o.verbose ? LOG_DEBUG : LOG_INFO;
	libbpf_set_print(libbpf_print);

	if (geteuid() != 0) {
		log_error("must run as root: BPF programs and system-wide perf events need it; try: sudo cprofd");
		return 1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		log_error("this kernel has no BTF (/sys/kernel/btf/vmlinux is missing); cprofd needs a kernel built with CONFIG_DEBUG_INFO_BTF=y");
		return 1;
	}
	for (int i = 0; i < o.nr_pids; i++)
		if (!proc_alive(o.pids[i])) {
			log_error("cannot profile pid %d: no such process", o.pids[i]);
			return 1;
		}

	/* Signals go to this thread only, taken synchronously below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* before any thread: libcurl's global state (--export) */
	if (o.export_url && curl_global_init(CURL_GLOBAL_DEFAULT)) {
		log_error("cannot start libcurl for --export");
		return 1;
	}

	if (strcmp(o.listen, "none")) {
		tcp_fd = http__listen_tcp(o.listen, err, sizeof(err));
		if (tcp_fd < 0) {
			log_error("%s", err);
			goto cleanup;
		}
	}
	if (strcmp(o.socket, "none")) {
		unix_fd = http__listen_unix(o.socket, err, sizeof(err));
		if (unix_fd < 0) {
			log_error("%s", err);
			goto cleanup;
		}
	}
	pthread_rwlock_init(&d.access_lock, NULL);
	d.access = access__new(o.group, o.token_file, err, sizeof(err));
	if (!d.access) {
		log_error("%s", err);
		goto cleanup;
	}
	if (o.tls_cert) {
		tls.cert_pem = read_pem("--tls-cert", o.tls_cert, err, sizeof(err));
		tls.key_pem = tls.cert_pem ? read_pem("--tls-key", o.tls_key, err, sizeof(err)) : NULL;
		if (!tls.key_pem) {
			log_error("%s", err);
			goto cleanup;
		}
	}
	/* Beyond loopback no one is known by the kernel: a token proves who
	 * may see, and TLS keeps it, and the profiles, from the wire. */
	remote = listens_beyond_loopback(tcp_fd);
	if (remote && (!o.tls_cert || !access__has_tokens(d.access))) {
		log_error("--listen %s can be reached from other hosts: serve it with --tls-cert and --tls-key, and give clients' bearer tokens with --token-file (or listen on 127.0.0.1)",
			  o.listen);
		goto cleanup;
	}

	d.hz = o.hz;
	d.pids = o.nr_pids ? o.pids : NULL;
	d.nr_pids = o.nr_pids;
	d.started_ns = time(NULL) * 1000000000LL;
	if (gethostname(d.host, sizeof(d.host) - 1) || !d.host[0])
		snprintf(d.host, sizeof(d.host), "localhost");
	pthread_mutex_init(&d.sym_lock, NULL);
	pthread_mutex_init(&d.stats_lock, NULL);
	d.proctab = proctab__new(PROCESS_RETENTION_NS, o.memory * 15 / 100);
	raise_fd_limit();
	/* every file a user may have written is parsed in these */
	d.symbols = isolate__new(&(struct isolate_opts){
		.role = "symbols", .max_data = o.parser_memory, .cache_bytes = o.memory * 40 / 100,
		.deadline_ns = o.parser_timeout * 1000000000ull });
	tables = isolate__new(&(struct isolate_opts){
		.role = "tables", .max_data = o.parser_memory, .deadline_ns = o.parser_timeout * 1000000000ull });
	d.tables = tables;
	d.vdso = vdso__new();
	if (!d.proctab || !d.symbols || !tables || !d.vdso) {
		log_error("out of memory");
		goto cleanup;
	}
	d.ksyms = ksyms__load();
	if (!d.ksyms)
		log_warn("cannot read kernel symbols from /proc/kallsyms (%s): kernel frames will show as addresses",
			 strerror(errno));

	co.hz = o.hz;
	d.views = o.views;
	for (size_t i = 0; i < nr_views; i++)
		if (o.views & (1u << i))
			co.sources |= views[i].sources;
	co.offcpu_min_ns = o.offcpu_min_ns;
	co.offcpu_rate_ns = o.offcpu_rate_ns;
	co.offcpu_reads = o.offcpu_reads;
	co.heap_rate = o.heap_rate;
	co.lock_rate_ns = o.lock_rate_ns;
	co.kernel_stacks = true;
	co.pids = d.pids;
	co.nr_pids = d.nr_pids;
	co.targets = &o.targets;
	co.frame_pointers_only = o.frame_pointers;
	co.unwind_bytes = o.unwind_memory;
	co.tables_parser = tables;
	co.window_bytes = o.memory * 25 / 100;
	d.core = core__new(&co, d.proctab, err, sizeof(err));
	if (!d.core) {
		log_error("%s", err);
		goto cleanup;
	}
	proctab__set_exit_hook(d.proctab, on_process_exit, &d);
	/* --pid targets, as Go programs importing net/http/pprof, and
	 * --continuous heap: the allocator tracked from now on */
	for (size_t i = 0; i < nr_views; i++) {
		struct window **track = views[i].window == WINDOW_HEAP ? &d.heap_track :
					views[i].window == WINDOW_LOCK ? &d.lock_track : NULL;

		if (!track || *track || !(o.views & (1u << i)) ||
		    !core__has_sources(d.core, views[i].sources) ||
		    !(d.nr_pids || (o.continuous & (1u << i))))
			continue;
		*track = core__open_window(d.core, views[i].window, 0, 0);
		if (*track)
			(*track)->track = true;
		if (!*track)
			log_error("cannot track %s: %s; the %s views answer seconds=N only",
				  track == &d.heap_track ? "the allocator" : "futex waits",
				  strerror(errno), track == &d.heap_track ? "heap and allocs" : "block and mutex");
	}
	for (size_t i = 0; i < nr_views && !strcmp(o.store, "none"); i++)
		if ((o.continuous & o.views & (1u << i)) && !views[i].cumulative) {
			log_error("--continuous %s needs a history to keep its windows in: leave --store none out, or give --store DIR",
				  views[i].name);
			goto cleanup;
		}
	if (o.export_url && (!(o.continuous & o.views) || !strcmp(o.store, "none"))) {
		log_error("--export sends the windows the history keeps: give --continuous VIEW,... (or all), and a --store");
		goto cleanup;
	}
	if ((o.continuous & o.views) && strcmp(o.store, "none")) {
		struct store_opts so = {
			.dir = o.store, .max_bytes = o.retention_bytes,
			.max_age_ns = o.retention_age_s * 1000000000ull,
		};
		struct history_opts ho = {
			.d = &d, .views = o.continuous & o.views, .window_s = o.window_s,
		};

		d.store = store__open(&so);
		if (!d.store) {
			log_error("cannot keep the history in %s: %s; give --store DIR, or leave --continuous out",
				  o.store, strerror(errno));
			goto cleanup;
		}
		ho.store = d.store;
		if (o.export_url) {
			struct export_opts eo = {
				.url = o.export_url, .host = o.host_name ? o.host_name : d.host,
				.spool_bytes = o.export_spool, .ca_file = o.export_ca,
			};
			char spool[PATH_MAX], err[512];

			snprintf(spool, sizeof(spool), "%s/export-spool", o.store);
			eo.spool_dir = spool;
			d.export = export__start(&eo, err, sizeof(err));
			if (!d.export) {
				log_error("%s", err);
				goto cleanup;
			}
		}
		d.window_s = o.window_s;
		d.continuous = o.continuous & o.views;
		d.history = history__start(&ho);
		if (!d.history) {
			log_error("cannot start the history: %s", strerror(errno));
			goto cleanup;
		}
	}
	if (pthread_create(&events_thread, NULL, event_loop, &d)) {
		log_error("cannot start a thread: %s", strerror(errno));
		goto cleanup;
	}
	events_started = true;
	pthread_setname_np(events_thread, "cprofd-events");
	/* set from here, before the capability it takes is dropped */
	{
		struct sched_param sp = { .sched_priority = 1 };
		int e = pthread_setschedparam(events_thread, SCHED_FIFO, &sp);

		if (e)
			log_debug("the events thread keeps its normal priority (%s)", strerror(e));
	}
	http = http__start(&d, tcp_fd, unix_fd, o.tls_cert ? &tls : NULL);
	if (!http) {
		log_error(o.tls_cert ? "cannot start the HTTPS server: is %s the certificate for the key %s?"
				     : "cannot start the HTTP server%s%s", o.tls_cert ? o.tls_cert : "",
			  o.tls_key ? o.tls_key : "");
		goto cleanup;
	}
	/* Everything that needed more is done: keep what profiling needs. */
	{
		int e = caps__drop_to(caps__runtime());

		if (e)
			log_warn("cannot drop the capabilities cprofd no longer needs (%s): it keeps them",
				 strerror(-e));
	}
	{
		struct core_stats cs;

		core__stats(d.core, &cs);
		print_start(&o, &cs);
	}

	for (;;) {
		sig = sigtimedwait(&sigs, NULL, &interval);
		if (sig == SIGHUP) {
			reload(&d, &o, argc, argv, remote);
			continue;
		}
		if (sig > 0) {
			log_info("%s: detaching and exiting", strsignal(sig));
			break;
		}
		if (++ticks % GC_EVERY_TICKS == 0) {
			gc(&d);
			malloc_trim(0);
		}
	}
	ret = 0;
cleanup:
	d.stopping = true;
	http__stop(http);
	if (events_started)
		pthread_join(events_thread, NULL);
	if (d.proctab)
		proctab__set_exit_hook(d.proctab, NULL, NULL);
	/* before the tracks it cuts from, while the processes are known */
	history__stop(d.history);
	/* after the history, which hands it windows */
	export__stop(d.export);
	store__free(d.store);
	for (int i = 0; i < 2; i++) {
		struct window *track = i ? d.lock_track : d.heap_track;

		if (!track)
			continue;
		core__close_window(d.core, track);
		core__free_window(d.core, track);
	}
	core__free(d.core);
	if (unix_fd >= 0) {
		close(unix_fd);
		unlink(o.socket);
	}
	if (tcp_fd >= 0)
		close(tcp_fd);
	ksyms__free(d.ksyms);
	access__free(d.access);
	free((char *)tls.cert_pem);
	if (tls.key_pem)
		explicit_bzero((char *)tls.key_pem, strlen(tls.key_pem));
	free((char *)tls.key_pem);
	options_free(&o);
	isolate__free(d.symbols);
	isolate__free(tables);
	vdso__free(d.vdso);
	proctab__free(d.proctab);
	return ret;
}
