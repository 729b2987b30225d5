// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the parsers of ELF files any user may write, run on
 * every object a profiled process maps: symbols (elfobj.c, with the Go
 * pclntab and MiniDebugInfo it reads), DWARF lines and inlines (dwarfsrc.c,
 * demangle.c) and unwind tables (unwind_table.c and its CFI interpreter).
 * Each input is written to a file and opened by all three, and taken as a
 * vDSO image (elfobj__open_vdso) too; the unwind rows
 * must be sorted, and symbolizing the input's first addresses, its
 * segments' edges and its symbols' starts must return. Built and linked
 * with the daemon's modules (see the Makefile's fuzz rules); the seed corpus
 * comes from small programs compiled every way the tests use
 * (scripts/fuzz-seeds.sh).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dwarfsrc.h"
#include "elfobj.h"
#include "unwind_table.h"
#include "fuzz.h"

static char path[64];

static void symbolize(struct elfobj *o, struct dwarfsrc *d, uint64_t vaddr)
{
	struct srcline fr[8];
	uint64_t start;
	int n;

	if (o) {
		elfobj__lookup(o, vaddr, &start);
		n = elfobj__symbolize(o, vaddr, fr, 8);
		FUZZ_CHECK(n <= 8);
	}
	if (d) {
		n = dwarfsrc__lookup(d, vaddr, fr, 8);
		FUZZ_CHECK(n <= 8);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unwind_table t;
	struct elfobj *o;
	struct dwarfsrc *d;
	uint64_t v;

	if (!path[0])
		snprintf(path, sizeof(path), "/dev/shm/fuzz_elf.%d", (int)getpid());
	if (fuzz_write_input(path, data, size))
		return 0;

	if (!unwind_table__build(path, &t)) {
		for (size_t i = 1; i < t.nr; i++)
			FUZZ_CHECK(t.rows[i - 1].pc < t.rows[i].pc);
		for (size_t i = 0; i < t.nr && i < 64; i++)
			FUZZ_CHECK(unwind_table__find(&t, t.rows[i].pc) == &t.rows[i]);
		unwind_table__clear(&t);
	}

	o = elfobj__open(path, NULL);
	d = dwarfsrc__open(path);
	/* addresses the input names, and the file offsets it maps */
	for (size_t i = 0; i + 8 <= size && i < 8 * 16; i += 8) {
		memcpy(&v, data + i, 8);
		symbolize(o, d, v);
	}
	for (uint64_t off = 0; o && off < size; off += 4096)
		if (!elfobj__offset_to_vaddr(o, off, &v))
			symbolize(o, d, v);
	elfobj__free(o);
	dwarfsrc__free(d);
	unlink(path);

	/* the same bytes as a vDSO image read from a process's memory, which
	 * the daemon parses itself */
	o = size <= ELFOBJ_IMAGE_MAX ? elfobj__open_vdso(data, size) : NULL;
	for (uint64_t off = 0; o && off < size; off += 256)
		if (!elfobj__offset_to_vaddr(o, off, &v))
			symbolize(o, NULL, v);
	elfobj__free(o);
	return 0;
}
