#include "hostile.h"

static uint64_t counts[HOSTILE_NR];

void hostile__count(enum hostile_kind k)
{
	if (k < HOSTILE_NR)
		__atomic_add_fetch(&counts[k], 1, __ATOMIC_RELAXED);
}

uint64_t hostile__get(enum hostile_kind k)
{
	return k < HOSTILE_NR ? __atomic_load_n(&counts[k], __ATOMIC_RELAXED) : 0;
}

const char *hostile__name(enum hostile_kind k)
{
	static const char *const names[HOSTILE_NR] = { "dwarf", "cfi", "demangle", "pclntab" };

	return k < HOSTILE_NR ? names[k] : "";
}
