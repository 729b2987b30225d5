/* Known-answer CPU workload. The main thread spends ~70% of the process's
 * CPU in work_a(), reached through 40 calls of recurse(); a second thread
 * spends ~30% in work_b(). Both burn thread CPU time in slices and sleep
 * between them, so the split holds however many CPUs there are. At exit it
 * prints the CPU time each thread really used: the ground truth. A third
 * thread, asleep but for a clock reading every 50 ms, prints the process's
 * CPU time ("cpu REALTIME_NS CPU_NS") so a test can tell what it used over
 * any window inside the run.
 * usage: split SECONDS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds;
static volatile unsigned long sink;

static long long thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy for busy_ms of this thread's CPU time, idle for idle_ms, with every
 * slice scaled by a random factor in [0.3, 1.7]: a fixed cycle near the
 * sampling period (10.1 ms at 99 Hz) would alias with it and skew any
 * timer-based profiler's answer, ours or perf's. */
#define DUTY_LOOP(busy_ms, idle_ms)					\
	do {								\
		long long end = wall_ns() + (long long)(seconds * 1e9);	\
		unsigned int seed = (unsigned int)end;			\
		while (wall_ns() < end) {				\
			double r = 0.3 + 1.4 * rand_r(&seed) / RAND_MAX; \
			long long busy = (long long)((busy_ms) * r * 1e6); \
			long long idle = (long long)((idle_ms) * r * 1e6); \
			struct timespec rest = { 0, idle };		\
			long long t0 = thread_cpu_ns();			\
			while (thread_cpu_ns() - t0 < busy)		\
				for (int i = 0; i < 20000; i++)		\
					sink += i * 7;			\
			nanosleep(&rest, NULL);				\
		}							\
	} while (0)

__attribute__((noipa)) void work_a(void)
{
	DUTY_LOOP(7, 3);
}

__attribute__((noipa)) void work_b(void)
{
	DUTY_LOOP(3, 7);
}

/* noipa and the volatile store after the call keep gcc -O2 from turning
 * the recursion into a loop, so the stack really is 40 frames deep. */
__attribute__((noipa)) int recurse(int depth)
{
	int r;

	if (depth == 0) {
		work_a();
		return 0;
	}
	r = recurse(depth - 1);
	sink += r;
	return r + 1;
}

static void *clock_thread(void *arg)
{
	long long until = wall_ns() + (long long)(seconds * 1e9);
	struct timespec now, cpu, tick = { 0, 50000000 };

	(void)arg;
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &now);
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
		printf("cpu %lld %lld\n", now.tv_sec * 1000000000LL + now.tv_nsec,
		       cpu.tv_sec * 1000000000LL + cpu.tv_nsec);
		fflush(stdout);
		if (wall_ns() >= until)
			return NULL;
		nanosleep(&tick, NULL);
	}
}

static void *thread_b(void *arg)
{
	long long *cpu = arg;

	work_b();
	*cpu = thread_cpu_ns();
	return NULL;
}

int main(int argc, char **argv)
{
	long long cpu_a, cpu_b = 0;
	pthread_t t, c;

	seconds = argc > 1 ? atof(argv[1]) : 10;
	printf("pid %d\n", getpid());
	fflush(stdout);
	pthread_create(&c, NULL, clock_thread, NULL);
	pthread_create(&t, NULL, thread_b, &cpu_b);
	recurse(39);		/* recurse() is on the stack 40 times */
	cpu_a = thread_cpu_ns();
	pthread_join(t, NULL);
	pthread_join(c, NULL);
	printf("cpu_ns work_a %lld work_b %lld\n", cpu_a, cpu_b);
	return 0;
}
