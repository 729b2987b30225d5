#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfmaps.h"
#include "cpu.skel.h"
#include "cpuview.h"
#include "log.h"
#include "proctab.h"

#define MAX_SETS 4	/* the always-on rate plus three other hz= at once */

/* One perf event per online CPU at one rate, shared by windows of that rate. */
struct perfset {
	int hz;
	int refs;
	struct bpf_link **links;
	int *fds;
};

struct cpuview {
	struct cpu *skel;
	struct ring_buffer *events;
	struct proctab *proctab;
	pthread_mutex_t lock;		/* generations, windows, perf sets */
	struct window *windows;
	struct perfset sets[MAX_SETS];
	int *cpus, nr_cpus;
	int counts_fd[CPROF_NR_GENS], stacks_fd[CPROF_NR_GENS];
	struct unwinder *unwinder;	/* NULL: frame pointers only */
	void *rows, *maps;		/* the mmap'd row space and mapping slots */
	size_t rows_len, maps_len;
	struct cpuview_stats stats;
};

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Online CPUs from /sys, e.g. "0-3,5". */
static int online_cpus(int **out)
{
	FILE *f = fopen("/sys/devices/system/cpu/online", "re");
	int *cpus = NULL, n = 0, a, b;
	char sep;

	if (!f)
		return -errno;
	while (fscanf(f, "%d", &a) == 1) {
		b = a;
		sep = fgetc(f);
		if (sep == '-') {
			if (fscanf(f, "%d", &b) != 1)
				break;
			sep = fgetc(f);
		}
		for (int c = a; c <= b; c++) {
			int *more = realloc(cpus, (n + 1) * sizeof(*cpus));

			if (!more) {
				free(cpus);
				fclose(f);
				return -ENOMEM;
			}
			cpus = more;
			cpus[n++] = c;
		}
		if (sep != ',')
			break;
	}
	fclose(f);
	if (!n)
		return -ENOENT;
	*out = cpus;
	return n;
}

static void perfset_close(struct cpuview *v, struct perfset *s)
{
	for (int i = 0; i < v->nr_cpus; i++) {
		if (s->links)
			bpf_link__destroy(s->links[i]);
		if (s->fds && s->fds[i] >= 0)
			close(s->fds[i]);
	}
	free(s->links);
	free(s->fds);
	memset(s, 0, sizeof(*s));
}

static int perfset_open(struct cpuview *v, struct perfset *s, int hz)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* a fixed period in ns is what the kernel turns a frequency
		 * into for cpu-clock anyway; asking for it keeps it exact */
		.sample_period = 1000000000ULL / hz,
	};
	int err = 0;

	s->hz = hz;
	s->refs = 1;
	s->links = calloc(v->nr_cpus, sizeof(*s->links));
	s->fds = malloc(v->nr_cpus * sizeof(*s->fds));
	if (!s->links || !s->fds) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < v->nr_cpus; i++)
		s->fds[i] = -1;
	for (int i = 0; i < v->nr_cpus; i++) {
		s->fds[i] = syscall(__NR_perf_event_open, &attr, -1, v->cpus[i], -1,
				    PERF_FLAG_FD_CLOEXEC);
		if (s->fds[i] < 0) {
			if (errno == ENODEV)	/* went offline meanwhile */
				continue;
			err = -errno;
			goto cleanup;
		}
		s->links[i] = bpf_program__attach_perf_event(v->skel->progs.cpu_sample, s->fds[i]);
		if (!s->links[i]) {
			err = -errno;
			goto cleanup;
		}
	}
cleanup:
	if (err)
		perfset_close(v, s);
	return err;
}

/* A new process instance (read its maps while it lives), a busy one (build
 * its unwind tables), or one whose walk met a pc in no known mapping (read
 * its maps again and republish: a library came). */
static int on_event(void *ctx, void *data, size_t size)
{
	struct cpuview *v = ctx;
	const struct cprof_event *e = data;
	struct proc_instance *in;

	if (size < sizeof(*e))
		return 0;
	if (e->type == CPROF_EV_NEW_PROC) {
		proctab__add(v->proctab, e->pid, e->start_ns, e->exec_id);
		return 0;
	}
	if ((e->type != CPROF_EV_BUSY && e->type != CPROF_EV_MAPS_STALE) || !v->unwinder)
		return 0;
	proctab__lock(v->proctab);
	in = proctab__get(v->proctab, e->pid, e->start_ns, e->exec_id);
	/* the BPF side sends these at most once a second per process: a
	 * skipped re-read would leave the walk without the new mapping that long */
	if (in && e->type == CPROF_EV_MAPS_STALE)
		proctab__refresh(v->proctab, in, true);
	/* kernel threads have no mappings, and are never walked */
	if (in && !in->maps_err && in->maps.nr)
		unwinder__add(v->unwinder, in);
	proctab__unlock(v->proctab);
	return 0;
}

void cpuview__process_exited(struct cpuview *v, const struct proc_instance *in)
{
	if (v->unwinder)
		unwinder__remove(v->unwinder, in->pid, in->start_ns, in->exec_id);
}

/* Walking with unwind tables needs bpf_loop (5.17) and bpf_task_pt_regs
 * (5.15); without them user stacks are walked by frame pointers. */
static bool can_unwind(void)
{
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL) > 0 &&
	       libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs, NULL) > 0;
}

static void *map_array(struct bpf_map *m, size_t elem, size_t *len)
{
	void *p;

	*len = (size_t)bpf_map__max_entries(m) * elem;
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(m), 0);
	return p == MAP_FAILED ? NULL : p;
}

static int unwinder_start(struct cpuview *v, char *err, size_t errlen)
{
	v->rows = map_array(v->skel->maps.unwind_rows, sizeof(struct unwind_row), &v->rows_len);
	v->maps = map_array(v->skel->maps.unwind_maps, sizeof(struct unwind_mapping), &v->maps_len);
	if (!v->rows || !v->maps) {
		snprintf(err, errlen, "cannot map the unwind tables: %s", strerror(errno));
		return -errno;
	}
	v->unwinder = unwinder__new(v->rows, bpf_map__max_entries(v->skel->maps.unwind_rows),
				    v->maps, bpf_map__max_entries(v->skel->maps.unwind_maps),
				    bpf_map__fd(v->skel->maps.unwind_procs));
	if (!v->unwinder) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void set_entries(struct bpf_map *a, struct bpf_map *b, uint32_t n)
{
	bpf_map__set_max_entries(a, n);
	bpf_map__set_max_entries(b, n);
}

/* Entries a generation needs: at worst every sample of a drain interval
 * (one second) is a new key with two new stacks. Sized for the always-on
 * rate on every CPU with room to spare, within bounds; beyond them drops are
 * counted (counts_map_full, stacks_map_full). */
static uint32_t entries_for(int nr_cpus, int hz, uint32_t lo, uint32_t hi)
{
	uint64_t n = (uint64_t)nr_cpus * hz * 2;

	return n < lo ? lo : n > hi ? hi : (uint32_t)n;
}

struct cpuview *cpuview__new(const struct cpuview_opts *opts, struct proctab *pt,
			     char *err, size_t errlen)
{
	struct cpuview *v = calloc(1, sizeof(*v));
	int e;

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&v->lock, NULL);
	v->proctab = pt;
	e = online_cpus(&v->cpus);
	if (e < 0) {
		snprintf(err, errlen, "cannot list online CPUs: %s", strerror(-e));
		goto fail;
	}
	v->nr_cpus = e;

	v->skel = cpu__open();
	if (!v->skel) {
		snprintf(err, errlen, "cannot open the cpu BPF object: %s", strerror(errno));
		goto fail;
	}
	v->skel->rodata->filter_pids = opts->pids != NULL;
	v->stats.dwarf_unwind = !opts->frame_pointers_only && can_unwind();
	v->skel->rodata->dwarf_unwind = v->stats.dwarf_unwind;
	if (!v->stats.dwarf_unwind) {	/* no tables: keep the maps minimal */
		bpf_map__set_max_entries(v->skel->maps.unwind_rows, 1);
		bpf_map__set_max_entries(v->skel->maps.unwind_maps, 1);
		bpf_map__set_max_entries(v->skel->maps.unwind_procs, 1);
	}
	v->skel->rodata->kernel_stacks = opts->kernel_stacks;
	set_entries(v->skel->maps.cpu_counts0, v->skel->maps.cpu_counts1, opts->counts_entries ?:
		    entries_for(v->nr_cpus, opts->hz, 16384, 262144));
	/* a stack is 1 KiB: these bound the kernel memory at 2 x 64 MiB */
	set_entries(v->skel->maps.stacks0, v->skel->maps.stacks1, opts->stacks_entries ?:
		    entries_for(v->nr_cpus, opts->hz, 8192, 65536));
	e = cpu__load(v->skel);
	if (e) {
		snprintf(err, errlen, "the kernel refused the cpu BPF program: %s; run with -v to see the verifier's log",
			 strerror(-e));
		goto fail;
	}
	v->stats.insns = bpf_program__insn_cnt(v->skel->progs.cpu_sample);
	log_debug("cpu_sample: %u instructions", v->stats.insns);

	for (int i = 0; i < opts->nr_pids; i++) {
		uint32_t pid = opts->pids[i];
		uint8_t one = 1;

		if (bpf_map__update_elem(v->skel->maps.targets, &pid, sizeof(pid), &one, 1, BPF_ANY)) {
			snprintf(err, errlen, "cannot add pid %u to the targets: %s", pid, strerror(errno));
			goto fail;
		}
	}
	v->counts_fd[0] = bpf_map__fd(v->skel->maps.cpu_counts0);
	v->counts_fd[1] = bpf_map__fd(v->skel->maps.cpu_counts1);
	v->stacks_fd[0] = bpf_map__fd(v->skel->maps.stacks0);
	v->stacks_fd[1] = bpf_map__fd(v->skel->maps.stacks1);

	if (v->stats.dwarf_unwind && unwinder_start(v, err, errlen))
		goto fail;
	v->events = ring_buffer__new(bpf_map__fd(v->skel->maps.events), on_event, v, NULL);
	if (!v->events) {
		snprintf(err, errlen, "cannot open the events ring buffer: %s", strerror(errno));
		goto fail;
	}
	e = perfset_open(v, &v->sets[0], opts->hz);
	if (e) {
		snprintf(err, errlen, "cannot start cpu-clock sampling at %d Hz: %s", opts->hz, strerror(-e));
		goto fail;
	}
	v->stats.hz = opts->hz;
	v->stats.nr_cpus = v->nr_cpus;
	return v;
fail:
	cpuview__free(v);
	return NULL;
}

static int on_stack(const void *key, const void *value, void *arg)
{
	struct cpuview *v = arg;

	v->stats.drained_stacks++;
	for (struct window *w = v->windows; w; w = w->next)
		if (window__add_stack(w, *(const uint64_t *)key, value))
			v->stats.window_errors++;
	return 0;
}

static int on_count(const void *key, const void *value, void *arg)
{
	const struct cpu_key *k = key;
	struct cpuview *v = arg;

	v->stats.drained_records++;
	for (struct window *w = v->windows; w; w = w->next)
		if (w->filter == k->period_ns && window__add(w, k, value))
			v->stats.window_errors++;
	return 0;
}

/* Caller holds v->lock. */
static int drain_locked(struct cpuview *v)
{
	uint32_t old = __atomic_load_n(&v->skel->bss->gen, __ATOMIC_RELAXED);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int e;

	__atomic_store_n(&v->skel->bss->gen, old ^ 1, __ATOMIC_SEQ_CST);
	bpf__sync();		/* nobody writes into generation `old` any more */
	e = bpfmap__drain(v->stacks_fd[old], sizeof(uint64_t), sizeof(struct stack_trace), on_stack, v);
	if (e >= 0)
		e = bpfmap__drain(v->counts_fd[old], sizeof(struct cpu_key), sizeof(uint64_t), on_count, v);
	v->stats.drains++;
	v->stats.last_drain_ns = now_ns(CLOCK_MONOTONIC) - t0;
	return e < 0 ? e : 0;
}

int cpuview__drain(struct cpuview *v)
{
	int e;

	pthread_mutex_lock(&v->lock);
	e = drain_locked(v);
	pthread_mutex_unlock(&v->lock);
	return e;
}

struct window *cpuview__open_window(struct cpuview *v, int hz)
{
	struct perfset *set = NULL;
	struct window *w;
	int e = 0;

	if (!hz)
		hz = v->sets[0].hz;
	w = window__new(sizeof(struct cpu_key), 1);
	if (!w)
		return NULL;
	w->filter = 1000000000ULL / hz;

	pthread_mutex_lock(&v->lock);
	for (int i = 0; i < MAX_SETS; i++)
		if (v->sets[i].refs && v->sets[i].hz == hz) {
			set = &v->sets[i];
			set->refs++;
			break;
		}
	for (int i = 0; !set && i < MAX_SETS; i++)
		if (!v->sets[i].refs) {
			e = perfset_open(v, &v->sets[i], hz);
			if (e)
				goto cleanup;
			set = &v->sets[i];
		}
	if (!set) {
		e = -EBUSY;
		goto cleanup;
	}
	/* Drain so the window starts with nothing from before it opened. */
	drain_locked(v);
	w->start_ns = now_ns(CLOCK_REALTIME);
	w->next = v->windows;
	v->windows = w;
	v->stats.open_windows++;
cleanup:
	pthread_mutex_unlock(&v->lock);
	if (e) {
		window__free(w);
		errno = -e;
		return NULL;
	}
	return w;
}

void cpuview__close_window(struct cpuview *v, struct window *w)
{
	pthread_mutex_lock(&v->lock);
	drain_locked(v);
	w->end_ns = now_ns(CLOCK_REALTIME);
	for (struct window **p = &v->windows; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	w->next = NULL;
	v->stats.open_windows--;
	/* The always-on set (index 0) keeps its own reference. */
	for (int i = 0; i < MAX_SETS; i++)
		if (v->sets[i].refs && 1000000000ULL / v->sets[i].hz == w->filter) {
			if (--v->sets[i].refs == 0)
				perfset_close(v, &v->sets[i]);
			break;
		}
	pthread_mutex_unlock(&v->lock);
}

int cpuview__poll_events(struct cpuview *v, int timeout_ms)
{
	int n = ring_buffer__poll(v->events, timeout_ms);

	return n == -EINTR ? 0 : n;
}

void cpuview__stats(struct cpuview *v, struct cpuview_stats *st)
{
	pthread_mutex_lock(&v->lock);
	*st = v->stats;
	pthread_mutex_unlock(&v->lock);
	counters__read(bpf_map__fd(v->skel->maps.counters), st->bpf);
	if (v->unwinder)
		unwinder__stats(v->unwinder, &st->unwind);
}

void cpuview__free(struct cpuview *v)
{
	if (!v)
		return;
	for (int i = 0; i < MAX_SETS; i++)
		if (v->sets[i].refs)
			perfset_close(v, &v->sets[i]);
	ring_buffer__free(v->events);
	unwinder__free(v->unwinder);
	if (v->rows)
		munmap(v->rows, v->rows_len);
	if (v->maps)
		munmap(v->maps, v->maps_len);
	cpu__destroy(v->skel);
	free(v->cpus);
	pthread_mutex_destroy(&v->lock);
	free(v);
}
