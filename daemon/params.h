/* HTTP request parameters of the profile endpoints, as Go's net/http/pprof
 * takes them, checked with a one-line reason for every refusal. */
#ifndef CPROF_PARAMS_H
#define CPROF_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PARAMS_MAX_SECONDS	3600	/* longest window a request may ask */
#define PARAMS_DEFAULT_SECONDS	30	/* Go's default for /profile */
#define PARAMS_MAX_HZ		1000
#define PARAMS_MAX_PIDS		64

struct param {
	const char *key;
	const char *value;		/* NULL: given without '=' */
};

struct profile_request {
	int seconds;			/* 0: not given */
	int hz;				/* 0: not given */
	int pids[PARAMS_MAX_PIDS];
	int nr_pids;
	int debug;			/* 0: protobuf; 1, 2: text */
	int gc;				/* accepted for Go compatibility, ignored */
};

/* Fill req from the query parameters. Unknown keys are ignored, as Go does.
 * 0, or -EINVAL with a reason like "seconds: must be a whole number from 1
 * to 3600, not \"abc\"" in err. */
int params__parse(const struct param *params, size_t nr, struct profile_request *req,
		  char *err, size_t errlen);

/* A size as flags give it: bytes, or with K, M or G (powers of 1024; "MiB"
 * and "MB" read the same). 0, or -EINVAL. */
int params__parse_size(const char *s, uint64_t *out);

#endif /* CPROF_PARAMS_H */
