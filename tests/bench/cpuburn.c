// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cpuburn: a fixed amount of CPU-bound work on T threads, for the benchmark.
 *
 *   cpuburn ROUNDS [THREADS]
 *
 * THREADS (default 2) threads named burn-N each run ROUNDS rounds; a round
 * calls three named stages (about 45% hash_chain, 37% crc_chain, 18%
 * collatz_walk of the time), so profiles have a known shape:
 * start_thread -> burn_thread -> stage. The work is fixed, not the time: a
 * slower run means the threads got less CPU. Build with -O2
 * -fno-omit-frame-pointer. Prints one line: the checksum (so that the work
 * cannot be optimized away) and the process's own user and system CPU
 * seconds, "checksum HEX user SECONDS sys SECONDS". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define NOINLINE __attribute__((noinline, noclone))

struct burner {
	pthread_t thread;
	unsigned long rounds;
	uint64_t seed, result;
};

/* Each stage ends by calling this, so that the stages are not leaf
 * functions: GCC 12 drops the frame pointer of leaves even with
 * -mno-omit-leaf-frame-pointer, which would hide burn_thread in profiles. */
static NOINLINE uint64_t fold(uint64_t x, uint64_t y)
{
	return x ^ (y << 1);
}

/* splitmix64 steps, each depending on the one before */
static NOINLINE uint64_t hash_chain(uint64_t x, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
		x ^= x >> 31;
	}
	return fold(x, n);
}

/* bitwise CRC-32 of n bytes drawn from x */
static NOINLINE uint64_t crc_chain(uint64_t x, unsigned n)
{
	uint32_t crc = ~0u;

	for (unsigned i = 0; i < n; i++) {
		crc ^= (uint8_t)(x >> (8 * (i & 7)));
		for (int b = 0; b < 8; b++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	}
	return fold(x, crc);
}

/* Collatz walks: branchy, data-dependent control flow */
static NOINLINE uint64_t collatz_walk(uint64_t x, unsigned n)
{
	uint64_t steps = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t v = (x >> 40) + i + 1;

		while (v != 1) {
			v = (v & 1) ? 3 * v + 1 : v >> 1;
			steps++;
		}
	}
	return fold(x, steps);
}

static void *burn_thread(void *arg)
{
	struct burner *b = arg;
	uint64_t acc = b->seed;

	for (unsigned long r = 0; r < b->rounds; r++) {
		acc = hash_chain(acc, 4000);
		acc = crc_chain(acc, 1200);
		acc = collatz_walk(acc, 30);
	}
	b->result = acc;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long rounds, nthreads = 2;
	struct burner *b;
	uint64_t sum = 0;
	struct rusage ru;
	char *end;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: cpuburn ROUNDS [THREADS]\n");
		return 2;
	}
	rounds = strtoul(argv[1], &end, 10);
	if (*end || !rounds) {
		fprintf(stderr, "cpuburn: bad ROUNDS '%s'\n", argv[1]);
		return 2;
	}
	if (argc == 3) {
		nthreads = strtoul(argv[2], &end, 10);
		if (*end || !nthreads || nthreads > 256) {
			fprintf(stderr, "cpuburn: bad THREADS '%s'\n", argv[2]);
			return 2;
		}
	}
	b = calloc(nthreads, sizeof(*b));
	if (!b)
		return 1;
	for (unsigned long i = 0; i < nthreads; i++) {
		char name[16];

		b[i].rounds = rounds;
		b[i].seed = 0x1234567ULL * (i + 1);
		if (pthread_create(&b[i].thread, NULL, burn_thread, &b[i])) {
			perror("cpuburn: pthread_create");
			return 1;
		}
		snprintf(name, sizeof(name), "burn-%lu", i);
		pthread_setname_np(b[i].thread, name);
	}
	for (unsigned long i = 0; i < nthreads; i++) {
		pthread_join(b[i].thread, NULL);
		sum ^= b[i].result;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("checksum %016llx user %ld.%06ld sys %ld.%06ld\n", (unsigned long long)sum,
	       (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec,
	       (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec);
	free(b);
	return 0;
}
