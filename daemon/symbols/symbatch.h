/* The symbols one profile needs, asked of the symbols parser process
 * (isolate.h, parserd.h) object by object, each object's addresses in one
 * request: a profile first says what it wants, then resolves, then reads the
 * frames. The daemon opens each object's file itself (as the process sees
 * it, and only if it is the file it mapped: see open_same_file) and hands
 * the parser the descriptor. Not thread-safe. */
#ifndef CPROF_SYMBATCH_H
#define CPROF_SYMBATCH_H

#include <stdbool.h>
#include <stdint.h>
#include "dwarfsrc.h"
#include "procmaps.h"

struct isolate;
struct symcache;

/* Where objects are parsed: in the parser process, or without one (NULL)
 * in this process, through local (tests, and tools). */
struct symsrc {
	struct isolate *parser;
	struct symcache *local;
};

struct symbatch_stats {
	uint64_t requests;		/* asked of the parser */
	uint64_t failed;		/* objects the parser failed on (or known bad) */
};

struct symbatch;
struct symobj;

struct symbatch *symbatch__new(const struct symsrc *src);
/* The object mapped at m in process pid, or NULL for a mapping of no file
 * ([heap], anonymous memory, ...). Valid until symbatch__free. */
struct symobj *symbatch__object(struct symbatch *b, uint32_t pid, const struct procmap *m);
/* o's frames at this file offset will be wanted. */
void symbatch__want(struct symbatch *b, struct symobj *o, uint64_t offset);
/* Ask for every object and offset wanted so far. */
void symbatch__resolve(struct symbatch *b);
/* The frames at o's file offset, innermost first; how many (0: none). An
 * offset not wanted before is asked for now, on its own. The array is valid
 * until the next call, its strings until symbatch__free. */
int symbatch__frames(struct symbatch *b, struct symobj *o, uint64_t offset,
		     const struct srcline **frames);
/* What the object is, once resolved (these resolve it when not). */
const char *symobj__build_id(struct symbatch *b, struct symobj *o);
bool symobj__has_dwarf(struct symbatch *b, struct symobj *o);
bool symobj__has_functions(struct symbatch *b, struct symobj *o);
/* Whether it could be opened and parsed at all. */
bool symobj__ok(struct symbatch *b, struct symobj *o);
void symbatch__stats(const struct symbatch *b, struct symbatch_stats *st);
void symbatch__free(struct symbatch *b);

#endif /* CPROF_SYMBATCH_H */
