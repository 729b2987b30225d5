#include <dirent.h>
#include <math.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "bpfmaps.h"
#include "capture.skel.h"
#include "core.h"
#include "heapsrc.h"
#include "lock.h"
#include "log.h"
#include "params.h"
#include "proctab.h"
#include "targets.h"

#define MAX_SETS 4	/* the always-on rate plus three other hz= at once */
#define NS 1000000000LL
/* A generation is drained every second, or sooner once this share of its
 * maps is used; the drain thread looks this often. */
#define DRAIN_EVERY_NS	NS
#define DRAIN_LOOK_MS	100
#define DRAIN_FILL_PCT	50
#define UNWIND_QUEUE	8192
#define UNWIND_TICK_NS	(2 * NS)
/* The kernel's attach type for uprobe sessions (6.13), which the uapi
 * headers this builds with may not name. */
#define ATTACH_UPROBE_SESSION	57

/* One perf event per online CPU at one rate, shared by windows of that rate. */
struct perfset {
	int hz;
	int refs;
	struct bpf_link **links;
	int *fds;
};

/* The programs that keep the targets map (bpf/targets.h). */
#define NR_TARGET_PROGS 4
/* The scheduler source's (bpf/sched.bpf.h): sched_switch, and where threads
 * go back to user code: rseq_update or sys_exit. */
#define NR_SCHED_PROGS 2
/* The futex source's (bpf/lock.bpf.h): sched_switch, sched_waking. */
#define NR_LOCK_PROGS 2

/* What the unwind worker is asked to do. */
enum work_type { WORK_ADD, WORK_STALE, WORK_EXIT };

struct work {
	enum work_type type;
	uint32_t pid, exec_id;
	uint64_t start_ns;
};

struct core {
	struct capture *skel;
	struct ring_buffer *events;
	struct proctab *proctab;
	pthread_mutex_t lock;		/* generations, windows, perf sets, stats */
	struct window *windows;		/* open */
	struct window *closed;		/* closed, not yet freed */
	struct stackstore *store;
	struct perfset sets[MAX_SETS];
	int *cpus, nr_cpus;
	int counts_fd[CPROF_NR_GENS], stacks_fd[CPROF_NR_GENS], offcpu_fd[CPROF_NR_GENS];
	int heap_allocs_fd[CPROF_NR_GENS], heap_frees_fd[CPROF_NR_GENS];
	struct heapsrc *heap;		/* NULL: the allocator source is off */
	int heap_refs;			/* windows that need it */
	struct hashmap *heap_ids;	/* heap_key.id -> struct heap_key, while attached:
					 * what the frees of sampled blocks refer to */
	struct hashmap *heap_pids;	/* tgid -> records it has in the heap windows */
	int64_t gen_start[CPROF_NR_GENS];	/* CLOCK_MONOTONIC each generation began */
	struct bpf_program *sched_progs[NR_SCHED_PROGS];	/* the flavour loaded */
	struct bpf_link *sched_links[NR_SCHED_PROGS];
	int sched_refs;			/* windows that need the scheduler source */
	int lock_fd[CPROF_NR_GENS];
	struct bpf_program *lock_progs[NR_LOCK_PROGS];	/* the flavour loaded */
	struct bpf_link *lock_links[NR_LOCK_PROGS];
	int lock_refs;			/* windows that need the futex source */
	/* both sources loaded: one program on sched_switch for the two
	 * (bpf/switch.bpf.h), sched_progs[0] and lock_progs[0], attached
	 * while either source runs */
	bool switch_shared;
	struct bpf_link *switch_link;
	unsigned int switch_users;	/* SOURCE_SCHED, SOURCE_FUTEX */
	bool pending[CPROF_NR_GENS];	/* a failed drain left entries there */
	int64_t flipped_ns;		/* CLOCK_MONOTONIC of the last flip */
	int64_t flipped_real_ns;	/* and CLOCK_REALTIME: a window's samples are
					 * those of the generations from the flip
					 * after it opens to the one as it closes */
	uint64_t fill_limit;		/* new entries in a generation that drain it early */
	size_t window_limit;
	uint64_t closed_bytes;		/* index bytes of closed windows */
	struct unwinder *unwinder;	/* NULL: frame pointers only */
	uint64_t unwind_rows;		/* the row budget */
	struct isolate *tables_parser;	/* where tables are built */
	struct core_stats stats;
	bool heap_sessions;		/* the session program is loaded */

	/* targets (targets.h): what was asked, and what is done about it */
	pthread_mutex_t tlock;		/* the fields below, and the targets maps */
	struct targets_spec targets;
	struct bpf_link *target_links[NR_TARGET_PROGS];
	bool follow;			/* the exec, fork and exit programs are attached */
	bool cgroups_in_bpf;		/* BPF matches cgroups at exec */
	uint64_t targets_scanned, targets_added, targets_left, targets_gone;
	uint64_t targets_full;		/* the daemon's insertions refused */

	/* the drain thread */
	pthread_t drainer;
	bool drainer_started;
	/* the unwind worker and its queue */
	pthread_t worker;
	bool worker_started;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;		/* work queued, or stopping */
	struct work *queue;
	size_t qhead, qlen;
	bool stopping;			/* atomic */
	pthread_cond_t stop_cond;	/* wakes the drain thread (under lock) */
	pthread_cond_t closed_cond;	/* a window was closed (under lock) */
};

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
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

static void perfset_close(struct core *v, struct perfset *s)
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

static int perfset_open(struct core *v, struct perfset *s, int hz)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		/* a fixed period in ns is what the kernel turns a frequency
		 * into for cpu-clock anyway; asking for it keeps it exact */
		.sample_period = NS / hz,
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

/* ---- the unwind worker ---- */

static void queue_work(struct core *v, enum work_type type, uint32_t pid, uint64_t start_ns,
		       uint32_t exec_id)
{
	pthread_mutex_lock(&v->qlock);
	if (v->qlen == UNWIND_QUEUE) {
		/* counted; a busy process is announced again by its stale
		 * walks, an exit found again by the next collection */
		v->stats.unwind_queue_dropped++;
	} else {
		v->queue[(v->qhead + v->qlen++) % UNWIND_QUEUE] = (struct work){
			.type = type, .pid = pid, .exec_id = exec_id, .start_ns = start_ns,
		};
		pthread_cond_signal(&v->qcond);
	}
	pthread_mutex_unlock(&v->qlock);
}

/* Publish a process's mappings, building tables for objects new to the
 * unwinder. Its maps are copied under the process table's lock, and the
 * build (up to a second for libLLVM) runs without it. */
static void work_add(struct core *v, const struct work *w)
{
	struct procmaps maps = { 0 };
	struct proc_instance *in;
	int err = -ESRCH;

	proctab__lock(v->proctab);
	in = proctab__get(v->proctab, w->pid, w->start_ns, w->exec_id);
	/* the BPF side sends stale reports at most once a second per
	 * process: a skipped re-read would leave the walk without the new
	 * mapping that long */
	if (in && w->type == WORK_STALE)
		proctab__refresh(v->proctab, in, true);
	/* kernel threads have no mappings, and are never walked */
	if (in && !in->exited_ns && !in->maps_err && in->maps.nr)
		err = procmaps__copy(&maps, &in->maps);
	proctab__unlock(v->proctab);
	if (!err)
		unwinder__add_maps(v->unwinder, w->pid, w->start_ns, w->exec_id, &maps);
	procmaps__clear(&maps);
}

static void *unwind_worker(void *arg)
{
	struct core *v = arg;
	struct work *batch = malloc(UNWIND_QUEUE * sizeof(*batch));
	struct unwinder_gone *gone = malloc(UNWIND_QUEUE * sizeof(*gone));
	int64_t ticked = now_ns(CLOCK_MONOTONIC);

	if (!batch || !gone) {
		log_error("the unwind worker is out of memory: unwind tables stay as they are");
		goto out;
	}
	for (;;) {
		struct timespec until;
		size_t n = 0, nr_gone = 0;
		bool stop;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_mutex_lock(&v->qlock);
		while (!v->qlen && !v->stopping &&
		       pthread_cond_timedwait(&v->qcond, &v->qlock, &until) != ETIMEDOUT)
			;
		stop = v->stopping;
		for (; v->qlen; v->qlen--, v->qhead = (v->qhead + 1) % UNWIND_QUEUE)
			batch[n++] = v->queue[v->qhead];
		pthread_mutex_unlock(&v->qlock);
		if (stop)
			break;
		/* exits first, all in one BPF grace period; an add for an
		 * instance already gone is skipped by work_add */
		for (size_t i = 0; i < n; i++)
			if (batch[i].type == WORK_EXIT)
				gone[nr_gone++] = (struct unwinder_gone){
					.pid = batch[i].pid, .exec_id = batch[i].exec_id,
					.start_ns = batch[i].start_ns };
		if (nr_gone)
			unwinder__remove_many(v->unwinder, gone, nr_gone);
		for (size_t i = 0; i < n; i++)
			if (batch[i].type != WORK_EXIT)
				work_add(v, &batch[i]);
		if (now_ns(CLOCK_MONOTONIC) - ticked >= UNWIND_TICK_NS) {
			ticked = now_ns(CLOCK_MONOTONIC);
			unwinder__tick(v->unwinder, (uint64_t)ticked);
		}
	}
out:
	free(batch);
	free(gone);
	return NULL;
}

/* ---- targets ---- */

/* The targets map changed: what BPF remembers of it is asked again. */
static void targets_changed(struct core *v)
{
	__atomic_fetch_add(&v->skel->bss->targets_gen, 1, __ATOMIC_SEQ_CST);
}

/* Add pid, matched by name in user space, whose start /proc/PID/stat gave
 * as ticks; false when it was not added (a target already, the map full:
 * counted, or gone meanwhile). Caller holds tlock. */
static bool target_insert(struct core *v, uint32_t pid, uint64_t ticks)
{
	int fd = bpf_map__fd(v->skel->maps.targets);
	uint8_t name = CPROF_TARGET_NAME;
	uint64_t now;
	bool exited;

	if (bpf_map_update_elem(fd, &pid, &name, BPF_NOEXIST)) {
		if (errno != EEXIST)
			v->targets_full++;
		return false;
	}
	targets_changed(v);
	/* Exited before it was added: the exit program had nothing to
	 * remove, and the pid, once reused, must not be a target. */
	if (targets__proc_stat(pid, &now, &exited) || exited || now != ticks) {
		bpf_map_delete_elem(fd, &pid);
		targets_changed(v);
		return false;
	}
	return true;
}

static uint64_t ns_to_ticks(uint64_t ns)
{
	static long hz;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK);
	return ns / (NS / hz);
}

/* A process exec'd, or moved to another cgroup, and BPF could not tell
 * whether it is a target now (an exe target; cgroups on kernels without
 * the ancestor helper): add it, or after an exec remove it if it was
 * matched by name and matches no more. A child added at fork that does not
 * match on its own stays until it execs. */
static void target_check(struct core *v, const struct cprof_event *e)
{
	int fd = bpf_map__fd(v->skel->maps.targets);
	uint64_t ticks;
	uint8_t why;
	bool exited;

	pthread_mutex_lock(&v->tlock);
	if (!targets__has_names(&v->targets))
		goto out;
	if (targets__proc_stat(e->pid, &ticks, &exited) || exited ||
	    ticks != ns_to_ticks(e->start_ns)) {
		v->targets_gone++;
		goto out;
	}
	if (targets__match(&v->targets, e->pid, NULL) > 0) {
		if (target_insert(v, e->pid, ticks))
			v->targets_added++;
	} else if (e->type == CPROF_EV_TARGET_EXEC && !bpf_map_lookup_elem(fd, &e->pid, &why) &&
		   why == CPROF_TARGET_NAME && !bpf_map_delete_elem(fd, &e->pid)) {
		v->targets_left++;
		targets_changed(v);
	}
out:
	pthread_mutex_unlock(&v->tlock);
}

/* Running processes that match a name target. Caller holds tlock. */
static void targets_scan(struct core *v)
{
	struct dirent *de;
	DIR *d;

	if (!targets__has_names(&v->targets))
		return;
	d = opendir("/proc");
	if (!d) {
		log_error("cannot list processes in /proc: %s; only processes that start from now on are matched by name",
			  strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);
		uint64_t ticks;
		bool exited;

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end || pid > UINT32_MAX)
			continue;
		if (targets__proc_stat(pid, &ticks, &exited) || exited)
			continue;
		if (targets__match(&v->targets, pid, NULL) > 0 && target_insert(v, pid, ticks))
			v->targets_scanned++;
	}
	closedir(d);
}

/* Entries no longer asked for: --pid ones not in the spec, and name-matched
 * ones that match none of its names now. Caller holds tlock. */
static void targets_prune(struct core *v)
{
	int fd = bpf_map__fd(v->skel->maps.targets);
	uint32_t *keys = malloc(CPROF_MAX_TARGETS * sizeof(*keys)), key, *prev = NULL;
	size_t n = 0;

	if (!keys)
		return;
	/* keys first: deleting while walking restarts a hash map's walk */
	while (n < CPROF_MAX_TARGETS && !bpf_map_get_next_key(fd, prev, &key)) {
		keys[n] = key;
		prev = &keys[n++];
	}
	for (size_t i = 0; i < n; i++) {
		bool keep = false;
		uint8_t why;

		if (bpf_map_lookup_elem(fd, &keys[i], &why))
			continue;
		if (why == CPROF_TARGET_PID) {
			for (int j = 0; j < v->targets.nr_pids && !keep; j++)
				keep = (uint32_t)v->targets.pids[j] == keys[i];
		} else {
			keep = targets__match(&v->targets, keys[i], NULL) > 0;
		}
		if (!keep)
			bpf_map_delete_elem(fd, &keys[i]);
	}
	free(keys);
}

/* Empty a small hash map (the target names or cgroups). */
static void map_clear(int fd, size_t key_size)
{
	char key[64];

	while (key_size <= sizeof(key) && !bpf_map_get_next_key(fd, NULL, key))
		if (bpf_map_delete_elem(fd, key))
			break;
}

int core__set_targets(struct core *v, const struct targets_spec *spec,
			 char *err, size_t errlen)
{
	int tfd = bpf_map__fd(v->skel->maps.targets);
	int cfd = bpf_map__fd(v->skel->maps.target_comms);
	int gfd = bpf_map__fd(v->skel->maps.target_cgroups);
	struct targets_spec next = { 0 };
	uint32_t flags;
	uint64_t levels = 0;
	uint8_t one = 1;
	int e = 0;

	if (targets__has_names(spec) && !v->follow) {
		snprintf(err, errlen, "cannot match processes by name (--comm, --exe, --cgroup): the exec, fork and exit tracepoints could not be attached; run with -v for why");
		return -EOPNOTSUPP;
	}
	if (targets__copy(&next, spec)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&v->tlock);
	targets__clear(&v->targets);
	v->targets = next;
	/* The names first, and what BPF matches at exec with them: a process
	 * that starts while the running ones are scanned is not missed. */
	map_clear(cfd, sizeof(struct cprof_comm));
	map_clear(gfd, sizeof(uint64_t));
	for (int i = 0; i < next.nr_comms; i++)
		if (bpf_map_update_elem(cfd, &next.comms[i], &one, BPF_ANY))
			e = -errno;
	for (int i = 0; i < next.nr_cgroups && !e; i++) {
		if (bpf_map_update_elem(gfd, &next.cgroups[i].id, &one, BPF_ANY))
			e = -errno;
		levels |= 1ull << next.cgroups[i].level;
	}
	if (e) {
		snprintf(err, errlen, "cannot set the target names in the kernel: %s", strerror(-e));
		goto out;
	}
	__atomic_store_n(&v->skel->bss->target_cgroup_levels, levels, __ATOMIC_RELAXED);
	flags = __atomic_load_n(&v->skel->bss->target_flags, __ATOMIC_RELAXED) & CPROF_TGT_FILTER;
	if (next.nr_comms)
		flags |= CPROF_TGT_COMM;
	if (next.nr_exes)
		flags |= CPROF_TGT_EXE;
	if (next.nr_cgroups)
		flags |= v->cgroups_in_bpf ? CPROF_TGT_CGROUP : CPROF_TGT_CGROUP_USER;
	__atomic_store_n(&v->skel->bss->target_flags, flags, __ATOMIC_SEQ_CST);

	for (int i = 0; i < next.nr_pids; i++) {
		uint32_t pid = next.pids[i];
		uint8_t why = CPROF_TARGET_PID;

		/* over a name match: --pid's process stays whatever it runs */
		if (bpf_map_update_elem(tfd, &pid, &why, BPF_ANY)) {
			e = -errno;
			snprintf(err, errlen, "cannot add pid %u to the targets: %s", pid,
				 e == -E2BIG ? "the targets map is full" : strerror(-e));
			goto out;
		}
	}
	targets_prune(v);
	targets_scan(v);
	/* sampling is restricted only once the targets are in */
	if (targets__empty(&next))
		flags &= ~CPROF_TGT_FILTER;
	else
		flags |= CPROF_TGT_FILTER;
	__atomic_store_n(&v->skel->bss->target_flags, flags, __ATOMIC_SEQ_CST);
out:
	targets_changed(v);
	pthread_mutex_unlock(&v->tlock);
	return e;
}

bool core__targeted(struct core *v, uint32_t pid)
{
	uint8_t why;

	if (!(__atomic_load_n(&v->skel->bss->target_flags, __ATOMIC_RELAXED) & CPROF_TGT_FILTER))
		return true;
	return !bpf_map_lookup_elem(bpf_map__fd(v->skel->maps.targets), &pid, &why);
}

bool core__has_name_targets(struct core *v)
{
	bool names;

	pthread_mutex_lock(&v->tlock);
	names = targets__has_names(&v->targets);
	pthread_mutex_unlock(&v->tlock);
	return names;
}

void core__describe_targets(struct core *v, char *buf, size_t len)
{
	pthread_mutex_lock(&v->tlock);
	targets__describe(&v->targets, buf, len);
	pthread_mutex_unlock(&v->tlock);
}

/* Load the tp_btf flavour of each targets program where the kernel has the
 * tracepoint's BTF, the raw_tp one elsewhere; the helper that matches
 * cgroups at exec only where the kernel has it. Before load. */
static void targets_choose_progs(struct core *v, const struct btf *vmlinux)
{
	struct capture *s = v->skel;
	const struct {
		const char *tp;
		struct bpf_program *btf, *raw;
	} t[NR_TARGET_PROGS] = {
		{ "sched_process_exec", s->progs.target_exec, s->progs.target_exec_raw },
		{ "sched_process_fork", s->progs.target_fork, s->progs.target_fork_raw },
		{ "sched_process_exit", s->progs.target_exit, s->progs.target_exit_raw },
		{ "cgroup_attach_task", s->progs.target_cgroup_move, s->progs.target_cgroup_move_raw },
	};

	for (int i = 0; i < NR_TARGET_PROGS; i++) {
		char name[64];
		bool btf;

		snprintf(name, sizeof(name), "btf_trace_%s", t[i].tp);
		btf = vmlinux && btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) >= 0;
		bpf_program__set_autoload(btf ? t[i].raw : t[i].btf, false);
	}
	v->cgroups_in_bpf = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT,
						    BPF_FUNC_get_current_ancestor_cgroup_id, NULL) > 0;
	s->rodata->cgroup_ancestor_ok = v->cgroups_in_bpf;
}

/* Attach what was loaded of them. Without the cgroup move program, only
 * moves go unseen; without the others, nothing is matched by name. */
static void targets_attach(struct core *v)
{
	struct capture *s = v->skel;
	struct bpf_program *p[2 * NR_TARGET_PROGS] = {
		s->progs.target_exec, s->progs.target_exec_raw,
		s->progs.target_fork, s->progs.target_fork_raw,
		s->progs.target_exit, s->progs.target_exit_raw,
		s->progs.target_cgroup_move, s->progs.target_cgroup_move_raw,
	};

	v->follow = true;
	for (int i = 0; i < NR_TARGET_PROGS; i++) {
		struct bpf_program *prog = bpf_program__autoload(p[2 * i]) ? p[2 * i] : p[2 * i + 1];

		v->target_links[i] = bpf_program__attach(prog);
		if (!v->target_links[i]) {
			log_debug("cannot attach %s: %s", bpf_program__section_name(prog), strerror(errno));
			if (i < 3)
				v->follow = false;
		} else {
			log_debug("%s: %zu instructions", bpf_program__name(prog),
				  bpf_program__insn_cnt(prog));
		}
	}
}

/* A new process instance (read its maps while it lives), a busy one (build
 * its unwind tables), or one whose walk met a pc in no known mapping (read
 * its maps again and republish: a library came). */
static int on_event(void *ctx, void *data, size_t size)
{
	struct core *v = ctx;
	const struct cprof_event *e = data;

	if (size < sizeof(*e))
		return 0;
	if (e->type == CPROF_EV_NEW_PROC) {
		proctab__add(v->proctab, e->pid, e->start_ns, e->exec_id);
		return 0;
	}
	if (e->type == CPROF_EV_BUSY) {
		/* Its maps were read when it was first seen, which may have
		 * been in the middle of its exec, before its libraries were
		 * mapped: read them again now that it is busy. */
		struct proc_instance *in;

		proctab__lock(v->proctab);
		in = proctab__get(v->proctab, e->pid, e->start_ns, e->exec_id);
		if (in)	/* forced: it was first seen less than 100 ms ago, often */
			proctab__refresh(v->proctab, in, true);
		proctab__unlock(v->proctab);
	}
	if (e->type == CPROF_EV_TARGET_EXEC || e->type == CPROF_EV_TARGET_MOVED) {
		target_check(v, e);
		return 0;
	}
	if ((e->type != CPROF_EV_BUSY && e->type != CPROF_EV_MAPS_STALE) || !v->unwinder)
		return 0;
	queue_work(v, e->type == CPROF_EV_BUSY ? WORK_ADD : WORK_STALE, e->pid, e->start_ns,
		   e->exec_id);
	return 0;
}

/* The allocator source or the futex programs attached to a process: its
 * unwind tables now, before its first event (bpf/common.h's task_instance). */
static void instance_attached(void *arg, const struct cprof_instance *in)
{
	struct core *v = arg;

	proctab__add(v->proctab, in->pid, in->start_ns, in->exec_id);
	if (v->unwinder)
		queue_work(v, WORK_ADD, in->pid, in->start_ns, in->exec_id);
}

/* A process gone has freed all its memory: its heap records are freed
 * in every heap window (what it allocated stays), so that a profile of
 * the memory in use does not keep the dead. */
static void heap_exited(struct core *v, const struct proc_instance *in)
{
	uint64_t *values;
	struct heap_key *k;

	pthread_mutex_lock(&v->lock);
	if (v->heap_pids && hashmap__find(v->heap_pids, &in->pid)) {
		for (struct window *w = v->windows; w; w = w->next) {
			size_t it = 0;

			if (w->kind != WINDOW_HEAP)
				continue;
			while (hashmap__next(w->samples, &it, (void **)&k, (void **)&values))
				if (k->k.pid == in->pid && k->k.start_ns == in->start_ns &&
				    k->k.exec_id == in->exec_id && values[1] != values[0]) {
					values[1] = values[0];
					v->stats.heap_freed_at_exit++;
				}
		}
		hashmap__delete(v->heap_pids, &in->pid);
	}
	pthread_mutex_unlock(&v->lock);
}

void core__process_exited(struct core *v, const struct proc_instance *in)
{
	if (v->heap)
		heap_exited(v, in);
	if (v->unwinder)
		queue_work(v, WORK_EXIT, in->pid, in->start_ns, in->exec_id);
}

/* Walking with unwind tables needs bpf_loop (5.17), bpf_task_pt_regs
 * (5.15) and maps of maps whose inner maps differ in size (5.10); without
 * them user stacks are walked by frame pointers. */
static bool can_unwind(void)
{
	int fd;

	if (libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL) <= 0 ||
	    libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_task_pt_regs, NULL) <= 0)
		return false;
	fd = unwinder__create_tables_map(1);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* The unwind table budget: 1/64 of the memory, from 64 MiB to 1 GiB. The
 * tables are made on demand; this is only how far they may grow. */
static uint64_t default_unwind_bytes(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	uint64_t b = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 64 : 0;

	return b < (64ull << 20) ? 64ull << 20 : b > (1ull << 30) ? 1ull << 30 : b;
}

static int unwinder_start(struct core *v, char *err, size_t errlen)
{
	struct unwinder_opts uo = {
		.tables_fd = bpf_map__fd(v->skel->maps.unwind_tables),
		.max_tables = bpf_map__max_entries(v->skel->maps.unwind_tables),
		.hdrs_fd = bpf_map__fd(v->skel->maps.unwind_table_hdrs),
		.procs_fd = bpf_map__fd(v->skel->maps.unwind_procs),
		.seen_fd = bpf_map__fd(v->skel->maps.seen),
		.max_rows = v->unwind_rows,
		.parser = v->tables_parser,
	};

	uo.maps_fd = bpf_map__fd(v->skel->maps.unwind_maps);
	uo.nr_maps = bpf_map__max_entries(v->skel->maps.unwind_maps);
	uo.index_fd = bpf_map__fd(v->skel->maps.unwind_index);
	uo.nr_index = bpf_map__max_entries(v->skel->maps.unwind_index);
	v->unwinder = unwinder__new(&uo);
	if (!v->unwinder) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Entries a generation needs: every sample of a drain interval a new key,
 * at the highest rate all the sets together may reach on every CPU. A
 * generation is drained early once half full, so this holds twice what a
 * half-second brings. Beyond the bounds drops are counted (counts_map_full,
 * stacks_map_full). */
static uint32_t entries_for(int nr_cpus, int hz, uint32_t lo, uint32_t hi)
{
	uint64_t n = (uint64_t)nr_cpus * hz;

	return n < lo ? lo : n > hi ? hi : (uint32_t)n;
}

static void set_entries(struct bpf_map *a, struct bpf_map *b, uint32_t n)
{
	bpf_map__set_max_entries(a, n);
	bpf_map__set_max_entries(b, n);
}

/* ---- draining ---- */

struct drain_ctx {
	struct core *v;
	bool over;			/* windows past the hard memory limit */
	int64_t gen_start;		/* when the generation drained began */
};

/* Add a record to w, unless the windows are over their hard limit and it
 * would be a new entry. */
static void deliver(struct drain_ctx *c, struct window *w, const void *key, const uint64_t *values)
{
	struct core *v = c->v;

	if (c->over && !hashmap__find(w->samples, key)) {
		w->dropped++;
		v->stats.window_records_dropped++;
	} else if (window__add(w, key, values)) {
		v->stats.window_errors++;
	}
}

static int on_stack(const void *key, const void *value, void *arg)
{
	struct drain_ctx *c = arg;
	struct core *v = c->v;

	v->stats.drained_stacks++;
	for (struct window *w = v->windows; w; w = w->next)
		if (window__add_stack(w, *(const uint64_t *)key, value))
			v->stats.window_errors++;
	return 0;
}

/* CPU samples: counts for cpu windows of their rate, time for wall ones. */
static int on_count(const void *key, const void *value, void *arg)
{
	const struct cpu_key *k = key;
	struct drain_ctx *c = arg;
	struct core *v = c->v;

	v->stats.drained_records++;
	for (struct window *w = v->windows; w; w = w->next) {
		if (w->kind == WINDOW_OFFCPU || w->filter != k->period_ns)
			continue;
		if (w->kind == WINDOW_CPU) {
			deliver(c, w, k, value);
		} else {
			struct offcpu_key wk = { .k = k->k, .state = OFFCPU_RUNNING,
						 .syscall = OFFCPU_NO_SYSCALL };
			uint64_t ns = *(const uint64_t *)value * k->period_ns;

			deliver(c, w, &wk, &ns);
		}
	}
	return 0;
}

/* What of the intervals in one offcpu record lies in window w: all of it,
 * unless they began before w opened (include/offcpu.h). */
static uint64_t offcpu_in_window(const struct window *w, const struct offcpu_key *k,
				 const struct offcpu_val *val, int64_t gen_start)
{
	int64_t in;

	if (!k->since || k->since - 1 >= w->first_gen)
		return val->ns;
	in = val->ns_in_gen + (int64_t)val->count * (gen_start - w->opened_mono_ns);
	return in <= 0 ? 0 : (uint64_t)in > val->ns ? val->ns : (uint64_t)in;
}

/* Off-CPU intervals: for offcpu and wall windows, clipped at their start. */
static int on_offcpu(const void *key, const void *value, void *arg)
{
	const struct offcpu_key *k = key;
	const struct offcpu_val *val = value;
	struct drain_ctx *c = arg;
	struct core *v = c->v;
	struct offcpu_key wk = *k;

	v->stats.drained_records++;
	wk.since = 0;
	for (struct window *w = v->windows; w; w = w->next) {
		uint64_t values[2] = { val->weight, offcpu_in_window(w, k, val, c->gen_start) };

		if (w->kind == WINDOW_CPU || !values[1])
			continue;
		deliver(c, w, &wk, w->kind == WINDOW_OFFCPU ? values : &values[1]);
	}
	return 0;
}

/* Sampled allocations: for heap windows; their ids noted for their frees. */
static int on_heap_alloc(const void *key, const void *value, void *arg)
{
	const struct heap_key *k = key;
	struct drain_ctx *c = arg;
	struct core *v = c->v;
	uint64_t values[2] = { *(const uint64_t *)value, 0 };

	v->stats.drained_records++;
	{
		bool added;
		struct heap_key *known = hashmap__insert(v->heap_ids, &k->id, &added);

		if (!known) {
			v->stats.window_errors++;
		} else if (added) {
			uint64_t *n = hashmap__insert(v->heap_pids, &k->k.pid, NULL);

			*known = *k;
			if (n)
				(*n)++;
		}
	}
	for (struct window *w = v->windows; w; w = w->next)
		if (w->kind == WINDOW_HEAP)
			deliver(c, w, k, values);
	return 0;
}

/* Frees of sampled blocks: for the heap windows that saw them allocated. */
static int on_heap_free(const void *key, const void *value, void *arg)
{
	const struct heap_free_key *fk = key;
	struct drain_ctx *c = arg;
	struct core *v = c->v;
	uint64_t values[2] = { 0, *(const uint64_t *)value };
	const struct heap_key *k = hashmap__find(v->heap_ids, &fk->id);

	v->stats.drained_records++;
	if (!k) {
		v->stats.heap_unmatched_frees += values[1];
		return 0;
	}
	for (struct window *w = v->windows; w; w = w->next)
		if (w->kind == WINDOW_HEAP && (int32_t)(fk->alloc_gen - w->first_gen) >= 0)
			deliver(c, w, k, values);
	return 0;
}

/* Futex waits and wakes: for lock windows (both roles; each view takes its own). */
static int on_lock(const void *key, const void *value, void *arg)
{
	const struct lock_val *val = value;
	struct drain_ctx *c = arg;
	struct core *v = c->v;
	uint64_t values[2] = { val->weight, val->ns };

	v->stats.drained_records++;
	for (struct window *w = v->windows; w; w = w->next)
		if (w->kind == WINDOW_LOCK)
			deliver(c, w, key, values);
	return 0;
}

/* What the windows hold: their indexes and the stacks, once each (and the
 * allocator's records by id, kept for the windows). */
static uint64_t windows_bytes(struct core *v)
{
	uint64_t n = stackstore__mem(v->store) + v->closed_bytes +
		     (v->heap_ids ? hashmap__mem(v->heap_ids) : 0);

	for (struct window *w = v->windows; w; w = w->next)
		n += window__mem(w);
	return n;
}

/* Deliver generation g to the open windows. 0, or -errno with what was
 * not delivered left in the maps (pending) for the next drain. */
static int drain_gen(struct core *v, uint32_t g)
{
	struct drain_ctx c = { .v = v, .gen_start = v->gen_start[g] };
	int e;

	c.over = v->window_limit && windows_bytes(v) > v->window_limit + v->window_limit / 2;
	e = bpfmap__drain(v->stacks_fd[g], sizeof(uint64_t), sizeof(struct stack_trace), on_stack, &c);
	if (e >= 0)
		e = bpfmap__drain(v->counts_fd[g], sizeof(struct cpu_key), sizeof(uint64_t), on_count, &c);
	if (e >= 0 && (v->stats.sources & SOURCE_SCHED))
		e = bpfmap__drain(v->offcpu_fd[g], sizeof(struct offcpu_key), sizeof(struct offcpu_val),
				  on_offcpu, &c);
	/* allocations before frees: a free may be of a block allocated in
	 * the same generation */
	if (e >= 0 && v->heap)
		e = bpfmap__drain(v->heap_allocs_fd[g], sizeof(struct heap_key), sizeof(uint64_t),
				  on_heap_alloc, &c);
	if (e >= 0 && v->heap)
		e = bpfmap__drain(v->heap_frees_fd[g], sizeof(struct heap_free_key), sizeof(uint64_t),
				  on_heap_free, &c);
	if (e >= 0 && (v->stats.sources & SOURCE_FUTEX))
		e = bpfmap__drain(v->lock_fd[g], sizeof(struct lock_key), sizeof(struct lock_val),
				  on_lock, &c);
	v->pending[g] = e < 0;
	if (e < 0) {
		if (!v->stats.drain_errors++)
			log_error("cannot drain the kernel maps: %s; retrying every drain", strerror(-e));
		for (struct window *w = v->windows; w; w = w->next)
			w->drain_failed++;
		return e;
	}
	__atomic_store_n(&v->skel->bss->gen_fill[g], 0, __ATOMIC_RELAXED);
	return 0;
}

/* The allocator source's programs run in uprobes, preemptible: bpf__sync()
 * does not wait for them (the futex source's count themselves the same
 * way, though the scheduler's tracepoints are not preemptible). Wait for those still writing into generation g
 * (they entered before the flip): a few ms at most, unless one was
 * preempted for long; then drain anyway (what it adds waits in the map). */
static void writers_wait(struct core *v, uint32_t g)
{
	struct timespec ts = { 0, 200 * 1000 };

	for (int i = 0; i < 1000; i++) {
		if (__atomic_load_n(&v->skel->bss->writers[g], __ATOMIC_ACQUIRE) <= 0)
			return;
		nanosleep(&ts, NULL);
	}
	v->stats.writers_late++;
}

/* Caller holds v->lock. Entries a failed drain left in the generation not
 * being written go first: the flip makes BPF write there next, and they
 * must not mix with what it brings. The new generation's start is written
 * before gen is bumped, so BPF never pairs a generation with another's. */
static int drain_locked(struct core *v)
{
	uint32_t seq = __atomic_load_n(&v->skel->bss->gen, __ATOMIC_RELAXED), old = seq & 1;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	int e = 0;

	if (v->pending[old ^ 1] && (e = drain_gen(v, old ^ 1)))
		goto out;	/* keep writing into `old`: it is drained next time */
	v->flipped_real_ns = now_ns(CLOCK_REALTIME);
	v->flipped_ns = now_ns(CLOCK_MONOTONIC);
	v->gen_start[old ^ 1] = v->flipped_ns;
	__atomic_store_n(&v->skel->bss->gen_start_ns[old ^ 1], (uint64_t)v->flipped_ns,
			 __ATOMIC_RELEASE);
	__atomic_store_n(&v->skel->bss->gen, seq + 1, __ATOMIC_SEQ_CST);
	bpf__sync();		/* nobody writes into generation `old` any more */
	if (v->heap || (v->stats.sources & SOURCE_FUTEX))
		writers_wait(v, old);
	e = drain_gen(v, old);
out:
	v->stats.drains++;
	v->stats.last_drain_ns = now_ns(CLOCK_MONOTONIC) - t0;
	v->stats.window_bytes = windows_bytes(v);
	return e;
}

int core__drain(struct core *v)
{
	int e;

	pthread_mutex_lock(&v->lock);
	e = drain_locked(v);
	pthread_mutex_unlock(&v->lock);
	return e;
}

static void close_locked(struct core *v, struct window *w);

/* Close the windows that are due, after one last drain for them all. */
static void close_due(struct core *v, int64_t now)
{
	struct window *w, *next;
	bool drained = false;

	for (w = v->windows; w; w = next) {
		next = w->next;
		if (!w->deadline_mono_ns || w->deadline_mono_ns > now)
			continue;
		if (!drained) {
			drain_locked(v);
			drained = true;
		}
		close_locked(v, w);
	}
	if (drained)
		pthread_cond_broadcast(&v->closed_cond);
}

static void *drainer(void *arg)
{
	struct sched_param sp = { .sched_priority = 1 };
	struct core *v = arg;
	int e;

	e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	if (e)
		log_debug("the drain thread keeps its normal priority (%s): on a saturated host its drains and windows may come late",
			  strerror(e));
	pthread_mutex_lock(&v->lock);
	while (!__atomic_load_n(&v->stopping, __ATOMIC_ACQUIRE)) {
		uint32_t g = __atomic_load_n(&v->skel->bss->gen, __ATOMIC_RELAXED) & 1;
		uint64_t fill = __atomic_load_n(&v->skel->bss->gen_fill[g], __ATOMIC_RELAXED);
		int64_t now = now_ns(CLOCK_MONOTONIC), wake = now + DRAIN_LOOK_MS * 1000000LL;
		struct timespec until;

		close_due(v, now);
		if (now - v->flipped_ns >= DRAIN_EVERY_NS) {
			drain_locked(v);
		} else if (fill >= v->fill_limit) {
			v->stats.early_drains++;
			drain_locked(v);
		}
		/* wake at the next look, or at a window's deadline if sooner */
		for (struct window *w = v->windows; w; w = w->next)
			if (w->deadline_mono_ns && w->deadline_mono_ns < wake)
				wake = w->deadline_mono_ns;
		/* the condition variable waits on CLOCK_REALTIME */
		wake += now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
		until.tv_sec = wake / NS;
		until.tv_nsec = wake % NS;
		pthread_cond_timedwait(&v->stop_cond, &v->lock, &until);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* ---- set-up ---- */

/* Load each of n programs in its tp_btf flavour (p[i][0]) where vmlinux
 * has its tracepoint's type (tp[i]), else as raw_tp (p[i][1]); none when
 * off. The one loaded goes in chosen[i], the type's id (-1: none) in id[i]. */
static void choose_flavours(const struct btf *vmlinux, bool on, struct bpf_program *(*p)[2],
			    const char *const *tp, int n, struct bpf_program **chosen, int *id)
{
	for (int i = 0; i < n; i++) {
		id[i] = vmlinux ? btf__find_by_name_kind(vmlinux, tp[i], BTF_KIND_TYPEDEF) : -1;
		chosen[i] = on ? p[i][id[i] < 0] : NULL;
		bpf_program__set_autoload(p[i][0], on && id[i] >= 0);
		bpf_program__set_autoload(p[i][1], on && id[i] < 0);
	}
}

/* Whether sched_switch passes prev_state (5.18): its BTF type, a pointer to
 * a prototype of void *, preempt, prev, next and prev_state. For the
 * scheduler and futex sources' programs on it. */
static bool switch_has_state(const struct btf *vmlinux)
{
	int id = vmlinux ? btf__find_by_name_kind(vmlinux, "btf_trace_sched_switch",
						  BTF_KIND_TYPEDEF) : -1;
	const struct btf_type *t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;

	if (t)
		t = btf__type_by_id(vmlinux, t->type);
	if (t)
		t = btf__type_by_id(vmlinux, t->type);
	return t && btf_is_func_proto(t) && btf_vlen(t) >= 5;
}

/* Whether threads going back to user code can be seen at rseq_update: the
 * kernel has the tracepoint, and task_struct an rseq pointer for the
 * programs to tell the threads that pass it (registered ones: glibc 2.35
 * registers every thread) from those that do not. Else sys_exit, which
 * puts every system call of the host on the kernel's slow path while it
 * is attached. */
static bool offcpu_rseq_usable(const struct btf *vmlinux)
{
	const struct btf_type *t;
	int id;

	if (!vmlinux || getenv("CPROF_TEST_OFFCPU_SYS_EXIT"))	/* the tests' way to the fallback */
		return false;
	if (btf__find_by_name_kind(vmlinux, "btf_trace_rseq_update", BTF_KIND_TYPEDEF) < 0)
		return false;
	id = btf__find_by_name_kind(vmlinux, "task_struct", BTF_KIND_STRUCT);
	t = id > 0 ? btf__type_by_id(vmlinux, id) : NULL;
	for (int i = 0; t && i < btf_vlen(t); i++) {
		const struct btf_member *m = btf_members(t) + i;

		if (!strcmp(btf__name_by_offset(vmlinux, m->name_off), "rseq"))
			return btf_is_ptr(btf__type_by_id(vmlinux, m->type));
	}
	return false;
}

/* Load the scheduler source's programs, tp_btf where the kernel has the
 * tracepoints' BTF (tps: NULL when not), raw_tp elsewhere; none when it is
 * off, and maps of one entry. Before load. */
static void sched_choose_progs(struct core *v, bool on, const struct btf *tps,
			       const struct btf *vmlinux)
{
	struct capture *s = v->skel;
	bool rseq = on && offcpu_rseq_usable(vmlinux);
	struct bpf_program *p[NR_SCHED_PROGS][2] = {
		{ s->progs.offcpu_switch, s->progs.offcpu_switch_raw },
		{ s->progs.offcpu_rseq, s->progs.offcpu_rseq_raw },
	};
	const char *tp[NR_SCHED_PROGS] = { "btf_trace_sched_switch", "btf_trace_rseq_update" };
	int ids[NR_SCHED_PROGS];

	if (!rseq) {
		p[1][0] = s->progs.offcpu_sys_exit;
		p[1][1] = s->progs.offcpu_sys_exit_raw;
		tp[1] = "btf_trace_sys_exit";
		bpf_program__set_autoload(s->progs.offcpu_rseq, false);
		bpf_program__set_autoload(s->progs.offcpu_rseq_raw, false);
	} else {
		bpf_program__set_autoload(s->progs.offcpu_sys_exit, false);
		bpf_program__set_autoload(s->progs.offcpu_sys_exit_raw, false);
	}
	s->rodata->offcpu_via_rseq = rseq;
	v->stats.sched_rseq = rseq;
	choose_flavours(tps, on, p, tp, NR_SCHED_PROGS, v->sched_progs, ids);
	v->stats.sched_raw = on && ids[0] < 0;
	/* per-thread state: in task storage for tp_btf programs, in a hash
	 * map by tid for raw_tp ones */
	if (!on || !v->stats.sched_raw)
		bpf_map__set_max_entries(s->maps.offcpu_threads, 1);
	if (!on || v->stats.sched_raw)
		bpf_map__set_autocreate(s->maps.offcpu_tasks, false);
	if (!on) {
		bpf_map__set_max_entries(s->maps.offcpu_counts0, 1);
		bpf_map__set_max_entries(s->maps.offcpu_counts1, 1);
	}
}

/* The futex source's programs: tp_btf where the kernel's BTF has the
 * tracepoints, raw_tp otherwise; none, and maps of one entry, when off. */
static void lock_choose_progs(struct core *v, bool on, uint64_t rate, const struct btf *vmlinux)
{
	struct capture *s = v->skel;
	struct bpf_program *p[NR_LOCK_PROGS][2] = {
		{ s->progs.lock_switch, s->progs.lock_switch_raw },
		{ s->progs.lock_waking, s->progs.lock_waking_raw },
	};
	const char *tp[NR_LOCK_PROGS] = { "btf_trace_sched_switch", "btf_trace_sched_waking" };
	int ids[NR_LOCK_PROGS];

	choose_flavours(vmlinux, on, p, tp, NR_LOCK_PROGS, v->lock_progs, ids);
	v->stats.lock_raw = on && ids[0] < 0;
	/* a thread's wait: in task storage for tp_btf programs, by tid for raw_tp */
	if (!on || !v->stats.lock_raw)
		bpf_map__set_max_entries(s->maps.lock_waits, 1);
	if (!on || v->stats.lock_raw)
		bpf_map__set_autocreate(s->maps.lock_tasks, false);
	if (!on) {
		set_entries(s->maps.lock_counts0, s->maps.lock_counts1, 1);
		bpf_map__set_max_entries(s->maps.lock_words, 1);
		return;
	}
	s->rodata->lock_rate_ns = rate;
}

/* Both the scheduler and the futex sources loaded (their programs of one
 * flavour: the same tracepoint's BTF chose it): one program on
 * sched_switch instead of theirs. Before load, after their choice. */
static void switch_choose_prog(struct core *v, bool both)
{
	struct capture *s = v->skel;
	bool raw = v->stats.sched_raw;

	v->switch_shared = both;
	bpf_program__set_autoload(s->progs.switch_both, both && !raw);
	bpf_program__set_autoload(s->progs.switch_both_raw, both && raw);
	if (!both)
		return;
	bpf_program__set_autoload(v->sched_progs[0], false);
	bpf_program__set_autoload(v->lock_progs[0], false);
	v->sched_progs[0] = v->lock_progs[0] = raw ? s->progs.switch_both_raw : s->progs.switch_both;
}

/* Zero counter i on every CPU. */
static void counter_zero(int fd, uint32_t i)
{
	uint64_t *zero = calloc((size_t)libbpf_num_possible_cpus(), sizeof(uint64_t));

	if (zero)
		bpf_map_update_elem(fd, &i, zero, BPF_ANY);
	free(zero);
}

/* Uprobe sessions (6.13): the kernel's BTF names their attach type and
 * the kfunc that tells an entry from a return. */
static bool have_uprobe_sessions(const struct btf *vmlinux)
{
	bool kfunc = false, type = false;
	int id;

	if (getenv("CPROF_TEST_HEAP_NO_SESSION"))	/* the tests' way to the fallback */
		return false;
	if (!vmlinux)
		return false;
	kfunc = btf__find_by_name_kind(vmlinux, "bpf_session_is_return", BTF_KIND_FUNC) > 0;
	id = btf__find_by_name_kind(vmlinux, "bpf_attach_type", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(vmlinux, id);
		const struct btf_enum *e = btf_enum(t);

		for (int i = 0; i < btf_vlen(t) && !type; i++)
			type = !strcmp(btf__name_by_offset(vmlinux, e[i].name_off),
				       "BPF_TRACE_UPROBE_SESSION") && e[i].val == ATTACH_UPROBE_SESSION;
	}
	return kfunc && type;
}

/* The allocator source's programs: the session one where the kernel has
 * sessions, the uprobe and uretprobe pair for the fallback; none when it
 * is off, and maps of one entry. Before load. */
static void heap_choose_progs(struct core *v, bool on, uint64_t rate, const struct btf *vmlinux)
{
	struct capture *s = v->skel;

	v->heap_sessions = on && have_uprobe_sessions(vmlinux);
	bpf_program__set_autoload(s->progs.heap_session, v->heap_sessions);
	if (v->heap_sessions)
		bpf_program__set_expected_attach_type(s->progs.heap_session, ATTACH_UPROBE_SESSION);
	/* the fallback's programs only where it is needed: each is verified
	 * with the unwinder in it, which takes the kernel a while */
	bpf_program__set_autoload(s->progs.heap_uprobe, on && !v->heap_sessions);
	bpf_program__set_autoload(s->progs.heap_uretprobe, on && !v->heap_sessions);
	if (!on) {
		set_entries(s->maps.heap_allocs0, s->maps.heap_allocs1, 1);
		set_entries(s->maps.heap_frees0, s->maps.heap_frees1, 1);
		bpf_map__set_max_entries(s->maps.heap_live, 1);
		bpf_map__set_max_entries(s->maps.heap_pending, 1);
		return;
	}
	s->rodata->heap_rate = rate;
	/* the mean of ln(1 + f) over each 256th of [0, 1): the integral of
	 * ln(1 + f) is (1 + f) ln(1 + f) - f */
	for (int i = 0; i < 256; i++) {
		double a = i / 256.0, b = (i + 1) / 256.0;
		double in = ((1 + b) * log1p(b) - b) - ((1 + a) * log1p(a) - a);

		s->rodata->heap_ln_q16[i] = (uint32_t)lround(in * 256 * 65536);
	}
}

/* Open, size and load the capture object with the given sources. 0, or
 * -errno with a one-line reason in err. */
static int load(struct core *v, const struct core_opts *opts, unsigned int sources,
		char *err, size_t errlen)
{
	struct btf *vmlinux;
	const struct btf *tps;
	int e;

	v->skel = capture__open();
	if (!v->skel) {
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		return -ENOMEM;
	}
	v->stats.sources = sources;
	/* read once for every source's choice (NULL: this kernel has none);
	 * the tests' way to the raw_tp flavours of the scheduler and futex
	 * programs on a kernel that has it */
	vmlinux = btf__load_vmlinux_btf();
	tps = getenv("CPROF_TEST_SCHED_RAW_TP") ? NULL : vmlinux;
	targets_choose_progs(v, vmlinux);
	v->skel->rodata->switch_has_state = switch_has_state(tps);
	sched_choose_progs(v, sources & SOURCE_SCHED, tps, vmlinux);
	heap_choose_progs(v, sources & SOURCE_ALLOC, opts->heap_rate ?: HEAP_DEFAULT_RATE, vmlinux);
	lock_choose_progs(v, sources & SOURCE_FUTEX, v->stats.lock_rate_ns, tps);
	switch_choose_prog(v, (sources & SOURCE_SCHED) && (sources & SOURCE_FUTEX));
	btf__free(vmlinux);
	if (!(sources & (SOURCE_ALLOC | SOURCE_FUTEX)))
		bpf_map__set_max_entries(v->skel->maps.user_scratch, 1);
	bpf_program__set_autoload(v->skel->progs.task_instance, sources & (SOURCE_ALLOC | SOURCE_FUTEX));
	v->skel->rodata->offcpu_min_ns = v->stats.offcpu_min_ns;
	v->skel->rodata->offcpu_rate_ns = v->stats.offcpu_rate_ns;
	/* no rate, every interval: nothing to raise */
	v->skel->rodata->offcpu_period_reads = v->stats.offcpu_rate_ns ? v->stats.offcpu_reads : 0;
	v->stats.dwarf_unwind = !opts->frame_pointers_only && can_unwind();
	v->skel->rodata->dwarf_unwind = v->stats.dwarf_unwind;
	v->unwind_rows = (opts->unwind_bytes ?: default_unwind_bytes()) / sizeof(struct unwind_row);
	v->tables_parser = opts->tables_parser;
	if (!v->stats.dwarf_unwind) {	/* no tables: keep the maps minimal */
		bpf_map__set_max_entries(v->skel->maps.unwind_tables, 1);
		bpf_map__set_max_entries(v->skel->maps.unwind_table_hdrs, 1);
		bpf_map__set_max_entries(v->skel->maps.unwind_maps, 1);
		bpf_map__set_max_entries(v->skel->maps.unwind_procs, 1);
	} else {
		bpf_map__set_max_entries(v->skel->maps.unwind_procs, 8192);
		bpf_map__set_max_entries(v->skel->maps.unwind_index,
					 unwinder__index_entries(v->unwind_rows, UNWIND_MAX_TABLES));
		v->stats.unwind_fixed_bytes =
			(uint64_t)bpf_map__max_entries(v->skel->maps.unwind_index) * sizeof(uint64_t) +
			(uint64_t)bpf_map__max_entries(v->skel->maps.unwind_maps) * sizeof(struct unwind_mapping) +
			(uint64_t)UNWIND_MAX_TABLES * sizeof(struct unwind_table_hdr) +
			(uint64_t)libbpf_num_possible_cpus() * UNWIND_ROW_CACHE * sizeof(struct unwind_row_cache_ent);
	}
	v->skel->rodata->kernel_stacks = opts->kernel_stacks;
	v->stats.counts_entries = opts->counts_entries ?:
		entries_for(v->nr_cpus, v->stats.max_hz, 16384, 1u << 20);
	/* a stack is 1 KiB: at most 2 x 256 MiB, on hosts of 256 CPUs */
	v->stats.stacks_entries = opts->stacks_entries ?:
		entries_for(v->nr_cpus, v->stats.max_hz, 8192, 1u << 18);
	set_entries(v->skel->maps.cpu_counts0, v->skel->maps.cpu_counts1, v->stats.counts_entries);
	set_entries(v->skel->maps.stacks0, v->skel->maps.stacks1, v->stats.stacks_entries);
	if (sources & SOURCE_SCHED)
		set_entries(v->skel->maps.offcpu_counts0, v->skel->maps.offcpu_counts1,
			    v->stats.counts_entries);
	if (sources & SOURCE_ALLOC) {
		set_entries(v->skel->maps.heap_allocs0, v->skel->maps.heap_allocs1,
			    v->stats.counts_entries);
		set_entries(v->skel->maps.heap_frees0, v->skel->maps.heap_frees1,
			    v->stats.counts_entries);
	}
	/* a hash map element is its key and value and about 56 bytes */
	v->stats.kernel_map_bytes = CPROF_NR_GENS *
		((uint64_t)v->stats.counts_entries * (sizeof(struct cpu_key) + 8 + 56) +
		 (uint64_t)v->stats.stacks_entries * (8 + sizeof(struct stack_trace) + 56));
	/* and the per-thread state: in a hash map for raw_tp programs; in
	 * task storage for tp_btf ones, as threads leave the CPU */
	if (sources & SOURCE_SCHED)
		v->stats.kernel_map_bytes +=
			CPROF_NR_GENS * (uint64_t)v->stats.counts_entries *
			(sizeof(struct offcpu_key) + sizeof(struct offcpu_val) + 56) +
			(v->stats.sched_raw ? (uint64_t)bpf_map__max_entries(v->skel->maps.offcpu_threads) *
			 (4 + sizeof(struct offcpu_thread) + 56) : 0);
	if (sources & SOURCE_FUTEX) {
		set_entries(v->skel->maps.lock_counts0, v->skel->maps.lock_counts1,
			    v->stats.counts_entries);
		v->stats.kernel_map_bytes += CPROF_NR_GENS * (uint64_t)v->stats.counts_entries *
			(sizeof(struct lock_key) + sizeof(struct lock_val) + 56) +
			(uint64_t)bpf_map__max_entries(v->skel->maps.lock_waits) *
			(4 + sizeof(struct lock_wait) + 56) +
			(uint64_t)bpf_map__max_entries(v->skel->maps.lock_words) *
			(sizeof(struct lock_word_key) + sizeof(struct lock_word) + 56);
	}
	/* the live table grows as it is used (not counted here) */
	if (sources & SOURCE_ALLOC)
		v->stats.kernel_map_bytes += CPROF_NR_GENS * (uint64_t)v->stats.counts_entries *
			(sizeof(struct heap_key) + sizeof(struct heap_free_key) + 2 * (8 + 56));
	v->fill_limit = (v->stats.counts_entries < v->stats.stacks_entries ?
			 v->stats.counts_entries : v->stats.stacks_entries) * DRAIN_FILL_PCT / 100;
	e = capture__load(v->skel);
	if (e) {
		snprintf(err, errlen, "the kernel refused the BPF programs: %s; run with -v to see the verifier's log",
			 strerror(-e));
		return e;
	}
	v->stats.insns = bpf_program__insn_cnt(v->skel->progs.cpu_sample);
	log_debug("cpu_sample: %u instructions", v->stats.insns);
	if (v->sched_progs[0]) {
		v->stats.sched_insns = bpf_program__insn_cnt(v->sched_progs[0]);
		log_debug("%s: %u instructions", bpf_program__name(v->sched_progs[0]),
			  v->stats.sched_insns);
	}
	return 0;
}

struct core *core__new(const struct core_opts *opts, struct proctab *pt,
			     char *err, size_t errlen)
{
	struct core *v = calloc(1, sizeof(*v));
	int e;

	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	{
		/* the drain thread runs at a real-time priority and takes this
		 * lock: whoever holds it runs at that priority meanwhile, or a
		 * client's thread preempted with it among busy threads would
		 * stop the drain */
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&v->lock, &a);
		/* and the events thread (real-time too) this one */
		pthread_mutex_init(&v->tlock, &a);
		pthread_mutexattr_destroy(&a);
	}
	pthread_mutex_init(&v->qlock, NULL);
	pthread_cond_init(&v->qcond, NULL);
	pthread_cond_init(&v->stop_cond, NULL);
	pthread_cond_init(&v->closed_cond, NULL);
	v->proctab = pt;
	v->window_limit = opts->window_bytes;
	v->store = stackstore__new();
	v->queue = malloc(UNWIND_QUEUE * sizeof(*v->queue));
	if (!v->store || !v->queue) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	e = online_cpus(&v->cpus);
	if (e < 0) {
		snprintf(err, errlen, "cannot list online CPUs: %s", strerror(-e));
		goto fail;
	}
	v->nr_cpus = e;
	/* the always-on rate, and one request at the highest rate a request
	 * may ask; several hz= requests share what is left of it */
	v->stats.max_hz = opts->hz + PARAMS_MAX_HZ;

	v->stats.offcpu_min_ns = opts->offcpu_min_ns;
	v->stats.offcpu_rate_ns = opts->offcpu_rate_ns;
	v->stats.offcpu_reads = opts->offcpu_reads;
	v->stats.lock_rate_ns = opts->lock_rate_ns;
	/* A kernel that refuses the allocator, futex or scheduler programs
	 * loses the views that need them, not the daemon: load again without
	 * them. */
	for (unsigned int sources = SOURCE_CPU | (opts->sources & (SOURCE_SCHED | SOURCE_ALLOC | SOURCE_FUTEX));;) {
		e = load(v, opts, sources, err, errlen);
		if (!e || !(sources & (SOURCE_SCHED | SOURCE_ALLOC | SOURCE_FUTEX)) || e == -ENOMEM)
			break;
		if (sources & SOURCE_FUTEX) {
			log_error("the kernel refused the futex programs (%s): the block and mutex views are off; run with -v to see the verifier's log",
				  strerror(-e));
			sources &= ~SOURCE_FUTEX;
		} else if (sources & SOURCE_ALLOC) {
			log_error("the kernel refused the allocator programs (%s): the heap and allocs views are off; run with -v to see the verifier's log",
				  strerror(-e));
			sources &= ~SOURCE_ALLOC;
		} else {
			log_error("the kernel refused the scheduler programs (%s): the offcpu and wall views are off; run with -v to see the verifier's log",
				  strerror(-e));
			sources &= ~SOURCE_SCHED;
		}
		capture__destroy(v->skel);
		v->skel = NULL;
	}
	if (e)
		goto fail;
	if (v->stats.sources & SOURCE_ALLOC) {
		v->heap_ids = hashmap__new(sizeof(uint64_t), sizeof(struct heap_key));
		v->heap_pids = hashmap__new(sizeof(uint32_t), sizeof(uint64_t));
		v->heap = heapsrc__new(v->skel, v->heap_sessions, instance_attached, v);
		if (!v->heap || !v->heap_ids || !v->heap_pids) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		v->stats.heap_rate = opts->heap_rate ?: HEAP_DEFAULT_RATE;
		heapsrc__calibrate(v->heap);
		/* what the daemon's own calls counted there is no target's */
		for (uint32_t i = CPROF_CNT_HEAP_CALLS; i <= CPROF_CNT_HEAP_BLOCK_NS; i++)
			counter_zero(bpf_map__fd(v->skel->maps.counters), i);
	}

	targets_attach(v);
	{
		/* --pid as before, and the spec's names and pids */
		struct targets_spec want = { 0 };

		e = targets__copy(&want, opts->targets);
		for (int i = 0; !e && i < opts->nr_pids; i++)
			e = targets__add_pid(&want, opts->pids[i]);
		if (e)
			snprintf(err, errlen, "out of memory");
		else
			e = core__set_targets(v, &want, err, errlen);
		targets__clear(&want);
		if (e)
			goto fail;
	}
	v->counts_fd[0] = bpf_map__fd(v->skel->maps.cpu_counts0);
	v->counts_fd[1] = bpf_map__fd(v->skel->maps.cpu_counts1);
	v->stacks_fd[0] = bpf_map__fd(v->skel->maps.stacks0);
	v->stacks_fd[1] = bpf_map__fd(v->skel->maps.stacks1);
	v->offcpu_fd[0] = bpf_map__fd(v->skel->maps.offcpu_counts0);
	v->offcpu_fd[1] = bpf_map__fd(v->skel->maps.offcpu_counts1);
	v->heap_allocs_fd[0] = bpf_map__fd(v->skel->maps.heap_allocs0);
	v->heap_allocs_fd[1] = bpf_map__fd(v->skel->maps.heap_allocs1);
	v->heap_frees_fd[0] = bpf_map__fd(v->skel->maps.heap_frees0);
	v->heap_frees_fd[1] = bpf_map__fd(v->skel->maps.heap_frees1);
	v->lock_fd[0] = bpf_map__fd(v->skel->maps.lock_counts0);
	v->lock_fd[1] = bpf_map__fd(v->skel->maps.lock_counts1);
	v->gen_start[0] = now_ns(CLOCK_MONOTONIC);
	v->skel->bss->gen_start_ns[0] = (uint64_t)v->gen_start[0];

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
	v->stats.window_bytes_limit = v->window_limit;
	if (v->unwinder) {
		unwinder__stats(v->unwinder, &v->stats.unwind);
		if (pthread_create(&v->worker, NULL, unwind_worker, v)) {
			snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
			goto fail;
		}
		v->worker_started = true;
		pthread_setname_np(v->worker, "cprofd-unwind");
	}
	v->flipped_ns = now_ns(CLOCK_MONOTONIC);
	if (pthread_create(&v->drainer, NULL, drainer, v)) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
		goto fail;
	}
	v->drainer_started = true;
	pthread_setname_np(v->drainer, "cprofd-drain");
	return v;
fail:
	core__free(v);
	return NULL;
}

/* ---- windows ---- */

/* Source src's part of the program both share on sched_switch runs from
 * now: the program attached for the first. Caller holds v->lock. */
static int switch_use(struct core *v, unsigned int src)
{
	bool *on = src == SOURCE_SCHED ? &v->skel->bss->switch_sched : &v->skel->bss->switch_lock;

	__atomic_store_n(on, true, __ATOMIC_SEQ_CST);
	if (!v->switch_link) {
		v->switch_link = bpf_program__attach(v->sched_progs[0]);
		if (!v->switch_link) {
			int e = -errno;

			__atomic_store_n(on, false, __ATOMIC_SEQ_CST);
			return e;
		}
	}
	v->switch_users |= src;
	return 0;
}

static void switch_unuse(struct core *v, unsigned int src)
{
	bool *on = src == SOURCE_SCHED ? &v->skel->bss->switch_sched : &v->skel->bss->switch_lock;

	__atomic_store_n(on, false, __ATOMIC_SEQ_CST);
	v->switch_users &= ~src;
	if (!v->switch_users) {
		bpf_link__destroy(v->switch_link);
		v->switch_link = NULL;
	}
}

/* Program i of a source (its programs progs, links links): attached, or
 * its part of the shared one on sched_switch (i 0) set to run. */
static int source_attach(struct core *v, unsigned int src, struct bpf_program **progs,
			 struct bpf_link **links, int i)
{
	if (i == 0 && v->switch_shared)
		return switch_use(v, src);
	links[i] = bpf_program__attach(progs[i]);
	return links[i] ? 0 : -errno;
}

/* The scheduler programs run while windows need them: attach them for the
 * first. Caller holds v->lock. */
static int sched_get(struct core *v)
{
	int e;

	if (!(v->stats.sources & SOURCE_SCHED))
		return -ENOTSUP;
	if (v->sched_refs++)
		return 0;
	/* what threads noted while detached is stale, and pending no more */
	__atomic_store_n(&v->skel->bss->offcpu_pending, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->skel->bss->sched_epoch_ns, (uint64_t)now_ns(CLOCK_MONOTONIC),
			 __ATOMIC_SEQ_CST);
	for (int i = 0; i < NR_SCHED_PROGS; i++) {
		e = source_attach(v, SOURCE_SCHED, v->sched_progs, v->sched_links, i);
		if (!e)
			continue;
		if (i == 0) {
			log_error("cannot attach %s: %s", bpf_program__section_name(v->sched_progs[i]),
				  strerror(-e));
			v->sched_refs = 0;
			return e;
		}
		/* without it, user stacks are read only when a thread leaves
		 * the CPU again with the same registers */
		log_error("cannot attach %s: %s; off-CPU intervals will mostly lack user stacks",
			  bpf_program__section_name(v->sched_progs[i]), strerror(-e));
	}
	v->stats.sched_attached = true;
	return 0;
}

/* Detach the n links of a source. */
static void links_destroy(struct bpf_link **links, int n)
{
	for (int i = 0; i < n; i++) {
		bpf_link__destroy(links[i]);
		links[i] = NULL;
	}
}

static void sched_put(struct core *v)
{
	if (--v->sched_refs)
		return;
	links_destroy(v->sched_links, NR_SCHED_PROGS);
	if (v->switch_shared)
		switch_unuse(v, SOURCE_SCHED);
	v->stats.sched_attached = false;
}

/* The futex programs run while lock windows need them. Caller holds v->lock. */
static int lock_get(struct core *v)
{
	int e;

	if (!(v->stats.sources & SOURCE_FUTEX))
		return -ENOTSUP;
	if (v->lock_refs++)
		return 0;
	/* waits noted while detached began in a detached time */
	__atomic_store_n(&v->skel->bss->lock_epoch_ns, (uint64_t)now_ns(CLOCK_MONOTONIC),
			 __ATOMIC_SEQ_CST);
	/* the wakes first: a waiter noted can be blamed for at once */
	for (int i = NR_LOCK_PROGS - 1; i >= 0; i--) {
		e = source_attach(v, SOURCE_FUTEX, v->lock_progs, v->lock_links, i);
		if (!e)
			continue;
		log_error("cannot attach %s: %s; the block and mutex views get nothing",
			  bpf_program__section_name(v->lock_progs[i]), strerror(-e));
		links_destroy(v->lock_links, NR_LOCK_PROGS);
		v->lock_refs = 0;
		return e;
	}
	v->stats.lock_attached = true;
	return 0;
}

static void lock_put(struct core *v)
{
	if (--v->lock_refs)
		return;
	links_destroy(v->lock_links, NR_LOCK_PROGS);
	if (v->switch_shared)
		switch_unuse(v, SOURCE_FUTEX);
	v->stats.lock_attached = false;
}

/* The futex programs were just attached for the targets: their unwind
 * tables now, before their first wait (not for every process, nor for
 * targets that start later: those get theirs at their first wait). */
static void lock_tables(struct core *v)
{
	int fd = bpf_map__fd(v->skel->maps.targets);
	uint32_t key, next, *prev = NULL;
	struct cprof_instance in;

	if (!v->unwinder ||
	    !(__atomic_load_n(&v->skel->bss->target_flags, __ATOMIC_RELAXED) & CPROF_TGT_FILTER))
		return;
	for (int n = 0; n < 4096 && !bpf_map_get_next_key(fd, prev, &next); n++) {
		key = next;
		prev = &key;
		if (!bpf__task_instance(v->skel->progs.task_instance, key, &in))
			instance_attached(v, &in);
	}
}

bool core__has_sources(struct core *v, unsigned int sources)
{
	return (v->stats.sources & sources) == sources;
}

/* A reference to the perf set sampling at hz, opened if need be. Caller
 * holds v->lock. NULL and errno. */
static struct perfset *perfset_get(struct core *v, int hz)
{
	int e, total = 0;

	for (int i = 0; i < MAX_SETS; i++) {
		if (!v->sets[i].refs)
			continue;
		total += v->sets[i].hz;
		if (v->sets[i].hz == hz) {
			v->sets[i].refs++;
			return &v->sets[i];
		}
	}
	/* a new rate must keep the sampling within what the maps are sized for */
	if (total + hz > v->stats.max_hz) {
		errno = EBUSY;
		return NULL;
	}
	for (int i = 0; i < MAX_SETS; i++)
		if (!v->sets[i].refs) {
			e = perfset_open(v, &v->sets[i], hz);
			if (e) {
				errno = -e;
				return NULL;
			}
			return &v->sets[i];
		}
	errno = EBUSY;
	return NULL;
}

/* Drop a window's reference to the perf set of its rate. The always-on
 * set (index 0) keeps its own. */
static void perfset_put(struct core *v, uint64_t period)
{
	for (int i = 0; i < MAX_SETS; i++)
		if (v->sets[i].refs && (uint64_t)(NS / v->sets[i].hz) == period) {
			if (--v->sets[i].refs == 0)
				perfset_close(v, &v->sets[i]);
			return;
		}
}

/* An empty window of kind, not yet open. */
static struct window *window_of(struct core *v, enum window_kind kind)
{
	bool heap = kind == WINDOW_HEAP, lock = kind == WINDOW_LOCK;
	struct window *w;

	w = window__new(v->store, kind == WINDOW_CPU ? sizeof(struct cpu_key) :
			heap ? sizeof(struct heap_key) : lock ? sizeof(struct lock_key) :
			sizeof(struct offcpu_key),
			kind == WINDOW_OFFCPU || heap || lock ? 2 : 1);
	if (w)
		w->kind = kind;
	return w;
}

struct window *core__open_window(struct core *v, enum window_kind kind, int hz,
				    int seconds)
{
	bool cpu = kind == WINDOW_CPU || kind == WINDOW_WALL;
	bool sched = kind == WINDOW_OFFCPU || kind == WINDOW_WALL, heap = kind == WINDOW_HEAP;
	bool lock = kind == WINDOW_LOCK, lock_first = false;
	struct window *w;
	int e = 0;

	if (!hz)
		hz = v->sets[0].hz;
	if (heap) {
		/* attached outside the lock: it reads processes' maps and
		 * allocator objects, which the drain need not wait for */
		if (!v->heap) {
			errno = ENOTSUP;
			return NULL;
		}
		e = heapsrc__start(v->heap);
		if (e) {
			errno = -e;
			return NULL;
		}
	}
	w = window_of(v, kind);
	if (!w) {
		if (heap)
			heapsrc__stop(v->heap);
		return NULL;
	}
	w->filter = cpu ? (uint64_t)(NS / hz) : heap ? v->stats.heap_rate :
		    lock ? v->stats.lock_rate_ns : 0;

	pthread_mutex_lock(&v->lock);
	if (v->window_limit && windows_bytes(v) >= v->window_limit) {
		v->stats.windows_refused++;
		e = -ENOBUFS;
		goto cleanup;
	}
	if (sched && (e = sched_get(v)))
		goto cleanup;
	if (lock && (e = lock_get(v)))
		goto cleanup;
	lock_first = lock && v->lock_refs == 1;
	if (cpu && !perfset_get(v, hz)) {
		e = -errno;
		if (sched)
			sched_put(v);
		goto cleanup;
	}
	/* Drain so the window starts with nothing from before it opened: it
	 * starts at that flip (however long this thread waits after it). */
	drain_locked(v);
	w->start_ns = v->flipped_real_ns;
	w->opened_mono_ns = v->flipped_ns;
	w->first_gen = __atomic_load_n(&v->skel->bss->gen, __ATOMIC_RELAXED);
	w->deadline_mono_ns = seconds > 0 ? w->opened_mono_ns + seconds * NS : 0;
	w->next = v->windows;
	v->windows = w;
	v->stats.open_windows++;
	if (heap)
		v->heap_refs++;
	if (w->deadline_mono_ns)
		pthread_cond_broadcast(&v->stop_cond);	/* the drain thread times it */
cleanup:
	pthread_mutex_unlock(&v->lock);
	if (lock_first && !e)
		lock_tables(v);
	if (e) {
		if (heap)
			heapsrc__stop(v->heap);
		window__free(w);
		errno = -e;
		return NULL;
	}
	return w;
}

int core__set_hz(struct core *v, int hz)
{
	struct perfset *base = &v->sets[0], fresh = { 0 };
	int total = 0, same = -1, spare = -1, e = 0;

	pthread_mutex_lock(&v->lock);
	if (base->hz == hz)
		goto out;
	for (int i = 0; i < MAX_SETS; i++) {
		if (!v->sets[i].refs) {
			spare = spare < 0 ? i : spare;
			continue;
		}
		total += v->sets[i].hz;
		if (i && v->sets[i].hz == hz)
			same = i;
	}
	/* the old rate goes on only while windows opened at it are open */
	if (base->refs == 1)
		total -= base->hz;
	if ((same < 0 && total + hz > v->stats.max_hz) || (base->refs > 1 && same < 0 && spare < 0)) {
		e = -EBUSY;
		goto out;
	}
	if (same < 0) {
		e = perfset_open(v, &fresh, hz);
		if (e)
			goto out;
	} else {
		fresh = v->sets[same];
		fresh.refs++;
		memset(&v->sets[same], 0, sizeof(v->sets[same]));
		spare = same;
	}
	/* the always-on set is index 0; windows find theirs by rate */
	if (--base->refs == 0)
		perfset_close(v, base);
	else
		v->sets[spare] = *base;	/* a free slot: there is one, or same */
	v->sets[0] = fresh;
	v->stats.hz = hz;
out:
	pthread_mutex_unlock(&v->lock);
	return e;
}

/* Caller holds v->lock and has drained: the window ends at that flip. */
static void close_locked(struct core *v, struct window *w)
{
	w->end_ns = v->flipped_real_ns;
	for (struct window **p = &v->windows; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			break;
		}
	w->next = v->closed;
	v->closed = w;
	w->closed = true;
	v->closed_bytes += window__mem(w);
	v->stats.open_windows--;
	if (w->kind == WINDOW_CPU || w->kind == WINDOW_WALL)
		perfset_put(v, w->filter);
	if (w->kind == WINDOW_OFFCPU || w->kind == WINDOW_WALL)
		sched_put(v);
	if (w->kind == WINDOW_LOCK)
		lock_put(v);
	if (w->kind == WINDOW_HEAP) {
		heapsrc__stop(v->heap);
		/* detached: no block it knew of is followed any more */
		if (!--v->heap_refs) {
			hashmap__free(v->heap_ids);
			v->heap_ids = hashmap__new(sizeof(uint64_t), sizeof(struct heap_key));
			hashmap__free(v->heap_pids);
			v->heap_pids = hashmap__new(sizeof(uint32_t), sizeof(uint64_t));
		}
	}
}

bool core__wait_window(struct core *v, struct window *w, int timeout_ms)
{
	struct timespec until;
	bool closed;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= NS) {
		until.tv_sec++;
		until.tv_nsec -= NS;
	}
	pthread_mutex_lock(&v->lock);
	while (!w->closed && pthread_cond_timedwait(&v->closed_cond, &v->lock, &until) != ETIMEDOUT)
		;
	closed = w->closed;
	pthread_mutex_unlock(&v->lock);
	return closed;
}

void core__close_window(struct core *v, struct window *w)
{
	pthread_mutex_lock(&v->lock);
	if (!w->closed) {
		drain_locked(v);
		close_locked(v, w);
	}
	pthread_mutex_unlock(&v->lock);
}

struct window *core__rotate_window(struct core *v, struct window *w)
{
	struct window *n;

	if (w->kind == WINDOW_HEAP || w->kind == WINDOW_LOCK) {
		errno = EINVAL;		/* cumulative: snapshots, not windows end to end */
		return NULL;
	}
	n = window_of(v, w->kind);
	if (!n)
		return NULL;
	n->filter = w->filter;
	pthread_mutex_lock(&v->lock);
	if (w->closed) {
		pthread_mutex_unlock(&v->lock);
		window__free(n);
		errno = EINVAL;
		return NULL;
	}
	drain_locked(v);
	n->start_ns = v->flipped_real_ns;
	n->opened_mono_ns = v->flipped_ns;
	n->first_gen = __atomic_load_n(&v->skel->bss->gen, __ATOMIC_RELAXED);
	n->next = v->windows;
	v->windows = n;
	/* w's hold on its sources (its sampling rate, the scheduler
	 * programs) passes to n: take it again before w lets it go */
	if (n->kind == WINDOW_CPU || n->kind == WINDOW_WALL)
		perfset_get(v, (int)(NS / n->filter));
	if (n->kind == WINDOW_OFFCPU || n->kind == WINDOW_WALL)
		sched_get(v);
	v->stats.open_windows++;
	close_locked(v, w);
	pthread_cond_broadcast(&v->closed_cond);
	pthread_mutex_unlock(&v->lock);
	return n;
}

struct window *core__snapshot_window(struct core *v, struct window *w)
{
	struct window *c;

	pthread_mutex_lock(&v->lock);
	if (v->window_limit && windows_bytes(v) >= v->window_limit) {
		v->stats.windows_refused++;
		pthread_mutex_unlock(&v->lock);
		errno = ENOBUFS;
		return NULL;
	}
	if (!w->closed)
		drain_locked(v);
	c = window__copy(w);
	if (c) {
		if (!w->closed)
			c->end_ns = v->flipped_real_ns;
		c->closed = true;
		c->next = v->closed;
		v->closed = c;
		v->closed_bytes += window__mem(c);
	}
	pthread_mutex_unlock(&v->lock);
	return c;
}

void core__free_window(struct core *v, struct window *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&v->lock);
	for (struct window **p = &v->closed; *p; p = &(*p)->next)
		if (*p == w) {
			*p = w->next;
			v->closed_bytes -= window__mem(w);
			break;
		}
	pthread_mutex_unlock(&v->lock);
	window__free(w);
}

int64_t core__oldest_window(struct core *v)
{
	int64_t oldest = INT64_MAX;

	pthread_mutex_lock(&v->lock);
	for (struct window *w = v->windows; w; w = w->next)
		if (!w->track)
			oldest = w->opened_mono_ns < oldest ? w->opened_mono_ns : oldest;
	for (struct window *w = v->closed; w; w = w->next)
		if (!w->track)
			oldest = w->opened_mono_ns < oldest ? w->opened_mono_ns : oldest;
	pthread_mutex_unlock(&v->lock);
	return oldest;
}

int core__track_instances(struct core *v, const struct window *track, struct hashmap *set)
{
	int e;

	pthread_mutex_lock(&v->lock);
	e = window__instances(track, set);
	pthread_mutex_unlock(&v->lock);
	return e;
}

long core__retire(struct core *v, struct window *track, struct window *const *bases,
		  size_t nr_bases, const struct hashmap *gone)
{
	uint64_t was = 0, now = 0;
	long n;

	pthread_mutex_lock(&v->lock);
	/* bases are closed windows (snapshots): their bytes are counted */
	for (size_t i = 0; i < nr_bases; i++)
		was += window__mem(bases[i]);
	n = window__retire(track, bases, nr_bases, gone);
	for (size_t i = 0; i < nr_bases; i++)
		now += window__mem(bases[i]);
	v->closed_bytes = v->closed_bytes - was + now;
	if (n > 0)
		v->stats.track_records_retired += (uint64_t)n;
	pthread_mutex_unlock(&v->lock);
	return n;
}

int core__poll_events(struct core *v, int timeout_ms)
{
	int n = ring_buffer__poll(v->events, timeout_ms);

	return n == -EINTR ? 0 : n;
}

/* The highest of the CPUs' off-CPU rates now (bpf/sched.bpf.h's
 * offcpu_cpu()): --offcpu-rate unless one raised it to keep to
 * --offcpu-reads. */
static uint64_t offcpu_rate_max(struct core *v)
{
	int n = libbpf_num_possible_cpus(), fd = bpf_map__fd(v->skel->maps.offcpu_cpus);
	uint64_t max = v->stats.offcpu_rate_ns;
	struct offcpu_cpu *c;
	uint32_t zero = 0;

	if (n <= 0 || fd < 0 || !(v->stats.sources & SOURCE_SCHED))
		return max;
	c = calloc(n, sizeof(*c));
	if (c && !bpf_map_lookup_elem(fd, &zero, c))
		for (int i = 0; i < n; i++)
			if (c[i].rate_ns > max)
				max = c[i].rate_ns;
	free(c);
	return max;
}

void core__stats(struct core *v, struct core_stats *st)
{
	pthread_mutex_lock(&v->lock);
	*st = v->stats;
	pthread_mutex_unlock(&v->lock);
	pthread_mutex_lock(&v->qlock);
	st->unwind_queue_dropped = v->stats.unwind_queue_dropped;
	pthread_mutex_unlock(&v->qlock);
	st->stacks_held = stackstore__count(v->store);
	counters__read(bpf_map__fd(v->skel->maps.counters), st->bpf);
	st->offcpu_rate_max_ns = offcpu_rate_max(v);
	if (v->unwinder)
		unwinder__stats(v->unwinder, &st->unwind);
	if (v->heap)
		heapsrc__stats(v->heap, &st->heap);
	pthread_mutex_lock(&v->tlock);
	st->targets_scanned = v->targets_scanned;
	st->targets_added = v->targets_added;
	st->targets_left = v->targets_left;
	st->targets_gone = v->targets_gone;
	/* one count of refusals, whoever was refused */
	st->bpf[CPROF_CNT_TGT_FULL] += v->targets_full;
	pthread_mutex_unlock(&v->tlock);
	st->targets_max = bpf_map__max_entries(v->skel->maps.targets);
	st->targets_follow = v->follow;
}

void core__free(struct core *v)
{
	if (!v)
		return;
	pthread_mutex_lock(&v->qlock);
	__atomic_store_n(&v->stopping, true, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&v->qcond);
	pthread_mutex_unlock(&v->qlock);
	pthread_mutex_lock(&v->lock);
	pthread_cond_broadcast(&v->stop_cond);
	pthread_mutex_unlock(&v->lock);
	if (v->drainer_started)
		pthread_join(v->drainer, NULL);
	if (v->worker_started)
		pthread_join(v->worker, NULL);
	for (int i = 0; i < MAX_SETS; i++)
		if (v->sets[i].refs)
			perfset_close(v, &v->sets[i]);
	ring_buffer__free(v->events);
	unwinder__free(v->unwinder);
	for (int i = 0; i < NR_TARGET_PROGS; i++)
		bpf_link__destroy(v->target_links[i]);
	for (int i = 0; i < NR_SCHED_PROGS; i++)
		bpf_link__destroy(v->sched_links[i]);
	for (int i = 0; i < NR_LOCK_PROGS; i++)
		bpf_link__destroy(v->lock_links[i]);
	bpf_link__destroy(v->switch_link);
	heapsrc__free(v->heap);
	hashmap__free(v->heap_ids);
	hashmap__free(v->heap_pids);
	targets__clear(&v->targets);

	capture__destroy(v->skel);
	free(v->cpus);
	free(v->queue);
	stackstore__free(v->store);
	pthread_cond_destroy(&v->qcond);
	pthread_cond_destroy(&v->stop_cond);
	pthread_cond_destroy(&v->closed_cond);
	pthread_mutex_destroy(&v->qlock);
	pthread_mutex_destroy(&v->tlock);
	pthread_mutex_destroy(&v->lock);
	free(v);
}
