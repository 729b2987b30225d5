/* Loads unwind tables into the BPF maps: one table per object (per build
 * id), shared by every process that maps it, and per process its
 * executable mappings. */
#ifndef CPROF_UNWINDER_H
#define CPROF_UNWINDER_H

#include <stddef.h>
#include <stdint.h>
#include "unwind.h"

struct proc_instance;

struct unwinder_stats {
	uint64_t processes;		/* with a table in the kernel now */
	uint64_t objects;		/* objects with rows loaded */
	uint64_t objects_without_cfi;	/* no call-frame information: frame pointers */
	uint64_t shared;		/* files found to have a loaded object's build id */
	uint64_t rows_used, rows_total;
	uint64_t table_full;		/* objects left without rows: no room */
	uint64_t evicted;		/* idle objects' rows given to others */
	uint64_t expired;		/* objects removed after IDLE_NS unmapped */
	uint64_t build_errors;		/* objects whose table could not be built */
	uint64_t mappings_dropped;	/* beyond UNWIND_MAX_MAPPINGS in a process */
	uint64_t procs_full;		/* processes left to frame pointers: map full */
	uint64_t build_ns;		/* time spent building tables */
};

/* rows, maps: the memory-mapped row space and mapping slots (array maps);
 * procs_fd: the per-process map. NULL and errno on failure. */
struct unwinder *unwinder__new(void *rows, uint32_t nr_rows, void *maps, uint32_t nr_maps,
			       int procs_fd);
/* Publish in's mappings, building tables for objects not seen before. */
int unwinder__add(struct unwinder *u, const struct proc_instance *in);
/* The process is gone: drop its mappings and unreferenced objects' rows. */
void unwinder__remove(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id);
/* Remove objects no process has mapped for a minute before now_ns
 * (CLOCK_MONOTONIC); add and remove call it every few seconds. */
void unwinder__expire(struct unwinder *u, uint64_t now_ns);
void unwinder__stats(struct unwinder *u, struct unwinder_stats *st);
void unwinder__free(struct unwinder *u);

#endif /* CPROF_UNWINDER_H */
