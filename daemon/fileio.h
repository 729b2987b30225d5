/* Reading whole files, /proc files included (their st_size is 0 and the
 * kernel hands them out a page or so per read). */
#ifndef CPROF_FILEIO_H
#define CPROF_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Read path to EOF into a malloc'd, NUL-terminated buffer. 0, or -errno
 * (-EFBIG beyond max bytes). *buf is NULL on failure. */
int read_file(const char *path, size_t max, char **buf, size_t *len);

/* A file's stamp: its change time and size, so that a file rewritten in
 * place, or a new file given an inode freed by the old one, is not taken for
 * the one a process mapped. */
uint64_t file_stamp(const struct stat *st);

/* The identity of a file a process mapped, as its maps said while it lived:
 * device and inode, and the stamp when known (0: not). */
struct file_id {
	uint64_t dev, inode, stamp;
};

/*
 * Open path read-only for parsing, only if it is that file: a regular file
 * (never a FIFO or device, and the open itself does not block) with id's
 * inode and stamp (or, without a stamp, its device). The file descriptor, or
 * -errno: -ESTALE when path is now another file, -EINVAL when not a regular
 * one. id NULL: any regular file. A /proc/PID/map_files/ path is the mapped
 * file by the kernel's word: only its type is checked there (deleting a
 * file moves its stamp).
 */
int open_same_file(const char *path, const struct file_id *id);

/* Who could have written the file at fd: its owner's uid, or
 * FILE_OWNER_MANY when its group or others may write to it too (or it
 * cannot be told). What is parsed from a file is shared by build id only
 * between files of one owner: a user's copy of root's binary, with its build
 * id and other contents, must not stand for root's. */
#define FILE_OWNER_MANY	UINT32_MAX
uint32_t file_owner(int fd);

#endif /* CPROF_FILEIO_H */
