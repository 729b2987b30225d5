/* Shared by the fuzz harnesses: a check that aborts (libFuzzer keeps the
 * input), and writing an input to the file a parser will open. */
#ifndef CPROF_FUZZ_H
#define CPROF_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "check failed: %s (line %d)\n",	\
				#cond, __LINE__);			\
			abort();					\
		}							\
	} while (0)

static inline int fuzz_write_input(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (size && fwrite(data, 1, size, f) != size)
		err = -EIO;
	if (fclose(f) && !err)
		err = -EIO;
	return err;
}

#endif /* CPROF_FUZZ_H */
