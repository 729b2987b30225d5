#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "clock.h"
#include "container.h"
#include "fileio.h"
#include "hashmap.h"
#include "log.h"
#include "perfmap.h"
#include "proctab.h"
#include "targets.h"

struct instance_key {
	uint32_t pid;
	uint32_t exec_id;
	uint64_t start_ns;
};

struct proctab {
	pthread_mutex_t lock;
	struct hashmap *map;		/* instance_key -> struct proc_instance * */
	int64_t retention_ns;
	size_t max_bytes;
	struct proctab_stats stats;
	proctab_exit_fn on_exit;
	void *on_exit_arg;
};

bool proc_instance_alive(uint32_t pid, uint64_t start_ns)
{
	static long hz;
	uint64_t ticks;
	bool exited;		/* a zombie is still the same process */

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || targets__proc_stat(pid, &ticks, &exited))
		return false;
	return ticks == start_ns / (1000000000ULL / (uint64_t)hz);
}

static bool same_process(const struct proc_instance *in)
{
	return proc_instance_alive(in->pid, in->start_ns);
}

bool proc_alive(int pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", pid);
	return pid > 0 && access(path, F_OK) == 0;
}

struct proctab *proctab__new(int64_t retention_ns, size_t max_bytes)
{
	struct proctab *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->map = hashmap__new(sizeof(struct instance_key), sizeof(struct proc_instance *));
	if (!t->map) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	{
		/* the events thread reads new processes' maps at a real-time
		 * priority: a profile build holding the table meanwhile runs
		 * at it too */
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&t->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	t->retention_ns = retention_ns;
	t->max_bytes = max_bytes;
	return t;
}

static void read_maps(struct proctab *t, struct proc_instance *in)
{
	struct procmaps fresh = { 0 };
	int err;

	in->refreshed_ns = mono_ns();
	t->stats.maps_reads++;
	/* Read first, then check the pid still is this instance: a check
	 * before the read would leave a window for pid reuse in between. */
	err = procmaps__read(in->pid, &fresh);
	if (!err && !same_process(in)) {
		procmaps__clear(&fresh);
		err = -ESRCH;
	}
	if (err) {
		t->stats.maps_errors++;
		/* Gone since a read that worked (a frame missed its maps while
		 * a profile was built after it exited): what that read saw
		 * still holds, and its samples stay named. */
		if (!in->maps.nr)
			in->maps_err = err;
		return;
	}
	in->maps_err = 0;
	procmaps__clear(&in->maps);
	in->maps = fresh;
	/* its effective ids, for reading its perf map as it would; a
	 * process that is not dumpable shows as root's, which only makes
	 * that check stricter */
	{
		char dir[32];
		struct stat st;

		snprintf(dir, sizeof(dir), "/proc/%u", in->pid);
		if (!stat(dir, &st) && same_process(in)) {
			in->uid = (uint32_t)st.st_uid;
			in->gid = (uint32_t)st.st_gid;
			in->user_known = true;
		}
	}
}

/* What requests' exe=, cgroup= and container labels go by: its executable,
 * and from its cgroup file its cgroup v2 path and container. Kept only if
 * the pid still is this instance once they are read. */
static void read_names(struct proc_instance *in)
{
	char path[64], buf[PATH_MAX], *text = NULL;
	size_t tlen;

	snprintf(path, sizeof(path), "/proc/%u/cgroup", in->pid);
	if (read_file(path, 256u << 10, &text, &tlen) ||
	    container__id_from_cgroup(text, in->container, sizeof(in->container)))
		in->container[0] = '\0';	/* gone, or an id too long to be one */
	if (text && !targets__cgroup_from_text(text, buf, sizeof(buf)))
		in->cgroup = strdup(buf);
	free(text);
	if (!targets__read_exe(in->pid, buf, sizeof(buf)))
		in->exe = strdup(buf);
	if (!same_process(in)) {
		in->container[0] = '\0';
		free(in->exe);
		free(in->cgroup);
		in->exe = in->cgroup = NULL;
	}
}

int proctab__add(struct proctab *t, uint32_t pid, uint64_t start_ns, uint32_t exec_id)
{
	struct instance_key key = { .pid = pid, .exec_id = exec_id, .start_ns = start_ns };
	struct proc_instance **slot, *in;
	bool added;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	slot = hashmap__insert(t->map, &key, &added);
	if (!slot) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (!added)
		goto cleanup;
	in = calloc(1, sizeof(*in));
	*slot = in;
	if (!in) {
		err = -ENOMEM;
		goto cleanup;
	}
	in->pid = pid;
	in->exec_id = exec_id;
	in->start_ns = start_ns;
	read_maps(t, in);
	if (in->maps_err)
		log_debug("cannot read the maps of pid %u: %s", pid, strerror(-in->maps_err));
	else
		read_names(in);
cleanup:
	pthread_mutex_unlock(&t->lock);
	return err;
}

void proctab__set_exit_hook(struct proctab *t, proctab_exit_fn fn, void *arg)
{
	pthread_mutex_lock(&t->lock);
	t->on_exit = fn;
	t->on_exit_arg = arg;
	pthread_mutex_unlock(&t->lock);
}

void proctab__lock(struct proctab *t)
{
	pthread_mutex_lock(&t->lock);
}

void proctab__unlock(struct proctab *t)
{
	pthread_mutex_unlock(&t->lock);
}

struct proc_instance *proctab__get(struct proctab *t, uint32_t pid, uint64_t start_ns, uint32_t exec_id)
{
	struct instance_key key = { .pid = pid, .exec_id = exec_id, .start_ns = start_ns };
	struct proc_instance **slot = hashmap__find(t->map, &key);

	return slot ? *slot : NULL;
}

void proctab__refresh(struct proctab *t, struct proc_instance *in, bool force)
{
	/* one re-read per instance per 100 ms, however many frames miss */
	if (in->exited_ns || (!force && mono_ns() - in->refreshed_ns < 100 * 1000000LL))
		return;
	read_maps(t, in);
}

static void instance_free(struct proc_instance *in)
{
	if (!in)
		return;
	procmaps__clear(&in->maps);
	perfmap__free(in->perfmap);
	free(in->exe);
	free(in->cgroup);
	free(in);
}

static size_t instance_mem(const struct proc_instance *in)
{
	return sizeof(*in) + procmaps__mem(&in->maps) + perfmap__mem(in->perfmap) +
	       (in->exe ? strlen(in->exe) + 1 : 0) + (in->cgroup ? strlen(in->cgroup) + 1 : 0) +
	       2 * (sizeof(struct instance_key) + sizeof(in));	/* its slot, with room */
}

static int cmp_exit(const void *a, const void *b)
{
	const struct proc_instance *x = *(struct proc_instance *const *)a;
	const struct proc_instance *y = *(struct proc_instance *const *)b;

	return x->exited_ns < y->exited_ns ? -1 : x->exited_ns > y->exited_ns;
}

void proctab__gc(struct proctab *t, int64_t keep_since)
{
	int64_t now = mono_ns(), cutoff = now - t->retention_ns;
	struct proc_instance **slot, **exited = NULL;
	struct instance_key *k;
	struct hashmap *keep;
	size_t it = 0, bytes = 0, nr_exited = 0, shed = 0;

	pthread_mutex_lock(&t->lock);
	exited = malloc((hashmap__count(t->map) + 1) * sizeof(*exited));
	while (hashmap__next(t->map, &it, NULL, (void **)&slot)) {
		struct proc_instance *in = *slot;

		if (!in)
			continue;
		if (!in->exited_ns && !same_process(in)) {
			in->exited_ns = now;
			t->stats.exited++;
			if (t->on_exit)
				t->on_exit(t->on_exit_arg, in);
		}
		/* gone for good: exited before the retention and before any
		 * window that may hold its samples */
		if (in->exited_ns && in->exited_ns <= cutoff && in->exited_ns < keep_since) {
			in->exited_ns = -1;
			continue;
		}
		bytes += instance_mem(in);
		if (in->exited_ns && exited)
			exited[nr_exited++] = in;
	}
	/* Over the bound: exited instances go, the oldest exit first. Live
	 * ones stay: their samples are still coming. */
	if (bytes > t->max_bytes && exited) {
		qsort(exited, nr_exited, sizeof(*exited), cmp_exit);
		for (size_t i = 0; i < nr_exited && bytes > t->max_bytes; i++) {
			bytes -= instance_mem(exited[i]);
			exited[i]->exited_ns = -1;
			shed++;
		}
	}
	free(exited);
	/* Rebuild rather than delete in place: open addressing has no cheap
	 * delete. */
	keep = hashmap__new(sizeof(*k), sizeof(*slot));
	if (!keep)
		goto cleanup;
	it = 0;
	while (hashmap__next(t->map, &it, (void **)&k, (void **)&slot)) {
		struct proc_instance **dst;

		if (!*slot || (*slot)->exited_ns == -1)
			continue;
		dst = hashmap__insert(keep, k, NULL);
		if (!dst) {		/* out of memory: keep the old table whole */
			hashmap__free(keep);
			/* what was marked to go is marked exited again */
			it = 0;
			while (hashmap__next(t->map, &it, NULL, (void **)&slot))
				if (*slot && (*slot)->exited_ns == -1)
					(*slot)->exited_ns = now;
			goto cleanup;
		}
		*dst = *slot;
	}
	it = 0;
	while (hashmap__next(t->map, &it, (void **)&k, (void **)&slot)) {
		if (!hashmap__find(keep, k)) {
			instance_free(*slot);
			t->stats.evicted++;
		}
	}
	hashmap__free(t->map);
	t->map = keep;
	t->stats.shed += shed;
	t->stats.bytes = bytes;
cleanup:
	pthread_mutex_unlock(&t->lock);
}

void proctab__stats(struct proctab *t, struct proctab_stats *st)
{
	pthread_mutex_lock(&t->lock);
	*st = t->stats;
	st->instances = hashmap__count(t->map);
	st->max_bytes = t->max_bytes;
	pthread_mutex_unlock(&t->lock);
}

void proctab__free(struct proctab *t)
{
	struct proc_instance **slot;
	size_t it = 0;

	if (!t)
		return;
	while (hashmap__next(t->map, &it, NULL, (void **)&slot))
		instance_free(*slot);
	hashmap__free(t->map);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

