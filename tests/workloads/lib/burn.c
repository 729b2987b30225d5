/* A library loaded with dlopen by tests/workloads/dlopen.c, built without
 * frame pointers: its frames unwind only if cprofd builds its table after
 * the process has started. */
#include <time.h>

static volatile unsigned long sink;

__attribute__((noipa)) void lib_leaf(void)
{
	for (int i = 0; i < 100000; i++)
		sink += i * 7;
}

__attribute__((noipa)) void lib_middle(void)
{
	lib_leaf();
	sink++;
}

__attribute__((noipa)) void burn_in_lib(double seconds)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		lib_middle();
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
}
