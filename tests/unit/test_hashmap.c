/* The hash map against a plain array as the model: random inserts and
 * deletes (deletes shift entries back), then every key checked. */
#include <stdlib.h>
#include "check.h"
#include "hashmap.h"

#define KEYS 20000

int main(void)
{
	static unsigned char present[KEYS];
	struct hashmap *h = hashmap__new(sizeof(unsigned long), sizeof(unsigned long));
	int wrong_delete = 0, wrong_find = 0;
	unsigned long k, *v;
	size_t n = 0;

	srand(1);
	for (int r = 0; r < 200000; r++) {
		k = rand() % KEYS;
		if (rand() % 2) {
			v = hashmap__insert(h, &k, NULL);
			*v = k * 3;
			present[k] = 1;
		} else {
			wrong_delete += hashmap__delete(h, &k) != present[k];
			present[k] = 0;
		}
	}
	for (k = 0; k < KEYS; k++) {
		v = hashmap__find(h, &k);
		wrong_find += !!v != present[k] || (v && *v != k * 3);
		n += present[k];
	}
	CHECK(!wrong_delete, "hashmap: delete says whether the key was there", "%d wrong", wrong_delete);
	CHECK(!wrong_find, "hashmap: every key found after 200,000 inserts and deletes",
	      "%d wrong", wrong_find);
	CHECK(n == hashmap__count(h), "hashmap: count", "%zu, not %zu", hashmap__count(h), n);
	hashmap__free(h);
	return CHECK_EXIT();
}
