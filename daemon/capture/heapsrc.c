#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "clock.h"
#include "allocator.h"
#include "capture.skel.h"
#include "heap.h"
#include "bpfmaps.h"
#include "heapsrc.h"
#include "log.h"
#include "procmaps.h"
#include "proctab.h"

/* The kernel's attach type for uprobe sessions (6.13), which the uapi
 * headers this builds with may not name. */
#define ATTACH_UPROBE_SESSION	57

#define FOLLOW_MS	500		/* targets followed */
#define RESCAN_EVERY	10		/* follows between looks for dlopen'd allocators */
#define MAX_OBJECTS	256
#define MAX_LINKS	4096

/* An allocator object, analysed once per file (device, inode, stamp). */
struct heap_object {
	uint64_t dev, ino, stamp;
	int status;			/* 0: an allocator; -ENOENT: none; -errno */
	struct allocator a;
};

/* One attachment: a process (0: every process mapping it) and an object. */
struct heap_link {
	uint32_t pid;
	int obj;			/* index into objects */
	int fd;				/* the session link; -1: classic links */
	struct bpf_link **classic;
	int nr_classic;
	bool seen;			/* still wanted, at the last follow */
	struct procmap where;		/* the mapping of the process (pid) it was
					 * checked in: start, end, offset */
};

struct heapsrc {
	struct capture *skel;
	bool sessions;
	heapsrc_attached_fn attached;
	void *arg;
	pthread_mutex_t lock;
	int refs;
	pthread_t thread;
	bool thread_started, stopping;
	pthread_cond_t cond;
	struct heap_object objects[MAX_OBJECTS];
	int nr_objects;
	struct heap_link *links;
	int nr_links;
	uint32_t *known_pids;		/* every process: pids looked at already */
	size_t nr_known, cap_known;
	unsigned int follows;
	struct heapsrc_stats st;
};

/* A mapped file worth analysing: the C library, an allocator by its name,
 * or the program itself (a static allocator). */
static bool candidate(const struct procmap *m, const struct stat *exe)
{
	const char *base;

	if (!m->path || m->path[0] != '/')
		return false;
	if (exe && m->dev == exe->st_dev && m->inode == exe->st_ino)
		return true;
	base = strrchr(m->path, '/') + 1;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) || strstr(base, "alloc");
}

/* The object of mapping m of pid, analysed if new. -1: none. */
static int object_of(struct heapsrc *h, int pid, const struct procmap *m)
{
	struct heap_object *o;
	char path[96], err[160];
	struct stat sb;
	int fd, i;

	for (i = 0; i < h->nr_objects; i++) {
		o = &h->objects[i];
		if (o->dev == m->dev && o->ino == m->inode && o->stamp == m->stamp)
			return o->status ? -1 : i;
	}
	if (h->nr_objects == MAX_OBJECTS)
		return -1;
	/* the very file mapped, whatever its name in whichever namespace */
	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)m->start, (unsigned long long)m->end);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	o = &h->objects[h->nr_objects++];
	memset(o, 0, sizeof(*o));
	o->dev = m->dev;
	o->ino = m->inode;
	o->stamp = m->stamp;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
		o->status = -EINVAL;
	else
		o->status = allocator__analyze(fd, &o->a, err, sizeof(err));
	close(fd);
	if (o->status == -ENOENT) {
		h->st.not_allocator++;
		return -1;
	}
	if (o->status) {
		log_debug("heap: cannot analyse %s: %s", m->path, err);
		return -1;
	}
	log_info("heap: %s is a %s allocator: %d entry points probed%s%s", m->path, o->a.kind,
		 o->a.nr, o->a.nr_single_stepped ? ", some on instructions the kernel single-steps (slower)" : "",
		 o->a.nr_wrappers ? "; wrappers left to the functions they call" : "");
	return (int)(o - h->objects);
}

/* bpf(BPF_LINK_CREATE) for a uprobe_multi session link: the fields as the
 * kernel lays them out, which libbpf 1.1 does not know. */
struct link_create_uprobe_multi {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid, _pad;
	uint8_t rest[64];		/* the rest of union bpf_attr: zero */
};

static int attach_session(struct heapsrc *h, const char *path, const struct allocator *a, int pid)
{
	struct link_create_uprobe_multi attr = { 0 };
	uint64_t offsets[ALLOC_MAX_PROBES], cookies[ALLOC_MAX_PROBES];
	int fd;

	for (int i = 0; i < a->nr; i++) {
		offsets[i] = a->probes[i].offset;
		cookies[i] = a->probes[i].fn | (a->probes[i].null_to_malloc ? HEAP_COOKIE_NULL_TO_MALLOC : 0);
	}
	attr.prog_fd = bpf_program__fd(h->skel->progs.heap_session);
	attr.attach_type = ATTACH_UPROBE_SESSION;
	attr.path = (uint64_t)(uintptr_t)path;
	attr.offsets = (uint64_t)(uintptr_t)offsets;
	attr.cookies = (uint64_t)(uintptr_t)cookies;
	attr.cnt = (uint32_t)a->nr;
	attr.pid = (uint32_t)pid;
	fd = (int)syscall(__NR_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
	return fd < 0 ? -errno : fd;
}

static int attach_classic(struct heapsrc *h, const char *path, const struct allocator *a, int pid,
			  struct heap_link *l)
{
	l->classic = calloc(2 * (size_t)a->nr, sizeof(*l->classic));
	if (!l->classic)
		return -ENOMEM;
	for (int i = 0; i < a->nr; i++) {
		for (int ret = 0; ret < 2; ret++) {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .retprobe = ret,
				    .bpf_cookie = a->probes[i].fn |
						  (a->probes[i].null_to_malloc ? HEAP_COOKIE_NULL_TO_MALLOC : 0));
			struct bpf_link *bl;

			if (ret && a->probes[i].fn == HEAP_FN_FREE)
				continue;
			bl = bpf_program__attach_uprobe_opts(ret ? h->skel->progs.heap_uretprobe :
							     h->skel->progs.heap_uprobe,
							     pid ? pid : -1, path,
							     ret ? a->probes[i].func_vaddr - a->probes[i].vaddr +
								   a->probes[i].offset : a->probes[i].offset, &o);
			if (!bl)
				return -errno;
			l->classic[l->nr_classic++] = bl;
		}
	}
	return 0;
}

/* Whether the kernel put its breakpoints (int3) in process pid, at every
 * probe of a that lies in mapping m; true when it cannot be told. */
static bool breakpoints_in(int pid, const struct procmap *m, const struct allocator *a)
{
	char path[64];
	bool ok = true;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	for (int i = 0; i < a->nr && ok; i++) {
		uint64_t off = a->probes[i].offset;
		uint8_t b;

		if (off < m->offset || off - m->offset >= m->end - m->start)
			continue;
		if (pread(fd, &b, 1, (off_t)(m->start + off - m->offset)) == 1)
			ok = b == 0xcc;
	}
	close(fd);
	return ok;
}

static void link_close(struct heapsrc *h, struct heap_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	for (int i = 0; i < l->nr_classic; i++)
		bpf_link__destroy(l->classic[i]);
	free(l->classic);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* Link object obj's probes at path for process pid (0: every process),
 * into l, as a session link or the fallback's. 0 or -errno. */
static int link_open(struct heapsrc *h, struct heap_link *l, const char *path, uint32_t pid,
		     int obj)
{
	int e;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->pid = pid;
	l->obj = obj;
	l->seen = true;
	if (!h->sessions)
		return attach_classic(h, path, &h->objects[obj].a, (int)pid, l);
	e = attach_session(h, path, &h->objects[obj].a, (int)pid);
	if (e < 0)
		return e;
	l->fd = e;
	return 0;
}

static struct heap_link *link_find(struct heapsrc *h, uint32_t pid, int obj)
{
	for (int i = 0; i < h->nr_links; i++)
		if (h->links[i].pid == pid && h->links[i].obj == obj)
			return &h->links[i];
	return NULL;
}

/* Attach pid's allocators (pid 0: the objects found in process from, for
 * every process). Caller holds h->lock. */
static void attach_process(struct heapsrc *h, uint32_t pid, int from)
{
	struct procmaps maps = { 0 };
	struct stat exe;
	char path[96];
	bool have_exe;

	if (procmaps__read(from, &maps))
		return;
	snprintf(path, sizeof(path), "/proc/%d/exe", from);
	have_exe = !stat(path, &exe);
	for (size_t i = 0; i < maps.nr; i++) {
		const struct procmap *m = &maps.maps[i];
		struct heap_link *l;
		int obj, e;

		if (!candidate(m, have_exe ? &exe : NULL) || (obj = object_of(h, from, m)) < 0)
			continue;
		l = link_find(h, pid, obj);
		if (l) {
			l->seen = true;
			continue;
		}
		if (h->nr_links == MAX_LINKS) {
			if (!h->st.attach_failed++)
				log_error("heap: %d allocator links already: pid %d is not probed", MAX_LINKS, from);
			break;
		}
		l = &h->links[h->nr_links];
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", from,
			 (unsigned long long)m->start, (unsigned long long)m->end);
		e = link_open(h, l, path, pid, obj);
		/* Whether the kernel put the breakpoints there: look, and try
		 * again if not (once seen missing while other tools' uprobes on
		 * the same library came and went). */
		for (int tries = 0; !e && pid && !breakpoints_in(from, m, &h->objects[obj].a); tries++) {
			link_close(h, l);
			if (tries == 3) {
				e = -EAGAIN;
				break;
			}
			h->st.attach_retried++;
			usleep(10000 << tries);
			e = link_open(h, l, path, pid, obj);
		}
		if (e) {
			link_close(h, l);
			if (!h->st.attach_failed++)
				log_error("heap: cannot attach to %s of pid %d: %s", m->path, from, strerror(-e));
			continue;
		}
		h->st.single_stepped += (uint64_t)h->objects[obj].a.nr_single_stepped;
		l->where = (struct procmap){ .start = m->start, .end = m->end, .offset = m->offset };
		h->nr_links++;
		if (pid && h->attached) {
			struct cprof_instance in;

			if (!bpf__task_instance(h->skel->progs.task_instance, pid, &in))
				h->attached(h->arg, &in);
		}
	}
	procmaps__clear(&maps);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool known_pid(struct heapsrc *h, uint32_t pid)
{
	return h->nr_known && bsearch(&pid, h->known_pids, h->nr_known, sizeof(pid), cmp_u32);
}

/* Every process: look at the processes not seen yet for allocator objects
 * not probed yet (each gets a link for every process mapping it). */
static void follow_all(struct heapsrc *h)
{
	DIR *d = opendir("/proc");
	uint32_t *now = NULL;
	size_t nr = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		unsigned long pid = strtoul(de->d_name, &end, 10);

		if (*end || !pid)
			continue;
		if (nr == cap) {
			uint32_t *more = realloc(now, (cap = cap ? 2 * cap : 256) * sizeof(*now));

			if (!more)
				break;
			now = more;
		}
		now[nr++] = (uint32_t)pid;
		if (!known_pid(h, (uint32_t)pid))
			attach_process(h, 0, (int)pid);
	}
	closedir(d);
	qsort(now, nr, sizeof(*now), cmp_u32);
	free(h->known_pids);
	h->known_pids = now;
	h->nr_known = nr;
	h->cap_known = cap;
}

/* Targets: a link set per target process; those gone or no longer
 * targets are detached. Every RESCAN_EVERY follows their maps are read
 * again, for allocators loaded since, and their breakpoints looked at. */
static void follow_targets(struct heapsrc *h, bool rescan)
{
	int fd = bpf_map__fd(h->skel->maps.targets);
	uint32_t key, next, *prev = NULL;
	int i, j;

	for (i = 0; i < h->nr_links; i++)
		h->links[i].seen = false;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		bool attach = rescan, have = false;

		/* Its breakpoints should stand as long as its link: a link whose
		 * breakpoints went is made again. */
		for (j = 0; j < h->nr_links; j++) {
			struct heap_link *l = &h->links[j];

			if (l->pid != key)
				continue;
			have = l->seen = true;
			if (!rescan || breakpoints_in((int)key, &l->where, &h->objects[l->obj].a))
				continue;
			h->st.reattached++;
			link_close(h, l);
			*l = h->links[--h->nr_links];
			j--;
			attach = true;
		}
		if (attach || !have)
			attach_process(h, key, (int)key);
	}
	for (i = 0; i < h->nr_links;) {
		if (h->links[i].seen && proc_alive((int)h->links[i].pid)) {
			i++;
			continue;
		}
		link_close(h, &h->links[i]);
		h->links[i] = h->links[--h->nr_links];
	}
}

struct live_keys {
	struct heap_live_key *keys;
	size_t nr, cap;
};

static int collect_live(const void *key, const void *value, void *arg)
{
	struct live_keys *lk = arg;
	struct heap_live_key *more;

	(void)value;
	if (lk->nr == lk->cap) {
		size_t cap = lk->cap ? 2 * lk->cap : 1024;

		more = realloc(lk->keys, cap * sizeof(*more));
		if (!more)
			return -ENOMEM;	/* this one is left for the next sweep */
		lk->keys = more;
		lk->cap = cap;
	}
	memcpy(&lk->keys[lk->nr++], key, sizeof(*lk->keys));
	return 0;
}

static int cmp_live_tgid(const void *a, const void *b)
{
	uint32_t x = ((const struct heap_live_key *)a)->tgid, y = ((const struct heap_live_key *)b)->tgid;

	return x < y ? -1 : x > y;
}

/* Live blocks of processes that exited: nothing will free them. The keys
 * are read in batches (a get_next_key walk took a system call a block,
 * 17% of cprofd's CPU on a busy host), each process looked at once. */
static void sweep_live(struct heapsrc *h)
{
	int fd = bpf_map__fd(h->skel->maps.heap_live);
	struct live_keys lk = { 0 };
	bool alive = true;

	if (bpfmap__each(fd, sizeof(struct heap_live_key), sizeof(struct heap_live), collect_live,
			 &lk) < 0 || !lk.nr) {
		free(lk.keys);
		return;
	}
	qsort(lk.keys, lk.nr, sizeof(*lk.keys), cmp_live_tgid);
	for (size_t i = 0; i < lk.nr; i++) {
		if (!i || lk.keys[i].tgid != lk.keys[i - 1].tgid)
			alive = proc_alive((int)lk.keys[i].tgid);
		if (!alive && !bpf_map_delete_elem(fd, &lk.keys[i]))
			h->st.live_swept++;
	}
	free(lk.keys);
}

static void update_stats(struct heapsrc *h)
{
	size_t n = 0;
	uint64_t procs = 0;

	h->st.kinds[0] = '\0';
	h->st.objects = 0;
	h->st.links = 0;
	for (int j = 0; j < h->nr_links; j++)
		h->st.links += h->links[j].fd >= 0 ? 1 : (uint64_t)h->links[j].nr_classic;
	for (int i = 0; i < h->nr_objects; i++) {
		bool used = false;

		for (int j = 0; j < h->nr_links && !used; j++)
			used = h->links[j].obj == i;
		if (!used)
			continue;
		h->st.objects++;
		if (!strstr(h->st.kinds, h->objects[i].a.kind) && n < sizeof(h->st.kinds))
			n += snprintf(h->st.kinds + n, sizeof(h->st.kinds) - n, "%s%s", n ? ", " : "",
				      h->objects[i].a.kind);
	}
	for (int j = 0; j < h->nr_links; j++) {
		bool first = true;

		for (int k = 0; k < j && first; k++)
			first = h->links[k].pid != h->links[j].pid;
		procs += first && h->links[j].pid;
	}
	h->st.processes = procs;
}

static bool every_process(struct heapsrc *h)
{
	return !(__atomic_load_n(&h->skel->bss->target_flags, __ATOMIC_RELAXED) & CPROF_TGT_FILTER);
}

static void follow(struct heapsrc *h)
{
	bool rescan = ++h->follows % RESCAN_EVERY == 0;

	if (every_process(h)) {
		/* targets gone: their links go */
		for (int i = 0; i < h->nr_links;) {
			if (!h->links[i].pid) {
				i++;
				continue;
			}
			link_close(h, &h->links[i]);
			h->links[i] = h->links[--h->nr_links];
		}
		/* processes not seen before only: reading every process's maps
		 * again would cost a busy host too much (an allocator loaded
		 * later by a process already seen is not found) */
		follow_all(h);
	} else {
		for (int i = 0; i < h->nr_links;) {
			if (h->links[i].pid) {
				i++;
				continue;
			}
			link_close(h, &h->links[i]);
			h->links[i] = h->links[--h->nr_links];
		}
		follow_targets(h, rescan);
	}
	if (rescan)
		sweep_live(h);
	update_stats(h);
}

static void *follower(void *arg)
{
	struct heapsrc *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stopping) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FOLLOW_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->cond, &h->lock, &until);
		if (h->refs && !h->stopping)
			follow(h);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

struct heapsrc *heapsrc__new(struct capture *skel, bool sessions, heapsrc_attached_fn attached,
			     void *arg)
{
	struct heapsrc *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->skel = skel;
	h->attached = attached;
	h->arg = arg;
	h->sessions = h->st.sessions = sessions;
	h->links = calloc(MAX_LINKS, sizeof(*h->links));
	if (!h->links) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, follower, h)) {
		heapsrc__free(h);
		return NULL;
	}
	h->thread_started = true;
	pthread_setname_np(h->thread, "cprofd-heap");
	return h;
}

static void clear_map(int fd, size_t key_size)
{
	char key[64], next[64];

	while (!bpf_map_get_next_key(fd, NULL, next)) {
		memcpy(key, next, key_size);
		if (bpf_map_delete_elem(fd, key))
			break;
	}
}

int heapsrc__start(struct heapsrc *h)
{
	pthread_mutex_lock(&h->lock);
	if (h->refs++) {
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	h->nr_known = 0;
	h->follows = 0;
	follow(h);
	h->st.attached = true;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void heapsrc__stop(struct heapsrc *h)
{
	pthread_mutex_lock(&h->lock);
	if (!h->refs || --h->refs) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	for (int i = 0; i < h->nr_links; i++)
		link_close(h, &h->links[i]);
	h->nr_links = 0;
	h->st.attached = false;
	h->st.processes = h->st.objects = 0;
	h->st.kinds[0] = '\0';
	/* what was live is not followed any more */
	clear_map(bpf_map__fd(h->skel->maps.heap_live), sizeof(struct heap_live_key));
	clear_map(bpf_map__fd(h->skel->maps.heap_pending), sizeof(uint32_t));
	pthread_mutex_unlock(&h->lock);
}

/* Pairs of malloc(0) and free: size 0 is never sampled, so this is what
 * every unsampled call pays. */
static double time_pairs(int n)
{
	int64_t t0 = mono_ns();

	for (int i = 0; i < n; i++) {
		void *p = malloc(0);

		__asm__ volatile("" : : "r"(p) : "memory");
		free(p);
	}
	return (double)(mono_ns() - t0) / n;
}

void heapsrc__calibrate(struct heapsrc *h)
{
	double bare, probed, best_bare = 1e18, best_probed = 1e18;
	int nr_links;

	pthread_mutex_lock(&h->lock);
	if (h->refs) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	nr_links = h->nr_links;
	attach_process(h, (uint32_t)getpid(), getpid());
	if (h->nr_links == nr_links) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	/* interleaved, best of three: the machine may be busy */
	for (int r = 0; r < 3; r++) {
		probed = time_pairs(10000);
		best_probed = probed < best_probed ? probed : best_probed;
		for (int i = nr_links; i < h->nr_links; i++) {
			link_close(h, &h->links[i]);
		}
		bare = time_pairs(10000);
		best_bare = bare < best_bare ? bare : best_bare;
		if (r < 2) {
			h->nr_links = nr_links;
			attach_process(h, (uint32_t)getpid(), getpid());
		}
	}
	h->nr_links = nr_links;
	h->st.call_ns = (best_probed - best_bare) / 2;
	if (h->st.call_ns < 0)
		h->st.call_ns = 0;
	clear_map(bpf_map__fd(h->skel->maps.heap_pending), sizeof(uint32_t));
	pthread_mutex_unlock(&h->lock);
	log_info("heap: each allocator call of a target traps into the kernel: about %.2f us per call (malloc and free measured here, %s); sampled calls more",
		 h->st.call_ns / 1000, h->sessions ? "entry probes" : "entry and return probes");
}

void heapsrc__stats(struct heapsrc *h, struct heapsrc_stats *st)
{
	pthread_mutex_lock(&h->lock);
	*st = h->st;
	pthread_mutex_unlock(&h->lock);
}

void heapsrc__free(struct heapsrc *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (h->thread_started)
		pthread_join(h->thread, NULL);
	for (int i = 0; i < h->nr_links; i++)
		link_close(h, &h->links[i]);
	free(h->links);
	free(h->known_pids);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}
