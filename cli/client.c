/* HTTP GET to cprofd through libcurl, and the words for when it fails. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "client.h"

/* Profiles are a few MB; refuse an answer that would eat the machine. */
#define HTTP_MAX_BODY		(1UL << 30)
#define CONNECT_TIMEOUT		5	/* seconds */
/* How much of an error answer is quoted back. */
#define REASON_MAX		300

int buf__append(struct buf *b, const void *data, size_t len)
{
	size_t cap;
	char *p;

	if (len >= SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	if (b->len + len + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (!p)
			return -ENOMEM;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

void buf__free(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

struct transfer {
	struct buf *body;
	int write_err;			/* -ENOMEM or -EFBIG when we stopped it */
	const struct http_get_opts *opts;
	struct timespec start;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
	struct transfer *x = userp;
	size_t len = size * nmemb;

	if (x->body->len + len > HTTP_MAX_BODY) {
		x->write_err = -EFBIG;
		return 0;
	}
	if (buf__append(x->body, data, len)) {
		x->write_err = -ENOMEM;
		return 0;
	}
	return len;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *x = userp;
	struct timespec now;
	double elapsed;

	(void)dltotal, (void)ultotal, (void)ulnow;
	clock_gettime(CLOCK_MONOTONIC, &now);
	elapsed = (double)(now.tv_sec - x->start.tv_sec) +
		  (double)(now.tv_nsec - x->start.tv_nsec) / 1e9;
	x->opts->progress(x->opts->ctx, elapsed, dlnow > 0 ? (uint64_t)dlnow : 0);
	return 0;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The reason cprofd gave: the first non-empty line of its answer, without
 * control characters, cut at REASON_MAX. */
static void reason_of(const struct buf *body, char *out, size_t size)
{
	const char *p = body->data ? body->data : "";
	const char *end = p + body->len;
	size_t n = 0;

	while (p < end && isspace((unsigned char)*p))
		p++;
	while (p < end && *p != '\n' && *p != '\r' && n + 4 < size) {
		if (n == REASON_MAX) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		out[n++] = iscntrl((unsigned char)*p) ? '?' : *p;
		p++;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* "No such file or directory" reads "no such file or directory" after a colon. */
static void lower_first(const char *s, char *out, size_t size)
{
	snprintf(out, size, "%s", s);
	if (out[0] && isupper((unsigned char)out[0]) && !isupper((unsigned char)out[1]))
		out[0] = (char)tolower((unsigned char)out[0]);
}

static void describe_curl_error(CURL *curl, CURLcode rc, const struct transfer *x,
				const char *where, long timeout, const char *curl_err,
				char *err, size_t errlen)
{
	char reason[CURL_ERROR_SIZE + 64];
	long os_errno = 0;

	curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
	if (os_errno)
		lower_first(strerror((int)os_errno), reason, sizeof(reason));
	else
		lower_first(curl_err[0] ? curl_err : curl_easy_strerror(rc), reason, sizeof(reason));

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		if (os_errno == EACCES || os_errno == EPERM)
			set_err(err, errlen, "cannot reach cprofd at %s: %s; a cprofd older than 0.2 "
				"serves its socket to root only: run as root (sudo)", where, reason);
		else
			set_err(err, errlen, "cannot reach cprofd at %s: %s; is it running? (sudo cprofd)",
				where, reason);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		set_err(err, errlen, "cprofd at %s did not answer within %lds", where, timeout);
		break;
	case CURLE_WRITE_ERROR:
		if (x->write_err == -EFBIG) {
			set_err(err, errlen, "the answer of cprofd at %s is larger than %lu MiB; gave up",
				where, HTTP_MAX_BODY >> 20);
			break;
		}
		if (x->write_err == -ENOMEM) {
			set_err(err, errlen, "out of memory reading the answer of cprofd at %s", where);
			break;
		}
		/* fall through */
	default:
		set_err(err, errlen, "request to cprofd at %s failed: %s", where, reason);
		break;
	}
}

int http_get(const struct http_target *t, const char *path, const struct http_get_opts *opts,
	     struct buf *body, char *err, size_t errlen)
{
	static const struct http_get_opts no_opts;
	char curl_err[CURL_ERROR_SIZE] = "";
	char reason[REASON_MAX + 8];
	struct transfer x = { .body = body };
	const char *where = t->socket_path ? t->socket_path : t->url;
	struct curl_slist *headers = NULL;
	char *url = NULL;
	CURL *curl = NULL;
	CURLcode rc;
	long status = 0;
	int ret = -1;

	if (!opts)
		opts = &no_opts;
	x.opts = opts;
	if (asprintf(&url, "%s%s", t->socket_path ? "http://localhost" : t->url, path) < 0) {
		url = NULL;
		set_err(err, errlen, "out of memory");
		goto cleanup;
	}
	curl = curl_easy_init();
	if (!curl) {
		set_err(err, errlen, "cannot start libcurl");
		goto cleanup;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	if (t->socket_path)
		curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, t->socket_path);
	/* cprofd is local or reached directly: never through an http_proxy. */
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cprof-ctl");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT);
	if (t->cacert)
		curl_easy_setopt(curl, CURLOPT_CAINFO, t->cacert);
	if (t->token) {
		char *h = NULL;

		if (asprintf(&h, "Authorization: Bearer %s", t->token) < 0 ||
		    !(headers = curl_slist_append(NULL, h))) {
			free(h);
			set_err(err, errlen, "out of memory");
			goto cleanup;
		}
		explicit_bzero(h, strlen(h));
		free(h);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	}
	if (opts->timeout > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, opts->timeout);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
	if (opts->progress) {
		clock_gettime(CLOCK_MONOTONIC, &x.start);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	}

	rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		describe_curl_error(curl, rc, &x, where, opts->timeout, curl_err, err, errlen);
		goto cleanup;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200) {
		ret = 0;
		goto cleanup;
	}
	reason_of(body, reason, sizeof(reason));
	if (!reason[0])
		snprintf(reason, sizeof(reason), "HTTP %ld", status);
	if (status >= 400 && status < 500)
		set_err(err, errlen, "cprofd refused the request: %s", reason);
	else if (status >= 500)
		set_err(err, errlen, "cprofd failed to serve the request: %s", reason);
	else
		set_err(err, errlen, "cprofd at %s answered with HTTP %ld, not 200", where, status);
cleanup:
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	free(url);
	return ret;
}
