// SPDX-License-Identifier: GPL-2.0
/*
 * Bounded cache of parsed ELF objects, keyed by the file's identity
 * (device, inode) as /proc/PID/maps reports it, and its change time,
 * so that libc is parsed once for the whole host rather than once per
 * process, and a file replaced on disk is never served from a stale entry:
 * not with a new inode, and not when a rebuilt binary gets the inode its
 * old version freed, as ext4 hands out.
 *
 * A chained hash table finds entries; a doubly linked list keeps them in
 * recency order for eviction. get() never evicts, so every pointer it hands
 * out while building one profile stays valid; the owner calls trim() once
 * the profile is done.
 *
 * Files that cannot be opened (deleted, in a vanished mount namespace,
 * not ELF) get a negative entry: a stack has many frames in the same
 * object and retrying open() for each of them would cost a syscall per
 * frame. It expires so that a transient failure is not permanent.
 *
 * Objects are shared by build id: the same libc in a dozen containers is a
 * dozen (dev, inode) entries but is parsed once and held once. A miss reads
 * only the file's build id first, and opens it fully only when no entry
 * holds that build id yet.
 *
 * An object whose debug file debuginfod was still fetching is opened again,
 * at most every RETRY_NS, when asked for; the object it replaces is kept
 * until trim(), since the profile being built may still point into it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hashmap.h"
#include "symcache.h"

#define DEFAULT_MAX_BYTES	(64u << 20)
#define DEFAULT_MAX_OBJECTS	1024u
#define NEG_TTL_NS		(30ull * 1000000000ull)
#define MIN_BUCKETS		64u
#define RETRY_NS		(2ull * 1000000000ull)
#define BUILD_ID_HEX_MAX	129

/* One opened object, held by every entry whose file has its build id. */
struct shared {
	struct elfobj *obj;
	int refs;
	size_t bytes;
	uint64_t retry_ns;		/* debug info pending: when to open it again */
	char build_id[BUILD_ID_HEX_MAX];	/* "" when it has none: not shared */
	uint32_t owner;			/* of its file: file_owner() */
};

/* Objects are shared by build id only between files of one owner (see
 * file_owner()). */
struct build_id_key {
	char hex[(BUILD_ID_HEX_MAX + 3) & ~3];	/* no padding before owner */
	uint32_t owner;
};

struct entry {
	uint64_t dev, inode, stamp;
	struct shared *sh;		/* NULL: negative entry */
	int err;			/* negative: errno of the failed open */
	uint64_t expires_ns;		/* negative: when to try again */
	size_t bytes;			/* charged against max_bytes */
	struct entry *hnext;		/* hash chain */
	struct entry *prev, *next;	/* LRU list, most recent at head */
};

struct symcache {
	struct entry **buckets;
	size_t nr_buckets;		/* power of two */
	size_t nr_entries;		/* positive and negative */
	size_t nr_negative;
	struct entry *head, *tail;
	size_t max_bytes, max_objects;
	struct debuginfo *debuginfo;
	struct hashmap *by_build_id;	/* build_id_key -> struct shared * */
	struct elfobj **graveyard;	/* replaced objects, freed by trim() */
	size_t nr_graveyard;
	struct symcache_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Inode numbers are often sequential; mix so they spread over buckets. */
static size_t hash_key(uint64_t dev, uint64_t inode)
{
	uint64_t h = inode ^ (dev * 0x9e3779b97f4a7c15ull);

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (size_t)h;
}

static struct entry **bucket_of(const struct symcache *c, uint64_t dev, uint64_t inode)
{
	return &c->buckets[hash_key(dev, inode) & (c->nr_buckets - 1)];
}

static void lru_unlink(struct symcache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_head(struct symcache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

static void lru_touch(struct symcache *c, struct entry *e)
{
	if (c->head == e)
		return;
	lru_unlink(c, e);
	lru_push_head(c, e);
}

/* Double the table when chains get long. Failure to grow only costs
 * speed, so it is not reported. */
static void maybe_grow(struct symcache *c)
{
	struct entry **nb;
	size_t n, i;

	if (c->nr_entries < c->nr_buckets)
		return;
	n = c->nr_buckets * 2;
	nb = calloc(n, sizeof(*nb));
	if (!nb)
		return;
	for (i = 0; i < c->nr_buckets; i++) {
		struct entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			size_t b = hash_key(e->dev, e->inode) & (n - 1);

			next = e->hnext;
			e->hnext = nb[b];
			nb[b] = e;
		}
	}
	free(c->buckets);
	c->buckets = nb;
	c->nr_buckets = n;
}

static struct entry *find(const struct symcache *c, uint64_t dev, uint64_t inode,
			  uint64_t stamp)
{
	struct entry *e = *bucket_of(c, dev, inode);

	for (; e; e = e->hnext)
		if (e->dev == dev && e->inode == inode && e->stamp == stamp)
			return e;
	return NULL;
}

/* A new shared object for obj, indexed by its build id. */
static struct shared *share(struct symcache *c, struct elfobj *obj, uint32_t owner)
{
	const char *id = elfobj__build_id(obj);
	struct shared *sh = calloc(1, sizeof(*sh)), **slot;
	struct build_id_key key = { .owner = owner };
	bool added;

	if (!sh)
		return NULL;
	sh->obj = obj;
	sh->bytes = sizeof(*sh) + elfobj__mem(obj);
	sh->owner = owner;
	if (id && strlen(id) < sizeof(sh->build_id) && owner != FILE_OWNER_MANY) {
		strcpy(key.hex, id);
		slot = hashmap__insert(c->by_build_id, &key, &added);
		if (slot && added) {
			*slot = sh;
			strcpy(sh->build_id, id);
		}
	}
	c->st.objects++;
	c->st.bytes += sh->bytes;
	return sh;
}

static void unshare(struct symcache *c, struct shared *sh)
{
	struct build_id_key key = { 0 };

	if (!sh || --sh->refs > 0)
		return;
	if (sh->build_id[0]) {
		strcpy(key.hex, sh->build_id);
		key.owner = sh->owner;
		hashmap__delete(c->by_build_id, &key);
	}
	c->st.objects--;
	c->st.bytes -= sh->bytes;
	elfobj__free(sh->obj);
	free(sh);
}

static void set_shared(struct symcache *c, struct entry *e, struct shared *sh)
{
	if (!e->sh)
		c->nr_negative--;
	e->sh = sh;
	sh->refs++;
}

static struct entry *insert(struct symcache *c, uint64_t dev, uint64_t inode,
			    uint64_t stamp)
{
	struct entry *e, **b;

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	maybe_grow(c);
	e->dev = dev;
	e->inode = inode;
	e->stamp = stamp;
	e->bytes = sizeof(*e);
	b = bucket_of(c, dev, inode);
	e->hnext = *b;
	*b = e;
	lru_push_head(c, e);
	c->nr_entries++;
	c->nr_negative++;	/* until set_object() gives it an object */
	c->st.bytes += e->bytes;
	return e;
}

static void remove_entry(struct symcache *c, struct entry *e)
{
	struct entry **pp = bucket_of(c, e->dev, e->inode);

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(c, e);
	c->nr_entries--;
	c->st.bytes -= e->bytes;
	if (e->sh)
		unshare(c, e->sh);
	else
		c->nr_negative--;
	free(e);
}

struct symcache *symcache__new(const struct symcache_opts *opts)
{
	struct symcache *c;
	int err = 0;

	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -ENOMEM;
		goto cleanup;
	}
	c->max_bytes = opts && opts->max_bytes ? opts->max_bytes : DEFAULT_MAX_BYTES;
	c->max_objects = opts && opts->max_objects ? opts->max_objects : DEFAULT_MAX_OBJECTS;
	c->debuginfo = opts ? opts->debuginfo : NULL;
	c->nr_buckets = MIN_BUCKETS;
	c->buckets = calloc(c->nr_buckets, sizeof(*c->buckets));
	c->by_build_id = hashmap__new(sizeof(struct build_id_key), sizeof(struct shared *));
	if (!c->buckets || !c->by_build_id)
		err = -ENOMEM;

cleanup:
	if (err) {
		symcache__free(c);
		errno = -err;
		return NULL;
	}
	return c;
}

/* The object already held under the build id of the file at path, from a
 * file of the same owner. */
static struct shared *find_by_build_id(struct symcache *c, const char *path, uint32_t owner)
{
	struct build_id_key key = { .owner = owner };
	struct shared **sh;

	if (owner == FILE_OWNER_MANY || hashmap__count(c->by_build_id) == 0 ||
	    elfobj__read_build_id(path, key.hex, sizeof(key.hex)))
		return NULL;
	sh = hashmap__find(c->by_build_id, &key);
	return sh ? *sh : NULL;
}

static struct elfobj *open_object(struct symcache *c, const struct symcache_ref *ref,
				  const char *path)
{
	struct elfobj_debug dbg = { c->debuginfo, ref->path, ref->root };

	return elfobj__open(path, c->debuginfo ? &dbg : NULL);
}

/* Open the i-th path of ref if it is still the file ref names (see
 * open_same_file()): its descriptor, and in fdpath a name that reaches that
 * very file however its path changes. -errno when not. */
static int open_ref(const struct symcache_ref *ref, size_t i, char *fdpath, size_t len)
{
	struct file_id id = { ref->dev, ref->inode, ref->stamp };
	int fd;

	if (!ref->paths[i])
		return -ENOENT;
	fd = open_same_file(ref->paths[i], ref->verified ? NULL : &id);
	if (fd >= 0)
		snprintf(fdpath, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* Debuginfod was still fetching this object's debug file when it was
 * opened: open it again, now and then, to pick the file up. */
static void retry_pending(struct symcache *c, struct shared *sh, const struct symcache_ref *ref)
{
	struct elfobj *obj = NULL, **g;
	uint64_t now = now_ns();

	if (!elfobj__debug_pending(sh->obj) || now < sh->retry_ns)
		return;
	sh->retry_ns = now + RETRY_NS;
	for (size_t i = 0; i < ref->nr_paths && !obj; i++) {
		char fdpath[32];
		int fd = open_ref(ref, i, fdpath, sizeof(fdpath));

		if (fd < 0)
			continue;
		obj = open_object(c, ref, fdpath);
		close(fd);
	}
	if (!obj || elfobj__debug_pending(obj)) {
		elfobj__free(obj);
		return;
	}
	g = realloc(c->graveyard, (c->nr_graveyard + 1) * sizeof(*g));
	if (!g) {
		elfobj__free(obj);
		return;
	}
	c->graveyard = g;
	c->graveyard[c->nr_graveyard++] = sh->obj;
	c->st.bytes -= sh->bytes;
	sh->obj = obj;
	sh->bytes = sizeof(*sh) + elfobj__mem(obj);
	c->st.bytes += sh->bytes;
	c->st.debug_reopened++;
}

struct elfobj *symcache__find(struct symcache *c, const struct symcache_ref *ref)
{
	struct elfobj *obj = NULL;
	struct shared *sh = NULL;
	struct entry *e;
	uint64_t now;
	uint32_t owner = FILE_OWNER_MANY;
	int err = 0, open_err = 0;
	size_t i;

	if (!c || !ref || (!ref->paths && ref->nr_paths)) {
		err = -EINVAL;
		goto cleanup;
	}

	e = find(c, ref->dev, ref->inode, ref->stamp);
	if (e && e->sh) {
		c->st.hits++;
		lru_touch(c, e);
		retry_pending(c, e->sh, ref);
		obj = e->sh->obj;
		goto cleanup;
	}
	now = now_ns();
	if (e && now < e->expires_ns) {
		/* Remembered failure: answered from the cache, so a hit. */
		c->st.hits++;
		lru_touch(c, e);
		err = -e->err;
		goto cleanup;
	}

	c->st.misses++;
	for (i = 0; i < ref->nr_paths; i++) {
		char fdpath[32];
		int fd = open_ref(ref, i, fdpath, sizeof(fdpath));

		if (fd == -ENOENT && !ref->paths[i])
			continue;
		if (fd < 0) {
			errno = -fd;
		} else {
			owner = file_owner(fd);
			sh = find_by_build_id(c, fdpath, owner);
			if (!sh)
				obj = open_object(c, ref, fdpath);
			close(fd);
			if (sh) {
				c->st.shared++;
				break;
			}
			if (obj)
				break;
		}
		/* Report the most telling failure: "not ELF", "another file"
		 * or "permission denied" on one path says more than ENOENT
		 * on another. */
		if (!open_err || open_err == ENOENT)
			open_err = errno;
	}
	if (!obj && !sh && !open_err) {
		/* No path to try: nothing learned, nothing to remember. */
		err = -ENOENT;
		goto cleanup;
	}

	if (!e) {
		e = insert(c, ref->dev, ref->inode, ref->stamp);
		if (!e) {
			elfobj__free(obj);
			obj = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
	}
	lru_touch(c, e);
	if (obj) {
		sh = share(c, obj, owner);
		if (!sh) {
			elfobj__free(obj);
			obj = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
		sh->retry_ns = now + RETRY_NS;
	}
	if (sh) {
		set_shared(c, e, sh);
		obj = sh->obj;
		goto cleanup;
	}
	c->st.open_errors++;
	e->err = open_err;
	e->expires_ns = now + NEG_TTL_NS;
	err = -open_err;

cleanup:
	if (err)
		errno = -err;
	return obj;
}

struct elfobj *symcache__get(struct symcache *c, uint64_t dev, uint64_t inode,
			     const char *const *paths, size_t nr_paths)
{
	struct symcache_ref ref = { dev, inode, 0, paths, nr_paths, NULL, NULL };

	return symcache__find(c, &ref);
}

void symcache__trim(struct symcache *c)
{
	struct entry *e, *prev;
	uint64_t now;

	if (!c)
		return;
	for (size_t i = 0; i < c->nr_graveyard; i++)
		elfobj__free(c->graveyard[i]);
	free(c->graveyard);
	c->graveyard = NULL;
	c->nr_graveyard = 0;

	/* Objects grow as they are used (demangled names, DWARF lookups
	 * cached): charge what they hold now. */
	for (e = c->head; e; e = e->next) {
		size_t bytes;

		if (!e->sh)
			continue;
		bytes = sizeof(*e->sh) + elfobj__mem(e->sh->obj);
		c->st.bytes += bytes - e->sh->bytes;
		e->sh->bytes = bytes;
	}

	/* Expired failures go first, wherever they are in the list: they
	 * would be retried anyway. Then cap how many failures are kept, so
	 * a process mapping thousands of deleted files cannot grow us. */
	now = now_ns();
	for (e = c->tail; e; e = prev) {
		prev = e->prev;
		if (!e->sh && (now >= e->expires_ns || c->nr_negative > c->max_objects))
			remove_entry(c, e);
	}

	/* Then least recently used objects until within bounds. */
	while (c->tail && (c->st.objects > c->max_objects || c->st.bytes > c->max_bytes)) {
		e = c->tail;
		if (e->sh)
			c->st.evictions++;
		remove_entry(c, e);
	}
}

void symcache__stats(const struct symcache *c, struct symcache_stats *st)
{
	if (!st)
		return;
	if (!c) {
		*st = (struct symcache_stats){ 0 };
		return;
	}
	*st = c->st;
}

void symcache__free(struct symcache *c)
{
	struct entry *e, *next;

	if (!c)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		remove_entry(c, e);
	}
	for (size_t i = 0; i < c->nr_graveyard; i++)
		elfobj__free(c->graveyard[i]);
	free(c->graveyard);
	hashmap__free(c->by_build_id);
	free(c->buckets);
	free(c);
}
