/* SPDX-License-Identifier: GPL-2.0 */
/* The vDSO, the ELF image the kernel maps into every process as [vdso]:
 * its frames named from its own symbols, one parsed copy per image. */
#ifndef CPROF_VDSO_H
#define CPROF_VDSO_H

#include <stddef.h>
#include <stdint.h>

struct elfobj;
struct vdso;

/* Different images kept at most: 64-bit, 32-bit and x32 processes each
 * have their kernel's one; a process that wrote into its vDSO (a debugger's
 * breakpoint) has its own. */
#define VDSO_MAX_IMAGES		8

struct vdso_stats {
	uint64_t images;		/* different images seen (valid or not) */
	uint64_t read_errors;		/* mappings that could not be read (process gone) */
	uint64_t refused;		/* images that are not valid ELF, or too many */
};

struct vdso *vdso__new(void);
/*
 * The object of the [vdso] mapping [start, end) of process pid, whose bytes
 * are read from /proc/PID/mem (at most ELFOBJ_IMAGE_MAX) and compared with
 * the images already parsed: a process with the same image as another gets
 * the same object. NULL and errno: EFBIG (mapping too big), ESRCH/EIO/EACCES
 * (cannot be read), ENOEXEC (not a valid ELF image), ENOSPC (more than
 * VDSO_MAX_IMAGES images). Borrowed: valid until vdso__free. Not
 * thread-safe (cprofd calls it under its symbolization lock).
 */
struct elfobj *vdso__find(struct vdso *v, uint32_t pid, uint64_t start, uint64_t end);
/* The same for an image already in memory (cprofd's own vDSO, tests). */
struct elfobj *vdso__image(struct vdso *v, const void *image, size_t size);
void vdso__stats(const struct vdso *v, struct vdso_stats *st);
void vdso__free(struct vdso *v);	/* NULL-safe */

#endif /* CPROF_VDSO_H */
