#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "window.h"

struct stackstore {
	pthread_mutex_t lock;
	struct hashmap *stacks;		/* uint64_t hash -> struct window_stack * */
	size_t bytes;			/* of the stacks themselves */
};

struct stackstore *stackstore__new(void)
{
	struct stackstore *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->stacks = hashmap__new(sizeof(uint64_t), sizeof(struct window_stack *));
	if (!s->stacks) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

size_t stackstore__mem(struct stackstore *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->bytes + hashmap__mem(s->stacks);
	pthread_mutex_unlock(&s->lock);
	return n;
}

size_t stackstore__count(struct stackstore *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = hashmap__count(s->stacks);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void stackstore__free(struct stackstore *s)
{
	struct window_stack **st;
	size_t it = 0;

	if (!s)
		return;
	while (hashmap__next(s->stacks, &it, NULL, (void **)&st))
		free(*st);
	hashmap__free(s->stacks);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* A reference to the store's copy of the stack, made when new. */
static struct window_stack *stackstore_get(struct stackstore *s, uint64_t hash,
					   const struct stack_trace *st)
{
	uint32_t len = st->len < CPROF_MAX_STACK_DEPTH ? st->len : CPROF_MAX_STACK_DEPTH;
	struct window_stack **slot, *copy = NULL;
	bool added;

	pthread_mutex_lock(&s->lock);
	slot = hashmap__insert(s->stacks, &hash, &added);
	if (!slot)
		goto out;
	if (!added) {
		copy = *slot;
		copy->refs++;
		goto out;
	}
	copy = malloc(sizeof(*copy) + len * sizeof(copy->ips[0]));
	if (!copy) {
		hashmap__delete(s->stacks, &hash);
		goto out;
	}
	copy->hash = hash;
	copy->refs = 1;
	copy->flags = st->flags;
	copy->len = len;
	memcpy(copy->ips, st->ips, len * sizeof(copy->ips[0]));
	*slot = copy;
	s->bytes += sizeof(*copy) + len * sizeof(copy->ips[0]);
out:
	pthread_mutex_unlock(&s->lock);
	return copy;
}

/* Caller holds the store's lock. */
static void stackstore_put_locked(struct stackstore *s, struct window_stack *st)
{
	if (--st->refs)
		return;
	hashmap__delete(s->stacks, &st->hash);
	s->bytes -= sizeof(*st) + st->len * sizeof(st->ips[0]);
	free(st);
}

struct window *window__new(struct stackstore *store, size_t key_size, size_t nr_values)
{
	struct window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->store = store;
	w->key_size = key_size;
	w->nr_values = nr_values;
	w->samples = hashmap__new(key_size, nr_values * sizeof(uint64_t));
	w->stacks = hashmap__new(sizeof(uint64_t), sizeof(struct window_stack *));
	if (!w->samples || !w->stacks) {
		window__free(w);
		errno = ENOMEM;
		return NULL;
	}
	return w;
}

int window__add(struct window *w, const void *key, const uint64_t *values)
{
	uint64_t *v = hashmap__insert(w->samples, key, NULL);

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < w->nr_values; i++)
		v[i] += values[i];
	return 0;
}

int window__add_stack(struct window *w, uint64_t hash, const struct stack_trace *st)
{
	struct window_stack **slot;
	bool added;

	slot = hashmap__insert(w->stacks, &hash, &added);
	if (!slot)
		return -ENOMEM;
	if (!added)
		return 0;
	*slot = stackstore_get(w->store, hash, st);
	if (!*slot) {
		hashmap__delete(w->stacks, &hash);
		return -ENOMEM;
	}
	return 0;
}

const struct window_stack *window__stack(const struct window *w, uint64_t hash)
{
	struct window_stack **slot = hash ? hashmap__find(w->stacks, &hash) : NULL;

	return slot ? *slot : NULL;
}

struct window *window__copy(const struct window *w)
{
	struct window *c = window__new(w->store, w->key_size, w->nr_values);
	struct window_stack **st;
	uint64_t *values;
	size_t it = 0;
	void *key;

	if (!c)
		return NULL;
	c->kind = w->kind;
	c->filter = w->filter;
	c->start_ns = w->start_ns;
	c->end_ns = w->end_ns;
	c->opened_mono_ns = w->opened_mono_ns;
	c->first_gen = w->first_gen;
	c->track = w->track;
	c->retired = w->retired;
	c->dropped = w->dropped;
	c->drain_failed = w->drain_failed;
	while (hashmap__next(w->samples, &it, &key, (void **)&values))
		if (window__add(c, key, values))
			goto nomem;
	it = 0;
	pthread_mutex_lock(&w->store->lock);
	while (hashmap__next(w->stacks, &it, NULL, (void **)&st)) {
		struct window_stack **slot = hashmap__insert(c->stacks, &(*st)->hash, NULL);

		if (!slot) {
			pthread_mutex_unlock(&w->store->lock);
			goto nomem;
		}
		*slot = *st;
		(*st)->refs++;
	}
	pthread_mutex_unlock(&w->store->lock);
	return c;
nomem:
	window__free(c);
	errno = ENOMEM;
	return NULL;
}

void window__subtract(struct window *w, const struct window *base)
{
	uint64_t *values, *was;
	size_t it = 0;
	void *key;

	while (hashmap__next(w->samples, &it, &key, (void **)&values)) {
		was = hashmap__find(base->samples, key);
		for (size_t i = 0; was && i < w->nr_values; i++)
			values[i] -= was[i];
	}
	w->start_ns = base->end_ns;
	w->dropped -= base->dropped < w->dropped ? base->dropped : w->dropped;
	w->drain_failed -= base->drain_failed < w->drain_failed ? base->drain_failed : w->drain_failed;
}

static bool keyed_by_instance(const struct window *w)
{
	return (w->kind == WINDOW_HEAP || w->kind == WINDOW_LOCK) &&
	       w->key_size >= sizeof(struct sample_key);
}

static struct window_instance instance_of(const void *key)
{
	const struct sample_key *k = key;

	return (struct window_instance){ .pid = k->pid, .exec_id = k->exec_id,
					 .start_ns = k->start_ns };
}

int window__instances(const struct window *w, struct hashmap *set)
{
	size_t it = 0;
	void *key;

	if (!keyed_by_instance(w))
		return 0;
	while (hashmap__next(w->samples, &it, &key, NULL)) {
		struct window_instance in = instance_of(key);

		if (!hashmap__insert(set, &in, NULL))
			return -ENOMEM;
	}
	return 0;
}

/* New maps for w holding the records keep() wants and the stacks they
 * name (w's references, moved on window_swap). */
struct window_maps {
	struct hashmap *samples, *stacks;
};

static int window_keep(const struct window *w, struct window_maps *out,
		       bool (*keep)(const void *key, const uint64_t *values, void *arg), void *arg)
{
	struct window_stack **st;
	uint64_t *values;
	size_t it = 0;
	void *key;

	out->samples = hashmap__new(w->key_size, w->nr_values * sizeof(uint64_t));
	out->stacks = hashmap__new(sizeof(uint64_t), sizeof(struct window_stack *));
	if (!out->samples || !out->stacks)
		goto nomem;
	while (hashmap__next(w->samples, &it, &key, (void **)&values)) {
		const struct sample_key *k = key;
		uint64_t *v;

		if (!keep(key, values, arg))
			continue;
		v = hashmap__insert(out->samples, key, NULL);
		if (!v)
			goto nomem;
		memcpy(v, values, w->nr_values * sizeof(uint64_t));
		for (int i = 0; i < 2; i++) {
			uint64_t h = i ? k->kstack : k->ustack;
			struct window_stack **slot;

			st = h ? hashmap__find(w->stacks, &h) : NULL;
			if (!st || hashmap__find(out->stacks, &h))
				continue;
			slot = hashmap__insert(out->stacks, &h, NULL);
			if (!slot)
				goto nomem;
			*slot = *st;
		}
	}
	return 0;
nomem:
	hashmap__free(out->samples);
	hashmap__free(out->stacks);
	return -ENOMEM;
}

/* Put the new maps in: the stacks not carried over are let go. Caller
 * holds the store's lock. */
static void window_swap_locked(struct window *w, struct window_maps *m)
{
	struct window_stack **st;
	size_t it = 0;

	while (hashmap__next(w->stacks, &it, NULL, (void **)&st))
		if (!hashmap__find(m->stacks, &(*st)->hash))
			stackstore_put_locked(w->store, *st);
	hashmap__free(w->samples);
	hashmap__free(w->stacks);
	w->samples = m->samples;
	w->stacks = m->stacks;
}

struct retire_ctx {
	const struct hashmap *gone;
	struct window *const *bases;
	size_t nr_bases, value_bytes;
	const struct window *w;		/* the bases' pass: w after its own */
};

static bool keep_in_track(const void *key, const uint64_t *values, void *arg)
{
	const struct retire_ctx *c = arg;
	struct window_instance in = instance_of(key);

	if (!hashmap__find(c->gone, &in))
		return true;
	for (size_t i = 0; i < c->nr_bases; i++) {
		const uint64_t *was = hashmap__find(c->bases[i]->samples, key);

		if (!was || memcmp(was, values, c->value_bytes))
			return true;	/* changed since that consumer's last look */
	}
	return false;
}

static bool keep_in_base(const void *key, const uint64_t *values, void *arg)
{
	const struct retire_ctx *c = arg;
	struct window_instance in = instance_of(key);

	(void)values;
	return !hashmap__find(c->gone, &in) || hashmap__find(c->w->samples, key);
}

long window__retire(struct window *w, struct window *const *bases, size_t nr_bases,
		    const struct hashmap *gone)
{
	struct retire_ctx c = { .gone = gone, .bases = bases, .nr_bases = nr_bases,
				.value_bytes = w->nr_values * sizeof(uint64_t), .w = w };
	struct window_maps m[1 + WINDOW_MAX_BASES];
	struct window after = { 0 };
	size_t built = 0;
	long n;

	if (!keyed_by_instance(w) || !hashmap__count(gone))
		return 0;
	if (nr_bases > WINDOW_MAX_BASES)
		return -EINVAL;
	for (size_t i = 0; i < nr_bases; i++)
		if (bases[i]->key_size != w->key_size || bases[i]->store != w->store)
			return -EINVAL;
	/* most passes find nothing to retire: look before building */
	{
		uint64_t *values;
		bool any = false;
		size_t it = 0;
		void *key;

		while (!any && hashmap__next(w->samples, &it, &key, (void **)&values))
			any = !keep_in_track(key, values, &c);
		if (!any)
			return 0;
	}
	if (window_keep(w, &m[0], keep_in_track, &c))
		return -ENOMEM;
	built = 1;
	n = (long)(hashmap__count(w->samples) - hashmap__count(m[0].samples));
	if (!n)
		goto drop;
	/* the bases' records are tested against w as it will be */
	after.samples = m[0].samples;
	c.w = &after;
	for (; built <= nr_bases; built++)
		if (window_keep(bases[built - 1], &m[built], keep_in_base, &c)) {
			n = -ENOMEM;
			goto drop;
		}
	pthread_mutex_lock(&w->store->lock);
	window_swap_locked(w, &m[0]);
	for (size_t i = 0; i < nr_bases; i++)
		window_swap_locked(bases[i], &m[1 + i]);
	pthread_mutex_unlock(&w->store->lock);
	w->retired += (uint64_t)n;
	return n;
drop:
	for (size_t i = 0; i < built; i++) {
		hashmap__free(m[i].samples);
		hashmap__free(m[i].stacks);
	}
	return n;
}

size_t window__mem(const struct window *w)
{
	return hashmap__mem(w->samples) + hashmap__mem(w->stacks);
}

void window__free(struct window *w)
{
	struct window_stack **s;
	size_t it = 0;

	if (!w)
		return;
	if (w->stacks) {
		pthread_mutex_lock(&w->store->lock);
		while (hashmap__next(w->stacks, &it, NULL, (void **)&s))
			stackstore_put_locked(w->store, *s);
		pthread_mutex_unlock(&w->store->lock);
	}
	hashmap__free(w->stacks);
	hashmap__free(w->samples);
	free(w);
}
