// SPDX-License-Identifier: GPL-2.0
/*
 * Frames in the vDSO (clock_gettime, gettimeofday, time, getcpu without a
 * system call) are named from the vDSO's own .dynsym, as perf does. There is
 * no file to open: the image is read from the process's memory at its
 * [vdso] mapping, which starts with the ELF header, and parsed by elfobj,
 * which checks every header, segment and section against the bytes read (a
 * process can write into its own vDSO, so they are hostile input). All
 * 64-bit processes of one kernel share one image, so the parsed objects are
 * kept by image: a few reads of a page or two and a memcmp per process and
 * profile, one parse per kernel ABI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfobj.h"
#include "vdso.h"

struct vdso_image {
	unsigned char *bytes;
	size_t size;
	struct elfobj *obj;		/* NULL: the image was refused */
};

struct vdso {
	struct vdso_image images[VDSO_MAX_IMAGES];
	int nr_images;
	struct vdso_stats stats;
};

struct vdso *vdso__new(void)
{
	return calloc(1, sizeof(struct vdso));
}

/* Read [start, start + size) of pid's memory into buf. 0 or -errno. */
static int read_mem(uint32_t pid, uint64_t start, unsigned char *buf, size_t size)
{
	char path[64];
	size_t done = 0;
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%u/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done, (off_t)(start + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	return err;
}

struct elfobj *vdso__image(struct vdso *v, const void *image, size_t size)
{
	struct vdso_image *im;
	int i, err = 0;

	if (!v || !image || !size) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < v->nr_images; i++) {
		im = &v->images[i];
		if (im->size == size && !memcmp(im->bytes, image, size)) {
			if (!im->obj)
				errno = ENOEXEC;
			return im->obj;
		}
	}
	if (v->nr_images == VDSO_MAX_IMAGES) {
		v->stats.refused++;
		errno = ENOSPC;
		return NULL;
	}
	im = &v->images[v->nr_images];
	im->bytes = malloc(size);
	if (!im->bytes) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(im->bytes, image, size);
	im->size = size;
	/* A refused image is kept too, so that it is not parsed again. */
	im->obj = elfobj__open_vdso(image, size);
	if (!im->obj) {
		err = errno;
		v->stats.refused++;
	}
	v->nr_images++;
	v->stats.images++;
	if (err)
		errno = err;
	return im->obj;
}

struct elfobj *vdso__find(struct vdso *v, uint32_t pid, uint64_t start, uint64_t end)
{
	struct elfobj *obj = NULL;
	unsigned char *buf = NULL;
	size_t size;
	int err = 0;

	if (!v || !pid || end <= start) {
		err = EINVAL;
		goto cleanup;
	}
	if (end - start > ELFOBJ_IMAGE_MAX || start > INT64_MAX - ELFOBJ_IMAGE_MAX) {
		err = EFBIG;
		goto cleanup;
	}
	size = (size_t)(end - start);
	buf = malloc(size);
	if (!buf) {
		err = ENOMEM;
		goto cleanup;
	}
	err = -read_mem(pid, start, buf, size);
	if (err) {
		v->stats.read_errors++;
		goto cleanup;
	}
	obj = vdso__image(v, buf, size);
	if (!obj)
		err = errno;

cleanup:
	free(buf);
	if (err)
		errno = err;
	return obj;
}

void vdso__stats(const struct vdso *v, struct vdso_stats *st)
{
	if (!v) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = v->stats;
}

void vdso__free(struct vdso *v)
{
	int i;

	if (!v)
		return;
	for (i = 0; i < v->nr_images; i++) {
		elfobj__free(v->images[i].obj);
		free(v->images[i].bytes);
	}
	free(v);
}
