#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "bpfmaps.h"
#include "cprof.h"
#include "fileio.h"
#include "hashmap.h"
#include "ipc.h"
#include "isolate.h"
#include "log.h"
#include "parserd.h"
#include "proctab.h"
#include "unwind_table.h"
#include "unwinder.h"

#define MAX_LOADS 16
#define NS		1000000000ull
/* An object no process has mapped for this long is removed. Before that
 * it goes only when its rows are needed: a host that compiles all day
 * finds cc1plus's or libLLVM's table ready at the next compile. */
#define IDLE_NS		(600 * NS)
/* A process not sampled for this long is cold: its tables may be evicted
 * to make room for those of processes that are. */
#define COLD_NS		(30 * NS)
/* A table refused or evicted is looked at again after this long. */
#define RETRY_NS	(5 * NS)
/* "No room" is logged at most this often. */
#define LOG_EVERY_NS	(600 * NS)

enum uobj_state {
	OBJ_NONE,		/* no table: no CFI, a build error, or no slot */
	OBJ_LOADED,		/* its table is in its slot */
	OBJ_WAITING,		/* built, but refused for room or evicted: slot empty */
};

#define NO_SLOT UINT32_MAX

/* What the unwinder keeps per object: per build id, or per file for
 * objects without one. */
struct uobj {
	uint32_t slot;			/* table slot, NO_SLOT: none */
	uint32_t nr_rows;		/* its table's rows, loaded or not */
	uint32_t index_start, index_len;	/* its index entries, while loaded */
	enum uobj_state state;
	bool no_cfi;			/* counted in objects_without_cfi */
	uint32_t refs;			/* published processes mapping it */
	uint32_t names;			/* objkeys naming it */
	uint64_t idle_since;		/* refs fell to 0 then (an eviction order) */
	uint64_t last_sampled;		/* its processes', as of the last look */
	uint64_t retry_at;		/* a waiting table is not rebuilt before */
	char build_id[BUILD_ID_MAX * 2 + 1];	/* "" when it has none */
	uint32_t owner;			/* of its file: file_owner() */
	char *path;			/* as the first process to map it saw it */
	dev_t dev;			/* and the file it was there */
	ino_t inode;
	uint64_t stamp;
	int nr_loads;
	struct { uint64_t offset, vaddr, filesz; } loads[MAX_LOADS];
};

/* A file as mapped. With the stamp (change time and size), a rebuilt
 * binary that got the inode its old version freed (ext4 does that) is not
 * taken for the old one. */
struct objkey {
	uint64_t dev, inode, stamp;
};

/* Tables are shared by build id only between files of one owner (see
 * file_owner()): a user's altered copy of root's binary, with its build id,
 * must not walk root's stacks. */
struct build_id_key {
	char hex[(BUILD_ID_MAX * 2 + 1 + 3) & ~3];	/* no padding before owner */
	uint32_t owner;
};

/* An object a process maps, and where (to open it again for a rebuild). */
struct uproc_obj {
	struct objkey key;
	uint64_t start, end;
};

/* Per process: the objects its published table refers to. */
struct uproc {
	uint64_t start_ns;
	uint32_t exec_id;
	uint32_t nr;
	struct uproc_obj *objs;
	uint32_t first_map, nr_maps;	/* its slots in the mapping space */
};

/* A first-fit allocator of index ranges, for mapping slots. */
struct range {
	uint32_t start, len;
};

struct ranges {
	struct range *free;		/* sorted, coalesced */
	size_t nr_free;
	uint32_t total, used;
};

struct unwinder {
	int tables_fd, procs_fd, seen_fd, hdrs_fd, maps_fd, index_fd;
	struct ranges map_space;	/* of the mapping slots */
	struct ranges index_space;	/* of the tables' indexes */
	struct range *index_freed;	/* of evicted tables: free after a BPF sync */
	size_t nr_index_freed, cap_index_freed;
	uint32_t *free_slots;		/* a stack of free table slots */
	uint32_t *slot_gen;		/* each slot's table generation */
	uint32_t nr_free_slots;
	uint64_t max_rows;
	struct isolate *parser;		/* builds the tables; NULL: here */
	struct hashmap *objs;		/* objkey -> struct uobj * */
	struct hashmap *by_build_id;	/* build_id_key -> struct uobj * */
	struct hashmap *procs;		/* uint32_t pid -> struct uproc */
	uint64_t expired_at;		/* when idle objects were last looked for */
	uint64_t logged_full_at;	/* when "no room" was last logged */
	struct unwinder_stats stats;
	pthread_mutex_t snap_lock;	/* guards snap, for readers on other threads */
	struct unwinder_stats snap;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
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

uint32_t unwinder__index_entries(uint64_t max_rows, uint32_t max_tables)
{
	uint64_t n = 2 * (max_rows / UNWIND_INDEX_STRIDE + max_tables);

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int unwinder__create_tables_map(uint32_t max_tables)
{
	LIBBPF_OPTS(bpf_map_create_opts, inner_opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, outer_opts);
	int inner, outer;

	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cprof_rows_tmpl", sizeof(uint32_t),
			       sizeof(struct unwind_row), 1, &inner_opts);
	if (inner < 0)
		return -errno;
	outer_opts.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "cprof_tables", sizeof(uint32_t),
			       sizeof(uint32_t), max_tables, &outer_opts);
	if (outer < 0)
		outer = -errno;
	close(inner);
	return outer;
}

/* Write n values of an array map from index first: with one call where
 * the kernel takes them in a batch (5.6), else one by one. Not through
 * mmap: a mapping of an array map is resident whole, and the daemon's RSS
 * would carry the index and mapping slots' full size. 0 or -errno. */
static int array_write(int fd, uint32_t first, const void *values, uint32_t n, size_t size)
{
	static int no_batch;
	uint32_t *keys;
	int err = 0;

	if (!n)
		return 0;
	if (!__atomic_load_n(&no_batch, __ATOMIC_RELAXED)) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		uint32_t count = n;

		keys = malloc(n * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++)
			keys[i] = first + i;
		err = bpf_map_update_batch(fd, keys, values, &count, &opts);
		free(keys);
		if (err != -EINVAL && err != -EOPNOTSUPP && err != -524 /* ENOTSUPP */)
			return err;
		__atomic_store_n(&no_batch, 1, __ATOMIC_RELAXED);
	}
	for (uint32_t i = 0; i < n && !err; i++) {
		uint32_t k = first + i;

		if (bpf_map_update_elem(fd, &k, (const char *)values + i * size, BPF_ANY))
			err = -errno;
	}
	return err;
}

/* Readers on other threads see the stats as of the last change. */
static void publish_stats(struct unwinder *u)
{
	struct uobj **slot;
	uint64_t waiting = 0;
	size_t it = 0;

	while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
		waiting += (*slot)->state == OBJ_WAITING && (*slot)->refs;
	pthread_mutex_lock(&u->snap_lock);
	u->snap = u->stats;
	u->snap.processes = hashmap__count(u->procs);
	u->snap.rows_total = u->max_rows;
	/* an object with several names (build id) is counted once per name */
	u->snap.objects_waiting = waiting;
	pthread_mutex_unlock(&u->snap_lock);
}

struct unwinder *unwinder__new(const struct unwinder_opts *opts)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->snap_lock, NULL);
	u->tables_fd = opts->tables_fd;
	u->hdrs_fd = opts->hdrs_fd;
	u->index_fd = opts->index_fd;
	u->procs_fd = opts->procs_fd;
	u->seen_fd = opts->seen_fd;
	u->maps_fd = opts->maps_fd;
	u->max_rows = opts->max_rows;
	u->parser = opts->parser;
	u->objs = hashmap__new(sizeof(struct objkey), sizeof(struct uobj *));
	u->by_build_id = hashmap__new(sizeof(struct build_id_key), sizeof(struct uobj *));
	u->procs = hashmap__new(sizeof(uint32_t), sizeof(struct uproc));
	u->free_slots = malloc((opts->max_tables ? opts->max_tables : 1) * sizeof(uint32_t));
	u->slot_gen = calloc(opts->max_tables ? opts->max_tables : 1, sizeof(uint32_t));
	if (!u->objs || !u->by_build_id || !u->procs || !u->free_slots || !u->slot_gen ||
	    ranges_init(&u->map_space, opts->nr_maps) || ranges_init(&u->index_space, opts->nr_index)) {
		unwinder__free(u);
		errno = ENOMEM;
		return NULL;
	}
	/* lowest slots on top: used first */
	for (uint32_t i = 0; i < opts->max_tables; i++)
		u->free_slots[i] = opts->max_tables - 1 - i;
	u->nr_free_slots = opts->max_tables;
	publish_stats(u);
	return u;
}

/* The build id, and the PT_LOAD segments: what turns a mapping's file
 * offset into the ELF vaddrs the rows use. Read by the tables parser, or
 * here without one. */
static int read_elf(struct unwinder *u, int fd, struct uobj *o)
{
	struct file_id fid = { (uint64_t)o->dev, (uint64_t)o->inode, o->stamp };
	struct parserd_identity id;
	struct wbuf out = { 0 };
	struct ipc_hdr rh = { 0 };
	void *payload = NULL;
	size_t len = 0;
	int err;

	o->owner = file_owner(fd);
	if (u->parser) {
		err = isolate__call(u->parser, IPC_IDENTIFY, &fid, o->path, NULL, fd, &rh, &payload,
				    4096);
		len = rh.len;
	} else {
		err = 0;
		rh.status = parserd__identify(fd, &out);
		payload = out.p;
		len = out.len;
	}
	if (!err)
		err = rh.status;
	if (!err) {
		err = parserd__read_identity(payload, len, &id);
		if (err == -EPROTO && u->parser)
			isolate__reject(u->parser, &fid, o->path);
	}
	free(payload);
	if (err)
		return err;
	_Static_assert(sizeof(o->build_id) == sizeof(id.build_id), "build ids of one size");
	_Static_assert(MAX_LOADS == PARSERD_MAX_LOADS, "as many loads");
	strcpy(o->build_id, id.build_id);
	o->nr_loads = id.nr_loads;
	memcpy(o->loads, id.loads, sizeof(id.loads[0]) * (size_t)id.nr_loads);
	return 0;
}

/* ---- tables in the kernel ---- */

/* Put t's rows into o's slot: its index first, then a new array map of
 * exactly their size. */
static int table_put(struct unwinder *u, struct uobj *o, const struct unwind_table *t)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP | BPF_F_MMAPABLE);
	size_t len = t->nr * sizeof(t->rows[0]), n = unwind_table__index_len(t);
	struct unwind_table_hdr hdr;
	uint64_t *index;
	uint32_t start;
	void *p;
	int fd, err = 0;

	if (n > UINT32_MAX || ranges_alloc(&u->index_space, (uint32_t)n, &start))
		return -ENOSPC;
	index = malloc(n * sizeof(*index));
	if (!index) {
		err = -ENOMEM;
		goto out;
	}
	unwind_table__index(t, start, index, &hdr);
	/* rows the walkers cached for the slot's previous table are not
	 * this one's: a new generation (never 0, which marks empty) */
	if (!++u->slot_gen[o->slot])
		u->slot_gen[o->slot] = 1;
	hdr.gen = u->slot_gen[o->slot];
	err = array_write(u->index_fd, start, index, (uint32_t)n, sizeof(*index));
	free(index);
	if (err)
		goto out;
	if (bpf_map_update_elem(u->hdrs_fd, &o->slot, &hdr, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "cprof_rows", sizeof(uint32_t),
			    sizeof(struct unwind_row), (uint32_t)t->nr, &opts);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
	} else {
		memcpy(p, t->rows, len);
		munmap(p, len);
		if (bpf_map_update_elem(u->tables_fd, &o->slot, &fd, BPF_ANY))
			err = -errno;
	}
	close(fd);		/* the slot holds the map now */
out:
	if (err) {
		ranges_free(&u->index_space, start, (uint32_t)n);
		return err;
	}
	o->index_start = start;
	o->index_len = (uint32_t)n;
	o->state = OBJ_LOADED;
	u->stats.rows_used += o->nr_rows;
	u->stats.objects++;
	return 0;
}

/* Index ranges of tables taken out are reused only after a BPF grace
 * period, when no walk that found the table can read them any more: one
 * for all the tables taken out together. */
static void index_flush(struct unwinder *u)
{
	if (!u->nr_index_freed)
		return;
	bpf__sync();
	for (size_t i = 0; i < u->nr_index_freed; i++)
		ranges_free(&u->index_space, u->index_freed[i].start, u->index_freed[i].len);
	u->nr_index_freed = 0;
}

/* Take o's table out of its slot. The kernel frees the map once walks in
 * flight are done with it; its index waits for index_flush(). */
static void table_evict(struct unwinder *u, struct uobj *o)
{
	struct range *r;

	if (o->state != OBJ_LOADED)
		return;
	bpf_map_delete_elem(u->tables_fd, &o->slot);
	if (u->nr_index_freed == u->cap_index_freed) {
		size_t cap = u->cap_index_freed ? 2 * u->cap_index_freed : 16;

		r = realloc(u->index_freed, cap * sizeof(*r));
		if (r) {
			u->index_freed = r;
			u->cap_index_freed = cap;
		}
	}
	if (u->nr_index_freed < u->cap_index_freed)	/* else lost until restart */
		u->index_freed[u->nr_index_freed++] = (struct range){ o->index_start, o->index_len };
	o->state = OBJ_WAITING;
	o->retry_at = 0;
	u->stats.rows_used -= o->nr_rows;
	u->stats.objects--;
}

/* ---- objects ---- */

/* An object no process maps keeps its table for IDLE_NS: the next process
 * to map it (the next cc1 of a build, say) finds it ready instead of
 * spending hundreds of milliseconds rebuilding. Before that, idle objects
 * are removed, oldest first, when the rows are needed. */
static void object_put(struct unwinder *u, const struct objkey *key)
{
	struct uobj **slot = hashmap__find(u->objs, key);

	if (slot && *slot && (*slot)->refs && --(*slot)->refs == 0)
		(*slot)->idle_since = now_ns();
}

/* Forget idle o and every name it has; its table and slot are freed. No
 * process's published table refers to them: a process's objects are put
 * only once its table is unpublished and walks are done with it. */
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
	if (o->build_id[0] && o->owner != FILE_OWNER_MANY) {
		struct build_id_key bk = { .owner = o->owner };

		strcpy(bk.hex, o->build_id);
		hashmap__delete(u->by_build_id, &bk);
	}
	table_evict(u, o);
	if (o->slot != NO_SLOT)
		u->free_slots[u->nr_free_slots++] = o->slot;
	if (o->no_cfi)
		u->stats.objects_without_cfi--;
	free(o->path);
	free(o);
}

/* The longest idle object, with a loaded table when loaded is set. */
static struct uobj *oldest_idle(struct unwinder *u, bool loaded)
{
	struct uobj **slot, *oldest = NULL;
	size_t it = 0;

	while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
		if (*slot && !(*slot)->refs && (!loaded || (*slot)->state == OBJ_LOADED) &&
		    (!oldest || (*slot)->idle_since < oldest->idle_since))
			oldest = *slot;
	return oldest;
}

static void expire(struct unwinder *u, uint64_t now)
{
	struct uobj *o;

	u->expired_at = now;
	while ((o = oldest_idle(u, false)) && o->idle_since + IDLE_NS <= now) {
		object_drop(u, o);
		u->stats.expired++;
	}
	index_flush(u);
}

/* Set each object's last_sampled from the seen map: the latest sample of
 * any published process that maps it. */
static void look_at_samples(struct unwinder *u, uint64_t now)
{
	struct uobj **slot;
	struct uproc *p;
	uint32_t *pid;
	size_t it = 0;

	while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
		(*slot)->last_sampled = u->seen_fd < 0 ? now : 0;
	if (u->seen_fd < 0)
		return;
	it = 0;
	while (hashmap__next(u->procs, &it, (void **)&pid, (void **)&p)) {
		struct cprof_instance in = { .pid = *pid, .exec_id = p->exec_id,
					     .start_ns = p->start_ns };
		struct seen_val v;

		/* the LRU may have forgotten it: not sampled for long */
		if (bpf_map_lookup_elem(u->seen_fd, &in, &v))
			continue;
		for (uint32_t i = 0; i < p->nr; i++) {
			slot = hashmap__find(u->objs, &p->objs[i].key);
			if (slot && v.last_ns > (*slot)->last_sampled)
				(*slot)->last_sampled = v.last_ns;
		}
	}
}

static bool cold(const struct uobj *o, uint64_t now)
{
	return o->last_sampled + COLD_NS <= now;
}

/* Rows that removing idle objects and evicting cold tables would free. */
static uint64_t rows_evictable(struct unwinder *u, const struct uobj *self, uint64_t now)
{
	struct uobj **slot;
	uint64_t n = 0;
	size_t it = 0;

	look_at_samples(u, now);
	while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
		if (*slot != self && (*slot)->state == OBJ_LOADED &&
		    (!(*slot)->refs || cold(*slot, now)))
			n += (*slot)->nr_rows;
	/* an object with several names is seen once per name: overcounting
	 * only makes an attempt that then fails, and is counted */
	return n;
}

/* Room for n rows: idle objects go first, oldest first; then the tables
 * of processes not sampled for COLD_NS, least recently sampled first.
 * Nothing is evicted unless that makes enough room. */
static int make_room(struct unwinder *u, uint64_t n, const struct uobj *self)
{
	uint64_t now = now_ns();
	struct uobj *o;

	if (u->stats.rows_used + n <= u->max_rows)
		return 0;
	if (n > u->max_rows || u->stats.rows_used + n - u->max_rows > rows_evictable(u, self, now))
		return -ENOSPC;
	while (u->stats.rows_used + n > u->max_rows && (o = oldest_idle(u, true))) {
		object_drop(u, o);
		u->stats.evicted++;
	}
	while (u->stats.rows_used + n > u->max_rows) {
		struct uobj **slot, *coldest = NULL;
		size_t it = 0;

		while (hashmap__next(u->objs, &it, NULL, (void **)&slot))
			if (*slot != self && (*slot)->state == OBJ_LOADED && cold(*slot, now) &&
			    (!coldest || (*slot)->last_sampled < coldest->last_sampled))
				coldest = *slot;
		if (!coldest)
			return -ENOSPC;
		table_evict(u, coldest);
		coldest->retry_at = now + RETRY_NS;
		u->stats.evicted_cold++;
	}
	index_flush(u);
	return 0;
}

static void log_no_room(struct unwinder *u, const char *path, const struct uobj *o)
{
	uint64_t now = now_ns();

	u->stats.table_full++;
	if (u->logged_full_at && now - u->logged_full_at < LOG_EVERY_NS)
		return;
	u->logged_full_at = now;
	log_warn("unwind tables: no room for %s (%u rows, %.1f MiB; %.1f of %.1f MiB in use, by processes sampled in the last %llu s): "
		 "its stacks are walked by frame pointers until there is room; raise --unwind-memory",
		 path, o->nr_rows, o->nr_rows * sizeof(struct unwind_row) / 1048576.0,
		 u->stats.rows_used * sizeof(struct unwind_row) / 1048576.0,
		 u->max_rows * sizeof(struct unwind_row) / 1048576.0, COLD_NS / NS);
}

/* o's table, from the file open at fd: built by the parser process, or
 * here without one. */
static int build_table(struct unwinder *u, const struct uobj *o, int fd, struct unwind_table *t)
{
	struct file_id id = { (uint64_t)o->dev, (uint64_t)o->inode, o->stamp };
	struct ipc_hdr rh;
	void *payload;
	int err;

	if (!u->parser) {
		char fdpath[32];

		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		return unwind_table__build(fdpath, t);
	}
	err = isolate__call(u->parser, IPC_TABLE, &id, o->path, NULL, fd, &rh, &payload,
			    sizeof(struct unwind_row) * (size_t)UNWIND_MAX_TABLE_ROWS + 4096);
	if (!err)
		err = rh.status;
	if (!err) {
		err = parserd__read_table(payload, rh.len, t);
		if (err == -EPROTO)	/* framed, but not a table */
			isolate__reject(u->parser, &id, o->path);
	}
	free(payload);
	return err;
}

/* Build o's table from the file open at fd, and load it if there is room. */
static void object_build(struct unwinder *u, struct uobj *o, int fd, const char *name)
{
	struct unwind_table t = { 0 };
	uint64_t t0 = now_ns();
	int err = build_table(u, o, fd, &t);

	u->stats.build_ns += now_ns() - t0;
	if (!err)
		log_debug("unwind table of %s: %zu rows, built in %.1f ms", name, t.nr,
			  (now_ns() - t0) / 1e6);
	if (err == -ENOENT || (!err && !t.nr)) {
		o->no_cfi = true;
		u->stats.objects_without_cfi++;
	} else if (err || t.nr > UNWIND_MAX_TABLE_ROWS) {
		u->stats.build_errors++;
		log_debug("cannot build the unwind table of %s: %s", name,
			  err ? strerror(-err) : "too many rows");
	} else if (o->slot == NO_SLOT && !u->nr_free_slots) {
		u->stats.slots_full++;
	} else {
		if (o->slot == NO_SLOT)
			o->slot = u->free_slots[--u->nr_free_slots];
		o->nr_rows = (uint32_t)t.nr;
		o->state = OBJ_WAITING;
		if (make_room(u, o->nr_rows, o) || table_put(u, o, &t)) {
			o->retry_at = now_ns() + RETRY_NS;
			log_no_room(u, name, o);
		}
	}
	unwind_table__clear(&t);
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

static struct uobj *object_get(struct unwinder *u, uint32_t pid, const struct procmap *m)
{
	struct objkey key = { m->dev, m->inode, m->stamp };
	struct file_id id = { m->dev, m->inode, m->stamp };
	char paths[3][PATH_MAX];
	struct uobj **slot, *o;
	int fd = -1;

	slot = hashmap__find(u->objs, &key);
	if (slot)
		return *slot;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->slot = NO_SLOT;
	o->path = strdup(m->path);
	o->dev = (dev_t)m->dev;
	o->inode = (ino_t)m->inode;
	o->stamp = m->stamp;
	o->owner = FILE_OWNER_MANY;
	snprintf(paths[0], sizeof(paths[0]), "/proc/%u/map_files/%lx-%lx", pid,
		 (unsigned long)m->start, (unsigned long)m->end);
	snprintf(paths[1], sizeof(paths[1]), "/proc/%u/root%s", pid, m->path);
	snprintf(paths[2], sizeof(paths[2]), "%s", m->path);
	/* the file the process mapped, and only that one (see open_same_file) */
	for (int i = 0; i < 3 && fd < 0; i++) {
		fd = open_same_file(paths[i], &id);
		if (fd >= 0 && read_elf(u, fd, o)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0 && o->build_id[0] && o->owner != FILE_OWNER_MANY) {
		struct build_id_key bk = { .owner = o->owner };
		struct uobj **same;

		strcpy(bk.hex, o->build_id);
		same = hashmap__find(u->by_build_id, &bk);
		if (same) {
			close(fd);
			free(o->path);
			free(o);
			u->stats.shared++;
			return object_name(u, &key, *same);
		}
	}
	if (!object_name(u, &key, o)) {
		if (fd >= 0)
			close(fd);
		free(o->path);
		free(o);
		return NULL;
	}
	if (o->build_id[0] && o->owner != FILE_OWNER_MANY) {
		struct build_id_key bk = { .owner = o->owner };
		struct uobj **bslot;

		strcpy(bk.hex, o->build_id);
		bslot = hashmap__insert(u->by_build_id, &bk, NULL);
		if (bslot)
			*bslot = o;
		else
			o->build_id[0] = '\0';
	}
	if (fd >= 0) {
		object_build(u, o, fd, m->path);
		close(fd);
	} else {
		o->no_cfi = true;	/* cannot be read: frame pointers */
		u->stats.objects_without_cfi++;
	}
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
		object_put(u, &p->objs[i].key);
	free(p->objs);
	p->objs = NULL;
	p->nr = 0;
}

int unwinder__add_maps(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id,
		       const struct procmaps *maps)
{
	uint32_t nobjs = 0, nmaps = 0, first_map;
	struct unwind_proc tab = { .start_ns = start_ns, .exec_id = exec_id };
	size_t want = maps->nr < UNWIND_MAX_MAPPINGS ? maps->nr : UNWIND_MAX_MAPPINGS;
	struct uproc_obj *objs = calloc(want ? want : 1, sizeof(*objs));
	struct unwind_mapping *ums = calloc(want ? want : 1, sizeof(*ums));
	struct uproc *p, old = { 0 };
	bool added;
	int err = 0;

	if (!objs || !ums) {
		err = -ENOMEM;
		goto out;
	}
	if (now_ns() - u->expired_at >= RETRY_NS)
		expire(u, now_ns());
	u->stats.mappings_dropped += maps->nr - want;
	if (ranges_alloc(&u->map_space, (uint32_t)want, &first_map)) {
		u->stats.procs_full++;
		err = -ENOSPC;
		goto out;
	}
	for (size_t i = 0; i < want; i++) {
		const struct procmap *m = &maps->maps[i];
		struct unwind_mapping *um = &ums[nmaps++];
		struct uobj *o;
		uint64_t bias;

		*um = (struct unwind_mapping){ .start = m->start, .end = m->end };
		/* vdso and anonymous code (JIT) stay in the table without rows:
		 * the walker steps them by frame pointer, and does not take
		 * their pcs for invented ones */
		if (!m->path || m->path[0] != '/')
			continue;
		o = object_get(u, pid, m);
		if (!o)
			continue;
		o->refs++;
		objs[nobjs++] = (struct uproc_obj){ .key = { m->dev, m->inode, m->stamp },
						    .start = m->start, .end = m->end };
		/* a waiting table's slot is named too: the walker finds it
		 * empty, counts it, and finds the rows once they are loaded */
		if (o->slot != NO_SLOT && o->nr_rows && bias_of(o, m, &bias)) {
			um->bias = bias;
			um->table = o->slot;
			um->nr_rows = o->nr_rows;
		}
	}
	tab.first_map = first_map;
	tab.nr_maps = nmaps;
	err = array_write(u->maps_fd, first_map, ums, nmaps, sizeof(*ums));
	p = err ? NULL : hashmap__insert(u->procs, &pid, &added);
	if (!p || bpf_map_update_elem(u->procs_fd, &pid, &tab, BPF_ANY)) {
		err = err ?: p ? -errno : -ENOMEM;
		u->stats.procs_full++;
		/* not published: give back what was taken */
		ranges_free(&u->map_space, first_map, nmaps);
		for (uint32_t i = 0; i < nobjs; i++)
			object_put(u, &objs[i].key);
		if (p && added)
			hashmap__delete(u->procs, &pid);
		goto out;
	}
	/* the previous table of this pid (before an exec, or before a
	 * library was loaded) is replaced: release it once no walk reads it */
	if (!added)
		old = *p;
	*p = (struct uproc){ .start_ns = start_ns, .exec_id = exec_id, .objs = objs,
			     .nr = nobjs, .first_map = first_map, .nr_maps = nmaps };
	objs = NULL;
	if (!added) {
		bpf__sync();
		uproc_release(u, &old);
	}
out:
	free(objs);
	free(ums);
	publish_stats(u);
	return err;
}

int unwinder__add(struct unwinder *u, const struct proc_instance *in)
{
	return unwinder__add_maps(u, in->pid, in->start_ns, in->exec_id, &in->maps);
}

void unwinder__remove_many(struct unwinder *u, const struct unwinder_gone *gone, size_t nr)
{
	struct uproc *released = calloc(nr ? nr : 1, sizeof(*released));
	size_t n = 0;

	if (!released)
		return;		/* they stay published until their pid is reused */
	for (size_t i = 0; i < nr; i++) {
		struct uproc *p = hashmap__find(u->procs, &gone[i].pid);

		if (!p || p->start_ns != gone[i].start_ns || p->exec_id != gone[i].exec_id)
			continue;
		bpf_map_delete_elem(u->procs_fd, &gone[i].pid);
		released[n++] = *p;
		hashmap__delete(u->procs, &gone[i].pid);
	}
	if (n) {
		bpf__sync();	/* one grace period for all of them */
		for (size_t i = 0; i < n; i++)
			uproc_release(u, &released[i]);
	}
	free(released);
	publish_stats(u);
}

void unwinder__remove(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id)
{
	struct unwinder_gone g = { .pid = pid, .exec_id = exec_id, .start_ns = start_ns };

	unwinder__remove_many(u, &g, 1);
}

void unwinder__expire(struct unwinder *u, uint64_t now)
{
	expire(u, now);
	publish_stats(u);
}

/* Load o's table again: rebuilt from a live process's mapping of it. */
static void object_reload(struct unwinder *u, struct uobj *o, uint64_t now)
{
	struct unwind_table t = { 0 };
	struct uproc *p;
	uint32_t *pid;
	size_t it = 0;
	uint64_t t0;
	int err = -ENOENT;

	o->retry_at = now + RETRY_NS;
	if (make_room(u, o->nr_rows, o))
		return;
	t0 = now_ns();
	while (err && hashmap__next(u->procs, &it, (void **)&pid, (void **)&p)) {
		for (uint32_t i = 0; err && i < p->nr; i++) {
			struct uobj **slot = hashmap__find(u->objs, &p->objs[i].key);
			char path[96];

			if (!slot || *slot != o)
				continue;
			int fd;

			snprintf(path, sizeof(path), "/proc/%u/map_files/%lx-%lx", *pid,
				 (unsigned long)p->objs[i].start, (unsigned long)p->objs[i].end);
			fd = open_same_file(path, NULL);
			if (fd < 0)
				continue;
			err = build_table(u, o, fd, &t);
			close(fd);
		}
	}
	/* no live process reaches it through map_files (an unwinder fed
	 * with maps of its own, or gone meanwhile): its path, if that is
	 * still the same file */
	if (err && o->path) {
		struct file_id id = { (uint64_t)o->dev, (uint64_t)o->inode, o->stamp };
		int fd = open_same_file(o->path, &id);

		if (fd >= 0) {
			err = build_table(u, o, fd, &t);
			close(fd);
		}
	}
	u->stats.build_ns += now_ns() - t0;
	/* the same file gives the same rows: the mappings already say how many */
	if (!err && t.nr == o->nr_rows && !table_put(u, o, &t))
		u->stats.reloaded++;
	unwind_table__clear(&t);
}

void unwinder__tick(struct unwinder *u, uint64_t now)
{
	struct uobj **slot;
	bool looked = false;
	size_t it = 0;

	expire(u, now);
	for (;;) {
		struct uobj *o = NULL;

		it = 0;
		while (!o && hashmap__next(u->objs, &it, NULL, (void **)&slot))
			if ((*slot)->state == OBJ_WAITING && (*slot)->refs && (*slot)->retry_at <= now)
				o = *slot;
		if (!o)
			break;
		if (!looked) {
			look_at_samples(u, now);
			looked = true;
		}
		if (cold(o, now)) {
			o->retry_at = now + RETRY_NS;	/* not wanted now */
			continue;
		}
		object_reload(u, o, now);
	}
	publish_stats(u);
}

void unwinder__stats(struct unwinder *u, struct unwinder_stats *st)
{
	pthread_mutex_lock(&u->snap_lock);
	*st = u->snap;
	pthread_mutex_unlock(&u->snap_lock);
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
			if (--(*o)->names == 0) {	/* named by each file with its build id */
				free((*o)->path);
				free(*o);
			}
	hashmap__free(u->objs);
	hashmap__free(u->by_build_id);
	hashmap__free(u->procs);
	free(u->map_space.free);
	free(u->index_space.free);
	free(u->index_freed);
	free(u->free_slots);
	free(u->slot_gen);
	pthread_mutex_destroy(&u->snap_lock);
	free(u);
}
