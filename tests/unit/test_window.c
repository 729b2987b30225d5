/* daemon/capture/window.c: windows, the stacks they share, and copies of
 * a window (the totals a cumulative view serves while it goes on). */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "window.h"

struct key {
	uint64_t a, b;
};

static struct stack_trace stack(uint64_t base, uint32_t len)
{
	struct stack_trace st = { .len = len };

	for (uint32_t i = 0; i < len; i++)
		st.ips[i] = base + i;
	return st;
}

static void test_copy(void)
{
	struct stackstore *store = stackstore__new();
	struct window *w = window__new(store, sizeof(struct key), 2), *c, *c2;
	struct key k1 = { 1, 2 }, k2 = { 3, 4 };
	uint64_t v1[2] = { 5, 500 }, v2[2] = { 7, 700 }, *got;
	struct stack_trace s1 = stack(0x1000, 3), s2 = stack(0x2000, 5);
	const struct window_stack *ws;

	w->kind = WINDOW_OFFCPU;
	w->filter = 42;
	w->start_ns = 100;
	window__add(w, &k1, v1);
	window__add(w, &k2, v2);
	window__add_stack(w, 11, &s1);
	window__add_stack(w, 22, &s2);
	c = window__copy(w);
	CHECK(c && c->kind == WINDOW_OFFCPU && c->filter == 42 && c->start_ns == 100 &&
	      c->key_size == sizeof(struct key) && c->nr_values == 2,
	      "copy: kind, filter, times and sizes", "not copied");
	got = c ? hashmap__find(c->samples, &k2) : NULL;
	CHECK(got && got[0] == 7 && got[1] == 700 && hashmap__count(c->samples) == 2,
	      "copy: every sample with its values", "missing or wrong");
	ws = c ? window__stack(c, 22) : NULL;
	CHECK(ws && ws->len == 5 && ws->ips[4] == 0x2004 && ws->refs == 2,
	      "copy: stacks shared with the window, one more reference each", "refs %u", ws ? ws->refs : 0);
	CHECK(stackstore__count(store) == 2, "copy: the store holds each stack once", "%zu",
	      stackstore__count(store));

	/* the window goes on; the copy does not see what comes after */
	window__add(w, &k1, v1);
	got = c ? hashmap__find(c->samples, &k1) : NULL;
	CHECK(got && got[0] == 5, "copy: later additions to the window are not in it", "%llu",
	      got ? (unsigned long long)got[0] : 0ULL);
	c2 = window__copy(w);
	got = c2 ? hashmap__find(c2->samples, &k1) : NULL;
	CHECK(got && got[0] == 10 && got[1] == 1000, "copy: a later copy has the totals so far", "%llu",
	      got ? (unsigned long long)got[0] : 0ULL);

	window__free(w);
	ws = c ? window__stack(c, 11) : NULL;
	CHECK(ws && ws->ips[0] == 0x1000 && stackstore__count(store) == 2,
	      "copy: its stacks outlive the window", "gone");
	window__free(c);
	window__free(c2);
	CHECK(stackstore__count(store) == 0 && stackstore__mem(store) < 4096,
	      "copy: freeing the last holder frees the stacks", "%zu left", stackstore__count(store));
	stackstore__free(store);
}

/* Go's delta of a cumulative profile: a later copy less an earlier one,
 * key by key; a value that went down (frees) comes out negative. */
static void test_subtract(void)
{
	struct stackstore *store = stackstore__new();
	struct window *w = window__new(store, sizeof(struct key), 2), *before, *after;
	struct key k1 = { 1, 2 }, k2 = { 3, 4 }, k3 = { 5, 6 };
	uint64_t v1[2] = { 10, 2 }, v2[2] = { 7, 0 }, more[2] = { 5, 9 }, *got;

	w->start_ns = 100;
	window__add(w, &k1, v1);
	window__add(w, &k2, v2);
	before = window__copy(w);
	before->end_ns = 200;
	window__add(w, &k1, more);
	window__add(w, &k3, more);
	after = window__copy(w);
	window__subtract(after, before);
	got = hashmap__find(after->samples, &k1);
	CHECK(got && got[0] == 5 && got[1] == 9, "subtract: what a key gained since", "%lld %lld",
	      got ? (long long)got[0] : -1LL, got ? (long long)got[1] : -1LL);
	got = hashmap__find(after->samples, &k2);
	CHECK(got && got[0] == 0 && got[1] == 0, "subtract: a key that did not change is zero", "%lld",
	      got ? (long long)got[0] : -1LL);
	got = hashmap__find(after->samples, &k3);
	CHECK(got && got[0] == 5 && got[1] == 9, "subtract: a key new since keeps its values", "%lld",
	      got ? (long long)got[0] : -1LL);
	CHECK(after->start_ns == 200, "subtract: the delta starts where the earlier copy ended", "%lld",
	      (long long)after->start_ns);
	/* what was larger before comes out negative, in two's complement */
	window__subtract(after, before);
	got = hashmap__find(after->samples, &k2);
	CHECK(got && (int64_t)got[0] == -7 && (int64_t)got[1] == 0,
	      "subtract: values that went down come out negative (two's complement)", "%lld",
	      got ? (long long)(int64_t)got[0] : 0LL);
	window__free(before);
	window__free(after);
	window__free(w);
	stackstore__free(store);
}

int main(void)
{
	test_copy();
	test_subtract();
	return CHECK_EXIT();
}
