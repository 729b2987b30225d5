/* Reading BPF maps from user space, shared by every view. */
#ifndef CPROF_BPFMAPS_H
#define CPROF_BPFMAPS_H

#include <stddef.h>
#include <stdint.h>
#include "cprof.h"

/* Take every entry out of a hash map (BPF_MAP_TYPE_HASH or LRU_HASH, made
 * with these key and value sizes) that no program writes to any more: fn
 * (which may be NULL) is called exactly once for each entry that was in the
 * map, and every entry delivered is deleted. fn's return value is ignored:
 * the drain goes on, so a caller counts its own errors. Returns the number of
 * entries delivered; or -errno when a call to the kernel fails midway (or the
 * map is of another type or size: -EINVAL), and then the entries not yet
 * delivered are still in the map for a later drain.
 *
 * Lookup-and-delete in batches of whole hash buckets where the kernel has it
 * (Linux 5.6), else a get_next_key walk; either way its buffers hold at most
 * 4096 entries or 64 KiB, whatever the size of the map (more only for a hash
 * bucket that does not fit). */
int bpfmap__drain(int fd, size_t key_size, size_t value_size,
		  int (*fn)(const void *key, const void *value, void *arg), void *arg);
/* Call fn for each entry of such a hash map, leaving them in: in batches
 * where the kernel has them, else a get_next_key walk (which may deliver an
 * entry twice, or miss one, if entries are deleted meanwhile). The number
 * of entries delivered, or -errno. */
int bpfmap__each(int fd, size_t key_size, size_t value_size,
		 int (*fn)(const void *key, const void *value, void *arg), void *arg);
/* Wait until every BPF program that was running when it was called has
 * finished (an RCU grace period), so a generation flip is complete. */
void bpf__sync(void);
/* Sum a per-CPU array of counters. 0 or -errno. */
int counters__read(int fd, uint64_t out[CPROF_CNT_MAX]);
extern const char *const cprof_counter_names[CPROF_CNT_MAX];
/* The data source a counter belongs to: "cpu", "sched", or "core" (what
 * every source shares: stacks, the unwinder, targets). */
const char *cprof_counter_source(int counter);

struct bpf_program;
/* The instance of process pid as BPF sees it, by the task iterator iter
 * (bpf/common.h's task_instance). 0 or -errno. */
int bpf__task_instance(const struct bpf_program *iter, uint32_t pid, struct cprof_instance *in);

#endif /* CPROF_BPFMAPS_H */
