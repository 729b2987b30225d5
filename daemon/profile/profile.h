/* From a window of samples to a symbolized pprof profile. */
#ifndef CPROF_PROFILE_H
#define CPROF_PROFILE_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "params.h"
#include "window.h"

#include "symbatch.h"
#include "views.h"

struct access;
struct proctab;
struct ksyms;
struct vdso;

struct symbolize_stats {
	uint64_t frames;		/* frames resolved (cache misses) */
	uint64_t no_instance;		/* samples of a process whose maps were never read */
	uint64_t unmapped;		/* user addresses in no known mapping */
	uint64_t unnamed;		/* addresses with a mapping but no symbol */
	uint64_t inlined;		/* inlined frames added from DWARF */
	uint64_t jit;			/* frames named from a perf map */
	uint64_t profiles, build_ns;	/* profiles built, and the time it took */
	uint64_t stacks_missing;	/* samples whose stack was dropped */
	uint64_t truncated;		/* samples whose walk stopped short (marked) */
	uint64_t not_code;		/* of those, cut here at a frame in no
					 * executable mapping (frame-pointer walks) */
	uint64_t unverified;		/* of those, without user frames: the
					 * process's maps were never read */
	uint64_t parser_requests;	/* objects' frames asked of the parser */
	uint64_t parser_failed;		/* objects it failed on (or known bad) */
	uint64_t not_locks;		/* wakes left out of mutex profiles: under a
					 * condition variable's signal, a semaphore's
					 * post, a barrier (not a lock's release) */
};

struct profile_ctx {
	struct proctab *proctab;
	struct symsrc symsrc;		/* where objects are parsed */
	const struct ksyms *ksyms;	/* NULL: kernel frames stay addresses */
	struct vdso *vdso;		/* NULL: vDSO frames stay addresses */
	struct symbolize_stats *stats;
	const char *host;		/* a whole-host profile: its first mapping
					 * names the host; NULL: the busiest process */
	const struct access *who;	/* what the client may see; NULL: all */
	const char *const *comments;	/* added to the profile's comments */
	size_t nr_comments;
	bool raw;			/* the protobuf uncompressed (the history's) */
};

/* The profile of view (the cpu, offcpu or wall view: window w's kind) from
 * window w, restricted to req's processes. Writes a malloc'd gzipped
 * profile (not gzipped when ctx->raw), or text when req->debug. 0 or -errno. */
int profile__build(const struct profile_ctx *ctx, const struct view_def *view,
		   const struct window *w, const struct profile_request *req, uint8_t **out,
		   size_t *len);

/* A profile (gzipped or not) as view's debug=1 text: Go's heap or
 * contention text, or pprof__text's. 0 or -errno. */
int profile__text(const struct view_def *view, const uint8_t *buf, size_t buflen, uint8_t **out,
		  size_t *len);

/* pprof's remote symbolization: text holds addresses in hex ("0x4a10+0x4b20",
 * as pprof posts them; spaces and commas also separate). For each one that can
 * be named, "0xADDR name" is written to out: kernel addresses from kallsyms,
 * others in process pid (0: none). 0, -EINVAL on a bad address (what was
 * answered before it stays written), or -errno reading pid's maps. */
int profile__symbol(const struct profile_ctx *ctx, uint32_t pid, const char *text, FILE *out);

#endif /* CPROF_PROFILE_H */
