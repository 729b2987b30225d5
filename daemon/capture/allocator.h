/* Where the heap view's uprobes go in one allocator object: a shared
 * library (libc.so.6, libjemalloc, libtcmalloc, libmimalloc) or a program
 * that defines malloc itself.
 *
 * The entry points are found by name in .dynsym (and .symtab, for a static
 * allocator) and each gets one probe, of the kind of enum heap_fn that
 * says what its arguments mean. Names that share an address share the probe
 * (tcmalloc's free and operator delete). An entry point that passes the
 * call on to another one (glibc's reallocarray to realloc, jemalloc's
 * operator delete to free, tcmalloc's valloc to tc_memalign, its memalign)
 * gets none: the inner probe counts that call, and two probes would count
 * one allocation twice. Passing on is judged on the path its code takes
 * when no conditional branch is taken, the usual case as compilers lay it
 * out: tcmalloc's sized delete hands only page-aligned blocks to free, and
 * keeps its probe. Nor does realloc's tail call to malloc or free (its NULL
 * and 0 cases, in glibc) make it a wrapper; calling malloc and then free
 * does.
 *
 * A probe goes on the first instruction the kernel emulates at a uprobe (a
 * relative jmp, jcc or call, or a push of a register) that every call runs
 * before anything changes rsp or the arguments the probe reads. Any other
 * instruction the kernel single-steps out of line, some ten times dearer
 * per call: glibc's free begins "test %rdi,%rdi; je", and its probe goes on
 * the je. So wherever the probe is, rsp is the entry's and [rsp] still
 * holds the return address (bpf/heap.bpf.h relies on it), and the argument
 * registers hold the arguments.
 *
 * The file is any user's: it is never mapped, every offset and size in it is
 * checked against its size, and what is read of it is bounded. */
#ifndef CPROF_ALLOCATOR_H
#define CPROF_ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALLOC_MAX_PROBES 32

struct alloc_probe {
	uint64_t offset;	/* file offset of the probed instruction (what uprobes take) */
	uint64_t vaddr;		/* its ELF virtual address */
	uint64_t func_vaddr;	/* the function's entry */
	uint32_t fn;		/* enum heap_fn */
	bool emulated;		/* an instruction the kernel emulates (no single-step) */
	bool null_to_malloc;	/* realloc: realloc(NULL, n) tail-calls malloc, whose
				 * probe counts it (glibc's) */
	char name[40];		/* the symbol, e.g. "free", "_ZdlPv" (first name at that address in the table order) */
};

struct allocator {
	char kind[16];		/* "glibc", "jemalloc", "tcmalloc", "mimalloc", or "other" (from the names it defines: je_/jemalloc symbols, tc_ symbols, mi_ symbols, __libc_malloc+GLIBC versions...) */
	struct alloc_probe probes[ALLOC_MAX_PROBES];
	int nr;
	int nr_single_stepped;	/* probes that could only go on an instruction the kernel single-steps */
	int nr_wrappers;	/* entry points left out: they call or tail-call another probed one */
};

/* Analyse the ELF object open on fd. 0; -ENOENT when it defines no malloc
 * (not an allocator); -ENOEXEC not ELF / malformed; -errno. err gets one line.
 *
 * Only x86-64 ELF64 executables and shared objects are taken (-ENOEXEC for
 * others); a file that is not regular is -EINVAL; -EFBIG when malloc could
 * only be in a symbol table too big to read. Thread-safe. */
int allocator__analyze(int fd, struct allocator *out, char *err, size_t errlen);

#endif /* CPROF_ALLOCATOR_H */
