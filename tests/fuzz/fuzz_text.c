// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for what cprofd parses from text others write: symbol
 * names for the demangler (libiberty's C++ and Rust demanglers, as
 * demangle.c drives them) and /proc/PID/maps (procmaps.c). The first byte
 * picks the parser. A demangled name is never longer than DEMANGLE_MAX_OUT;
 * parsed mappings are sorted and inside what the text said.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"
#include "procmaps.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text;

	if (!size)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] & 1) {
		char *s = demangle(text);

		FUZZ_CHECK(!s || strlen(s) <= DEMANGLE_MAX_OUT);
		free(s);
	} else {
		struct procmaps m = { 0 };

		if (!procmaps__parse(text, size - 1, &m)) {
			for (size_t i = 0; i < m.nr; i++) {
				FUZZ_CHECK(m.maps[i].start < m.maps[i].end);
				FUZZ_CHECK(i == 0 || m.maps[i - 1].start <= m.maps[i].start);
			}
			procmaps__clear(&m);
		}
	}
	free(text);
	return 0;
}
