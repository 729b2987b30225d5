// SPDX-License-Identifier: GPL-2.0
/*
 * Perf maps (/tmp/perf-PID.map): the symbols JITs write for perf.
 *
 * A line is "START SIZE name", START and SIZE in hex with or without 0x,
 * the name running to the end of the line (spaces, parentheses and all).
 * JITs append while they run, and a later line may cover an earlier one
 * when code was re-JITed at the same address: the later line wins.
 *
 * Loading streams the file in chunks (maps of long-running JITs reach
 * hundreds of MiB) into an array of entries and one arena of names, then
 * resolves the overlaps once with a sweep over the entries' boundaries: at
 * each boundary, the live entry from the latest line owns the addresses up
 * to the next boundary. What is left is a sorted array of disjoint pieces,
 * so a lookup is one binary search; names no piece refers to are dropped.
 *
 * The file belongs to the profiled process, which may be hostile: its
 * size, line lengths and contents are all bounded or checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/stat.h>

#include "bsearch.h"
#include "fileio.h"
#include "hexval.h"
#include "perfmap.h"

/* Bytes read at a time, which is also the longest line kept. The fuzzer
 * builds with a tiny one so that lines cross chunk boundaries often. */
#ifndef PERFMAP_READ_CHUNK
#define PERFMAP_READ_CHUNK	PERFMAP_MAX_LINE
#endif

/* /proc/PID/status is a couple of KiB. */
#define STATUS_MAX_BYTES	(64u << 10)

/* Set in pm_entry.seq once the entry owns a piece, after the sweep. */
#define ENTRY_USED		(1u << 31)

/* An entry as parsed, before overlaps are resolved. */
struct pm_entry {
	uint64_t start, end;		/* [start, end) */
	uint32_t name;			/* offset in the builder's arena */
	uint32_t seq;			/* line order: higher wins */
};

/* A piece of the address space owned by one entry; its start is in
 * perfmap.starts, apart so that the binary search touches fewer lines. */
struct pm_sym {
	uint64_t end;			/* the piece is [start, end) */
	uint64_t sym_start;		/* start of the entry it comes from */
	uint32_t name;			/* offset in perfmap.names */
	uint32_t pad;
};

struct perfmap {
	uint64_t *starts;		/* sorted; pieces are disjoint */
	struct pm_sym *syms;
	size_t nr_syms;
	char *names;
	size_t names_len;
	size_t nr;			/* lines accepted */
	size_t skipped;			/* lines refused */
	/* The file as it was read, for perfmap__refresh(). */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct pm_builder {
	struct pm_entry *ents;
	size_t nr, cap;
	char *names;
	size_t names_len, names_cap;
	size_t skipped;
	bool full;			/* a bound was hit: only count lines */
};

static size_t max_entries = PERFMAP_MAX_ENTRIES;
static size_t max_bytes = PERFMAP_MAX_BYTES;

void perfmap__set_limits(size_t entries, size_t bytes)
{
	max_entries = entries ? entries : PERFMAP_MAX_ENTRIES;
	if (max_entries > ENTRY_USED - 1)
		max_entries = ENTRY_USED - 1;
	max_bytes = bytes ? bytes : PERFMAP_MAX_BYTES;
	if (max_bytes > UINT32_MAX)
		max_bytes = UINT32_MAX;
}

static inline bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* A hex number at *pp, "0x" prefix optional, refusing overflow. */
static bool parse_addr(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;

	if (end - p > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		p += 2;
	if (!parse_hex(&p, end, out))
		return false;
	*pp = p;
	return true;
}

/* At least one blank at *pp, skipped. */
static bool skip_blanks(const char **pp, const char *end)
{
	const char *p = *pp;

	while (p < end && is_blank(*p))
		p++;
	if (p == *pp)
		return false;
	*pp = p;
	return true;
}

static int builder__add(struct pm_builder *b, uint64_t start, uint64_t end, const char *name,
			size_t len)
{
	if (b->nr == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 1024;
		struct pm_entry *tmp;

		if (ncap > max_entries)
			ncap = max_entries;
		tmp = realloc(b->ents, ncap * sizeof(*tmp));
		if (!tmp)
			return -ENOMEM;
		b->ents = tmp;
		b->cap = ncap;
	}
	if (b->names_cap - b->names_len < len + 1) {
		size_t ncap = b->names_cap ? b->names_cap * 2 : (64u << 10);
		char *tmp;

		if (ncap < b->names_len + len + 1)
			ncap = b->names_len + len + 1;
		if (ncap > max_bytes)
			ncap = max_bytes;
		tmp = realloc(b->names, ncap);
		if (!tmp)
			return -ENOMEM;
		b->names = tmp;
		b->names_cap = ncap;
	}
	b->ents[b->nr] = (struct pm_entry){
		.start = start,
		.end = end,
		.name = (uint32_t)b->names_len,
		.seq = (uint32_t)b->nr,
	};
	b->nr++;
	memcpy(b->names + b->names_len, name, len);
	b->names[b->names_len + len] = 0;
	b->names_len += len + 1;
	return 0;
}

/* One line [p, end), newline excluded. 0, or -ENOMEM. */
static int builder__line(struct pm_builder *b, const char *p, const char *end)
{
	uint64_t start, size;
	const char *nul;
	size_t len;

	while (end > p && (end[-1] == '\r' || is_blank(end[-1])))
		end--;
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return 0;
	if (b->full) {
		b->skipped++;
		return 0;
	}

	if (!parse_addr(&p, end, &start) || !skip_blanks(&p, end) ||
	    !parse_addr(&p, end, &size) || !skip_blanks(&p, end) ||
	    size == 0 || start + size < start) {
		b->skipped++;
		return 0;
	}
	/* Names are C strings: a NUL ends one. */
	nul = memchr(p, 0, (size_t)(end - p));
	if (nul)
		end = nul;
	len = (size_t)(end - p);
	if (!len) {
		b->skipped++;
		return 0;
	}
	if (b->nr >= max_entries || len + 1 > max_bytes - b->names_len) {
		b->full = true;
		b->skipped++;
		return 0;
	}
	return builder__add(b, start, start + size, p, len);
}

/* Feed every line of fd to the builder. A line that fills the chunk is
 * skipped whole. A last line without its newline is taken as it is: the
 * JIT may be writing it, but the next refresh sees the file grow and reads
 * it whole, and its size field is complete once its name has begun. */
static int builder__read(struct pm_builder *b, int fd)
{
	size_t fill = 0, rest;
	bool discard = false;
	char *buf, *p, *nl;
	ssize_t n;
	int err = 0;

	buf = malloc(PERFMAP_READ_CHUNK);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		n = read(fd, buf + fill, PERFMAP_READ_CHUNK - fill);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (n == 0)
			break;
		fill += (size_t)n;

		p = buf;
		while ((nl = memchr(p, '\n', (size_t)(buf + fill - p)))) {
			if (discard)
				discard = false;
			else if ((err = builder__line(b, p, nl)))
				goto cleanup;
			p = nl + 1;
		}
		rest = (size_t)(buf + fill - p);
		if (rest == PERFMAP_READ_CHUNK && !discard) {
			b->skipped++;
			discard = true;
		}
		if (discard)
			rest = 0;
		memmove(buf, p, rest);
		fill = rest;
	}
	if (fill && !discard)
		err = builder__line(b, buf, buf + fill);
cleanup:
	free(buf);
	return err;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct pm_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A max-heap of entry indices ordered by seq: the latest live line on top. */
static void heap_push(uint32_t *h, size_t *nh, const struct pm_entry *e, uint32_t x)
{
	size_t k = (*nh)++, parent;

	while (k) {
		parent = (k - 1) / 2;
		if (e[h[parent]].seq >= e[x].seq)
			break;
		h[k] = h[parent];
		k = parent;
	}
	h[k] = x;
}

static void heap_pop(uint32_t *h, size_t *nh, const struct pm_entry *e)
{
	size_t n = --*nh, k = 0, c;
	uint32_t x = h[n];

	while ((c = 2 * k + 1) < n) {
		if (c + 1 < n && e[h[c + 1]].seq > e[h[c]].seq)
			c++;
		if (e[x].seq >= e[h[c]].seq)
			break;
		h[k] = h[c];
		k = c;
	}
	if (n)
		h[k] = x;
}

/*
 * Resolve overlaps: sweep the sorted starts and ends; between two
 * consecutive boundaries the live entry with the highest seq owns the
 * range. Ends are dropped from the heap lazily, when they reach the top.
 * Then copy the names still referred to into m's arena.
 */
static int builder__resolve(struct pm_builder *b, struct perfmap *m)
{
	struct pm_entry *e = b->ents;
	struct pm_sym *syms = NULL, *tmp;
	uint64_t *starts = NULL, *tmp_starts;
	size_t n = b->nr, i = 0, j = 0, k, nh = 0, nr = 0, cap, live = 0, len;
	uint32_t *heap = NULL, top, last = UINT32_MAX;
	uint64_t *ends = NULL, p, q;
	char *names = NULL;
	int err = 0;

	if (!n)
		goto cleanup;
	qsort(e, n, sizeof(*e), cmp_entry);
	ends = malloc(n * sizeof(*ends));
	heap = malloc(n * sizeof(*heap));
	cap = n;
	syms = malloc(cap * sizeof(*syms));
	starts = malloc(cap * sizeof(*starts));
	if (!ends || !heap || !syms || !starts) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (k = 0; k < n; k++)
		ends[k] = e[k].end;
	qsort(ends, n, sizeof(*ends), cmp_u64);

	while (i < n || j < n) {
		if (j == n || (i < n && e[i].start <= ends[j]))
			p = e[i].start;
		else
			p = ends[j];
		while (i < n && e[i].start == p) {
			heap_push(heap, &nh, e, (uint32_t)i);
			i++;
		}
		while (j < n && ends[j] <= p)
			j++;
		while (nh && e[heap[0]].end <= p)
			heap_pop(heap, &nh, e);
		if (!nh)
			continue;

		/* The top's end is ahead, so ends[j] exists. */
		top = heap[0];
		q = ends[j];
		if (i < n && e[i].start < q)
			q = e[i].start;
		if (nr && top == last && syms[nr - 1].end == p) {
			syms[nr - 1].end = q;
			continue;
		}
		if (nr == cap) {
			tmp = realloc(syms, cap * 2 * sizeof(*syms));
			if (tmp)
				syms = tmp;
			tmp_starts = realloc(starts, cap * 2 * sizeof(*starts));
			if (tmp_starts)
				starts = tmp_starts;
			if (!tmp || !tmp_starts) {
				err = -ENOMEM;
				goto cleanup;
			}
			cap *= 2;
		}
		starts[nr] = p;
		syms[nr++] = (struct pm_sym){
			.end = q,
			.sym_start = e[top].start,
			.name = top,		/* entry index until names move */
		};
		last = top;
	}

	for (k = 0; k < nr; k++)
		e[syms[k].name].seq |= ENTRY_USED;
	for (k = 0; k < n; k++)
		if (e[k].seq & ENTRY_USED)
			live += strlen(b->names + e[k].name) + 1;
	names = malloc(live ? live : 1);
	if (!names) {
		err = -ENOMEM;
		goto cleanup;
	}
	live = 0;
	for (k = 0; k < n; k++) {
		if (!(e[k].seq & ENTRY_USED))
			continue;
		len = strlen(b->names + e[k].name) + 1;
		memcpy(names + live, b->names + e[k].name, len);
		e[k].name = (uint32_t)live;
		live += len;
	}
	for (k = 0; k < nr; k++)
		syms[k].name = e[syms[k].name].name;

	if (nr < cap) {
		tmp = realloc(syms, nr * sizeof(*syms));
		if (tmp)
			syms = tmp;
		tmp_starts = realloc(starts, nr * sizeof(*starts));
		if (tmp_starts)
			starts = tmp_starts;
	}
	m->starts = starts;
	m->syms = syms;
	m->nr_syms = nr;
	m->names = names;
	m->names_len = live;
	syms = NULL;
	starts = NULL;
	names = NULL;
cleanup:
	free(starts);
	free(ends);
	free(heap);
	free(syms);
	free(names);
	return err;
}

/* Open path as user `as` would: this thread takes its filesystem uid and
 * gid for the open (Linux keeps them per thread, and a nonzero fsuid drops
 * the capabilities that bypass permissions), so the kernel checks the path
 * and the file, in the process's own mount namespace, as for it. */
/* Open path with as's file system identity: its user and group, and none
 * of the daemon's supplementary groups (a root:root 0640 file must stay
 * closed). Credentials are per thread in the kernel: the raw system calls
 * change this thread's only, where glibc's setgroups() would change every
 * thread's. */
static int open_as(const char *path, const struct perfmap_user *as)
{
	gid_t *groups = NULL;
	int fd = -1, e = EPERM, n;

	if (!as)
		return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	n = getgroups(0, NULL);
	if (n > 0) {
		groups = malloc((size_t)n * sizeof(*groups));
		n = groups ? getgroups(n, groups) : -1;
	}
	if (n < 0 || syscall(SYS_setgroups, 0, NULL)) {
		free(groups);
		errno = EPERM;
		return -1;
	}
	setfsgid(as->gid);
	setfsuid(as->uid);
	if ((uint32_t)setfsuid((uid_t)-1) == as->uid && (uint32_t)setfsgid((gid_t)-1) == as->gid) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		e = errno;
	}
	setfsuid(0);
	setfsgid(0);
	/* should this fail, the thread is left with fewer groups: safe */
	if (n > 0)
		syscall(SYS_setgroups, (size_t)n, groups);
	free(groups);
	errno = e;
	return fd;
}

struct perfmap *perfmap__open_as(const char *path, const struct perfmap_user *as)
{
	struct pm_builder b = { 0 };
	struct perfmap *m = NULL;
	struct stat st;
	int fd = -1, err = 0;

	if (!path) {
		err = -EINVAL;
		goto cleanup;
	}
	/* Not through a symlink the process planted, and never blocking on a
	 * FIFO: only a regular file is read. */
	fd = open_as(path, as);
	if (fd < 0) {
		err = -errno;
		goto cleanup;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		goto cleanup;
	}
	if (!S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto cleanup;
	}
	/* as perf: a map is the process's own (or root's), not one another
	 * user left under its name */
	if (as && st.st_uid != as->uid && st.st_uid != 0) {
		err = -EPERM;
		goto cleanup;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Identity from before the read: text appended meanwhile makes the
	 * next refresh read again, never the reverse. */
	m->dev = st.st_dev;
	m->ino = st.st_ino;
	m->size = st.st_size;
	m->mtime = st.st_mtim;

	err = builder__read(&b, fd);
	if (err)
		goto cleanup;
	err = builder__resolve(&b, m);
	if (err)
		goto cleanup;
	m->nr = b.nr;
	m->skipped = b.skipped;
cleanup:
	if (fd >= 0)
		close(fd);
	free(b.ents);
	free(b.names);
	if (err) {
		perfmap__free(m);
		m = NULL;
		errno = -err;
	}
	return m;
}

struct perfmap *perfmap__open(const char *path)
{
	return perfmap__open_as(path, NULL);
}

int perfmap__refresh(struct perfmap **m, const char *path, const struct perfmap_user *as)
{
	struct perfmap *fresh;
	struct stat st;
	int err = 0;

	if (!m || !path) {
		err = -EINVAL;
		goto cleanup;
	}
	if (*m) {
		if (stat(path, &st)) {
			err = -errno;
			goto cleanup;
		}
		if (st.st_dev == (*m)->dev && st.st_ino == (*m)->ino &&
		    st.st_size == (*m)->size &&
		    st.st_mtim.tv_sec == (*m)->mtime.tv_sec &&
		    st.st_mtim.tv_nsec == (*m)->mtime.tv_nsec)
			goto cleanup;
	}
	fresh = perfmap__open_as(path, as);
	if (!fresh) {
		err = -errno;
		goto cleanup;
	}
	perfmap__free(*m);
	*m = fresh;
cleanup:
	return err;
}

const char *perfmap__lookup(const struct perfmap *m, uint64_t addr, uint64_t *start)
{
	const struct pm_sym *s;
	size_t i;

	if (!m || !m->nr_syms)
		return NULL;
	/* The last piece starting at or below addr. */
	i = upper_bound_u64(m->starts, m->nr_syms, sizeof(m->starts[0]), 0, addr);
	if (!i)
		return NULL;
	s = &m->syms[i - 1];
	if (addr >= s->end)
		return NULL;
	if (start)
		*start = s->sym_start;
	return m->names + s->name;
}

size_t perfmap__nr(const struct perfmap *m)
{
	return m ? m->nr : 0;
}

size_t perfmap__skipped(const struct perfmap *m)
{
	return m ? m->skipped : 0;
}

size_t perfmap__mem(const struct perfmap *m)
{
	if (!m)
		return 0;
	return sizeof(*m) + m->nr_syms * (sizeof(m->starts[0]) + sizeof(m->syms[0])) +
	       m->names_len;
}

void perfmap__free(struct perfmap *m)
{
	if (!m)
		return;
	free(m->starts);
	free(m->syms);
	free(m->names);
	free(m);
}

/* The last pid of the "NSpid:" line of a status text, the innermost
 * namespace's; *nspid is left alone when there is no such line. */
static int parse_nspid(const char *text, size_t len, uint32_t *nspid)
{
	static const char key[] = "NSpid:";
	const char *p = text, *end = text + len, *eol;
	bool found = false;
	uint64_t v;

	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) >= sizeof(key) - 1 && !memcmp(p, key, sizeof(key) - 1))
			break;
		p = eol + 1;
	}
	if (p >= end)
		return 0;

	p += sizeof(key) - 1;
	for (;;) {
		while (p < eol && is_blank(*p))
			p++;
		if (p == eol)
			break;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (v = 0; p < eol && *p >= '0' && *p <= '9'; p++) {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > UINT32_MAX)
				return -EINVAL;
		}
		if (!v)
			return -EINVAL;
		*nspid = (uint32_t)v;
		found = true;
	}
	return found ? 0 : -EINVAL;
}

int perfmap__path(uint32_t pid, char *buf, size_t len)
{
	char status[64], *text = NULL;
	uint32_t nspid = pid;
	size_t tlen;
	int err, n;

	if (!pid || !buf)
		return -EINVAL;
	if (len)
		buf[0] = 0;
	snprintf(status, sizeof(status), "/proc/%u/status", pid);
	err = read_file(status, STATUS_MAX_BYTES, &text, &tlen);
	if (err)
		goto cleanup;
	err = parse_nspid(text, tlen, &nspid);
	if (err)
		goto cleanup;
	n = snprintf(buf, len, "/proc/%u/root/tmp/perf-%u.map", pid, nspid);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = 0;
		err = -ENOSPC;
	}
cleanup:
	free(text);
	return err;
}
