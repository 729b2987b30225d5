// SPDX-License-Identifier: GPL-2.0
/*
 * The history store (store.h).
 *
 * A segment file is a run of records, each a 36-byte little-endian header
 *
 *	u32 magic 'CPRW', u16 version 1, u16 flags 0, i64 start_ns, i64 end_ns,
 *	u32 raw_len, u32 comp_len, u32 crc
 *
 * and comp_len bytes: one zstd frame of the window's raw bytes, compressed
 * with the raw bytes of the record before it in the segment as a prefix
 * (the first record of a segment has none). crc is zlib's crc32 of the
 * header, its crc field zero, then of the payload. A record can only be
 * read after every record before it in its segment: that is the price of
 * the prefix, and why segments are kept to a few hundred windows.
 *
 * In memory: an index (per segment its size, windows and times) and, per
 * view, the raw bytes of the last window of the segment it appends to, the
 * prefix of its next record.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>
#include "store.h"

#define MAGIC		0x57525043u	/* "CPRW" */
#define VERSION		1
#define HDR_SIZE	36
#define MAX_RAW		(256u << 20)
#define ZSTD_LEVEL	3
#define DEFAULT_WINDOWS	360
#define MIN_SEG_BYTES	(64ull << 10)	/* retention drops whole segments: small limits, small ones */
#define NAME_SIZE	21		/* 16 hex digits, ".seg", NUL */

struct segment {
	uint64_t seq;
	uint64_t size;			/* of the file: what retention counts */
	uint64_t valid;			/* where its valid records end: what is read */
	uint64_t windows, raw_bytes;
	int64_t first_start_ns, last_end_ns;	/* earliest start, latest end */
};

struct view {
	char name[32];
	int dirfd;
	struct segment *segs;		/* by sequence, oldest first */
	size_t nr, cap;
	uint64_t next_seq;		/* never reused, so a scan never opens a newer namesake */
	int fd;				/* >= 0: segs[nr - 1] is appended to */
	uint8_t *last;			/* ... and this is its last window */
	size_t last_len;
};

struct store {
	struct store_opts o;
	int dirfd;
	pthread_mutex_t lock;
	struct view **views;		/* by name */
	size_t nr_views;
	ZSTD_CCtx *cctx;
	struct store_stats st;		/* the counters; what is kept is summed when asked */
};

struct hdr {
	int64_t start_ns, end_ns;
	uint32_t raw_len, comp_len, crc;
};

/* Reading a segment's records in order, each decoded against the one before. */
struct reader {
	ZSTD_DCtx *dctx;
	int fd;
	uint64_t off, limit;
	struct hdr h;			/* of the record read last */
	uint8_t *prev, *cur, *comp;	/* prev: the raw bytes of the record read last */
	size_t prev_len, prev_cap, cur_cap, comp_cap;
};

/* Explicit little-endian bytes: no struct is written, so no padding leaks. */
static void put(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static uint64_t get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

static void hdr_encode(uint8_t *p, const struct hdr *h)
{
	put(p, MAGIC, 4);
	put(p + 4, VERSION, 2);
	put(p + 6, 0, 2);		/* flags */
	put(p + 8, (uint64_t)h->start_ns, 8);
	put(p + 16, (uint64_t)h->end_ns, 8);
	put(p + 24, h->raw_len, 4);
	put(p + 28, h->comp_len, 4);
	put(p + 32, h->crc, 4);
}

static bool hdr_decode(const uint8_t *p, struct hdr *h)
{
	h->start_ns = (int64_t)get(p + 8, 8);
	h->end_ns = (int64_t)get(p + 16, 8);
	h->raw_len = (uint32_t)get(p + 24, 4);
	h->comp_len = (uint32_t)get(p + 28, 4);
	h->crc = (uint32_t)get(p + 32, 4);
	return get(p, 4) == MAGIC && get(p + 4, 2) == VERSION && !get(p + 6, 2) &&
	       h->raw_len <= MAX_RAW && h->start_ns <= h->end_ns;
}

/* The crc of an encoded header (its crc field is zeroed) and payload. */
static uint32_t record_crc(uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	memset(hdr + 32, 0, 4);
	return (uint32_t)crc32(crc32(0, hdr, HDR_SIZE), payload, len);
}

static bool valid_view(const char *name)
{
	size_t n = 0;

	for (; name[n]; n++)
		if (n >= 31 || !((name[n] >= 'a' && name[n] <= 'z') ||
				 (name[n] >= '0' && name[n] <= '9') || name[n] == '_'))
			return false;
	return n > 0;
}

static void seg_name(char *buf, uint64_t seq)
{
	snprintf(buf, NAME_SIZE, "%016" PRIx64 ".seg", seq);
}

/* Only names the store writes: 16 lowercase hex digits and ".seg". */
static bool parse_seg_name(const char *name, uint64_t *seq)
{
	uint64_t v = 0;
	int i;

	if (strlen(name) != NAME_SIZE - 1 || strcmp(name + 16, ".seg"))
		return false;
	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*seq = v;
	return v != UINT64_MAX;		/* there would be no next one */
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t midpoint(int64_t a, int64_t b)
{
	/* halves first: the sum of two times from a file can overflow */
	return a / 2 + b / 2 + (a % 2 + b % 2) / 2;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (*buf && need <= *cap)
		return 0;
	p = realloc(*buf, need ? need : 1);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = need;
	return 0;
}

/* -ENODATA: the file ends first. */
static int read_at(int fd, uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ENODATA;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int write_at(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * The next record: 1 when it is whole (r->h is its header, r->prev its raw
 * bytes), 0 at the end of the valid ones (r->off is where they end: at
 * r->limit, or where an invalid one starts), -errno when reading fails.
 * Every length comes from a file that may be torn or hostile: each is
 * checked against the file's size and MAX_RAW before it is allocated.
 */
static int reader_next(struct reader *r)
{
	uint8_t hb[HDR_SIZE], *tmp;
	struct hdr h;
	size_t n;
	int err;

	if (r->limit - r->off < HDR_SIZE)
		return 0;
	err = read_at(r->fd, hb, HDR_SIZE, r->off);
	if (err)
		return err == -ENODATA ? 0 : err;
	if (!hdr_decode(hb, &h) || h.comp_len > r->limit - r->off - HDR_SIZE ||
	    h.comp_len > ZSTD_compressBound(h.raw_len))
		return 0;
	err = grow(&r->comp, &r->comp_cap, h.comp_len);
	if (!err)
		err = read_at(r->fd, r->comp, h.comp_len, r->off + HDR_SIZE);
	if (err)
		return err == -ENODATA ? 0 : err;
	/* the frame must say the size the header does before that is allocated */
	if (record_crc(hb, r->comp, h.comp_len) != h.crc ||
	    ZSTD_getFrameContentSize(r->comp, h.comp_len) != h.raw_len)
		return 0;
	err = grow(&r->cur, &r->cur_cap, h.raw_len);
	if (err)
		return err;
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_DCtx_refPrefix(r->dctx, r->prev, r->prev_len)))
		return -ENOMEM;
	n = ZSTD_decompressDCtx(r->dctx, r->cur, h.raw_len, r->comp, h.comp_len);
	if (ZSTD_isError(n) || n != h.raw_len)
		return 0;
	tmp = r->prev;
	r->prev = r->cur;
	r->cur = tmp;
	n = r->prev_cap;
	r->prev_cap = r->cur_cap;
	r->cur_cap = n;
	r->prev_len = h.raw_len;
	r->h = h;
	r->off += HDR_SIZE + h.comp_len;
	return 1;
}

static void reader_start(struct reader *r, int fd, uint64_t limit)
{
	r->fd = fd;
	r->off = 0;
	r->limit = limit;
	r->prev_len = 0;
}

static void reader_free(struct reader *r)
{
	free(r->prev);
	free(r->cur);
	free(r->comp);
}

/* The view named name, or NULL; *pos: where it is, or would go. */
static struct view *find_view(struct store *s, const char *name, size_t *pos)
{
	size_t i;
	int c = 1;

	for (i = 0; i < s->nr_views && (c = strcmp(s->views[i]->name, name)) < 0; i++)
		;
	if (pos)
		*pos = i;
	return i < s->nr_views && !c ? s->views[i] : NULL;
}

/* A new view, with dirfd its directory (closed on failure). */
static struct view *add_view(struct store *s, const char *name, int dirfd)
{
	struct view **views, *v = calloc(1, sizeof(*v));
	size_t pos;

	find_view(s, name, &pos);
	views = realloc(s->views, (s->nr_views + 1) * sizeof(*views));
	if (views)
		s->views = views;
	if (!views || !v) {
		free(v);
		close(dirfd);
		return NULL;
	}
	memmove(views + pos + 1, views + pos, (s->nr_views - pos) * sizeof(*views));
	views[pos] = v;
	s->nr_views++;
	strcpy(v->name, name);
	v->dirfd = dirfd;
	v->fd = -1;
	v->next_seq = 1;
	return v;
}

static int add_segment(struct view *v, const struct segment *seg)
{
	if (v->nr == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct segment *segs = realloc(v->segs, cap * sizeof(*segs));

		if (!segs)
			return -ENOMEM;
		v->segs = segs;
		v->cap = cap;
	}
	v->segs[v->nr++] = *seg;
	return 0;
}

/* Count a window of raw_len bytes, from start_ns to end_ns, in seg. */
static void seg_count(struct segment *seg, int64_t start_ns, int64_t end_ns, uint32_t raw_len)
{
	seg->windows++;
	seg->raw_bytes += raw_len;
	if (start_ns < seg->first_start_ns)
		seg->first_start_ns = start_ns;
	if (end_ns > seg->last_end_ns)
		seg->last_end_ns = end_ns;
}

/* The entries of directory dirfd (which stays open). NULL and errno. */
static DIR *dir_list(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (!d && fd >= 0) {
		int err = errno;

		close(fd);
		errno = err;
	}
	return d;
}

/* The next window of v starts a new segment. */
static void close_current(struct view *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	free(v->last);
	v->last = NULL;
	v->last_len = 0;
}

/* Check segment seq of v and index it; it becomes the one appended to (the
 * last one loaded is). A name that is not a regular file is left alone. */
static int load_segment(struct store *s, struct view *v, uint64_t seq, struct reader *r)
{
	struct segment seg = { .seq = seq, .first_start_ns = INT64_MAX, .last_end_ns = INT64_MIN };
	char name[NAME_SIZE];
	struct stat st;
	int fd, ret;

	seg_name(name, seq);
	fd = openat(v->dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -errno : 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	seg.size = (uint64_t)st.st_size;
	reader_start(r, fd, seg.size);
	while ((ret = reader_next(r)) > 0)
		seg_count(&seg, r->h.start_ns, r->h.end_ns, r->h.raw_len);
	seg.valid = r->off;
	if (!ret)
		ret = add_segment(v, &seg);
	if (ret) {
		close(fd);
		return ret;
	}
	if (seg.valid < seg.size)
		s->st.torn_records++;
	close_current(v);
	v->fd = fd;
	v->last = r->prev;
	v->last_len = r->prev_len;
	r->prev = NULL;
	r->prev_cap = 0;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int load_view(struct store *s, const char *name, struct reader *r)
{
	uint64_t *seqs = NULL, *tmp, seq;
	size_t nr = 0, cap = 0, i;
	struct segment *last;
	struct dirent *de;
	struct view *v;
	DIR *d = NULL;
	int fd, err = 0;

	fd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)	/* not a directory: not a view */
		return errno == ENOTDIR || errno == ELOOP ? 0 : -errno;
	v = add_view(s, name, fd);
	if (!v)
		return -ENOMEM;
	d = dir_list(v->dirfd);
	if (!d) {
		err = -errno;
		goto cleanup;
	}
	while ((de = readdir(d))) {
		if (!parse_seg_name(de->d_name, &seq))
			continue;
		/* past every name, even those not loaded: O_EXCL would fail on them */
		if (seq >= v->next_seq)
			v->next_seq = seq + 1;
		if (nr == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(seqs, cap * sizeof(*seqs));
			if (!tmp) {
				err = -ENOMEM;
				goto cleanup;
			}
			seqs = tmp;
		}
		seqs[nr++] = seq;
	}
	if (nr)
		qsort(seqs, nr, sizeof(*seqs), cmp_u64);
	for (i = 0; i < nr && !err; i++)
		err = load_segment(s, v, seqs[i], r);
	if (err || !v->nr || v->fd < 0)
		goto cleanup;
	/* a torn record is cut off the segment appended to, so the next goes
	 * where it began; if that cannot be done, the next goes to a new one */
	last = &v->segs[v->nr - 1];
	if (last->valid < last->size) {
		if (ftruncate(v->fd, (off_t)last->valid) || fdatasync(v->fd))
			close_current(v);
		else
			last->size = last->valid;
	}
cleanup:
	if (d)
		closedir(d);
	free(seqs);
	return err;
}

/* Unlink segment i of v and count what it held. */
static int drop(struct store *s, struct view *v, size_t i)
{
	struct segment seg = v->segs[i];
	char name[NAME_SIZE];

	seg_name(name, seg.seq);
	if (unlinkat(v->dirfd, name, 0) && errno != ENOENT)
		return -errno;
	if (i == v->nr - 1)
		close_current(v);
	memmove(v->segs + i, v->segs + i + 1, (v->nr - i - 1) * sizeof(seg));
	v->nr--;
	s->st.dropped_windows += seg.windows;
	s->st.dropped_bytes += seg.size;
	if (seg.windows && seg.last_end_ns > s->st.dropped_until_ns)
		s->st.dropped_until_ns = seg.last_end_ns;
	return 0;
}

/*
 * Drop the oldest segment (by its last window's end, across views) while
 * the total is over max_bytes or the oldest is over max_age_ns. A segment
 * being appended to is spared by size, since it is all there is of its
 * view's present; by age it goes, its view having stopped long ago.
 */
static void retain(struct store *s)
{
	int64_t now = now_ns(), cutoff = INT64_MIN;

	if (s->o.max_age_ns && s->o.max_age_ns < (uint64_t)now)
		cutoff = now - (int64_t)s->o.max_age_ns;
	for (;;) {
		struct view *ov = NULL;
		uint64_t total = 0;
		size_t oi = 0;

		for (size_t j = 0; j < s->nr_views; j++) {
			struct view *v = s->views[j];

			for (size_t i = 0; i < v->nr; i++) {
				const struct segment *seg = &v->segs[i];

				total += seg->size;
				if (i == v->nr - 1 && v->fd >= 0 && seg->last_end_ns >= cutoff)
					continue;
				if (!ov || seg->last_end_ns < ov->segs[oi].last_end_ns) {
					ov = v;
					oi = i;
				}
			}
		}
		if (!ov || (!(s->o.max_bytes && total > s->o.max_bytes) &&
			    ov->segs[oi].last_end_ns >= cutoff))
			break;
		if (drop(s, ov, oi))
			break;		/* not removable: tried again after the next append */
	}
}

struct store *store__open(const struct store_opts *opts)
{
	struct reader r = { 0 };
	struct dirent *de;
	struct store *s;
	DIR *d = NULL;
	int err = 0;

	if (!opts || !opts->dir) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->o = *opts;
	s->o.dir = NULL;		/* the caller's; s->dirfd stands for it */
	if (!s->o.segment_windows)
		s->o.segment_windows = DEFAULT_WINDOWS;
	s->dirfd = -1;
	s->cctx = ZSTD_createCCtx();
	r.dctx = ZSTD_createDCtx();
	if (!s->cctx || !r.dctx ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(s->cctx, ZSTD_c_checksumFlag, 1))) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (mkdir(opts->dir, 0700) && errno != EEXIST) {
		err = -errno;
		goto cleanup;
	}
	s->dirfd = open(opts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = s->dirfd >= 0 ? dir_list(s->dirfd) : NULL;
	if (!d) {
		err = -errno;
		goto cleanup;
	}
	while (!err && (de = readdir(d)))
		if (valid_view(de->d_name))
			err = load_view(s, de->d_name, &r);
	if (!err)
		retain(s);
cleanup:
	if (d)
		closedir(d);
	reader_free(&r);
	ZSTD_freeDCtx(r.dctx);
	if (err) {
		store__free(s);
		errno = -err;
		return NULL;
	}
	return s;
}

static int new_view(struct store *s, const char *name, struct view **vp)
{
	int fd;

	if (mkdirat(s->dirfd, name, 0700) && errno != EEXIST)
		return -errno;
	fd = openat(s->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the directory entry must last as long as the first segment in it */
	if (fsync(s->dirfd)) {
		close(fd);
		return -errno;
	}
	*vp = add_view(s, name, fd);
	return *vp ? 0 : -ENOMEM;
}

static int new_segment(struct view *v)
{
	struct segment seg = { .seq = v->next_seq, .first_start_ns = INT64_MAX,
			       .last_end_ns = INT64_MIN };
	char name[NAME_SIZE];
	int fd, err;

	if (seg.seq == UINT64_MAX)
		return -EOVERFLOW;
	/* room first: a file made cannot then go unindexed */
	err = add_segment(v, &seg);
	if (err)
		return err;
	v->nr--;
	v->next_seq++;			/* even on failure: the name may be taken */
	seg_name(name, seg.seq);
	fd = openat(v->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fsync(v->dirfd)) {
		err = -errno;
		unlinkat(v->dirfd, name, 0);
		close(fd);
		return err;
	}
	v->nr++;
	v->fd = fd;
	return 0;
}

static bool segment_full(const struct store *s, const struct segment *seg)
{
	uint64_t max = s->o.max_bytes / 16 > MIN_SEG_BYTES ? s->o.max_bytes / 16 : MIN_SEG_BYTES;

	return seg->windows >= s->o.segment_windows || (s->o.max_bytes && seg->size > max);
}

int store__append(struct store *s, const char *view, int64_t start_ns, int64_t end_ns,
		  const uint8_t *raw, size_t len)
{
	uint8_t *rec = NULL, *copy = NULL;
	struct hdr h = { start_ns, end_ns, (uint32_t)len, 0, 0 };
	struct segment *seg;
	struct view *v;
	size_t n;
	int err = 0;

	if (!valid_view(view) || end_ns < start_ns || len > MAX_RAW || (!raw && len))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	rec = malloc(HDR_SIZE + ZSTD_compressBound(len));
	copy = malloc(len ? len : 1);
	if (!rec || !copy) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (len)
		memcpy(copy, raw, len);
	v = find_view(s, view, NULL);
	if (!v && (err = new_view(s, view, &v)))
		goto cleanup;
	if (v->fd >= 0 && segment_full(s, &v->segs[v->nr - 1]))
		close_current(v);
	if (v->fd < 0 && (err = new_segment(v)))
		goto cleanup;
	seg = &v->segs[v->nr - 1];

	ZSTD_CCtx_reset(s->cctx, ZSTD_reset_session_only);
	n = ZSTD_CCtx_refPrefix(s->cctx, v->last, v->last_len);
	if (!ZSTD_isError(n))
		n = ZSTD_compress2(s->cctx, rec + HDR_SIZE, ZSTD_compressBound(len), copy, len);
	if (ZSTD_isError(n)) {
		err = -ENOMEM;
		goto cleanup;
	}
	h.comp_len = (uint32_t)n;
	hdr_encode(rec, &h);
	h.crc = record_crc(rec, rec + HDR_SIZE, h.comp_len);
	hdr_encode(rec, &h);

	err = write_at(v->fd, rec, HDR_SIZE + n, seg->size);
	if (!err && fdatasync(v->fd))
		err = -errno;
	if (err) {
		/* take back what part of it got there: the next record goes where
		 * it began, after a record whose raw bytes are still v->last */
		if (ftruncate(v->fd, (off_t)seg->size))
			close_current(v);
		goto cleanup;
	}
	seg->size += HDR_SIZE + n;
	seg->valid = seg->size;
	seg_count(seg, start_ns, end_ns, h.raw_len);
	free(v->last);
	v->last = copy;
	v->last_len = len;
	copy = NULL;
	s->st.appended++;
	retain(s);
cleanup:
	if (err)
		s->st.append_errors++;
	pthread_mutex_unlock(&s->lock);
	free(rec);
	free(copy);
	return err;
}

/* What a scan reads of a segment, taken under the lock and read without:
 * appends only add past valid, and a segment dropped meanwhile is either
 * still open here or gone (then skipped, as if dropped before). */
struct span {
	uint64_t seq, valid;
};

static int scan_segment(struct store *s, int dirfd, const struct span *sp, struct reader *r,
			int64_t from_ns, int64_t to_ns, store_window_fn fn, void *arg)
{
	char name[NAME_SIZE];
	int64_t mid;
	int fd, ret;

	seg_name(name, sp->seq);
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	reader_start(r, fd, sp->valid);
	while ((ret = reader_next(r)) > 0) {
		mid = midpoint(r->h.start_ns, r->h.end_ns);
		if (mid >= from_ns && mid < to_ns &&
		    (ret = fn(arg, r->h.start_ns, r->h.end_ns, r->prev, r->prev_len)))
			break;
	}
	if (!ret && r->off < r->limit) {
		/* whole when it was indexed: the disk, or someone, changed it */
		pthread_mutex_lock(&s->lock);
		s->st.torn_records++;
		pthread_mutex_unlock(&s->lock);
	}
	close(fd);
	return ret;
}

int store__scan(struct store *s, const char *view, int64_t from_ns, int64_t to_ns,
		store_window_fn fn, void *arg)
{
	struct reader r = { 0 };
	struct span *spans = NULL;
	size_t nr = 0, i;
	struct view *v;
	int dirfd = -1, err = 0;

	if (!valid_view(view) || !fn)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	v = find_view(s, view, NULL);
	if (v && v->nr && !(spans = malloc(v->nr * sizeof(*spans))))
		err = -ENOMEM;
	for (i = 0; spans && i < v->nr; i++) {
		const struct segment *seg = &v->segs[i];

		/* every window's midpoint lies between its start and end */
		if (seg->windows && seg->last_end_ns >= from_ns && seg->first_start_ns < to_ns)
			spans[nr++] = (struct span){ seg->seq, seg->valid };
	}
	if (v)
		dirfd = v->dirfd;	/* views are never freed before the store */
	pthread_mutex_unlock(&s->lock);
	if (err || !nr)
		goto cleanup;
	r.dctx = ZSTD_createDCtx();
	if (!r.dctx) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (i = 0; i < nr && !err; i++)
		err = scan_segment(s, dirfd, &spans[i], &r, from_ns, to_ns, fn, arg);
cleanup:
	free(spans);
	reader_free(&r);
	ZSTD_freeDCtx(r.dctx);
	return err;
}

/* What v keeps; *raw_bytes their uncompressed size. */
static struct store_view_info view_sum(const struct view *v, uint64_t *raw_bytes)
{
	struct store_view_info vi = { .first_start_ns = INT64_MAX, .last_end_ns = INT64_MIN };

	strcpy(vi.view, v->name);
	*raw_bytes = 0;
	for (size_t i = 0; i < v->nr; i++) {
		const struct segment *seg = &v->segs[i];

		vi.bytes += seg->size;
		vi.windows += seg->windows;
		*raw_bytes += seg->raw_bytes;
		if (seg->windows && seg->first_start_ns < vi.first_start_ns)
			vi.first_start_ns = seg->first_start_ns;
		if (seg->windows && seg->last_end_ns > vi.last_end_ns)
			vi.last_end_ns = seg->last_end_ns;
	}
	return vi;
}

int store__list(struct store *s, struct store_view_info *out, size_t max, size_t *nr)
{
	uint64_t raw_bytes;
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	for (size_t j = 0; j < s->nr_views; j++) {
		struct store_view_info vi = view_sum(s->views[j], &raw_bytes);

		if (vi.windows && n < max)
			out[n] = vi;
		n += vi.windows > 0;
	}
	pthread_mutex_unlock(&s->lock);
	*nr = n;
	return 0;
}

void store__stats(struct store *s, struct store_stats *st)
{
	uint64_t raw_bytes;

	pthread_mutex_lock(&s->lock);
	*st = s->st;
	st->windows = st->bytes = st->segments = st->raw_bytes = 0;
	for (size_t j = 0; j < s->nr_views; j++) {
		struct store_view_info vi = view_sum(s->views[j], &raw_bytes);

		st->windows += vi.windows;
		st->bytes += vi.bytes;
		st->raw_bytes += raw_bytes;
		st->segments += s->views[j]->nr;
	}
	pthread_mutex_unlock(&s->lock);
}

void store__free(struct store *s)
{
	if (!s)
		return;
	for (size_t j = 0; j < s->nr_views; j++) {
		struct view *v = s->views[j];

		close_current(v);
		close(v->dirfd);
		free(v->segs);
		free(v);
	}
	free(s->views);
	if (s->dirfd >= 0)
		close(s->dirfd);
	ZSTD_freeCCtx(s->cctx);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
