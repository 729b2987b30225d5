/* An open-addressing hash map with fixed-size keys and values stored inline.
 * Pointers it returns stay valid only until the next insert. Not thread-safe. */
#ifndef CPROF_HASHMAP_H
#define CPROF_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap;

/* NULL and errno on failure. Keys are compared bytewise: zero their padding. */
struct hashmap *hashmap__new(size_t key_size, size_t value_size);
/* The value stored for key, or NULL. */
void *hashmap__find(const struct hashmap *h, const void *key);
/* The value for key, inserted zeroed when new (*added set to true); NULL and
 * errno ENOMEM when the map cannot grow. */
void *hashmap__insert(struct hashmap *h, const void *key, bool *added);
/* Remove key; true when it was there. Invalidates pointers into the map. */
bool hashmap__delete(struct hashmap *h, const void *key);
size_t hashmap__count(const struct hashmap *h);
/* Iterate: size_t it = 0; while (hashmap__next(h, &it, &k, &v)) ... */
bool hashmap__next(const struct hashmap *h, size_t *iter, void **key, void **value);
size_t hashmap__mem(const struct hashmap *h);
void hashmap__free(struct hashmap *h);

uint64_t hash_bytes(const void *data, size_t len);

#endif /* CPROF_HASHMAP_H */
