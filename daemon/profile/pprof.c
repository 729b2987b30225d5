/* Building, writing and reading pprof profiles.
 *
 * The builder keeps compact private tables (interned strings, mappings,
 * functions, locations, samples), each with a growable open-addressing index
 * so that the daemon can feed it millions of stack samples and get them merged
 * in place. The protobuf-c message tree is only assembled for the duration of
 * pprof_builder__write(): it is several times the size of our tables and
 * nobody needs it before then.
 *
 * The reader side (pprof__top, pprof__text) works on whatever protobuf-c
 * decoded, which may come from anywhere: every id and string index is checked
 * and a bad one is shown as unknown instead of being followed. */
#include <errno.h>
#include <math.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <zlib.h>

#include "pprof.h"

/* A decompressed profile larger than this is refused: a few kilobytes of
 * gzip can claim gigabytes, and nothing we produce comes close. */
#define PPROF_MAX_RAW (1ULL << 30)

/* ---------------------------------------------------------------------------
 * Hashing and a growable index of hashes to array positions
 */

#define HASH_SEED 0xcbf29ce484222325ULL

/* FNV-1a: strings are hashed once when interned, so speed matters little. */
static uint64_t hash_buf(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t hash_u64(uint64_t h, uint64_t v)
{
	return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

/* The index probes linearly from the low bits, so spread every input bit
 * there first (splitmix64's finalizer); ids and addresses are otherwise far
 * too regular. */
static uint64_t hash_final(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

struct itab_slot {
	uint64_t hash;
	size_t idx1;		/* array position + 1; 0: empty slot */
};

/* Maps a hash to positions in some array owned by the caller; equality of
 * the actual items is the caller's business, through an eq callback. */
struct itab {
	struct itab_slot *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t nr;
};

typedef bool (*itab_eq_fn)(const void *ctx, size_t idx, const void *key);

/* Position + 1 of the item equal to key, or 0. */
static size_t itab_find(const struct itab *t, uint64_t hash, itab_eq_fn eq, const void *ctx,
			const void *key)
{
	size_t mask, i;

	if (!t->cap)
		return 0;
	mask = t->cap - 1;
	for (i = hash_final(hash) & mask; t->slots[i].idx1; i = (i + 1) & mask) {
		if (t->slots[i].hash == hash && eq(ctx, t->slots[i].idx1 - 1, key))
			return t->slots[i].idx1;
	}
	return 0;
}

static void itab_put(struct itab_slot *slots, size_t cap, uint64_t hash, size_t idx1)
{
	size_t i, mask = cap - 1;

	for (i = hash_final(hash) & mask; slots[i].idx1; i = (i + 1) & mask)
		;
	slots[i].hash = hash;
	slots[i].idx1 = idx1;
}

/* Record that the item at idx has this hash; the caller knows it is new.
 * Kept at most half full so that probes stay short. 0 or -ENOMEM. */
static int itab_add(struct itab *t, uint64_t hash, size_t idx)
{
	if ((t->nr + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64, i;
		struct itab_slot *slots;

		if (cap > SIZE_MAX / sizeof(*slots))
			return -ENOMEM;
		slots = calloc(cap, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (i = 0; i < t->cap; i++) {
			if (t->slots[i].idx1)
				itab_put(slots, cap, t->slots[i].hash, t->slots[i].idx1);
		}
		free(t->slots);
		t->slots = slots;
		t->cap = cap;
	}
	itab_put(t->slots, t->cap, hash, idx + 1);
	t->nr++;
	return 0;
}

static void itab_free(struct itab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->nr = 0;
}

/* Make room for one more element in a growable array. 0 or -ENOMEM. */
static int array_reserve(void **arr, size_t *cap, size_t nr, size_t size)
{
	size_t new_cap;
	void *p;

	if (nr < *cap)
		return 0;
	new_cap = *cap ? *cap * 2 : 16;
	if (new_cap < *cap || new_cap > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, new_cap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = new_cap;
	return 0;
}

#define RESERVE(arr, cap, nr) array_reserve((void **)&(arr), &(cap), (nr), sizeof(*(arr)))

/* calloc that also succeeds for zero elements, so that "nothing" and "out of
 * memory" are not confused. */
static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* ---------------------------------------------------------------------------
 * Builder
 */

struct bmapping {
	uint64_t start, limit, offset;
	int64_t file, build_id;			/* string indexes */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct bfunction {
	int64_t name, system_name, filename;	/* string indexes */
};

struct bline {
	uint64_t function_id;
	int64_t line;
};

struct blocation {
	uint64_t mapping_id, address;
	struct bline *lines;
	size_t nr_lines;
};

/* All four fields are int64_t: no padding, so labels compare with memcmp. */
struct blabel {
	int64_t key, str, num, num_unit;
};

/* locs, values and labels live in one allocation, mem. */
struct bsample {
	void *mem;
	uint64_t *locs;
	int64_t *values;
	struct blabel *labels;
	size_t nr_locs, nr_labels;
};

struct bsample_key {
	const uint64_t *locs;
	const struct blabel *labels;
	size_t nr_locs, nr_labels;
};

struct pprof_builder {
	char **strs;
	size_t nr_strs, cap_strs;
	struct itab str_idx;

	struct bmapping *maps;
	size_t nr_maps, cap_maps;
	struct itab map_idx;

	struct bfunction *funcs;
	size_t nr_funcs, cap_funcs;
	struct itab func_idx;

	struct blocation *locs;
	size_t nr_locs, cap_locs;
	struct itab loc_idx;

	struct bsample *samples;
	size_t nr_samples, cap_samples;
	struct itab sample_idx;

	/* Labels of the sample being added, canonically sorted; kept to avoid
	 * an allocation for every sample that merges into an existing one. */
	struct blabel *scratch;
	size_t cap_scratch;

	int64_t *types;				/* type, unit pairs */
	size_t nr_types;
	int64_t default_type;
	int64_t period_type[2];
	bool has_period_type;
	int64_t period, time_nanos, duration_nanos;
	int64_t *comments;
	size_t nr_comments;

	/* The strings, the locations' lines and the samples: carved from
	 * blocks freed together, not allocated one by one (a profile of a
	 * busy host has hundreds of thousands). */
	struct ablock *arena;
	/* The lines of the location being looked up, before it is known new. */
	struct bline *lscratch;
	size_t cap_lscratch;
};

struct ablock {
	struct ablock *next;
	size_t used, cap;
	_Alignas(8) unsigned char data[];
};

#define ABLOCK_BYTES (64 * 1024)

/* n bytes from the builder's arena, 8-byte aligned; NULL on ENOMEM. */
static void *bmem(struct pprof_builder *b, size_t n)
{
	struct ablock *a = b->arena;
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (!n)
		n = 8;
	if (!a || a->cap - a->used < n) {
		size_t cap = n > ABLOCK_BYTES - sizeof(*a) ? n : ABLOCK_BYTES - sizeof(*a);

		if (n > SIZE_MAX / 2)
			return NULL;
		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->used = 0;
		a->cap = cap;
		a->next = b->arena;
		b->arena = a;
	}
	p = a->data + a->used;
	a->used += n;
	return p;
}

static bool str_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;

	return !strcmp(b->strs[idx], key);
}

/* Index of s in the string table, added when new; NULL is "" (index 0).
 * -1 on ENOMEM. */
static int64_t intern(struct pprof_builder *b, const char *s)
{
	uint64_t h;
	size_t found;
	char *copy;

	if (!s || !*s)
		return 0;
	h = hash_buf(HASH_SEED, s, strlen(s));
	found = itab_find(&b->str_idx, h, str_eq, b, s);
	if (found)
		return found - 1;
	if (RESERVE(b->strs, b->cap_strs, b->nr_strs))
		return -1;
	copy = bmem(b, strlen(s) + 1);
	if (!copy)
		return -1;
	strcpy(copy, s);
	if (itab_add(&b->str_idx, h, b->nr_strs))
		return -1;
	b->strs[b->nr_strs++] = copy;
	return b->nr_strs - 1;
}

struct pprof_builder *pprof_builder__new(const struct pprof_opts *opts)
{
	struct pprof_builder *b = NULL;
	int err = -EINVAL;
	size_t i;

	if (!opts || (opts->nr_sample_types && !opts->sample_types) ||
	    (opts->nr_comments && !opts->comments))
		goto cleanup;
	for (i = 0; i < opts->nr_comments; i++) {
		if (!opts->comments[i])
			goto cleanup;
	}
	/* A default naming no sample type is a caller's bug that pprof would
	 * silently paper over by showing the last type. */
	if (opts->default_sample_type) {
		for (i = 0; i < opts->nr_sample_types; i++) {
			const char *t = opts->sample_types[i].type;

			if (t && !strcmp(t, opts->default_sample_type))
				break;
		}
		if (i == opts->nr_sample_types)
			goto cleanup;
	}

	err = -ENOMEM;
	b = calloc(1, sizeof(*b));
	if (!b)
		goto cleanup;
	/* The string table starts with "", which pprof requires. */
	b->strs = calloc(16, sizeof(*b->strs));
	if (!b->strs)
		goto cleanup;
	b->cap_strs = 16;
	b->strs[0] = bmem(b, 1);
	if (!b->strs[0])
		goto cleanup;
	b->strs[0][0] = '\0';
	b->nr_strs = 1;
	if (itab_add(&b->str_idx, hash_buf(HASH_SEED, "", 0), 0))
		goto cleanup;

	b->types = zalloc(opts->nr_sample_types, 2 * sizeof(*b->types));
	b->comments = zalloc(opts->nr_comments, sizeof(*b->comments));
	if (!b->types || !b->comments)
		goto cleanup;
	for (i = 0; i < opts->nr_sample_types; i++) {
		b->types[2 * i] = intern(b, opts->sample_types[i].type);
		b->types[2 * i + 1] = intern(b, opts->sample_types[i].unit);
		if (b->types[2 * i] < 0 || b->types[2 * i + 1] < 0)
			goto cleanup;
		b->nr_types++;
	}
	for (i = 0; i < opts->nr_comments; i++) {
		b->comments[i] = intern(b, opts->comments[i]);
		if (b->comments[i] < 0)
			goto cleanup;
		b->nr_comments++;
	}
	b->default_type = intern(b, opts->default_sample_type);
	b->period_type[0] = intern(b, opts->period_type.type);
	b->period_type[1] = intern(b, opts->period_type.unit);
	if (b->default_type < 0 || b->period_type[0] < 0 || b->period_type[1] < 0)
		goto cleanup;
	b->has_period_type = opts->period_type.type || opts->period_type.unit;
	b->period = opts->period;
	b->time_nanos = opts->time_nanos;
	b->duration_nanos = opts->duration_nanos;
	return b;

cleanup:
	pprof_builder__free(b);
	errno = -err;
	return NULL;
}

static bool mapping_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct bmapping *a = &b->maps[idx], *k = key;

	return a->start == k->start && a->limit == k->limit && a->offset == k->offset &&
	       a->file == k->file && a->build_id == k->build_id;
}

uint64_t pprof_builder__mapping(struct pprof_builder *b, const struct pprof_mapping *m)
{
	struct bmapping k = {};
	uint64_t h, id = 0;
	int err = -EINVAL;
	size_t found;

	if (!b || !m)
		goto cleanup;
	err = -ENOMEM;
	k.start = m->start;
	k.limit = m->limit;
	k.offset = m->offset;
	k.file = intern(b, m->file);
	k.build_id = intern(b, m->build_id);
	if (k.file < 0 || k.build_id < 0)
		goto cleanup;
	/* The flags are not part of the identity: the first caller's win. */
	k.has_functions = m->has_functions;
	k.has_filenames = m->has_filenames;
	k.has_line_numbers = m->has_line_numbers;
	k.has_inline_frames = m->has_inline_frames;

	h = hash_u64(hash_u64(hash_u64(hash_u64(hash_u64(HASH_SEED, k.start), k.limit),
					k.offset), k.file), k.build_id);
	found = itab_find(&b->map_idx, h, mapping_eq, b, &k);
	if (found) {
		id = found;
		goto cleanup;
	}
	if (RESERVE(b->maps, b->cap_maps, b->nr_maps) || itab_add(&b->map_idx, h, b->nr_maps))
		goto cleanup;
	b->maps[b->nr_maps++] = k;
	id = b->nr_maps;

cleanup:
	if (!id)
		errno = -err;
	return id;
}

static bool function_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;

	return !memcmp(&b->funcs[idx], key, sizeof(struct bfunction));
}

/* Id of the function of a line, added when new; 0 on ENOMEM. */
static uint64_t builder_function(struct pprof_builder *b, const struct pprof_line *l)
{
	struct bfunction k;
	size_t found;
	uint64_t h;

	k.name = intern(b, l->function);
	k.system_name = intern(b, l->system_name ? l->system_name : l->function);
	k.filename = intern(b, l->filename);
	if (k.name < 0 || k.system_name < 0 || k.filename < 0)
		return 0;
	h = hash_u64(hash_u64(hash_u64(HASH_SEED, k.name), k.system_name), k.filename);
	found = itab_find(&b->func_idx, h, function_eq, b, &k);
	if (found)
		return found;
	if (RESERVE(b->funcs, b->cap_funcs, b->nr_funcs) ||
	    itab_add(&b->func_idx, h, b->nr_funcs))
		return 0;
	b->funcs[b->nr_funcs++] = k;
	return b->nr_funcs;
}

struct location_key {
	uint64_t mapping_id, address;
};

static bool location_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct location_key *k = key;

	return b->locs[idx].mapping_id == k->mapping_id && b->locs[idx].address == k->address;
}

static uint64_t location_hash(uint64_t mapping_id, uint64_t address)
{
	return hash_u64(hash_u64(HASH_SEED, mapping_id), address);
}

uint64_t pprof_builder__find_location(struct pprof_builder *b, uint64_t mapping_id,
				      uint64_t address)
{
	struct location_key k = { mapping_id, address };

	if (!b)
		return 0;
	return itab_find(&b->loc_idx, location_hash(mapping_id, address), location_eq, b, &k);
}

/* The lines' functions, by id, in the builder's scratch (*out; NULL for
 * none: valid until the next call), after checking what a location is
 * given. 0, -EINVAL or -ENOMEM. */
static int builder_lines(struct pprof_builder *b, uint64_t mapping_id,
			 const struct pprof_line *lines, size_t nr_lines, struct bline **out)
{
	struct bline *bl;
	size_t i;

	*out = NULL;
	if (!b || (nr_lines && !lines) || mapping_id > b->nr_maps)
		return -EINVAL;
	for (i = 0; i < nr_lines; i++) {
		if (!lines[i].function)
			return -EINVAL;
	}
	if (!nr_lines)
		return 0;
	if (nr_lines > b->cap_lscratch) {
		if (nr_lines > SIZE_MAX / sizeof(*bl))
			return -ENOMEM;
		bl = realloc(b->lscratch, nr_lines * sizeof(*bl));
		if (!bl)
			return -ENOMEM;
		b->lscratch = bl;
		b->cap_lscratch = nr_lines;
	}
	bl = b->lscratch;
	for (i = 0; i < nr_lines; i++) {
		bl[i].function_id = builder_function(b, &lines[i]);
		if (!bl[i].function_id)
			return -ENOMEM;
		bl[i].line = lines[i].line;
	}
	*out = bl;
	return 0;
}

/* A new location with hash h and a copy of lines bl; its id, or 0
 * (ENOMEM). */
static uint64_t builder_add_location(struct pprof_builder *b, uint64_t h, uint64_t mapping_id,
				     uint64_t address, const struct bline *bl, size_t nr_lines)
{
	struct bline *copy = NULL;

	if (nr_lines) {
		copy = bmem(b, nr_lines * sizeof(*copy));
		if (!copy)
			return 0;
		memcpy(copy, bl, nr_lines * sizeof(*copy));
	}
	if (RESERVE(b->locs, b->cap_locs, b->nr_locs) || itab_add(&b->loc_idx, h, b->nr_locs))
		return 0;
	b->locs[b->nr_locs].mapping_id = mapping_id;
	b->locs[b->nr_locs].address = address;
	b->locs[b->nr_locs].lines = copy;
	b->locs[b->nr_locs].nr_lines = nr_lines;
	return ++b->nr_locs;
}

uint64_t pprof_builder__location(struct pprof_builder *b, uint64_t mapping_id, uint64_t address,
				 const struct pprof_line *lines, size_t nr_lines)
{
	struct location_key k = { mapping_id, address };
	struct bline *bl = NULL;
	uint64_t h, id = 0;
	int err = -EINVAL;

	if (!b || mapping_id > b->nr_maps)
		goto cleanup;
	/* An address is symbolized once: what was given first stays. */
	h = location_hash(mapping_id, address);
	id = itab_find(&b->loc_idx, h, location_eq, b, &k);
	if (id)
		goto cleanup;
	err = builder_lines(b, mapping_id, lines, nr_lines, &bl);
	if (!err) {
		id = builder_add_location(b, h, mapping_id, address, bl, nr_lines);
		err = -ENOMEM;
	}

cleanup:
	if (!id)
		errno = -err;
	return id;
}

struct location_lines_key {
	uint64_t mapping_id, address;
	const struct bline *lines;
	size_t nr_lines;
};

static bool location_lines_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct blocation *l = &b->locs[idx];
	const struct location_lines_key *k = key;
	size_t i;

	if (l->mapping_id != k->mapping_id || l->address != k->address ||
	    l->nr_lines != k->nr_lines)
		return false;
	/* Compared field by field: struct bline may have padding one day. */
	for (i = 0; i < k->nr_lines; i++) {
		if (l->lines[i].function_id != k->lines[i].function_id ||
		    l->lines[i].line != k->lines[i].line)
			return false;
	}
	return true;
}

uint64_t pprof_builder__location_lines(struct pprof_builder *b, uint64_t mapping_id,
				       uint64_t address, const struct pprof_line *lines,
				       size_t nr_lines)
{
	struct location_lines_key k = { mapping_id, address };
	struct bline *bl = NULL;
	uint64_t h, id = 0;
	int err;

	/* The functions first: the lines are compared by function id. Those
	 * of an existing location exist already, so nothing is left unused. */
	err = builder_lines(b, mapping_id, lines, nr_lines, &bl);
	if (err)
		goto cleanup;
	/* Locations at one address share the hash, so every one of them is on
	 * the probe path and the one with these lines is found. */
	h = location_hash(mapping_id, address);
	k.lines = bl;
	k.nr_lines = nr_lines;
	id = itab_find(&b->loc_idx, h, location_lines_eq, b, &k);
	if (!id) {
		id = builder_add_location(b, h, mapping_id, address, bl, nr_lines);
		err = -ENOMEM;
	}

cleanup:
	if (!id)
		errno = -err;
	return id;
}

static int label_cmp(const void *a, const void *b)
{
	const struct blabel *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->str != y->str)
		return x->str < y->str ? -1 : 1;
	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	if (x->num_unit != y->num_unit)
		return x->num_unit < y->num_unit ? -1 : 1;
	return 0;
}

static bool sample_eq(const void *ctx, size_t idx, const void *key)
{
	const struct pprof_builder *b = ctx;
	const struct bsample *s = &b->samples[idx];
	const struct bsample_key *k = key;

	if (s->nr_locs != k->nr_locs || s->nr_labels != k->nr_labels)
		return false;
	/* The caller may pass NULL for no locations: never memcmp it. */
	return (!k->nr_locs || !memcmp(s->locs, k->locs, k->nr_locs * sizeof(*k->locs))) &&
	       (!k->nr_labels || !memcmp(s->labels, k->labels, k->nr_labels * sizeof(*k->labels)));
}

int pprof_builder__sample(struct pprof_builder *b, const uint64_t *locations, size_t nr_locations,
			  const int64_t *values, const struct pprof_label *labels, size_t nr_labels)
{
	struct bsample_key k = {};
	struct bsample s = {};
	size_t found, i, size;
	int err = -EINVAL;
	uint64_t h;

	if (!b || (nr_locations && !locations) || (b->nr_types && !values) ||
	    (nr_labels && !labels))
		goto cleanup;
	for (i = 0; i < nr_locations; i++) {
		if (!locations[i] || locations[i] > b->nr_locs)
			goto cleanup;
	}
	for (i = 0; i < nr_labels; i++) {
		if (!labels[i].key)
			goto cleanup;
	}

	err = -ENOMEM;
	if (nr_labels > b->cap_scratch) {
		struct blabel *p;

		if (nr_labels > SIZE_MAX / sizeof(*p))
			goto cleanup;
		p = realloc(b->scratch, nr_labels * sizeof(*p));
		if (!p)
			goto cleanup;
		b->scratch = p;
		b->cap_scratch = nr_labels;
	}
	for (i = 0; i < nr_labels; i++) {
		struct blabel *l = &b->scratch[i];

		l->key = intern(b, labels[i].key);
		l->str = intern(b, labels[i].str);
		l->num = labels[i].str ? 0 : labels[i].num;
		l->num_unit = labels[i].str ? 0 : intern(b, labels[i].num_unit);
		if (l->key < 0 || l->str < 0 || l->num_unit < 0)
			goto cleanup;
	}
	/* Labels are a set: the same ones given in another order must merge. */
	if (nr_labels > 1)
		qsort(b->scratch, nr_labels, sizeof(*b->scratch), label_cmp);

	k.locs = locations;
	k.nr_locs = nr_locations;
	k.labels = b->scratch;
	k.nr_labels = nr_labels;
	h = hash_u64(HASH_SEED, nr_locations);
	for (i = 0; i < nr_locations; i++)
		h = hash_u64(h, locations[i]);
	h = hash_buf(h, b->scratch, nr_labels * sizeof(*b->scratch));
	found = itab_find(&b->sample_idx, h, sample_eq, b, &k);
	if (found) {
		struct bsample *old = &b->samples[found - 1];

		/* Through unsigned arithmetic: overflow wraps instead of
		 * being undefined. */
		for (i = 0; i < b->nr_types; i++)
			old->values[i] = (int64_t)((uint64_t)old->values[i] + (uint64_t)values[i]);
		err = 0;
		goto cleanup;
	}

	/* Every part is 8-byte aligned, so one block holds them all. */
	if (nr_locations > SIZE_MAX / 64 || nr_labels > SIZE_MAX / 64)
		goto cleanup;
	size = nr_locations * sizeof(*s.locs) + b->nr_types * sizeof(*s.values) +
	       nr_labels * sizeof(*s.labels);
	s.mem = bmem(b, size);
	if (!s.mem)
		goto cleanup;
	s.locs = s.mem;
	s.values = (int64_t *)(s.locs + nr_locations);
	s.labels = (struct blabel *)(s.values + b->nr_types);
	s.nr_locs = nr_locations;
	s.nr_labels = nr_labels;
	if (nr_locations)
		memcpy(s.locs, locations, nr_locations * sizeof(*s.locs));
	if (b->nr_types)
		memcpy(s.values, values, b->nr_types * sizeof(*s.values));
	if (nr_labels)
		memcpy(s.labels, b->scratch, nr_labels * sizeof(*s.labels));
	if (RESERVE(b->samples, b->cap_samples, b->nr_samples) ||
	    itab_add(&b->sample_idx, h, b->nr_samples))
		goto cleanup;
	b->samples[b->nr_samples++] = s;
	err = 0;

cleanup:
	return err;
}

/* gzip in, in chunks small enough for zlib's 32-bit counters. */
static int gzip_buf(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	size_t remaining = len, cap, used = 0;
	z_stream zs = {};
	uint8_t *buf = NULL;
	bool init = false;
	int err = -ENOMEM, ret;

	/* the fastest level, as Go's runtime/pprof writes its profiles */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		goto cleanup;
	init = true;
	/* Usually enough for a single pass. */
	cap = deflateBound(&zs, len > UINT_MAX ? UINT_MAX : len) + 64;
	buf = malloc(cap);
	if (!buf)
		goto cleanup;
	zs.next_in = (Bytef *)in;
	do {
		if (!zs.avail_in && remaining) {
			zs.avail_in = remaining > UINT_MAX ? UINT_MAX : remaining;
			remaining -= zs.avail_in;
		}
		if (used == cap) {
			uint8_t *p;

			if (cap > SIZE_MAX / 2)
				goto cleanup;
			p = realloc(buf, cap * 2);
			if (!p)
				goto cleanup;
			buf = p;
			cap *= 2;
		}
		zs.next_out = buf + used;
		zs.avail_out = cap - used > UINT_MAX ? UINT_MAX : cap - used;
		/* Z_FINISH may come with input still pending: zlib then
		 * keeps being called with it until the stream ends. */
		ret = deflate(&zs, remaining ? Z_NO_FLUSH : Z_FINISH);
		used = zs.next_out - buf;
		if (ret == Z_STREAM_ERROR) {
			err = -EIO;
			goto cleanup;
		}
	} while (ret != Z_STREAM_END);

	*out = buf;
	*out_len = used;
	buf = NULL;
	err = 0;

cleanup:
	if (init)
		deflateEnd(&zs);
	free(buf);
	return err;
}

int pprof_builder__write(struct pprof_builder *b, bool gzip, uint8_t **out, size_t *len)
{
	Perftools__Profiles__Profile p = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *vts = NULL, **vtp = NULL;
	Perftools__Profiles__Mapping *maps = NULL, **mapp = NULL;
	Perftools__Profiles__Function *funcs = NULL, **funcp = NULL;
	Perftools__Profiles__Location *locs = NULL, **locp = NULL;
	Perftools__Profiles__Line *lines = NULL, **linep = NULL;
	Perftools__Profiles__Sample *samples = NULL, **samplep = NULL;
	Perftools__Profiles__Label *labels = NULL, **labelp = NULL;
	size_t nr_lines = 0, nr_labels = 0, i, j, l, size;
	uint8_t *raw = NULL;
	int err = -EINVAL;

	if (!b || !out || !len)
		goto cleanup;

	for (i = 0; i < b->nr_locs; i++)
		nr_lines += b->locs[i].nr_lines;
	for (i = 0; i < b->nr_samples; i++)
		nr_labels += b->samples[i].nr_labels;

	err = -ENOMEM;
	vts = zalloc(b->nr_types, sizeof(*vts));
	vtp = zalloc(b->nr_types, sizeof(*vtp));
	maps = zalloc(b->nr_maps, sizeof(*maps));
	mapp = zalloc(b->nr_maps, sizeof(*mapp));
	funcs = zalloc(b->nr_funcs, sizeof(*funcs));
	funcp = zalloc(b->nr_funcs, sizeof(*funcp));
	locs = zalloc(b->nr_locs, sizeof(*locs));
	locp = zalloc(b->nr_locs, sizeof(*locp));
	lines = zalloc(nr_lines, sizeof(*lines));
	linep = zalloc(nr_lines, sizeof(*linep));
	samples = zalloc(b->nr_samples, sizeof(*samples));
	samplep = zalloc(b->nr_samples, sizeof(*samplep));
	labels = zalloc(nr_labels, sizeof(*labels));
	labelp = zalloc(nr_labels, sizeof(*labelp));
	if (!vts || !vtp || !maps || !mapp || !funcs || !funcp || !locs || !locp || !lines ||
	    !linep || !samples || !samplep || !labels || !labelp)
		goto cleanup;

	for (i = 0; i < b->nr_types; i++) {
		perftools__profiles__value_type__init(&vts[i]);
		vts[i].type = b->types[2 * i];
		vts[i].unit = b->types[2 * i + 1];
		vtp[i] = &vts[i];
	}
	for (i = 0; i < b->nr_maps; i++) {
		const struct bmapping *m = &b->maps[i];

		perftools__profiles__mapping__init(&maps[i]);
		maps[i].id = i + 1;
		maps[i].memory_start = m->start;
		maps[i].memory_limit = m->limit;
		maps[i].file_offset = m->offset;
		maps[i].filename = m->file;
		maps[i].build_id = m->build_id;
		maps[i].has_functions = m->has_functions;
		maps[i].has_filenames = m->has_filenames;
		maps[i].has_line_numbers = m->has_line_numbers;
		maps[i].has_inline_frames = m->has_inline_frames;
		mapp[i] = &maps[i];
	}
	for (i = 0; i < b->nr_funcs; i++) {
		perftools__profiles__function__init(&funcs[i]);
		funcs[i].id = i + 1;
		funcs[i].name = b->funcs[i].name;
		funcs[i].system_name = b->funcs[i].system_name;
		funcs[i].filename = b->funcs[i].filename;
		funcp[i] = &funcs[i];
	}
	for (i = 0, l = 0; i < b->nr_locs; i++) {
		const struct blocation *bl = &b->locs[i];

		perftools__profiles__location__init(&locs[i]);
		locs[i].id = i + 1;
		locs[i].mapping_id = bl->mapping_id;
		locs[i].address = bl->address;
		locs[i].n_line = bl->nr_lines;
		locs[i].line = &linep[l];
		for (j = 0; j < bl->nr_lines; j++, l++) {
			perftools__profiles__line__init(&lines[l]);
			lines[l].function_id = bl->lines[j].function_id;
			lines[l].line = bl->lines[j].line;
			linep[l] = &lines[l];
		}
		locp[i] = &locs[i];
	}
	for (i = 0, l = 0; i < b->nr_samples; i++) {
		const struct bsample *bs = &b->samples[i];

		perftools__profiles__sample__init(&samples[i]);
		samples[i].n_location_id = bs->nr_locs;
		samples[i].location_id = bs->locs;
		samples[i].n_value = b->nr_types;
		samples[i].value = bs->values;
		samples[i].n_label = bs->nr_labels;
		samples[i].label = &labelp[l];
		for (j = 0; j < bs->nr_labels; j++, l++) {
			perftools__profiles__label__init(&labels[l]);
			labels[l].key = bs->labels[j].key;
			labels[l].str = bs->labels[j].str;
			labels[l].num = bs->labels[j].num;
			labels[l].num_unit = bs->labels[j].num_unit;
			labelp[l] = &labels[l];
		}
		samplep[i] = &samples[i];
	}

	p.n_sample_type = b->nr_types;
	p.sample_type = vtp;
	p.n_sample = b->nr_samples;
	p.sample = samplep;
	p.n_mapping = b->nr_maps;
	p.mapping = mapp;
	p.n_location = b->nr_locs;
	p.location = locp;
	p.n_function = b->nr_funcs;
	p.function = funcp;
	p.n_string_table = b->nr_strs;
	p.string_table = b->strs;
	p.time_nanos = b->time_nanos;
	p.duration_nanos = b->duration_nanos;
	if (b->has_period_type) {
		period_type.type = b->period_type[0];
		period_type.unit = b->period_type[1];
		p.period_type = &period_type;
	}
	p.period = b->period;
	p.n_comment = b->nr_comments;
	p.comment = b->comments;
	p.default_sample_type = b->default_type;

	size = perftools__profiles__profile__get_packed_size(&p);
	raw = malloc(size ? size : 1);
	if (!raw)
		goto cleanup;
	if (perftools__profiles__profile__pack(&p, raw) != size) {
		err = -EIO;
		goto cleanup;
	}
	if (gzip) {
		err = gzip_buf(raw, size, out, len);
		if (err)
			goto cleanup;
	} else {
		*out = raw;
		*len = size;
		raw = NULL;
	}
	err = 0;

cleanup:
	free(raw);
	free(vts);
	free(vtp);
	free(maps);
	free(mapp);
	free(funcs);
	free(funcp);
	free(locs);
	free(locp);
	free(lines);
	free(linep);
	free(samples);
	free(samplep);
	free(labels);
	free(labelp);
	return err;
}

void pprof_builder__set_time(struct pprof_builder *b, int64_t time_nanos, int64_t duration_nanos)
{
	if (!b)
		return;
	b->time_nanos = time_nanos;
	b->duration_nanos = duration_nanos;
}

int pprof_builder__set_comments(struct pprof_builder *b, const char *const *comments, size_t nr)
{
	int64_t *idx = NULL;
	int err = -EINVAL;
	size_t i;

	if (!b || (nr && !comments))
		goto cleanup;
	for (i = 0; i < nr; i++) {
		if (!comments[i])
			goto cleanup;
	}
	err = -ENOMEM;
	idx = zalloc(nr, sizeof(*idx));
	if (!idx)
		goto cleanup;
	/* Strings interned here stay in the table if a later one fails; an
	 * unused string costs a few bytes and pprof does not mind it. */
	for (i = 0; i < nr; i++) {
		idx[i] = intern(b, comments[i]);
		if (idx[i] < 0)
			goto cleanup;
	}
	free(b->comments);
	b->comments = idx;
	b->nr_comments = nr;
	idx = NULL;
	err = 0;

cleanup:
	free(idx);
	return err;
}

void pprof_builder__free(struct pprof_builder *b)
{
	if (!b)
		return;
	while (b->arena) {
		struct ablock *next = b->arena->next;

		free(b->arena);
		b->arena = next;
	}
	free(b->lscratch);
	free(b->strs);
	itab_free(&b->str_idx);
	free(b->maps);
	itab_free(&b->map_idx);
	free(b->funcs);
	itab_free(&b->func_idx);
	free(b->locs);
	itab_free(&b->loc_idx);
	free(b->samples);
	itab_free(&b->sample_idx);
	free(b->scratch);
	free(b->types);
	free(b->comments);
	free(b);
}

/* ---------------------------------------------------------------------------
 * Reading
 */

static bool is_gzip(const uint8_t *buf, size_t len)
{
	return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

/* A zlib header: deflate method, a window zlib accepts, and the check bits. */
static bool is_zlib(const uint8_t *buf, size_t len)
{
	return len >= 2 && (buf[0] & 0x0f) == 8 && (buf[0] >> 4) <= 7 &&
	       ((buf[0] << 8) | buf[1]) % 31 == 0;
}

/* Decompress gzip (several members, as Go reads them) or zlib. 0, -EINVAL
 * (corrupt), -EFBIG (over PPROF_MAX_RAW) or -ENOMEM. */
static int inflate_buf(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	size_t remaining = len, cap = 0, used = 0;
	z_stream zs = {};
	uint8_t *buf = NULL;
	bool init = false;
	int err = -ENOMEM, ret;

	if (inflateInit2(&zs, 15 + 32) != Z_OK)
		goto cleanup;
	init = true;
	zs.next_in = (Bytef *)in;
	for (;;) {
		if (!zs.avail_in && remaining) {
			zs.avail_in = remaining > UINT_MAX ? UINT_MAX : remaining;
			remaining -= zs.avail_in;
		}
		if (used == cap) {
			size_t new_cap = cap ? cap * 2 : (len < (1 << 16) ? 1 << 16 : len * 4);
			uint8_t *p;

			if (cap >= PPROF_MAX_RAW) {
				err = -EFBIG;
				goto cleanup;
			}
			if (new_cap > PPROF_MAX_RAW)
				new_cap = PPROF_MAX_RAW;
			p = realloc(buf, new_cap);
			if (!p)
				goto cleanup;
			buf = p;
			cap = new_cap;
		}
		zs.next_out = buf + used;
		zs.avail_out = cap - used > UINT_MAX ? UINT_MAX : cap - used;
		ret = inflate(&zs, Z_NO_FLUSH);
		used = zs.next_out - buf;
		if (ret == Z_STREAM_END) {
			if (!zs.avail_in && !remaining)
				break;
			/* Another gzip member may follow; anything else is
			 * trailing garbage. */
			if (zs.avail_in < 2 || !is_gzip(zs.next_in, zs.avail_in) ||
			    inflateReset(&zs) != Z_OK) {
				err = -EINVAL;
				goto cleanup;
			}
			continue;
		}
		if (ret == Z_MEM_ERROR)
			goto cleanup;
		if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_STREAM_ERROR) {
			err = -EINVAL;
			goto cleanup;
		}
		/* No progress possible: the input ended inside the stream. */
		if (ret == Z_BUF_ERROR && zs.avail_out && !zs.avail_in && !remaining) {
			err = -EINVAL;
			goto cleanup;
		}
	}

	*out = buf;
	*out_len = used;
	buf = NULL;
	err = 0;

cleanup:
	if (init)
		inflateEnd(&zs);
	free(buf);
	return err;
}

/* protobuf-c returns NULL both for bad input and when out of memory; this
 * allocator tells the two apart. It is malloc/free underneath, so the result
 * is freed with the default allocator. */
/* A decoded profile's memory, carved from blocks and freed at once.
 * Decoding allocates once per message, string and array: tens of
 * thousands for a window of a busy host, and in a daemon whose heap view
 * probes its own allocator too, every malloc and free is a trap. Each
 * profile's arena is found again at pprof__free from a short list
 * (profiles are decoded and freed a few at a time). */
struct pb_arena {
	struct ablock *blocks;
	bool oom;
	const Perftools__Profiles__Profile *profile;
	struct pb_arena *next;
};

static pthread_mutex_t arenas_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pb_arena *arenas;

static void *pb_alloc(void *data, size_t size)
{
	struct pb_arena *ar = data;
	struct ablock *a = ar->blocks;
	void *p;

	size = size ? (size + 7) & ~(size_t)7 : 8;
	if (size > SIZE_MAX / 2) {
		ar->oom = true;
		return NULL;
	}
	if (!a || a->cap - a->used < size) {
		size_t cap = size > ABLOCK_BYTES - sizeof(*a) ? size : ABLOCK_BYTES - sizeof(*a);

		a = malloc(sizeof(*a) + cap);
		if (!a) {
			ar->oom = true;
			return NULL;
		}
		a->used = 0;
		a->cap = cap;
		/* a block of its own goes behind the current one, which
		 * still has room for small things */
		if (ar->blocks && cap > ABLOCK_BYTES - sizeof(*a)) {
			a->next = ar->blocks->next;
			ar->blocks->next = a;
		} else {
			a->next = ar->blocks;
			ar->blocks = a;
		}
	}
	p = a->data + a->used;
	a->used += size;
	return p;
}

static void pb_free(void *data, void *p)
{
	(void)data;	/* all at once, in arena_free */
	(void)p;
}

static void arena_free(struct pb_arena *ar)
{
	while (ar->blocks) {
		struct ablock *next = ar->blocks->next;

		free(ar->blocks);
		ar->blocks = next;
	}
	free(ar);
}

static Perftools__Profiles__Profile *unpack(const uint8_t *buf, size_t len)
{
	struct pb_arena *ar = calloc(1, sizeof(*ar));
	ProtobufCAllocator alloc = { .alloc = pb_alloc, .free = pb_free, .allocator_data = ar };
	Perftools__Profiles__Profile *p;

	if (!ar)
		return NULL;
	p = perftools__profiles__profile__unpack(&alloc, len, buf);
	if (!p) {
		errno = ar->oom ? ENOMEM : EINVAL;
		arena_free(ar);
		return NULL;
	}
	/* Go refuses a profile whose string table does not start with "";
	 * it is also what tells most garbage from a profile, since almost any
	 * short byte string decodes as some protobuf. */
	if (!p->n_string_table || !p->string_table[0] || p->string_table[0][0]) {
		arena_free(ar);
		errno = EINVAL;
		return NULL;
	}
	ar->profile = p;
	pthread_mutex_lock(&arenas_lock);
	ar->next = arenas;
	arenas = ar;
	pthread_mutex_unlock(&arenas_lock);
	return p;
}

Perftools__Profiles__Profile *pprof__read(const uint8_t *buf, size_t len)
{
	Perftools__Profiles__Profile *p = NULL;
	uint8_t *raw = NULL;
	size_t raw_len;
	int err = -EINVAL;

	if (!buf || !len)
		goto cleanup;
	if (is_gzip(buf, len) || is_zlib(buf, len)) {
		err = inflate_buf(buf, len, &raw, &raw_len);
		/* A zlib-looking header might just be the first bytes of a raw
		 * profile; gzip's magic cannot be (0x1f is an invalid tag). */
		if (err == -EINVAL && !is_gzip(buf, len)) {
			p = unpack(buf, len);
			err = p ? 0 : -errno;
			goto cleanup;
		}
		if (err)
			goto cleanup;
		p = unpack(raw, raw_len);
	} else {
		p = unpack(buf, len);
	}
	err = p ? 0 : -errno;

cleanup:
	free(raw);
	if (err)
		errno = -err;
	return p;
}

void pprof__free(Perftools__Profiles__Profile *p)
{
	struct pb_arena **at, *ar = NULL;

	if (!p)
		return;
	pthread_mutex_lock(&arenas_lock);
	for (at = &arenas; *at; at = &(*at)->next)
		if ((*at)->profile == p) {
			ar = *at;
			*at = ar->next;
			break;
		}
	pthread_mutex_unlock(&arenas_lock);
	if (ar)
		arena_free(ar);
	else	/* not decoded by pprof__read */
		perftools__profiles__profile__free_unpacked(p, NULL);
}

/* ---------------------------------------------------------------------------
 * Looking things up in a decoded profile, which may be hostile
 */

/* String at idx, or NULL when idx is not in the table. */
static const char *pstr(const Perftools__Profiles__Profile *p, int64_t idx)
{
	if (idx < 0 || (uint64_t)idx >= p->n_string_table)
		return NULL;
	return p->string_table[idx];
}

static const char *pstr_or(const Perftools__Profiles__Profile *p, int64_t idx, const char *def)
{
	const char *s = pstr(p, idx);

	return s ? s : def;
}

static const char *vt_type(const Perftools__Profiles__Profile *p, size_t i)
{
	if (i >= p->n_sample_type || !p->sample_type[i])
		return "";
	return pstr_or(p, p->sample_type[i]->type, "");
}

static const char *vt_unit(const Perftools__Profiles__Profile *p, size_t i)
{
	if (i >= p->n_sample_type || !p->sample_type[i])
		return "";
	return pstr_or(p, p->sample_type[i]->unit, "");
}

int pprof__sample_index(const Perftools__Profiles__Profile *p, const char *type)
{
	const char *def;
	size_t i;

	if (!p || !p->n_sample_type || p->n_sample_type > INT_MAX)
		return -1;
	if (type) {
		for (i = 0; i < p->n_sample_type; i++) {
			if (!strcmp(vt_type(p, i), type))
				return i;
		}
		return -1;
	}
	/* As Go does: the named default if there is one, else the last. */
	def = pstr(p, p->default_sample_type);
	if (def && *def) {
		for (i = 0; i < p->n_sample_type; i++) {
			if (!strcmp(vt_type(p, i), def))
				return i;
		}
	}
	return p->n_sample_type - 1;
}

static int id_ref_cmp(const void *a, const void *b)
{
	const struct pprof_id_ref *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorted (id, position) of the n messages of arr, whose uint64_t id is at
 * id_offset; NULL messages and id 0 (reserved) left out. 0 or -ENOMEM. */
static int index_ids(struct pprof_id_ref **refs, size_t *nr, void *const *arr, size_t n,
		     size_t id_offset)
{
	size_t i;

	*nr = 0;
	*refs = zalloc(n, sizeof(**refs));
	if (!*refs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		uint64_t id;

		if (!arr[i])
			continue;
		memcpy(&id, (const char *)arr[i] + id_offset, sizeof(id));
		if (!id)
			continue;
		(*refs)[*nr].id = id;
		(*refs)[(*nr)++].idx = i;
	}
	qsort(*refs, *nr, sizeof(**refs), id_ref_cmp);
	return 0;
}

void pprof_view__free(struct pprof_view *v)
{
	free(v->maps);
	free(v->funcs);
	free(v->locs);
	memset(v, 0, sizeof(*v));
}

int pprof_view__init(struct pprof_view *v, const Perftools__Profiles__Profile *p)
{
	memset(v, 0, sizeof(*v));
	v->p = p;
	if (index_ids(&v->maps, &v->nr_maps, (void *const *)p->mapping, p->n_mapping,
		      offsetof(Perftools__Profiles__Mapping, id)) ||
	    index_ids(&v->funcs, &v->nr_funcs, (void *const *)p->function, p->n_function,
		      offsetof(Perftools__Profiles__Function, id)) ||
	    index_ids(&v->locs, &v->nr_locs, (void *const *)p->location, p->n_location,
		      offsetof(Perftools__Profiles__Location, id))) {
		pprof_view__free(v);
		return -ENOMEM;
	}
	return 0;
}

ssize_t pprof_view__find(const struct pprof_id_ref *refs, size_t nr, uint64_t id)
{
	size_t lo = 0, hi = nr;

	/* ids 1 to n, as our own profiles number them: no search (the
	 * lowest position is then the only one) */
	if (id && id <= nr && refs[id - 1].id == id && (id == 1 || refs[id - 2].id != id))
		return (ssize_t)refs[id - 1].idx;
	/* The lowest position wins when ids are duplicated. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (refs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < nr && refs[lo].id == id ? (ssize_t)refs[lo].idx : -1;
}

static const Perftools__Profiles__Location *pview_loc(const struct pprof_view *v, uint64_t id)
{
	ssize_t i = pprof_view__find(v->locs, v->nr_locs, id);

	return i < 0 ? NULL : v->p->location[i];
}

static const Perftools__Profiles__Function *pview_func(const struct pprof_view *v, uint64_t id)
{
	ssize_t i = pprof_view__find(v->funcs, v->nr_funcs, id);

	return i < 0 ? NULL : v->p->function[i];
}

static const Perftools__Profiles__Mapping *pview_map(const struct pprof_view *v, uint64_t id)
{
	ssize_t i = pprof_view__find(v->maps, v->nr_maps, id);

	return i < 0 ? NULL : v->p->mapping[i];
}

static const Perftools__Profiles__Line *loc_line(const Perftools__Profiles__Location *loc,
						 size_t i)
{
	return i < loc->n_line ? loc->line[i] : NULL;
}

/* Readable name of a line's function, or NULL when unknown or empty. */
static const char *line_function(const struct pprof_view *v, const Perftools__Profiles__Line *line)
{
	const Perftools__Profiles__Function *f;
	const char *name;

	if (!line)
		return NULL;
	f = pview_func(v, line->function_id);
	if (!f)
		return NULL;
	name = pstr(v->p, f->name);
	return name && *name ? name : NULL;
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* What to call an address we have no function for: "0x1234 [libc.so.6]". */
static void address_name(const struct pprof_view *v, const Perftools__Profiles__Location *loc,
			 char *buf, size_t size)
{
	const Perftools__Profiles__Mapping *m = pview_map(v, loc->mapping_id);
	const char *file = m ? pstr(v->p, m->filename) : NULL;

	if (file && *file)
		snprintf(buf, size, "0x%" PRIx64 " [%s]", loc->address, basename_of(file));
	else
		snprintf(buf, size, "0x%" PRIx64, loc->address);
}

/* ---------------------------------------------------------------------------
 * Formatting values the way pprof does
 */

struct unit_scale {
	const char *name;
	double factor;
};

static const struct unit_scale byte_units[] = {
	{ "B", 1 }, { "kB", 1ULL << 10 }, { "MB", 1ULL << 20 }, { "GB", 1ULL << 30 },
	{ "TB", 1ULL << 40 }, { "PB", 1ULL << 50 }, { NULL, 0 },
};

static const struct unit_scale time_units[] = {
	{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 }, { "hrs", 3600e9 }, { NULL, 0 },
};

struct unit_alias {
	const char *alias;
	const struct unit_scale *table;
	double factor;		/* of the alias, in the table's first unit */
};

static const struct unit_alias unit_aliases[] = {
	{ "b", byte_units, 1 }, { "byte", byte_units, 1 },
	{ "kb", byte_units, 1ULL << 10 }, { "kbyte", byte_units, 1ULL << 10 },
	{ "kilobyte", byte_units, 1ULL << 10 },
	{ "mb", byte_units, 1ULL << 20 }, { "mbyte", byte_units, 1ULL << 20 },
	{ "megabyte", byte_units, 1ULL << 20 },
	{ "gb", byte_units, 1ULL << 30 }, { "gbyte", byte_units, 1ULL << 30 },
	{ "gigabyte", byte_units, 1ULL << 30 },
	{ "ns", time_units, 1 }, { "nanosecond", time_units, 1 },
	{ "us", time_units, 1e3 }, { "microsecond", time_units, 1e3 },
	{ "ms", time_units, 1e6 }, { "millisecond", time_units, 1e6 },
	{ "s", time_units, 1e9 }, { "sec", time_units, 1e9 }, { "second", time_units, 1e9 },
	{ "hour", time_units, 3600e9 }, { "hr", time_units, 3600e9 },
	{ NULL, NULL, 0 },
};

/* Like pprof: lower case, a plural 's' dropped from longer names. */
static const struct unit_alias *sniff_unit(const char *unit)
{
	char low[32];
	size_t i, n = strlen(unit);
	const struct unit_alias *a;

	if (n >= sizeof(low))
		return NULL;
	for (i = 0; i < n; i++)
		low[i] = (unit[i] >= 'A' && unit[i] <= 'Z') ? unit[i] - 'A' + 'a' : unit[i];
	if (n > 2 && low[n - 1] == 's')
		n--;
	low[n] = '\0';
	for (a = unit_aliases; a->alias; a++) {
		if (!strcmp(a->alias, low))
			return a;
	}
	return NULL;
}

/* "1.50s", "450ms", "12.50MB", "3": the largest unit the value is at least
 * one of, two decimals unless they are zero; counts as plain integers. */
static void format_value(char *buf, size_t size, int64_t v, const char *unit)
{
	const struct unit_alias *a = sniff_unit(unit);
	const struct unit_scale *u, *best = NULL;
	double x, mag;
	size_t n;

	if (!a || !v) {
		snprintf(buf, size, "%" PRId64, v);
		return;
	}
	x = (double)v * a->factor;
	mag = x < 0 ? -x : x;
	for (u = a->table; u->name; u++) {
		if (mag / u->factor >= 1.0)
			best = u;
	}
	if (!best)
		best = a->table;
	snprintf(buf, size, "%.2f", x / best->factor);
	n = strlen(buf);
	if (n > 3 && !strcmp(buf + n - 3, ".00"))
		buf[n - 3] = '\0';
	if (!strcmp(buf, "0") || !strcmp(buf, "-0")) {
		snprintf(buf, size, "0");
		return;
	}
	n = strlen(buf);
	snprintf(buf + n, size - n, "%s", best->name);
}

/* Percentage the way pprof prints it, six columns wide. */
static void format_pct(char *buf, size_t size, int64_t v, int64_t total)
{
	double r = total ? (double)v / (double)total * 100 : 0;

	if (r < 0)
		r = -r;
	if (r >= 99.95 && r <= 100.05)
		snprintf(buf, size, "  100%%");
	else if (r >= 1.0)
		snprintf(buf, size, "%5.2f%%", r);
	else
		snprintf(buf, size, "%5.2g%%", r);
}

static int64_t abs64(int64_t v)
{
	return v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
}

static int64_t add64(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* ---------------------------------------------------------------------------
 * pprof__top
 */

struct tnode {
	char *name;
	int64_t flat, cum;
	size_t seen;		/* sample number + 1 that last added to cum */
};

struct top {
	struct tnode *nodes;
	size_t nr_nodes, cap_nodes;
	struct itab idx;
	/* For location i of the profile, its nodes (one per line, innermost
	 * first) are loc_nodes[loc_off[i] .. loc_off[i + 1]). */
	size_t *loc_off, *loc_nodes;
	size_t unknown;		/* node of "<unknown>", made on demand */
	bool has_unknown;
};

static bool tnode_eq(const void *ctx, size_t idx, const void *key)
{
	const struct top *t = ctx;

	return !strcmp(t->nodes[idx].name, key);
}

/* Node position of name, added when new; -1 on ENOMEM. */
static ssize_t top_node(struct top *t, const char *name)
{
	uint64_t h = hash_buf(HASH_SEED, name, strlen(name));
	size_t found = itab_find(&t->idx, h, tnode_eq, t, name);
	char *copy;

	if (found)
		return found - 1;
	if (RESERVE(t->nodes, t->cap_nodes, t->nr_nodes))
		return -1;
	copy = strdup(name);
	if (!copy)
		return -1;
	if (itab_add(&t->idx, h, t->nr_nodes)) {
		free(copy);
		return -1;
	}
	memset(&t->nodes[t->nr_nodes], 0, sizeof(t->nodes[0]));
	t->nodes[t->nr_nodes].name = copy;
	return t->nr_nodes++;
}

static void top_free(struct top *t)
{
	size_t i;

	for (i = 0; i < t->nr_nodes; i++)
		free(t->nodes[i].name);
	free(t->nodes);
	itab_free(&t->idx);
	free(t->loc_off);
	free(t->loc_nodes);
}

/* Resolve every location to its nodes once, rather than per sample. */
static int top_locations(struct top *t, const struct pprof_view *v)
{
	const Perftools__Profiles__Profile *p = v->p;
	size_t i, j, n = 0;
	char buf[512];

	t->loc_off = calloc(p->n_location + 1, sizeof(*t->loc_off));
	if (!t->loc_off)
		return -ENOMEM;
	for (i = 0; i < p->n_location; i++) {
		t->loc_off[i] = n;
		if (p->location[i])
			n += p->location[i]->n_line ? p->location[i]->n_line : 1;
	}
	t->loc_off[p->n_location] = n;
	t->loc_nodes = zalloc(n, sizeof(*t->loc_nodes));
	if (!t->loc_nodes)
		return -ENOMEM;
	for (i = 0; i < p->n_location; i++) {
		const Perftools__Profiles__Location *loc = p->location[i];
		size_t k = t->loc_off[i];

		if (!loc)
			continue;
		for (j = 0; j < (loc->n_line ? loc->n_line : 1); j++) {
			const char *name = line_function(v, loc_line(loc, j));
			ssize_t node;

			if (!name) {
				address_name(v, loc, buf, sizeof(buf));
				name = buf;
			}
			node = top_node(t, name);
			if (node < 0)
				return -ENOMEM;
			t->loc_nodes[k + j] = node;
		}
	}
	return 0;
}

static int tnode_cmp(const void *a, const void *b)
{
	const struct tnode *x = *(const struct tnode *const *)a;
	const struct tnode *y = *(const struct tnode *const *)b;
	int64_t fx = abs64(x->flat), fy = abs64(y->flat), cx, cy;
	int c;

	if (fx != fy)
		return fx > fy ? -1 : 1;
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	cx = abs64(x->cum);
	cy = abs64(y->cum);
	return cx > cy ? -1 : cx < cy;
}

/* Add one sample's value to the nodes of its stack. */
static int top_sample(struct top *t, const struct pprof_view *v, const Perftools__Profiles__Sample *s,
		      int64_t val, size_t stamp)
{
	size_t i, j;

	for (i = 0; i < s->n_location_id; i++) {
		ssize_t li = pprof_view__find(v->locs, v->nr_locs, s->location_id[i]);
		const size_t *nodes;
		size_t nr;

		if (li >= 0) {
			nodes = &t->loc_nodes[t->loc_off[li]];
			nr = t->loc_off[li + 1] - t->loc_off[li];
		} else {
			if (!t->has_unknown) {
				ssize_t node = top_node(t, "<unknown>");

				if (node < 0)
					return -ENOMEM;
				t->unknown = node;
				t->has_unknown = true;
			}
			nodes = &t->unknown;
			nr = 1;
		}
		for (j = 0; j < nr; j++) {
			struct tnode *node = &t->nodes[nodes[j]];

			/* The leaf's innermost function is where it was spent. */
			if (i == 0 && j == 0)
				node->flat = add64(node->flat, val);
			/* Recursion puts a function on the stack several
			 * times; it still cost val only once. */
			if (node->seen != stamp) {
				node->cum = add64(node->cum, val);
				node->seen = stamp;
			}
		}
	}
	return 0;
}

int pprof__top(const Perftools__Profiles__Profile *p, const char *sample_type, int n, FILE *out)
{
	int64_t total = 0, flat_sum = 0, sum = 0;
	char a[64], b[64], c[64], d[64], e[64];
	const struct tnode **order = NULL;
	size_t nr_order = 0, shown, i;
	struct pprof_view v = {};
	struct top t = {};
	const char *unit;
	int idx, err = -EINVAL;

	if (!p || !out)
		goto cleanup;
	idx = pprof__sample_index(p, sample_type);
	if (idx < 0)
		goto cleanup;
	unit = vt_unit(p, idx);
	err = pprof_view__init(&v, p);
	if (err)
		goto cleanup;
	err = top_locations(&t, &v);
	if (err)
		goto cleanup;

	for (i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		/* Like pprof, samples worth nothing make no nodes. */
		if (!s || (size_t)idx >= s->n_value || !s->value[idx])
			continue;
		total = add64(total, abs64(s->value[idx]));
		err = top_sample(&t, &v, s, s->value[idx], i + 1);
		if (err)
			goto cleanup;
	}

	err = -ENOMEM;
	order = zalloc(t.nr_nodes, sizeof(*order));
	if (!order)
		goto cleanup;
	/* Nodes of locations that no sample used are not shown. */
	for (i = 0; i < t.nr_nodes; i++) {
		if (t.nodes[i].seen)
			order[nr_order++] = &t.nodes[i];
	}
	qsort(order, nr_order, sizeof(*order), tnode_cmp);
	shown = n > 0 && (size_t)n < nr_order ? (size_t)n : nr_order;
	for (i = 0; i < shown; i++)
		flat_sum = add64(flat_sum, order[i]->flat);

	fprintf(out, "Type: %s\n", vt_type(p, idx));
	format_value(a, sizeof(a), flat_sum, unit);
	format_pct(b, sizeof(b), flat_sum, total);
	format_value(c, sizeof(c), total, unit);
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n", a,
		b + strspn(b, " "), c);
	if (shown < nr_order)
		fprintf(out, "Showing top %zu nodes out of %zu\n", shown, nr_order);
	fprintf(out, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	for (i = 0; i < shown; i++) {
		sum = add64(sum, order[i]->flat);
		format_value(a, sizeof(a), order[i]->flat, unit);
		format_pct(b, sizeof(b), order[i]->flat, total);
		format_pct(c, sizeof(c), sum, total);
		format_value(d, sizeof(d), order[i]->cum, unit);
		format_pct(e, sizeof(e), order[i]->cum, total);
		fprintf(out, "%10s %s %s %10s %s  %s\n", a, b, c, d, e, order[i]->name);
	}
	err = ferror(out) ? -EIO : 0;

cleanup:
	free(order);
	top_free(&t);
	pprof_view__free(&v);
	return err;
}

/* ---------------------------------------------------------------------------
 * pprof__text
 */

static void text_header(const Perftools__Profiles__Profile *p, FILE *out)
{
	const char *def = pstr(p, p->default_sample_type);
	char buf[64];
	size_t i;

	fprintf(out, "Sample types:");
	for (i = 0; i < p->n_sample_type; i++)
		fprintf(out, " %s/%s", vt_type(p, i), vt_unit(p, i));
	if (def && *def)
		fprintf(out, " (default: %s)", def);
	fprintf(out, "\n");
	if (p->period_type)
		fprintf(out, "Period: %" PRId64 " %s/%s\n", p->period,
			pstr_or(p, p->period_type->type, "?"),
			pstr_or(p, p->period_type->unit, "?"));
	if (p->time_nanos) {
		time_t secs = p->time_nanos / 1000000000;
		struct tm tm;

		if (gmtime_r(&secs, &tm) &&
		    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm))
			fprintf(out, "Time: %s\n", buf);
		else
			fprintf(out, "Time: %" PRId64 " ns\n", p->time_nanos);
	}
	if (p->duration_nanos) {
		format_value(buf, sizeof(buf), p->duration_nanos, "nanoseconds");
		fprintf(out, "Duration: %s\n", buf);
	}
	for (i = 0; i < p->n_comment; i++)
		fprintf(out, "Comment: %s\n", pstr_or(p, p->comment[i], "?"));
	fprintf(out, "Samples: %zu\n", p->n_sample);
}

static void text_labels(const Perftools__Profiles__Profile *p,
			const Perftools__Profiles__Sample *s, FILE *out)
{
	size_t i;

	if (!s->n_label)
		return;
	fprintf(out, "  labels:");
	for (i = 0; i < s->n_label; i++) {
		const Perftools__Profiles__Label *l = s->label[i];
		const char *unit;

		if (!l)
			continue;
		fprintf(out, " %s=", pstr_or(p, l->key, "?"));
		if (l->str) {
			fprintf(out, "\"%s\"", pstr_or(p, l->str, "?"));
			continue;
		}
		fprintf(out, "%" PRId64, l->num);
		unit = pstr(p, l->num_unit);
		if (unit && *unit)
			fprintf(out, "[%s]", unit);
	}
	fprintf(out, "\n");
}

static void text_stack(const struct pprof_view *v, const Perftools__Profiles__Sample *s, FILE *out)
{
	size_t frame = 0, i, j;
	char buf[512];

	for (i = 0; i < s->n_location_id; i++) {
		const Perftools__Profiles__Location *loc = pview_loc(v, s->location_id[i]);

		if (!loc) {
			fprintf(out, "    #%-3zu <unknown location %" PRIu64 ">\n", frame++,
				s->location_id[i]);
			continue;
		}
		if (!loc->n_line) {
			address_name(v, loc, buf, sizeof(buf));
			fprintf(out, "    #%-3zu %s\n", frame++, buf);
			continue;
		}
		for (j = 0; j < loc->n_line; j++) {
			const Perftools__Profiles__Line *line = loc->line[j];
			const Perftools__Profiles__Function *f = line ?
				pview_func(v, line->function_id) : NULL;
			const char *name = line_function(v, line);
			const char *file = f ? pstr(v->p, f->filename) : NULL;

			fprintf(out, "    #%-3zu 0x%016" PRIx64 " %s", frame++, loc->address,
				name ? name : "<unknown>");
			if (file && *file) {
				fprintf(out, " %s", file);
				if (line->line)
					fprintf(out, ":%" PRId64, line->line);
			}
			/* Every line but the last was inlined into the next. */
			if (j + 1 < loc->n_line)
				fprintf(out, " (inline)");
			fprintf(out, "\n");
		}
	}
}

static void text_mappings(const Perftools__Profiles__Profile *p, FILE *out)
{
	size_t i;

	fprintf(out, "Mappings:\n");
	for (i = 0; i < p->n_mapping; i++) {
		const Perftools__Profiles__Mapping *m = p->mapping[i];
		const char *build_id;

		if (!m)
			continue;
		fprintf(out, "  %" PRIu64 ": 0x%" PRIx64 "-0x%" PRIx64 " @0x%" PRIx64 " %s", m->id,
			m->memory_start, m->memory_limit, m->file_offset,
			pstr_or(p, m->filename, "?"));
		build_id = pstr(p, m->build_id);
		if (build_id && *build_id)
			fprintf(out, " build_id=%s", build_id);
		fprintf(out, "%s%s%s%s\n", m->has_functions ? " [functions]" : "",
			m->has_filenames ? " [filenames]" : "",
			m->has_line_numbers ? " [line_numbers]" : "",
			m->has_inline_frames ? " [inline_frames]" : "");
	}
}

int pprof__text(const Perftools__Profiles__Profile *p, FILE *out)
{
	struct pprof_view v = {};
	size_t i, j;
	int err = -EINVAL;

	if (!p || !out)
		goto cleanup;
	err = pprof_view__init(&v, p);
	if (err)
		goto cleanup;

	text_header(p, out);
	for (i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (!s)
			continue;
		fprintf(out, "\nsample %zu:", i + 1);
		for (j = 0; j < s->n_value; j++)
			fprintf(out, " %" PRId64, s->value[j]);
		fprintf(out, "\n");
		text_labels(p, s, out);
		text_stack(&v, s, out);
	}
	fprintf(out, "\n");
	text_mappings(p, out);
	err = ferror(out) ? -EIO : 0;

cleanup:
	pprof_view__free(&v);
	return err;
}

/* One record of Go's heap text: sampled counts, as Go prints them. */
/* One record of Go's legacy text profiles, after its values: " @ pc pc...",
 * a "#" line per frame, its labels as a comment, and a blank line. */
static void record_frames(const Perftools__Profiles__Profile *p, struct pprof_view *v,
			  const Perftools__Profiles__Sample *s, FILE *out)
{
	fputs(" @", out);
	for (size_t j = 0; j < s->n_location_id; j++) {
		const Perftools__Profiles__Location *loc = pview_loc(v, s->location_id[j]);

		fprintf(out, " %#" PRIx64, loc ? loc->address : 0);
	}
	fputc('\n', out);
	for (size_t j = 0; j < s->n_location_id; j++) {
		const Perftools__Profiles__Location *loc = pview_loc(v, s->location_id[j]);

		for (size_t k = 0; loc && k < loc->n_line; k++) {
			const Perftools__Profiles__Line *line = loc->line[k];
			const Perftools__Profiles__Function *f = line ?
				pview_func(v, line->function_id) : NULL;
			const char *name = line_function(v, line);
			const char *file = f ? pstr(p, f->filename) : NULL;

			fprintf(out, "#\t%#" PRIx64 "\t%s\t%s:%" PRId64 "\n", loc->address,
				name ? name : "?", file && *file ? file : "?", line ? line->line : 0);
		}
	}
	if (s->n_label) {
		fputc('#', out);	/* a comment to Go's readers */
		text_labels(p, s, out);
	}
	fputc('\n', out);
}

struct heap_rec {
	const Perftools__Profiles__Sample *s;
	int64_t inuse_n, inuse_b, alloc_n, alloc_b;
};

static int heap_rec_cmp(const void *a, const void *b)
{
	const struct heap_rec *x = a, *y = b;

	return x->inuse_b < y->inuse_b ? 1 : x->inuse_b > y->inuse_b ? -1 :
	       x->alloc_b < y->alloc_b ? 1 : x->alloc_b > y->alloc_b ? -1 : 0;
}

/* Back to what was sampled: a value unsampled with Go's formula for
 * blocks of size bytes at rate, times 1 - exp(-size / rate). */
static int64_t heap_sampled(int64_t v, int64_t size, int64_t rate)
{
	if (rate <= 1 || size <= 0)
		return v;
	return (int64_t)llround((double)v * -expm1(-(double)size / (double)rate));
}

int pprof__heap_text(const Perftools__Profiles__Profile *p, FILE *out)
{
	int ao = pprof__sample_index(p, "alloc_objects"), as = pprof__sample_index(p, "alloc_space");
	int io = pprof__sample_index(p, "inuse_objects"), is = pprof__sample_index(p, "inuse_space");
	struct heap_rec *recs = NULL, tot = { 0 };
	struct pprof_view v = {};
	size_t n = 0, i, j;
	int err = -EINVAL;

	if (!p || !out || ao < 0 || as < 0 || io < 0 || is < 0)
		return -EINVAL;
	err = pprof_view__init(&v, p);
	if (err)
		return err;
	recs = zalloc(p->n_sample + 1, sizeof(*recs));
	if (!recs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		int64_t size = 0;

		if (!s || s->n_value <= (size_t)is)
			continue;
		for (j = 0; j < s->n_label; j++)
			if (s->label[j] && !strcmp(pstr(p, s->label[j]->key), "bytes"))
				size = s->label[j]->num;
		recs[n] = (struct heap_rec){ .s = s,
			.inuse_n = heap_sampled(s->value[io], size, p->period),
			.inuse_b = heap_sampled(s->value[is], size, p->period),
			.alloc_n = heap_sampled(s->value[ao], size, p->period),
			.alloc_b = heap_sampled(s->value[as], size, p->period) };
		tot.inuse_n += recs[n].inuse_n;
		tot.inuse_b += recs[n].inuse_b;
		tot.alloc_n += recs[n].alloc_n;
		tot.alloc_b += recs[n].alloc_b;
		n++;
	}
	qsort(recs, n, sizeof(*recs), heap_rec_cmp);
	/* Go writes twice the rate there, for its old tools */
	fprintf(out, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap/%" PRId64 "\n",
		tot.inuse_n, tot.inuse_b, tot.alloc_n, tot.alloc_b, 2 * p->period);
	for (i = 0; i < n; i++) {
		const Perftools__Profiles__Sample *s = recs[i].s;

		fprintf(out, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "]", recs[i].inuse_n,
			recs[i].inuse_b, recs[i].alloc_n, recs[i].alloc_b);
		record_frames(p, &v, s, out);
	}
	err = ferror(out) ? -EIO : 0;
cleanup:
	free(recs);
	pprof_view__free(&v);
	return err;
}

struct contention_rec {
	const Perftools__Profiles__Sample *s;
	int64_t count, delay;
};

static int contention_rec_cmp(const void *a, const void *b)
{
	const struct contention_rec *x = a, *y = b;

	return x->delay < y->delay ? 1 : x->delay > y->delay ? -1 :
	       x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

int pprof__contention_text(const Perftools__Profiles__Profile *p, bool mutex, FILE *out)
{
	int ci = pprof__sample_index(p, "contentions"), di = pprof__sample_index(p, "delay");
	struct contention_rec *recs = NULL;
	struct pprof_view v = {};
	size_t n = 0;
	int err;

	if (!p || !out || ci < 0 || di < 0)
		return -EINVAL;
	err = pprof_view__init(&v, p);
	if (err)
		return err;
	recs = zalloc(p->n_sample + 1, sizeof(*recs));
	if (!recs) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (s && s->n_value > (size_t)ci && s->n_value > (size_t)di)
			recs[n++] = (struct contention_rec){ .s = s, .count = s->value[ci],
							     .delay = s->value[di] };
	}
	qsort(recs, n, sizeof(*recs), contention_rec_cmp);
	/* delays are in ns: a cycle is a nanosecond */
	fputs("--- contention:\ncycles/second=1000000000\n", out);
	if (mutex)
		fprintf(out, "sampling period=%" PRId64 "\n", p->period ? p->period : 1);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%" PRId64 " %" PRId64, recs[i].delay, recs[i].count);
		record_frames(p, &v, recs[i].s, out);
	}
	err = ferror(out) ? -EIO : 0;
cleanup:
	free(recs);
	pprof_view__free(&v);
	return err;
}
