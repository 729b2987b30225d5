// SPDX-License-Identifier: GPL-2.0
/*
 * Bounded cache of parsed ELF objects, keyed by the file's identity
 * (device, inode) as /proc/PID/maps reports it, so that libc is parsed once
 * for the whole host rather than once per process, and a file replaced on
 * disk (new inode) is never served from a stale entry.
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
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "symcache.h"

#define DEFAULT_MAX_BYTES	(64u << 20)
#define DEFAULT_MAX_OBJECTS	1024u
#define NEG_TTL_NS		(30ull * 1000000000ull)
#define MIN_BUCKETS		64u

struct entry {
	uint64_t dev, inode;
	struct elfobj *obj;		/* NULL: negative entry */
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

static struct entry *find(const struct symcache *c, uint64_t dev, uint64_t inode)
{
	struct entry *e = *bucket_of(c, dev, inode);

	for (; e; e = e->hnext)
		if (e->dev == dev && e->inode == inode)
			return e;
	return NULL;
}

static void set_object(struct symcache *c, struct entry *e, struct elfobj *obj)
{
	c->st.bytes -= e->bytes;
	if (!e->obj && obj) {
		c->nr_negative--;
		c->st.objects++;
	}
	e->obj = obj;
	e->bytes = sizeof(*e) + elfobj__mem(obj);
	c->st.bytes += e->bytes;
}

static struct entry *insert(struct symcache *c, uint64_t dev, uint64_t inode)
{
	struct entry *e, **b;

	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	maybe_grow(c);
	e->dev = dev;
	e->inode = inode;
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
	if (e->obj) {
		c->st.objects--;
		elfobj__free(e->obj);
	} else {
		c->nr_negative--;
	}
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
	c->nr_buckets = MIN_BUCKETS;
	c->buckets = calloc(c->nr_buckets, sizeof(*c->buckets));
	if (!c->buckets)
		err = -ENOMEM;

cleanup:
	if (err) {
		symcache__free(c);
		errno = -err;
		return NULL;
	}
	return c;
}

struct elfobj *symcache__get(struct symcache *c, uint64_t dev, uint64_t inode,
			     const char *const *paths, size_t nr_paths)
{
	struct elfobj *obj = NULL;
	struct entry *e;
	uint64_t now;
	int err = 0, open_err = 0;
	size_t i;

	if (!c || (!paths && nr_paths)) {
		err = -EINVAL;
		goto cleanup;
	}

	e = find(c, dev, inode);
	if (e && e->obj) {
		c->st.hits++;
		lru_touch(c, e);
		obj = e->obj;
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
	for (i = 0; i < nr_paths; i++) {
		if (!paths[i])
			continue;
		obj = elfobj__open(paths[i]);
		if (obj)
			break;
		/* Report the most telling failure: "not ELF" or "permission
		 * denied" on one path says more than ENOENT on another. */
		if (!open_err || open_err == ENOENT)
			open_err = errno;
	}
	if (!obj && !open_err) {
		/* No path to try: nothing learned, nothing to remember. */
		err = -ENOENT;
		goto cleanup;
	}

	if (!e) {
		e = insert(c, dev, inode);
		if (!e) {
			elfobj__free(obj);
			obj = NULL;
			err = -ENOMEM;
			goto cleanup;
		}
	}
	lru_touch(c, e);
	if (obj) {
		set_object(c, e, obj);
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

void symcache__trim(struct symcache *c)
{
	struct entry *e, *prev;
	uint64_t now;

	if (!c)
		return;

	/* Expired failures go first, wherever they are in the list: they
	 * would be retried anyway. Then cap how many failures are kept, so
	 * a process mapping thousands of deleted files cannot grow us. */
	now = now_ns();
	for (e = c->tail; e; e = prev) {
		prev = e->prev;
		if (!e->obj && (now >= e->expires_ns || c->nr_negative > c->max_objects))
			remove_entry(c, e);
	}

	/* Then least recently used objects until within bounds. */
	while (c->tail && (c->st.objects > c->max_objects || c->st.bytes > c->max_bytes)) {
		e = c->tail;
		if (e->obj)
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
		elfobj__free(e->obj);
		free(e);
	}
	free(c->buckets);
	free(c);
}
