/* Reading whole files, /proc files included (their st_size is 0 and the
 * kernel hands them out a page or so per read). */
#ifndef CPROF_FILEIO_H
#define CPROF_FILEIO_H

#include <stddef.h>

/* Read path to EOF into a malloc'd, NUL-terminated buffer. 0, or -errno
 * (-EFBIG beyond max bytes). *buf is NULL on failure. */
int read_file(const char *path, size_t max, char **buf, size_t *len);

#endif /* CPROF_FILEIO_H */
