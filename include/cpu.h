/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The CPU view: samples of a cpu-clock perf event, counted per sample_key. */
#ifndef CPROF_CPU_H
#define CPROF_CPU_H

#include "cprof.h"

#define CPU_DEFAULT_HZ	99
#define CPU_MAX_HZ	1000

/* The period tells samples of different rates apart: the daemon samples at
 * --hz all the time and adds a second set of perf events while a request asks
 * for another hz=, so each window takes only the samples of its own rate. */
struct cpu_key {
	struct sample_key k;
	__u64 period_ns;
};
/* value: __u64 number of samples */

#ifndef __BPF__
_Static_assert(sizeof(struct cpu_key) == 80, "cpu_key layout");
#endif

#endif /* CPROF_CPU_H */
