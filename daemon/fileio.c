#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
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
