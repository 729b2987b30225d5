/* The local history: every closed window of every continuous view, kept on
 * disk as its pprof bytes, to be read back by time.
 *
 * DIR/<view>/<16 hex digits>.seg files, each a run of records compressed
 * against the record before them in the same file, so what repeats from one
 * window to the next (strings, functions, stacks) is stored about once. A
 * record is written and synced in one piece; a torn one is found by its CRC
 * at open and cut off. The oldest segments are deleted beyond a total size
 * or an age. Thread-safe. */
#ifndef CPROF_STORE_H
#define CPROF_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store_opts {
	const char *dir;
	uint64_t max_bytes;		/* 0: no size limit */
	uint64_t max_age_ns;		/* 0: no age limit */
	uint32_t segment_windows;	/* 0: 360 */
};

struct store;

/* Create dir (and its views' directories, mode 0700) as needed; check what
 * it holds and cut off torn records. NULL and errno. */
struct store *store__open(const struct store_opts *opts);

/* raw: one window's uncompressed pprof protobuf (at most 256 MiB); view:
 * [a-z0-9_]{1,31}. Durable on return. 0 or -errno. */
int store__append(struct store *s, const char *view, int64_t start_ns, int64_t end_ns,
		  const uint8_t *raw, size_t len);

/* fn is called, in the order appended (time order, unless the wall clock
 * stepped back), for each window of view whose midpoint ((start+end)/2) is
 * in [from_ns, to_ns); a non-zero return from fn stops the scan and is
 * returned. raw is valid during the call only. fn runs without the store's
 * lock held: appends go on meanwhile. A view with nothing kept has no
 * windows. 0 or -errno. */
typedef int (*store_window_fn)(void *arg, int64_t start_ns, int64_t end_ns,
			       const uint8_t *raw, size_t len);
int store__scan(struct store *s, const char *view, int64_t from_ns, int64_t to_ns,
		store_window_fn fn, void *arg);

struct store_view_info {
	char view[32];
	int64_t first_start_ns, last_end_ns;	/* of the windows kept */
	uint64_t windows, bytes;
};

/* What is kept, per view with windows, sorted by name; *nr set to the
 * number of views (those beyond max not written). 0 or -errno. */
int store__list(struct store *s, struct store_view_info *out, size_t max, size_t *nr);

struct store_stats {
	/* kept now; raw_bytes: their uncompressed size */
	uint64_t windows, bytes, segments, raw_bytes;
	uint64_t appended, dropped_windows, dropped_bytes, torn_records, append_errors;
	int64_t dropped_until_ns;	/* end of the newest window retention dropped (0: none) */
};

void store__stats(struct store *s, struct store_stats *st);
void store__free(struct store *s);	/* NULL-safe */

#endif /* CPROF_STORE_H */
