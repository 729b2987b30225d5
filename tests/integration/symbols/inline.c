/* A CPU-bound loop whose hot code is inlined two levels deep (inline.h),
 * built -O2 -g by tests/integration/symbols.sh. Runs for argv[1] seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "inline.h"

/* Builds that differ only here get different build ids. */
#ifndef VARIANT
#define VARIANT 1
#endif

__attribute__((noinline)) unsigned long outer(unsigned long x)
{
	for (int i = 0; i < 1000; i++)
		x = middle_step(x);
	return x;
}

int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	unsigned long x = VARIANT;

	printf("pid %d\n", getpid());
	fflush(stdout);
	while (time(NULL) < end)
		x = outer(x);
	sink = x;
	return 0;
}
