/* SPDX-License-Identifier: GPL-2.0 */
/* Function names and stack-pointer offsets of Go binaries from the
 * runtime's own pc/line table (pclntab), which survives
 * `go build -ldflags='-s -w'` and strip(1). */
#ifndef CPROF_GOPCLNTAB_H
#define CPROF_GOPCLNTAB_H

#include <stdint.h>
#include <gelf.h>

/* Called once per function: [start, end) in the ELF's virtual addresses, name
 * NUL-terminated and valid only during the call. Non-zero return stops the walk
 * and is returned by gopclntab__read. */
typedef int (*gopclntab_cb)(void *ctx, uint64_t start, uint64_t end, const char *name);

/* Walk the functions of a Go binary's pclntab (found in section .gopclntab, or,
 * for PIE / external-link builds where that section is absent, located inside
 * .data.rel.ro via a validated header). Returns the number of functions, -ENOENT
 * when the object has no pclntab (not Go), -EINVAL when it is malformed, never
 * reads out of bounds on a corrupt file. */
int gopclntab__read(Elf *elf, gopclntab_cb cb, void *ctx);

/* Bits of a function's flag byte (funcFlag in runtime/symtab.go, Go 1.17 to
 * 1.20; abi.FuncFlag in internal/abi/symtab.go from 1.21). */
#define GOPCLNTAB_FLAG_TOPFRAME	0x01	/* the base of a stack: tracebacks end there */
#define GOPCLNTAB_FLAG_SPWRITE	0x02	/* writes SP in a way pcsp cannot say */
#define GOPCLNTAB_FLAG_ASM	0x04	/* written in assembly */

struct gopclntab_func {
	uint64_t entry, end;		/* [entry, end), ELF virtual addresses */
	const char *name;		/* valid during the callback */
	uint8_t flag;			/* GOPCLNTAB_FLAG_*; always 0 before Go 1.17 */
};

/* Called for each run of pcs [start, end) of f over which the stack pointer
 * is sp bytes below where it was at f's entry: 0 before anything is pushed,
 * and the return address is at rsp + sp throughout. */
typedef int (*gopclntab_sp_cb)(void *ctx, const struct gopclntab_func *f, uint64_t start,
			       uint64_t end, int32_t sp);

/* Walk the stack-pointer table (pcsp) of every function that has one, as
 * gopclntab__read() walks names: the function count, -ENOENT, -EINVAL. */
int gopclntab__read_sp(Elf *elf, gopclntab_sp_cb cb, void *ctx);

#endif /* CPROF_GOPCLNTAB_H */
