/* A workload that changes behaviour at a known time, for the history: it
 * burns a CPU in phase_a() for A seconds, then in phase_b() for B seconds,
 * and exits. It prints the wall-clock times (ns since the epoch) at which
 * each phase began and the last ended, so a test can ask the history for
 * each half:
 *   pid N
 *   a_start NS
 *   b_start NS
 *   b_end NS
 *   done
 * usage: phases A_SECONDS B_SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static long long real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* each phase spins in its own body: a call to a shared spinner would be
 * a tail call, and the phase's frame would not be on the stack */
#define SPIN_UNTIL(end)						\
	do {								\
		while (real_ns() < (end))				\
			for (int i = 0; i < 20000; i++)			\
				sink += i * 7;				\
	} while (0)

__attribute__((noipa)) void phase_a(long long end)
{
	SPIN_UNTIL(end);
}

__attribute__((noipa)) void phase_b(long long end)
{
	SPIN_UNTIL(end);
}

int main(int argc, char **argv)
{
	double a = argc > 1 ? atof(argv[1]) : 10, b = argc > 2 ? atof(argv[2]) : 10;
	long long t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("pid %d\n", (int)getpid());
	t = real_ns();
	printf("a_start %lld\n", t);
	phase_a(t + (long long)(a * 1e9));
	t = real_ns();
	printf("b_start %lld\n", t);
	phase_b(t + (long long)(b * 1e9));
	printf("b_end %lld\n", real_ns());
	printf("done\n");
	return 0;
}
