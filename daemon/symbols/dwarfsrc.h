/* Source file, line and inlined frames of code addresses, from an object's
 * DWARF, read through libdw. */
#ifndef CPROF_DWARFSRC_H
#define CPROF_DWARFSRC_H

#include <stddef.h>
#include <stdint.h>

/* Addresses whose frames are kept, per object (see dwarfsrc__lookup). */
#define DWARFSRC_CACHE_MAX	4096
/* Frames reported at most for one address, the function included (a large
 * C++ program built with -O2 reaches 24); deeper, the innermost are kept. */
#define DWARFSRC_FRAMES_MAX	64

struct srcline {
	const char *function;		/* readable (demangled) name, or NULL when DWARF has none */
	const char *system_name;	/* mangled linkage name, or NULL when the same */
	const char *file;		/* full path as DWARF gives it (comp_dir joined), or NULL */
	int line;			/* 0: unknown */
};

struct dwarfsrc;

/* DWARF of one object: the object itself or its separate debug file (same
 * addresses). NULL with errno ENOENT when it has no .debug_info (no
 * compilation unit), ENOEXEC when not ELF, or another errno. Keeps the file
 * mapped (no descriptor stays open). Split DWARF (.dwo) is not followed. */
struct dwarfsrc *dwarfsrc__open(const char *path);
/*
 * The frames at vaddr (an ELF virtual address; for a return address the
 * caller passes ret-1), innermost first: each inlined function, then the
 * function that holds them all. The innermost frame's file:line is the line
 * table's row for vaddr; each outer frame's is the call site
 * (DW_AT_call_file/call_line) of the inlined frame inside it. Code that
 * DWARF covers without a function DIE (assembly without one, thunks) gives
 * one frame with function NULL and the line table's file:line: the ELF
 * symbol is the caller's to add.
 *
 * Names: the linkage name demangled (system_name then holds it), else
 * DW_AT_name (also when the linkage name does not demangle). When the
 * outermost function of C++ or Rust code has no linkage name in DWARF
 * (gcc's lambdas and .isra/.cold clones), the ELF symbol starting at its
 * range is used, as binutils does.
 *
 * Returns the number of frames written (<= max; when there are more, the
 * innermost max), 0 when no DWARF covers vaddr, or -errno (-EINVAL,
 * -ENOMEM). Strings stay valid until dwarfsrc__free.
 *
 * Cached: the frames of at most DWARFSRC_CACHE_MAX addresses (8-way sets,
 * least recently used out; the table starts at 64 slots and doubles as it
 * fills; 24 bytes a slot and 32 a frame). Kept until dwarfsrc__free, built
 * when first needed: per compilation unit, its functions' ranges (64 bytes
 * a function); per function, its inlined calls (about 80 bytes each); one
 * demangled name per linkage name and one path per file used. All of it
 * and libdw's line tables are counted by dwarfsrc__mem.
 * Not thread-safe: callers serialize per object.
 */
int dwarfsrc__lookup(struct dwarfsrc *d, uint64_t vaddr, struct srcline *out, int max);
/* Heap bytes held, for cache bounds: our tables and names exactly, libdw's
 * own (line tables, decompressed sections) estimated. */
size_t dwarfsrc__mem(const struct dwarfsrc *d);
void dwarfsrc__free(struct dwarfsrc *d);	/* NULL-safe */

#endif /* CPROF_DWARFSRC_H */
