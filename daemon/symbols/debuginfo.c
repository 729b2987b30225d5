// SPDX-License-Identifier: GPL-2.0
/*
 * Separate debug information for an ELF object, found the way a profiler
 * daemon can afford to look for it: only local files are ever read on the
 * caller's thread (build-id directories, .gnu_debuglink candidates, the
 * debuginfod client cache), each candidate is checked (ELF, has symbols or
 * DWARF, build id, debuglink CRC) before it is returned, and downloads from
 * debuginfod servers run on one worker thread fed by a bounded queue. The
 * caller gets EAGAIN while a fetch is pending and the file once it is done;
 * failed fetches are remembered for a while so a missing build id costs one
 * request per ten minutes, not one per sample.
 *
 * Also decompresses MiniDebugInfo (.gnu_debugdata), the xz'd symbol table
 * some distributions embed in stripped binaries.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <lzma.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <elfutils/debuginfod.h>

#include "elfinit.h"
#include "buildid.h"
#include "debuginfo.h"

#define DEFAULT_DEBUG_DIR	"/usr/lib/debug"
#define QUEUE_MAX		256	/* fetches waiting for the worker */
#define FETCH_TABLE_MAX		4096	/* build ids remembered (pending, done, failed) */
#define FETCH_BUCKETS		1024
#define RETRY_AFTER_S		600	/* a failed fetch is not retried before this */
#define FETCH_MAX_S		300	/* one fetch, connection and download */
#define MINIDEBUG_MAX		(64u << 20)
#define LZMA_MEM_MAX		(128u << 20)
#define CRC_CACHE_SIZE		64
#define CRC_BUF_SIZE		(256u << 10)

enum fetch_state {
	FETCH_QUEUED,
	FETCH_RUNNING,
	FETCH_DONE,
	FETCH_FAILED,
};

/* One build id asked of debuginfod. Queued and running entries are owned
 * by the queue/worker and never evicted. */
struct fetch {
	struct fetch *hnext;		/* hash chain */
	struct fetch *qnext;		/* queue order, while FETCH_QUEUED */
	struct build_id id;
	enum fetch_state state;
	uint64_t when;			/* monotonic seconds of the last change */
	char *path;			/* FETCH_DONE: the file in the cache */
};

/* CRC32 of a file already read, keyed by what changes when it does. */
struct crc_entry {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	uint32_t crc;
	bool valid;
};

struct debuginfo {
	char *debug_dir;
	char *cache_dir;		/* libdebuginfod's client cache */
	bool debuginfod;

	/* Used by debuginfo__find only (one caller at a time). */
	struct crc_entry crcs[CRC_CACHE_SIZE];
	unsigned int crc_next;

	/* Used by the worker only. */
	uint64_t fetch_start;

	pthread_mutex_t lock;		/* protects everything below */
	pthread_cond_t cond;		/* queue not empty, or stop */
	pthread_t worker;
	bool worker_running;
	bool stop;			/* also read by fetch_progress, to abort */
	struct fetch *buckets[FETCH_BUCKETS];
	size_t nr_fetches;
	struct fetch *qhead, *qtail;
	size_t qlen;
	struct debuginfo_stats st;
};

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t crc_table[8][256];

static void crc_init(void)
{
	uint32_t c = 0;
	int i, k;

	/* CRC-32 as in .gnu_debuglink (and zlib): reflected 0x04c11db7,
	 * sliced eight bytes at a time. */
	for (i = 0; i < 256; i++) {
		c = (uint32_t)i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (k = 1; k < 8; k++)
			crc_table[k][i] = (crc_table[k - 1][i] >> 8) ^
					  crc_table[0][crc_table[k - 1][i] & 0xff];
}

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (n >= 8) {
		uint32_t lo, hi;

		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
#endif
	while (n--)
		crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static uint64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* snprintf into a PATH_MAX buffer; false when it did not fit. */
static bool __attribute__((format(printf, 2, 3)))
fmt_path(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n >= 0 && n < PATH_MAX;
}

static bool build_id__eq(const struct build_id *a, const struct build_id *b)
{
	return a->len == b->len && !memcmp(a->bytes, b->bytes, a->len);
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (!gelf_getshdr(scn, shdr))
			continue;
		n = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (n && !strcmp(n, name))
			return scn;
	}
	return NULL;
}

/* Whether a file holds what a debug file is for: a symbol table or DWARF
 * with contents (a stripped binary has neither; an --only-keep-debug file
 * has both, its code sections turned into NOBITS). */
static bool has_debug(Elf *elf)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		const char *n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type == SHT_NOBITS)
			continue;
		if (shdr.sh_type == SHT_SYMTAB)
			return true;
		n = elf_strptr(elf, shstrndx, shdr.sh_name);
		if (n && (!strncmp(n, ".debug_info", 11) || !strncmp(n, ".zdebug_info", 12)))
			return true;
	}
	return false;
}

/* The file name and CRC in .gnu_debuglink: the name, NUL, padding to four
 * bytes, then the CRC32 of the debug file in the object's byte order. */
static int read_debuglink(Elf *elf, char *name, size_t size, uint32_t *crc)
{
	const unsigned char *p, *c;
	Elf_Data *data;
	GElf_Ehdr ehdr;
	GElf_Shdr shdr;
	Elf_Scn *scn;
	size_t len, off;
	int err = 0;

	scn = find_section(elf, ".gnu_debuglink", &shdr);
	if (!scn || shdr.sh_type == SHT_NOBITS || !gelf_getehdr(elf, &ehdr)) {
		err = -ENOENT;
		goto cleanup;
	}
	data = elf_rawdata(scn, NULL);
	if (!data || !data->d_buf) {
		err = -ENOENT;
		goto cleanup;
	}
	p = data->d_buf;
	len = strnlen((const char *)p, data->d_size);
	off = (len + 4) & ~(size_t)3;
	/* A bare file name: a '/' would let the link climb out of the
	 * directories we mean to search. */
	if (!len || len >= size || off + 4 > data->d_size ||
	    memchr(p, '/', len) || !strcmp((const char *)p, "..")) {
		err = -EBADMSG;
		goto cleanup;
	}
	memcpy(name, p, len + 1);
	c = p + off;
	if (ehdr.e_ident[EI_DATA] == ELFDATA2MSB)
		*crc = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
	else
		*crc = (uint32_t)c[3] << 24 | (uint32_t)c[2] << 16 | (uint32_t)c[1] << 8 | c[0];

cleanup:
	return err;
}

static int file_crc(struct debuginfo *d, int fd, const struct stat *st, uint32_t *crc)
{
	struct crc_entry *e;
	unsigned char *buf = NULL;
	uint32_t c = 0;
	off_t off = 0;
	unsigned int i;
	int err = 0;

	for (i = 0; i < CRC_CACHE_SIZE; i++) {
		e = &d->crcs[i];
		if (e->valid && e->dev == st->st_dev && e->ino == st->st_ino &&
		    e->size == st->st_size && e->mtime.tv_sec == st->st_mtim.tv_sec &&
		    e->mtime.tv_nsec == st->st_mtim.tv_nsec) {
			*crc = e->crc;
			goto cleanup;
		}
	}

	buf = malloc(CRC_BUF_SIZE);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n = pread(fd, buf, CRC_BUF_SIZE, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto cleanup;
		}
		if (!n)
			break;
		c = crc32_update(c, buf, (size_t)n);
		off += n;
	}
	if (off != st->st_size) {
		err = -ESTALE;	/* changed while we read it */
		goto cleanup;
	}

	e = &d->crcs[d->crc_next++ % CRC_CACHE_SIZE];
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->crc = c;
	e->valid = true;
	*crc = c;

cleanup:
	free(buf);
	return err;
}

/*
 * 0 when the file at path is a debug file for the object: a regular ELF
 * file with symbols or DWARF, whose build id equals want's when both have
 * one, and, when crc is given, whose CRC32 equals *crc (d's CRC cache is
 * used then, so only debuginfo__find may pass one).
 */
static int check_candidate(struct debuginfo *d, const char *path,
			   const struct build_id *want, const uint32_t *crc)
{
	struct build_id id;
	struct stat st;
	Elf *elf = NULL;
	uint32_t c = 0;
	int fd, err = 0;

	/* O_NONBLOCK: a FIFO planted where we look must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !st.st_size) {
		err = -ENOENT;	/* also libdebuginfod's empty "not found" files */
		goto cleanup;
	}
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (want->len && build_id__read(elf, &id) && !build_id__eq(&id, want)) {
		err = -ESTALE;
		goto cleanup;
	}
	if (!has_debug(elf)) {
		err = -ENODATA;
		goto cleanup;
	}
	if (crc) {
		err = file_crc(d, fd, &st, &c);
		if (err)
			goto cleanup;
		if (c != *crc) {
			err = -EBADMSG;
			goto cleanup;
		}
	}

cleanup:
	if (elf)
		elf_end(elf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* Check file as the host sees it, then under root. 0 and *found, -ENOENT,
 * or -ENOMEM. */
static int try_host_root(struct debuginfo *d, const char *file, const char *root,
			 const struct build_id *want, const uint32_t *crc, char **found)
{
	char buf[PATH_MAX];
	const char *hit = NULL;
	int err = 0;

	if (check_candidate(d, file, want, crc) == 0)
		hit = file;
	else if (*root && fmt_path(buf, "%s%s", root, file) &&
		 check_candidate(d, buf, want, crc) == 0)
		hit = buf;
	if (!hit) {
		err = -ENOENT;
		goto cleanup;
	}
	*found = strdup(hit);
	if (!*found)
		err = -ENOMEM;

cleanup:
	return err;
}

static int find_debuglink(struct debuginfo *d, Elf *elf, const char *path, const char *root,
			  const struct build_id *id, char **found)
{
	char name[NAME_MAX + 1], dir[PATH_MAX], file[PATH_MAX];
	const char *slash;
	uint32_t crc;
	int err;

	err = read_debuglink(elf, name, sizeof(name), &crc);
	if (err)
		goto cleanup;
	slash = strrchr(path, '/');
	if (!slash || (size_t)(slash - path) >= sizeof(dir)) {
		err = -ENOENT;
		goto cleanup;
	}
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = '\0';

	/* Next to the object, unless the link names the object itself. */
	if (fmt_path(file, "%s/%s", dir, name) && strcmp(file, path) != 0) {
		err = try_host_root(d, file, root, id, &crc, found);
		if (err != -ENOENT)
			goto cleanup;
	}
	if (fmt_path(file, "%s/.debug/%s", dir, name)) {
		err = try_host_root(d, file, root, id, &crc, found);
		if (err != -ENOENT)
			goto cleanup;
	}
	if (fmt_path(file, "%s%s/%s", d->debug_dir, dir, name)) {
		err = try_host_root(d, file, root, id, &crc, found);
		if (err != -ENOENT)
			goto cleanup;
	}
	err = -ENOENT;

cleanup:
	return err;
}

/* The fetch table: a hash of build ids, under d->lock. */
static struct fetch **fetch__slot(struct debuginfo *d, const struct build_id *id)
{
	uint32_t h = 2166136261u;
	struct fetch **pp;
	size_t i;

	for (i = 0; i < id->len; i++)
		h = (h ^ id->bytes[i]) * 16777619u;
	for (pp = &d->buckets[h % FETCH_BUCKETS]; *pp; pp = &(*pp)->hnext)
		if (build_id__eq(&(*pp)->id, id))
			break;
	return pp;
}

static void fetch__unlink(struct debuginfo *d, struct fetch **pp)
{
	struct fetch *f = *pp;

	*pp = f->hnext;
	d->nr_fetches--;
	free(f->path);
	free(f);
}

/* Forget the oldest finished entry. False when every entry is in flight,
 * which the queue bound makes impossible. */
static bool fetch__evict(struct debuginfo *d)
{
	struct fetch **victim = NULL, **pp;
	uint64_t oldest = UINT64_MAX;
	size_t b;

	for (b = 0; b < FETCH_BUCKETS; b++) {
		for (pp = &d->buckets[b]; *pp; pp = &(*pp)->hnext) {
			struct fetch *f = *pp;

			if (f->state != FETCH_DONE && f->state != FETCH_FAILED)
				continue;
			if (f->when < oldest) {
				oldest = f->when;
				victim = pp;
			}
		}
	}
	if (!victim)
		return false;
	fetch__unlink(d, victim);
	return true;
}

static int fetch_progress(debuginfod_client *client, long a, long b)
{
	struct debuginfo *d = debuginfod_get_user_data(client);
	bool stop;

	/* Called about once a second and per chunk received; the lock is
	 * never held for long, so this stays cheap. */
	pthread_mutex_lock(&d->lock);
	stop = d->stop;
	pthread_mutex_unlock(&d->lock);
	return stop || now_s() - d->fetch_start > FETCH_MAX_S;
}

/* One download, on the worker, without the lock. 0 and *path (malloc'd)
 * when the server had a debug file with this build id. */
static int fetch_one(struct debuginfo *d, debuginfod_client **client,
		     const struct build_id *id, char **path)
{
	int fd, err = 0;

	*path = NULL;
	if (!*client) {
		*client = debuginfod_begin();
		if (!*client) {
			err = errno ? -errno : -ENOMEM;
			goto cleanup;
		}
		debuginfod_set_user_data(*client, d);
		debuginfod_set_progressfn(*client, fetch_progress);
	}
	d->fetch_start = now_s();
	fd = debuginfod_find_debuginfo(*client, id->bytes, (int)id->len, path);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	close(fd);
	if (!*path) {
		err = -ENOENT;
		goto cleanup;
	}
	/* Servers are trusted by libdebuginfod; still make sure it is what
	 * we asked for before handing it out. */
	err = check_candidate(d, *path, id, NULL);

cleanup:
	if (err) {
		free(*path);
		*path = NULL;
	}
	return err;
}

static void *worker_main(void *arg)
{
	struct debuginfo *d = arg;
	debuginfod_client *client = NULL;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct build_id id;
		struct fetch *f;
		char *path;
		int err;

		while (!d->stop && !d->qhead)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop)
			break;
		f = d->qhead;
		d->qhead = f->qnext;
		if (!d->qhead)
			d->qtail = NULL;
		d->qlen--;
		f->qnext = NULL;
		f->state = FETCH_RUNNING;
		id = f->id;
		pthread_mutex_unlock(&d->lock);

		err = fetch_one(d, &client, &id, &path);

		/* f stays put: running entries are never evicted, and the
		 * table is only torn down after this thread is joined. */
		pthread_mutex_lock(&d->lock);
		f->when = now_s();
		d->st.pending--;
		if (!err) {
			f->state = FETCH_DONE;
			f->path = path;
			d->st.fetched++;
		} else {
			f->state = FETCH_FAILED;
			d->st.fetch_failed++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	if (client)
		debuginfod_end(client);
	return NULL;
}

/* Start the worker with every signal blocked, so that signals keep going
 * to the daemon's own threads. Called with d->lock held. */
static int worker_start(struct debuginfo *d)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&d->worker, NULL, worker_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!err) {
		d->worker_running = true;
		pthread_setname_np(d->worker, "cprofd-debuginfo");
	}
	return err;
}

/* What debuginfod has or will have for this build id: 0 and *found when
 * fetched, -EAGAIN when queued now or before (or the queue is full),
 * -ENOENT when a fetch failed recently. */
static int fetch_lookup(struct debuginfo *d, const struct build_id *id, char **found)
{
	struct fetch **pp, *f;
	struct stat st;
	int err = -EAGAIN;

	pthread_mutex_lock(&d->lock);
	pp = fetch__slot(d, id);
	f = *pp;
	if (f) {
		switch (f->state) {
		case FETCH_QUEUED:
		case FETCH_RUNNING:
			goto unlock;
		case FETCH_DONE:
			if (stat(f->path, &st) == 0 && st.st_size) {
				*found = strdup(f->path);
				err = *found ? 0 : -ENOMEM;
				goto unlock;
			}
			break;	/* cleaned out of the cache since: fetch again */
		case FETCH_FAILED:
			if (now_s() - f->when < RETRY_AFTER_S) {
				err = -ENOENT;
				goto unlock;
			}
			break;
		}
		fetch__unlink(d, pp);
	}

	if (d->qlen >= QUEUE_MAX ||
	    (d->nr_fetches >= FETCH_TABLE_MAX && !fetch__evict(d))) {
		d->st.dropped++;
		goto unlock;
	}
	if (!d->worker_running && worker_start(d) != 0) {
		err = -ENOENT;	/* no thread, no fetch; try again next time */
		goto unlock;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		err = -ENOMEM;
		goto unlock;
	}
	f->id = *id;
	f->state = FETCH_QUEUED;
	f->when = now_s();
	pp = fetch__slot(d, id);	/* eviction may have moved the tail */
	*pp = f;
	d->nr_fetches++;
	if (d->qtail)
		d->qtail->qnext = f;
	else
		d->qhead = f;
	d->qtail = f;
	d->qlen++;
	d->st.pending++;
	pthread_cond_signal(&d->cond);

unlock:
	pthread_mutex_unlock(&d->lock);
	return err;
}

char *debuginfo__find(struct debuginfo *d, Elf *elf, const char *path, const char *root)
{
	char file[PATH_MAX], hex[BUILD_ID_MAX * 2 + 1];
	struct build_id id = { .len = 0 };
	char *found = NULL;
	int err;

	if (!d || !elf) {
		err = -EINVAL;
		goto cleanup;
	}
	if (!root || !strcmp(root, "/"))
		root = "";
	build_id__read(elf, &id);
	build_id__hex(&id, hex);

	if (id.len >= 2 &&
	    fmt_path(file, "%s/.build-id/%.2s/%s.debug", d->debug_dir, hex, hex + 2)) {
		err = try_host_root(d, file, root, &id, NULL, &found);
		if (err != -ENOENT)
			goto cleanup;
	}
	if (path && path[0] == '/') {
		err = find_debuglink(d, elf, path, root, &id, &found);
		if (err != -ENOENT && err != -EBADMSG)
			goto cleanup;
	}
	/* What an earlier fetch, ours or another tool's, left in the cache. */
	if (id.len && d->cache_dir &&
	    fmt_path(file, "%s/%s/debuginfo", d->cache_dir, hex) &&
	    check_candidate(d, file, &id, NULL) == 0) {
		found = strdup(file);
		err = found ? 0 : -ENOMEM;
		goto cleanup;
	}
	err = -ENOENT;
	if (id.len && d->debuginfod)
		err = fetch_lookup(d, &id, &found);

cleanup:
	if (err) {
		errno = -err;
		return NULL;
	}
	pthread_mutex_lock(&d->lock);
	d->st.found_local++;
	pthread_mutex_unlock(&d->lock);
	return found;
}

Elf *debuginfo__minidebuginfo(Elf *elf, void **image)
{
	lzma_stream strm = LZMA_STREAM_INIT;
	unsigned char *out = NULL, *tmp;
	size_t cap, ncap;
	Elf_Data *data;
	GElf_Shdr shdr;
	Elf *mini = NULL;
	Elf_Scn *scn;
	lzma_ret ret;
	int err = 0;

	if (!elf || !image) {
		err = -EINVAL;
		goto cleanup;
	}
	*image = NULL;
	scn = find_section(elf, ".gnu_debugdata", &shdr);
	data = scn && shdr.sh_type != SHT_NOBITS ? elf_rawdata(scn, NULL) : NULL;
	if (!data || !data->d_buf || !data->d_size) {
		err = -ENOENT;
		goto cleanup;
	}
	if (lzma_stream_decoder(&strm, LZMA_MEM_MAX, LZMA_CONCATENATED) != LZMA_OK) {
		err = -ENOMEM;
		goto cleanup;
	}

	/* Symbol tables compress about fourfold; grow by doubling. */
	cap = data->d_size < MINIDEBUG_MAX / 4 ? data->d_size * 4 : MINIDEBUG_MAX;
	if (cap < 65536)
		cap = 65536;
	out = malloc(cap);
	if (!out) {
		err = -ENOMEM;
		goto cleanup;
	}
	strm.next_in = data->d_buf;
	strm.avail_in = data->d_size;
	strm.next_out = out;
	strm.avail_out = cap;
	for (;;) {
		ret = lzma_code(&strm, LZMA_FINISH);
		if (ret == LZMA_STREAM_END)
			break;
		if (ret != LZMA_OK) {
			err = ret == LZMA_MEM_ERROR ? -ENOMEM :
			      ret == LZMA_MEMLIMIT_ERROR ? -EFBIG : -EBADMSG;
			goto cleanup;
		}
		if (strm.avail_out)
			continue;
		if (cap >= MINIDEBUG_MAX) {
			err = -EFBIG;
			goto cleanup;
		}
		ncap = cap * 2 < MINIDEBUG_MAX ? cap * 2 : MINIDEBUG_MAX;
		tmp = realloc(out, ncap);
		if (!tmp) {
			err = -ENOMEM;
			goto cleanup;
		}
		out = tmp;
		strm.next_out = out + strm.total_out;
		strm.avail_out = ncap - strm.total_out;
		cap = ncap;
	}

	mini = elf_memory((char *)out, strm.total_out);
	if (!mini || elf_kind(mini) != ELF_K_ELF) {
		err = -EBADMSG;
		goto cleanup;
	}
	*image = out;
	out = NULL;

cleanup:
	lzma_end(&strm);
	free(out);
	if (err) {
		if (mini)
			elf_end(mini);
		errno = -err;
		return NULL;
	}
	return mini;
}

/* Where libdebuginfod keeps its cache, decided as it decides it:
 * $DEBUGINFOD_CACHE_PATH; else ~/.debuginfod_client_cache if it exists;
 * else $XDG_CACHE_HOME/debuginfod_client or ~/.cache/debuginfod_client. */
static char *cache_dir_from_env(void)
{
	const char *env = getenv(DEBUGINFOD_CACHE_PATH_ENV_VAR);
	const char *home = getenv("HOME");
	const char *xdg = getenv("XDG_CACHE_HOME");
	char buf[PATH_MAX];
	struct stat st;
	bool ok;

	if (env && *env)
		return strdup(env);
	if (!home)
		home = "/";
	if (fmt_path(buf, "%s/.debuginfod_client_cache", home) && stat(buf, &st) == 0)
		return strdup(buf);
	if (xdg && *xdg)
		ok = fmt_path(buf, "%s/debuginfod_client", xdg);
	else
		ok = fmt_path(buf, "%s/.cache/debuginfod_client", home);
	if (!ok) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	return strdup(buf);
}

struct debuginfo *debuginfo__new(const struct debuginfo_opts *opts)
{
	const char *urls = getenv(DEBUGINFOD_URLS_ENV_VAR);
	struct debuginfo *d = NULL;
	size_t len;
	int err = 0;

	pthread_once(&crc_once, crc_init);
	if (!elf_ready()) {
		err = -ENOTSUP;
		goto cleanup;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		err = -ENOMEM;
		goto cleanup;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);

	d->debug_dir = strdup(opts && opts->debug_dir && *opts->debug_dir ?
			      opts->debug_dir : DEFAULT_DEBUG_DIR);
	if (!d->debug_dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	len = strlen(d->debug_dir);
	while (len > 1 && d->debug_dir[len - 1] == '/')
		d->debug_dir[--len] = '\0';

	/* Without a cache directory only fetched files can be found there. */
	d->cache_dir = cache_dir_from_env();
	if (!d->cache_dir && errno == ENOMEM) {
		err = -ENOMEM;
		goto cleanup;
	}
	d->debuginfod = opts && opts->debuginfod && urls && *urls;

cleanup:
	if (err) {
		debuginfo__free(d);
		errno = -err;
		return NULL;
	}
	return d;
}

void debuginfo__stats(struct debuginfo *d, struct debuginfo_stats *st)
{
	if (!st)
		return;
	if (!d) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	pthread_mutex_unlock(&d->lock);
}

void debuginfo__free(struct debuginfo *d)
{
	bool running;
	size_t b;

	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	d->stop = true;
	pthread_cond_broadcast(&d->cond);
	running = d->worker_running;
	pthread_mutex_unlock(&d->lock);
	if (running)
		pthread_join(d->worker, NULL);

	for (b = 0; b < FETCH_BUCKETS; b++)
		while (d->buckets[b])
			fetch__unlink(d, &d->buckets[b]);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d->debug_dir);
	free(d->cache_dir);
	free(d);
}
