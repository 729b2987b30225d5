#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "hashmap.h"

/* Slots are [used byte][pad][key][value], each slot aligned to 8 bytes. */
struct hashmap {
	size_t key_size, value_size, slot_size;
	size_t cap;			/* power of two */
	size_t count;
	unsigned char *slots;
};

#define MIN_CAP 16

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

uint64_t hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len;
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = mix(h ^ w);
		p += 8;
		len -= 8;
	}
	if (len) {
		w = 0;
		memcpy(&w, p, len);
		h = mix(h ^ w);
	}
	return h;
}

static inline unsigned char *slot(const struct hashmap *h, size_t i)
{
	return h->slots + i * h->slot_size;
}

static inline void *slot_key(const struct hashmap *h, unsigned char *s)
{
	(void)h;
	return s + 8;
}

static inline void *slot_value(const struct hashmap *h, unsigned char *s)
{
	return s + 8 + ((h->key_size + 7) & ~(size_t)7);
}

struct hashmap *hashmap__new(size_t key_size, size_t value_size)
{
	struct hashmap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->key_size = key_size;
	h->value_size = value_size;
	h->slot_size = 8 + ((key_size + 7) & ~(size_t)7) + ((value_size + 7) & ~(size_t)7);
	h->cap = MIN_CAP;
	h->slots = calloc(h->cap, h->slot_size);
	if (!h->slots) {
		free(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

/* Index of key's slot, or of the empty slot where it would go. */
static size_t probe(const struct hashmap *h, const void *key)
{
	size_t mask = h->cap - 1;
	size_t i = hash_bytes(key, h->key_size) & mask;

	for (;;) {
		unsigned char *s = slot(h, i);

		if (!s[0] || !memcmp(slot_key(h, s), key, h->key_size))
			return i;
		i = (i + 1) & mask;
	}
}

static int grow(struct hashmap *h)
{
	struct hashmap bigger = *h;

	bigger.cap = h->cap * 2;
	bigger.slots = calloc(bigger.cap, h->slot_size);
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < h->cap; i++) {
		unsigned char *s = slot(h, i);

		if (s[0])
			memcpy(slot(&bigger, probe(&bigger, slot_key(h, s))), s, h->slot_size);
	}
	free(h->slots);
	h->slots = bigger.slots;
	h->cap = bigger.cap;
	return 0;
}

void *hashmap__find(const struct hashmap *h, const void *key)
{
	unsigned char *s = slot(h, probe(h, key));

	return s[0] ? slot_value(h, s) : NULL;
}

void *hashmap__insert(struct hashmap *h, const void *key, bool *added)
{
	unsigned char *s;

	if (added)
		*added = false;
	/* keep the load under 70% so probes stay short */
	if ((h->count + 1) * 10 > h->cap * 7 && grow(h)) {
		errno = ENOMEM;
		return NULL;
	}
	s = slot(h, probe(h, key));
	if (!s[0]) {
		s[0] = 1;
		memcpy(slot_key(h, s), key, h->key_size);
		memset(slot_value(h, s), 0, h->value_size);
		h->count++;
		if (added)
			*added = true;
	}
	return slot_value(h, s);
}

bool hashmap__delete(struct hashmap *h, const void *key)
{
	size_t mask = h->cap - 1, i = probe(h, key), j = i;

	if (!slot(h, i)[0])
		return false;
	/* Backward-shift deletion: move later entries of the probe run into
	 * the hole when their home slot does not lie between the hole and
	 * them, so every remaining key is still found by probing. */
	for (;;) {
		unsigned char *s;
		size_t home;

		slot(h, i)[0] = 0;
		for (;;) {
			j = (j + 1) & mask;
			s = slot(h, j);
			if (!s[0])
				goto done;
			home = hash_bytes(slot_key(h, s), h->key_size) & mask;
			/* is home cyclically in (i, j]? then it stays */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		memcpy(slot(h, i), s, h->slot_size);
		i = j;
	}
done:
	h->count--;
	return true;
}

size_t hashmap__count(const struct hashmap *h)
{
	return h ? h->count : 0;
}

bool hashmap__next(const struct hashmap *h, size_t *iter, void **key, void **value)
{
	while (*iter < h->cap) {
		unsigned char *s = slot(h, (*iter)++);

		if (s[0]) {
			if (key)
				*key = slot_key(h, s);
			if (value)
				*value = slot_value(h, s);
			return true;
		}
	}
	return false;
}

size_t hashmap__mem(const struct hashmap *h)
{
	return h ? sizeof(*h) + h->cap * h->slot_size : 0;
}

void hashmap__free(struct hashmap *h)
{
	if (!h)
		return;
	free(h->slots);
	free(h);
}
