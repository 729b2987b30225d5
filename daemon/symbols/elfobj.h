/* One ELF object's symbols, build id and load segments, read through libelf,
 * with its DWARF (file, line, inlined frames) when there is some. */
#ifndef CPROF_ELFOBJ_H
#define CPROF_ELFOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "dwarfsrc.h"

struct elfobj;
struct debuginfo;

/* Where the object's symbols came from. */
enum elfobj_source {
	ELFOBJ_SRC_NONE,		/* no function symbols at all */
	ELFOBJ_SRC_DYNSYM,		/* only the dynamic symbols (stripped) */
	ELFOBJ_SRC_SYMTAB,		/* its own .symtab */
	ELFOBJ_SRC_DEBUG_FILE,		/* a separate debug file's .symtab */
	ELFOBJ_SRC_MINIDEBUGINFO,	/* .gnu_debugdata */
	ELFOBJ_SRC_GOPCLNTAB,		/* Go's function table */
};

/* How to look for separate debug information; NULL: not at all. */
struct elfobj_debug {
	struct debuginfo *debuginfo;
	const char *path;		/* the object's path as its process sees it */
	const char *root;		/* "/proc/PID/root", or "" */
};

/* NULL and errno on failure (ENOENT, EACCES, ENOEXEC: not ELF). */
struct elfobj *elfobj__open(const char *path, const struct elfobj_debug *dbg);
/* An ELF image held in memory is at most this big (the vDSO is 8 KiB). */
#define ELFOBJ_IMAGE_MAX	(1u << 20)

/* The kernel's vDSO from a copy of its image (size bytes, as mapped from
 * its ELF header on): symbols from its .dynsym, build id, segments; the
 * kernel's __vdso_ names preferred over their weak plain aliases. The bytes
 * are treated as hostile: every header, segment and section must lie
 * inside them. The image may be freed on return. NULL and errno (EINVAL:
 * no image or bigger than ELFOBJ_IMAGE_MAX, ENOEXEC: not a valid ELF image). */
struct elfobj *elfobj__open_vdso(const void *image, size_t size);
/* Only the build id of the file at path, as lowercase hex: cheap, to find
 * an object already cached under another name. 0 or -errno (-ENOENT: none). */
int elfobj__read_build_id(const char *path, char *out, size_t len);
/* GNU build id as lowercase hex, or NULL when it has none. */
const char *elfobj__build_id(const struct elfobj *o);
/* The ELF virtual address (what the symbol table uses) of a file offset in
 * one of the object's PT_LOAD segments; this is what makes PIE, non-PIE and
 * shared objects come out right whatever their load bias. 0 or -ENOENT. */
int elfobj__offset_to_vaddr(const struct elfobj *o, uint64_t offset, uint64_t *vaddr);
/* Name of the function holding vaddr (from .symtab, else .dynsym), or NULL.
 * Of several names at one address, the one people call it by (malloc, not
 * __libc_malloc; see cmp_cand in elfobj.c for the rule). *start gets the
 * symbol's address when non-NULL. */
const char *elfobj__lookup(const struct elfobj *o, uint64_t vaddr, uint64_t *start);
/* The frames at vaddr, innermost first: from DWARF, the inlined functions
 * then the one holding them, with files and lines; without DWARF, the
 * symbol's function alone. The outermost frame takes elfobj__lookup's name
 * when DWARF's is another name of the same symbol, so that DWARF does not
 * change what a function is called. Names are demangled (system_name keeps the
 * mangled form). Returns how many were written (<= max), 0 when nothing
 * names vaddr. Strings are valid until elfobj__free. */
int elfobj__symbolize(struct elfobj *o, uint64_t vaddr, struct srcline *out, int max);
/* Whether files, lines and inlined frames come with its frames. */
bool elfobj__has_dwarf(const struct elfobj *o);
/* Whether a debuginfod fetch for it was pending when it was opened: opening
 * it again later may find more. */
bool elfobj__debug_pending(const struct elfobj *o);
enum elfobj_source elfobj__source(const struct elfobj *o);
/* Whether it had any function symbols at all. */
int elfobj__nr_symbols(const struct elfobj *o);
/* Approximate heap bytes it holds, for bounding caches. */
size_t elfobj__mem(const struct elfobj *o);
void elfobj__free(struct elfobj *o);

#endif /* CPROF_ELFOBJ_H */
