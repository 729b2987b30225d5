/* The clocks the daemon reads, in nanoseconds. */
#ifndef CPROF_CLOCK_H
#define CPROF_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC: intervals, and when things happened in the process table. */
static inline int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_REALTIME: the wall clock windows are cut by. */
static inline int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif /* CPROF_CLOCK_H */
