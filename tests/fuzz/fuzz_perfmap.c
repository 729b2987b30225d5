// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for daemon/symbols/perfmap.c, which it includes to see the
 * parsed entries and the resolved pieces. Each input (its first byte picks
 * the bounds) is written to a file and opened; the pieces must be sorted,
 * disjoint and name real strings, and every lookup at an entry's edges must
 * agree with the definition: the last accepted line holding the address.
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -DPERFMAP_READ_CHUNK=64 \
 *		-D_GNU_SOURCE -Iinclude -Idaemon tests/fuzz/fuzz_perfmap.c \
 *		daemon/fileio.c -o fuzz_perfmap
 *
 * A small PERFMAP_READ_CHUNK makes lines cross chunk boundaries and hit
 * the long-line path with short inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "perfmap.c"
#include "fuzz.h"

static char path[64];

/* The model: the last line (highest seq) holding addr, or -1. */
static long model_lookup(const struct pm_entry *e, size_t n, uint64_t addr)
{
	size_t k;

	for (k = n; k-- > 0;)
		if (e[k].start <= addr && addr < e[k].end)
			return (long)k;
	return -1;
}

static void check_addr(const struct perfmap *m, const struct pm_builder *b, uint64_t addr)
{
	long want = model_lookup(b->ents, b->nr, addr);
	uint64_t start = 0;
	const char *got = perfmap__lookup(m, addr, &start);

	if (want < 0) {
		FUZZ_CHECK(!got);
		return;
	}
	FUZZ_CHECK(got);
	FUZZ_CHECK(!strcmp(got, b->names + b->ents[want].name));
	FUZZ_CHECK(start == b->ents[want].start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pm_builder b = { 0 };
	struct perfmap *m;
	size_t k;
	uint8_t sel;
	int fd;

	if (!path[0])
		snprintf(path, sizeof(path), "/dev/shm/fuzz_perfmap.%d", (int)getpid());
	if (!size)
		return 0;
	sel = data[0];
	perfmap__set_limits(sel & 0x80 ? (sel & 0x0f) + 1u : 0,
			    sel & 0x40 ? (sel & 0x3f) * 3u + 1u : 0);
	data++;
	size--;
	if (fuzz_write_input(path, data, size))
		return 0;

	/* The model's entries: what the parser accepted, in line order. */
	fd = open(path, O_RDONLY);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(builder__read(&b, fd) == 0);
	close(fd);
	for (k = 0; k < b.nr; k++)
		FUZZ_CHECK(b.ents[k].seq == k && b.ents[k].start < b.ents[k].end);

	m = perfmap__open(path);
	FUZZ_CHECK(m);
	FUZZ_CHECK(perfmap__nr(m) == b.nr && perfmap__skipped(m) == b.skipped);
	FUZZ_CHECK(b.nr <= max_entries && b.names_len <= max_bytes);

	for (k = 0; k < m->nr_syms; k++) {
		FUZZ_CHECK(m->starts[k] < m->syms[k].end);
		FUZZ_CHECK(k + 1 == m->nr_syms || m->syms[k].end <= m->starts[k + 1]);
		FUZZ_CHECK(m->syms[k].sym_start <= m->starts[k]);
		FUZZ_CHECK(m->syms[k].name < m->names_len);
		FUZZ_CHECK(memchr(m->names + m->syms[k].name, 0,
				  m->names_len - m->syms[k].name));
	}
	FUZZ_CHECK(!m->names_len || !m->names[m->names_len - 1]);

	for (k = 0; k < b.nr; k++) {
		check_addr(m, &b, b.ents[k].start);
		check_addr(m, &b, b.ents[k].start - 1);
		check_addr(m, &b, b.ents[k].end - 1);
		check_addr(m, &b, b.ents[k].end);
	}
	check_addr(m, &b, 0);
	check_addr(m, &b, UINT64_MAX);

	perfmap__free(m);
	free(b.ents);
	free(b.names);
	unlink(path);
	return 0;
}
