/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The allocator source (bpf/heap.bpf.h): allocations sampled by bytes at
 * the allocator's entry points, for the heap and allocs views. */
#ifndef CPROF_HEAP_H
#define CPROF_HEAP_H

#include "cprof.h"

/* --heap-rate, as Go's runtime.MemProfileRate: on average one sample per
 * this many bytes allocated (a Poisson process over the bytes), an
 * allocation of s bytes taken with probability 1 - exp(-s / rate). 1: every
 * allocation. */
#define HEAP_DEFAULT_RATE	(512u * 1024)

/* The entry points, by what their arguments mean. The cookie of each probe
 * holds one of these in its low byte. */
enum heap_fn {
	HEAP_FN_MALLOC = 1,		/* malloc(size), valloc(size), operator new(size, ...) */
	HEAP_FN_CALLOC,			/* calloc(n, size) */
	HEAP_FN_REALLOC,		/* realloc(ptr, size) */
	HEAP_FN_REALLOCARRAY,		/* reallocarray(ptr, n, size) */
	HEAP_FN_FREE,			/* free(ptr), operator delete(ptr, ...) */
	HEAP_FN_POSIX_MEMALIGN,		/* posix_memalign(&ptr, align, size): 0 and *ptr */
	HEAP_FN_MEMALIGN,		/* memalign(align, size), aligned_alloc(align, size) */
	HEAP_FN_PVALLOC,		/* pvalloc(size): size rounded up to pages */
	HEAP_FN_MAX,
};

/* In a probe's cookie above the enum heap_fn: this realloc passes
 * realloc(NULL, n) on to malloc, whose own probe counts it. */
#define HEAP_COOKIE_NULL_TO_MALLOC	(1u << 8)

/* What the alloc maps aggregate: who allocated, where, how big. Sizes are
 * kept apart, as Go keeps them, so that each record is unsampled exactly. */
struct heap_key {
	struct sample_key k;		/* kstack 0: the trap's kernel frames say nothing */
	__u64 size;			/* bytes asked for */
	__u64 id;			/* hash of the above: what frees are counted by */
};
/* value: __u64 sampled allocations */

/* What the frees maps count: frees of sampled allocations, by the record
 * that allocated them and the generation (its sequence number) it was
 * counted in, so a window takes only frees of what it saw allocated. */
struct heap_free_key {
	__u64 id;
	__u32 alloc_gen;
	__u32 _pad;
};
/* value: __u64 frees */

/* The live table: sampled allocations not yet freed. */
struct heap_live_key {
	__u32 tgid;
	__u32 _pad;
	__u64 addr;
};

struct heap_live {
	__u64 id;
	__u32 gen;
	__u32 _pad;
};

/* A sampled call between its entry and its return, by thread. */
struct heap_pending {
	struct heap_key key;
	__u64 memptr;			/* posix_memalign's &ptr */
	__u32 gen;
	__u32 fn;
};

#ifndef __BPF__
_Static_assert(sizeof(struct heap_key) == 88, "heap_key layout");
_Static_assert(sizeof(struct heap_free_key) == 16, "heap_free_key layout");
_Static_assert(sizeof(struct heap_live_key) == 16, "heap_live_key layout");
#endif

#endif /* CPROF_HEAP_H */
