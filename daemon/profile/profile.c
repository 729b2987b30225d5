#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "access.h"
#include "cpu.h"
#include "offcpu.h"
#include "heap.h"
#include "lock.h"
#include "elfobj.h"
#include "hashmap.h"
#include "ksyms.h"
#include "perfmap.h"
#include "pprof.h"
#include "proctab.h"
#include "profile.h"
#include "symbatch.h"
#include "vdso.h"
#include "views.h"

/* x86-64: the kernel's half of the address space. */
#define KERNEL_ADDR_MIN		0xffff800000000000ull

/* Locations already made, by (process instance, address, leaf or not): each
 * distinct frame is symbolized once per profile, however many samples hold it. */
struct frame_key {
	const struct proc_instance *in;	/* NULL for kernel frames */
	uint64_t ip;
	uint64_t leaf;
};

/* A mapping's object: the kernel's vDSO, parsed here, or a file, parsed by
 * the symbols parser. */
struct object {
	struct elfobj *vdso;
	struct symobj *file;
};

/* Mappings already made, by process instance and mapping: the frames of one
 * mapping share its pprof mapping and object, found once per profile. */
struct mapping_key {
	const struct proc_instance *in;
	uint64_t start, offset, inode;
};

struct mapping_val {
	uint64_t id;			/* 0: not made yet (while collecting) */
	struct object obj;
};

struct build {
	const struct profile_ctx *ctx;
	struct pprof_builder *b;
	struct symbatch *sb;
	bool collecting;		/* first pass: only say what will be wanted */
	struct hashmap *frames;		/* frame_key -> uint64_t location id */
	struct hashmap *mappings;	/* mapping_key -> mapping_val */
	uint64_t kernel_mapping;
	uint64_t lost_location;
	uint64_t truncated_location;
	uint64_t kernel_hidden_location;
	uint32_t role;			/* lock windows: the view's (enum lock_role) */
	struct hashmap *sync_locs;	/* location id -> enum sync_class, of the
					 * locations in synchronization functions */
	uint64_t not_locks;		/* wakes left out of the mutex view */
};

/* What a frame's function says of a futex wake made under it. */
enum sync_class { SYNC_RELEASE = 1, SYNC_SIGNAL = 2 };

static uint64_t kernel_location(struct build *bd, uint64_t addr)
{
	const char *module = NULL;
	const char *name = bd->ctx->ksyms ? ksyms__lookup(bd->ctx->ksyms, addr, NULL, &module) : NULL;
	struct pprof_line line = { 0 };
	char buf[256];

	if (!name)
		return pprof_builder__location(bd->b, bd->kernel_mapping, addr, NULL, 0);
	if (module) {
		snprintf(buf, sizeof(buf), "%s [%s]", name, module);
		name = buf;
	}
	line.function = name;
	return pprof_builder__location(bd->b, bd->kernel_mapping, addr, &line, 1);
}

static struct object object_of(const struct profile_ctx *ctx, struct symbatch *sb,
			       uint32_t pid, const struct procmap *m)
{
	/* the kernel's ELF image, named from its own symbols */
	if (m->path && !strcmp(m->path, "[vdso]"))
		return (struct object){ .vdso = vdso__find(ctx->vdso, pid, m->start, m->end) };
	return (struct object){ .file = symbatch__object(sb, pid, m) };
}

static bool object_none(const struct object *o)
{
	return !o->vdso && !o->file;
}

/* The frames at a file offset of o: how many, 0 when none. */
static int object_frames(struct build *bd, const struct object *o, uint64_t offset,
			 struct srcline *frames)
{
	const struct srcline *f;
	uint64_t vaddr;
	int n;

	if (o->vdso) {
		if (elfobj__offset_to_vaddr(o->vdso, offset, &vaddr))
			return 0;
		return elfobj__symbolize(o->vdso, vaddr, frames, DWARFSRC_FRAMES_MAX);
	}
	n = symbatch__frames(bd->sb, o->file, offset, &f);
	if (n > 0)
		memcpy(frames, f, (size_t)n * sizeof(*f));
	return n;
}

/* The JIT's name for addr, from the process's perf map (read when first
 * needed, and again when it changed, at most once a second). */
static const char *jit_name(struct proc_instance *in, uint64_t addr)
{
	int64_t now = mono_ns();
	struct perfmap_user as;
	char path[128];

	if (!in)
		return NULL;
	as = (struct perfmap_user){ in->uid, in->gid };
	/* not known: its maps were never read, so neither is its perf map */
	if (in->user_known && now - in->perfmap_checked_ns >= 1000000000LL) {
		in->perfmap_checked_ns = now;
		/* through its root (containers, its own pid namespace); the
		 * host's /tmp when it has exited */
		if (perfmap__path(in->pid, path, sizeof(path)))
			snprintf(path, sizeof(path), "/tmp/perf-%u.map", in->pid);
		/* as the process's user, and only its own map (or root's) */
		perfmap__refresh(&in->perfmap, path, &as);
	}
	return in->perfmap ? perfmap__lookup(in->perfmap, addr, NULL) : NULL;
}

/* The pprof mapping of m, and its object when it has one. While
 * collecting, the object is only noted, and the mapping not made (1). */
static uint64_t mapping_of(struct build *bd, struct proc_instance *in,
			   const struct procmap *m, struct object *objp)
{
	struct mapping_key key = { .in = in, .start = m->start, .offset = m->offset,
				   .inode = m->inode };
	struct mapping_val *v = hashmap__find(bd->mappings, &key);
	struct pprof_mapping pm;
	struct object obj;
	bool dwarf;

	if (!v) {
		obj = object_of(bd->ctx, bd->sb, in->pid, m);
		v = hashmap__insert(bd->mappings, &key, NULL);
		if (!v)
			return 0;
		v->obj = obj;
	}
	*objp = v->obj;
	if (v->id || bd->collecting)
		return v->id ? v->id : 1;

	obj = v->obj;
	if (!m->path || m->path[0] == '[')
		jit_name(in, m->start);		/* reads its perf map, if any */
	dwarf = obj.vdso ? elfobj__has_dwarf(obj.vdso) : symobj__has_dwarf(bd->sb, obj.file);
	pm = (struct pprof_mapping){
		.start = m->start,
		.limit = m->end,
		.offset = m->offset,
		.file = m->path ? m->path : "//anon",	/* pprof skips these, as perf names them */
		.build_id = obj.vdso ? elfobj__build_id(obj.vdso) :
			    symobj__build_id(bd->sb, obj.file),
		/* a perf map names anonymous code: pprof must not look for a file */
		.has_functions = obj.vdso ? elfobj__nr_symbols(obj.vdso) > 0 || dwarf :
				 obj.file ? symobj__has_functions(bd->sb, obj.file) :
				 in->perfmap && perfmap__nr(in->perfmap) > 0,
		.has_filenames = dwarf,
		.has_line_numbers = dwarf,
		.has_inline_frames = dwarf,
	};
	v->id = pprof_builder__mapping(bd->b, &pm);
	return v->id;
}

/* A frame in no file: JIT code named by a perf map, or an address. */
static uint64_t anon_location(struct build *bd, struct proc_instance *in, uint64_t mapping,
			      uint64_t addr)
{
	struct pprof_line line = { .function = jit_name(in, addr) };

	if (!line.function) {
		bd->ctx->stats->unnamed++;
		return pprof_builder__location(bd->b, mapping, addr, NULL, 0);
	}
	bd->ctx->stats->jit++;
	return pprof_builder__location(bd->b, mapping, addr, &line, 1);
}

/* Functions that wake futex waiters for another reason than a lock's
 * release (the mutex view leaves their wakes out), and those that release
 * a lock, as their names say, in glibc, libstdc++ and Rust's std. */
static const char *const signal_names[] = {
	"pthread_cond_signal", "pthread_cond_broadcast", "__condvar_", "sem_post",
	"pthread_barrier_wait", "notify_one", "notify_all", "Condvar", "unpark",
	"pthread_join", "call_once", "Once::",
};
static const char *const release_names[] = {
	"unlock", "Unlock", "lll_lock_wake", "MutexGuard", "RwLock",
};

static bool name_has(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(name, list[i]))
			return true;
	return false;
}

/* Note what the frames of location id say of a futex wake under them
 * (lines[0] the innermost): for the mutex view's wakes. id, or 0. */
static uint64_t classified(struct build *bd, uint64_t id, const struct pprof_line *lines, int n)
{
	uint8_t *cls;

	if (!id || bd->role != LOCK_WAKE)
		return id;
	for (int i = 0; i < n; i++) {
		const char *f = lines[i].system_name ? lines[i].system_name : lines[i].function;
		uint8_t c = !f ? 0 : name_has(f, release_names, sizeof(release_names) / sizeof(*release_names)) ?
			    SYNC_RELEASE : name_has(f, signal_names, sizeof(signal_names) / sizeof(*signal_names)) ?
			    SYNC_SIGNAL : 0;

		if (!c)
			continue;
		cls = hashmap__insert(bd->sync_locs, &id, NULL);
		if (cls)
			*cls = c;
		break;
	}
	return id;
}

static uint64_t user_location(struct build *bd, struct proc_instance *in, uint64_t addr)
{
	const struct procmap *m = in ? procmaps__find(&in->maps, addr) : NULL;
	struct srcline frames[DWARFSRC_FRAMES_MAX];
	struct pprof_line lines[DWARFSRC_FRAMES_MAX];
	struct object obj;
	uint64_t mapping;
	int n = 0;

	if (!m && in) {
		/* a library loaded after we read the maps (dlopen) */
		proctab__refresh(bd->ctx->proctab, in, false);
		m = procmaps__find(&in->maps, addr);
	}
	if (!m && bd->collecting)
		return 1;
	if (!m) {
		/* JIT code lives in anonymous memory our maps may not hold */
		if (jit_name(in, addr))
			return anon_location(bd, in, 0, addr);
		bd->ctx->stats->unmapped++;
		return pprof_builder__location(bd->b, 0, addr, NULL, 0);
	}
	mapping = mapping_of(bd, in, m, &obj);
	if (!mapping)
		return 0;
	if (bd->collecting) {
		symbatch__want(bd->sb, obj.file, addr - m->start + m->offset);
		return 1;
	}
	if (object_none(&obj) && (!m->path || m->path[0] == '['))
		return anon_location(bd, in, mapping, addr);
	n = object_frames(bd, &obj, addr - m->start + m->offset, frames);
	if (n <= 0) {
		bd->ctx->stats->unnamed++;
		return pprof_builder__location(bd->b, mapping, addr, NULL, 0);
	}
	for (int i = 0; i < n; i++)
		lines[i] = (struct pprof_line){
			.function = frames[i].function ? frames[i].function : "??",
			.system_name = frames[i].system_name,
			.filename = frames[i].file,
			.line = frames[i].line,
		};
	bd->ctx->stats->inlined += n - 1;
	return classified(bd, pprof_builder__location(bd->b, mapping, addr, lines, n), lines, n);
}

/* The location of one frame. Non-leaf frames hold return addresses, which
 * point after the call: step back into the call instruction, as pprof
 * expects, so the line and even the function (after a noreturn call) are right. */
static uint64_t frame_location(struct build *bd, struct proc_instance *in, bool kernel,
			       uint64_t ip, bool leaf)
{
	struct frame_key key = { .in = kernel ? NULL : in, .ip = ip, .leaf = leaf };
	uint64_t addr = leaf ? ip : ip - 1, *id;
	bool added;

	id = hashmap__insert(bd->frames, &key, &added);
	if (!id)
		return 0;
	/* the first pass notes, once per frame, what the parser will be
	 * asked; the location is made in the second (0: not yet) */
	if (bd->collecting) {
		if (added && !kernel)
			user_location(bd, in, addr);
		return 1;
	}
	if (*id)
		return *id;
	bd->ctx->stats->frames++;
	*id = kernel ? kernel_location(bd, addr) : user_location(bd, in, addr);
	return *id;
}

/* Whether the request asked for this sample's process: no pid=, comm=,
 * exe= or cgroup= (every process), or any of them matches it. Its exe and
 * cgroup are as the process table read them with its maps (a process whose
 * maps were never read matches neither). Under the table's lock. */
static bool pid_wanted(struct build *bd, const struct profile_request *req,
		       const struct sample_key *k)
{
	struct proc_instance *in;

	if (!req->nr_pids && !req->nr_comms && !req->nr_exes && !req->nr_cgroups)
		return true;
	for (int i = 0; i < req->nr_pids; i++)
		if ((uint32_t)req->pids[i] == k->pid)
			return true;
	for (int i = 0; i < req->nr_comms; i++)
		if (!strncmp(req->comms[i], k->comm, CPROF_COMM_LEN))
			return true;
	if (!req->nr_exes && !req->nr_cgroups)
		return false;
	in = proctab__get(bd->ctx->proctab, k->pid, k->start_ns, k->exec_id);
	for (int i = 0; in && in->exe && i < req->nr_exes; i++)
		if (!strcmp(req->exes[i], in->exe))
			return true;
	for (int i = 0; in && in->cgroup && i < req->nr_cgroups; i++)
		if (params__cgroup_within(in->cgroup, req->cgroups[i]))
			return true;
	return false;
}

/* Whether the client may see this sample: its process is one of theirs,
 * as it was known while it lived. Under the table's lock. */
static bool visible(struct build *bd, const struct sample_key *k)
{
	const struct access *who = bd->ctx->who;
	struct proc_instance *in;

	if (!who || who->all)
		return true;
	in = proctab__get(bd->ctx->proctab, k->pid, k->start_ns, k->exec_id);
	return in && in->user_known && in->uid == who->uid;
}

/* A lock window holds both views' records: this view's role only. */
static bool role_wanted(const struct build *bd, const struct sample_key *k)
{
	return !bd->role || ((const struct lock_key *)k)->role == bd->role;
}

static bool kernel_hidden(const struct build *bd)
{
	return bd->ctx->who && !bd->ctx->who->all;
}

/* pprof takes the first mapping for the main binary: make it the executable
 * of the process with the most samples, not whatever a stack held first. */
static void add_main_mapping(struct build *bd, const struct window *w,
			     const struct profile_request *req)
{
	const struct sample_key *best = NULL;
	struct proc_instance *in;
	struct object obj;
	uint64_t *count, most = 0;
	struct sample_key *k;
	size_t it = 0;

	while (hashmap__next(w->samples, &it, (void **)&k, (void **)&count))
		if (k->ustack && *count > most && pid_wanted(bd, req, k) && visible(bd, k)) {
			most = *count;
			best = k;
		}
	in = best ? proctab__get(bd->ctx->proctab, best->pid, best->start_ns, best->exec_id) : NULL;
	for (size_t i = 0; in && i < in->maps.nr; i++)
		if (in->maps.maps[i].path && in->maps.maps[i].path[0] == '/') {
			mapping_of(bd, in, &in->maps.maps[i], &obj);
			return;
		}
}

/* Kernel addresses all go into one mapping spanning those the profile holds. */
static int add_kernel_mapping(struct build *bd, const struct window *w)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t it = 0;
	struct sample_key *k;

	while (hashmap__next(w->samples, &it, (void **)&k, NULL)) {
		const struct window_stack *ks = window__stack(w, k->kstack);

		for (uint32_t i = 0; ks && i < ks->len; i++) {
			lo = ks->ips[i] < lo ? ks->ips[i] : lo;
			hi = ks->ips[i] > hi ? ks->ips[i] : hi;
		}
	}
	if (lo > hi || kernel_hidden(bd))
		return 0;
	/* a return address's location is one byte back, in its call */
	bd->kernel_mapping = pprof_builder__mapping(bd->b, &(struct pprof_mapping){
		.start = lo - 1, .limit = hi + 1, .file = "[kernel.kallsyms]",
		.has_functions = bd->ctx->ksyms != NULL,
	});
	return bd->kernel_mapping ? 0 : -ENOMEM;
}

/* Whether addr is in an executable mapping of the process (read again if
 * need be: a library loaded since), or named by its JIT. Without its maps
 * (it exited before they were read) nothing can be: its frames could not
 * be named anyway, and some may be invented. */
static bool is_code(struct build *bd, struct proc_instance *in, uint64_t addr)
{
	if (!in || in->maps_err || !in->maps.nr)
		return false;
	if (procmaps__find(&in->maps, addr))
		return true;
	proctab__refresh(bd->ctx->proctab, in, false);
	return procmaps__find(&in->maps, addr) || jit_name(in, addr);
}

/* Heap samples are taken at the allocator's entry point: as Go's heap
 * profiles (and jemalloc's, tcmalloc's) they start at its caller, which is
 * then the leaf but a return address (its location is its call). */
static uint32_t first_user_frame(const struct window *w)
{
	return w->kind == WINDOW_HEAP ? 1 : 0;
}

/* The first pass over a sample: its user frames, as add_sample() will
 * take them, are noted for the parser. */
static void collect_sample(struct build *bd, const struct window *w, const struct sample_key *k)
{
	const struct window_stack *ks = window__stack(w, k->kstack);
	const struct window_stack *us = window__stack(w, k->ustack);
	struct proc_instance *in;
	size_t nk = ks ? ks->len : 0;

	in = us ? proctab__get(bd->ctx->proctab, k->pid, k->start_ns, k->exec_id) : NULL;
	for (uint32_t i = first_user_frame(w); in && i < us->len; i++) {
		if (!is_code(bd, in, us->ips[i] - (i ? 1 : 0)))
			break;
		frame_location(bd, in, false, us->ips[i], nk + i == 0);
	}
}

static const char *const state_names[OFFCPU_NR_STATES] = {
	[OFFCPU_RUNNING] = "running",
	[OFFCPU_SLEEPING] = "sleeping",
	[OFFCPU_UNINTERRUPTIBLE] = "uninterruptible",
	[OFFCPU_PREEMPTED] = "preempted",
	[OFFCPU_STOPPED] = "stopped",
	[OFFCPU_PARKED] = "parked",
};

static const char *const syscall_names[] = {
#include "syscalls.h"
};

/* Go's unsampling of a heap record (runtime/pprof's scaleHeapSample):
 * blocks of size bytes were each sampled with probability
 * 1 - exp(-size / rate). Deltas may be negative. */
static double heap_scale(uint64_t size, uint64_t rate)
{
	if (rate <= 1 || !size)
		return 1;
	return 1 / -expm1(-(double)size / (double)rate);
}

/* The sample's values and the labels its kind of window adds. */
static int sample_values(const struct window *w, const struct sample_key *k, const uint64_t *vals,
			 int64_t *values, struct pprof_label *labels, char *num, size_t numlen)
{
	const struct offcpu_key *ok = (const struct offcpu_key *)k;
	const struct heap_key *hk = (const struct heap_key *)k;
	int n = 0;

	switch (w->kind) {
	case WINDOW_HEAP: {
		/* allocations and frees, sampled (deltas: as int64) */
		int64_t allocs = (int64_t)vals[0], inuse = allocs - (int64_t)vals[1];
		double scale = heap_scale(hk->size, w->filter);

		values[0] = (int64_t)llround(allocs * scale);
		values[1] = (int64_t)llround((double)allocs * (double)hk->size * scale);
		values[2] = (int64_t)llround(inuse * scale);
		values[3] = (int64_t)llround((double)inuse * (double)hk->size * scale);
		labels[n++] = (struct pprof_label){ .key = "bytes", .num = (int64_t)hk->size,
						    .num_unit = "bytes" };
		return n;
	}
	case WINDOW_CPU:
		values[0] = (int64_t)vals[0];
		values[1] = (int64_t)(vals[0] * ((const struct cpu_key *)k)->period_ns);
		return 0;
	case WINDOW_OFFCPU:
		/* events were kept in 1/1024ths (sampled intervals) */
		values[0] = (int64_t)((vals[0] + OFFCPU_WEIGHT_ONE / 2) / OFFCPU_WEIGHT_ONE);
		values[1] = (int64_t)vals[1];
		break;
	case WINDOW_WALL:
		values[0] = (int64_t)vals[0];
		break;
	case WINDOW_LOCK:
		/* events were kept in 1/1024ths (sampled ones); deltas: int64 */
		values[0] = (int64_t)llround((double)(int64_t)vals[0] / LOCK_WEIGHT_ONE);
		values[1] = (int64_t)vals[1];
		labels[n++] = (struct pprof_label){ .key = "lock",
			.num = (int64_t)((const struct lock_key *)k)->uaddr };
		return n;
	}
	labels[n++] = (struct pprof_label){ .key = "state",
		.str = ok->state < OFFCPU_NR_STATES ? state_names[ok->state] : "unknown" };
	if (ok->syscall != OFFCPU_NO_SYSCALL) {
		const char *name = ok->syscall < sizeof(syscall_names) / sizeof(syscall_names[0]) ?
				   syscall_names[ok->syscall] : NULL;

		if (!name) {
			snprintf(num, numlen, "syscall_%u", ok->syscall);
			name = num;
		}
		labels[n++] = (struct pprof_label){ .key = "syscall", .str = name };
	}
	return n;
}

/* Frames at the top of a kernel stack read in a tracepoint's program (a
 * thread's own stack as it leaves the CPU): the tracepoint's machinery
 * (__traceiter_sched_switch, __bpf_trace_sched_switch, bpf_trace_run4),
 * how many of them depends on the kernel. Not the thread's: left out. */
static uint32_t tracing_frames(const struct build *bd, const struct window_stack *ks)
{
	static const char *const prefixes[] = { "__traceiter_", "__bpf_trace_", "bpf_trace_run",
						 "bpf_prog_" };
	uint32_t i = 0;

	for (; ks && bd->ctx->ksyms && i + 1 < ks->len; i++) {
		const char *name = ksyms__lookup(bd->ctx->ksyms, ks->ips[i], NULL, NULL);
		bool machinery = false;

		for (size_t j = 0; name && j < sizeof(prefixes) / sizeof(prefixes[0]) && !machinery; j++)
			machinery = !strncmp(name, prefixes[j], strlen(prefixes[j]));
		if (!machinery)
			break;
	}
	return i;
}

/* Whether a record's kernel stack may have been read in a tracepoint's
 * program: an off-CPU interval's or a lock record's; not a CPU sample's
 * (read where the sampled code was: bpf_prog_ frames there are time spent
 * in BPF programs, and stay). */
static bool read_in_tracepoint(const struct window *w, const struct sample_key *k)
{
	if (w->kind == WINDOW_OFFCPU || w->kind == WINDOW_LOCK)
		return true;
	return w->kind == WINDOW_WALL && ((const struct offcpu_key *)k)->state != OFFCPU_RUNNING;
}

/* A record of a cumulative view's delta (a history cut, seconds=N) that
 * did not change: most of a track's, between two cuts. Left out before
 * its frames are looked up, not after. */
static bool unchanged(const struct window *w, const uint64_t *vals)
{
	if (w->kind != WINDOW_HEAP && w->kind != WINDOW_LOCK)
		return false;
	for (size_t i = 0; i < w->nr_values; i++)
		if (vals[i])
			return false;
	return true;
}

static int add_sample(struct build *bd, const struct window *w, const struct sample_key *k,
		      const uint64_t *vals, uint64_t *locs)
{
	/* events, for the counts of what went wrong */
	uint64_t count = w->kind == WINDOW_WALL || w->kind == WINDOW_HEAP || w->kind == WINDOW_LOCK ? 1 :
			 w->kind == WINDOW_OFFCPU ? (vals[0] + OFFCPU_WEIGHT_ONE - 1) / OFFCPU_WEIGHT_ONE :
			 vals[0];
	char num[32];
	const struct window_stack *ks = window__stack(w, k->kstack);
	const struct window_stack *us = window__stack(w, k->ustack);
	struct proc_instance *in = NULL;
	char comm[CPROF_COMM_LEN + 1] = { 0 }, thread[CPROF_COMM_LEN + 1] = { 0 };
	struct pprof_label labels[7];
	int nr_labels = 4;
	int64_t values[VIEW_MAX_TYPES] = { 0 };
	bool truncated = false;
	size_t n = 0;

	if ((k->kstack && !ks) || (k->ustack && !us))
		bd->ctx->stats->stacks_missing += count;
	if (us) {
		in = proctab__get(bd->ctx->proctab, k->pid, k->start_ns, k->exec_id);
		if (!in)
			bd->ctx->stats->no_instance += count;
	}
	if (ks && ks->len && kernel_hidden(bd)) {
		/* time in the kernel, without its addresses (KASLR) */
		if (!bd->kernel_hidden_location) {
			struct pprof_line line = { .function = "[kernel]" };

			bd->kernel_hidden_location = pprof_builder__location_lines(bd->b, 0, 0, &line, 1);
		}
		locs[n++] = bd->kernel_hidden_location;
		ks = NULL;
	}
	for (uint32_t i = read_in_tracepoint(w, k) ? tracing_frames(bd, ks) : 0; ks && i < ks->len; i++, n++)
		locs[n] = frame_location(bd, NULL, true, ks->ips[i], n == 0);
	for (uint32_t i = first_user_frame(w); us && i < us->len; i++, n++) {
		/* A frame outside the process's code is not a return address:
		 * a frame-pointer walk read something else off the stack. The
		 * first (the registers' pc) is real, but outside the code too
		 * when the sample caught an exec between the new image and the
		 * new registers. */
		if (!is_code(bd, in, us->ips[i] - (i ? 1 : 0))) {
			if (in && !in->maps_err && in->maps.nr)
				bd->ctx->stats->not_code += count;
			else
				bd->ctx->stats->unverified += count;
			truncated = true;
			break;
		}
		locs[n] = frame_location(bd, in, false, us->ips[i], n == 0 && i == 0);
	}
	if (us && (us->flags & STACK_F_TRUNCATED))
		truncated = true;
	if (truncated) {
		bd->ctx->stats->truncated += count;
		if (!bd->truncated_location) {
			struct pprof_line line = { .function = "[truncated stack]" };

			bd->truncated_location = pprof_builder__location_lines(bd->b, 0, 0, &line, 1);
		}
		locs[n++] = bd->truncated_location;
	}
	if (!n) {
		/* Keep the time, and say plainly that its stack is missing. */
		if (!bd->lost_location) {
			struct pprof_line line = { .function = "[stack lost]" };

			bd->lost_location = pprof_builder__location_lines(bd->b, 0, 0, &line, 1);
		}
		locs[n++] = bd->lost_location;
	}
	for (size_t i = 0; i < n; i++)
		if (!locs[i])
			return -ENOMEM;
	/* a wake under a condition variable's signal (say), not a release */
	for (size_t i = 0; bd->role == LOCK_WAKE && i < n; i++) {
		const uint8_t *cls = hashmap__find(bd->sync_locs, &locs[i]);

		if (!cls)
			continue;
		if (*cls == SYNC_SIGNAL) {
			bd->not_locks++;
			return 0;
		}
		break;
	}

	memcpy(comm, k->comm, CPROF_COMM_LEN);
	memcpy(thread, k->thread, CPROF_COMM_LEN);
	labels[0] = (struct pprof_label){ .key = "pid", .num = k->pid };
	labels[1] = (struct pprof_label){ .key = "tid", .num = k->tid };
	labels[2] = (struct pprof_label){ .key = "comm", .str = comm };
	labels[3] = (struct pprof_label){ .key = "thread", .str = thread };
	if (!in)
		in = proctab__get(bd->ctx->proctab, k->pid, k->start_ns, k->exec_id);
	if (in && in->container[0])
		labels[nr_labels++] = (struct pprof_label){ .key = "container", .str = in->container };
	nr_labels += sample_values(w, k, vals, values, &labels[nr_labels], num, sizeof(num));
	/* a delta of a cumulative view: records that did not change */
	if ((w->kind == WINDOW_HEAP || w->kind == WINDOW_LOCK) &&
	    !values[0] && !values[1] && !values[2] && !values[3])
		return 0;
	return pprof_builder__sample(bd->b, locs, n, values, labels, nr_labels);
}

int profile__text(const struct view_def *view, const uint8_t *buf, size_t buflen, uint8_t **out,
		  size_t *len)
{
	Perftools__Profiles__Profile *p;
	FILE *f;
	int err;

	p = pprof__read(buf, buflen);
	if (!p)
		return -errno;
	f = open_memstream((char **)out, len);
	if (!f) {
		err = -errno;
		goto cleanup;
	}
	if (view->window == WINDOW_HEAP)
		err = pprof__heap_text(p, f);
	else if (view->window == WINDOW_LOCK)
		err = pprof__contention_text(p, !strcmp(view->name, "mutex"), f);
	else
		err = pprof__text(p, f);
	if (fclose(f) && !err)
		err = -EIO;
cleanup:
	pprof__free(p);
	return err;
}

static int render(struct pprof_builder *b, const struct profile_request *req,
		  const struct view_def *view, bool gzip, uint8_t **out, size_t *len)
{
	uint8_t *raw;
	size_t rawlen;
	int err;

	if (!req->debug)
		return pprof_builder__write(b, gzip, out, len);
	err = pprof_builder__write(b, false, &raw, &rawlen);
	if (err)
		return err;
	err = profile__text(view, raw, rawlen, out, len);
	free(raw);
	return err;
}

int profile__build(const struct profile_ctx *ctx, const struct view_def *view,
		   const struct window *w, const struct profile_request *req, uint8_t **out,
		   size_t *len)
{
	struct pprof_opts opts = {
		.sample_types = view->types,
		.nr_sample_types = (size_t)view->nr_types,
		.default_sample_type = view->default_type,
		.period_type = view->period,
		/* the CPU samples' period, the heap's bytes per sample; off-CPU
		 * time is measured, not sampled */
		.period = w->kind == WINDOW_OFFCPU || w->kind == WINDOW_LOCK ? 1 : (int64_t)w->filter,
		.time_nanos = w->start_ns,
		.duration_nanos = w->end_ns - w->start_ns,
	};
	struct build bd = { .ctx = ctx, .collecting = true,
			    .role = w->kind != WINDOW_LOCK ? 0 :
				    !strcmp(view->name, "mutex") ? LOCK_WAKE : LOCK_WAIT };
	uint64_t locs[2 * CPROF_MAX_STACK_DEPTH + 2], *count;
	const char *comments[8];
	char dropped[160], failed[160];
	struct sample_key *k;
	size_t it = 0;
	int err = 0;

	for (size_t i = 0; i < ctx->nr_comments && opts.nr_comments < 6; i++)
		comments[opts.nr_comments++] = ctx->comments[i];
	if (w->dropped) {
		snprintf(dropped, sizeof(dropped),
			 "%llu records dropped: profile windows were over their memory limit (--memory)",
			 (unsigned long long)w->dropped);
		comments[opts.nr_comments++] = dropped;
	}
	if (w->drain_failed) {
		snprintf(failed, sizeof(failed),
			 "%llu drains of the kernel maps failed during this window: samples may be missing",
			 (unsigned long long)w->drain_failed);
		comments[opts.nr_comments++] = failed;
	}
	opts.comments = comments;
	bd.b = pprof_builder__new(&opts);
	bd.frames = hashmap__new(sizeof(struct frame_key), sizeof(uint64_t));
	bd.mappings = hashmap__new(sizeof(struct mapping_key), sizeof(struct mapping_val));
	bd.sync_locs = hashmap__new(sizeof(uint64_t), sizeof(uint8_t));
	bd.sb = symbatch__new(&ctx->symsrc);
	if (!bd.b || !bd.frames || !bd.mappings || !bd.sync_locs || !bd.sb) {
		err = -ENOMEM;
		goto cleanup;
	}
	proctab__lock(ctx->proctab);
	/* what the parser will be asked, all at once */
	if (!ctx->host)
		add_main_mapping(&bd, w, req);
	while (hashmap__next(w->samples, &it, (void **)&k, (void **)&count))
		if (!unchanged(w, count) && pid_wanted(&bd, req, k) && visible(&bd, k) &&
		    role_wanted(&bd, k))
			collect_sample(&bd, w, k);
	/* The parser is asked without the table's lock: new processes are
	 * taken in meanwhile, and a parser at its deadline holds up nothing
	 * but this profile. What was noted holds no pointer into the table. */
	proctab__unlock(ctx->proctab);
	symbatch__resolve(bd.sb);
	bd.collecting = false;
	it = 0;
	proctab__lock(ctx->proctab);
	if (ctx->host) {
		/* pprof calls a profile after its first mapping ("File:", and
		 * the name it saves it under): the host's, covering nothing */
		if (!pprof_builder__mapping(bd.b, &(struct pprof_mapping){
				.file = ctx->host, .has_functions = true }))
			err = -ENOMEM;
	} else {
		add_main_mapping(&bd, w, req);
	}
	if (!err)
		err = add_kernel_mapping(&bd, w);
	while (!err && hashmap__next(w->samples, &it, (void **)&k, (void **)&count)) {
		if (unchanged(w, count) || !pid_wanted(&bd, req, k) || !visible(&bd, k) ||
		    !role_wanted(&bd, k))
			continue;
		err = add_sample(&bd, w, k, count, locs);
		if (err)
			break;
	}
	proctab__unlock(ctx->proctab);
	if (!err)
		err = render(bd.b, req, view, !ctx->raw, out, len);
cleanup:
	if (bd.sb) {
		struct symbatch_stats st;

		symbatch__stats(bd.sb, &st);
		ctx->stats->parser_requests += st.requests;
		ctx->stats->parser_failed += st.failed;
	}
	ctx->stats->not_locks += bd.not_locks;
	symbatch__free(bd.sb);
	hashmap__free(bd.frames);
	hashmap__free(bd.mappings);
	hashmap__free(bd.sync_locs);
	pprof_builder__free(bd.b);
	return err;
}

/* The name pprof's symbol protocol wants for one user address of pid; NULL
 * when none. With want, the address is only noted for the parser. */
static const char *user_symbol(struct build *bd, uint32_t pid, const struct procmaps *maps,
			       uint64_t addr, bool want)
{
	const struct procmap *m = procmaps__find(maps, addr);
	struct srcline frames[DWARFSRC_FRAMES_MAX];
	struct object obj;

	if (!m)
		return NULL;
	obj = object_of(bd->ctx, bd->sb, pid, m);
	if (want) {
		symbatch__want(bd->sb, obj.file, addr - m->start + m->offset);
		return NULL;
	}
	/* Go's answer for inlined code is the innermost function too. */
	if (object_frames(bd, &obj, addr - m->start + m->offset, frames) <= 0)
		return NULL;
	return frames[0].function;
}

/* One pass over pprof's addresses: noting them for the parser (out NULL),
 * or answering. */
static int symbol_pass(struct build *bd, uint32_t pid, const char *text, struct procmaps *maps,
		       bool *maps_read, FILE *out)
{
	const struct profile_ctx *ctx = bd->ctx;
	const char *p = text;
	int err = 0;

	while (p && *p) {
		const char *name = NULL;
		uint64_t addr;
		char *end;

		p += strspn(p, "+ \t\r\n,");
		if (!*p)
			break;
		errno = 0;
		addr = strtoull(p, &end, 16);	/* takes an 0x prefix */
		if (end == p || errno || (*end && !strchr("+ \t\r\n,", *end))) {
			err = -EINVAL;
			break;
		}
		p = end;
		if (addr >= KERNEL_ADDR_MIN) {
			if (!kernel_hidden(bd))
				name = ctx->ksyms ? ksyms__lookup(ctx->ksyms, addr, NULL, NULL) : NULL;
		} else if (pid) {
			if (!*maps_read) {
				*maps_read = true;
				err = procmaps__read((int)pid, maps);
				if (err)
					break;
			}
			name = user_symbol(bd, pid, maps, addr, !out);
		}
		if (name && out)
			fprintf(out, "%#" PRIx64 " %s\n", addr, name);
	}
	return err;
}

int profile__symbol(const struct profile_ctx *ctx, uint32_t pid, const char *text, FILE *out)
{
	struct build bd = { .ctx = ctx, .sb = symbatch__new(&ctx->symsrc) };
	struct procmaps maps = { 0 };
	bool maps_read = false;
	int err;

	if (!bd.sb)
		return -ENOMEM;
	/* every address in one request per object, then the answers */
	err = symbol_pass(&bd, pid, text, &maps, &maps_read, NULL);
	if (err != -EINVAL && err)
		goto cleanup;
	symbatch__resolve(bd.sb);
	err = symbol_pass(&bd, pid, text, &maps, &maps_read, out);
cleanup:
	procmaps__clear(&maps);
	symbatch__free(bd.sb);
	return err;
}
