/* Input the parsers refused as malformed or hostile, counted by kind for
 * /metrics: a file any user wrote costs only its own frames their names or
 * rows, and the operator sees that it happened. */
#ifndef CPROF_HOSTILE_H
#define CPROF_HOSTILE_H

#include <stdint.h>

enum hostile_kind {
	HOSTILE_DWARF,		/* a DIE tree whose links loop or point back */
	HOSTILE_CFI,		/* a call-frame program that cannot be played */
	HOSTILE_DEMANGLE,	/* a name whose demangling runs away */
	HOSTILE_PCLNTAB,	/* a Go pc-value table out of range */
	HOSTILE_NR
};

void hostile__count(enum hostile_kind k);
uint64_t hostile__get(enum hostile_kind k);
/* The kind's label on /metrics. */
const char *hostile__name(enum hostile_kind k);

#endif /* CPROF_HOSTILE_H */
