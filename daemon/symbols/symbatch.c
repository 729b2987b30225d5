// SPDX-License-Identifier: GPL-2.0
/*
 * One profile's symbol requests (symbatch.h). The parser's replies are kept
 * whole until the profile is done, and the frames point into them; every
 * reply is read as hostile input (rbuf), since a parser that has been
 * subverted by a file it read could say anything.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "hashmap.h"
#include "isolate.h"
#include "log.h"
#include "parserd.h"
#include "symbatch.h"

#define MAX_WHERE		4	/* processes whose view of the file is kept */
#define MAX_FAILURES		3	/* parser failures one profile waits for */
#define MAX_REPLY		(256u << 20)

struct result {
	uint64_t offset;
	uint32_t first, n;		/* frames[first .. first + n) */
	bool done;
};

struct where {
	uint32_t pid;
	uint64_t start, end;
};

struct symobj {
	struct file_id id;
	char *path;			/* as the process sees it */
	struct where where[MAX_WHERE];
	int nr_where;
	struct hashmap *offsets;	/* offset -> uint32_t index into results */
	struct result *results;
	uint32_t nr_results, cap_results;
	uint32_t first_pending;		/* results from here on are not done */
	struct srcline *frames;
	uint32_t nr_frames, cap_frames;
	bool resolved, failed;
	const char *build_id;
	uint32_t flags;			/* PARSERD_F_* */
};

struct symbatch {
	struct symsrc src;
	struct hashmap *objs;		/* struct file_id -> struct symobj * */
	void **replies;			/* what the frames point into */
	size_t nr_replies;
	int failures;
	struct symbatch_stats st;
};

struct symbatch *symbatch__new(const struct symsrc *src)
{
	struct symbatch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->src = *src;
	b->objs = hashmap__new(sizeof(struct file_id), sizeof(struct symobj *));
	if (!b->objs) {
		free(b);
		return NULL;
	}
	return b;
}

static void obj_free(struct symobj *o)
{
	hashmap__free(o->offsets);
	free(o->results);
	free(o->frames);
	free(o->path);
	free(o);
}

struct symobj *symbatch__object(struct symbatch *b, uint32_t pid, const struct procmap *m)
{
	struct file_id id = { m->dev, m->inode, m->stamp };
	struct symobj **slot, *o;
	bool added;

	if (!m->path || m->path[0] != '/')
		return NULL;
	slot = hashmap__insert(b->objs, &id, &added);
	if (!slot)
		return NULL;
	if (!added) {
		o = *slot;
		for (int i = 0; i < o->nr_where; i++)
			if (o->where[i].pid == pid)
				return o;
		if (o->nr_where < MAX_WHERE)
			o->where[o->nr_where++] = (struct where){ pid, m->start, m->end };
		return o;
	}
	o = calloc(1, sizeof(*o));
	if (o) {
		o->id = id;
		o->path = strdup(m->path);
		o->offsets = hashmap__new(sizeof(uint64_t), sizeof(uint32_t));
		o->where[o->nr_where++] = (struct where){ pid, m->start, m->end };
	}
	if (!o || !o->path || !o->offsets) {
		if (o)
			obj_free(o);
		hashmap__delete(b->objs, &id);
		return NULL;
	}
	*slot = o;
	return o;
}

/* The index of offset's result; added, not done, when new. */
static int want(struct symobj *o, uint64_t offset, uint32_t *index)
{
	uint32_t *slot;
	bool added;

	slot = hashmap__insert(o->offsets, &offset, &added);
	if (!slot)
		return -ENOMEM;
	if (!added) {
		*index = *slot;
		return 0;
	}
	if (o->nr_results == o->cap_results) {
		uint32_t cap = o->cap_results ? o->cap_results * 2 : 64;
		struct result *r = realloc(o->results, cap * sizeof(*r));

		if (!r) {
			hashmap__delete(o->offsets, &offset);
			return -ENOMEM;
		}
		o->results = r;
		o->cap_results = cap;
	}
	*slot = o->nr_results;
	*index = o->nr_results;
	o->results[o->nr_results++] = (struct result){ .offset = offset };
	return 0;
}

void symbatch__want(struct symbatch *b, struct symobj *o, uint64_t offset)
{
	uint32_t i;

	if (o)
		want(o, offset, &i);
}

/* The file as the process sees it, and only if it is the file it mapped:
 * through map_files while it lives, its root, then the host's path. */
static int open_object(const struct symobj *o, int *err)
{
	char path[PATH_MAX];

	*err = ENOENT;
	for (int i = 0; i < o->nr_where; i++) {
		const struct where *w = &o->where[i];

		for (int k = 0; k < 3; k++) {
			int fd;

			if (k == 0)
				snprintf(path, sizeof(path), "/proc/%u/map_files/%lx-%lx", w->pid,
					 (unsigned long)w->start, (unsigned long)w->end);
			else if (k == 1 && snprintf(path, sizeof(path), "/proc/%u/root%s", w->pid,
						    o->path) >= (int)sizeof(path))
				continue;
			else if (k == 2 && (i || snprintf(path, sizeof(path), "%s", o->path) >=
						      (int)sizeof(path)))
				continue;
			fd = open_same_file(path, &o->id);
			if (fd >= 0)
				return fd;
			/* the most telling failure: "another file" or "denied"
			 * says more than ENOENT */
			if (*err == ENOENT)
				*err = -fd;
		}
	}
	return -1;
}

static void finish(struct symobj *o, uint32_t from, uint32_t to)
{
	for (uint32_t i = from; i < to; i++)
		o->results[i].done = true;
}

static int add_frame(struct symobj *o, const struct srcline *f)
{
	if (o->nr_frames == o->cap_frames) {
		uint32_t cap = o->cap_frames ? o->cap_frames * 2 : 64;
		struct srcline *p = realloc(o->frames, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		o->frames = p;
		o->cap_frames = cap;
	}
	o->frames[o->nr_frames++] = *f;
	return 0;
}

struct decoding {
	struct symobj *o;
	uint32_t from;
};

static int take_frames(void *arg, uint32_t i, const struct srcline *frames, uint32_t nr)
{
	struct decoding *d = arg;
	struct result *r = &d->o->results[d->from + i];

	r->first = d->o->nr_frames;
	for (uint32_t j = 0; j < nr; j++)
		if (add_frame(d->o, &frames[j]))
			return -ENOMEM;
	r->n = nr;
	return 0;
}

/* Read the parser's answer for results [from, to) of o. */
static int decode(struct symobj *o, const void *payload, size_t len, uint32_t from, uint32_t to)
{
	struct decoding d = { o, from };
	const char *build_id;
	uint32_t flags;
	int err;

	err = parserd__read_frames(payload, len, to - from, &build_id, &flags, take_frames, &d);
	if (!err && !o->resolved) {
		o->build_id = build_id;
		o->flags = flags;
		o->resolved = true;
	}
	return err;
}

/* One request: o's results [from, to). */
static int ask(struct symbatch *b, struct symobj *o, int fd, int open_err, uint32_t from,
	       uint32_t to)
{
	struct wbuf req = { 0 }, out = { 0 };
	struct ipc_hdr rh = { 0 };
	void *payload = NULL, **replies;
	size_t len = 0;
	int err;

	wbuf_u64(&req, o->id.dev);
	wbuf_u64(&req, o->id.inode);
	wbuf_u64(&req, o->id.stamp);
	wbuf_u32(&req, fd >= 0 ? 0 : (uint32_t)open_err);
	wbuf_str(&req, o->path);
	{
		char root[48];

		snprintf(root, sizeof(root), "/proc/%u/root", o->where[0].pid);
		wbuf_str(&req, root);
	}
	wbuf_u32(&req, to - from);
	for (uint32_t i = from; i < to; i++)
		wbuf_u64(&req, o->results[i].offset);
	err = req.err;
	if (err)
		goto out;
	b->st.requests++;
	if (b->src.parser) {
		err = isolate__call(b->src.parser, IPC_SYMBOLIZE, &o->id, o->path, &req, fd, &rh,
				    &payload, MAX_REPLY);
		if (!err)
			len = rh.len;
	} else if (b->src.local) {
		rh.status = parserd__symbolize(b->src.local, req.p, req.len, fd, &out);
		payload = out.p;
		len = out.len;
		out.p = NULL;
	} else {
		err = -ENOENT;
	}
	if (err) {
		b->failures += err != -ENOTRECOVERABLE;
		goto out;
	}
	err = rh.status;
	if (err)
		goto out;
	replies = realloc(b->replies, (b->nr_replies + 1) * sizeof(*replies));
	if (!replies) {
		err = -ENOMEM;
		goto out;
	}
	b->replies = replies;
	b->replies[b->nr_replies++] = payload;
	err = decode(o, payload, len, from, to);
	payload = NULL;
	if (err == -EPROTO && b->src.parser)
		isolate__reject(b->src.parser, &o->id, o->path);
out:
	free(payload);
	wbuf_free(&req);
	wbuf_free(&out);
	return err;
}

static void resolve(struct symbatch *b, struct symobj *o)
{
	uint32_t from = o->first_pending, to = o->nr_results;
	int fd, open_err = 0, err = 0;

	if (from == to && (o->resolved || o->failed))
		return;
	o->first_pending = to;
	if (o->failed || b->failures >= MAX_FAILURES) {
		finish(o, from, to);
		return;
	}
	fd = open_object(o, &open_err);
	do {
		uint32_t end = to - from > PARSERD_MAX_OFFSETS ? from + PARSERD_MAX_OFFSETS : to;

		err = ask(b, o, fd, open_err, from, end);
		finish(o, from, end);
		from = end;
	} while (!err && from < to);
	if (fd >= 0)
		close(fd);
	if (err) {
		finish(o, from, to);
		if (!o->resolved) {
			o->failed = true;
			b->st.failed += err == -ETIMEDOUT || err == -ECHILD || err == -EPROTO ||
					err == -ENOTRECOVERABLE;
		}
	}
}

void symbatch__resolve(struct symbatch *b)
{
	struct symobj **o;
	size_t it = 0;

	while (hashmap__next(b->objs, &it, NULL, (void **)&o))
		resolve(b, *o);
}

int symbatch__frames(struct symbatch *b, struct symobj *o, uint64_t offset,
		     const struct srcline **frames)
{
	struct result *r;
	uint32_t i;

	if (!o || want(o, offset, &i))
		return 0;
	if (!o->results[i].done)
		resolve(b, o);
	r = &o->results[i];
	*frames = r->done && r->n ? o->frames + r->first : NULL;
	return *frames ? (int)r->n : 0;
}

const char *symobj__build_id(struct symbatch *b, struct symobj *o)
{
	if (!o)
		return NULL;
	resolve(b, o);
	return o->build_id;
}

bool symobj__has_dwarf(struct symbatch *b, struct symobj *o)
{
	if (!o)
		return false;
	resolve(b, o);
	return o->flags & PARSERD_F_DWARF;
}

bool symobj__has_functions(struct symbatch *b, struct symobj *o)
{
	if (!o)
		return false;
	resolve(b, o);
	return o->flags & PARSERD_F_FUNCTIONS;
}

bool symobj__ok(struct symbatch *b, struct symobj *o)
{
	if (!o)
		return false;
	resolve(b, o);
	return o->resolved;
}

void symbatch__stats(const struct symbatch *b, struct symbatch_stats *st)
{
	*st = b->st;
}

void symbatch__free(struct symbatch *b)
{
	struct symobj **o;
	size_t it = 0;

	if (!b)
		return;
	while (hashmap__next(b->objs, &it, NULL, (void **)&o))
		obj_free(*o);
	hashmap__free(b->objs);
	for (size_t i = 0; i < b->nr_replies; i++)
		free(b->replies[i]);
	free(b->replies);
	free(b);
}
