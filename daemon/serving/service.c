#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/times.h>
#include "bpfmaps.h"
#include "core.h"
#include "cprofd.h"
#include "export.h"
#include "history.h"
#include "merge.h"
#include "rollup.h"
#include "store.h"
#include "debuginfo.h"
#include "hostile.h"
#include "log.h"
#include "proctab.h"
#include "targets.h"
#include "isolate.h"
#include "vdso.h"
#include "views.h"

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

/* Sampled now: every process, a --pid, or one that matched a --comm,
 * --exe or --cgroup (the kernel's targets map says). */
static bool pid_targeted(const struct cprofd *d, int pid)
{
	return core__targeted(d->core, (uint32_t)pid);
}

/* A process of another user was asked for. */
static void refuse_pid(struct cprofd *d, const struct access *who, int pid, struct reply *r)
{
	__atomic_add_fetch(&d->access_refused[ACCESS_OTHER_USER], 1, __ATOMIC_RELAXED);
	reply_text(r, 403, "pid %d is not yours (you are uid %u): users see only their own processes; root and the group named by cprofd's --group see all\n",
		   pid, who->uid);
}

/* The request's pids must be processes cprofd profiles, that exist, and
 * that the client may see. */
static bool check_pids(struct cprofd *d, const struct access *who,
		       const struct profile_request *req, struct reply *r)
{
	for (int i = 0; i < req->nr_pids; i++) {
		int pid = req->pids[i];

		if (!proc_alive(pid)) {
			reply_text(r, 404, "pid %d: no such process\n", pid);
			return false;
		}
		if (!pid_targeted(d, pid)) {
			char targets[200];

			core__describe_targets(d->core, targets, sizeof(targets));
			reply_text(r, 400, "pid %d is not profiled: this cprofd profiles only %s\n",
				   pid, targets);
			return false;
		}
		if (!access__may_see(who, pid)) {
			refuse_pid(d, who, pid, r);
			return false;
		}
	}
	return true;
}

/* comm= and exe= may match processes that start during the window, and
 * whether a running one is a target cannot be told from a name (children
 * of matched processes are, whatever their names): they are not refused,
 * and the profile holds what matched, if anything. A cgroup= that names
 * no cgroup is a 404, as a pid= of no process is. */
static bool check_names(const struct profile_request *req, struct reply *r)
{
	for (int i = 0; i < req->nr_cgroups; i++)
		if (!targets__cgroup_exists(req->cgroups[i])) {
			reply_text(r, 404, "cgroup %.300s: no such cgroup\n", req->cgroups[i]);
			return false;
		}
	return true;
}

/* With --pid: the targets that are gone, as "pid 42, pid 43"; "" when none. */
static void exited_targets(const struct cprofd *d, char *buf, size_t len, int *alive)
{
	size_t n = 0;

	buf[0] = '\0';
	*alive = 0;
	for (int i = 0; i < d->nr_pids; i++) {
		if (proc_alive(d->pids[i])) {
			(*alive)++;
			continue;
		}
		if (n < len)
			n += snprintf(buf + n, len - n, "%spid %d", n ? ", " : "", d->pids[i]);
	}
}

/* After a build, under sym_lock: the symbols parser trims its caches, and
 * what /metrics shows is published, so that /metrics never waits for a build. */
static void after_build(struct cprofd *d, const struct symbolize_stats *st)
{
	struct parserd_trim_stats ps;
	struct vdso_stats vs;
	struct ipc_hdr rh;
	uint64_t *dst = (uint64_t *)&d->symstats;
	const uint64_t *src = (const uint64_t *)st;
	void *payload = NULL;
	bool trimmed;

	_Static_assert(sizeof(*st) % sizeof(uint64_t) == 0, "symbolize_stats holds only counters");
	trimmed = !isolate__call(d->symbols, IPC_TRIM, NULL, NULL, NULL, -1, &rh, &payload,
				 sizeof(ps)) && !rh.status && rh.len == sizeof(ps);
	if (trimmed)
		memcpy(&ps, payload, sizeof(ps));
	free(payload);
	vdso__stats(d->vdso, &vs);
	pthread_mutex_lock(&d->stats_lock);
	for (size_t i = 0; i < sizeof(*st) / sizeof(uint64_t); i++)
		dst[i] += src[i];
	if (trimmed)
		d->parser_stats = ps;
	d->vdso_stats = vs;
	pthread_mutex_unlock(&d->stats_lock);
}

/* Whether cprofd serves view: built, in --views, and its sources loaded. */
static bool view_running(struct cprofd *d, const struct view_def *view)
{
	return view->built && (d->views & (1u << (view - views))) &&
	       core__has_sources(d->core, view->sources);
}

/* Whether the request is for processes that can be profiled; replies if
 * not. totals: it asks for a cumulative view's totals, which outlive the
 * targets (what was tracked is served after they exit). */
static bool check_request(struct cprofd *d, const struct access *who,
			  const struct profile_request *req, bool totals, struct reply *r)
{
	char gone[256];
	int alive;

	if (!check_pids(d, who, req, r) || !check_names(req, r))
		return false;
	/* targets by name may still start: only --pid's can all be gone */
	if (d->pids && !totals && !core__has_name_targets(d->core)) {
		exited_targets(d, gone, sizeof(gone), &alive);
		if (!alive) {
			reply_text(r, 404, "nothing to profile: every process cprofd was started for has exited (%s); restart it with --pid of a running process\n",
				   gone);
			return false;
		}
	}
	return true;
}

/* Build view's profile from the closed window w, free it, and reply. note:
 * a comment for the profile and the X-Cprof-Note header, or NULL. */
int cprofd__build(struct cprofd *d, const struct view_def *view, const struct access *who,
		  const struct profile_request *req, const struct window *w,
		  const char *const *comments, size_t nr_comments, bool raw, uint8_t **out,
		  size_t *len)
{
	struct symbolize_stats st = { 0 };
	struct profile_ctx ctx = {
		.proctab = d->proctab, .symsrc = { .parser = d->symbols }, .ksyms = d->ksyms,
		.vdso = d->vdso, .stats = &st, .who = who, .comments = comments,
		.nr_comments = nr_comments, .raw = raw,
		/* a whole-host profile is named after the host, not whichever
		 * process pprof would take for its main binary */
		.host = !d->pids && !core__has_name_targets(d->core) && !req->nr_pids &&
			!req->nr_comms && !req->nr_exes && !req->nr_cgroups ? d->host : NULL,
	};
	struct timespec t0, t1;
	int err;

	pthread_mutex_lock(&d->sym_lock);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = profile__build(&ctx, view, w, req, out, len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st.profiles++;
	st.build_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + t1.tv_nsec - t0.tv_nsec);
	after_build(d, &st);
	pthread_mutex_unlock(&d->sym_lock);
	return err;
}

static void reply_profile(struct cprofd *d, const struct view_def *view, const struct access *who,
			  const struct profile_request *req, struct window *w, const char *note,
			  struct reply *r)
{
	char gone[256] = "", exited[320];
	const char *comments[2];
	size_t nr_comments = 0;
	int err, alive;

	if (note)
		comments[nr_comments++] = note;
	if (d->pids) {
		exited_targets(d, gone, sizeof(gone), &alive);
		if (gone[0]) {
			snprintf(exited, sizeof(exited), "exited, so profiled only until then: %s", gone);
			comments[nr_comments++] = exited;
		}
	}
	err = cprofd__build(d, view, who, req, w, comments, nr_comments, false,
			    (uint8_t **)&r->body, &r->len);
	core__free_window(d->core, w);
	if (err) {
		reply_text(r, 500, "cannot build the %s profile: %s\n", view->name, strerror(-err));
		return;
	}
	r->status = 200;
	if (nr_comments)
		snprintf(r->note, sizeof(r->note), "%s", comments[nr_comments - 1]);
	if (req->debug) {
		r->content_type = TEXT;
	} else {
		r->content_type = "application/octet-stream";
		snprintf(r->disposition_buf, sizeof(r->disposition_buf), "attachment; filename=\"%s\"",
			 view->path);
		r->disposition = r->disposition_buf;
	}
}

/* A window could not be opened or copied: say why. */
static void reply_no_window(struct cprofd *d, const struct view_def *view, struct reply *r)
{
	struct core_stats cs;
	int e = errno;

	core__stats(d->core, &cs);
	if (e == EBUSY)
		reply_text(r, 503, "other hz= requests are sampling at up to %d Hz per CPU in all; try again later, or at the default rate (%d)\n",
			   cs.max_hz, d->hz);
	else if (e == ENOBUFS)
		reply_text(r, 503, "profiles in progress hold %.0f MiB, the limit for windows (a quarter of --memory); try again when they finish\n",
			   cs.window_bytes_limit / 1048576.0);
	else
		reply_text(r, 500, "cannot start the %s profile: %s\n", view->name, strerror(e));
}

/* Wait for w to close; false (w freed, r set) if the client hung up or
 * the daemon is stopping. */
static bool wait_window(struct cprofd *d, struct window *w, hung_up_fn hung_up, void *arg,
			struct reply *r)
{
	/* The view closes the window when it is due; meanwhile notice a
	 * client that hangs up, and a daemon that is stopping, promptly. */
	while (!core__wait_window(d->core, w, 200) && !d->stopping) {
		if (hung_up(arg, 0)) {
			core__close_window(d->core, w);
			core__free_window(d->core, w);
			__atomic_add_fetch(&d->hangups, 1, __ATOMIC_RELAXED);
			r->status = 0;
			return false;
		}
	}
	core__close_window(d->core, w);
	if (d->stopping) {
		core__free_window(d->core, w);
		reply_text(r, 503, "cprofd is shutting down\n");
		return false;
	}
	return true;
}

/* A windowed view: open a window, wait for it, build the profile. */
static void serve_window(struct cprofd *d, const struct view_def *view, const struct access *who,
			 const struct profile_request *req, hung_up_fn hung_up, void *arg,
			 struct reply *r, const char *note)
{
	int seconds = req->seconds ? req->seconds : PARAMS_DEFAULT_SECONDS;
	struct window *w;

	w = core__open_window(d->core, view->window, req->hz, seconds);
	if (!w) {
		reply_no_window(d, view, r);
		return;
	}
	if (wait_window(d, w, hung_up, arg, r))
		reply_profile(d, view, who, req, w, note, r);
}

/* A cumulative view (heap, allocs, block, mutex): the totals since
 * tracking began, or with seconds=N what changed over them (as Go's delta
 * profiles). Without tracking, seconds=N sees only its window's. */
static void serve_cumulative(struct cprofd *d, const struct view_def *view,
			     const struct access *who, const struct profile_request *req,
			     hung_up_fn hung_up, void *arg, struct reply *r)
{
	bool heap = view->window == WINDOW_HEAP;
	struct window *track = heap ? d->heap_track : d->lock_track, *before, *after;
	char note[320] = "";
	struct timespec now;
	int64_t until;

	if (!track && !req->seconds) {
		reply_text(r, 400, "the %s view keeps totals only while it tracks %s all along: start cprofd with --pid N or --continuous %s, or ask for what happens from now on with ?seconds=N\n",
			   view->name, heap ? "the allocator" : "futex waits", view->name);
		return;
	}
	if (!track) {
		serve_window(d, view, who, req, hung_up, arg, r, heap ?
			     "tracked during this window only: blocks allocated before it, and their frees, are not in it" :
			     "tracked during this window only: waits that began before it are not in it");
		return;
	}
	if (!req->seconds) {
		before = core__snapshot_window(d->core, track);
		if (!before) {
			reply_no_window(d, view, r);
			return;
		}
		if (before->retired)
			snprintf(note, sizeof(note), "totals of the processes running now and of those that exited in the last %lld s or so; %" PRIu64 " records of processes gone longer were let go: %s",
				 (long long)(RETIRE_AFTER_NS / 1000000000LL), before->retired,
				 d->history ? "the history keeps them (add start=)" :
				 "keep a history (--continuous) to have them");
		reply_profile(d, view, who, req, before, note[0] ? note : NULL, r);
		return;
	}
	/* no retiring from the track between the two snapshots */
	__atomic_add_fetch(&d->track_deltas, 1, __ATOMIC_ACQ_REL);
	before = core__snapshot_window(d->core, track);
	if (!before) {
		__atomic_sub_fetch(&d->track_deltas, 1, __ATOMIC_ACQ_REL);
		reply_no_window(d, view, r);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	until = now.tv_sec * 1000000000LL + now.tv_nsec + req->seconds * 1000000000LL;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec * 1000000000LL + now.tv_nsec >= until || d->stopping)
			break;
		if (hung_up(arg, 200)) {
			core__free_window(d->core, before);
			__atomic_sub_fetch(&d->track_deltas, 1, __ATOMIC_ACQ_REL);
			__atomic_add_fetch(&d->hangups, 1, __ATOMIC_RELAXED);
			r->status = 0;
			return;
		}
	}
	after = d->stopping ? NULL : core__snapshot_window(d->core, track);
	__atomic_sub_fetch(&d->track_deltas, 1, __ATOMIC_ACQ_REL);
	if (!after) {
		core__free_window(d->core, before);
		if (d->stopping)
			reply_text(r, 503, "cprofd is shutting down\n");
		else
			reply_no_window(d, view, r);
		return;
	}
	window__subtract(after, before);
	core__free_window(d->core, before);
	reply_profile(d, view, who, req, after, NULL, r);
}

/* "2026-12-03T17:00:00Z" */
static void rfc3339(int64_t ns, char *out, size_t len)
{
	time_t t = (time_t)(ns / 1000000000LL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the history keeps of view: 0 and *info, or -ENOENT. */
static int history_of(struct cprofd *d, const char *view, struct store_view_info *info)
{
	struct store_view_info all[32];
	size_t nr = 0;

	if (store__list(d->store, all, 32, &nr))
		return -ENOENT;
	for (size_t i = 0; i < nr && i < 32; i++)
		if (!strcmp(all[i].view, view)) {
			*info = all[i];
			return 0;
		}
	return -ENOENT;
}

static int add_window(void *arg, int64_t start_ns, int64_t end_ns, const uint8_t *raw, size_t len)
{
	void **a = arg;

	/* a window that cannot be read is skipped, and the profile says so */
	merge__add(a[0], raw, len, a[1]);
	return 0;
}

/* start= and end=: the windows the history kept of view over [from, to),
 * merged, with the same process filters as a live request. */
static void serve_history(struct cprofd *d, const struct view_def *view, const struct access *who,
			  const struct profile_request *req, int64_t from, int64_t to,
			  struct reply *r)
{
	const char *comms[PARAMS_MAX_NAMES], *comments[3];
	struct merge_filter filter = { .pids = req->pids, .nr_pids = (size_t)req->nr_pids };
	char a[32], b[32], before[160], after[160], skipped[96];
	struct store_view_info info;
	struct store_stats ss;
	size_t nr_comments = 0;
	struct merge *m = NULL;
	const char *kept;
	uint8_t *out = NULL;
	size_t len = 0;
	void *arg[2];
	int e;

	if (!d->store) {
		reply_text(r, 404, "no history is kept: start cprofd with --continuous %s to keep one\n",
			   view->name);
		return;
	}
	if (!who->all) {
		reply_text(r, 403, "the history is served to root and the members of cprofd's --group only, in this version\n");
		return;
	}
	if (req->nr_exes || req->nr_cgroups) {
		reply_text(r, 400, "exe= and cgroup= are not served from the history in this version: use pid= or comm=\n");
		return;
	}
	kept = history_kept_as(view->name, d->continuous);
	if (history_of(d, kept, &info)) {
		reply_text(r, 404, "the history keeps no %s windows: start cprofd with --continuous %s\n",
			   view->name, view->name);
		return;
	}
	for (int i = 0; i < req->nr_comms; i++)
		comms[i] = req->comms[i];
	filter.comms = comms;
	filter.nr_comms = (size_t)req->nr_comms;
	store__stats(d->store, &ss);
	/* a range partly outside what is kept says so, never shortened silently */
	if (from < info.first_start_ns) {
		rfc3339(info.first_start_ns, a, sizeof(a));
		snprintf(before, sizeof(before), "the %s history starts at %s%s: the range asked begins %.0f s before it",
			 view->name, a, ss.dropped_until_ns ? " (older windows dropped by --retention)" : "",
			 (info.first_start_ns - from) / 1e9);
		comments[nr_comments++] = before;
	}
	/* the window in progress is never kept yet: past it only */
	if (to > info.last_end_ns + (int64_t)d->window_s * 1000000000LL) {
		rfc3339(info.last_end_ns, b, sizeof(b));
		snprintf(after, sizeof(after), "the %s history ends at %s (the window in progress is not kept yet): the range asked ends %.0f s after it",
			 view->name, b, (to - info.last_end_ns) / 1e9);
		comments[nr_comments++] = after;
	}
	m = merge__new();
	if (!m) {
		reply_text(r, 500, "cannot merge the %s history: %s\n", view->name, strerror(errno));
		return;
	}
	arg[0] = m;
	arg[1] = &filter;
	e = strcmp(kept, view->name) ? merge__set_default_type(m, view->default_type) : 0;
	if (!e)
		e = rollup__scan(d->store, kept, from, to, add_window, arg);
	if (!e && merge__skipped(m)) {
		snprintf(skipped, sizeof(skipped), "%zu stored windows could not be read and are left out",
			 merge__skipped(m));
		comments[nr_comments++] = skipped;
	}
	if (!e)
		e = merge__write(m, comments, nr_comments, !req->debug, &out, &len);
	merge__free(m);
	if (e == -ENOENT) {
		rfc3339(from, a, sizeof(a));
		rfc3339(to, b, sizeof(b));
		reply_text(r, 404, "the history keeps no %s window between %s and %s%s%s\n", view->name, a, b,
			   nr_comments ? ": " : "", nr_comments ? comments[0] : "");
		return;
	}
	if (e) {
		reply_text(r, 500, "cannot read the %s history: %s\n", view->name, strerror(-e));
		return;
	}
	if (req->debug) {
		e = profile__text(view, out, len, (uint8_t **)&r->body, &r->len);
		free(out);
		if (e) {
			reply_text(r, 500, "cannot write the %s history as text: %s\n", view->name, strerror(-e));
			return;
		}
		r->content_type = TEXT;
	} else {
		r->body = (char *)out;
		r->len = len;
		r->content_type = "application/octet-stream";
		snprintf(r->disposition_buf, sizeof(r->disposition_buf), "attachment; filename=\"%s\"",
			 view->path);
		r->disposition = r->disposition_buf;
	}
	r->status = 200;
	if (nr_comments)
		snprintf(r->note, sizeof(r->note), "%s", comments[0]);
}

/* /debug/history: what is kept, a view a line. */
static void serve_history_list(struct cprofd *d, const struct access *who, struct reply *r)
{
	struct store_view_info info[32];
	struct store_stats ss;
	size_t nr = 0;
	char a[32], b[32];
	FILE *f;

	if (!d->store) {
		reply_text(r, 404, "no history is kept: start cprofd with --continuous VIEW,... or all\n");
		return;
	}
	if (!who->all) {
		reply_text(r, 403, "the history is served to root and the members of cprofd's --group only, in this version\n");
		return;
	}
	store__list(d->store, info, 32, &nr);
	store__stats(d->store, &ss);
	f = open_memstream(&r->body, &r->len);
	if (!f) {
		reply_text(r, 500, "cannot list the history: %s\n", strerror(errno));
		return;
	}
	fprintf(f, "# view from to windows bytes\n");
	for (size_t i = 0; i < nr && i < 32; i++) {
		rfc3339(info[i].first_start_ns, a, sizeof(a));
		rfc3339(info[i].last_end_ns, b, sizeof(b));
		fprintf(f, "%s %s %s %" PRIu64 " %" PRIu64 "\n", info[i].view, a, b, info[i].windows,
			info[i].bytes);
	}
	fprintf(f, "# window %d s; kept %" PRIu64 " bytes (%" PRIu64 " uncompressed); dropped by --retention: %" PRIu64 " windows\n",
		d->window_s, ss.bytes, ss.raw_bytes, ss.dropped_windows);
	fclose(f);
	r->status = 200;
	r->content_type = TEXT;
}

static void serve_index(struct cprofd *d, const struct access *who, struct reply *r)
{
	FILE *f = open_memstream(&r->body, &r->len);
	char hz[48];

	if (!f) {
		reply_text(r, 500, "out of memory\n");
		return;
	}
	fprintf(f, "<html><head><title>cprofd</title></head><body>\n"
		   "<h1>cprofd</h1>\n<p>Profiles of %s, in pprof format.</p>\n",
		d->pids || core__has_name_targets(d->core) ?
		"the processes given with --pid, --comm, --exe or --cgroup" : "every process on this host");
	if (!who->all)
		fprintf(f, "<p>You (uid %u) see your own processes only, without kernel frames.</p>\n",
			who->uid);
	snprintf(hz, sizeof(hz), "; at %d Hz (hz=N)", d->hz);
	fputs("<table>\n", f);
	for (size_t i = 0; i < nr_views; i++) {
		const struct view_def *v = &views[i];

		if (view_running(d, v))
			fprintf(f, "<tr><td><a href=\"%s?seconds=30\">%s</a></td><td>%s%s. "
				   "Also pid=N, comm=NAME, exe=PATH, cgroup=PATH, debug=1</td></tr>\n",
				v->path, v->path, v->summary,
				v->sources & SOURCE_CPU ? hz : "");
		else if (v->built)
			fprintf(f, "<tr><td>%s</td><td>%s (off: --views, or see cprofd's log)</td></tr>\n",
				v->path, v->summary);
		else
			fprintf(f, "<tr><td>%s</td><td>%s (not in this version)</td></tr>\n",
				v->path, v->summary);
	}
	fputs("<tr><td><a href=\"symbol\">symbol</a></td>"
	      "<td>pprof's remote symbolization: POST 0xADDR+0xADDR... (pid=N)</td></tr>\n"
	      "</table>\n"
	      "<p>Read them with <code>go tool pprof http://HOST:PORT/debug/pprof/profile</code>, "
	      "or <code>cprof-ctl collect cpu 30s</code>. Daemon counters: <a href=\"/metrics\">/metrics</a>.</p>\n"
	      "</body></html>\n", f);
	if (fclose(f)) {
		free(r->body);
		r->body = NULL;
		r->len = 0;
		reply_text(r, 500, "out of memory\n");
		return;
	}
	r->status = 200;
	r->content_type = "text/html; charset=utf-8";
}

/* The daemon's own CPU and memory, under the names Prometheus's client
 * libraries use for them. */
static void self_metrics(FILE *f)
{
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long long rss = 0;
	struct tms t;
	FILE *statm;

	times(&t);
	statm = fopen("/proc/self/statm", "re");
	if (statm) {
		if (fscanf(statm, "%*u %llu", &rss) != 1)
			rss = 0;
		fclose(statm);
	}
	fprintf(f, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %.2f\n"
		   "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
		(double)(t.tms_utime + t.tms_stime) / (double)ticks, rss * (unsigned long long)page);
}

/* The parser processes' metrics, one line per role (and reason). */
static void parser_metrics(FILE *f, const struct isolate_stats is[2])
{
	static const char *const roles[2] = { "symbols", "tables" };
	static const struct {
		const char *name, *type;	/* type NULL: more lines of the one above */
		const char *help, *label;
		size_t off;
		uint64_t scale;
	} m[] = {
		{ "cprofd_parser_requests_total", "counter",
		  "Requests the parser processes answered (objects' frames, unwind tables).", "",
		  offsetof(struct isolate_stats, requests), 1 },
		{ "cprofd_parser_starts_total", "counter",
		  "Parser processes started (the first, and one after each failure).", "",
		  offsetof(struct isolate_stats, starts), 1 },
		{ "cprofd_parser_failures_total", "counter",
		  "Requests a parser process failed on, by how: it died (crash), overran its deadline (timeout) or answered nonsense (protocol); it was restarted and the file remembered as bad.",
		  ",reason=\"crash\"", offsetof(struct isolate_stats, crashes), 1 },
		{ "cprofd_parser_failures_total", NULL, NULL, ",reason=\"timeout\"",
		  offsetof(struct isolate_stats, timeouts), 1 },
		{ "cprofd_parser_failures_total", NULL, NULL, ",reason=\"protocol\"",
		  offsetof(struct isolate_stats, protocol_errors), 1 },
		{ "cprofd_parser_bad_objects", "gauge",
		  "Files remembered as bad (a parser failed on them): not parsed again while unchanged.", "",
		  offsetof(struct isolate_stats, bad_objects), 1 },
		{ "cprofd_parser_skipped_total", "counter",
		  "Requests not sent to a parser: the file is remembered as bad.", "",
		  offsetof(struct isolate_stats, refused), 1 },
		{ "cprofd_parser_resident_bytes", "gauge",
		  "A parser process's resident memory, as it last said.", "",
		  offsetof(struct isolate_stats, rss_kb), 1024 },
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (m[i].type)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help, m[i].name,
				m[i].type);
		for (int r = 0; r < 2; r++) {
			uint64_t v;

			memcpy(&v, (const char *)&is[r] + m[i].off, sizeof(v));
			fprintf(f, "%s{role=\"%s\"%s} %" PRIu64 "\n", m[i].name, roles[r], m[i].label,
				v * m[i].scale);
		}
	}
}

/* --export: what went to ClickHouse, and what waits. */
static void export_metrics(struct cprofd *d, FILE *f)
{
	struct export_stats es;

	export__stats(d->export, &es);
	fprintf(f, "# HELP cprofd_export_windows_total Windows for ClickHouse: spooled on disk, sent, dropped (the spool full), rejected (ClickHouse refused them; set aside).\n"
		   "# TYPE cprofd_export_windows_total counter\n"
		   "cprofd_export_windows_total{result=\"spooled\"} %" PRIu64 "\n"
		   "cprofd_export_windows_total{result=\"sent\"} %" PRIu64 "\n"
		   "cprofd_export_windows_total{result=\"dropped\"} %" PRIu64 "\n"
		   "cprofd_export_windows_total{result=\"rejected\"} %" PRIu64 "\n"
		   "# HELP cprofd_export_rows_total Rows ClickHouse took, by table.\n"
		   "# TYPE cprofd_export_rows_total counter\n"
		   "cprofd_export_rows_total{table=\"samples\"} %" PRIu64 "\n"
		   "cprofd_export_rows_total{table=\"stacks\"} %" PRIu64 "\n"
		   "# TYPE cprofd_export_sent_bytes_total counter\ncprofd_export_sent_bytes_total %" PRIu64 "\n"
		   "# HELP cprofd_export_send_errors_total Attempts to send that failed (ClickHouse down, slow, or refusing); tried again.\n"
		   "# TYPE cprofd_export_send_errors_total counter\ncprofd_export_send_errors_total %" PRIu64 "\n"
		   "# HELP cprofd_export_spool What waits to be sent.\n"
		   "# TYPE cprofd_export_spool gauge\n"
		   "cprofd_export_spool{unit=\"windows\"} %" PRIu64 "\n"
		   "cprofd_export_spool{unit=\"bytes\"} %" PRIu64 "\n"
		   "# HELP cprofd_export_convert_seconds_total Time spent turning windows into rows.\n"
		   "# TYPE cprofd_export_convert_seconds_total counter\ncprofd_export_convert_seconds_total %.6f\n"
		   "# TYPE cprofd_export_connected gauge\ncprofd_export_connected %d\n",
		es.spooled, es.sent, es.dropped, es.rejected, es.sample_rows, es.stack_rows, es.bytes_sent,
		es.send_errors, es.spool_files, es.spool_bytes, es.convert_ns / 1e9, es.connected);
}

static void history_metrics(struct cprofd *d, FILE *f)
{
	struct history_stats hs;
	struct store_stats ss;

	store__stats(d->store, &ss);
	history__stats(d->history, &hs);
	fprintf(f, "# HELP cprofd_history_windows Windows the history keeps (--continuous, --store).\n"
		   "# TYPE cprofd_history_windows gauge\ncprofd_history_windows %" PRIu64 "\n"
		   "# HELP cprofd_history_bytes Bytes the history's files take, and what they hold uncompressed.\n"
		   "# TYPE cprofd_history_bytes gauge\ncprofd_history_bytes{form=\"stored\"} %" PRIu64 "\n"
		   "cprofd_history_bytes{form=\"raw\"} %" PRIu64 "\n"
		   "# HELP cprofd_history_dropped_windows_total Windows dropped by --retention, oldest first.\n"
		   "# TYPE cprofd_history_dropped_windows_total counter\ncprofd_history_dropped_windows_total %" PRIu64 "\n"
		   "# TYPE cprofd_history_dropped_bytes_total counter\ncprofd_history_dropped_bytes_total %" PRIu64 "\n"
		   "# HELP cprofd_history_torn_records_total Records found incomplete at start (a crash while one was written): not served.\n"
		   "# TYPE cprofd_history_torn_records_total counter\ncprofd_history_torn_records_total %" PRIu64 "\n"
		   "# HELP cprofd_history_errors_total Windows not kept, by what failed.\n"
		   "# TYPE cprofd_history_errors_total counter\n"
		   "cprofd_history_errors_total{reason=\"build\"} %" PRIu64 "\n"
		   "cprofd_history_errors_total{reason=\"store\"} %" PRIu64 "\n"
		   "cprofd_history_errors_total{reason=\"cut\"} %" PRIu64 "\n"
		   "# HELP cprofd_history_build_seconds_total Time spent building the history's windows.\n"
		   "# TYPE cprofd_history_build_seconds_total counter\ncprofd_history_build_seconds_total %.6f\n"
		   "# HELP cprofd_history_rollups_total Hours of a view's windows merged into one profile as they closed, and those that could not be (their windows are read instead).\n"
		   "# TYPE cprofd_history_rollups_total counter\n"
		   "cprofd_history_rollups_total{result=\"kept\"} %" PRIu64 "\n"
		   "cprofd_history_rollups_total{result=\"failed\"} %" PRIu64 "\n",
		ss.windows, ss.bytes, ss.raw_bytes, ss.dropped_windows, ss.dropped_bytes, ss.torn_records,
		hs.build_errors, hs.store_errors, hs.cut_errors, hs.build_ns / 1e9, hs.rollups,
		hs.rollup_errors);
	if (d->export)
		export_metrics(d, f);
}

static void serve_metrics(struct cprofd *d, struct reply *r)
{
	struct core_stats cs;
	struct symbolize_stats ss;
	struct symcache_stats sc;
	struct debuginfo_stats ds;
	struct proctab_stats ps;
	struct vdso_stats vs;
	struct isolate_stats is[2];
	FILE *f;

	core__stats(d->core, &cs);
	proctab__stats(d->proctab, &ps);
	isolate__stats(d->symbols, &is[0]);
	isolate__stats(d->tables, &is[1]);
	pthread_mutex_lock(&d->stats_lock);
	ss = d->symstats;
	sc = d->parser_stats.symcache;
	ds = d->parser_stats.debuginfo;
	vs = d->vdso_stats;
	pthread_mutex_unlock(&d->stats_lock);

	f = open_memstream(&r->body, &r->len);
	if (!f) {
		reply_text(r, 500, "out of memory\n");
		return;
	}
	if (d->store)
		history_metrics(d, f);
	fputs("# HELP cprofd_view_running Whether a view is served (1), or off (0: --views, or its programs were refused).\n"
	      "# TYPE cprofd_view_running gauge\n", f);
	for (size_t i = 0; i < nr_views; i++)	/* the views this version has */
		if (views[i].built)
			fprintf(f, "cprofd_view_running{view=\"%s\"} %d\n", views[i].name,
				view_running(d, &views[i]));
	fprintf(f, "# HELP process_start_time_seconds When cprofd started, in seconds since the epoch.\n"
		   "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
		(long long)(d->started_ns / 1000000000LL));
	self_metrics(f);
	fprintf(f, "# HELP cprofd_cpu_hz The always-on CPU sampling rate.\n# TYPE cprofd_cpu_hz gauge\n"
		   "cprofd_cpu_hz %d\n"
		   "# HELP cprofd_cpu_max_hz What all sampling rates together may reach per CPU (--hz plus hz= requests): what the kernel maps are sized for.\n"
		   "# TYPE cprofd_cpu_max_hz gauge\ncprofd_cpu_max_hz %d\n"
		   "# HELP cprofd_kernel_map_entries Entries per generation of the sample and stack maps.\n"
		   "# TYPE cprofd_kernel_map_entries gauge\n"
		   "cprofd_kernel_map_entries{map=\"samples\"} %u\ncprofd_kernel_map_entries{map=\"stacks\"} %u\n"
		   "# HELP cprofd_kernel_map_bytes Kernel memory of the sample and stack maps, both generations (about).\n"
		   "# TYPE cprofd_kernel_map_bytes gauge\ncprofd_kernel_map_bytes %" PRIu64 "\n"
		   "# HELP cprofd_unwind_fixed_bytes Kernel memory of the unwind maps made whole at start: the tables' index, mapping slots, row caches (about).\n"
		   "# TYPE cprofd_unwind_fixed_bytes gauge\ncprofd_unwind_fixed_bytes %" PRIu64 "\n",
		cs.hz, cs.max_hz, cs.counts_entries, cs.stacks_entries, cs.kernel_map_bytes,
		cs.unwind_fixed_bytes);
	fprintf(f, "# HELP cprofd_bpf_events_total What the BPF programs counted, drops included, by data source (core: the stacks, unwinder and targets every source shares).\n"
		   "# TYPE cprofd_bpf_events_total counter\n");
	for (int i = 0; i < CPROF_CNT_MAX; i++)
		if (i != CPROF_CNT_UNW_WALK_NS && i != CPROF_CNT_OFF_SHORT_NS &&
		    i != CPROF_CNT_LOCK_UNBLAMED_NS)
			fprintf(f, "cprofd_bpf_events_total{source=\"%s\",event=\"%s\"} %" PRIu64 "\n",
				cprof_counter_source(i), cprof_counter_names[i], cs.bpf[i]);
	fprintf(f, "# HELP cprofd_offcpu_short_seconds_total Time in off-CPU intervals shorter than --offcpu-min (counted, not recorded).\n"
		   "# TYPE cprofd_offcpu_short_seconds_total counter\n"
		   "cprofd_offcpu_short_seconds_total %.9f\n"
		   "# HELP cprofd_sched_attached Whether the scheduler programs run now (offcpu or wall profiles in progress).\n"
		   "# TYPE cprofd_sched_attached gauge\ncprofd_sched_attached %d\n"
		   "# HELP cprofd_offcpu_rate_seconds Off-CPU waits shorter than this are sampled: --offcpu-rate, or the highest rate a CPU raised it to, to read about --offcpu-reads waits' stacks a second (as the last profile left it, while none runs).\n"
		   "# TYPE cprofd_offcpu_rate_seconds gauge\ncprofd_offcpu_rate_seconds %.9f\n",
		cs.bpf[CPROF_CNT_OFF_SHORT_NS] / 1e9, cs.sched_attached, cs.offcpu_rate_max_ns / 1e9);
	if (cs.sources & SOURCE_ALLOC)
		fprintf(f, "# HELP cprofd_heap_attached Whether the allocator's probes are in place (heap or allocs profiles in progress, or tracking).\n"
			   "# TYPE cprofd_heap_attached gauge\ncprofd_heap_attached %d\n"
			   "# HELP cprofd_heap_sessions Whether unsampled calls skip their return probe (uprobe sessions).\n"
			   "# TYPE cprofd_heap_sessions gauge\ncprofd_heap_sessions %d\n"
			   "# HELP cprofd_heap_call_seconds What each allocator call of a target costs it while probed (measured at start).\n"
			   "# TYPE cprofd_heap_call_seconds gauge\ncprofd_heap_call_seconds %.9f\n"
			   "# HELP cprofd_heap_rate_bytes Bytes allocated per sample on average (--heap-rate).\n"
			   "# TYPE cprofd_heap_rate_bytes gauge\ncprofd_heap_rate_bytes %llu\n"
			   "# HELP cprofd_heap_processes Processes whose allocator is probed (0 with every process: probed by object).\n"
			   "# TYPE cprofd_heap_processes gauge\ncprofd_heap_processes %llu\n"
			   "# HELP cprofd_heap_objects Allocator objects probed.\n"
			   "# TYPE cprofd_heap_objects gauge\ncprofd_heap_objects %llu\n"
			   "# HELP cprofd_heap_single_stepped_probes Probes on instructions the kernel single-steps (dearer).\n"
			   "# TYPE cprofd_heap_single_stepped_probes gauge\ncprofd_heap_single_stepped_probes %llu\n"
			   "# HELP cprofd_heap_attach_failures_total Attachments to an allocator the kernel refused.\n"
			   "# TYPE cprofd_heap_attach_failures_total counter\ncprofd_heap_attach_failures_total %llu\n"
			   "# HELP cprofd_heap_reattached_total Links made again: the kernel said yes and left no breakpoint, or they went later.\n"
			   "# TYPE cprofd_heap_reattached_total counter\ncprofd_heap_reattached_total %llu\n"
			   "# HELP cprofd_heap_exited_blocks_total Live sampled blocks of exited processes dropped.\n"
			   "# TYPE cprofd_heap_exited_blocks_total counter\ncprofd_heap_exited_blocks_total %llu\n"
			   "# HELP cprofd_heap_unmatched_frees_total Frees of sampled blocks whose allocation was not known.\n"
			   "# TYPE cprofd_heap_unmatched_frees_total counter\ncprofd_heap_unmatched_frees_total %llu\n"
			   "# HELP cprofd_heap_freed_at_exit_total Heap records whose blocks were freed as their process exited.\n"
			   "# TYPE cprofd_heap_freed_at_exit_total counter\ncprofd_heap_freed_at_exit_total %llu\n",
			cs.heap.attached, cs.heap.sessions, cs.heap.call_ns / 1e9,
			(unsigned long long)cs.heap_rate, (unsigned long long)cs.heap.processes,
			(unsigned long long)cs.heap.objects, (unsigned long long)cs.heap.single_stepped,
			(unsigned long long)cs.heap.attach_failed,
			(unsigned long long)(cs.heap.attach_retried + cs.heap.reattached),
			(unsigned long long)cs.heap.live_swept,
			(unsigned long long)cs.heap_unmatched_frees,
			(unsigned long long)cs.heap_freed_at_exit);
	if (cs.sources & SOURCE_FUTEX)
		fprintf(f, "# HELP cprofd_lock_attached Whether the futex programs run (block or mutex profiles in progress, or tracking).\n"
			   "# TYPE cprofd_lock_attached gauge\ncprofd_lock_attached %d\n"
			   "# HELP cprofd_lock_rate_seconds Waits and blame shorter than this are sampled (--lock-rate).\n"
			   "# TYPE cprofd_lock_rate_seconds gauge\ncprofd_lock_rate_seconds %.9f\n"
			   "# HELP cprofd_lock_unblamed_seconds_total Waiting that no futex wake ended (timeouts, signals, the kernel's wake as a thread exits): in block profiles, blamed on no one in mutex profiles.\n"
			   "# TYPE cprofd_lock_unblamed_seconds_total counter\ncprofd_lock_unblamed_seconds_total %.9f\n"
			   "# HELP cprofd_mutex_wakes_left_out_total Wakes left out of mutex profiles as they were built: under a condition variable's signal, a semaphore's post or a barrier, not a lock's release.\n"
			   "# TYPE cprofd_mutex_wakes_left_out_total counter\ncprofd_mutex_wakes_left_out_total %llu\n",
			cs.lock_attached, cs.lock_rate_ns / 1e9, cs.bpf[CPROF_CNT_LOCK_UNBLAMED_NS] / 1e9,
			(unsigned long long)ss.not_locks);
	/* CPU samples falling while a perf-attached allocator program runs
	 * are not taken; with sessions (uprobe_multi) they are */
	fprintf(f, "# HELP cprofd_heap_cpu_samples_lost_total CPU samples the allocator programs kept from being taken, estimated: their run time times the sampling rate (only the fallback without sessions keeps other BPF programs from running).\n"
		   "# TYPE cprofd_heap_cpu_samples_lost_total counter\ncprofd_heap_cpu_samples_lost_total %.1f\n",
		   cs.bpf[CPROF_CNT_HEAP_BLOCK_NS] / 1e9 * cs.hz);
	fprintf(f, "# HELP cprofd_unwind_walk_seconds_total Time the BPF walker spent in user-stack walks with tables.\n"
		   "# TYPE cprofd_unwind_walk_seconds_total counter\n"
		   "cprofd_unwind_walk_seconds_total %.9f\n", cs.bpf[CPROF_CNT_UNW_WALK_NS] / 1e9);
	fprintf(f, "# TYPE cprofd_bpf_program_instructions gauge\n"
		   "cprofd_bpf_program_instructions{program=\"cpu_sample\"} %u\n", cs.insns);
	if (cs.sched_insns)
		fprintf(f, "cprofd_bpf_program_instructions{program=\"offcpu_switch\"} %u\n",
			cs.sched_insns);
	fprintf(f, "# HELP cprofd_unwind_tables Whether user stacks are walked with .eh_frame tables.\n"
		   "# TYPE cprofd_unwind_tables gauge\ncprofd_unwind_tables %d\n", cs.dwarf_unwind);
	if (cs.dwarf_unwind)
		fprintf(f, "# TYPE cprofd_unwind_processes gauge\ncprofd_unwind_processes %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_objects gauge\ncprofd_unwind_objects %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_objects_without_cfi gauge\ncprofd_unwind_objects_without_cfi %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_rows gauge\ncprofd_unwind_rows{state=\"used\"} %" PRIu64 "\n"
			   "cprofd_unwind_rows{state=\"total\"} %" PRIu64 "\n"
			   "# HELP cprofd_unwind_objects_waiting Mapped objects whose table was refused or evicted for room: walked by frame pointers.\n"
			   "# TYPE cprofd_unwind_objects_waiting gauge\ncprofd_unwind_objects_waiting %" PRIu64 "\n"
			   "# HELP cprofd_unwind_evictions_total Tables removed to make room: of objects no process maps (idle), of processes not sampled for 30 s (cold).\n"
			   "# TYPE cprofd_unwind_evictions_total counter\n"
			   "cprofd_unwind_evictions_total{reason=\"idle\"} %" PRIu64 "\n"
			   "cprofd_unwind_evictions_total{reason=\"cold\"} %" PRIu64 "\n"
			   "# HELP cprofd_unwind_reloaded_total Refused or evicted tables loaded again once there was room.\n"
			   "# TYPE cprofd_unwind_reloaded_total counter\ncprofd_unwind_reloaded_total %" PRIu64 "\n"
			   "# HELP cprofd_unwind_expired_total Objects removed after ten minutes that no process mapped them.\n"
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
			   "cprofd_unwind_drops_total{reason=\"table_slots_full\"} %" PRIu64 "\n"
			   "cprofd_unwind_drops_total{reason=\"queue_full\"} %" PRIu64 "\n"
			   "# TYPE cprofd_unwind_build_seconds_total counter\n"
			   "cprofd_unwind_build_seconds_total %.6f\n",
			cs.unwind.processes, cs.unwind.objects, cs.unwind.objects_without_cfi,
			cs.unwind.rows_used, cs.unwind.rows_total, cs.unwind.objects_waiting,
			cs.unwind.evicted, cs.unwind.evicted_cold, cs.unwind.reloaded, cs.unwind.expired,
			cs.unwind.shared, cs.unwind.table_full,
			cs.unwind.build_errors, cs.unwind.mappings_dropped, cs.unwind.procs_full,
			cs.unwind.slots_full, cs.unwind_queue_dropped, cs.unwind.build_ns / 1e9);
	fprintf(f, "# TYPE cprofd_drains_total counter\ncprofd_drains_total %" PRIu64 "\n"
		   "# HELP cprofd_early_drains_total Drains before the second was up: a generation was half full.\n"
		   "# TYPE cprofd_early_drains_total counter\ncprofd_early_drains_total %" PRIu64 "\n"
		   "# HELP cprofd_drain_errors_total Drains that failed; what they left is drained next time.\n"
		   "# TYPE cprofd_drain_errors_total counter\ncprofd_drain_errors_total %" PRIu64 "\n"
		   "# TYPE cprofd_drained_records_total counter\ncprofd_drained_records_total %" PRIu64 "\n"
		   "# TYPE cprofd_drained_stacks_total counter\ncprofd_drained_stacks_total %" PRIu64 "\n"
		   "# HELP cprofd_window_errors_total Records a window could not keep (out of memory).\n"
		   "# TYPE cprofd_window_errors_total counter\ncprofd_window_errors_total %" PRIu64 "\n"
		   "# HELP cprofd_window_records_dropped_total Records not kept: windows over 1.5 times their memory limit.\n"
		   "# TYPE cprofd_window_records_dropped_total counter\ncprofd_window_records_dropped_total %" PRIu64 "\n"
		   "# HELP cprofd_windows_refused_total Profiles refused (503): windows at their memory limit.\n"
		   "# TYPE cprofd_windows_refused_total counter\ncprofd_windows_refused_total %" PRIu64 "\n"
		   "# HELP cprofd_window_bytes Memory of the open windows: their indexes, and each stack once.\n"
		   "# TYPE cprofd_window_bytes gauge\ncprofd_window_bytes{state=\"used\"} %" PRIu64 "\n"
		   "cprofd_window_bytes{state=\"limit\"} %" PRIu64 "\n"
		   "# TYPE cprofd_window_stacks gauge\ncprofd_window_stacks %" PRIu64 "\n"
		   "# TYPE cprofd_last_drain_seconds gauge\ncprofd_last_drain_seconds %.6f\n"
		   "# TYPE cprofd_open_windows gauge\ncprofd_open_windows %d\n",
		cs.drains, cs.early_drains, cs.drain_errors, cs.drained_records, cs.drained_stacks,
		cs.window_errors, cs.window_records_dropped, cs.windows_refused, cs.window_bytes,
		cs.window_bytes_limit, cs.stacks_held, cs.last_drain_ns / 1e9, cs.open_windows);
	fprintf(f, "# HELP cprofd_track_records_retired_total Records of processes gone %lld s let go from the totals since tracking began (the history keeps them).\n"
		   "# TYPE cprofd_track_records_retired_total counter\ncprofd_track_records_retired_total %" PRIu64 "\n"
		   "# HELP cprofd_track_retire_failures_total Passes that could not retire (out of memory).\n"
		   "# TYPE cprofd_track_retire_failures_total counter\ncprofd_track_retire_failures_total %" PRIu64 "\n",
		(long long)(RETIRE_AFTER_NS / 1000000000LL), cs.track_records_retired,
		__atomic_load_n(&d->retire_failures, __ATOMIC_RELAXED));
	fprintf(f, "# TYPE cprofd_processes gauge\ncprofd_processes %" PRIu64 "\n"
		   "# TYPE cprofd_processes_exited_total counter\ncprofd_processes_exited_total %" PRIu64 "\n"
		   "# TYPE cprofd_maps_reads_total counter\ncprofd_maps_reads_total %" PRIu64 "\n"
		   "# HELP cprofd_maps_errors_total Processes whose maps could not be read (gone first).\n"
		   "# TYPE cprofd_maps_errors_total counter\ncprofd_maps_errors_total %" PRIu64 "\n"
		   "# HELP cprofd_processes_shed_total Exited processes a window still needed, dropped to stay within the process table's memory.\n"
		   "# TYPE cprofd_processes_shed_total counter\ncprofd_processes_shed_total %" PRIu64 "\n"
		   "# TYPE cprofd_process_table_bytes gauge\ncprofd_process_table_bytes{state=\"used\"} %" PRIu64 "\n"
		   "cprofd_process_table_bytes{state=\"limit\"} %" PRIu64 "\n"
		   "# HELP cprofd_targets_exited_total Processes given with --pid seen to exit.\n"
		   "# TYPE cprofd_targets_exited_total counter\ncprofd_targets_exited_total %" PRIu64 "\n",
		ps.instances, ps.exited, ps.maps_reads, ps.maps_errors, ps.shed, ps.bytes, ps.max_bytes,
		d->targets_exited);
	fprintf(f, "# HELP cprofd_targets_matched_total Processes cprofd itself made targets by --comm, --exe or --cgroup: running at start (scan), or after an exec or a cgroup move it was asked to check (check). Those BPF matched are cprofd_bpf_events_total's targets_*.\n"
		   "# TYPE cprofd_targets_matched_total counter\n"
		   "cprofd_targets_matched_total{how=\"scan\"} %" PRIu64 "\n"
		   "cprofd_targets_matched_total{how=\"check\"} %" PRIu64 "\n"
		   "# HELP cprofd_targets_left_total Processes matched by name that exec'd something that matches no more (checked by cprofd).\n"
		   "# TYPE cprofd_targets_left_total counter\ncprofd_targets_left_total %" PRIu64 "\n"
		   "# HELP cprofd_targets_checks_late_total Checks of processes already gone (or reused) when cprofd read them.\n"
		   "# TYPE cprofd_targets_checks_late_total counter\ncprofd_targets_checks_late_total %" PRIu64 "\n"
		   "# HELP cprofd_targets_map_entries Processes the kernel's targets map holds at most (past it: targets_map_full).\n"
		   "# TYPE cprofd_targets_map_entries gauge\ncprofd_targets_map_entries %u\n",
		cs.targets_scanned, cs.targets_added, cs.targets_left, cs.targets_gone, cs.targets_max);
	fprintf(f, "# HELP cprofd_symbolize_total Frames symbolized, and why some were not.\n"
		   "# TYPE cprofd_symbolize_total counter\n"
		   "cprofd_symbolize_total{result=\"frames\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"no_process_maps\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"unmapped\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"no_symbol\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"stack_missing\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"inlined_frames\"} %" PRIu64 "\n"
		   "cprofd_symbolize_total{result=\"jit\"} %" PRIu64 "\n"
		   "# HELP cprofd_truncated_samples_total Samples whose user stack stopped short, marked [truncated stack]: by the walker, or here at a frame outside the process's code (not_code) or of a process whose maps were never read (unverified).\n"
		   "# TYPE cprofd_truncated_samples_total counter\n"
		   "cprofd_truncated_samples_total{where=\"all\"} %" PRIu64 "\n"
		   "cprofd_truncated_samples_total{where=\"not_code\"} %" PRIu64 "\n"
		   "cprofd_truncated_samples_total{where=\"unverified\"} %" PRIu64 "\n",
		ss.frames, ss.no_instance, ss.unmapped, ss.unnamed, ss.stacks_missing, ss.inlined, ss.jit,
		ss.truncated, ss.not_code, ss.unverified);
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
	fprintf(f, "# HELP cprofd_hostile_input_total Input the parsers refused as malformed or hostile (a DWARF tree that loops, a call-frame program that cannot be played, a runaway demangling, a Go table out of range): those frames lose their names or rows, nothing else.\n"
		   "# TYPE cprofd_hostile_input_total counter\n");
	for (int k = 0; k < HOSTILE_NR; k++)
		fprintf(f, "cprofd_hostile_input_total{kind=\"%s\"} %" PRIu64 "\n", hostile__name(k),
			hostile__get(k) + is[0].hostile[k] + is[1].hostile[k]);
	parser_metrics(f, is);
	fprintf(f, "# TYPE cprofd_http_requests_total counter\ncprofd_http_requests_total %" PRIu64 "\n"
		   "# TYPE cprofd_http_bad_requests_total counter\ncprofd_http_bad_requests_total %" PRIu64 "\n"
		   "# TYPE cprofd_http_hangups_total counter\ncprofd_http_hangups_total %" PRIu64 "\n"
		   "# HELP cprofd_http_refused_total Requests answered 503 because a listener had too many connections.\n"
		   "# TYPE cprofd_http_refused_total counter\ncprofd_http_refused_total %" PRIu64 "\n",
		d->requests, d->bad_requests, d->hangups, d->http_refused);
	fputs("# HELP cprofd_access_denied_total Requests answered 403, by reason: from beyond loopback without a token (remote), "
	      "with a token not accepted (bad_token), from a client whose user could not be told (unknown_peer), "
	      "for another user's process (other_user).\n# TYPE cprofd_access_denied_total counter\n", f);
	for (int i = 0; i < ACCESS_NR_REFUSALS; i++)
		fprintf(f, "cprofd_access_denied_total{reason=\"%s\"} %" PRIu64 "\n", access_refusal_names[i],
			__atomic_load_n(&d->access_refused[i], __ATOMIC_RELAXED));
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
static void serve_symbol(struct cprofd *d, const struct access *who, const struct param *params,
			 size_t nr, const char *body, struct reply *r)
{
	struct symbolize_stats st = { 0 };
	struct profile_ctx ctx = {
		.proctab = d->proctab, .symsrc = { .parser = d->symbols }, .ksyms = d->ksyms,
		.vdso = d->vdso, .stats = &st, .who = who,
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
	if (pid && !access__may_see(who, (int)pid)) {
		if (d->nr_pids == 1 && pid == (uint32_t)d->pids[0])
			pid = 0;	/* not asked for: kernel addresses only */
		else {
			refuse_pid(d, who, (int)pid, r);
			return;
		}
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
	after_build(d, &st);
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

/* start= and end= (end: now by default): *range true when either is given. */
static int history_range(const struct param *params, size_t nr, bool *range, int64_t *from,
			 int64_t *to, char *err, size_t errlen)
{
	const char *start = NULL, *end = NULL;
	struct timespec now;
	int64_t now_ns;

	for (size_t i = 0; i < nr; i++) {
		if (!strcmp(params[i].key, "start"))
			start = params[i].value ? params[i].value : "";
		else if (!strcmp(params[i].key, "end"))
			end = params[i].value ? params[i].value : "";
	}
	*range = start || end;
	if (!*range)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	now_ns = now.tv_sec * 1000000000LL + now.tv_nsec;
	if (!start) {
		snprintf(err, errlen, "end= needs start=: a range of the history, as in start=-1h");
		return -EINVAL;
	}
	if (params__time("start", start, now_ns, from, err, errlen) ||
	    params__time("end", end ? end : "now", now_ns, to, err, errlen))
		return -EINVAL;
	if (*from >= *to) {
		snprintf(err, errlen, "start= must come before end=: a range of the history, as in start=-1h&end=-30m");
		return -EINVAL;
	}
	return 0;
}

void cprofd__serve(struct cprofd *d, const struct access *who, const char *path,
		   const struct param *params, size_t nr,
		   const char *body, size_t body_len, hung_up_fn hung_up, void *arg,
		   struct reply *r)
{
	const struct view_def *view;
	struct profile_request req;
	char err[256];

	memset(r, 0, sizeof(*r));
	__atomic_add_fetch(&d->requests, 1, __ATOMIC_RELAXED);
	if (!strcmp(path, "/metrics")) {
		serve_metrics(d, r);
		return;
	}
	if (!strcmp(path, "/debug/pprof/symbol")) {
		serve_symbol(d, who, params, nr, body, r);
		return;
	}
	if (body) {
		reply_text(r, 405, "only %s takes a POST\n", "/debug/pprof/symbol");
		return;
	}
	if (!strcmp(path, "/debug/pprof/") || !strcmp(path, "/debug/pprof")) {
		serve_index(d, who, r);
		return;
	}
	view = !strncmp(path, "/debug/pprof/", 13) ? views__by_path(path + 13) : NULL;
	if (view && !view->built) {
		reply_text(r, 404, "the %s view is not available in this version of cprofd\n", view->name);
		return;
	}
	if (view && !view_running(d, view)) {
		reply_text(r, 404, "the %s view is off: cprofd was started without it (--views) or the kernel refused its programs (see cprofd's log)\n",
			   view->name);
		return;
	}
	if (!strcmp(path, "/debug/history")) {
		serve_history_list(d, who, r);
		return;
	}
	if (view) {
		int64_t from = 0, to = 0;
		bool range = false;

		if (params__parse(params, nr, &req, err, sizeof(err)) ||
		    history_range(params, nr, &range, &from, &to, err, sizeof(err))) {
			__atomic_add_fetch(&d->bad_requests, 1, __ATOMIC_RELAXED);
			reply_text(r, 400, "%s\n", err);
			return;
		}
		/* the history holds processes that are gone: pid= is not
		 * checked against the living */
		if (range) {
			serve_history(d, view, who, &req, from, to, r);
			return;
		}
		if (!check_request(d, who, &req, view->cumulative && !req.seconds &&
				   (view->window == WINDOW_HEAP ? d->heap_track : d->lock_track), r))
			return;
		if (view->cumulative)
			serve_cumulative(d, view, who, &req, hung_up, arg, r);
		else
			serve_window(d, view, who, &req, hung_up, arg, r, NULL);
		return;
	}
	reply_text(r, 404, "no such path: %.100s; see /debug/pprof/\n", path);
}
