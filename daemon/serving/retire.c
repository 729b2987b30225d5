// SPDX-License-Identifier: GPL-2.0
/*
 * Retiring exited processes from the tracks (cprofd.h). A track keeps the
 * totals of every process instance it ever saw; on a host where processes
 * come and go (a compile loop) it grew by a megabyte every ten seconds,
 * reached the windows' memory limit in minutes, and from then on history
 * cuts and live requests of the cumulative views were refused. It also
 * kept every exited process's maps, so that its stacks could be named.
 *
 * An instance that has been gone for RETIRE_AFTER_NS (its last frees, the
 * heap's sweep at exit, have come in by then) has its records retired,
 * once every consumer taking deltas from the track has seen their final
 * values (window__retire). The history keeps them, named: its windows were
 * built while the process table still knew the process.
 */
#include <errno.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "core.h"
#include "cprofd.h"
#include "hashmap.h"
#include "proctab.h"
#include "window.h"

/* An instance with no entry in the process table (its maps were never
 * read, or were let go): when it was first seen gone. */
static struct hashmap *seen_gone;

/* The instances of set gone for RETIRE_AFTER_NS, into gone. */
static int find_gone(struct cprofd *d, const struct hashmap *set, struct hashmap *gone,
		     int64_t now)
{
	struct window_instance *in;
	size_t it = 0;
	int e = 0;

	proctab__lock(d->proctab);
	while (!e && hashmap__next(set, &it, (void **)&in, NULL)) {
		struct proc_instance *p = proctab__get(d->proctab, in->pid, in->start_ns, in->exec_id);
		int64_t *since;

		if (p) {
			if (p->exited_ns && now - p->exited_ns >= RETIRE_AFTER_NS &&
			    !hashmap__insert(gone, in, NULL))
				e = -ENOMEM;
			continue;
		}
		if (proc_instance_alive(in->pid, in->start_ns))
			continue;
		since = hashmap__find(seen_gone, in);
		if (!since) {
			since = hashmap__insert(seen_gone, in, NULL);
			if (!since) {
				e = -ENOMEM;
				break;
			}
			*since = now;
		}
		if (now - *since >= RETIRE_AFTER_NS && !hashmap__insert(gone, in, NULL))
			e = -ENOMEM;
	}
	proctab__unlock(d->proctab);
	return e;
}

/* Forget first sightings of instances no track holds any more. */
static void prune_seen(const struct hashmap *set)
{
	struct hashmap *keep = hashmap__new(sizeof(struct window_instance), sizeof(int64_t));
	struct window_instance *in;
	int64_t *since;
	size_t it = 0;

	if (!keep)
		return;
	while (hashmap__next(seen_gone, &it, (void **)&in, (void **)&since)) {
		int64_t *slot;

		if (!hashmap__find(set, in))
			continue;
		slot = hashmap__insert(keep, in, NULL);
		if (!slot) {
			hashmap__free(keep);
			return;
		}
		*slot = *since;
	}
	hashmap__free(seen_gone);
	seen_gone = keep;
}

long cprofd__retire(struct cprofd *d, struct window *const *tracks, size_t nr_tracks,
		    struct window *const *bases, const int *base_of, size_t nr_bases)
{
	struct hashmap *set = NULL, *gone = NULL;
	int64_t now = mono_ns();
	long total = 0, n;
	int e = 0;

	/* --pid targets: a few processes, whose totals stay after they exit */
	if (d->nr_pids || !nr_tracks)
		return 0;
	/* a seconds=N request takes the difference of two snapshots: what
	 * went between them would be missing from it */
	if (__atomic_load_n(&d->track_deltas, __ATOMIC_ACQUIRE))
		return 0;
	if (!seen_gone)
		seen_gone = hashmap__new(sizeof(struct window_instance), sizeof(int64_t));
	set = hashmap__new(sizeof(struct window_instance), 1);
	gone = hashmap__new(sizeof(struct window_instance), 1);
	if (!seen_gone || !set || !gone) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t t = 0; t < nr_tracks && !e; t++)
		e = core__track_instances(d->core, tracks[t], set);
	if (!e)
		e = find_gone(d, set, gone, now);
	if (!e)
		prune_seen(set);
	for (size_t t = 0; t < nr_tracks && !e && hashmap__count(gone); t++) {
		struct window *mine[WINDOW_MAX_BASES];
		size_t nr = 0;

		bool all = true;

		for (size_t i = 0; i < nr_bases; i++) {
			if (base_of[i] != (int)t)
				continue;
			if (nr == WINDOW_MAX_BASES)
				all = false;	/* a consumer left unprotected: not this track */
			else
				mine[nr++] = bases[i];
		}
		if (!all)
			continue;
		n = core__retire(d->core, tracks[t], mine, nr, gone);
		if (n < 0)
			e = (int)n;
		else
			total += n;
	}
out:
	hashmap__free(set);
	hashmap__free(gone);
	if (e)
		__atomic_add_fetch(&d->retire_failures, 1, __ATOMIC_RELAXED);
	return e ? e : total;
}
