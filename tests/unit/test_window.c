/* daemon/capture/window.c: windows, the stacks they share, and copies of
 * a window (the totals a cumulative view serves while it goes on). */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "heap.h"
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

/* A heap record of instance pid (start 100 + pid, exec 1), stack ustack. */
static struct heap_key hkey(uint32_t pid, uint32_t tid, uint64_t ustack)
{
	struct heap_key k;

	memset(&k, 0, sizeof(k));
	k.k.pid = pid;
	k.k.tid = tid;
	k.k.start_ns = 100 + pid;
	k.k.exec_id = 1;
	k.k.ustack = ustack;
	k.size = 64;
	return k;
}

static void gone_add(struct hashmap *gone, uint32_t pid)
{
	struct window_instance in = { .pid = pid, .exec_id = 1, .start_ns = 100 + pid };

	hashmap__insert(gone, &in, NULL);
}

static void test_retire(void)
{
	struct stackstore *store = stackstore__new();
	struct window *w = window__new(store, sizeof(struct heap_key), 2), *base, *base2;
	struct heap_key live = hkey(10, 10, 0xa), dead = hkey(20, 21, 0xb), dead2 = hkey(20, 22, 0xa),
			late = hkey(30, 30, 0xc), other = hkey(20, 23, 0xd);
	struct stack_trace sa = stack(0x1000, 3), sb = stack(0x2000, 4), sc = stack(0x3000, 2),
			   sd = stack(0x4000, 2);
	struct hashmap *gone = hashmap__new(sizeof(struct window_instance), 1), *set;
	uint64_t v[2] = { 3, 1 }, *got;
	struct window *bases[2];
	struct window_instance *in;
	size_t it = 0, nr_set = 0;
	long n;

	w->kind = WINDOW_HEAP;
	window__add(w, &live, v);
	window__add(w, &dead, v);
	window__add(w, &dead2, v);
	window__add(w, &late, v);
	window__add_stack(w, 0xa, &sa);
	window__add_stack(w, 0xb, &sb);
	window__add_stack(w, 0xc, &sc);
	set = hashmap__new(sizeof(struct window_instance), 1);
	CHECK(window__instances(w, set) == 0 && hashmap__count(set) == 3,
	      "retire: the instances a window's records name, each once", "%zu", hashmap__count(set));
	while (hashmap__next(set, &it, (void **)&in, NULL))
		nr_set += in->pid == 10 || in->pid == 20 || in->pid == 30;
	CHECK(nr_set == 3, "retire: ...pids 10, 20 and 30", "%zu", nr_set);
	hashmap__free(set);

	/* the consumer's last look; then pid 20 gets one more record, and
	 * pid 30's changes: the consumer has seen neither */
	base = window__copy(w);
	base2 = window__copy(w);
	window__add(w, &other, v);
	window__add_stack(w, 0xd, &sd);
	window__add(w, &late, v);
	gone_add(gone, 20);
	gone_add(gone, 30);
	bases[0] = base;
	bases[1] = base2;
	set = hashmap__new(sizeof(struct window_instance), 1);
	CHECK(window__retire(w, bases, 0, set) == 0, "retire: nothing gone, nothing retired", "%s", "-");
	hashmap__free(set);
	n = window__retire(w, bases, 2, gone);
	CHECK(n == 2 && w->retired == 2, "retire: the gone instance's records every base saw, unchanged",
	      "%ld retired", n);
	CHECK(hashmap__find(w->samples, &live) && !hashmap__find(w->samples, &dead) &&
	      !hashmap__find(w->samples, &dead2),
	      "retire: ...leave; a live process's stay", "%s", "-");
	CHECK(hashmap__find(w->samples, &other) && hashmap__find(w->samples, &late),
	      "retire: records a base has not seen as they are stay (new, changed)", "%s", "-");
	got = hashmap__find(w->samples, &late);
	CHECK(got && got[0] == 6, "retire: ...with their values", "%llu",
	      got ? (unsigned long long)got[0] : 0ULL);
	CHECK(!hashmap__find(base->samples, &dead) && !hashmap__find(base2->samples, &dead2) &&
	      hashmap__find(base->samples, &late) && hashmap__find(base->samples, &live),
	      "retire: the bases lose what the track lost, keep the rest", "%s", "-");
	CHECK(window__stack(w, 0xa) && !window__stack(w, 0xb) && window__stack(w, 0xc) &&
	      window__stack(w, 0xd),
	      "retire: stacks no record names are let go; shared ones stay", "%s", "-");
	CHECK(!window__stack(base, 0xb) && window__stack(base, 0xa),
	      "retire: ...in the bases too", "%s", "-");
	/* the next delta is unchanged by the retiring: a base and a later
	 * copy still differ by exactly what changed */
	{
		struct window *after = window__copy(w);

		window__subtract(after, base);
		got = hashmap__find(after->samples, &late);
		CHECK(got && got[0] == 3, "retire: the next delta has the late change", "%llu",
		      got ? (unsigned long long)got[0] : 0ULL);
		got = hashmap__find(after->samples, &live);
		CHECK(got && got[0] == 0, "retire: ...and nothing for the live record", "%s", "-");
		CHECK(!hashmap__find(after->samples, &dead), "retire: ...nor the retired ones", "%s", "-");
		window__free(after);
	}
	/* the stacks' store holds each stack while one window names it */
	window__free(base);
	window__free(base2);
	CHECK(stackstore__count(store) == 3, "retire: the store lets go of the retired stack",
	      "%zu held", stackstore__count(store));
	w->kind = WINDOW_CPU;
	CHECK(window__retire(w, NULL, 0, gone) == 0, "retire: a CPU window is left alone", "%s", "-");
	hashmap__free(gone);
	window__free(w);
	stackstore__free(store);
}

int main(void)
{
	test_copy();
	test_subtract();
	test_retire();
	return CHECK_EXIT();
}
