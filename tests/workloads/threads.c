/* Many threads in short bursts: N threads, each busy for a random 50-500 µs
 * of its own CPU time, then asleep for 0.2-2 ms, for SECONDS. Every thread is
 * a distinct key in the kernel maps, so a generation holds thousands of
 * keys; the CPUs stay busy. Threads run with 64 KiB stacks, so 3,000 of them
 * need little memory.
 *
 * The ground truth is the kernel's own accounting of the process's CPU
 * time, all threads (CLOCK_PROCESS_CPUTIME_ID): every 50 ms the main thread
 * prints "cpu REALTIME_NS PROCESS_CPU_NS", so a test can read it at the
 * very times a profile window opened and closed. Among thousands of busy
 * threads anything else waits its turn, a test's shell too; the main
 * thread asks for a real-time priority so its clock readings come on time.
 * usage: threads N SECONDS */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds;
static volatile unsigned long sink;
/* Every thread starts working once all are made: else the bursts of the
 * first starve the thread making the rest. */
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static int go;

static long long now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy for ns of this thread's CPU time, or until end: with thousands of
 * threads a burst takes far longer than its CPU time. */
__attribute__((noinline)) static void burst(long long ns, long long end)
{
	long long t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

	while (now_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < ns && now_ns(CLOCK_MONOTONIC) < end)
		for (int i = 0; i < 20000; i++)
			sink += i * 7;
}

static void *worker(void *arg)
{
	unsigned int seed = (unsigned int)(unsigned long)arg * 2654435761u;
	long long end;

	pthread_mutex_lock(&go_lock);
	while (!go)
		pthread_cond_wait(&go_cond, &go_lock);
	pthread_mutex_unlock(&go_lock);
	end = now_ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9);

	while (now_ns(CLOCK_MONOTONIC) < end) {
		struct timespec rest = { 0, 200000 + rand_r(&seed) % 1800000 };

		burst(50000 + rand_r(&seed) % 450000, end);
		nanosleep(&rest, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000, started = 0;
	pthread_t *t = calloc(n > 0 ? n : 1, sizeof(*t));
	pthread_attr_t attr;

	seconds = argc > 2 ? atof(argv[2]) : 10;
	if (!t || n <= 0)
		return 2;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (int i = 0; i < n; i++)
		if (!pthread_create(&t[i], &attr, worker, (void *)(unsigned long)(i + 1)))
			started++;
		else
			t[i] = 0;
	printf("threads %d\n", started);
	fflush(stdout);
	{
		struct sched_param sp = { .sched_priority = 1 };
		long long until;

		if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
			printf("# no real-time priority: clock readings may come late\n");
		pthread_mutex_lock(&go_lock);
		go = 1;
		pthread_cond_broadcast(&go_cond);
		pthread_mutex_unlock(&go_lock);
		until = now_ns(CLOCK_MONOTONIC) + (long long)(seconds * 1e9);
		while (now_ns(CLOCK_MONOTONIC) < until) {
			struct timespec tick = { 0, 50000000 };

			printf("cpu %lld %lld\n", now_ns(CLOCK_REALTIME), now_ns(CLOCK_PROCESS_CPUTIME_ID));
			fflush(stdout);
			nanosleep(&tick, NULL);
		}
	}
	for (int i = 0; i < n; i++)
		if (t[i])
			pthread_join(t[i], NULL);
	return started == n ? 0 : 1;
}
