/* A kept window's profile as rows of the fleet store's two tables
 * (ClickHouse's TabSeparated format):
 *
 *   cprof_stacks_v1   a stack once, by the hash of its symbolized frames
 *                     (the same stack on every host has the same hash):
 *                     hash, then per frame, innermost first, function,
 *                     file, line, inlined (1: inlined into the next frame),
 *                     mapping and build id, as arrays
 *   cprof_samples_v1  time (the window's start), window length, host,
 *                     view, sample type and unit, value, stack hash, pid,
 *                     tid, comm, thread, container, cgroup, and any other
 *                     labels as two arrays of keys and values
 *
 * The profile comes from our own store but is decoded as hostile input:
 * what refers to nothing is left out. */
#ifndef CPROF_EXPORT_ROWS_H
#define CPROF_EXPORT_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct hashmap;

#define ROWS_SCHEMA_VERSION 1

/* CREATE TABLE statements of the two tables (MergeTree, ReplacingMergeTree
 * for the stacks), runnable on ClickHouse 18.16 and current releases. */
extern const char *const rows_create_sql[2];
extern const char *const rows_table[2];	/* their names: stacks, samples */

struct rows_window {
	const char *host;
	const char *view;
	int64_t start_ns, end_ns;
};

struct rows_stats {
	uint64_t samples;		/* sample rows written (one per type) */
	uint64_t stacks;		/* stack rows written */
	uint64_t skipped;		/* samples referring to nothing */
};

/* Write window w's profile (raw or gzipped pprof) as rows: stacks not in
 * sent (a set of uint64_t hashes; NULL: all) to stacks, samples to samples.
 * Hashes written are added to pending (NULL: a set of this call's own),
 * not to sent: the caller moves them once the rows are safely kept. Zero values are left
 * out. 0 or -errno (-EINVAL: not a profile). */
int rows__write(const uint8_t *buf, size_t len, const struct rows_window *w,
		const struct hashmap *sent, struct hashmap *pending, FILE *stacks, FILE *samples,
		struct rows_stats *st);

/* s escaped for a TabSeparated field, and quoted for an Array(String)
 * element in one. */
void rows__tsv_string(FILE *f, const char *s);
void rows__quoted_string(FILE *f, const char *s);

#endif /* CPROF_EXPORT_ROWS_H */
