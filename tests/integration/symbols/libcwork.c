/* Spends its time inside libc (qsort, memcpy, strlen), so libc's frames can
 * be checked against its debug file (libc6-dbg). Runs for argv[1] seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	static unsigned v[4096];
	static char a[1 << 16], b[1 << 16];
	volatile size_t n = 0;

	memset(a, 'x', sizeof(a) - 1);
	printf("pid %d\n", getpid());
	fflush(stdout);
	while (time(NULL) < end) {
		for (unsigned i = 0; i < 4096; i++)
			v[i] = i * 2654435761u;
		qsort(v, 4096, sizeof(v[0]), cmp);
		memcpy(b, a, sizeof(a));
		n += strlen(b);
	}
	return (int)(n & 1);
}
