// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/PID/maps parsing. Only executable mappings matter for
 * symbolization, so everything else is dropped at parse time; that keeps
 * the per-process table small for processes with thousands of data
 * mappings (JVMs, allocators with many arenas).
 *
 * The line format is the kernel's
 *	"%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu <pad> path"
 * where the path runs to the end of the line and may contain spaces, a
 * " (deleted)" suffix, or be a pseudo name like "[vdso]". The text is not
 * assumed to be NUL-terminated: every scan is bounded by the end pointer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "bsearch.h"
#include "fileio.h"
#include "hexval.h"
#include "procmaps.h"

/* A maps file bigger than this is not something we want to hold in memory;
 * the largest real ones (JVMs) are a few MiB. */
#define MAPS_MAX_BYTES		(256u << 20)

static bool parse_dec(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;

	if (p >= end || *p < '0' || *p > '9')
		return false;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*pp = p;
	*out = v;
	return true;
}

/* Field separators are single spaces, but accept runs of blanks so that
 * hand-written or re-indented text parses as well. */
static bool skip_blanks(const char **pp, const char *end)
{
	const char *p = *pp;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == *pp)
		return false;
	*pp = p;
	return true;
}

/*
 * Parse one line [p, end) (no newline). Returns 1 and fills *m for an
 * executable mapping, 0 for a line to skip (non-executable or malformed),
 * -ENOMEM when the path cannot be copied.
 */
static int parse_line(const char *p, const char *end, struct procmap *m)
{
	uint64_t start, stop, offset, major, minor, inode;
	const char *perms;
	bool exec;

	if (!parse_hex(&p, end, &start) || p >= end || *p++ != '-' ||
	    !parse_hex(&p, end, &stop) || !skip_blanks(&p, end))
		return 0;
	if (start >= stop)
		return 0;

	perms = p;
	while (p < end && *p != ' ' && *p != '\t')
		p++;
	if (p - perms < 3 || p - perms > 4)
		return 0;
	exec = memchr(perms, 'x', (size_t)(p - perms)) != NULL;

	if (!skip_blanks(&p, end) || !parse_hex(&p, end, &offset) ||
	    !skip_blanks(&p, end) || !parse_hex(&p, end, &major) ||
	    p >= end || *p++ != ':' || !parse_hex(&p, end, &minor) ||
	    !skip_blanks(&p, end) || !parse_dec(&p, end, &inode))
		return 0;
	if (major > 0xffffffffu || minor > 0xffffffffu)
		return 0;
	/* The inode must be followed by the padding or the end of line, not
	 * by stray characters ("123abc" is not an inode). */
	if (p < end && *p != ' ' && *p != '\t')
		return 0;
	if (!exec)
		return 0;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;

	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = stop;
	m->offset = offset;
	m->dev = makedev((unsigned int)major, (unsigned int)minor);
	m->inode = inode;
	if (p < end) {
		/* Keep the path exactly as written, " (deleted)" included:
		 * callers decide whether to go through map_files instead. */
		m->path = strndup(p, (size_t)(end - p));
		if (!m->path)
			return -ENOMEM;
	}
	return 1;
}

static int cmp_map(const void *a, const void *b)
{
	const struct procmap *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

int procmaps__parse(const char *text, size_t len, struct procmaps *out)
{
	struct procmap *maps = NULL, *tmp;
	size_t nr = 0, cap = 0, i;
	const char *p = text, *end, *eol;
	int err = 0;

	if (!out || (!text && len)) {
		err = -EINVAL;
		goto cleanup;
	}
	end = len ? text + len : text;

	while (p < end) {
		struct procmap m;
		int ret;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		ret = parse_line(p, eol, &m);
		p = eol < end ? eol + 1 : end;
		if (ret < 0) {
			err = ret;
			goto cleanup;
		}
		if (ret == 0)
			continue;
		if (nr == cap) {
			size_t ncap = cap ? cap * 2 : 64;

			tmp = realloc(maps, ncap * sizeof(*maps));
			if (!tmp) {
				free(m.path);
				err = -ENOMEM;
				goto cleanup;
			}
			maps = tmp;
			cap = ncap;
		}
		maps[nr++] = m;
	}

	/* The kernel prints in address order, but sorting costs little and
	 * keeps find() correct for text from elsewhere. */
	if (nr > 1)
		qsort(maps, nr, sizeof(*maps), cmp_map);

	/* Hand back only what is used; tables live as long as the process. */
	if (nr && nr < cap) {
		tmp = realloc(maps, nr * sizeof(*maps));
		if (tmp)
			maps = tmp;
	}
	out->maps = maps;
	out->nr = nr;
	maps = NULL;
	nr = 0;

cleanup:
	for (i = 0; i < nr; i++)
		free(maps[i].path);
	free(maps);
	if (err && out) {
		out->maps = NULL;
		out->nr = 0;
	}
	return err;
}

/* Each file's stamp, through map_files: the file mapped even when deleted
 * or in another mount namespace. One stat per object; a failure (the
 * process exited) leaves 0. */
static void stamp_files(int pid, struct procmaps *out)
{
	const struct procmap *prev = NULL;
	char path[96];
	struct stat st;

	for (size_t i = 0; i < out->nr; i++) {
		struct procmap *m = &out->maps[i];

		if (!m->path || m->path[0] != '/')
			continue;
		if (prev && prev->dev == m->dev && prev->inode == m->inode) {
			m->stamp = prev->stamp;
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/map_files/%lx-%lx", pid,
			 (unsigned long)m->start, (unsigned long)m->end);
		if (!stat(path, &st))
			m->stamp = file_stamp(&st);
		prev = m;
	}
}

int procmaps__read(int pid, struct procmaps *out)
{
	char path[64], *buf = NULL;
	size_t len = 0;
	int err;

	if (!out || pid <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	err = read_file(path, MAPS_MAX_BYTES, &buf, &len);
	if (!err)
		err = procmaps__parse(buf, len, out);
	free(buf);
	if (err) {
		out->maps = NULL;
		out->nr = 0;
		return err;
	}
	stamp_files(pid, out);
	return 0;
}

const struct procmap *procmaps__find(const struct procmaps *m, uint64_t addr)
{
	size_t lo;
	const struct procmap *found = NULL;

	if (!m || !m->nr)
		return NULL;

	/* Last mapping whose start <= addr. */
	lo = upper_bound_u64(m->maps, m->nr, sizeof(m->maps[0]), offsetof(struct procmap, start), addr);
	if (lo == 0)
		return NULL;
	found = &m->maps[lo - 1];
	return addr < found->end ? found : NULL;
}

void procmaps__clear(struct procmaps *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nr; i++)
		free(m->maps[i].path);
	free(m->maps);
	m->maps = NULL;
	m->nr = 0;
}

int procmaps__copy(struct procmaps *dst, const struct procmaps *src)
{
	dst->nr = 0;
	dst->maps = calloc(src->nr ? src->nr : 1, sizeof(*dst->maps));
	if (!dst->maps)
		return -ENOMEM;
	for (size_t i = 0; i < src->nr; i++) {
		dst->maps[i] = src->maps[i];
		if (src->maps[i].path && !(dst->maps[i].path = strdup(src->maps[i].path))) {
			procmaps__clear(dst);
			return -ENOMEM;
		}
		dst->nr = i + 1;
	}
	return 0;
}

size_t procmaps__mem(const struct procmaps *m)
{
	size_t n = m->nr * sizeof(m->maps[0]);

	for (size_t i = 0; i < m->nr; i++)
		n += m->maps[i].path ? strlen(m->maps[i].path) + 1 : 0;
	return n;
}
