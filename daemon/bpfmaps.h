/* Reading BPF maps from user space, shared by every view. */
#ifndef CPROF_BPFMAPS_H
#define CPROF_BPFMAPS_H

#include <stddef.h>
#include <stdint.h>
#include "cprof.h"

/* Call fn on every entry of a map no program writes to any more, then delete
 * them all. Returns the number of entries, or -errno. */
int bpfmap__drain(int fd, size_t key_size, size_t value_size,
		  int (*fn)(const void *key, const void *value, void *arg), void *arg);
/* Wait until every BPF program that was running when it was called has
 * finished (an RCU grace period), so a generation flip is complete. */
void bpf__sync(void);
/* Sum a per-CPU array of counters. 0 or -errno. */
int counters__read(int fd, uint64_t out[CPROF_CNT_MAX]);
extern const char *const cprof_counter_names[CPROF_CNT_MAX];

#endif /* CPROF_BPFMAPS_H */
