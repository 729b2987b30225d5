#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "bpfmaps.h"
#include "buildid.h"
#include "elfinit.h"
#include "hashmap.h"
#include "log.h"
#include "proctab.h"
#include "unwind_table.h"
#include "unwinder.h"

#define MAX_LOADS 16
/* An object no process has mapped for this long is removed. */
#define IDLE_NS		(60ull * 1000000000ull)
/* and idle objects are looked for at most this often */
#define EXPIRE_EVERY_NS	(5ull * 1000000000ull)

/* What the unwinder keeps per object: per build id, or per file for
 * objects without one. */
struct uobj {
	uint32_t first_row, nr_rows;	/* nr_rows 0: no table */
	uint32_t refs;			/* processes mapping it */
	uint32_t names;			/* objkeys naming it */
	bool no_cfi;			/* counted in objects_without_cfi */
	uint64_t idle_since;		/* refs fell to 0 then (an eviction order) */
	char build_id[BUILD_ID_MAX * 2 + 1];	/* "" when it has none */
	int nr_loads;
	struct { uint64_t offset, vaddr, filesz; } loads[MAX_LOADS];
};

/* A file as mapped. With the stamp (change time and size), a rebuilt
 * binary that got the inode its old version freed (ext4 does that) is not
 * taken for the old one. */
struct objkey {
	uint64_t dev, inode, stamp;
};

struct build_id_key {
	char hex[BUILD_ID_MAX * 2 + 1];
};

/* Per process: the objects its published table refers to. */
struct uproc {
	uint64_t start_ns;
	uint32_t exec_id;
	uint32_t nr;
	struct objkey *objs;
	uint32_t first_map, nr_maps;	/* its slots in the mapping space */
};

/* A first-fit allocator of index ranges, for rows and for mapping slots. */
struct range {
	uint32_t start, len;
};

struct ranges {
	struct range *free;		/* sorted, coalesced */
	size_t nr_free;
	uint32_t total, used;
};

struct unwinder {
	pthread_mutex_t lock;
	struct unwind_row *rows;	/* the mmap'd row space */
	struct unwind_mapping *maps;	/* the mmap'd mapping slots */
	struct ranges row_space, map_space;
	int procs_fd;
	struct hashmap *objs;		/* objkey -> struct uobj * */
	struct hashmap *by_build_id;	/* build_id_key -> struct uobj * */
	struct hashmap *procs;		/* uint32_t pid -> struct uproc */
	uint64_t expired_at;		/* when idle objects were last looked for */
	struct unwinder_stats stats;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int ranges_init(struct ranges *r, uint32_t total)
{
	r->free = malloc(sizeof(*r->free));
	if (!r->free)
		return -ENOMEM;
	r->free[0] = (struct range){ 0, total };
	r->nr_free = 1;
	r->total = total;
	return 0;
}

static int ranges_alloc(struct ranges *r, uint32_t n, uint32_t *start)
{
	for (size_t i = 0; i < r->nr_free; i++) {
		if (r->free[i].len < n)
			continue;
		*start = r->free[i].start;
		r->free[i].start += n;
		r->free[i].len -= n;
		if (!r->free[i].len) {
			memmove(&r->free[i], &r->free[i + 1], (r->nr_free - i - 1) * sizeof(r->free[0]));
			r->nr_free--;
		}
		r->used += n;
		return 0;
	}
	return -ENOSPC;
}

static void ranges_free(struct ranges *r, uint32_t start, uint32_t n)
{
	struct range *f;
	size_t i = 0;

	if (!n)
		return;
	while (i < r->nr_free && r->free[i].start < start)
		i++;
	f = realloc(r->free, (r->nr_free + 1) * sizeof(*f));
	if (!f)
		return;		/* the range is lost until restart; harmless */
	r->free = f;
	memmove(&f[i + 1], &f[i], (r->nr_free - i) * sizeof(*f));
	f[i] = (struct range){ start, n };
	r->nr_free++;
	r->used -= n;
	if (i + 1 < r->nr_free && f[i].start + f[i].len == f[i + 1].start) {
		f[i].len += f[i + 1].len;
		memmove(&f[i + 1], &f[i + 2], (r->nr_free - i - 2) * sizeof(*f));
		r->nr_free--;
	}
	if (i > 0 && f[i - 1].start + f[i - 1].len == f[i].start) {
		f[i - 1].len += f[i].len;
		memmove(&f[i], &f[i + 1], (r->nr_free - i - 1) * sizeof(*f));
		r->nr_free--;
	}
}

struct unwinder *unwinder__new(void *rows, uint32_t nr_rows, void *maps, uint32_t nr_maps,
			       int procs_fd)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	u->rows = rows;
	u->maps = maps;
	u->procs_fd = procs_fd;
	u->objs = hashmap__new(sizeof(struct objkey), sizeof(struct uobj *));
	u->by_build_id = hashmap__new(sizeof(struct build_id_key), sizeof(struct uobj *));
	u->procs = hashmap__new(sizeof(uint32_t), sizeof(struct uproc));
	if (!u->objs || !u->by_build_id || !u->procs || ranges_init(&u->row_space, nr_rows) ||
	    ranges_init(&u->map_space, nr_maps)) {
		unwinder__free(u);
		errno = ENOMEM;
		return NULL;
	}
	return u;
}

/* The build id, and the PT_LOAD segments: what turns a mapping's file
 * offset into the ELF vaddrs the rows use. */
static int read_elf(const char *path, struct uobj *o)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	struct build_id id;
	size_t nr;
	Elf *elf;

	if (fd < 0)
		return -errno;
	elf = elf_ready() ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (!elf || elf_getphdrnum(elf, &nr)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (build_id__read(elf, &id))
		build_id__hex(&id, o->build_id);
	for (size_t i = 0; i < nr && o->nr_loads < MAX_LOADS; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
			continue;
		o->loads[o->nr_loads].offset = ph.p_offset;
		o->loads[o->nr_loads].vaddr = ph.p_vaddr;
		o->loads[o->nr_loads].filesz = ph.p_filesz;
		o->nr_loads++;
	}
cleanup:
	elf_end(elf);
	close(fd);
	return err;
}

/* An object no process maps keeps its rows for IDLE_NS: the next process
 * to map it (the next cc1 of a build, say) finds them ready instead of
 * spending hundreds of milliseconds rebuilding. Before that, idle objects
 * are evicted, oldest first, when the row space is needed. */
static void object_put(struct unwinder *u, const struct objkey *key)
{
	struct uobj **slot = hashmap__find(u->objs, key);

	if (slot && *slot && (*slot)->refs && --(*slot)->refs == 0)
		(*slot)->idle_since = (uint64_t)now_ns();
}

/* Forget idle o and every name it has; its rows go back to the row space.
 * No process's published table refers to them: a process's objects are
 * put only once its table is unpublished and walks are done with it. */
static void object_drop(struct unwinder *u, struct uobj *o)
{
	/* one name at a time: deleting moves entries, so no iterating past it
	 * (an object has one name unless copies of it share a build id) */
	while (o->names) {
		struct objkey *k, key;
		struct uobj **slot;
		bool found = false;
		size_t it = 0;

		while (!found && hashmap__next(u->objs, &it, (void **)&k, (void **)&slot))
			if (*slot == o) {
				key = *k;
				found = true;
			}
		if (!found)
			break;
		hashmap__delete(u->objs, &key);
		o->names--;
	}
	if (o->build_id[0]) {
		struct build_id_key bk = { 0 };

		strcpy(bk.hex, o->build_id);
		hashmap__delete(u->by_build_id, &bk);
	}
	if (o->nr_rows) {
		ranges_free(&u->row_space, o->first_row, o->nr_rows);
		u->stats.objects--;
	}
	if (o->no_cfi)
		u->stats.objects_without_cfi--;
	free(o);
}

/* The longest idle object, with rows when rows is set; NULL when none. */
static struct uobj *oldest_idle(struct unwinder *u, bool rows)
{
	struct uobj **slot, *oldest = NULL;
	size_t it = 0;

	while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
		if (*slot && !(*slot)->refs && (!rows || (*slot)->nr_rows) &&
		    (!oldest || (*slot)->idle_since < oldest->idle_since))
			oldest = *slot;
	return oldest;
}

/* Remove objects no process has mapped for IDLE_NS. Locked. */
static void expire(struct unwinder *u, uint64_t now)
{
	struct uobj *o;

	u->expired_at = now;
	while ((o = oldest_idle(u, false)) && o->idle_since + IDLE_NS <= now) {
		object_drop(u, o);
		u->stats.expired++;
	}
}

void unwinder__expire(struct unwinder *u, uint64_t now)
{
	pthread_mutex_lock(&u->lock);
	expire(u, now);
	pthread_mutex_unlock(&u->lock);
}

/* Locked. */
static void maybe_expire(struct unwinder *u)
{
	uint64_t now = (uint64_t)now_ns();

	if (now - u->expired_at >= EXPIRE_EVERY_NS)
		expire(u, now);
}

/* Rows for n, evicting idle objects while that makes room. */
static int rows_alloc(struct unwinder *u, uint32_t n, uint32_t *start)
{
	struct uobj *o;

	while (ranges_alloc(&u->row_space, n, start)) {
		o = oldest_idle(u, true);
		if (!o)
			return -ENOSPC;
		object_drop(u, o);
		u->stats.evicted++;
	}
	return 0;
}

/* Name o by key too: the same build id in another file (a container's copy
 * of libc). */
static struct uobj *object_name(struct unwinder *u, const struct objkey *key, struct uobj *o)
{
	struct uobj **slot = hashmap__insert(u->objs, key, NULL);

	if (!slot)
		return NULL;
	*slot = o;
	o->names++;
	return o;
}

static struct uobj *object_get(struct unwinder *u, const struct proc_instance *in,
			       const struct procmap *m)
{
	struct objkey key = { m->dev, m->inode, m->stamp };
	char paths[3][PATH_MAX];
	struct unwind_table t = { 0 };
	struct uobj **slot, *o;
	int64_t t0;
	int err = -ENOENT, i;

	slot = hashmap__find(u->objs, &key);
	if (slot)
		return *slot;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	snprintf(paths[0], sizeof(paths[0]), "/proc/%u/map_files/%lx-%lx", in->pid,
		 (unsigned long)m->start, (unsigned long)m->end);
	snprintf(paths[1], sizeof(paths[1]), "/proc/%u/root%s", in->pid, m->path);
	snprintf(paths[2], sizeof(paths[2]), "%s", m->path);
	for (i = 0; i < 3; i++)
		if (!read_elf(paths[i], o))
			break;
	if (i < 3 && o->build_id[0]) {
		struct build_id_key bk = { 0 };
		struct uobj **same;

		strcpy(bk.hex, o->build_id);
		same = hashmap__find(u->by_build_id, &bk);
		if (same) {
			free(o);
			u->stats.shared++;
			return object_name(u, &key, *same);
		}
	}
	if (!object_name(u, &key, o)) {
		free(o);
		return NULL;
	}
	if (o->build_id[0]) {
		struct build_id_key bk = { 0 };
		struct uobj **bslot;

		strcpy(bk.hex, o->build_id);
		bslot = hashmap__insert(u->by_build_id, &bk, NULL);
		if (bslot)
			*bslot = o;
		else
			o->build_id[0] = '\0';
	}
	t0 = now_ns();
	if (i < 3)
		err = unwind_table__build(paths[i], &t);
	u->stats.build_ns += now_ns() - t0;
	if (err == -ENOENT) {
		o->no_cfi = true;
		u->stats.objects_without_cfi++;
	} else if (err) {
		u->stats.build_errors++;
		log_debug("cannot build the unwind table of %s: %s", m->path, strerror(-err));
	} else if (t.nr > UINT32_MAX || rows_alloc(u, (uint32_t)t.nr, &o->first_row)) {
		u->stats.table_full++;
	} else {
		memcpy(&u->rows[o->first_row], t.rows, t.nr * sizeof(t.rows[0]));
		o->nr_rows = (uint32_t)t.nr;
		u->stats.objects++;
	}
	unwind_table__clear(&t);
	return o;
}

static bool bias_of(const struct uobj *o, const struct procmap *m, uint64_t *bias)
{
	for (int i = 0; i < o->nr_loads; i++)
		if (m->offset >= o->loads[i].offset &&
		    m->offset < o->loads[i].offset + o->loads[i].filesz) {
			*bias = m->start - (m->offset - o->loads[i].offset + o->loads[i].vaddr);
			return true;
		}
	return false;
}

/* Called once the process's previous table is unpublished and no walk can
 * be reading it any more. */
static void uproc_release(struct unwinder *u, struct uproc *p)
{
	ranges_free(&u->map_space, p->first_map, p->nr_maps);
	for (uint32_t i = 0; i < p->nr; i++)
		object_put(u, &p->objs[i]);
	free(p->objs);
	p->objs = NULL;
	p->nr = 0;
}

int unwinder__add(struct unwinder *u, const struct proc_instance *in)
{
	uint32_t pid = in->pid, nobjs = 0, nmaps = 0, first_map;
	struct unwind_proc tab = { .start_ns = in->start_ns, .exec_id = in->exec_id };
	size_t want = in->maps.nr < UNWIND_MAX_MAPPINGS ? in->maps.nr : UNWIND_MAX_MAPPINGS;
	struct objkey *objs = calloc(want ? want : 1, sizeof(*objs));
	struct uproc *p, old = { 0 };
	bool added;
	int err = 0;

	if (!objs)
		return -ENOMEM;
	pthread_mutex_lock(&u->lock);
	maybe_expire(u);
	u->stats.mappings_dropped += in->maps.nr - want;
	if (ranges_alloc(&u->map_space, (uint32_t)want, &first_map)) {
		u->stats.procs_full++;
		err = -ENOSPC;
		goto unlock;
	}
	for (size_t i = 0; i < want; i++) {
		const struct procmap *m = &in->maps.maps[i];
		struct unwind_mapping *um = &u->maps[first_map + nmaps++];
		struct uobj *o;
		uint64_t bias;

		*um = (struct unwind_mapping){ .start = m->start, .end = m->end };
		/* vdso and anonymous code (JIT) stay in the table without rows:
		 * the walker steps them by frame pointer, and does not report
		 * them as unknown pcs */
		if (!m->path || m->path[0] != '/')
			continue;
		o = object_get(u, in, m);
		if (!o)
			continue;
		o->refs++;
		objs[nobjs++] = (struct objkey){ m->dev, m->inode, m->stamp };
		if (o->nr_rows && bias_of(o, m, &bias)) {
			um->bias = bias;
			um->first_row = o->first_row;
			um->nr_rows = o->nr_rows;
		}
	}
	tab.first_map = first_map;
	tab.nr_maps = nmaps;
	p = hashmap__insert(u->procs, &pid, &added);
	if (!p || bpf_map_update_elem(u->procs_fd, &pid, &tab, BPF_ANY)) {
		err = p ? -errno : -ENOMEM;
		u->stats.procs_full++;
		/* not published: give back what was taken */
		ranges_free(&u->map_space, first_map, nmaps);
		for (uint32_t i = 0; i < nobjs; i++)
			object_put(u, &objs[i]);
		if (p && added)
			hashmap__delete(u->procs, &pid);
		goto unlock;
	}
	/* the previous table of this pid (before an exec, or before a
	 * library was loaded) is replaced: release it once no walk reads it */
	if (!added)
		old = *p;
	*p = (struct uproc){ .start_ns = in->start_ns, .exec_id = in->exec_id, .objs = objs,
			     .nr = nobjs, .first_map = first_map, .nr_maps = nmaps };
	objs = NULL;
	if (!added) {
		bpf__sync();
		uproc_release(u, &old);
	}
unlock:
	pthread_mutex_unlock(&u->lock);
	free(objs);
	return err;
}

void unwinder__remove(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id)
{
	struct uproc *p;

	pthread_mutex_lock(&u->lock);
	maybe_expire(u);
	p = hashmap__find(u->procs, &pid);
	if (p && p->start_ns == start_ns && p->exec_id == exec_id) {
		struct uproc gone = *p;

		bpf_map_delete_elem(u->procs_fd, &pid);
		hashmap__delete(u->procs, &pid);
		bpf__sync();
		uproc_release(u, &gone);
	}
	pthread_mutex_unlock(&u->lock);
}

void unwinder__stats(struct unwinder *u, struct unwinder_stats *st)
{
	pthread_mutex_lock(&u->lock);
	*st = u->stats;
	st->processes = hashmap__count(u->procs);
	st->rows_used = u->row_space.used;
	st->rows_total = u->row_space.total;
	pthread_mutex_unlock(&u->lock);
}

void unwinder__free(struct unwinder *u)
{
	struct uobj **o;
	struct uproc *p;
	size_t it = 0;

	if (!u)
		return;
	if (u->procs)
		while (hashmap__next(u->procs, &it, NULL, (void **)&p))
			free(p->objs);
	it = 0;
	if (u->objs)
		while (hashmap__next(u->objs, &it, NULL, (void **)&o))
			if (--(*o)->names == 0)	/* named by each file with its build id */
				free(*o);
	hashmap__free(u->objs);
	hashmap__free(u->by_build_id);
	hashmap__free(u->procs);
	free(u->row_space.free);
	free(u->map_space.free);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
