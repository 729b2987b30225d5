/* Hex digits and numbers, for the /proc and perf-map text parsers. */
#ifndef CPROF_HEXVAL_H
#define CPROF_HEXVAL_H

#include <stdbool.h>
#include <stdint.h>

/* 0..15, or -1 when ch is not a hex digit. */
static inline int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A hex number at *pp (no prefix), at most 64 bits: true and *pp past it,
 * or false (no digit, or overflow). The text need not be NUL-terminated. */
static inline bool parse_hex(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	int d;

	if (p >= end || hexval(*p) < 0)
		return false;
	for (; p < end && (d = hexval(*p)) >= 0; p++) {
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*pp = p;
	*out = v;
	return true;
}

#endif /* CPROF_HEXVAL_H */
