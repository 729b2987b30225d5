/* Allocations of known number and size, for the heap and allocs views. It
 * prints "pid N" and "ready", then waits for SIGUSR1 (so that a test can
 * attach the profiler first), does the work of its mode, prints the ground
 * truth and "done". SIGTERM ends it (exit 0) whenever it waits: before
 * SIGUSR1 with nothing printed, during the work once "done" is printed.
 *
 *   leaks known    each function below, in this order; then waits for SIGTERM
 *                  and exits 0
 *     leak_big        100 x malloc(1 MiB), kept (one byte a page written)
 *     leak_small      1000 x malloc(1 KiB), kept
 *     churn           1,000,000 x { malloc(64); write it; free }
 *     with_calloc     200 x calloc(16, 64), kept
 *     realloc_chain   50 x { p = realloc(NULL, 100); realloc(p, 200);
 *                     realloc(p, 400); realloc(p, 800) }: four allocations a
 *                     chain, each realloc freeing the block before; the last,
 *                     800 bytes, kept
 *     aligned         40 x posix_memalign(&p, 64, 4096), 40 x aligned_alloc(256,
 *                     8192), 40 x memalign(128, 2048), 10 x valloc(5000),
 *                     10 x pvalloc(100), all kept
 *     reallocarray_fn 30 x reallocarray(NULL, 10, 100), kept
 *                  one line each:
 *                  FUNC alloc_objects N alloc_bytes N inuse_objects N inuse_bytes N
 *   leaks exit     leak_big and churn as above, their two lines, "done", and
 *                  it exits 0 at once: a target that exits within a window
 *   leaks grow     grow_leak leaks malloc(1 MiB) every 100 ms (every page
 *                  written) while a thread "steady" does malloc(256), write,
 *                  free, 100,000 times a second; until SIGTERM, then
 *                  grow_leak alloc_objects N alloc_bytes N
 *                  steady alloc_objects N alloc_bytes N
 *                  "done", and it exits 0
 *   leaks dlopen   loads libtcmalloc_minimal.so.4 with dlopen, prints "loaded", waits
 *                  for SIGUSR1 again, then dl_leak calls tcmalloc's malloc
 *                  (through dlsym: the program's malloc stays glibc's) 50 x
 *                  100000 bytes, kept; its line, "done", waits for SIGTERM
 *
 * Sizes are the bytes asked for, not what the allocator rounds them to:
 * calloc counts n * size, reallocarray n * size, pvalloc 100, and each
 * realloc the new size. inuse is what is still allocated when the line is
 * printed, and stays so until the process exits. Each allocation is a call
 * from the function named, never a tail call, and every block is written,
 * so that no compiler leaves one out. Built with glibc's malloc, and as
 * leaks-jemalloc and leaks-tcmalloc with those. Neither has reallocarray:
 * glibc's runs, and tail-calls realloc through the PLT, theirs. jemalloc has
 * no pvalloc: glibc's runs, from glibc's own heap. Entry points that call
 * others (glibc's realloc(NULL, n) tail-calls malloc; tcmalloc's
 * posix_memalign, valloc and pvalloc its memalign) and names that share an
 * address (glibc's memalign and aligned_alloc; tcmalloc's free and operator
 * delete, memalign and aligned_alloc) are the profiler's to count once.
 * usage: leaks known|exit|grow */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define PAGE 4096

struct truth {
	long long alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
};

/* every block kept, by function */
static void *big[100], *small[1000], *zeroed[200], *chains[50], *reallocs[30];
static void *memaligned[40], *aligned_allocs[40], *memaligns[40], *vallocs[10], *pvallocs[10];
/* grow mode's blocks, each holding the one before */
static void *grown;
static volatile int stop;
static sigset_t sigs;

/* the compiler must take p as used: a block written and freed is still
 * allocated */
#define escape(p) asm volatile("" : : "r"(p) : "memory")
/* and must not know p's value: realloc(NULL, n) stays a realloc */
#define hide(p) asm volatile("" : "+r"(p))

static void fail(const char *what)
{
	fprintf(stderr, "leaks: %s failed\n", what);
	exit(1);
}

/* A block of n bytes allocated; kept unless freed later (freed()). */
static void allocated(struct truth *t, size_t n)
{
	t->alloc_objects++;
	t->alloc_bytes += n;
	t->inuse_objects++;
	t->inuse_bytes += n;
}

static void freed(struct truth *t, size_t n)
{
	t->inuse_objects--;
	t->inuse_bytes -= n;
}

static void print_truth(const char *fn, const struct truth *t)
{
	printf("%s alloc_objects %lld alloc_bytes %lld inuse_objects %lld inuse_bytes %lld\n",
	       fn, t->alloc_objects, t->alloc_bytes, t->inuse_objects, t->inuse_bytes);
}

static void touch_pages(char *p, size_t n)
{
	for (size_t off = 0; off < n; off += PAGE)
		p[off] = 1;
	escape(p);
}

__attribute__((noinline)) static void leak_big(struct truth *t)
{
	for (int i = 0; i < 100; i++) {
		char *p = malloc(MiB);

		if (!p)
			fail("malloc");
		touch_pages(p, MiB);
		big[i] = p;
		allocated(t, MiB);
	}
}

__attribute__((noinline)) static void leak_small(struct truth *t)
{
	for (int i = 0; i < 1000; i++) {
		char *p = malloc(1024);

		if (!p)
			fail("malloc");
		p[0] = 1;
		small[i] = p;
		allocated(t, 1024);
	}
}

/* No calls in the loop but malloc and free: a million of each */
__attribute__((noinline)) static void churn(struct truth *t)
{
	int n = 1000000;

	for (int i = 0; i < n; i++) {
		char *p = malloc(64);

		if (!p)
			fail("malloc");
		p[0] = (char)i;
		escape(p);
		free(p);
	}
	t->alloc_objects += n;
	t->alloc_bytes += 64LL * n;
}

__attribute__((noinline)) static void with_calloc(struct truth *t)
{
	for (int i = 0; i < 200; i++) {
		char *p = calloc(16, 64);

		if (!p)
			fail("calloc");
		p[0] = 1;
		zeroed[i] = p;
		allocated(t, 16 * 64);
	}
}

__attribute__((noinline)) static void realloc_chain(struct truth *t)
{
	for (int i = 0; i < 50; i++) {
		char *p = NULL;
		size_t n = 0;

		hide(p);
		for (size_t want = 100; want <= 800; want *= 2) {
			char *q = realloc(p, want);

			if (!q)
				fail("realloc");
			q[want - 1] = 1;
			escape(q);
			if (p)
				freed(t, n);
			allocated(t, want);
			p = q;
			n = want;
		}
		chains[i] = p;
	}
}

__attribute__((noinline)) static void aligned(struct truth *t)
{
	char *p;

	for (int i = 0; i < 40; i++) {
		void *v;

		if (posix_memalign(&v, 64, 4096))
			fail("posix_memalign");
		p = v;
		p[0] = 1;
		memaligned[i] = p;
		allocated(t, 4096);
	}
	for (int i = 0; i < 40; i++) {
		p = aligned_alloc(256, 8192);
		if (!p)
			fail("aligned_alloc");
		p[0] = 1;
		aligned_allocs[i] = p;
		allocated(t, 8192);
	}
	for (int i = 0; i < 40; i++) {
		p = memalign(128, 2048);
		if (!p)
			fail("memalign");
		p[0] = 1;
		memaligns[i] = p;
		allocated(t, 2048);
	}
	for (int i = 0; i < 10; i++) {
		p = valloc(5000);
		if (!p)
			fail("valloc");
		p[0] = 1;
		vallocs[i] = p;
		allocated(t, 5000);
	}
	for (int i = 0; i < 10; i++) {
		p = pvalloc(100);
		if (!p)
			fail("pvalloc");
		p[0] = 1;
		pvallocs[i] = p;
		allocated(t, 100);
	}
	escape(p);
}

__attribute__((noinline)) static void reallocarray_fn(struct truth *t)
{
	for (int i = 0; i < 30; i++) {
		char *p = NULL;

		hide(p);
		p = reallocarray(p, 10, 100);
		if (!p)
			fail("reallocarray");
		p[0] = 1;
		reallocs[i] = p;
		allocated(t, 10 * 100);
	}
}

/* dlopen mode: tcmalloc loaded after the profiler attached, its malloc
 * called through dlsym (the program's own malloc stays glibc's) */
static void *(*late_malloc)(size_t);
static void *late_blocks[50];

__attribute__((noinline)) static void dl_leak(struct truth *t)
{
	for (int i = 0; i < 50; i++) {
		char *p = late_malloc(100000);

		if (!p)
			fail("tcmalloc's malloc");
		p[0] = 1;
		late_blocks[i] = p;
		allocated(t, 100000);
	}
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* 1,000 allocations every 10 ms, on a schedule of absolute times, until
 * stop: 100,000 a second. */
__attribute__((noinline)) static void steady(struct truth *t)
{
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!stop) {
		for (int i = 0; i < 1000; i++) {
			char *p = malloc(256);

			if (!p)
				fail("malloc");
			p[0] = (char)i;
			escape(p);
			free(p);
		}
		t->alloc_objects += 1000;
		t->alloc_bytes += 1000 * 256;
		next.tv_nsec += 10000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}

static void *steady_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "steady");
	steady(arg);
	return NULL;
}

/* A MiB every 100 ms until SIGTERM. */
__attribute__((noinline)) static void grow_leak(struct truth *t)
{
	sigset_t term;
	long long next = now_ns();

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	for (;;) {
		char *p = malloc(MiB);
		struct timespec ts;
		long long left;

		if (!p)
			fail("malloc");
		touch_pages(p, MiB);
		*(void **)p = grown;
		grown = p;
		allocated(t, MiB);
		next += 100000000LL;
		left = next - now_ns();
		if (left < 0)
			left = 0;
		ts.tv_sec = left / 1000000000LL;
		ts.tv_nsec = left % 1000000000LL;
		if (sigtimedwait(&term, NULL, &ts) == SIGTERM)
			break;
	}
}

/* Waits for sig; SIGTERM, meanwhile, ends the process (exit 0), so that
 * a test that gives up on it can still stop it. */
static void wait_for(int sig)
{
	sigset_t set;
	int got = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	do {
		if (sigwait(&set, &got))
			continue;
		if (got == SIGTERM)
			exit(0);
	} while (got != sig);
}

int main(int argc, char **argv)
{
	struct truth t_big = {0}, t_small = {0}, t_churn = {0}, t_calloc = {0};
	struct truth t_realloc = {0}, t_aligned = {0}, t_reallocarray = {0};
	struct truth t_grow = {0}, t_steady = {0};
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t th;

	/* before anything: a signal sent early waits for its sigwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	if (strcmp(mode, "known") && strcmp(mode, "exit") && strcmp(mode, "grow") &&
	    strcmp(mode, "dlopen")) {
		fprintf(stderr, "usage: leaks known|exit|grow|dlopen\n");
		return 2;
	}
	printf("pid %d\nready\n", getpid());
	fflush(stdout);
	wait_for(SIGUSR1);

	if (!strcmp(mode, "dlopen")) {
		struct truth t_dl = {0};
		void *lib = dlopen("libtcmalloc_minimal.so.4", RTLD_NOW | RTLD_LOCAL);

		late_malloc = lib ? (void *(*)(size_t))dlsym(lib, "malloc") : NULL;
		if (!late_malloc)
			fail("dlopen libtcmalloc_minimal.so.4");
		printf("loaded\n");
		fflush(stdout);
		wait_for(SIGUSR1);
		dl_leak(&t_dl);
		print_truth("dl_leak", &t_dl);
		printf("done\n");
		fflush(stdout);
		wait_for(SIGTERM);
		return 0;
	}
	if (!strcmp(mode, "grow")) {
		if (pthread_create(&th, NULL, steady_thread, &t_steady))
			fail("pthread_create");
		grow_leak(&t_grow);
		stop = 1;
		pthread_join(th, NULL);
		printf("grow_leak alloc_objects %lld alloc_bytes %lld\n",
		       t_grow.alloc_objects, t_grow.alloc_bytes);
		printf("steady alloc_objects %lld alloc_bytes %lld\n",
		       t_steady.alloc_objects, t_steady.alloc_bytes);
		printf("done\n");
		fflush(stdout);
		return 0;
	}

	leak_big(&t_big);
	if (!strcmp(mode, "known"))
		leak_small(&t_small);
	churn(&t_churn);
	if (!strcmp(mode, "known")) {
		with_calloc(&t_calloc);
		realloc_chain(&t_realloc);
		aligned(&t_aligned);
		reallocarray_fn(&t_reallocarray);
	}
	print_truth("leak_big", &t_big);
	if (!strcmp(mode, "known"))
		print_truth("leak_small", &t_small);
	print_truth("churn", &t_churn);
	if (!strcmp(mode, "known")) {
		print_truth("with_calloc", &t_calloc);
		print_truth("realloc_chain", &t_realloc);
		print_truth("aligned", &t_aligned);
		print_truth("reallocarray_fn", &t_reallocarray);
	}
	printf("done\n");
	fflush(stdout);
	if (!strcmp(mode, "exit"))
		return 0;
	wait_for(SIGTERM);
	return 0;
}
