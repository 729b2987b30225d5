#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "window.h"

struct window *window__new(size_t key_size, size_t nr_values)
{
	struct window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
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
	struct window_stack **slot, *copy;
	uint32_t len = st->len < CPROF_MAX_STACK_DEPTH ? st->len : CPROF_MAX_STACK_DEPTH;
	bool added;

	slot = hashmap__insert(w->stacks, &hash, &added);
	if (!slot)
		return -ENOMEM;
	if (!added)
		return 0;
	copy = malloc(sizeof(*copy) + len * sizeof(copy->ips[0]));
	if (!copy) {
		*slot = NULL;
		return -ENOMEM;
	}
	copy->len = len;
	memcpy(copy->ips, st->ips, len * sizeof(copy->ips[0]));
	*slot = copy;
	return 0;
}

const struct window_stack *window__stack(const struct window *w, uint64_t hash)
{
	struct window_stack **slot = hash ? hashmap__find(w->stacks, &hash) : NULL;

	return slot ? *slot : NULL;
}

size_t window__mem(const struct window *w)
{
	size_t n = hashmap__mem(w->samples) + hashmap__mem(w->stacks);
	struct window_stack **s;
	size_t it = 0;

	while (hashmap__next(w->stacks, &it, NULL, (void **)&s))
		if (*s)
			n += sizeof(**s) + (*s)->len * sizeof((*s)->ips[0]);
	return n;
}

void window__free(struct window *w)
{
	struct window_stack **s;
	size_t it = 0;

	if (!w)
		return;
	if (w->stacks)
		while (hashmap__next(w->stacks, &it, NULL, (void **)&s))
			free(*s);
	hashmap__free(w->stacks);
	hashmap__free(w->samples);
	free(w);
}
