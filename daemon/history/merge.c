/* Merging stored profiles into one.
 *
 * Every profile added is decoded, and what its kept samples use (their
 * locations, the functions and mappings of those) is copied into one
 * pprof_builder, which merges equal samples by adding their values. Only what
 * a kept sample uses is copied: a profile filtered down to one process must
 * not name the files and functions of the others.
 *
 * Ids in a decoded profile are whatever the file says: they are looked up in
 * sorted (id, position) arrays, and a sample that refers to a location,
 * function, mapping or string that is not there is skipped, values and all. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "merge.h"
#include "pprof.h"

/* Comments of the first profile that are kept; ours carry a handful. */
#define MERGE_MAX_COMMENTS	64

/* In a source's id cache: the message refers to something missing. */
#define BAD_ID			UINT64_MAX

struct merge {
	struct pprof_builder *b;	/* made by the first merge__add */
	size_t nr_profiles, skipped;

	/* The first profile's sample types, which later ones must match. */
	char **types;			/* type, unit pairs */
	size_t nr_types;
	char **comments;
	size_t nr_comments;

	bool has_time;
	int64_t start_ns, end_ns;
	char *default_type;		/* merge__set_default_type's, or NULL */

	/* Scratch for one sample or location, kept from one to the next. */
	uint64_t *locs;
	size_t cap_locs;
	struct pprof_label *labels;
	size_t cap_labels;
	struct pprof_line *lines;
	size_t cap_lines;
};

/* A profile being added: its messages by id, and the builder's id of each
 * mapping and location once copied (0: not yet, BAD_ID: cannot be). */
struct source {
	const Perftools__Profiles__Profile *p;
	struct pprof_view v;		/* its messages by id */
	uint64_t *map_ids, *loc_ids;	/* by position in p->mapping, p->location */
};

/* calloc that also succeeds for zero elements, so that "nothing" and "out of
 * memory" are not confused. */
static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

/* Room for n elements in a growable scratch array. 0 or -ENOMEM. */
static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
	size_t new_cap = *cap ? *cap : 16;
	void *p;

	if (n <= *cap)
		return 0;
	while (new_cap < n) {
		if (new_cap > SIZE_MAX / 2)
			return -ENOMEM;
		new_cap *= 2;
	}
	if (new_cap > SIZE_MAX / size)
		return -ENOMEM;
	p = realloc(*arr, new_cap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = new_cap;
	return 0;
}

#define RESERVE(arr, cap, n) reserve((void **)&(arr), &(cap), (n), sizeof(*(arr)))

/* String idx of p, or NULL when the index is not in the table. */
static const char *pstr(const Perftools__Profiles__Profile *p, int64_t idx)
{
	if (idx < 0 || (uint64_t)idx >= p->n_string_table)
		return NULL;
	return p->string_table[idx];
}

static void source_free(struct source *s)
{
	pprof_view__free(&s->v);
	free(s->map_ids);
	free(s->loc_ids);
}

static int source_init(struct source *s, const Perftools__Profiles__Profile *p)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->map_ids = zalloc(p->n_mapping, sizeof(*s->map_ids));
	s->loc_ids = zalloc(p->n_location, sizeof(*s->loc_ids));
	if (!s->map_ids || !s->loc_ids || pprof_view__init(&s->v, p)) {
		source_free(s);
		return -ENOMEM;
	}
	return 0;
}

/* The builder's id of the source's mapping id. 0, -EINVAL (no such mapping,
 * or one naming strings that are not there) or -ENOMEM. */
static int copy_mapping(struct merge *m, struct source *s, uint64_t id, uint64_t *out)
{
	const Perftools__Profiles__Mapping *sm;
	struct pprof_mapping pm = {};
	ssize_t pos = pprof_view__find(s->v.maps, s->v.nr_maps, id);

	if (pos < 0)
		return -EINVAL;
	if (s->map_ids[pos]) {
		*out = s->map_ids[pos];
		return s->map_ids[pos] == BAD_ID ? -EINVAL : 0;
	}
	sm = s->p->mapping[pos];
	pm.start = sm->memory_start;
	pm.limit = sm->memory_limit;
	pm.offset = sm->file_offset;
	pm.file = pstr(s->p, sm->filename);
	pm.build_id = pstr(s->p, sm->build_id);
	if (!pm.file || !pm.build_id) {
		s->map_ids[pos] = BAD_ID;
		return -EINVAL;
	}
	pm.has_functions = sm->has_functions;
	pm.has_filenames = sm->has_filenames;
	pm.has_line_numbers = sm->has_line_numbers;
	pm.has_inline_frames = sm->has_inline_frames;
	*out = pprof_builder__mapping(m->b, &pm);
	if (!*out)
		return -ENOMEM;
	s->map_ids[pos] = *out;
	return 0;
}

/* The builder's id for the source's location at position pos, copied with
 * its mapping and lines on first use. 0, -EINVAL (it refers to something
 * missing) or -ENOMEM. */
static int copy_location(struct merge *m, struct source *s, size_t pos, uint64_t *out)
{
	const Perftools__Profiles__Location *loc = s->p->location[pos];
	uint64_t mapping_id = 0;
	size_t i;
	int err;

	if (s->loc_ids[pos]) {
		*out = s->loc_ids[pos];
		return s->loc_ids[pos] == BAD_ID ? -EINVAL : 0;
	}
	if (loc->mapping_id) {
		err = copy_mapping(m, s, loc->mapping_id, &mapping_id);
		if (err)
			goto cleanup;
	}
	err = RESERVE(m->lines, m->cap_lines, loc->n_line);
	if (err)
		goto cleanup;
	/* Innermost first, as in the source: the order is what says which
	 * function was inlined into which. */
	for (i = 0; i < loc->n_line; i++) {
		const Perftools__Profiles__Line *line = loc->line[i];
		const Perftools__Profiles__Function *f;
		ssize_t fpos;

		err = -EINVAL;
		if (!line)
			goto cleanup;
		fpos = pprof_view__find(s->v.funcs, s->v.nr_funcs, line->function_id);
		if (fpos < 0)
			goto cleanup;
		f = s->p->function[fpos];
		m->lines[i].function = pstr(s->p, f->name);
		m->lines[i].system_name = pstr(s->p, f->system_name);
		m->lines[i].filename = pstr(s->p, f->filename);
		m->lines[i].line = line->line;
		if (!m->lines[i].function || !m->lines[i].system_name || !m->lines[i].filename)
			goto cleanup;
	}
	/* By lines, not by address alone: a window symbolized when the debug
	 * info was not there yet, or a made-up frame at address 0 ("[kernel]",
	 * "[stack lost]"), must not take another window's names. */
	*out = pprof_builder__location_lines(m->b, mapping_id, loc->address, m->lines,
					     loc->n_line);
	err = *out ? 0 : -ENOMEM;

cleanup:
	if (err == -EINVAL)
		s->loc_ids[pos] = BAD_ID;
	else if (!err)
		s->loc_ids[pos] = *out;
	return err;
}

/* Whether a sample with these labels passes the filter. */
static bool filter_keeps(const struct merge_filter *filter, const struct pprof_label *labels,
			 size_t nr)
{
	size_t i, j;

	if (!filter || (!filter->nr_pids && !filter->nr_comms))
		return true;
	for (i = 0; i < nr; i++) {
		const struct pprof_label *l = &labels[i];

		if (!l->str && !strcmp(l->key, "pid")) {
			for (j = 0; j < filter->nr_pids; j++) {
				if (l->num == filter->pids[j])
					return true;
			}
		} else if (l->str && !strcmp(l->key, "comm")) {
			for (j = 0; j < filter->nr_comms; j++) {
				if (!strcmp(l->str, filter->comms[j]))
					return true;
			}
		}
	}
	return false;
}

/* Copy one sample, if the filter keeps it. 0 (copied or filtered out),
 * -EINVAL (it refers to something missing: skipped) or -ENOMEM. */
static int copy_sample(struct merge *m, struct source *s, const Perftools__Profiles__Sample *smp,
		       const struct merge_filter *filter)
{
	const Perftools__Profiles__Profile *p = s->p;
	size_t i;
	int err;

	/* A value for every sample type, as pprof itself insists. */
	if (!smp || smp->n_value != m->nr_types)
		return -EINVAL;
	err = RESERVE(m->labels, m->cap_labels, smp->n_label);
	if (err)
		return err;
	for (i = 0; i < smp->n_label; i++) {
		const Perftools__Profiles__Label *l = smp->label[i];
		struct pprof_label *pl = &m->labels[i];

		if (!l)
			return -EINVAL;
		memset(pl, 0, sizeof(*pl));
		pl->key = pstr(p, l->key);
		if (!pl->key)
			return -EINVAL;
		/* String 0 is "": a label without a string is a number. */
		if (l->str) {
			pl->str = pstr(p, l->str);
			if (!pl->str)
				return -EINVAL;
		} else {
			pl->num = l->num;
			pl->num_unit = pstr(p, l->num_unit);
			if (!pl->num_unit)
				return -EINVAL;
		}
	}
	if (!filter_keeps(filter, m->labels, smp->n_label))
		return 0;

	err = RESERVE(m->locs, m->cap_locs, smp->n_location_id);
	if (err)
		return err;
	for (i = 0; i < smp->n_location_id; i++) {
		ssize_t pos = pprof_view__find(s->v.locs, s->v.nr_locs, smp->location_id[i]);

		if (pos < 0)
			return -EINVAL;
		err = copy_location(m, s, pos, &m->locs[i]);
		if (err)
			return err;
	}
	return pprof_builder__sample(m->b, m->locs, smp->n_location_id, smp->value, m->labels,
				     smp->n_label);
}

/* Type and unit of sample type i, or NULL for both when an index is bad. */
static bool value_type(const Perftools__Profiles__Profile *p, size_t i, const char **type,
		       const char **unit)
{
	const Perftools__Profiles__ValueType *vt = p->sample_type[i];

	*type = vt ? pstr(p, vt->type) : NULL;
	*unit = vt ? pstr(p, vt->unit) : NULL;
	return *type && *unit;
}

/* Whether p has the first profile's sample types, in the same order. */
static bool same_types(const struct merge *m, const Perftools__Profiles__Profile *p)
{
	const char *type, *unit;
	size_t i;

	if (p->n_sample_type != m->nr_types)
		return false;
	for (i = 0; i < m->nr_types; i++) {
		if (!value_type(p, i, &type, &unit) || strcmp(type, m->types[2 * i]) ||
		    strcmp(unit, m->types[2 * i + 1]))
			return false;
	}
	return true;
}

static void free_strs(char **strs, size_t nr)
{
	size_t i;

	for (i = 0; strs && i < nr; i++)
		free(strs[i]);
	free(strs);
}

/* Take the header of the first profile: its sample types (kept to check
 * later ones), comments, period and default type, and make the builder.
 * 0, -EINVAL (a header naming strings that are not there, or no sample
 * types) or -ENOMEM; on failure m is as before. */
static int take_header(struct merge *m, const Perftools__Profiles__Profile *p)
{
	struct pprof_value_type *vts = NULL;
	struct pprof_opts o = {};
	char **types = NULL, **comments = NULL;
	size_t i, nr_types = 0, nr_comments = 0;
	const char *def;
	int err = -EINVAL;

	if (!p->n_sample_type)
		goto cleanup;
	err = -ENOMEM;
	/* Zeroed, so that freeing all of them is right however far we got. */
	nr_types = p->n_sample_type;
	nr_comments = p->n_comment < MERGE_MAX_COMMENTS ? p->n_comment : MERGE_MAX_COMMENTS;
	vts = calloc(nr_types, sizeof(*vts));
	types = calloc(nr_types, 2 * sizeof(*types));
	comments = zalloc(nr_comments, sizeof(*comments));
	if (!vts || !types || !comments)
		goto cleanup;
	for (i = 0; i < nr_types; i++) {
		if (!value_type(p, i, &vts[i].type, &vts[i].unit)) {
			err = -EINVAL;
			goto cleanup;
		}
		types[2 * i] = strdup(vts[i].type);
		types[2 * i + 1] = strdup(vts[i].unit);
		if (!types[2 * i] || !types[2 * i + 1])
			goto cleanup;
	}
	for (i = 0; i < nr_comments; i++) {
		const char *c = pstr(p, p->comment[i]);

		if (!c) {
			err = -EINVAL;
			goto cleanup;
		}
		comments[i] = strdup(c);
		if (!comments[i])
			goto cleanup;
	}

	o.sample_types = vts;
	o.nr_sample_types = nr_types;
	/* A default that names none of the types is dropped: pprof then shows
	 * the last type, which is what such a profile got anyway. */
	def = m->default_type ? m->default_type : pstr(p, p->default_sample_type);
	for (i = 0; def && *def && i < nr_types; i++) {
		if (!strcmp(def, vts[i].type)) {
			o.default_sample_type = def;
			break;
		}
	}
	if (p->period_type) {
		o.period_type.type = pstr(p, p->period_type->type);
		o.period_type.unit = pstr(p, p->period_type->unit);
		if (!o.period_type.type || !o.period_type.unit) {
			err = -EINVAL;
			goto cleanup;
		}
	}
	o.period = p->period;
	/* The time and the comments are set when written: only then are they
	 * known. */
	m->b = pprof_builder__new(&o);
	if (!m->b) {
		err = -errno;
		goto cleanup;
	}
	m->types = types;
	m->nr_types = nr_types;
	m->comments = comments;
	m->nr_comments = nr_comments;
	types = comments = NULL;
	err = 0;

cleanup:
	free_strs(types, 2 * nr_types);
	free_strs(comments, nr_comments);
	free(vts);
	return err;
}

/* Widen the merge's time span to hold p's. A profile without a time (0) or
 * with one before 1970 has none to give; a negative duration counts as none,
 * and one running past the end of time stops there. */
static void take_time(struct merge *m, const Perftools__Profiles__Profile *p)
{
	int64_t start = p->time_nanos, end = start;

	if (start <= 0)
		return;
	if (p->duration_nanos > 0)
		end = p->duration_nanos > INT64_MAX - start ? INT64_MAX : start + p->duration_nanos;
	if (!m->has_time || start < m->start_ns)
		m->start_ns = start;
	if (!m->has_time || end > m->end_ns)
		m->end_ns = end;
	m->has_time = true;
}

struct merge *merge__new(void)
{
	return calloc(1, sizeof(struct merge));
}

int merge__add(struct merge *m, const uint8_t *buf, size_t len, const struct merge_filter *filter)
{
	Perftools__Profiles__Profile *p = NULL;
	struct source s = {};
	bool have_source = false;
	size_t i;
	int err = -EINVAL;

	if (!m || !buf || !len)
		goto cleanup;
	if (filter && ((filter->nr_pids && !filter->pids) || (filter->nr_comms && !filter->comms)))
		goto cleanup;
	for (i = 0; filter && i < filter->nr_comms; i++) {
		if (!filter->comms[i])
			goto cleanup;
	}
	p = pprof__read(buf, len);
	if (!p) {
		err = -errno;
		goto cleanup;
	}
	if (!m->b) {
		err = take_header(m, p);
		if (err)
			goto cleanup;
	} else if (!same_types(m, p)) {
		err = -EINVAL;
		goto cleanup;
	}
	err = source_init(&s, p);
	if (err)
		goto cleanup;
	have_source = true;

	for (i = 0; i < p->n_sample; i++) {
		err = copy_sample(m, &s, p->sample[i], filter);
		if (err == -EINVAL) {
			m->skipped++;
			err = 0;
		}
		if (err)
			goto cleanup;
	}
	take_time(m, p);
	m->nr_profiles++;

cleanup:
	if (have_source)
		source_free(&s);
	pprof__free(p);
	return err;
}

size_t merge__count(const struct merge *m)
{
	return m ? m->nr_profiles : 0;
}

size_t merge__skipped(const struct merge *m)
{
	return m ? m->skipped : 0;
}

int merge__write(struct merge *m, const char *const *comments, size_t nr_comments, bool gzip,
		 uint8_t **out, size_t *len)
{
	const char **all = NULL;
	size_t i, n;
	int err = -EINVAL;

	if (!m || (nr_comments && !comments) || !out || !len)
		goto cleanup;
	err = -ENOENT;
	if (!m->b)
		goto cleanup;
	err = -ENOMEM;
	if (nr_comments > SIZE_MAX / sizeof(*all) - m->nr_comments)
		goto cleanup;
	n = nr_comments + m->nr_comments;
	all = zalloc(n, sizeof(*all));
	if (!all)
		goto cleanup;
	for (i = 0; i < nr_comments; i++)
		all[i] = comments[i];
	for (i = 0; i < m->nr_comments; i++)
		all[nr_comments + i] = m->comments[i];
	err = pprof_builder__set_comments(m->b, all, n);
	if (err)
		goto cleanup;
	if (m->has_time)
		pprof_builder__set_time(m->b, m->start_ns, m->end_ns - m->start_ns);
	err = pprof_builder__write(m->b, gzip, out, len);

cleanup:
	free(all);
	return err;
}

int merge__set_default_type(struct merge *m, const char *type)
{
	char *t;

	if (m->b)
		return -EBUSY;		/* the builder has its options already */
	t = strdup(type);
	if (!t)
		return -ENOMEM;
	free(m->default_type);
	m->default_type = t;
	return 0;
}

void merge__free(struct merge *m)
{
	if (!m)
		return;
	free(m->default_type);
	pprof_builder__free(m->b);
	free_strs(m->types, 2 * m->nr_types);
	free_strs(m->comments, m->nr_comments);
	free(m->locs);
	free(m->labels);
	free(m->lines);
	free(m);
}
