// SPDX-License-Identifier: GPL-2.0
/* Sending the history's windows to ClickHouse (export.h).
 *
 * A spool file: "cprof-spool 2\n", then for the stacks and then the
 * samples "<bytes> <rows>\n" followed by that many bytes of TabSeparated
 * rows, gzipped: sent as they are (Content-Encoding: gzip), a tenth of the rows'
 * size on disk and on the wire.
 * Written to a temporary name, synced, then renamed to <seq>.spool, so a
 * crash leaves whole files or none; sent in sequence order. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clock.h"
#include "export.h"
#include "hashmap.h"
#include "log.h"
#include "rows.h"

#define SPOOL_MAGIC	"cprof-spool 2\n"
#define NS		1000000000LL
/* stack hashes known to be sent or spooled: past this many, forgotten
 * (stacks are sent again; the stacks table keeps one of each) */
#define KNOWN_MAX	(1u << 20)
#define BACKOFF_MAX_S	30

struct exporter {
	struct export_opts o;
	char *url, *shown_url, *dir;
	int dirfd;
	pthread_t thread;
	pthread_mutex_t lock;		/* all below */
	pthread_cond_t cond;
	bool stop;
	uint64_t next_seq;
	struct export_stats st;
	bool full_said;			/* the spool-full message, once a spell */
	bool write_said;		/* a write failed: said once */
	bool reject_said;		/* a file was refused: said once a spell */
	bool forget;			/* a file was rejected: send every stack again */
	/* the history's thread only */
	struct hashmap *known;
};

void export__redact(const char *url, char *out, size_t len)
{
	const char *scheme = strstr(url, "://"), *at, *slash;

	if (!scheme) {
		snprintf(out, len, "%s", url);
		return;
	}
	scheme += 3;
	slash = strchr(scheme, '/');
	at = strchr(scheme, '@');
	if (at && (!slash || at < slash))
		snprintf(out, len, "%.*s%s", (int)(scheme - url), url, at + 1);
	else
		snprintf(out, len, "%s", url);
}

/* "<seq>.spool": its sequence number, or 0. */
static uint64_t spool_seq(const char *name)
{
	char *end;
	uint64_t seq;

	if (name[0] < '0' || name[0] > '9')
		return 0;
	seq = strtoull(name, &end, 10);
	return !strcmp(end, ".spool") ? seq : 0;
}

/* The oldest spool file's sequence (0: none); counts and sizes them all.
 * at_start: temporary files are writes a crash cut short, removed (later
 * they may be a window being written). */
static uint64_t scan(struct exporter *x, bool at_start, uint64_t *files, uint64_t *bytes,
		     uint64_t *newest)
{
	uint64_t oldest = 0, seq;
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd = openat(x->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*files = *bytes = *newest = 0;
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, ".tmp-", 5)) {
			if (at_start)
				unlinkat(x->dirfd, de->d_name, 0);
			continue;
		}
		seq = spool_seq(de->d_name);
		if (!seq || fstatat(x->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(sb.st_mode))
			continue;
		(*files)++;
		*bytes += (uint64_t)sb.st_size;
		if (!oldest || seq < oldest)
			oldest = seq;
		if (seq > *newest)
			*newest = seq;
	}
	closedir(d);
	return oldest;
}

/* in, gzipped, into a malloc'd *out. 0 or -ENOMEM. */
static int gzip_buf(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream z = { 0 };
	size_t cap;
	int rc;

	*out = NULL;
	*out_len = 0;
	if (!len)
		return 0;
	if (deflateInit2(&z, 3, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&z, len);
	*out = malloc(cap);
	if (!*out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)*out;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int export__window(struct exporter *x, const char *view, int64_t start_ns, int64_t end_ns,
		   const uint8_t *buf, size_t len)
{
	struct rows_window w = { .host = x ? x->o.host : NULL, .view = view,
				 .start_ns = start_ns, .end_ns = end_ns };
	struct rows_stats rs = { 0 };
	char *stk = NULL, *smp = NULL, head[48], head2[48], tmp[64], name[64];
	size_t stk_len = 0, smp_len = 0, total;
	struct hashmap *pending = NULL;
	FILE *fs = NULL, *fm = NULL;
	int64_t t0 = mono_ns();
	uint64_t seq;
	int e, fd = -1;

	if (!x)
		return 0;
	pthread_mutex_lock(&x->lock);
	if (x->forget) {
		hashmap__free(x->known);
		x->known = NULL;
		x->forget = false;
	}
	pthread_mutex_unlock(&x->lock);
	if (!x->known || hashmap__count(x->known) > KNOWN_MAX) {
		hashmap__free(x->known);
		x->known = hashmap__new(sizeof(uint64_t), 1);
	}
	pending = hashmap__new(sizeof(uint64_t), 1);
	fs = open_memstream(&stk, &stk_len);
	fm = open_memstream(&smp, &smp_len);
	if (!x->known || !pending || !fs || !fm) {
		e = -ENOMEM;
		goto out;
	}
	e = rows__write(buf, len, &w, x->known, pending, fs, fm, &rs);
	if (fclose(fs) && !e)
		e = -ENOMEM;
	if (fclose(fm) && !e)
		e = -ENOMEM;
	fs = fm = NULL;
	if (e)
		goto out;
	if (!smp_len && !stk_len)
		goto out;	/* nothing happened in the window */
	if (stk_len > UINT32_MAX || smp_len > UINT32_MAX) {
		e = -EFBIG;
		goto out;
	}
	{
		char *zs, *zm;
		size_t zs_len, zm_len;

		e = gzip_buf(stk, stk_len, &zs, &zs_len);
		if (!e)
			e = gzip_buf(smp, smp_len, &zm, &zm_len);
		if (e) {
			free(zs);
			goto out;
		}
		free(stk);
		free(smp);
		stk = zs;
		smp = zm;
		stk_len = zs_len;
		smp_len = zm_len;
	}
	snprintf(head, sizeof(head), "%zu %" PRIu64 "\n", stk_len, rs.stacks);
	snprintf(head2, sizeof(head2), "%zu %" PRIu64 "\n", smp_len, rs.samples);
	total = strlen(SPOOL_MAGIC) + strlen(head) + stk_len + strlen(head2) + smp_len;

	pthread_mutex_lock(&x->lock);
	if (x->st.spool_bytes + total > x->o.spool_bytes) {
		x->st.dropped++;
		if (!x->full_said) {
			log_error("export: the spool %s is full (%" PRIu64 " KiB, --export-spool): windows are dropped until %s takes what waits (counted on /metrics)",
				  x->dir, x->o.spool_bytes >> 10, x->shown_url);
			x->full_said = true;
		}
		pthread_mutex_unlock(&x->lock);
		e = -ENOSPC;
		goto out;
	}
	x->full_said = false;
	seq = x->next_seq++;
	x->st.spool_bytes += total;	/* held now, so two writers cannot both fit */
	pthread_mutex_unlock(&x->lock);

	snprintf(tmp, sizeof(tmp), ".tmp-%020" PRIu64, seq);
	snprintf(name, sizeof(name), "%020" PRIu64 ".spool", seq);
	fd = openat(x->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		e = -errno;
	if (!e)
		e = write_all(fd, SPOOL_MAGIC, strlen(SPOOL_MAGIC));
	if (!e)
		e = write_all(fd, head, strlen(head));
	if (!e)
		e = write_all(fd, stk, stk_len);
	if (!e)
		e = write_all(fd, head2, strlen(head2));
	if (!e)
		e = write_all(fd, smp, smp_len);
	if (!e && fdatasync(fd))
		e = -errno;
	if (fd >= 0)
		close(fd);
	if (!e && renameat(x->dirfd, tmp, x->dirfd, name))
		e = -errno;
	pthread_mutex_lock(&x->lock);
	if (e) {
		unlinkat(x->dirfd, tmp, 0);
		x->st.spool_bytes -= total;
		x->st.dropped++;
		if (!x->write_said)
			log_error("export: cannot write a %s window into the spool %s: %s; dropped (counted on /metrics; said once)",
				  view, x->dir, strerror(-e));
		x->write_said = true;
	} else {
		x->st.spool_files++;
		x->st.spooled++;
		pthread_cond_signal(&x->cond);
	}
	x->st.convert_ns += (uint64_t)(mono_ns() - t0);
	pthread_mutex_unlock(&x->lock);
	if (!e) {
		/* its stacks are on their way: later windows need not carry them */
		uint64_t *h;
		size_t it = 0;

		while (hashmap__next(pending, &it, (void **)&h, NULL))
			if (!hashmap__insert(x->known, h, NULL))
				break;
	}
out:
	if (fs)
		fclose(fs);
	if (fm)
		fclose(fm);
	free(stk);
	free(smp);
	hashmap__free(pending);
	return e;
}

/* ---- the sending thread ------------------------------------------------- */

struct response {
	char text[512];
	size_t len;
};

static size_t take_response(char *p, size_t size, size_t n, void *arg)
{
	struct response *r = arg;
	size_t want = size * n, room = sizeof(r->text) - 1 - r->len;

	memcpy(r->text + r->len, p, want < room ? want : room);
	r->len += want < room ? want : room;
	r->text[r->len] = 0;
	return want;
}

/* libcurl's progress callback: a request in flight ends when cprofd
 * stops (a ClickHouse that takes the connection and never answers would
 * hold the shutdown for the whole timeout). */
static int stop_transfer(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			 curl_off_t ulnow)
{
	return __atomic_load_n(&((struct exporter *)arg)->stop, __ATOMIC_RELAXED);
}

/* POST body to ClickHouse with query sql. 0; -EAGAIN (could not reach it,
 * or it failed: try again later) or -EINVAL (it refused the data) with
 * the reason in why; -ECANCELED: cprofd stops. */
static int post(struct exporter *x, CURL *c, const char *sql, const char *body, size_t len,
		bool gzipped, char *why, size_t whylen)
{
	struct curl_slist *hdr = gzipped ? curl_slist_append(NULL, "Content-Encoding: gzip") : NULL;
	struct response r = { .len = 0 };
	char *q = curl_easy_escape(c, sql, 0), *url;
	long code = 0;
	CURLcode rc;
	int n;

	if (!q || (gzipped && !hdr)) {
		curl_free(q);
		curl_slist_free_all(hdr);
		return -ENOMEM;
	}
	n = asprintf(&url, "%s%squery=%s", x->url, strchr(x->url, '?') ? "&" : "?", q);
	curl_free(q);
	if (n < 0) {
		curl_slist_free_all(hdr);
		return -ENOMEM;
	}
	r.text[0] = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take_response);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(c);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdr);
	free(url);
	if (rc == CURLE_ABORTED_BY_CALLBACK)
		return -ECANCELED;	/* cprofd stops: the file stays for next time */
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", curl_easy_strerror(rc));
		return -EAGAIN;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200)
		return 0;
	/* the first line of ClickHouse's message */
	r.text[strcspn(r.text, "\n")] = 0;
	snprintf(why, whylen, "HTTP %ld: %.300s", code, r.text);
	/* 5xx and auth: its side, or its settings; anything else: our data */
	return code >= 500 || code == 401 || code == 403 || code == 404 ? -EAGAIN : -EINVAL;
}

/* Read spool file seq: its two parts (gzipped) and their rows. 0,
 * -ENOENT, or -EINVAL (not whole). */
static int read_spool(struct exporter *x, uint64_t seq, char **buf, size_t *len,
		      const char **stk, size_t *stk_len, const char **smp, size_t *smp_len,
		      uint64_t rows[2])
{
	char name[64], *p, *end;
	struct stat sb;
	size_t n;
	int fd;

	snprintf(name, sizeof(name), "%020" PRIu64 ".spool", seq);
	fd = openat(x->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_size > (off_t)x->o.spool_bytes) {
		close(fd);
		return -EINVAL;
	}
	*len = (size_t)sb.st_size;
	*buf = malloc(*len + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	for (n = 0; n < *len;) {
		ssize_t r = read(fd, *buf + n, *len - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	(*buf)[n] = 0;
	if (n != *len || n < strlen(SPOOL_MAGIC) || memcmp(*buf, SPOOL_MAGIC, strlen(SPOOL_MAGIC)))
		return -EINVAL;
	p = *buf + strlen(SPOOL_MAGIC);
	for (int part = 0; part < 2; part++) {
		unsigned long long v, r;

		if (p >= *buf + n || *p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || *end != ' ' || end[1] < '0' || end[1] > '9')
			return -EINVAL;
		r = strtoull(end + 1, &end, 10);
		if (errno || *end != '\n' || v > (unsigned long long)(*buf + n - end - 1))
			return -EINVAL;
		rows[part] = r;
		if (part) {
			*smp = end + 1;
			*smp_len = (size_t)v;
		} else {
			*stk = end + 1;
			*stk_len = (size_t)v;
		}
		p = end + 1 + v;
	}
	return p == *buf + n ? 0 : -EINVAL;
}

static bool wait_stop(struct exporter *x, int64_t ns)
{
	struct timespec until;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ns / NS;
	until.tv_nsec += ns % NS;
	if (until.tv_nsec >= NS) {
		until.tv_sec++;
		until.tv_nsec -= NS;
	}
	pthread_mutex_lock(&x->lock);
	while (!x->stop && pthread_cond_timedwait(&x->cond, &x->lock, &until) != ETIMEDOUT)
		if (ns < NS)	/* a short wait: woken for a new file */
			break;
	stop = x->stop;
	pthread_mutex_unlock(&x->lock);
	return stop;
}

/* Set file seq aside: ClickHouse refused it, or it is not whole. */
static void reject(struct exporter *x, uint64_t seq, size_t len, const char *why)
{
	char name[64], aside[80];

	snprintf(name, sizeof(name), "%020" PRIu64 ".spool", seq);
	snprintf(aside, sizeof(aside), "%s.rejected", name);
	renameat(x->dirfd, name, x->dirfd, aside);
	pthread_mutex_lock(&x->lock);
	if (!x->reject_said)
		log_error("export: %s/%s was refused (%s): set aside as %s; so are later ones like it (counted on /metrics; said once a spell)",
			  x->dir, name, why, aside);
	x->reject_said = true;
	x->st.spool_files--;
	x->st.spool_bytes -= len < x->st.spool_bytes ? len : x->st.spool_bytes;
	x->st.rejected++;
	x->forget = true;	/* its stacks may be needed by later windows */
	pthread_mutex_unlock(&x->lock);
}

static void *sender(void *arg)
{
	struct exporter *x = arg;
	bool tables = false, said = false;
	int backoff = 1;
	char why[400];
	CURL *c = curl_easy_init();

	if (!c) {
		log_error("export: libcurl cannot start: nothing is sent to ClickHouse");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, stop_transfer);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	if (x->o.ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, x->o.ca_file);
	for (;;) {
		uint64_t files, bytes, newest, seq;
		const char *stk = NULL, *smp = NULL;
		size_t len = 0, stk_len = 0, smp_len = 0;
		char *buf = NULL;
		uint64_t nrows[2] = { 0, 0 };
		int e = 0;

		seq = scan(x, false, &files, &bytes, &newest);
		if (!seq) {
			if (wait_stop(x, NS / 2))
				break;
			continue;
		}
		for (int i = 0; !tables && !e && i < 2; i++)
			e = post(x, c, rows_create_sql[i], NULL, 0, false, why, sizeof(why));
		if (!e) {
			tables = true;
			e = read_spool(x, seq, &buf, &len, &stk, &stk_len, &smp, &smp_len, nrows);
			if (e == -EINVAL) {
				reject(x, seq, len, "not a whole spool file");
				free(buf);
				continue;
			}
		}
		if (!e && stk_len)
			e = post(x, c, "INSERT INTO cprof_stacks_v1 FORMAT TabSeparated", stk, stk_len,
				 true, why, sizeof(why));
		if (!e && smp_len)
			e = post(x, c, "INSERT INTO cprof_samples_v1 FORMAT TabSeparated", smp, smp_len,
				 true, why, sizeof(why));
		if (!e) {
			char name[64];
			uint64_t rows = nrows[1], srows = nrows[0];

			snprintf(name, sizeof(name), "%020" PRIu64 ".spool", seq);
			unlinkat(x->dirfd, name, 0);
			pthread_mutex_lock(&x->lock);
			x->st.spool_files--;
			x->st.spool_bytes -= len;
			x->st.sent++;
			x->reject_said = false;
			x->st.sample_rows += rows;
			x->st.stack_rows += srows;
			x->st.bytes_sent += stk_len + smp_len;
			x->st.connected = true;
			pthread_mutex_unlock(&x->lock);
			if (said)
				log_info("export: %s answers again: sending what waited", x->shown_url);
			said = false;
			backoff = 1;
		} else if (e == -EINVAL) {
			reject(x, seq, len, why);
		} else if (e != -ENOENT && e != -ECANCELED) {
			pthread_mutex_lock(&x->lock);
			x->st.send_errors++;
			x->st.connected = false;
			pthread_mutex_unlock(&x->lock);
			if (!said)
				log_error("export: cannot send to %s: %s; windows wait in %s and are sent when it answers (counted on /metrics; said once a spell)",
					  x->shown_url, e == -ENOMEM ? strerror(ENOMEM) : why, x->dir);
			said = true;
			tables = false;
		}
		free(buf);
		if (e == -ECANCELED)
			break;
		if (e && e != -EINVAL && e != -ENOENT) {
			if (wait_stop(x, (int64_t)backoff * NS))
				break;
			backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
		} else {
			pthread_mutex_lock(&x->lock);
			e = x->stop;
			pthread_mutex_unlock(&x->lock);
			if (e)
				break;
		}
	}
	curl_easy_cleanup(c);
	return NULL;
}

struct exporter *export__start(const struct export_opts *o, char *err, size_t errlen)
{
	struct exporter *x = calloc(1, sizeof(*x));
	uint64_t files, bytes, newest;
	char shown[512];
	int e;

	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	x->dirfd = -1;
	x->o = *o;
	if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
		snprintf(err, errlen, "--export clickhouse=%s: give ClickHouse's HTTP interface, http://HOST:8123/ or https://...", o->url);
		goto fail;
	}
	export__redact(o->url, shown, sizeof(shown));
	x->url = strdup(o->url);
	x->shown_url = strdup(shown);
	x->dir = strdup(o->spool_dir);
	if (!x->url || !x->shown_url || !x->dir) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (mkdir(o->spool_dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create the export spool %s: %s", o->spool_dir, strerror(errno));
		goto fail;
	}
	x->dirfd = open(o->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (x->dirfd < 0) {
		snprintf(err, errlen, "cannot open the export spool %s: %s", o->spool_dir, strerror(errno));
		goto fail;
	}
	scan(x, true, &files, &bytes, &newest);
	x->next_seq = newest + 1;
	x->st.spool_files = files;
	x->st.spool_bytes = bytes;
	if (files)
		log_info("export: %" PRIu64 " windows (%" PRIu64 " KiB) wait in %s from before: sent first",
			 files, bytes >> 10, o->spool_dir);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	e = pthread_create(&x->thread, NULL, sender, x);
	if (e) {
		snprintf(err, errlen, "cannot start the export thread: %s", strerror(e));
		pthread_mutex_destroy(&x->lock);
		pthread_cond_destroy(&x->cond);
		goto fail;
	}
	pthread_setname_np(x->thread, "cprofd-export");
	return x;
fail:
	if (x->dirfd >= 0)
		close(x->dirfd);
	free(x->url);
	free(x->shown_url);
	free(x->dir);
	free(x);
	return NULL;
}

void export__stats(struct exporter *x, struct export_stats *st)
{
	if (!x) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&x->lock);
	*st = x->st;
	pthread_mutex_unlock(&x->lock);
}

void export__stop(struct exporter *x)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	__atomic_store_n(&x->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	pthread_join(x->thread, NULL);
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	hashmap__free(x->known);
	close(x->dirfd);
	free(x->url);
	free(x->shown_url);
	free(x->dir);
	free(x);
}
