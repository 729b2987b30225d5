/* Threads that wait in known ways, for the offcpu and wall views. Each
 * thread has a name (the profile's thread label) and measures its own
 * waits, which it prints when done: the ground truth.
 *
 *   waits offcpu DELAY_MS
 *     sleeper   nanosleep 100 ms, ten times            sleeper_ns WAITED
 *     piper     read()s a pipe that main writes 200 ms later  piper_ns WAITED
 *     condvar   waits on a condition variable main signals 300 ms later
 *                                                      condvar_ns WAITED
 *     victim    computes for 1.5 s pinned to CPU 0, where two "hog" threads
 *               compute too: runnable, not running, most of the time
 *                                                      victim_run_delay_ns N
 *               (the kernel's run_delay, /proc/thread-self/schedstat)
 *     compute   computes 1 s pinned to CPU 1, never blocks
 *   waits wall DELAY_MS
 *     walker    computes for 1 s, then sleeps 1 s     walker_cpu_ns N, walker_sleep_ns N
 *     cycler    computes 20 ms, sleeps 30 ms, until main ends it (4 s)
 *   waits pingpong DELAY_MS
 *     ping, pong  pass a byte back and forth through two pipes for 1.5 s,
 *               both on CPU 0: waits of a few microseconds, by the hundred
 *               thousand (what --offcpu-rate samples). Each prints
 *               "NAME_off_ns N NAME_switches N": its time not running
 *               (elapsed less its CPU time) and its context switches
 *
 * Main computes for 300 ms, then waits DELAY_MS before starting them (a
 * profile window opens meanwhile). It first prints "rseq_registered 0|1":
 * whether glibc registered its threads with rseq (2.35 on, unless told
 * not to by GLIBC_TUNABLES=glibc.pthread.rseq=0). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define HAVE_RSEQ_SIZE 1
#endif
#endif

static volatile unsigned long sink;
static int pipefd[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int signalled;
static volatile int stop;

static long long now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Busy for ns of wall time (clk CLOCK_MONOTONIC) or of this thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID). */
__attribute__((noinline)) static void spin(clockid_t clk, long long ns)
{
	long long end = now_ns(clk) + ns;

	while (now_ns(clk) < end)
		for (int i = 0; i < 1000; i++)
			sink += i;
}

static long long run_delay(void)
{
	long long cpu = 0, delay = 0;
	FILE *f = fopen("/proc/thread-self/schedstat", "r");

	if (f) {
		if (fscanf(f, "%lld %lld", &cpu, &delay) != 2)
			delay = 0;
		fclose(f);
	}
	return delay;
}

__attribute__((noinline)) static void sleep_in_nanosleep(void)
{
	sleep_ms(100);
}

static void *sleeper(void *arg)
{
	long long waited = 0;

	pthread_setname_np(pthread_self(), "sleeper");
	for (int i = 0; i < 10; i++) {
		long long t0 = now_ns(CLOCK_MONOTONIC);

		sleep_in_nanosleep();
		waited += now_ns(CLOCK_MONOTONIC) - t0;
	}
	printf("sleeper_ns %lld\n", waited);
	return NULL;
}

__attribute__((noinline)) static void wait_in_read(void)
{
	char c;

	if (read(pipefd[0], &c, 1) != 1)
		perror("read");
}

static void *piper(void *arg)
{
	long long t0;

	pthread_setname_np(pthread_self(), "piper");
	t0 = now_ns(CLOCK_MONOTONIC);
	wait_in_read();
	printf("piper_ns %lld\n", now_ns(CLOCK_MONOTONIC) - t0);
	return NULL;
}

__attribute__((noinline)) static void wait_on_condvar(void)
{
	pthread_mutex_lock(&lock);
	while (!signalled)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
}

static void *condvar(void *arg)
{
	long long t0;

	pthread_setname_np(pthread_self(), "condvar");
	t0 = now_ns(CLOCK_MONOTONIC);
	wait_on_condvar();
	printf("condvar_ns %lld\n", now_ns(CLOCK_MONOTONIC) - t0);
	return NULL;
}

__attribute__((noinline)) static void victim_work(void)
{
	spin(CLOCK_MONOTONIC, 1500000000LL);
}

static void *victim(void *arg)
{
	long long d0;

	pthread_setname_np(pthread_self(), "victim");
	pin(0);
	d0 = run_delay();
	victim_work();
	printf("victim_run_delay_ns %lld\n", run_delay() - d0);
	return NULL;
}

static void *hog(void *arg)
{
	pthread_setname_np(pthread_self(), "hog");
	pin(0);
	spin(CLOCK_MONOTONIC, 1500000000LL);
	return NULL;
}

__attribute__((noinline)) static void compute_work(void)
{
	spin(CLOCK_MONOTONIC, 1000000000LL);
}

static void *compute(void *arg)
{
	pthread_setname_np(pthread_self(), "compute");
	pin(1);
	compute_work();
	return NULL;
}

/* 1 s of wall time, not of CPU: a CPU the host steals from still counts
 * in cpu-clock samples, as the thread runs all along in the guest */
__attribute__((noinline)) static void walker_compute(void)
{
	spin(CLOCK_MONOTONIC, 1000000000LL);
}

__attribute__((noinline)) static void walker_sleep(void)
{
	sleep_ms(1000);
}

static void *walker(void *arg)
{
	long long c0, t0;

	pthread_setname_np(pthread_self(), "walker");
	c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	walker_compute();
	printf("walker_cpu_ns %lld\n", now_ns(CLOCK_THREAD_CPUTIME_ID) - c0);
	t0 = now_ns(CLOCK_MONOTONIC);
	walker_sleep();
	printf("walker_sleep_ns %lld\n", now_ns(CLOCK_MONOTONIC) - t0);
	return NULL;
}

__attribute__((noinline)) static void cycler_compute(void)
{
	spin(CLOCK_MONOTONIC, 20000000LL);
}

__attribute__((noinline)) static void cycler_sleep(void)
{
	sleep_ms(30);
}

static int ping_pipe[2], pong_pipe[2];

__attribute__((noinline)) static void pingpong_wait(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		stop = 1;
}

static void *pingpong(void *arg)
{
	const char *name = arg;
	bool ping = !strcmp(name, "ping");
	int in = ping ? pong_pipe[0] : ping_pipe[0], out = ping ? ping_pipe[1] : pong_pipe[1];
	long long t0, c0, end;
	struct rusage r0, r1;

	pthread_setname_np(pthread_self(), name);
	pin(0);
	getrusage(RUSAGE_THREAD, &r0);
	t0 = now_ns(CLOCK_MONOTONIC);
	c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	end = t0 + 1500000000LL;
	if (ping && write(out, "x", 1) != 1)
		return NULL;
	while (!stop) {
		pingpong_wait(in);
		if (stop)
			break;
		if (ping && now_ns(CLOCK_MONOTONIC) >= end) {
			stop = 1;	/* the other side, blocked in read, gets one more byte */
			if (write(out, "x", 1) != 1)
				break;
			break;
		}
		if (write(out, "x", 1) != 1)
			break;
	}
	getrusage(RUSAGE_THREAD, &r1);
	printf("%s_off_ns %lld %s_switches %ld\n", name,
	       now_ns(CLOCK_MONOTONIC) - t0 - (now_ns(CLOCK_THREAD_CPUTIME_ID) - c0), name,
	       (r1.ru_nvcsw - r0.ru_nvcsw) + (r1.ru_nivcsw - r0.ru_nivcsw));
	return NULL;
}

static void *cycler(void *arg)
{
	pthread_setname_np(pthread_self(), "cycler");
	while (!stop) {
		cycler_compute();
		cycler_sleep();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[8];
	int n = 0;

	if (argc < 3 || (strcmp(argv[1], "offcpu") && strcmp(argv[1], "wall") &&
			 strcmp(argv[1], "pingpong"))) {
		fprintf(stderr, "usage: waits offcpu|wall|pingpong DELAY_MS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
#ifdef HAVE_RSEQ_SIZE
	printf("rseq_registered %d\n", __rseq_size > 0);
#else
	printf("rseq_registered 0\n");
#endif
	/* busy first, so that cprofd builds its unwind tables (it does for
	 * processes sampled a few times) before the waits: libc has no frame
	 * pointers, and a frame-pointer walk from it skips its caller */
	spin(CLOCK_MONOTONIC, 300000000LL);
	sleep_ms(atoi(argv[2]));
	if (!strcmp(argv[1], "offcpu")) {
		if (pipe(pipefd))
			return 1;
		pthread_create(&t[n++], NULL, sleeper, NULL);
		pthread_create(&t[n++], NULL, piper, NULL);
		pthread_create(&t[n++], NULL, condvar, NULL);
		pthread_create(&t[n++], NULL, victim, NULL);
		pthread_create(&t[n++], NULL, hog, NULL);
		pthread_create(&t[n++], NULL, hog, NULL);
		pthread_create(&t[n++], NULL, compute, NULL);
		sleep_ms(200);
		if (write(pipefd[1], "x", 1) != 1)
			return 1;
		sleep_ms(100);
		pthread_mutex_lock(&lock);
		signalled = 1;
		pthread_cond_signal(&cond);
		pthread_mutex_unlock(&lock);
	} else if (!strcmp(argv[1], "pingpong")) {
		if (pipe(ping_pipe) || pipe(pong_pipe))
			return 1;
		pthread_create(&t[n++], NULL, pingpong, "pong");
		pthread_create(&t[n++], NULL, pingpong, "ping");
	} else {
		pthread_create(&t[n++], NULL, walker, NULL);
		pthread_create(&t[n++], NULL, cycler, NULL);
		sleep_ms(4000);
		stop = 1;
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return 0;
}
