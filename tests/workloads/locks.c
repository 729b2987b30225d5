/* Threads that wait for locks in known ways, for the block and mutex views
 * (futex waits, on the waiters' stacks and on the releasers'). It prints
 * "pid N" and "ready", then waits for SIGUSR1 (so that a test can attach the
 * profiler first), does the work of its mode, prints the ground truth and
 * "done", then waits for SIGTERM and exits 0 (so that a test can read the
 * profile while the process is there). SIGTERM before SIGUSR1 ends it too.
 * Every thread measures its own waits (CLOCK_MONOTONIC around the lock
 * call); a lock call is "contended" when a trylock just before it found the
 * lock held (the lock call then runs; the time is taken around both).
 *
 *   locks mutex [ITER]       (default 1500: about 3.3 s on 2 CPUs)
 *     hold_long      two threads (hold_long0, hold_long1), ITER times each:
 *                    pthread_mutex_lock, busy 1 ms, pthread_mutex_unlock
 *     hold_short     two threads (hold_short2, hold_short3), ITER times each:
 *                    the same mutex, busy 10 us
 *                    all four, between iterations: busy 50 us, unlocked
 *     lock_addr 0x...            the mutex (its futex word: its first int)
 *     lock_size N
 *     waited_ns N                all four threads' time in their lock calls
 *     held_long_ns N             time held by hold_long (both threads)
 *     held_short_ns N            ... by hold_short
 *     hold_long calls N contended N waited_ns N held_ns N
 *     hold_short calls N contended N waited_ns N held_ns N
 *                                by the waiters' function (the block view)
 *     behind_hold_long_ns N      of the contended calls' waits: the time a
 *     behind_hold_short_ns N     hold_long (a hold_short) thread held the
 *     behind_nobody_ns N         lock, and the time none did (hand-offs:
 *                                woken, not yet running). The mutex view
 *                                blames a wait on the thread whose unlock
 *                                woke it, so it gives most to hold_long
 *                                too, but not these figures exactly: a
 *                                waiter that sleeps through several holds
 *                                is blamed on the last.
 *   locks cond [MS]          (default 300)
 *     cond_waiter    locks a mutex and pthread_cond_waits, in a predicate
 *                    loop, until cond_signaller (main) signals it MS ms
 *                    after the start, after unlocking the mutex (the waiter
 *                    does not wait for the mutex again)
 *     plain_sleeper  nanosleep 100 ms: no futex, not in the block view
 *                    (cond_waiter's unlock makes a futex wake that wakes no
 *                    one: glibc takes the mutex back from a condition wait
 *                    marked contended)
 *     cond_addr 0x...            the condition variable (its futex words
 *     cond_size N                are inside it)
 *     cond_waited_ns N           cond_waiter's time from lock to unlock
 *     plain_slept_ns N
 *   locks rwlock [ITER]      (default 1500: about 3 s)
 *     rw_writer      ITER times: pthread_rwlock_wrlock, busy 1 ms, unlock,
 *                    then busy 1 ms unlocked
 *     rw_reader      two threads (rw_reader0, rw_reader1), until rw_writer is
 *                    done: pthread_rwlock_rdlock, busy 10 us, unlock, then
 *                    nanosleep 100 us (glibc's default rwlock prefers
 *                    readers: the writer waits little, the readers most)
 *     lock_addr 0x...            the rwlock (its futex words are inside it)
 *     lock_size N
 *     waited_ns N                the three threads' time in lock calls
 *     rw_writer calls N contended N waited_ns N held_ns N
 *     rw_reader calls N contended N waited_ns N held_ns N   (both readers)
 *   locks uncontended [N]    (default 10,000,000)
 *     uncontended_loop  one thread (uncontended): N pairs of
 *                    pthread_mutex_lock and unlock of its own mutex, never
 *                    a futex call
 *     pairs N
 *     elapsed_ns N               the loop's, wall clock
 *     cpu_ns N                   the loop's, the thread's CPU clock
 *     ns_per_pair X              elapsed_ns / N
 *     best_ns_per_pair X         the fastest batch of a million pairs, by
 *                                the thread's CPU clock (N >= a million)
 *   locks contended [SECONDS]  (default 5)
 *     contended_loop four threads (contended0 to 3) for SECONDS: lock one
 *                    mutex, increment a counter and about 200 ns of work,
 *                    unlock; again at once
 *     ops N                      lock-unlock pairs, all four
 *     ops_per_sec X              ops / elapsed_ns
 *     voluntary_switches N       the process's (getrusage): a rough count
 *                                of the futex waits that slept
 *                    From run to run ops_per_sec moves by 10-40%: glibc's
 *                    mutex under this load keeps, for seconds, either
 *                    waiters asleep or a storm of futex waits that return at
 *                    once (EAGAIN), every unlock then a futex wake.
 *   then, but for uncontended, elapsed_ns N: from the start signal to the
 *   last thread's end (contended: to the stop); and "done". uncontended
 *   runs its loop again, and says the same again, at each SIGUSR1.
 *
 * No other futex waits: the threads start on an atomic flag, tell main they
 * are done through a pipe (pthread_join would wait on a futex, for
 * seconds) and then park in pause() until the process exits (a thread's
 * exit takes a lock of glibc's that threads ending together contend for),
 * and only main prints. The functions named call pthread's lock functions
 * themselves (no helper in between), and are never inlined or cloned.
 * usage: locks mutex|cond|rwlock|uncontended|contended [ARG] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef __clang__
#define NAMED __attribute__((noinline))
#else
#define NAMED __attribute__((noinline, noclone))
#endif

#define US 1000LL
#define MS (1000 * US)
#define SEC (1000 * MS)
#define MAX_THREADS 4

enum path { LONG, SHORT };

struct span {
	long long start, end;
	int path;
};

struct worker {
	char name[16];
	void (*fn)(struct worker *);
	long long iters;
	int path;
	/* ground truth */
	long long calls, contended, waited_ns, held_ns, ops;
	long long best_batch_ns;	/* uncontended: the fastest batch, CPU clock */
	struct span *holds, *waits;	/* mutex mode: every hold, every contended wait */
	long long nr_holds, nr_waits;
};

static atomic_int go, stop;
static int done_pipe[2];
static volatile unsigned long sink;

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int signalled;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_mutex_t hot_lock = PTHREAD_MUTEX_INITIALIZER;
static long long hot_counter;

static void fail(const char *what)
{
	fprintf(stderr, "locks: %s failed: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * SEC + ts.tv_nsec;
}

/* Busy for ns of wall time. */
NAMED static void spin(long long ns)
{
	long long end = now_ns(CLOCK_MONOTONIC) + ns;

	while (now_ns(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 20; i++)
			sink += i;
}

static void sleep_ns(long long ns)
{
	struct timespec ts = { ns / SEC, ns % SEC };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A lock call that started at t0 and returned at t1. */
static void waited(struct worker *w, int contended, long long t0, long long t1)
{
	w->calls++;
	w->waited_ns += t1 - t0;
	if (!contended)
		return;
	w->contended++;
	if (w->waits)
		w->waits[w->nr_waits++] = (struct span){ t0, t1, w->path };
}

/* The lock held from t0 to t1. */
static void held(struct worker *w, long long t0, long long t1)
{
	w->held_ns += t1 - t0;
	if (w->holds)
		w->holds[w->nr_holds++] = (struct span){ t0, t1, w->path };
}

/* ---- mutex ---------------------------------------------------------------- */

NAMED static void hold_long(struct worker *w)
{
	for (long long i = 0; i < w->iters; i++) {
		long long t0 = now_ns(CLOCK_MONOTONIC), t1, t2;
		int busy = pthread_mutex_trylock(&shared_lock) != 0;

		if (busy)
			pthread_mutex_lock(&shared_lock);
		t1 = now_ns(CLOCK_MONOTONIC);
		spin(1 * MS);
		t2 = now_ns(CLOCK_MONOTONIC);
		pthread_mutex_unlock(&shared_lock);
		waited(w, busy, t0, t1);
		held(w, t1, t2);
		spin(50 * US);
	}
}

NAMED static void hold_short(struct worker *w)
{
	for (long long i = 0; i < w->iters; i++) {
		long long t0 = now_ns(CLOCK_MONOTONIC), t1, t2;
		int busy = pthread_mutex_trylock(&shared_lock) != 0;

		if (busy)
			pthread_mutex_lock(&shared_lock);
		t1 = now_ns(CLOCK_MONOTONIC);
		spin(10 * US);
		t2 = now_ns(CLOCK_MONOTONIC);
		pthread_mutex_unlock(&shared_lock);
		waited(w, busy, t0, t1);
		held(w, t1, t2);
		spin(50 * US);
	}
}

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return (x->start > y->start) - (x->start < y->start);
}

/* Of each contended wait, the time each path held the lock, and the time
 * nobody did: behind[LONG], behind[SHORT], behind[2]. The holds are
 * disjoint (each is measured inside the lock), so sorted by start they are
 * sorted by end too. */
static void behind(struct worker *ws, int n, long long out[3])
{
	long long nr = 0, k = 0;
	struct span *all;

	for (int i = 0; i < n; i++)
		nr += ws[i].nr_holds;
	all = calloc(nr ? nr : 1, sizeof(*all));
	if (!all)
		fail("calloc");
	for (int i = 0; i < n; i++) {
		memcpy(all + k, ws[i].holds, ws[i].nr_holds * sizeof(*all));
		k += ws[i].nr_holds;
	}
	qsort(all, nr, sizeof(*all), by_start);
	out[0] = out[1] = out[2] = 0;
	for (int i = 0; i < n; i++) {
		for (long long j = 0; j < ws[i].nr_waits; j++) {
			const struct span *s = &ws[i].waits[j];
			long long lo = 0, hi = nr, covered = 0;

			while (lo < hi) {	/* the first hold ending after s starts */
				long long mid = lo + (hi - lo) / 2;

				if (all[mid].end <= s->start)
					lo = mid + 1;
				else
					hi = mid;
			}
			for (long long h = lo; h < nr && all[h].start < s->end; h++) {
				long long a = all[h].start > s->start ? all[h].start : s->start;
				long long b = all[h].end < s->end ? all[h].end : s->end;

				if (b > a) {
					out[all[h].path] += b - a;
					covered += b - a;
				}
			}
			out[2] += s->end - s->start - covered;
		}
	}
	free(all);
}

/* ---- cond ----------------------------------------------------------------- */

NAMED static void cond_waiter(struct worker *w)
{
	long long t0 = now_ns(CLOCK_MONOTONIC);

	pthread_mutex_lock(&cond_lock);
	while (!signalled)
		pthread_cond_wait(&cond, &cond_lock);
	pthread_mutex_unlock(&cond_lock);
	w->waited_ns = now_ns(CLOCK_MONOTONIC) - t0;
}

NAMED static void plain_sleeper(struct worker *w)
{
	long long t0 = now_ns(CLOCK_MONOTONIC);

	sleep_ns(100 * MS);
	w->held_ns = now_ns(CLOCK_MONOTONIC) - t0;
}

/* main, ms after the start */
NAMED static void cond_signaller(long long ms)
{
	sleep_ns(ms * MS);
	pthread_mutex_lock(&cond_lock);
	signalled = 1;
	pthread_mutex_unlock(&cond_lock);
	pthread_cond_signal(&cond);
	asm volatile("" : : : "memory");	/* not a tail call: its stack shows this function */
}

/* ---- rwlock --------------------------------------------------------------- */

NAMED static void rw_writer(struct worker *w)
{
	for (long long i = 0; i < w->iters; i++) {
		long long t0 = now_ns(CLOCK_MONOTONIC), t1, t2;
		int busy = pthread_rwlock_trywrlock(&rwlock) != 0;

		if (busy)
			pthread_rwlock_wrlock(&rwlock);
		t1 = now_ns(CLOCK_MONOTONIC);
		spin(1 * MS);
		t2 = now_ns(CLOCK_MONOTONIC);
		pthread_rwlock_unlock(&rwlock);
		waited(w, busy, t0, t1);
		held(w, t1, t2);
		spin(1 * MS);
	}
	atomic_store(&stop, 1);
}

NAMED static void rw_reader(struct worker *w)
{
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		long long t0 = now_ns(CLOCK_MONOTONIC), t1, t2;
		int busy = pthread_rwlock_tryrdlock(&rwlock) != 0;

		if (busy)
			pthread_rwlock_rdlock(&rwlock);
		t1 = now_ns(CLOCK_MONOTONIC);
		spin(10 * US);
		t2 = now_ns(CLOCK_MONOTONIC);
		pthread_rwlock_unlock(&rwlock);
		waited(w, busy, t0, t1);
		held(w, t1, t2);
		sleep_ns(100 * US);
	}
}

/* ---- uncontended, contended ---------------------------------------------- */

/* pairs a batch: the fastest batch's time is what the loop costs with
 * the least of the host's noise in it (a probe on the path would slow
 * every batch) */
#define UNCONTENDED_BATCH 1000000

/* uncontended's, a line of its own: where the stack falls moves from run to
 * run, and the time of the loop with it */
static pthread_mutex_t own_lock __attribute__((aligned(64))) = PTHREAD_MUTEX_INITIALIZER;

NAMED static void uncontended_loop(struct worker *w)
{
	long long t0, c0, cb, c;

	t0 = now_ns(CLOCK_MONOTONIC);
	c0 = cb = now_ns(CLOCK_THREAD_CPUTIME_ID);
	w->best_batch_ns = 0;
	for (long long i = 0; i < w->iters; i++) {
		pthread_mutex_lock(&own_lock);
		sink++;
		pthread_mutex_unlock(&own_lock);
		if ((i + 1) % UNCONTENDED_BATCH == 0) {
			c = now_ns(CLOCK_THREAD_CPUTIME_ID);
			if (!w->best_batch_ns || c - cb < w->best_batch_ns)
				w->best_batch_ns = c - cb;
			cb = c;
		}
	}
	w->held_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	w->waited_ns = now_ns(CLOCK_MONOTONIC) - t0;
	w->ops = w->iters;
}

/* about 200 ns: a chain of dependent multiplies (1.7 ns each, here) */
static void work(void)
{
	unsigned long x = sink;

	for (int i = 0; i < 115; i++) {
		x = x * 2862933555777941757UL + 3037000493UL;
		asm volatile("" : "+r"(x));
	}
	sink = x;
}

NAMED static void contended_loop(struct worker *w)
{
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		pthread_mutex_lock(&hot_lock);
		hot_counter++;
		work();
		pthread_mutex_unlock(&hot_lock);
		w->ops++;
	}
}

/* ---- threads -------------------------------------------------------------- */

static void *thread_main(void *arg)
{
	struct worker *w = arg;

	pthread_setname_np(pthread_self(), w->name);
	while (!atomic_load(&go))
		sched_yield();
	w->fn(w);
	if (write(done_pipe[1], "x", 1) != 1)
		fail("write");
	/* parked until the process exits: an exiting thread takes glibc's
	 * stack cache lock, which threads ending together contend for */
	for (;;)
		pause();
	return NULL;
}

/* Starts n detached threads, each on its ws[i].fn, and starts them all at
 * once: the start time. */
static long long start_threads(struct worker *ws, int n)
{
	pthread_attr_t attr;

	if (pipe(done_pipe))
		fail("pipe");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < n; i++) {
		pthread_t th;

		errno = pthread_create(&th, &attr, thread_main, &ws[i]);
		if (errno)
			fail("pthread_create");
	}
	pthread_attr_destroy(&attr);
	atomic_store(&go, 1);
	return now_ns(CLOCK_MONOTONIC);
}

/* Until n threads are done: the time then. */
static long long wait_threads(int n)
{
	char buf[MAX_THREADS];

	while (n > 0) {
		ssize_t got = read(done_pipe[0], buf, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			fail("read");
		n -= got;
	}
	return now_ns(CLOCK_MONOTONIC);
}

static void worker_init(struct worker *w, const char *name, void (*fn)(struct worker *),
			long long iters, int path)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->fn = fn;
	w->iters = iters;
	w->path = path;
}

static void print_path(const char *fn, const struct worker *ws, int n, int path)
{
	long long calls = 0, contended = 0, waited = 0, held = 0;

	for (int i = 0; i < n; i++) {
		if (ws[i].path != path)
			continue;
		calls += ws[i].calls;
		contended += ws[i].contended;
		waited += ws[i].waited_ns;
		held += ws[i].held_ns;
	}
	printf("%s calls %lld contended %lld waited_ns %lld held_ns %lld\n",
	       fn, calls, contended, waited, held);
}

static long long sum_waited(const struct worker *ws, int n)
{
	long long t = 0;

	for (int i = 0; i < n; i++)
		t += ws[i].waited_ns;
	return t;
}

static long long sum_held(const struct worker *ws, int n, int path)
{
	long long t = 0;

	for (int i = 0; i < n; i++)
		if (ws[i].path == path)
			t += ws[i].held_ns;
	return t;
}

static long long run_mutex(long long iters)
{
	struct worker ws[4];
	long long t0, t1, b[3];

	worker_init(&ws[0], "hold_long0", hold_long, iters, LONG);
	worker_init(&ws[1], "hold_long1", hold_long, iters, LONG);
	worker_init(&ws[2], "hold_short2", hold_short, iters, SHORT);
	worker_init(&ws[3], "hold_short3", hold_short, iters, SHORT);
	for (int i = 0; i < 4; i++) {
		ws[i].holds = calloc(iters, sizeof(struct span));
		ws[i].waits = calloc(iters, sizeof(struct span));
		if (!ws[i].holds || !ws[i].waits)
			fail("calloc");
	}
	t0 = start_threads(ws, 4);
	t1 = wait_threads(4);
	behind(ws, 4, b);
	printf("lock_addr %#lx\nlock_size %zu\n", (unsigned long)&shared_lock, sizeof(shared_lock));
	printf("waited_ns %lld\n", sum_waited(ws, 4));
	printf("held_long_ns %lld\nheld_short_ns %lld\n", sum_held(ws, 4, LONG), sum_held(ws, 4, SHORT));
	print_path("hold_long", ws, 4, LONG);
	print_path("hold_short", ws, 4, SHORT);
	printf("behind_hold_long_ns %lld\nbehind_hold_short_ns %lld\nbehind_nobody_ns %lld\n",
	       b[LONG], b[SHORT], b[2]);
	for (int i = 0; i < 4; i++) {
		free(ws[i].holds);
		free(ws[i].waits);
	}
	return t1 - t0;
}

static long long run_cond(long long ms)
{
	struct worker ws[2];
	long long t0, t1;

	worker_init(&ws[0], "cond_waiter", cond_waiter, 0, 0);
	worker_init(&ws[1], "plain_sleeper", plain_sleeper, 0, 0);
	t0 = start_threads(ws, 2);
	cond_signaller(ms);
	t1 = wait_threads(2);
	printf("cond_addr %#lx\ncond_size %zu\n", (unsigned long)&cond, sizeof(cond));
	printf("cond_waited_ns %lld\nplain_slept_ns %lld\n", ws[0].waited_ns, ws[1].held_ns);
	return t1 - t0;
}

static long long run_rwlock(long long iters)
{
	struct worker ws[3];
	long long t0, t1;

	worker_init(&ws[0], "rw_writer", rw_writer, iters, LONG);
	worker_init(&ws[1], "rw_reader0", rw_reader, 0, SHORT);
	worker_init(&ws[2], "rw_reader1", rw_reader, 0, SHORT);
	t0 = start_threads(ws, 3);
	t1 = wait_threads(3);
	printf("lock_addr %#lx\nlock_size %zu\n", (unsigned long)&rwlock, sizeof(rwlock));
	printf("waited_ns %lld\n", sum_waited(ws, 3));
	print_path("rw_writer", ws, 3, LONG);
	print_path("rw_reader", ws, 3, SHORT);
	return t1 - t0;
}

static long long run_uncontended(long long pairs)
{
	struct worker w;
	long long t0, t1;

	worker_init(&w, "uncontended", uncontended_loop, pairs, 0);
	t0 = start_threads(&w, 1);
	t1 = wait_threads(1);
	printf("pairs %lld\n", w.ops);
	printf("elapsed_ns %lld\ncpu_ns %lld\n", w.waited_ns, w.held_ns);
	printf("ns_per_pair %.3f\n", (double)w.waited_ns / pairs);
	if (w.best_batch_ns)
		printf("best_ns_per_pair %.3f\n", (double)w.best_batch_ns / UNCONTENDED_BATCH);
	return t1 - t0;
}

static long long run_contended(long long seconds)
{
	struct worker ws[4];
	struct rusage r0, r1;
	long long t0, t1, ops = 0;

	for (int i = 0; i < 4; i++) {
		char name[16];

		snprintf(name, sizeof(name), "contended%d", i);
		worker_init(&ws[i], name, contended_loop, 0, 0);
	}
	getrusage(RUSAGE_SELF, &r0);
	t0 = start_threads(ws, 4);
	sleep_ns(seconds * SEC);
	atomic_store(&stop, 1);
	t1 = now_ns(CLOCK_MONOTONIC);
	wait_threads(4);
	getrusage(RUSAGE_SELF, &r1);
	for (int i = 0; i < 4; i++)
		ops += ws[i].ops;
	if (ops != hot_counter)
		fprintf(stderr, "locks: %lld ops but the counter says %lld\n", ops, hot_counter);
	printf("ops %lld\n", ops);
	printf("ops_per_sec %.0f\n", ops * 1e9 / (t1 - t0));
	printf("voluntary_switches %ld\n", r1.ru_nvcsw - r0.ru_nvcsw);
	return t1 - t0;
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

static const struct {
	const char *name;
	long long (*run)(long long);
	long long dflt, max;
} modes[] = {
	{ "mutex", run_mutex, 1500, 10000000 },
	{ "cond", run_cond, 300, 3600000 },
	{ "rwlock", run_rwlock, 1500, 10000000 },
	{ "uncontended", run_uncontended, 10000000, 1000000000000LL },
	{ "contended", run_contended, 5, 3600 },
};

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long long arg, elapsed;
	sigset_t sigs;
	size_t m;

	/* before anything: a signal sent early waits for its sigwait (the
	 * threads inherit the mask) */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
		if (!strcmp(mode, modes[m].name))
			break;
	if (m == sizeof(modes) / sizeof(modes[0]) || argc > 3) {
		fprintf(stderr, "usage: locks mutex|cond|rwlock|uncontended|contended [ARG]\n");
		return 2;
	}
	arg = modes[m].dflt;
	if (argc > 2) {
		char *end;

		errno = 0;
		arg = strtoll(argv[2], &end, 10);
		if (errno || end == argv[2] || *end || arg < 1 || arg > modes[m].max) {
			fprintf(stderr, "locks: %s %s: expected a number from 1 to %lld\n",
				mode, argv[2], modes[m].max);
			return 2;
		}
	}
	printf("pid %d\nready\n", getpid());
	fflush(stdout);
	wait_for(SIGUSR1);

	elapsed = modes[m].run(arg);
	if (strcmp(mode, "uncontended"))
		printf("elapsed_ns %lld\n", elapsed);
	printf("done\n");
	fflush(stdout);
	/* uncontended: each SIGUSR1 runs the loop again, in this process
	 * (its speed, where its lock and stack fall, is its own) */
	while (!strcmp(mode, "uncontended")) {
		wait_for(SIGUSR1);
		modes[m].run(arg);
		printf("done\n");
		fflush(stdout);
	}
	wait_for(SIGTERM);
	return 0;
}
