/* Minimal test harness for cprof's unit tests. Each check prints one line,
 * "PASS: name" or "FAIL: name: why", which tests/run.sh counts; a test that
 * cannot run here prints "SKIP: name: reason". main() returns CHECK_EXIT(). */
#ifndef CPROF_CHECK_H
#define CPROF_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static int check_failed;

#define CHECK(cond, name, ...)						\
	do {								\
		if (cond) {						\
			printf("PASS: %s\n", name);			\
		} else {						\
			check_failed++;					\
			printf("FAIL: %s: ", name);			\
			printf(__VA_ARGS__);				\
			printf(" (%s:%d)\n", __FILE__, __LINE__);	\
		}							\
	} while (0)

#define SKIP(name, ...)							\
	do {								\
		printf("SKIP: %s: ", name);				\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	} while (0)

#define CHECK_EXIT() (check_failed ? 1 : 0)

/* Run a shell command the test needs (a compiler, readelf); say so when it
 * fails, as a comment line the runner does not count. */
static inline int sh(const char *cmd)
{
	int ret = system(cmd);

	if (ret != 0)
		printf("# command failed (%d): %s\n", ret, cmd);
	return ret;
}

#endif /* CPROF_CHECK_H */
