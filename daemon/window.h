/* A profiling window: what the drains delivered between its open and close,
 * aggregated by the view's key, with the stacks those keys refer to. */
#ifndef CPROF_WINDOW_H
#define CPROF_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include "cprof.h"
#include "hashmap.h"

struct window {
	struct hashmap *samples;	/* view key -> uint64_t values[nr_values] */
	struct hashmap *stacks;		/* uint64_t hash -> struct window_stack * */
	size_t nr_values;
	uint64_t filter;		/* view-specific: the cpu view's sample period */
	int64_t start_ns, end_ns;	/* CLOCK_REALTIME */
	struct window *next;		/* in the view's list of open windows */
};

struct window_stack {
	uint32_t len;
	uint64_t ips[];
};

struct window *window__new(size_t key_size, size_t nr_values);
/* Add values to key's entry. 0 or -ENOMEM. */
int window__add(struct window *w, const void *key, const uint64_t *values);
/* Keep a copy of the stack stored under hash (first copy wins). 0 or -ENOMEM. */
int window__add_stack(struct window *w, uint64_t hash, const struct stack_trace *st);
/* The stack for hash, or NULL when it was lost (count it where it is used). */
const struct window_stack *window__stack(const struct window *w, uint64_t hash);
size_t window__mem(const struct window *w);
void window__free(struct window *w);

#endif /* CPROF_WINDOW_H */
