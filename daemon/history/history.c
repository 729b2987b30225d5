// SPDX-License-Identifier: GPL-2.0
/*
 * The history's thread (history.h). A windowed view (cpu, offcpu, wall)
 * keeps one window open all the time and rotates it at each cut: the old
 * one ends at the drain where the new one starts, so nothing falls between
 * them. A cumulative view (heap, allocs, block, mutex) is tracked anyway
 * (d->heap_track, d->lock_track); at each cut the history takes a snapshot
 * of its totals and keeps what changed since the last one, as Go's delta
 * profiles, so that the windows of a range add up to the change over it.
 * Each window is built as a profile of every process, once, and kept; as
 * a window closes an hour, the hour's windows are rolled up (rollup.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "core.h"
#include "cprofd.h"
#include "export.h"
#include "history.h"
#include "log.h"
#include "rollup.h"
#include "store.h"
#include "views.h"
#include "window.h"

#define NS	1000000000LL

struct hist_view {
	const struct view_def *view;
	struct window *w;		/* windowed: the window open now */
	struct window *track;		/* cumulative: the totals tracked */
	struct window *prev;		/* cumulative: the totals at the last cut */
	bool warned;
	bool rollup_warned;
};

struct history {
	struct cprofd *d;
	struct store *store;
	int64_t window_ns;
	struct hist_view v[32];
	size_t nr;
	pthread_t thread;
	pthread_mutex_t lock;		/* stop, and the stats */
	pthread_cond_t cond;
	bool stop;
	struct history_stats st;
};

const char *history_kept_as(const char *view, unsigned int continuous)
{
	const struct view_def *v = views__find(view);
	const struct view_def *same = v && v->same_data_as ? views__find(v->same_data_as) : NULL;

	if (same && (continuous & (1u << (same - views))))
		return same->name;
	return view;
}

/* Build window w (closed) of hv's view and keep it. */
static void keep(struct history *h, struct hist_view *hv, struct window *w)
{
	struct profile_request all = { 0 };
	struct timespec t0, t1;
	uint8_t *raw = NULL;
	size_t len = 0;
	int built, e;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	e = built = cprofd__build(h->d, hv->view, NULL, &all, w, NULL, 0, true, &raw, &len);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!e)
		e = store__append(h->store, hv->view->name, w->start_ns, w->end_ns, raw, len);
	/* to ClickHouse too: spooled, never waited on; its own counters */
	if (!e)
		export__window(h->d->export, hv->view->name, w->start_ns, w->end_ns, raw, len);
	free(raw);
	pthread_mutex_lock(&h->lock);
	h->st.build_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * NS + t1.tv_nsec - t0.tv_nsec);
	if (!e)
		h->st.windows++;
	else if (built)
		h->st.build_errors++;
	else
		h->st.store_errors++;
	pthread_mutex_unlock(&h->lock);
	if (e && !hv->warned) {
		log_error("history: cannot keep a %s window: %s (counted on /metrics; said once)",
			  hv->view->name, strerror(-e));
		hv->warned = true;
	}
}

static void cut_failed(struct history *h, struct hist_view *hv, int e)
{
	pthread_mutex_lock(&h->lock);
	h->st.cut_errors++;
	pthread_mutex_unlock(&h->lock);
	if (!hv->warned) {
		log_error("history: cannot cut the %s window: %s; the next one will be longer (counted on /metrics; said once)",
			  hv->view->name, strerror(e));
		hv->warned = true;
	}
}

/* Window [start_ns, end_ns) of hv's view was just kept: if it closed a
 * period, roll that period's windows up. */
static void rollup(struct history *h, struct hist_view *hv, int64_t start_ns, int64_t end_ns)
{
	int64_t period = rollup__period_ns(), b = end_ns / period * period;
	int e;

	if (b <= start_ns || b < period)
		return;
	e = rollup__make(h->store, hv->view->name, b - period);
	pthread_mutex_lock(&h->lock);
	if (!e)
		h->st.rollups++;
	else if (e != -ENOENT)
		h->st.rollup_errors++;
	pthread_mutex_unlock(&h->lock);
	if (e && e != -ENOENT && !hv->rollup_warned) {
		log_error("history: cannot roll up an hour of %s windows: %s; queries read its windows (counted on /metrics; said once)",
			  hv->view->name, strerror(-e));
		hv->rollup_warned = true;
	}
}

/* End hv's window in progress and keep it; unless last, go on with the next. */
static void cut(struct history *h, struct hist_view *hv, bool last)
{
	struct core *core = h->d->core;
	struct window *w, *now;

	if (hv->track) {
		now = core__snapshot_window(core, hv->track);
		w = now ? window__copy(now) : NULL;
		if (!w) {
			core__free_window(core, now);
			cut_failed(h, hv, errno);
			return;
		}
		/* w: what changed since the last cut; now: the next base */
		window__subtract(w, hv->prev);
		w->start_ns = hv->prev->end_ns;
		core__free_window(core, hv->prev);
		hv->prev = now;
		keep(h, hv, w);
		if (!last)
			rollup(h, hv, w->start_ns, w->end_ns);
		window__free(w);
		return;
	}
	if (last) {
		core__close_window(core, hv->w);
		keep(h, hv, hv->w);
		core__free_window(core, hv->w);
		hv->w = NULL;
		return;
	}
	w = hv->w;
	now = core__rotate_window(core, w);
	if (!now) {
		cut_failed(h, hv, errno);
		return;
	}
	hv->w = now;
	keep(h, hv, w);
	rollup(h, hv, w->start_ns, w->end_ns);
	core__free_window(core, w);
}

/* After a round of cuts: the tracks let go of exited processes' records
 * that every view's last cut has seen (cprofd__retire). */
static void retire(struct history *h)
{
	struct window *tracks[2], *bases[WINDOW_MAX_BASES * 2];
	int base_of[WINDOW_MAX_BASES * 2];
	size_t nr_tracks = 0, nr_bases = 0, t;

	for (size_t i = 0; i < h->nr; i++) {
		struct hist_view *hv = &h->v[i];

		if (!hv->track || !hv->prev)
			continue;
		for (t = 0; t < nr_tracks && tracks[t] != hv->track; t++)
			;
		if (t == nr_tracks) {
			if (nr_tracks == sizeof(tracks) / sizeof(tracks[0]))
				continue;
			tracks[nr_tracks++] = hv->track;
		}
		if (nr_bases == sizeof(bases) / sizeof(bases[0]))
			return;	/* a base left out would lose its view's deltas */
		bases[nr_bases] = hv->prev;
		base_of[nr_bases++] = (int)t;
	}
	cprofd__retire(h->d, tracks, nr_tracks, bases, base_of, nr_bases);
}

static void *history_main(void *arg)
{
	struct history *h = arg;
	int64_t next = (real_ns() / h->window_ns + 1) * h->window_ns;
	struct timespec until;
	bool stop;

	for (;;) {
		until.tv_sec = next / NS;
		until.tv_nsec = next % NS;
		pthread_mutex_lock(&h->lock);
		while (!h->stop && pthread_cond_timedwait(&h->cond, &h->lock, &until) != ETIMEDOUT)
			;
		stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < h->nr; i++)
			cut(h, &h->v[i], stop);
		if (stop)
			break;
		retire(h);
		/* a cut that came late (a suspended host): the next multiple */
		next += h->window_ns;
		if (next <= real_ns())
			next = (real_ns() / h->window_ns + 1) * h->window_ns;
	}
	return NULL;
}

static void free_views(struct history *h)
{
	for (size_t i = 0; i < h->nr; i++) {
		struct hist_view *hv = &h->v[i];

		if (hv->w) {
			core__close_window(h->d->core, hv->w);
			core__free_window(h->d->core, hv->w);
		}
		core__free_window(h->d->core, hv->prev);
	}
}

struct history *history__start(const struct history_opts *o)
{
	struct history *h = calloc(1, sizeof(*h));
	struct cprofd *d = o->d;
	int e = 0;

	if (!h)
		return NULL;
	h->d = d;
	h->store = o->store;
	h->window_ns = (int64_t)o->window_s * NS;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	for (size_t i = 0; i < nr_views && h->nr < sizeof(h->v) / sizeof(h->v[0]); i++) {
		struct hist_view *hv = &h->v[h->nr];

		if (!(o->views & (1u << i)) || !views[i].built)
			continue;
		/* a view that is another's profile with another default type
		 * (allocs) is served from that one's windows (history_kept_as) */
		if (strcmp(history_kept_as(views[i].name, o->views), views[i].name))
			continue;
		hv->view = &views[i];
		if (views[i].cumulative) {
			hv->track = views[i].window == WINDOW_HEAP ? d->heap_track : d->lock_track;
			if (!hv->track) {
				log_error("history: the %s view is not tracked: its windows are not kept",
					  views[i].name);
				continue;
			}
			hv->prev = core__snapshot_window(d->core, hv->track);
		} else {
			hv->w = core__open_window(d->core, views[i].window, 0, 0);
		}
		if (!hv->prev && !hv->w) {
			e = errno;
			log_error("history: cannot start the %s view's windows: %s", views[i].name,
				  strerror(e));
			goto fail;
		}
		h->nr++;
	}
	e = pthread_create(&h->thread, NULL, history_main, h);
	if (e)
		goto fail;
	pthread_setname_np(h->thread, "cprofd-history");
	return h;
fail:
	free_views(h);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
	errno = e;
	return NULL;
}

void history__stop(struct history *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	free_views(h);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void history__stats(struct history *h, struct history_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	*st = h->st;
	pthread_mutex_unlock(&h->lock);
}
