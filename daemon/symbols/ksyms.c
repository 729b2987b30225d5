// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel text symbols from /proc/kallsyms:
 *	"ffffffff81000000 T _stext"
 *	"ffffffffc0a01000 t foo\t[mod]"
 * Only text (t, T, w, W) is kept: stacks hold code addresses, and data
 * symbols would only make the table bigger. kallsyms has no sizes, so a
 * symbol reaches to the next one of the same region (core kernel or one
 * module); past the last symbol of a region an address is only accepted
 * within KSYM_TAIL_MAX, since what follows is a gap or another allocation.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* qsort_r */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bsearch.h"
#include "fileio.h"
#include "hexval.h"
#include "ksyms.h"

#define KSYM_TAIL_MAX		(1ull << 20)
#define KALLSYMS_MAX_BYTES	(512u << 20)

struct ksym {
	uint64_t addr;
	uint32_t name;			/* offset into names */
	uint32_t mod;			/* 0: core kernel, else mods[mod - 1] */
};

struct ksyms {
	struct ksym *syms;		/* sorted by addr, one per address */
	size_t nr;
	char *names;			/* symbol and module names */
	size_t names_len;
	uint32_t *mods;			/* offsets into names */
	size_t nr_mods;
};

/* Growable arrays used while parsing. */
struct parse_state {
	struct ksyms *k;
	size_t syms_cap, names_cap, mods_cap;
	uint32_t last_mod;		/* lines of one module come together */
};

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *tmp;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	tmp = realloc(*arr, ncap * elem);
	if (!tmp)
		return -ENOMEM;
	*arr = tmp;
	*cap = ncap;
	return 0;
}

static int add_name(struct parse_state *ps, const char *s, size_t len, uint32_t *off)
{
	struct ksyms *k = ps->k;
	int err;

	if (k->names_len + len + 1 > UINT32_MAX)
		return -EFBIG;
	err = grow((void **)&k->names, &ps->names_cap, k->names_len + len + 1, 1);
	if (err)
		return err;
	memcpy(k->names + k->names_len, s, len);
	k->names[k->names_len + len] = '\0';
	*off = (uint32_t)k->names_len;
	k->names_len += len + 1;
	return 0;
}

/* Module index (1-based) for a name, interning it on first sight. */
static int intern_module(struct parse_state *ps, const char *s, size_t len, uint32_t *mod)
{
	struct ksyms *k = ps->k;
	uint32_t off;
	size_t i;
	int err;

	if (ps->last_mod) {
		const char *m = k->names + k->mods[ps->last_mod - 1];

		if (strlen(m) == len && !memcmp(m, s, len)) {
			*mod = ps->last_mod;
			return 0;
		}
	}
	for (i = 0; i < k->nr_mods; i++) {
		const char *m = k->names + k->mods[i];

		if (strlen(m) == len && !memcmp(m, s, len)) {
			*mod = ps->last_mod = (uint32_t)(i + 1);
			return 0;
		}
	}
	err = grow((void **)&k->mods, &ps->mods_cap, k->nr_mods + 1, sizeof(*k->mods));
	if (err)
		return err;
	err = add_name(ps, s, len, &off);
	if (err)
		return err;
	k->mods[k->nr_mods++] = off;
	*mod = ps->last_mod = (uint32_t)k->nr_mods;
	return 0;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/*
 * One line [p, end). Returns 1 when it is a well-formed kallsyms line
 * (kept or not; *addr gets its address), 0 when malformed, -errno on
 * allocation failure.
 */
static int parse_line(struct parse_state *ps, const char *p, const char *end, uint64_t *addr)
{
	const char *name, *mod = NULL;
	size_t name_len, mod_len = 0;
	struct ksym *s;
	uint64_t a = 0;
	int ndig = 0, d, err;
	char type;

	for (; p < end && (d = hexval(*p)) >= 0; p++, ndig++) {
		if (a >> 60)
			return 0;
		a = a << 4 | (uint64_t)d;
	}
	if (!ndig || p >= end || !is_blank(*p))
		return 0;
	while (p < end && is_blank(*p))
		p++;
	if (p >= end)
		return 0;
	type = *p++;
	if (p >= end || !is_blank(*p))
		return 0;
	while (p < end && is_blank(*p))
		p++;
	name = p;
	while (p < end && !is_blank(*p))
		p++;
	name_len = (size_t)(p - name);
	if (!name_len)
		return 0;
	while (p < end && is_blank(*p))
		p++;
	if (p < end) {
		const char *close;

		if (*p != '[')
			return 0;
		close = memchr(p, ']', (size_t)(end - p));
		if (!close || close == p + 1)
			return 0;
		mod = p + 1;
		mod_len = (size_t)(close - mod);
	}
	*addr = a;

	if (type != 't' && type != 'T' && type != 'w' && type != 'W')
		return 1;
	if (!a)
		return 1;	/* hidden address: nothing to look up */

	err = grow((void **)&ps->k->syms, &ps->syms_cap, ps->k->nr + 1, sizeof(*ps->k->syms));
	if (err)
		return err;
	s = &ps->k->syms[ps->k->nr];
	s->addr = a;
	s->mod = 0;
	if (mod) {
		err = intern_module(ps, mod, mod_len, &s->mod);
		if (err)
			return err;
	}
	err = add_name(ps, name, name_len, &s->name);
	if (err)
		return err;
	ps->k->nr++;
	return 1;
}

static size_t leading_underscores(const char *s)
{
	size_t n = 0;

	while (s[n] == '_')
		n++;
	return n;
}

/* By address; at one address several aliases are common (_text, _stext):
 * the best name first, so dedup keeps it. Core before modules, then fewer
 * leading underscores, shorter, alphabetical. */
static int cmp_ksym(const void *a, const void *b, void *names)
{
	const struct ksym *x = a, *y = b;
	const char *nx = (const char *)names + x->name, *ny = (const char *)names + y->name;
	size_t ux, uy, lx, ly;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->mod != y->mod)
		return x->mod < y->mod ? -1 : 1;
	ux = leading_underscores(nx);
	uy = leading_underscores(ny);
	if (ux != uy)
		return ux < uy ? -1 : 1;
	lx = strlen(nx);
	ly = strlen(ny);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(nx, ny);
}

struct ksyms *ksyms__parse(const char *text, size_t len)
{
	struct parse_state ps = { 0 };
	const char *p = text, *end, *eol;
	bool any_line = false, any_addr = false;
	struct ksym *tmp;
	size_t i, kept;
	int err = 0;

	if (!text && len) {
		err = -EINVAL;
		goto cleanup;
	}
	ps.k = calloc(1, sizeof(*ps.k));
	if (!ps.k) {
		err = -ENOMEM;
		goto cleanup;
	}

	end = len ? text + len : text;
	while (p < end) {
		uint64_t addr = 0;
		int ret;

		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		ret = parse_line(&ps, p, eol, &addr);
		p = eol < end ? eol + 1 : end;
		if (ret < 0) {
			err = ret;
			goto cleanup;
		}
		if (ret > 0) {
			any_line = true;
			any_addr |= addr != 0;
		}
	}
	/* kptr_restrict shows every address as zero to the unprivileged:
	 * the names alone are useless, and the caller should say why. */
	if (any_line && !any_addr) {
		err = -EPERM;
		goto cleanup;
	}

	if (ps.k->nr > 1)
		qsort_r(ps.k->syms, ps.k->nr, sizeof(*ps.k->syms), cmp_ksym, ps.k->names);
	for (i = 0, kept = 0; i < ps.k->nr; i++) {
		if (kept && ps.k->syms[kept - 1].addr == ps.k->syms[i].addr)
			continue;
		ps.k->syms[kept++] = ps.k->syms[i];
	}
	ps.k->nr = kept;
	/* The table lives as long as the daemon: give back the slack. */
	if (kept) {
		tmp = realloc(ps.k->syms, kept * sizeof(*tmp));
		if (tmp)
			ps.k->syms = tmp;
	}

cleanup:
	if (err) {
		ksyms__free(ps.k);
		errno = -err;
		return NULL;
	}
	return ps.k;
}

struct ksyms *ksyms__load(void)
{
	struct ksyms *k = NULL;
	char *buf = NULL;
	size_t len = 0;
	int err;

	err = read_file("/proc/kallsyms", KALLSYMS_MAX_BYTES, &buf, &len);
	if (!err) {
		k = ksyms__parse(buf, len);
		if (!k)
			err = -errno;
	}
	free(buf);
	if (err) {
		errno = -err;
		return NULL;
	}
	return k;
}

const char *ksyms__lookup(const struct ksyms *k, uint64_t addr, uint64_t *start, const char **module)
{
	const struct ksym *s;
	size_t lo;

	if (module)
		*module = NULL;
	if (!k || !k->nr)
		return NULL;

	lo = upper_bound_u64(k->syms, k->nr, sizeof(k->syms[0]), offsetof(struct ksym, addr), addr);
	if (lo == 0)
		return NULL;
	s = &k->syms[lo - 1];
	/* The next symbol of the same region bounds this one; the last one
	 * of a region gets a fixed allowance. */
	if ((lo == k->nr || k->syms[lo].mod != s->mod) && addr - s->addr > KSYM_TAIL_MAX)
		return NULL;

	if (start)
		*start = s->addr;
	if (module && s->mod)
		*module = k->names + k->mods[s->mod - 1];
	return k->names + s->name;
}

size_t ksyms__count(const struct ksyms *k)
{
	return k ? k->nr : 0;
}

void ksyms__free(struct ksyms *k)
{
	if (!k)
		return;
	free(k->syms);
	free(k->names);
	free(k->mods);
	free(k);
}
