// The workload of tests/bench/heap.sh: malloc+free pairs through glibc, timed.
//
//   mallocbench PAIRS
//
// Prints "ready PID" and the addresses of the allocator's entry points in it
// (SITE=ADDR ...), and waits for SIGUSR1 (the bench attaches its probes in
// between); then, PAIRS times, calls malloc(s) and free() of the block,
// s cycling through SIZES (16 to 4096 bytes, mean 1091.2), and prints
//   pairs N wall_ns W cpu_ns C ns_per_pair X cpu_ns_per_pair Y probed SITES
// with the loop's time by CLOCK_MONOTONIC (W) and by the thread's CPU clock
// (C, which leaves out the time waiting for a CPU; a uprobe's cost, paid in
// the kernel on the thread's behalf, is in both), and the SITES (comma-
// separated, or "none") that held a breakpoint, an int3 byte (0xcc), at any
// of the checks made before, every 65536 pairs during and after the loop: a
// uprobe writes one into the process's copy of the page, so the process sees
// which of its entry points are probed, by anyone (x86 only).
//
// Each block is written to and its address kept in a volatile, so that the
// compiler cannot drop the pair; malloc and free are called through the PLT,
// into libc.so.6, where the probes are.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const size_t SIZES[] = { 16, 64, 256, 1024, 4096 };	// mean 1091.2 bytes
#define NR_SIZES (sizeof(SIZES) / sizeof(SIZES[0]))

static void *volatile sink;

// the entry points whose probes the bench looks for: free+3 is the jump after
// free's first instruction (test, which the kernel would single-step)
static const struct site {
	const char *name, *sym;
	unsigned int off;
} SITES[] = {
	{ "malloc", "malloc", 0 }, { "free", "free", 0 }, { "free+3", "free", 3 },
	{ "calloc", "calloc", 0 }, { "realloc", "realloc", 0 },
};
#define NR_SITES (sizeof(SITES) / sizeof(SITES[0]))
static const volatile unsigned char *site_addr[NR_SITES];

// the sites holding an int3 now, as a bit mask
static unsigned int probed(void)
{
	unsigned int i, m = 0;

	for (i = 0; i < NR_SITES; i++)
		if (site_addr[i] && *site_addr[i] == 0xcc)
			m |= 1u << i;
	return m;
}

static uint64_t clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long long pairs, i;
	uint64_t w0, w1, c0, c1;
	unsigned int mask;
	sigset_t set;
	char *end;
	int sig;

	if (argc != 2) {
		fprintf(stderr, "usage: mallocbench PAIRS\n");
		return 2;
	}
	errno = 0;
	pairs = strtoull(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || !pairs) {
		fprintf(stderr, "mallocbench: %s: expected a number of pairs above 0\n", argv[1]);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("mallocbench: sigprocmask");
		return 1;
	}
	// warm the allocator's caches (tcache, the top chunk) before the probes
	for (i = 0; i < 1000; i++) {
		char *p = malloc(SIZES[i % NR_SIZES]);
		p[0] = (char)i;
		sink = p;
		free(p);
	}
	printf("ready %d", (int)getpid());
	for (i = 0; i < NR_SITES; i++) {
		const unsigned char *p = dlsym(RTLD_DEFAULT, SITES[i].sym);

		site_addr[i] = p ? p + SITES[i].off : NULL;
		printf(" %s=%p", SITES[i].name, (const void *)site_addr[i]);
	}
	printf("\n");
	fflush(stdout);
	if (sigwait(&set, &sig)) {
		fprintf(stderr, "mallocbench: sigwait failed\n");
		return 1;
	}

	mask = probed();
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (i = 0; i < pairs; i++) {
		char *p = malloc(SIZES[i % NR_SIZES]);
		if (!p) {
			fprintf(stderr, "mallocbench: malloc failed\n");
			return 1;
		}
		p[0] = (char)i;
		sink = p;
		free(p);
		if (!(i & 0xffff))
			mask |= probed();
	}
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w1 = clock_ns(CLOCK_MONOTONIC);
	mask |= probed();
	printf("pairs %llu wall_ns %llu cpu_ns %llu ns_per_pair %.2f cpu_ns_per_pair %.2f probed ", pairs,
	       (unsigned long long)(w1 - w0), (unsigned long long)(c1 - c0),
	       (double)(w1 - w0) / (double)pairs, (double)(c1 - c0) / (double)pairs);
	for (i = 0; i < NR_SITES; i++)
		if (mask & (1u << i))
			printf("%s%s", mask & ((1u << i) - 1) ? "," : "", SITES[i].name);
	printf("%s\n", mask ? "" : "none");
	return 0;
}
