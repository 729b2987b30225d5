/* C++ threads that wait for locks in known ways, for the block and mutex
 * views: std::mutex and std::shared_mutex (in libstdc++, pthread's mutex and
 * rwlock underneath), called from member functions, whose names demangle as
 * Worker::cxx_hold_long() and so on. As tests/workloads/locks.c: it prints
 * "pid N" and "ready", waits for SIGUSR1 (so that a test can attach the
 * profiler first), does the work of its mode, prints the ground truth and
 * "done", then waits for SIGTERM and exits 0. SIGTERM before SIGUSR1 ends it
 * too. Every thread measures its own waits (CLOCK_MONOTONIC around the lock
 * call); a lock call is "contended" when a try_lock just before it failed.
 *
 *   locks-cxx mutex [ITER]    (default 1500: about 3.3 s on 2 CPUs)
 *     Worker::cxx_hold_long   two threads (cxx_long0, cxx_long1), ITER times
 *                    each: std::mutex::lock, busy 1 ms, unlock
 *     Worker::cxx_hold_short  two threads (cxx_short2, cxx_short3), ITER
 *                    times each: the same mutex, busy 10 us
 *                    all four, between iterations: busy 50 us, unlocked
 *     lock_addr 0x...            the std::mutex (its futex word: its first int)
 *     lock_size N
 *     waited_ns N                all four threads' time in their lock calls
 *     held_long_ns N             time held by cxx_hold_long (both threads)
 *     held_short_ns N
 *     cxx_hold_long calls N contended N waited_ns N held_ns N
 *     cxx_hold_short calls N contended N waited_ns N held_ns N
 *     long_function Worker::cxx_hold_long()   the 1 ms path, as demangled
 *   locks-cxx shared [ITER]   (default 1500: about 3 s)
 *     Worker::cxx_shared_writer  ITER times: std::shared_mutex::lock, busy
 *                    1 ms, unlock, then busy 1 ms unlocked
 *     Worker::cxx_shared_reader  two threads (cxx_reader0, cxx_reader1),
 *                    until the writer is done: lock_shared, busy 10 us,
 *                    unlock_shared, then nanosleep 100 us
 *     lock_addr 0x...            the std::shared_mutex (a pthread_rwlock_t;
 *     lock_size N                its futex words are inside it)
 *     waited_ns N                the three threads' time in lock calls
 *     cxx_shared_writer calls N contended N waited_ns N held_ns N
 *     cxx_shared_reader calls N contended N waited_ns N held_ns N   (both)
 *     long_function Worker::cxx_shared_writer()
 *   then elapsed_ns N (from the start signal to the last thread's end) and
 *   "done".
 *
 * No other futex waits: the threads start on an atomic flag, tell main they
 * are done through a pipe (std::thread::join would wait on a futex), then
 * park in pause() until the process exits; only main prints. The functions
 * named call the lock's member functions themselves and are never inlined.
 * usage: locks-cxx mutex|shared [ITER] */
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

constexpr long long US = 1000, MS = 1000 * US, SEC = 1000 * MS;

struct Worker {
	char name[16] = {};
	void (Worker::*fn)() = nullptr;
	long long iters = 0;
	int path = 0;
	/* ground truth */
	long long calls = 0, contended = 0, waited_ns = 0, held_ns = 0;

	void cxx_hold_long();
	void cxx_hold_short();
	void cxx_shared_writer();
	void cxx_shared_reader();
	void waited(bool busy, long long t0, long long t1);
};

static std::atomic<int> go, stop;
static int done_pipe[2];
static volatile unsigned long sink;
static std::mutex shared_lock;
static std::shared_mutex rwlock;

[[noreturn]] static void fail(const char *what)
{
	fprintf(stderr, "locks-cxx: %s failed: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * SEC + ts.tv_nsec;
}

/* Busy for ns of wall time. */
__attribute__((noinline)) static void spin(long long ns)
{
	long long end = now_ns() + ns;

	while (now_ns() < end)
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
void Worker::waited(bool busy, long long t0, long long t1)
{
	calls++;
	waited_ns += t1 - t0;
	contended += busy;
}

__attribute__((noinline)) void Worker::cxx_hold_long()
{
	for (long long i = 0; i < iters; i++) {
		long long t0 = now_ns(), t1, t2;
		bool busy = !shared_lock.try_lock();

		if (busy)
			shared_lock.lock();
		t1 = now_ns();
		spin(1 * MS);
		t2 = now_ns();
		shared_lock.unlock();
		waited(busy, t0, t1);
		held_ns += t2 - t1;
		spin(50 * US);
	}
}

__attribute__((noinline)) void Worker::cxx_hold_short()
{
	for (long long i = 0; i < iters; i++) {
		long long t0 = now_ns(), t1, t2;
		bool busy = !shared_lock.try_lock();

		if (busy)
			shared_lock.lock();
		t1 = now_ns();
		spin(10 * US);
		t2 = now_ns();
		shared_lock.unlock();
		waited(busy, t0, t1);
		held_ns += t2 - t1;
		spin(50 * US);
	}
}

__attribute__((noinline)) void Worker::cxx_shared_writer()
{
	for (long long i = 0; i < iters; i++) {
		long long t0 = now_ns(), t1, t2;
		bool busy = !rwlock.try_lock();

		if (busy)
			rwlock.lock();
		t1 = now_ns();
		spin(1 * MS);
		t2 = now_ns();
		rwlock.unlock();
		waited(busy, t0, t1);
		held_ns += t2 - t1;
		spin(1 * MS);
	}
	stop.store(1);
}

__attribute__((noinline)) void Worker::cxx_shared_reader()
{
	while (!stop.load(std::memory_order_relaxed)) {
		long long t0 = now_ns(), t1, t2;
		bool busy = !rwlock.try_lock_shared();

		if (busy)
			rwlock.lock_shared();
		t1 = now_ns();
		spin(10 * US);
		t2 = now_ns();
		rwlock.unlock_shared();
		waited(busy, t0, t1);
		held_ns += t2 - t1;
		sleep_ns(100 * US);
	}
}

static void thread_main(Worker *w)
{
	pthread_setname_np(pthread_self(), w->name);
	while (!go.load())
		sched_yield();
	(w->*w->fn)();
	if (write(done_pipe[1], "x", 1) != 1)
		fail("write");
	/* parked until the process exits: an exiting thread takes glibc's
	 * stack cache lock, which threads ending together contend for */
	for (;;)
		pause();
}

/* Starts n detached threads, each on its ws[i].fn, and starts them all at
 * once: the start time. */
static long long start_threads(Worker *ws, int n)
{
	if (pipe(done_pipe))
		fail("pipe");
	for (int i = 0; i < n; i++)
		std::thread(thread_main, &ws[i]).detach();
	go.store(1);
	return now_ns();
}

/* Until n threads are done: the time then. */
static long long wait_threads(int n)
{
	char buf[8];

	while (n > 0) {
		ssize_t got = read(done_pipe[0], buf, n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			fail("read");
		n -= got;
	}
	return now_ns();
}

static void worker_init(Worker *w, const char *name, void (Worker::*fn)(), long long iters, int path)
{
	*w = Worker();
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->fn = fn;
	w->iters = iters;
	w->path = path;
}

static void print_path(const char *fn, const Worker *ws, int n, int path)
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

static long long sum(const Worker *ws, int n, long long Worker::*field, int path)
{
	long long t = 0;

	for (int i = 0; i < n; i++)
		if (path < 0 || ws[i].path == path)
			t += ws[i].*field;
	return t;
}

static long long run_mutex(long long iters)
{
	Worker ws[4];
	long long t0, t1;

	worker_init(&ws[0], "cxx_long0", &Worker::cxx_hold_long, iters, 0);
	worker_init(&ws[1], "cxx_long1", &Worker::cxx_hold_long, iters, 0);
	worker_init(&ws[2], "cxx_short2", &Worker::cxx_hold_short, iters, 1);
	worker_init(&ws[3], "cxx_short3", &Worker::cxx_hold_short, iters, 1);
	t0 = start_threads(ws, 4);
	t1 = wait_threads(4);
	printf("lock_addr %#lx\nlock_size %zu\n", (unsigned long)&shared_lock, sizeof(shared_lock));
	printf("waited_ns %lld\n", sum(ws, 4, &Worker::waited_ns, -1));
	printf("held_long_ns %lld\nheld_short_ns %lld\n",
	       sum(ws, 4, &Worker::held_ns, 0), sum(ws, 4, &Worker::held_ns, 1));
	print_path("cxx_hold_long", ws, 4, 0);
	print_path("cxx_hold_short", ws, 4, 1);
	printf("long_function Worker::cxx_hold_long()\n");
	return t1 - t0;
}

static long long run_shared(long long iters)
{
	Worker ws[3];
	long long t0, t1;

	worker_init(&ws[0], "cxx_writer", &Worker::cxx_shared_writer, iters, 0);
	worker_init(&ws[1], "cxx_reader0", &Worker::cxx_shared_reader, 0, 1);
	worker_init(&ws[2], "cxx_reader1", &Worker::cxx_shared_reader, 0, 1);
	t0 = start_threads(ws, 3);
	t1 = wait_threads(3);
	printf("lock_addr %#lx\nlock_size %zu\n", (unsigned long)&rwlock, sizeof(rwlock));
	printf("waited_ns %lld\n", sum(ws, 3, &Worker::waited_ns, -1));
	print_path("cxx_shared_writer", ws, 3, 0);
	print_path("cxx_shared_reader", ws, 3, 1);
	printf("long_function Worker::cxx_shared_writer()\n");
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

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long long iters = 1500, elapsed;
	sigset_t sigs;

	/* before anything: a signal sent early waits for its sigwait (the
	 * threads inherit the mask) */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, nullptr);
	if ((strcmp(mode, "mutex") && strcmp(mode, "shared")) || argc > 3) {
		fprintf(stderr, "usage: locks-cxx mutex|shared [ITER]\n");
		return 2;
	}
	if (argc > 2) {
		char *end;

		errno = 0;
		iters = strtoll(argv[2], &end, 10);
		if (errno || end == argv[2] || *end || iters < 1 || iters > 10000000) {
			fprintf(stderr, "locks-cxx: %s %s: expected a number from 1 to 10000000\n", mode, argv[2]);
			return 2;
		}
	}
	printf("pid %d\nready\n", getpid());
	fflush(stdout);
	wait_for(SIGUSR1);

	elapsed = !strcmp(mode, "mutex") ? run_mutex(iters) : run_shared(iters);
	printf("elapsed_ns %lld\n", elapsed);
	printf("done\n");
	fflush(stdout);
	wait_for(SIGTERM);
	return 0;
}
