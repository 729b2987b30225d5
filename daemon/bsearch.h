/* Binary search over arrays sorted by a uint64_t address field: what every
 * "which symbol / mapping / range holds this address" lookup needs. */
#ifndef CPROF_BSEARCH_H
#define CPROF_BSEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The number of leading elements whose key is <= addr, i.e. the index after
 * the last such element (0: none). key_off is offsetof() the sorted key. */
static inline size_t upper_bound_u64(const void *base, size_t n, size_t size, size_t key_off,
				     uint64_t addr)
{
	const unsigned char *b = base;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;

		memcpy(&key, b + mid * size + key_off, sizeof(key));
		if (key <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#endif /* CPROF_BSEARCH_H */
