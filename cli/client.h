/* cprof-ctl's one way to talk to cprofd: an HTTP GET through libcurl, over
 * the daemon's Unix socket or TCP, with the failure told in one line. */
#ifndef CPROF_CLI_CLIENT_H
#define CPROF_CLI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer, always NUL-terminated past len (so text bodies
 * can be read as strings). */
struct buf {
	char *data;
	size_t len, cap;
};

/* Append; 0 or -ENOMEM (the buffer is unchanged then). */
int buf__append(struct buf *b, const void *data, size_t len);
void buf__free(struct buf *b);

/* Where cprofd is: its Unix socket, or a base URL like http://HOST:PORT. */
struct http_target {
	const char *socket_path;	/* NULL: use url */
	const char *url;		/* no trailing '/' */
	const char *token;		/* sent as a bearer token, or NULL */
	const char *cacert;		/* PEM file of the CA that signed cprofd's
					 * certificate (https), or NULL: the system's */
};

/* Told about the request while it runs, at least once a second. */
typedef void (*http_progress_fn)(void *ctx, double elapsed, uint64_t received);

struct http_get_opts {
	long timeout;			/* seconds for the whole request; 0: none */
	http_progress_fn progress;	/* NULL: none */
	void *ctx;
};

/* GET path (starting with '/', query included) from cprofd into body.
 * 0 on HTTP 200; -1 otherwise, with a one-line reason in err: cprofd not
 * reachable, cprofd refused the request (its one-line answer quoted), or the
 * transfer failed. Call curl_global_init() first. */
int http_get(const struct http_target *t, const char *path, const struct http_get_opts *opts,
	     struct buf *body, char *err, size_t errlen);

#endif /* CPROF_CLI_CLIENT_H */
