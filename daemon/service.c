#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bpfmaps.h"
#include "cpuview.h"
#include "cprofd.h"
#include "debuginfo.h"
#include "log.h"
#include "proctab.h"
#include "symcache.h"
#include "vdso.h"

#define TEXT "text/plain; charset=utf-8"

static void reply_text(struct reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_text(struct reply *r, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&r->body, fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type = TEXT;
	r->len = n > 0 ? (size_t)n : 0;
	if (n < 0) {
		r->body = NULL;
		r->status = 500;
	}
}

static bool pid_targeted(const struct cprofd *d, int pid)
{
	if (!d->pids)
		return true;
	for (int i = 0; i < d->nr_pids; i++)
		if (d->pids[i] == pid)
			return true;
	return false;
}

/* The request's pids must be processes cprofd profiles and that exist. */
static bool check_pids(struct cprofd *d, const struct profile_request *req, struct reply *r)
{
	for (int i = 0; i < req->nr_pids; i++) {
		int pid = req->pids[i];

		if (!pid_targeted(d, pid)) {
			reply_text(r, 400, "pid %d is not profiled: this cprofd was started with --pid for other processes\n",
				   pid);
			return false;
		}
		if (!proc_alive(pid)) {
			reply_text(r, 404, "pid %d: no such process\n", pid);
			return false;
		}
	}
	return true;
}

static void serve_cpu(struct cprofd *d, const struct profile_request *req, hung_up_fn hung_up,
		      void *arg, struct reply *r)
{
	int seconds = req->seconds ? req->seconds : PARAMS_DEFAULT_SECONDS;
	struct profile_ctx ctx = {
		.proctab = d->proctab, .symcache = d->symcache, .ksyms = d->ksyms,
		.vdso = d->vdso, .stats = &d->symstats,
	};
	struct timespec start, now, t0, t1;
	struct window *w;
	int err;

	if (!check_pids(d, req, r))
		return;
	w = cpuview__open_window(d->cpu, req->hz);
	if (!w) {
		if (errno == EBUSY)
			reply_text(r, 503, "too many different hz= rates in use at once; try the default rate (%d)\n",
				   d->hz);
		else
			reply_text(r, 500, "cannot start a cpu profile: %s\n", strerror(errno));
		return;
	}
	/* Wait out the window in short slices: notice a client that hangs up,
	 * and a daemon that is stopping, promptly. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int64_t left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = seconds * 1000LL - ((now.tv_sec - start.tv_sec) * 1000LL +
					   (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || d->stopping)
			break;
		if (hung_up(arg, left < 200 ? (int)left : 200)) {
			cpuview__close_window(d->cpu, w);
			window__free(w);
			__atomic_add_fetch(&d->hangups, 1, __ATOMIC_RELAXED);
			r->status = 0;
			return;
		}
	}
	cpuview__close_window(d->cpu, w);
	if (d->stopping) {
		window__free(w);
		reply_text(r, 503, "cprofd is shutting down\n");
		return;
	}
	pthread_mutex_lock(&d->sym_lock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = profile__cpu(&ctx, w, req, (uint8_t **)&r->body, &r->len);
	symcache__trim(d->symcache);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	d->symstats.profiles++;
	d->symstats.build_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + t1.tv_nsec - t0.tv_nsec);
	pthread_mutex_unlock(&d->sym_lock);
	window__free(w);
	if (err) {
		reply_text(r, 500, "cannot build the cpu profile: %s\n", strerror(-err));
		return;
	}
	r->status = 200;
	if (req->debug) {
		r->content_type = TEXT;
	} else {
		r->content_type = "application/octet-stream";
		r->disposition = "attachment; filename=\"profile\"";
	}
}

static void serve_index(struct cprofd *d, struct reply *r)
{
	reply_text(r, 200,
		   "<html><head><title>cprofd</title></head><body>\n"
		   "<h1>cprofd</h1>\n<p>Profiles of %s, in pprof format.</p>\n"
		   "<table>\n"
		   "<tr><td><a href=\"profile?seconds=30\">profile</a></td>"
		   "<td>CPU: where threads run, sampled at %d Hz (seconds=N, hz=N, pid=N)</td></tr>\n"
		   "<tr><td><a href=\"symbol\">symbol</a></td>"
		   "<td>pprof's remote symbolization: POST 0xADDR+0xADDR... (pid=N)</td></tr>\n"
		   "</table>\n"
		   "<p>Read them with <code>go tool pprof http://HOST:PORT/debug/pprof/profile</code>, "
		   "or <code>cprof-ctl collect cpu 30s</code>. Daemon counters: <a href=\"/metrics\">/metrics</a>.</p>\n"
		   "</body></html>\n",
		   d->pids ? "the processes given with --pid" : "every process on this host", d->hz);
	r->content_type = "text/html; charset=utf-8";
}

static void serve_metrics(struct cprofd *d, struct reply *r)
{
	struct cpuview_stats cs;
	struct symbolize_stats ss;
	struct symcache_stats sc;
	struct debuginfo_stats ds;
	struct proctab_stats ps;
	struct vdso_stats vs;
	FILE *f;

	cpuview__stats(d->cpu, &cs);
	proctab__stats(d->proctab, &ps);
	pthread_mutex_lock(&d->sym_lock);
	ss = d->symstats;
	symcache__stats(d->symcache, &sc);
	debuginfo__stats(d->debuginfo, &ds);
	vdso__stats(d->vdso, &vs);
	pthread_mutex_unlock(&d->sym_lock);

	f = open_memstream(&r->body, &r->len);
	if (!f) {
		reply_text(r, 500, "out of memory\n");
		return;
	}
	fprintf(f, "# HELP cprofd_view_running Whether a view is sampling.\n"
		   "# TYPE cprofd_view_running gauge\n"
		   "cprofd_view_running{view=\"cpu\"} 1\n");
	fprintf(f, "# HELP process_start_time_seconds When cprofd started, in seconds since the epoch.\n"
		   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
		(long long)(d->started_ns / 1000000000LL));
	fprintf(f, "# HELP cprofd_cpu_hz The always-on CPU sampling rate.\n# TYPE cprofd_cpu_hz gauge\n"
		   "cprofd_cpu_hz %d\n", cs.hz);
	fprintf(f, "# HELP cprofd_bpf_events_total What the BPF programs counted, drops included.\n"
		   "# TYPE cprofd_bpf_events_total counter\n");
	for (int i = 0; i < CPROF_CNT_MAX; i++)
		if (i != CPROF_CNT_UNW_WALK_NS)
			fprintf(f, "cprofd_bpf_events_total{view=\"cpu\",event=\"%s\"} %" PRIu64 "\n",
				cprof_counter_names[i], cs.bpf[i]);
	fprintf(f, "# HELP cprofd_unwind_walk_seconds_total Time the BPF walker spent in user-stack walks with tables.\n"
		   "# TYPE cprofd_unwind_walk_seconds_total counter\n"
		   "cprofd_unwind_walk_seconds_total %.9f\n", cs.bpf[CPROF_CNT_UNW_WALK_NS] / 1e9);
	fprintf(f, "# TYPE cprofd_bpf_program_instructions gauge\n"
		   "cprofd_bpf_program_instructions{program=\"cpu_sample\"} %u\n", cs.insns);
	fprintf(f, "# HELP cprofd_unwind_tables Whether user stacks are walked with .eh_frame tables.\n"
		   "# TYPE cprofd_unwind_tables gauge\ncprofd_unwind_tables %d\n", cs.dwarf_unwind);
	if (cs.dwarf_unwind)
		fprintf(f, "# TYPE cprofd_unwind_processes gauge\ncprofd_unwind_processes %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_objects gauge\ncprofd_unwind_objects %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_objects_without_cfi gauge\ncprofd_unwind_objects_without_cfi %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_rows gauge\ncprofd_unwind_rows{state=\"used\"} %" PRIu64 "\n"
			   "cprofd_unwind_rows{state=\"total\"} %" PRIu64 "\n"
			   "# HELP cprofd_unwind_evictions_total Idle objects whose rows were given to others.\n"
			   "# TYPE cprofd_unwind_evictions_total counter\n"
			   "cprofd_unwind_evictions_total %" PRIu64 "\n"
			   "# HELP cprofd_unwind_expired_total Objects removed after a minute that no process mapped them.\n"
			   "# TYPE cprofd_unwind_expired_total counter\n"
			   "cprofd_unwind_expired_total %" PRIu64 "\n"
			   "# HELP cprofd_unwind_same_build_id_total Files that got the table of another file with their build id.\n"
			   "# TYPE cprofd_unwind_same_build_id_total counter\n"
			   "cprofd_unwind_same_build_id_total %" PRIu64 "\n"
			   "# HELP cprofd_unwind_drops_total Objects, mappings and processes left to frame pointers.\n"
			   "# TYPE cprofd_unwind_drops_total counter\n"
			   "cprofd_unwind_drops_total{reason=\"table_full\"} %" PRIu64 "\n"
			   "cprofd_unwind_drops_total{reason=\"build_error\"} %" PRIu64 "\n"
			   "cprofd_unwind_drops_total{reason=\"too_many_mappings\"} %" PRIu64 "\n"
			   "cprofd_unwind_drops_total{reason=\"processes_map_full\"} %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_build_seconds_total counter\n"
			   "cprofd_unwind_build_seconds_total %.6f\n",
			cs.unwind.processes, cs.unwind.objects, cs.unwind.objects_without_cfi,
			cs.unwind.rows_used, cs.unwind.rows_total, cs.unwind.evicted, cs.unwind.expired,
			cs.unwind.shared, cs.unwind.table_full,
			cs.unwind.build_errors, cs.unwind.mappings_dropped, cs.unwind.procs_full,
			cs.unwind.build_ns / 1e9);
	fprintf(f, "# TYPE cprofd_drains_total counter\ncprofd_drains_total %" PRIu64 "\n"
		   "# TYPE cprofd_drained_records_total counter\ncprofd_drained_records_total %" PRIu64 "\n"
		   "# TYPE cprofd_drained_stacks_total counter\ncprofd_drained_stacks_total %" PRIu64 "\n"
		   "# HELP cprofd_window_errors_total Records a window could not keep (out of memory).\n"
		   "# TYPE cprofd_window_errors_total counter\ncprofd_window_errors_total %" PRIu64 "\n"
		   "# TYPE cprofd_last_drain_seconds gauge\ncprofd_last_drain_seconds %.6f\n"
		   "# TYPE cprofd_open_windows gauge\ncprofd_open_windows %d\n",
		cs.drains, cs.drained_records, cs.drained_stacks, cs.window_errors,
		cs.last_drain_ns / 1e9, cs.open_windows);
	fprintf(f, "# TYPE cprofd_processes gauge\ncprofd_processes %" PRIu64 "\n"
		   "# TYPE cprofd_processes_exited_total counter\ncprofd_processes_exited_total %" PRIu64 "\n"
		   "# TYPE cprofd_maps_reads_total counter\ncprofd_maps_reads_total %" PRIu64 "\n"
		   "# HELP cprofd_maps_errors_total Processes whose maps could not be read (gone first).\n"
		   "# TYPE cprofd_maps_errors_total counter\ncprofd_maps_errors_total %" PRIu64 "\n",
		ps.instances, ps.exited, ps.maps_reads, ps.maps_errors);
	fprintf(f, "# HELP cprofd_symbolize_total Frames symbolized, and why some were not.\n"
		   "# TYPE cprofd_symbolize_total counter\n"
		   "cprofd_symbolize_total{result=\"frames\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"no_process_maps\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"unmapped\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"no_symbol\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"stack_missing\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"inlined_frames\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"jit\"} %" PRIu64 "\n",
		ss.frames, ss.no_instance, ss.unmapped, ss.unnamed, ss.stacks_missing, ss.inlined, ss.jit);
	fprintf(f, "# HELP cprofd_profile_build_seconds_total Time spent turning windows into profiles: symbolizing, building, compressing.\n"
		   "# TYPE cprofd_profile_build_seconds_total counter\n"
		   "cprofd_profile_build_seconds_total %.6f\n"
		   "# TYPE cprofd_profiles_built_total counter\ncprofd_profiles_built_total %" PRIu64 "\n",
		ss.build_ns / 1e9, ss.profiles);
	fprintf(f, "# HELP cprofd_debuginfo_total Separate debug files: found on disk, fetched by debuginfod, failed, dropped (queue full).\n"
		   "# TYPE cprofd_debuginfo_total counter\n"
		   "cprofd_debuginfo_total{result=\"found_local\"} %" PRIu64 "\n"
		   "cprofd_debuginfo_total{result=\"fetched\"} %" PRIu64 "\n"
		   "cprofd_debuginfo_total{result=\"fetch_failed\"} %" PRIu64 "\n"
		   "cprofd_debuginfo_total{result=\"dropped\"} %" PRIu64 "\n"
		   "# TYPE cprofd_debuginfo_pending gauge\ncprofd_debuginfo_pending %" PRIu64 "\n",
		ds.found_local, ds.fetched, ds.fetch_failed, ds.dropped, ds.pending);
	fprintf(f, "# TYPE cprofd_symcache_objects gauge\ncprofd_symcache_objects %" PRIu64 "\n"
		   "# TYPE cprofd_symcache_bytes gauge\ncprofd_symcache_bytes %" PRIu64 "\n"
		   "# TYPE cprofd_symcache_lookups_total counter\n"
		   "cprofd_symcache_lookups_total{result=\"hit\"} %" PRIu64 "\n"
		   "cprofd_symcache_lookups_total{result=\"miss\"} %" PRIu64 "\n"
		   "cprofd_symcache_lookups_total{result=\"open_error\"} %" PRIu64 "\n"
		   "cprofd_symcache_lookups_total{result=\"same_build_id\"} %" PRIu64 "\n"
		   "# TYPE cprofd_symcache_evictions_total counter\ncprofd_symcache_evictions_total %" PRIu64 "\n",
		sc.objects, sc.bytes, sc.hits, sc.misses, sc.open_errors, sc.shared, sc.evictions);
	fprintf(f, "# HELP cprofd_vdso_images vDSO images read from processes and parsed (one per kernel ABI).\n"
		   "# TYPE cprofd_vdso_images gauge\ncprofd_vdso_images %" PRIu64 "\n"
		   "# HELP cprofd_vdso_errors_total vDSO mappings left unnamed: unreadable, or refused images.\n"
		   "# TYPE cprofd_vdso_errors_total counter\n"
		   "cprofd_vdso_errors_total{reason=\"read\"} %" PRIu64 "\n"
		   "cprofd_vdso_errors_total{reason=\"refused\"} %" PRIu64 "\n",
		vs.images, vs.read_errors, vs.refused);
	fprintf(f, "# TYPE cprofd_http_requests_total counter\ncprofd_http_requests_total %" PRIu64 "\n"
		   "# TYPE cprofd_http_bad_requests_total counter\ncprofd_http_bad_requests_total %" PRIu64 "\n"
		   "# TYPE cprofd_http_hangups_total counter\ncprofd_http_hangups_total %" PRIu64 "\n",
		d->requests, d->bad_requests, d->hangups);
	if (fclose(f)) {
		free(r->body);
		r->body = NULL;
		reply_text(r, 500, "out of memory\n");
		return;
	}
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* pprof's remote symbolization (what Go's net/http/pprof serves): a GET says
 * symbols are available, a POST of addresses gets "0xADDR name" lines. User
 * addresses are looked up in the process pid= names, or the one --pid. */
static void serve_symbol(struct cprofd *d, const struct param *params, size_t nr,
			 const char *body, struct reply *r)
{
	struct profile_ctx ctx = {
		.proctab = d->proctab, .symcache = d->symcache, .ksyms = d->ksyms,
		.vdso = d->vdso, .stats = &d->symstats,
	};
	uint32_t pid = d->nr_pids == 1 ? (uint32_t)d->pids[0] : 0;
	FILE *f;
	int err;

	for (size_t i = 0; i < nr; i++) {
		char *end;
		long v;

		if (strcmp(params[i].key, "pid"))
			continue;
		errno = 0;
		v = params[i].value ? strtol(params[i].value, &end, 10) : 0;
		if (!params[i].value || errno || *end || v <= 0 || v > INT32_MAX) {
			__atomic_add_fetch(&d->bad_requests, 1, __ATOMIC_RELAXED);
			reply_text(r, 400, "pid must be a process id, as in pid=1234\n");
			return;
		}
		pid = (uint32_t)v;
	}
	if (!body) {
		reply_text(r, 200, "num_symbols: 1\n");
		return;
	}
	f = open_memstream(&r->body, &r->len);
	if (!f) {
		reply_text(r, 500, "out of memory\n");
		return;
	}
	/* Go writes this first to a POST too; pprof reads only the lines
	 * that start with an address. */
	fputs("num_symbols: 1\n", f);
	pthread_mutex_lock(&d->sym_lock);
	err = profile__symbol(&ctx, pid, body, f);
	symcache__trim(d->symcache);
	pthread_mutex_unlock(&d->sym_lock);
	if (fclose(f) && !err)
		err = -ENOMEM;
	if (err) {
		free(r->body);
		r->body = NULL;
		r->len = 0;
		if (err == -EINVAL) {
			__atomic_add_fetch(&d->bad_requests, 1, __ATOMIC_RELAXED);
			reply_text(r, 400, "the body must be hex addresses separated by '+', as in 0x4a10+0x4b20\n");
		} else if (err == -ENOENT || err == -ESRCH) {
			reply_text(r, 404, "cannot read the maps of pid %u: no such process\n", pid);
		} else {
			reply_text(r, 500, "cannot symbolize: %s\n", strerror(-err));
		}
		return;
	}
	r->status = 200;
	r->content_type = TEXT;
}

static const char *const later_views[] = { "heap", "allocs", "offcpu", "block", "mutex" };

void cprofd__serve(struct cprofd *d, const char *path, const struct param *params, size_t nr,
		   const char *body, size_t body_len, hung_up_fn hung_up, void *arg,
		   struct reply *r)
{
	struct profile_request req;
	char err[256];

	memset(r, 0, sizeof(*r));
	__atomic_add_fetch(&d->requests, 1, __ATOMIC_RELAXED);
	if (!strcmp(path, "/metrics")) {
		serve_metrics(d, r);
		return;
	}
	if (!strcmp(path, "/debug/pprof/symbol")) {
		serve_symbol(d, params, nr, body, r);
		return;
	}
	if (body) {
		reply_text(r, 405, "only %s takes a POST\n", "/debug/pprof/symbol");
		return;
	}
	if (!strcmp(path, "/debug/pprof/") || !strcmp(path, "/debug/pprof")) {
		serve_index(d, r);
		return;
	}
	if (!strcmp(path, "/debug/pprof/profile")) {
		if (params__parse(params, nr, &req, err, sizeof(err))) {
			__atomic_add_fetch(&d->bad_requests, 1, __ATOMIC_RELAXED);
			reply_text(r, 400, "%s\n", err);
			return;
		}
		serve_cpu(d, &req, hung_up, arg, r);
		return;
	}
	for (size_t i = 0; i < sizeof(later_views) / sizeof(later_views[0]); i++) {
		char p[64];

		snprintf(p, sizeof(p), "/debug/pprof/%s", later_views[i]);
		if (!strcmp(path, p)) {
			reply_text(r, 404, "the %s view is not available in this version of cprofd\n",
				   later_views[i]);
			return;
		}
	}
	reply_text(r, 404, "no such path: %.100s; see /debug/pprof/\n", path);
}
