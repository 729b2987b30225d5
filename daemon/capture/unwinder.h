/* Loads unwind tables into the BPF maps: one table per object (per build
 * id), shared by every process that maps it, and per process its
 * executable mappings.
 *
 * Each table is a BPF array map of its own, put into a slot of an array of
 * maps; a process's mappings name their object's slot. Tables are made on
 * demand up to a budget of rows. When a table does not fit, room is made
 * by removing objects no process maps (oldest first), then by evicting the
 * tables of processes no longer sampled (least recently sampled first);
 * the tables of processes being sampled are never evicted. A table that
 * still does not fit is refused, its walks step by frame pointers (counted
 * by the BPF side as unwind_fp_step_table_evicted), and it is loaded again
 * as soon as there is room while its processes are sampled.
 *
 * Not thread-safe: one thread makes every change (the daemon's unwind
 * worker); unwinder__stats() may be called from any thread. */
#ifndef CPROF_UNWINDER_H
#define CPROF_UNWINDER_H

#include <stddef.h>
#include <stdint.h>
#include "unwind.h"

struct isolate;
struct proc_instance;
struct procmaps;

struct unwinder_opts {
	int tables_fd;			/* BPF array of maps: the table slots */
	uint32_t max_tables;		/* its size */
	int maps_fd;			/* BPF array: the mapping slots */
	uint32_t nr_maps;
	int index_fd;			/* BPF array: the tables' indexes (unwind.h) */
	uint32_t nr_index;
	int hdrs_fd;			/* BPF array: each slot's struct unwind_table_hdr */
	int procs_fd;			/* BPF hash: tgid -> struct unwind_proc */
	int seen_fd;			/* BPF seen map (when processes were last
					 * sampled), or -1: every process counts as busy */
	uint64_t max_rows;		/* the row budget */
	struct isolate *parser;		/* builds the tables (parserd.h); NULL:
					 * built in this process (tests) */
};

struct unwinder_stats {
	uint64_t processes;		/* with a table in the kernel now */
	uint64_t objects;		/* objects with rows loaded */
	uint64_t objects_without_cfi;	/* no call-frame information: frame pointers */
	uint64_t objects_waiting;	/* mapped objects whose table is refused or evicted */
	uint64_t shared;		/* files found to have a loaded object's build id */
	uint64_t rows_used, rows_total;
	uint64_t table_full;		/* tables refused for want of room */
	uint64_t evicted;		/* idle objects removed to make room */
	uint64_t evicted_cold;		/* tables of processes no longer sampled evicted */
	uint64_t reloaded;		/* refused or evicted tables loaded again */
	uint64_t expired;		/* objects removed after IDLE_NS unmapped */
	uint64_t build_errors;		/* objects whose table could not be built */
	uint64_t slots_full;		/* objects left without a table slot */
	uint64_t mappings_dropped;	/* beyond UNWIND_MAX_MAPPINGS in a process */
	uint64_t procs_full;		/* processes left to frame pointers: map full */
	uint64_t build_ns;		/* time spent building tables */
};

/* NULL and errno on failure. */
struct unwinder *unwinder__new(const struct unwinder_opts *opts);
/* Publish the mappings of process instance (pid, start_ns, exec_id),
 * building tables for objects not seen before. maps is only read. */
int unwinder__add_maps(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id,
		       const struct procmaps *maps);
/* The same, for a process table entry. */
int unwinder__add(struct unwinder *u, const struct proc_instance *in);
/* Processes are gone: drop their mappings (one BPF grace period for all),
 * and let their objects idle. */
struct unwinder_gone {
	uint32_t pid, exec_id;
	uint64_t start_ns;
};
void unwinder__remove_many(struct unwinder *u, const struct unwinder_gone *gone, size_t nr);
void unwinder__remove(struct unwinder *u, uint32_t pid, uint64_t start_ns, uint32_t exec_id);
/* Housekeeping at CLOCK_MONOTONIC now_ns: remove objects no process has
 * mapped for ten minutes, and load refused or evicted tables of sampled
 * processes where there is room now. Call every few seconds. */
void unwinder__tick(struct unwinder *u, uint64_t now_ns);
/* Only the expiry part of the tick. */
void unwinder__expire(struct unwinder *u, uint64_t now_ns);
void unwinder__stats(struct unwinder *u, struct unwinder_stats *st);
void unwinder__free(struct unwinder *u);

/* A table-slot map (and its inner template) for tests and tools that run
 * the unwinder without the BPF object: fd of an array of maps, or -errno. */
int unwinder__create_tables_map(uint32_t max_tables);
/* Index entries a row budget needs (unwind.h), whatever the tables' sizes:
 * each table's two indexes are at most two entries per UNWIND_INDEX_STRIDE
 * rows, and two more. */
uint32_t unwinder__index_entries(uint64_t max_rows, uint32_t max_tables);

#endif /* CPROF_UNWINDER_H */
