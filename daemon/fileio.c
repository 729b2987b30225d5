#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio.h"

#define READ_CHUNK (64u << 10)

int read_file(const char *path, size_t max, char **bufp, size_t *lenp)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *tmp;
	int fd, err = 0;
	ssize_t n;

	*bufp = NULL;
	*lenp = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (cap - len < READ_CHUNK / 4 + 1) {	/* + 1: room for the NUL */
			size_t ncap = cap ? cap * 2 : READ_CHUNK;

			if (ncap > max + 1)
				ncap = max + 1;
			if (ncap <= cap) {
				err = -EFBIG;
				goto cleanup;
			}
			tmp = realloc(buf, ncap);
			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			buf = tmp;
			cap = ncap;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	*bufp = buf;
	*lenp = len;
cleanup:
	close(fd);
	if (err)
		free(buf);
	return err;
}

uint64_t file_stamp(const struct stat *st)
{
	return ((uint64_t)st->st_ctim.tv_sec * 1000000000ull + (uint64_t)st->st_ctim.tv_nsec) ^
	       ((uint64_t)st->st_size * 0x9e3779b97f4a7c15ull);
}

/* /proc/PID/map_files/START-END: the kernel's link to the very file
 * mapped there, whatever has become of its path (and its change time, which
 * deleting it moves). */
static bool is_map_file(const char *path)
{
	return !strncmp(path, "/proc/", 6) && strstr(path, "/map_files/");
}

int open_same_file(const char *path, const struct file_id *id)
{
	struct stat st;
	int fd, err = 0;

	/* O_NONBLOCK: opening a FIFO no one writes to returns at once */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st))
		err = -errno;
	else if (!S_ISREG(st.st_mode))
		err = -EINVAL;
	else if (id && !is_map_file(path) && ((uint64_t)st.st_ino != id->inode ||
			(id->stamp ? file_stamp(&st) != id->stamp : (uint64_t)st.st_dev != id->dev)))
		err = -ESTALE;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

uint32_t file_owner(int fd)
{
	struct stat st;

	if (fstat(fd, &st) || (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_uid == FILE_OWNER_MANY)
		return FILE_OWNER_MANY;
	return (uint32_t)st.st_uid;
}
