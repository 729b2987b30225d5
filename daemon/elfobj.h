/* One ELF object's symbols, build id and load segments, read through libelf. */
#ifndef CPROF_ELFOBJ_H
#define CPROF_ELFOBJ_H

#include <stddef.h>
#include <stdint.h>

struct elfobj;

/* NULL and errno on failure (ENOENT, EACCES, ENOEXEC: not ELF). */
struct elfobj *elfobj__open(const char *path);
/* GNU build id as lowercase hex, or NULL when it has none. */
const char *elfobj__build_id(const struct elfobj *o);
/* The ELF virtual address (what the symbol table uses) of a file offset in
 * one of the object's PT_LOAD segments; this is what makes PIE, non-PIE and
 * shared objects come out right whatever their load bias. 0 or -ENOENT. */
int elfobj__offset_to_vaddr(const struct elfobj *o, uint64_t offset, uint64_t *vaddr);
/* Name of the function holding vaddr (from .symtab, else .dynsym), or NULL.
 * *start gets the symbol's address when non-NULL. */
const char *elfobj__lookup(const struct elfobj *o, uint64_t vaddr, uint64_t *start);
/* Whether it had any function symbols at all. */
int elfobj__nr_symbols(const struct elfobj *o);
/* Approximate heap bytes it holds, for bounding caches. */
size_t elfobj__mem(const struct elfobj *o);
void elfobj__free(struct elfobj *o);

#endif /* CPROF_ELFOBJ_H */
