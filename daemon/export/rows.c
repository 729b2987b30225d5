// SPDX-License-Identifier: GPL-2.0
/* A kept window's profile as rows of the fleet store's tables (rows.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "pprof.h"
#include "rows.h"

const char *const rows_table[2] = { "cprof_stacks_v1", "cprof_samples_v1" };

/* Partitions by day, sorted so that a view over a time range reads only
 * its own rows; stacks merged by hash in the background. */
const char *const rows_create_sql[2] = {
	"CREATE TABLE IF NOT EXISTS cprof_stacks_v1 ("
	"hash UInt64, functions Array(String), files Array(String), lines Array(UInt32), "
	"inlined Array(UInt8), mappings Array(String), build_ids Array(String)"
	") ENGINE = ReplacingMergeTree() ORDER BY hash",
	"CREATE TABLE IF NOT EXISTS cprof_samples_v1 ("
	"time DateTime, duration_ms UInt32, host String, view String, type String, unit String, "
	"value Int64, stack UInt64, pid UInt32, tid UInt32, comm String, thread String, "
	"container String, cgroup String, label_keys Array(String), label_values Array(String)"
	") ENGINE = MergeTree() PARTITION BY toYYYYMMDD(time) ORDER BY (view, type, host, time, stack)",
};

/* s with each of specials written as its backslash escape: the plain
 * spans between them in one write each (most strings have none). */
static void escaped(FILE *f, const char *s, const char *specials)
{
	while (s && *s) {
		size_t n = strcspn(s, specials);

		if (n)
			fwrite_unlocked(s, 1, n, f);
		s += n;
		if (!*s)
			break;
		putc_unlocked('\\', f);
		putc_unlocked(*s == '\t' ? 't' : *s == '\n' ? 'n' : *s == '\r' ? 'r' : *s, f);
		s++;
	}
}

void rows__tsv_string(FILE *f, const char *s)
{
	escaped(f, s, "\\\t\n\r");
}

void rows__quoted_string(FILE *f, const char *s)
{
	putc_unlocked('\'', f);
	escaped(f, s, "'\\\t\n\r");
	putc_unlocked('\'', f);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv(h, s ? s : "", (s ? strlen(s) : 0) + 1);
}

struct frame {
	const char *function, *file, *mapping, *build_id;
	uint32_t line;
	uint8_t inlined;
};

struct dec {
	const Perftools__Profiles__Profile *p;
	struct pprof_view v;
	uint64_t *loc_hash;		/* by position in p->location: 0 not yet */
	char addr[32];
};

static const char *str_at(const struct dec *d, int64_t i)
{
	return i > 0 && (size_t)i < d->p->n_string_table ? d->p->string_table[i] : "";
}

/* Frame j of location l (lines innermost first; none: its address). */
static void frame_of(struct dec *d, const Perftools__Profiles__Location *l, size_t j, struct frame *f)
{
	const Perftools__Profiles__Mapping *m = NULL;
	ssize_t mi = l->mapping_id ? pprof_view__find(d->v.maps, d->v.nr_maps, l->mapping_id) : -1;

	memset(f, 0, sizeof(*f));
	if (mi >= 0)
		m = d->p->mapping[mi];
	f->mapping = m ? str_at(d, m->filename) : "";
	f->build_id = m ? str_at(d, m->build_id) : "";
	if (j < l->n_line) {
		const Perftools__Profiles__Line *ln = l->line[j];
		ssize_t fi = ln ? pprof_view__find(d->v.funcs, d->v.nr_funcs, ln->function_id) : -1;
		const Perftools__Profiles__Function *fn = fi >= 0 ? d->p->function[fi] : NULL;

		f->function = fn ? str_at(d, fn->name) : "";
		f->file = fn ? str_at(d, fn->filename) : "";
		f->line = ln && ln->line > 0 && ln->line <= UINT32_MAX ? (uint32_t)ln->line : 0;
		f->inlined = j + 1 < l->n_line;
	} else {
		snprintf(d->addr, sizeof(d->addr), "0x%" PRIx64, l->address);
		f->function = d->addr;
		f->file = "";
	}
}

static size_t nr_frames(const Perftools__Profiles__Location *l)
{
	return l->n_line ? l->n_line : 1;
}

static uint64_t location_hash(struct dec *d, size_t li)
{
	const Perftools__Profiles__Location *l = d->p->location[li];
	uint64_t h = 0xcbf29ce484222325ULL;
	struct frame f;

	if (d->loc_hash[li])
		return d->loc_hash[li];
	for (size_t j = 0; j < nr_frames(l); j++) {
		frame_of(d, l, j, &f);
		h = fnv_str(h, f.function);
		h = fnv_str(h, f.file);
		h = fnv(h, &f.line, sizeof(f.line));
		h = fnv(h, &f.inlined, 1);
		h = fnv_str(h, f.mapping);
		h = fnv_str(h, f.build_id);
	}
	d->loc_hash[li] = h ? h : 1;
	return d->loc_hash[li];
}

/* The sample's locations by position; false if one refers to nothing. */
static bool sample_locs(struct dec *d, const Perftools__Profiles__Sample *s, size_t *pos)
{
	for (size_t i = 0; i < s->n_location_id; i++) {
		ssize_t li = pprof_view__find(d->v.locs, d->v.nr_locs, s->location_id[i]);

		if (li < 0 || !d->p->location[li])
			return false;
		pos[i] = (size_t)li;
	}
	return true;
}

static void write_stack(struct dec *d, FILE *f, uint64_t hash, const size_t *pos, size_t n)
{
	static const char *const cols[] = { "functions", "files", "lines", "inlined", "mappings",
					    "build_ids" };
	struct frame fr;

	fprintf(f, "%" PRIu64, hash);
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++) {
		bool first = true;

		fputs("\t[", f);
		for (size_t i = 0; i < n; i++) {
			const Perftools__Profiles__Location *l = d->p->location[pos[i]];

			for (size_t j = 0; j < nr_frames(l); j++) {
				frame_of(d, l, j, &fr);
				if (!first)
					putc_unlocked(',', f);
				first = false;
				switch (c) {
				case 0: rows__quoted_string(f, fr.function); break;
				case 1: rows__quoted_string(f, fr.file); break;
				case 2: fprintf(f, "%" PRIu32, fr.line); break;
				case 3: fprintf(f, "%u", fr.inlined); break;
				case 4: rows__quoted_string(f, fr.mapping); break;
				default: rows__quoted_string(f, fr.build_id);
				}
			}
		}
		putc_unlocked(']', f);
	}
	putc_unlocked('\n', f);
}

/* The labels a sample row has columns for, by key. */
static const char *const label_cols[] = { "pid", "tid", "comm", "thread", "container", "cgroup" };
#define NR_LABEL_COLS (sizeof(label_cols) / sizeof(label_cols[0]))

static void write_samples(struct dec *d, FILE *f, const struct rows_window *w,
			  const Perftools__Profiles__Sample *s, uint64_t hash, struct rows_stats *st)
{
	const Perftools__Profiles__Label *cols[NR_LABEL_COLS] = { 0 };
	char num[32];

	for (size_t i = 0; i < s->n_label; i++) {
		const Perftools__Profiles__Label *l = s->label[i];

		for (size_t c = 0; l && c < NR_LABEL_COLS; c++)
			if (!cols[c] && !strcmp(str_at(d, l->key), label_cols[c]))
				cols[c] = l;
	}
	for (size_t t = 0; t < s->n_value && t < d->p->n_sample_type; t++) {
		const Perftools__Profiles__ValueType *vt = d->p->sample_type[t];
		bool first;

		if (!s->value[t] || !vt)
			continue;
		fprintf(f, "%" PRId64 "\t%" PRId64 "\t", (int64_t)(w->start_ns / 1000000000LL),
			(int64_t)((w->end_ns - w->start_ns) / 1000000));
		rows__tsv_string(f, w->host);
		putc_unlocked('\t', f);
		rows__tsv_string(f, w->view);
		putc_unlocked('\t', f);
		rows__tsv_string(f, str_at(d, vt->type));
		putc_unlocked('\t', f);
		rows__tsv_string(f, str_at(d, vt->unit));
		fprintf(f, "\t%" PRId64 "\t%" PRIu64, s->value[t], hash);
		for (size_t c = 0; c < NR_LABEL_COLS; c++) {
			const Perftools__Profiles__Label *l = cols[c];

			putc_unlocked('\t', f);
			if (c < 2)	/* pid, tid: numbers */
				fprintf(f, "%" PRIu32, l && l->num > 0 && l->num <= UINT32_MAX ?
						       (uint32_t)l->num : 0);
			else if (l)
				rows__tsv_string(f, l->str ? str_at(d, l->str) : "");
		}
		for (int pass = 0; pass < 2; pass++) {
			fputs("\t[", f);
			first = true;
			for (size_t i = 0; i < s->n_label; i++) {
				const Perftools__Profiles__Label *l = s->label[i];
				bool col = false;

				for (size_t c = 0; l && c < NR_LABEL_COLS; c++)
					col |= cols[c] == l;
				if (!l || col)
					continue;
				if (!first)
					putc_unlocked(',', f);
				first = false;
				if (!pass) {
					rows__quoted_string(f, str_at(d, l->key));
				} else if (l->str) {
					rows__quoted_string(f, str_at(d, l->str));
				} else {
					snprintf(num, sizeof(num), "%" PRId64, l->num);
					rows__quoted_string(f, num);
				}
			}
			putc_unlocked(']', f);
		}
		putc_unlocked('\n', f);
		st->samples++;
	}
}

int rows__write(const uint8_t *buf, size_t len, const struct rows_window *w,
		const struct hashmap *sent, struct hashmap *pending, FILE *stacks, FILE *samples,
		struct rows_stats *st)
{
	struct hashmap *mine = NULL;
	struct dec d = { 0 };
	size_t *pos = NULL, max = 0;
	int e = 0;

	if (!pending) {
		pending = mine = hashmap__new(sizeof(uint64_t), 1);
		if (!pending)
			return -ENOMEM;
	}
	d.p = pprof__read(buf, len);
	if (!d.p) {
		hashmap__free(mine);
		return -errno;
	}
	if (pprof_view__init(&d.v, d.p)) {
		e = -ENOMEM;
		goto out;
	}
	d.loc_hash = calloc(d.p->n_location + 1, sizeof(*d.loc_hash));
	for (size_t i = 0; i < d.p->n_sample; i++)
		if (d.p->sample[i] && d.p->sample[i]->n_location_id > max)
			max = d.p->sample[i]->n_location_id;
	pos = calloc(max + 1, sizeof(*pos));
	if (!d.loc_hash || !pos) {
		e = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d.p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = d.p->sample[i];
		uint64_t h = 0xcbf29ce484222325ULL;

		if (!s || !sample_locs(&d, s, pos)) {
			st->skipped++;
			continue;
		}
		for (size_t j = 0; j < s->n_location_id; j++) {
			uint64_t lh = location_hash(&d, pos[j]);

			h = fnv(h, &lh, sizeof(lh));
		}
		h = h ? h : 1;
		if ((!sent || !hashmap__find(sent, &h)) && !hashmap__find(pending, &h)) {
			if (!hashmap__insert(pending, &h, NULL)) {
				e = -ENOMEM;
				goto out;
			}
			write_stack(&d, stacks, h, pos, s->n_location_id);
			st->stacks++;
		}
		write_samples(&d, samples, w, s, h, st);
	}
	if (ferror(stacks) || ferror(samples))
		e = -EIO;
out:
	hashmap__free(mine);
	free(pos);
	free(d.loc_hash);
	pprof_view__free(&d.v);
	pprof__free((Perftools__Profiles__Profile *)d.p);
	return e;
}
