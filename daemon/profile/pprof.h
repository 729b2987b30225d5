/* Building, writing and reading pprof profiles (profile.proto through
 * protobuf-c, gzip through zlib). */
#ifndef CPROF_PPROF_H
#define CPROF_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include "profile.pb-c.h"

struct pprof_value_type {
	const char *type;
	const char *unit;
};

struct pprof_opts {
	const struct pprof_value_type *sample_types;
	size_t nr_sample_types;
	const char *default_sample_type;	/* a sample_types[].type, or NULL */
	struct pprof_value_type period_type;
	int64_t period;
	int64_t time_nanos;			/* start, ns since the epoch */
	int64_t duration_nanos;
	const char *const *comments;
	size_t nr_comments;
};

struct pprof_mapping {
	uint64_t start, limit, offset;
	const char *file;
	const char *build_id;			/* hex, or NULL */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

/* One function of a location; a location has several when inlined,
 * innermost first. */
struct pprof_line {
	const char *function;			/* readable name */
	const char *system_name;		/* mangled name, or NULL: same */
	const char *filename;			/* or NULL */
	int64_t line;				/* 0: unknown */
};

/* A label is a string (str != NULL) or a number (num, num_unit). */
struct pprof_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit;
};

struct pprof_builder;

/* NULL and errno on failure. All strings are copied. */
struct pprof_builder *pprof_builder__new(const struct pprof_opts *opts);
/* Id of the mapping, added the first time it is seen; 0 on ENOMEM. */
uint64_t pprof_builder__mapping(struct pprof_builder *b, const struct pprof_mapping *m);
/* Id of the location at (mapping_id, address) if already added, else 0. */
uint64_t pprof_builder__find_location(struct pprof_builder *b, uint64_t mapping_id, uint64_t address);
/* Add a location (or return the existing one's id); 0 on ENOMEM. */
uint64_t pprof_builder__location(struct pprof_builder *b, uint64_t mapping_id, uint64_t address,
				 const struct pprof_line *lines, size_t nr_lines);
/* Like pprof_builder__location, but a location at (mapping_id, address) is
 * reused only when its lines are these; else another one is added. For
 * profiles merged from several, where one address may be symbolized in one
 * and not in another, and frames made up at address 0 differ by name only.
 * 0 on ENOMEM or EINVAL. */
uint64_t pprof_builder__location_lines(struct pprof_builder *b, uint64_t mapping_id,
				       uint64_t address, const struct pprof_line *lines,
				       size_t nr_lines);
/* Add a sample; samples with the same locations and labels are merged by
 * adding their values. values has nr_sample_types entries. 0 or -errno. */
int pprof_builder__sample(struct pprof_builder *b, const uint64_t *locations, size_t nr_locations,
			  const int64_t *values, const struct pprof_label *labels, size_t nr_labels);
/* Serialize (gzip-compressed when gzip) into a malloc'd buffer. 0 or -errno. */
int pprof_builder__write(struct pprof_builder *b, bool gzip, uint8_t **out, size_t *len);
/* Change what the options gave at creation, for a caller that learns it
 * later (a merge knows its time span only when every profile is in, and its
 * comments when it is written). set_comments replaces the comments; 0 or
 * -errno, the old ones kept on failure. */
void pprof_builder__set_time(struct pprof_builder *b, int64_t time_nanos, int64_t duration_nanos);
int pprof_builder__set_comments(struct pprof_builder *b, const char *const *comments, size_t nr);
void pprof_builder__free(struct pprof_builder *b);

/* A decoded profile's mappings, functions and locations by id: ids are
 * arbitrary in a profile we did not write, so they are looked up through
 * sorted (id, position) arrays. */
struct pprof_id_ref {
	uint64_t id;
	size_t idx;			/* position in the profile's array */
};

struct pprof_view {
	const Perftools__Profiles__Profile *p;
	struct pprof_id_ref *maps, *funcs, *locs;
	size_t nr_maps, nr_funcs, nr_locs;
};

/* 0 or -ENOMEM. NULL messages and id 0 (reserved) are left out. */
int pprof_view__init(struct pprof_view *v, const Perftools__Profiles__Profile *p);
void pprof_view__free(struct pprof_view *v);
/* Position of the message with id in refs (v->maps, v->funcs, v->locs), the
 * first in the file when an id is given twice; -1 when none has it. */
ssize_t pprof_view__find(const struct pprof_id_ref *refs, size_t nr, uint64_t id);

/* Decode a profile, gzip-compressed or not. NULL and errno (EINVAL: not a
 * profile) on failure. */
Perftools__Profiles__Profile *pprof__read(const uint8_t *buf, size_t len);
void pprof__free(Perftools__Profiles__Profile *p);
/* Index of the sample type named type (NULL: the default one), or -1. */
int pprof__sample_index(const Perftools__Profiles__Profile *p, const char *type);
/* A table like `go tool pprof -top`: flat, flat%, sum%, cum, cum%, name;
 * the n largest by flat (n <= 0: all). 0 or -errno (-EINVAL: no such type). */
int pprof__top(const Perftools__Profiles__Profile *p, const char *sample_type, int n, FILE *out);
/* Every sample with its values, labels and symbolized stack, for debug=1. */
int pprof__text(const Perftools__Profiles__Profile *p, FILE *out);
/* A heap or allocs profile as Go's debug=1 text: a header with the totals
 * and "@ heap/2*rate", then each record with sampled counts (in use,
 * [allocated]), its addresses and one "#" line per frame, its labels.
 * 0 or -errno (-EINVAL: not a heap profile). */
int pprof__heap_text(const Perftools__Profiles__Profile *p, FILE *out);
/* Go's text for block and mutex profiles (debug=1): "--- contention:",
 * then "delay count @ pcs" records, by delay, with their frames. */
int pprof__contention_text(const Perftools__Profiles__Profile *p, bool mutex, FILE *out);

#endif /* CPROF_PPROF_H */
