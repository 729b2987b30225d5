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
#include "cpuview.h"
#include "cprofd.h"
#include "http.h"
#include "ksyms.h"
#include "log.h"
#include "params.h"
#include "proctab.h"
#include "isolate.h"
#include "parserd.h"
#include "vdso.h"

#define CPROFD_VERSION "0.1.0"
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

struct options {
	int pids[PARAMS_MAX_PIDS];
	int nr_pids;
	const char *listen;
	const char *socket;
	int hz;
	uint64_t memory;		/* the daemon's memory budget */
	uint64_t unwind_memory;		/* unwind tables' (kernel) budget; 0: from the host */
	uint64_t parser_memory;		/* each parser process's data limit */
	int parser_timeout;		/* seconds one request may take it */
	bool frame_pointers;
	bool verbose;
};

static const char usage[] =
	"usage: cprofd [--pid N]... [--listen HOST:PORT | --listen none] [--socket PATH | --socket none]\n"
	"              [--hz N] [--views cpu] [--memory SIZE] [--unwind-memory SIZE]\n"
	"              [--parser-memory SIZE] [--parser-timeout SECONDS] [--frame-pointers] [-v]\n"
	"Serve pprof profiles of this host's processes at http://127.0.0.1:6070/debug/pprof/.\n"
	"  --pid N          profile only process N and its threads (repeatable); default: every process\n"
	"  --listen H:P     TCP address to serve on (default 127.0.0.1:6070), or none\n"
	"  --socket PATH    Unix socket to serve on (default /run/cprofd.sock), or none\n"
	"  --hz N           CPU sampling rate, 1 to 1000 (default 99)\n"
	"  --views LIST     views to run; this version has: cpu\n"
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

static int parse_views(const char *list, const char *opt)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "cpu")) {
			fprintf(stderr, "cprofd: %s: the %s view is not available in this version (it has: cpu)\n",
				opt, tok);
			err = -EINVAL;
			break;
		}
	}
	free(copy);
	return err;
}

/* 0, or the exit status to leave with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	enum { OPT_PID = 256, OPT_LISTEN, OPT_SOCKET, OPT_HZ, OPT_VIEWS, OPT_CONTINUOUS,
	       OPT_HEAP_RATE, OPT_OFFCPU_MIN, OPT_VERSION, OPT_FP, OPT_MEMORY, OPT_UNWIND_MEMORY,
	       OPT_PARSER_MEMORY, OPT_PARSER_TIMEOUT };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, OPT_PID },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "hz", required_argument, NULL, OPT_HZ },
		{ "views", required_argument, NULL, OPT_VIEWS },
		{ "continuous", required_argument, NULL, OPT_CONTINUOUS },
		{ "heap-rate", required_argument, NULL, OPT_HEAP_RATE },
		{ "offcpu-min", required_argument, NULL, OPT_OFFCPU_MIN },
		{ "frame-pointers", no_argument, NULL, OPT_FP },
		{ "memory", required_argument, NULL, OPT_MEMORY },
		{ "unwind-memory", required_argument, NULL, OPT_UNWIND_MEMORY },
		{ "parser-memory", required_argument, NULL, OPT_PARSER_MEMORY },
		{ "parser-timeout", required_argument, NULL, OPT_PARSER_TIMEOUT },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	int c, pid;

	o->listen = "127.0.0.1:6070";
	o->socket = "/run/cprofd.sock";
	o->hz = 99;
	o->memory = DEFAULT_MEMORY;
	o->parser_memory = DEFAULT_PARSER_MEMORY;
	o->parser_timeout = DEFAULT_PARSER_TIMEOUT;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PID:
			if (parse_int(optarg, 1, 4194304, &pid)) {
				fprintf(stderr, "cprofd: --pid %s: expected a process id\n", optarg);
				return 2;
			}
			if (o->nr_pids == PARAMS_MAX_PIDS) {
				fprintf(stderr, "cprofd: --pid: at most %d processes\n", PARAMS_MAX_PIDS);
				return 2;
			}
			o->pids[o->nr_pids++] = pid;
			break;
		case OPT_LISTEN:
			o->listen = optarg;
			break;
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case OPT_HZ:
			if (parse_int(optarg, 1, PARAMS_MAX_HZ, &o->hz)) {
				fprintf(stderr, "cprofd: --hz %s: expected a rate from 1 to %d\n", optarg,
					PARAMS_MAX_HZ);
				return 2;
			}
			break;
		case OPT_VIEWS:
		case OPT_CONTINUOUS:
			if (parse_views(optarg, c == OPT_VIEWS ? "--views" : "--continuous"))
				return 2;
			break;
		case OPT_HEAP_RATE:
		case OPT_OFFCPU_MIN:
			fprintf(stderr, "cprofd: %s: the %s view is not available in this version\n",
				c == OPT_HEAP_RATE ? "--heap-rate" : "--offcpu-min",
				c == OPT_HEAP_RATE ? "heap" : "offcpu");
			return 2;
		case OPT_FP:
			o->frame_pointers = true;
			break;
		case OPT_MEMORY:
			if (params__parse_size(optarg, &o->memory) || o->memory < (16ull << 20)) {
				fprintf(stderr, "cprofd: --memory %s: expected a size of 16M or more, as in 96M or 1G\n",
					optarg);
				return 2;
			}
			break;
		case OPT_UNWIND_MEMORY:
			if (params__parse_size(optarg, &o->unwind_memory) ||
			    o->unwind_memory < (1ull << 20)) {
				fprintf(stderr, "cprofd: --unwind-memory %s: expected a size of 1M or more, as in 256M\n",
					optarg);
				return 2;
			}
			break;
		case OPT_PARSER_TIMEOUT:
			if (parse_int(optarg, 1, 3600, &o->parser_timeout)) {
				fprintf(stderr, "cprofd: --parser-timeout %s: expected seconds, 1 to 3600\n",
					optarg);
				return 2;
			}
			break;
		case OPT_PARSER_MEMORY:
			if (params__parse_size(optarg, &o->parser_memory) ||
			    o->parser_memory < (64ull << 20)) {
				fprintf(stderr, "cprofd: --parser-memory %s: expected a size of 64M or more, as in 512M\n",
					optarg);
				return 2;
			}
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
	}
	if (optind < argc) {
		fprintf(stderr, "cprofd: unexpected argument '%s'\n%s", argv[optind], usage);
		return 2;
	}
	return 0;
}

/* New processes are announced here, and their maps must be read before
 * they exit: among thousands of busy threads a thread of normal priority
 * waits seconds for its turn, so this one asks for a real-time priority
 * (its work is bounded: one maps file a process). */
static void *event_loop(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	struct cprofd *d = arg;
	int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);

	if (e)
		log_debug("the events thread keeps its normal priority (%s)", strerror(e));
	while (!d->stopping)
		cpuview__poll_events(d->cpu, 200);
	return NULL;
}

static void on_process_exit(void *arg, const struct proc_instance *in)
{
	struct cprofd *d = arg;

	cpuview__process_exited(d->cpu, in);
	for (int i = 0; i < d->nr_pids; i++)
		if (d->pids[i] == (int)in->pid) {
			log_info("pid %u exited: profiles of it are empty from now on%s", in->pid,
				 d->nr_pids > 1 ? "" : "; restart cprofd with --pid of a running process");
			__atomic_add_fetch(&d->targets_exited, 1, __ATOMIC_RELAXED);
		}
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

static void print_start(const struct options *o, const struct cpuview_stats *cs)
{
	char who[256] = "every process";
	int n = 0;

	if (o->nr_pids) {
		n = snprintf(who, sizeof(who), "pid");
		for (int i = 0; i < o->nr_pids && n < (int)sizeof(who) - 16; i++)
			n += snprintf(who + n, sizeof(who) - n, "%s%d", i ? "," : " ", o->pids[i]);
	}
	log_info("profiling %s: cpu at %d Hz, user stacks by %s; serving http://%s/debug/pprof/%s%s",
		 who, o->hz, cs->dwarf_unwind ? "unwind tables (.eh_frame)" :
		 o->frame_pointers ? "frame pointers" : "frame pointers (this kernel lacks bpf_loop)", strcmp(o->listen, "none") ? o->listen : "(no tcp)",
		 strcmp(o->socket, "none") ? " and " : "", strcmp(o->socket, "none") ? o->socket : "");
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

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct cprofd d = { 0 };
	struct cpuview_opts co = { 0 };
	struct isolate *tables = NULL;
	struct http_server *http = NULL;
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
	co.kernel_stacks = true;
	co.pids = d.pids;
	co.nr_pids = d.nr_pids;
	co.frame_pointers_only = o.frame_pointers;
	co.unwind_bytes = o.unwind_memory;
	co.tables_parser = tables;
	co.window_bytes = o.memory * 25 / 100;
	d.cpu = cpuview__new(&co, d.proctab, err, sizeof(err));
	if (!d.cpu) {
		log_error("%s", err);
		goto cleanup;
	}
	proctab__set_exit_hook(d.proctab, on_process_exit, &d);
	if (pthread_create(&events_thread, NULL, event_loop, &d)) {
		log_error("cannot start a thread: %s", strerror(errno));
		goto cleanup;
	}
	events_started = true;
	pthread_setname_np(events_thread, "cprofd-events");
	http = http__start(&d, tcp_fd, unix_fd);
	if (!http) {
		log_error("cannot start the HTTP server");
		goto cleanup;
	}
	{
		struct cpuview_stats cs;

		cpuview__stats(d.cpu, &cs);
		print_start(&o, &cs);
	}

	for (;;) {
		sig = sigtimedwait(&sigs, NULL, &interval);
		if (sig > 0) {
			log_info("%s: detaching and exiting", strsignal(sig));
			break;
		}
		if (++ticks % GC_EVERY_TICKS == 0) {
			proctab__gc(d.proctab, cpuview__oldest_window(d.cpu));
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
	cpuview__free(d.cpu);
	if (unix_fd >= 0) {
		close(unix_fd);
		unlink(o.socket);
	}
	if (tcp_fd >= 0)
		close(tcp_fd);
	ksyms__free(d.ksyms);
	isolate__free(d.symbols);
	isolate__free(tables);
	vdso__free(d.vdso);
	proctab__free(d.proctab);
	return ret;
}
