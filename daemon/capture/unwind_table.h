/* Unwind tables of one ELF object, built from its call-frame information
 * (.eh_frame, and .debug_frame where present), and for Go
 * code without it from the pclntab's stack-pointer table. */
#ifndef CPROF_UNWIND_TABLE_H
#define CPROF_UNWIND_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "unwind.h"

struct unwind_table {
	struct unwind_row *rows;	/* sorted by pc; gaps marked UNW_CFA_NONE */
	size_t nr;
	/* what was seen, for counters and tests */
	size_t nr_fdes;			/* FDEs that produced rows */
	size_t nr_go_funcs;		/* Go functions given rows from the pclntab */
	size_t nr_unsupported;		/* rows whose CFA or rbp rule cannot be followed */
	size_t nr_plt;			/* rows recognised as PLT stubs */
	int from_debug_frame;		/* 1: .debug_frame was used */
};

/* Build the table of the ELF file at path. 0, -ENOENT (no call-frame
 * information at all: the object gets frame pointers), -ERANGE (addresses
 * beyond 4 GiB), or -errno. */
int unwind_table__build(const char *path, struct unwind_table *t);
/* The same, with libdw playing the call-frame programs: the reference the
 * tests hold unwind_table__build() to. Not for files users may write. */
int unwind_table__build_libdw(const char *path, struct unwind_table *t);
/* Entries the indexes of t take in the index space (unwind.h). */
size_t unwind_table__index_len(const struct unwind_table *t);
/* Write t's indexes at out, the index space's entry base, and fill hdr. */
void unwind_table__index(const struct unwind_table *t, uint32_t base, uint64_t *out,
			 struct unwind_table_hdr *hdr);
/* The row for an ELF vaddr, or NULL (before the first row). */
const struct unwind_row *unwind_table__find(const struct unwind_table *t, uint64_t pc);
void unwind_table__clear(struct unwind_table *t);

#endif /* CPROF_UNWIND_TABLE_H */
