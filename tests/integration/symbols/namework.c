/* Spends its time in the vDSO (clock_gettime, answered without a system
 * call) and in malloc and free, functions with several names each, so that
 * the names a profile gives them can be checked. Runs for argv[1] seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* called through pointers: the compiler may not drop a malloc/free pair */
static void *(*volatile alloc)(size_t) = malloc;
static void (*volatile release)(void *) = free;

int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	unsigned long n = 0;
	struct timespec ts;

	printf("pid %d\n", getpid());
	fflush(stdout);
	while (time(NULL) < end) {
		for (int i = 0; i < 1000; i++) {
			void *p;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			p = alloc(64 + (size_t)(i & 255));
			n += (unsigned long)ts.tv_nsec & 1;
			release(p);
		}
	}
	return (int)(n & 1);
}
