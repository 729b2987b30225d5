// SPDX-License-Identifier: GPL-2.0
/* cprof-ctl fleet: profiles across hosts from ClickHouse (fleet.h). What
 * ClickHouse answers is parsed as untrusted text: a field that does not
 * parse ends the answer with an error, never a guess. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "fleet.h"
#include "hashmap.h"
#include "pprof.h"

#define FLEET_TIMEOUT	300	/* seconds a query may take */
#define MAX_FRAMES	4096	/* per stack, as the store keeps them at most */

/* ---- talking to ClickHouse ---------------------------------------------- */

static size_t take(char *p, size_t size, size_t n, void *arg)
{
	return buf__append(arg, p, size * n) ? 0 : size * n;
}

/* Run sql; its answer (TabSeparated) into out. 0, or -1 with the reason. */
static int ch_query(const struct fleet_query *q, const char *sql, struct buf *out, char *err,
		    size_t errlen)
{
	CURL *c = curl_easy_init();
	long code = 0;
	CURLcode rc;

	if (!c) {
		snprintf(err, errlen, "libcurl cannot start");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, sql);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FLEET_TIMEOUT);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, take);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (q->cacert)
		curl_easy_setopt(c, CURLOPT_CAINFO, q->cacert);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "cannot reach ClickHouse at %s: %s", q->url,
			 curl_easy_strerror(rc));
		return -1;
	}
	if (code != 200) {
		const char *msg = out->data ? out->data : "";

		snprintf(err, errlen, "ClickHouse answered HTTP %ld: %.*s", code,
			 (int)strcspn(msg, "\n"), msg);
		return -1;
	}
	return 0;
}

/* s as a ClickHouse string literal. */
static int sql_string(struct buf *b, const char *s)
{
	int e = buf__append(b, "'", 1);

	for (; !e && *s; s++) {
		if (*s == '\'' || *s == '\\')
			e = buf__append(b, "\\", 1);
		if (!e)
			e = buf__append(b, s, 1);
	}
	return e ? e : buf__append(b, "'", 1);
}

static int sql_add(struct buf *b, const char *s)
{
	return buf__append(b, s, strlen(s));
}

/* The rows of q's view and range, with its filters: "WHERE ...". */
static int sql_where(struct buf *b, const struct fleet_query *q)
{
	const struct view_def *v = q->view;
	char t[96];
	int e;

	e = sql_add(b, " WHERE view = ");
	if (!e)
		e = sql_string(b, v->same_data_as ? v->same_data_as : v->name);
	snprintf(t, sizeof(t), " AND time >= toDateTime(%" PRId64 ") AND time < toDateTime(%" PRId64 ")",
		 (int64_t)(q->from_ns / 1000000000LL), (int64_t)((q->to_ns + 999999999LL) / 1000000000LL));
	if (!e)
		e = sql_add(b, t);
	for (size_t i = 0; !e && i < q->nr_hosts; i++) {
		e = sql_add(b, i ? ", " : " AND host IN (");
		if (!e)
			e = sql_string(b, q->hosts[i]);
		if (!e && i + 1 == q->nr_hosts)
			e = sql_add(b, ")");
	}
	if (!e && q->comm) {
		e = sql_add(b, " AND comm = ");
		if (!e)
			e = sql_string(b, q->comm);
	}
	if (!e && q->container) {
		e = sql_add(b, " AND container = ");
		if (!e)
			e = sql_string(b, q->container);
	}
	return e;
}

/* ---- reading TabSeparated ----------------------------------------------- */

struct cursor {
	char *p, *end;
	char *aw;		/* where tsv_array writes elements: an arena as
				 * large as the answer (unescaping only shrinks) */
};

/* The next field, unescaped in place; *last: it ended its row. NULL when
 * the answer ended or a field does not parse. */
static char *tsv_field(struct cursor *c, bool *last)
{
	char *out = c->p, *w = c->p;

	if (c->p >= c->end)
		return NULL;
	while (c->p < c->end && *c->p != '\t' && *c->p != '\n') {
		if (*c->p == '\\' && c->p + 1 < c->end) {
			char e = c->p[1];

			*w++ = e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == '0' ? '\0' :
			       e == 'b' ? '\b' : e == 'f' ? '\f' : e;
			c->p += 2;
			continue;
		}
		*w++ = *c->p++;
	}
	if (c->p >= c->end)
		return NULL;	/* every row ends with a newline */
	*last = *c->p == '\n';
	c->p++;
	*w = 0;
	return out;
}

/* An Array field as ClickHouse writes it in TabSeparated: [1,2] or
 * ['a','b\'c'], elements quoted and escaped (TSV escaping is not applied
 * again to an array's text). Up to max elements, unescaped into c's arena,
 * into v; their number, or -1 when it does not parse. */
static int tsv_array(struct cursor *c, char **v, int max, bool *last)
{
	char *p = c->p;
	int n = 0;

	if (p >= c->end || *p++ != '[')
		return -1;
	while (p < c->end && *p != ']') {
		if (n && *p++ != ',')
			return -1;
		if (p >= c->end || n >= max)
			return -1;
		v[n++] = c->aw;
		if (*p == '\'') {
			for (p++; p < c->end && *p != '\''; p++) {
				if (*p == '\\' && p + 1 < c->end) {
					char e = *++p;

					*c->aw++ = e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' :
						   e == '0' ? '\0' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
					continue;
				}
				*c->aw++ = *p;
			}
			if (p >= c->end)
				return -1;
			p++;	/* the closing quote */
		} else {
			while (p < c->end && *p != ',' && *p != ']' && *p != '\t' && *p != '\n')
				*c->aw++ = *p++;
		}
		*c->aw++ = 0;
	}
	if (p + 1 >= c->end || *p != ']' || (p[1] != '\t' && p[1] != '\n'))
		return -1;
	*last = p[1] == '\n';
	c->p = p + 2;
	return n;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end;
}

static bool parse_i64(const char *s, int64_t *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end;
}

/* ---- collect ------------------------------------------------------------ */

struct agg_key {
	uint64_t stack;
	char host[256];			/* --host-name allows 255 bytes */
	char comm[32];
};

struct stack_rec {
	int nr;
	char **fn, **file, **map, **bid;
	uint32_t *line;
	uint8_t *inl;
};

static void stack_free(struct stack_rec *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->nr; i++) {
		free(s->fn[i]);
		free(s->file[i]);
		free(s->map[i]);
		free(s->bid[i]);
	}
	free(s->fn);
	free(s->file);
	free(s->map);
	free(s->bid);
	free(s->line);
	free(s->inl);
	free(s);
}

/* One row of the stacks' answer into a record. */
static struct stack_rec *stack_row(struct cursor *c, uint64_t *hash, bool *ok)
{
	static char *cols[6][MAX_FRAMES];
	struct stack_rec *s;
	int n[6];
	bool last = false;
	char *h = tsv_field(c, &last);

	*ok = false;
	if (!h || last || !parse_u64(h, hash))
		return NULL;
	for (int i = 0; i < 6; i++) {
		n[i] = tsv_array(c, cols[i], MAX_FRAMES, &last);
		if (n[i] < 0 || (i < 5) == last || n[i] != n[0])
			return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->nr = n[0];
	s->fn = calloc((size_t)s->nr + 1, sizeof(char *));
	s->file = calloc((size_t)s->nr + 1, sizeof(char *));
	s->map = calloc((size_t)s->nr + 1, sizeof(char *));
	s->bid = calloc((size_t)s->nr + 1, sizeof(char *));
	s->line = calloc((size_t)s->nr + 1, sizeof(uint32_t));
	s->inl = calloc((size_t)s->nr + 1, 1);
	if (!s->fn || !s->file || !s->map || !s->bid || !s->line || !s->inl) {
		stack_free(s);
		return NULL;
	}
	for (int i = 0; i < s->nr; i++) {
		uint64_t v;

		s->fn[i] = strdup(cols[0][i]);
		s->file[i] = strdup(cols[1][i]);
		s->map[i] = strdup(cols[4][i]);
		s->bid[i] = strdup(cols[5][i]);
		if (!s->fn[i] || !s->file[i] || !s->map[i] || !s->bid[i] ||
		    !parse_u64(cols[2][i], &v) || v > UINT32_MAX) {
			s->nr = i + 1;
			stack_free(s);
			return NULL;
		}
		s->line[i] = (uint32_t)v;
		s->inl[i] = strcmp(cols[3][i], "0") != 0;
	}
	*ok = true;
	return s;
}

static uint64_t mapping_of(struct pprof_builder *b, const char *file, const char *bid)
{
	return pprof_builder__mapping(b, &(struct pprof_mapping){
		.file = file, .build_id = *bid ? bid : NULL, .has_functions = true,
		.has_filenames = true, .has_line_numbers = true, .has_inline_frames = true,
	});
}

/* The locations of stack s into locs (innermost first): frames marked
 * inlined go with the frame after them. Their number, or -1 (ENOMEM). */
static int stack_locations(struct pprof_builder *b, const struct stack_rec *s, uint64_t *locs)
{
	struct pprof_line lines[64];
	int n = 0, nl = 0;

	for (int i = 0; i < s->nr; i++) {
		if (nl < (int)(sizeof(lines) / sizeof(lines[0])))
			lines[nl++] = (struct pprof_line){ .function = s->fn[i],
							   .filename = *s->file[i] ? s->file[i] : NULL,
							   .line = s->line[i] };
		if (s->inl[i] && i + 1 < s->nr)
			continue;
		locs[n] = pprof_builder__location_lines(b, mapping_of(b, s->map[i], s->bid[i]), 0,
							lines, (size_t)nl);
		if (!locs[n])
			return -1;
		n++;
		nl = 0;
	}
	return n;
}

static int type_index(const struct view_def *v, const char *type)
{
	for (int i = 0; i < v->nr_types; i++)
		if (!strcmp(v->types[i].type, type))
			return i;
	return -1;
}

int fleet__collect(const struct fleet_query *q, struct buf *body, char *err, size_t errlen)
{
	const struct view_def *v = q->view;
	struct hashmap *agg = NULL, *stacks = NULL;
	struct buf sql = { 0 }, ans = { 0 };
	struct pprof_builder *b = NULL;
	uint64_t *locs = NULL, missing_loc = 0;
	char *arena = NULL;
	size_t hosts = 0, rows = 0;
	struct cursor c;
	int rc = -1;
	char comment[256];
	const char *comments[1] = { comment };

	agg = hashmap__new(sizeof(struct agg_key), sizeof(int64_t) * VIEW_MAX_TYPES);
	stacks = hashmap__new(sizeof(uint64_t), sizeof(struct stack_rec *));
	locs = calloc(MAX_FRAMES + 1, sizeof(*locs));
	if (!agg || !stacks || !locs)
		goto nomem;

	/* 1. the sums, by stack, host, process name and sample type */
	if (sql_add(&sql, q->per_host ? "SELECT stack, host, comm, type, sum(value) AS v" :
					 "SELECT stack, '', comm, type, sum(value) AS v") ||
	    sql_add(&sql, " FROM cprof_samples_v1") || sql_where(&sql, q) ||
	    sql_add(&sql, q->per_host ? " GROUP BY stack, host, comm, type" : " GROUP BY stack, comm, type") ||
	    sql_add(&sql, " HAVING v != 0 FORMAT TabSeparated"))
		goto nomem;
	if (ch_query(q, sql.data, &ans, err, errlen))
		goto out;
	c = (struct cursor){ ans.data, ans.data + ans.len };
	while (c.p < c.end) {
		char *f[5];
		bool last = false;
		struct agg_key k;
		uint64_t stack;
		int64_t val, *vals;
		int t, i;

		for (i = 0; i < 5; i++) {
			f[i] = tsv_field(&c, &last);
			if (!f[i] || (i < 4) == last)
				break;
		}
		if (i < 5 || !parse_u64(f[0], &stack) || !parse_i64(f[4], &val)) {
			snprintf(err, errlen, "ClickHouse's answer does not parse (row %zu of the sums)", rows + 1);
			goto out;
		}
		rows++;
		t = type_index(v, f[3]);
		if (t < 0)
			continue;	/* a type this version does not know */
		memset(&k, 0, sizeof(k));
		k.stack = stack;
		snprintf(k.host, sizeof(k.host), "%s", f[1]);
		snprintf(k.comm, sizeof(k.comm), "%s", f[2]);
		vals = hashmap__insert(agg, &k, NULL);
		if (!vals)
			goto nomem;
		vals[t] += val;
	}

	/* 2. those stacks' frames */
	sql.len = 0;
	if (sql_add(&sql, "SELECT hash, any(functions), any(files), any(lines), any(inlined), any(mappings), any(build_ids) FROM cprof_stacks_v1 WHERE hash GLOBAL IN (SELECT DISTINCT stack FROM cprof_samples_v1") ||
	    sql_where(&sql, q) || sql_add(&sql, ") GROUP BY hash FORMAT TabSeparated"))
		goto nomem;
	buf__free(&ans);
	if (hashmap__count(agg) && ch_query(q, sql.data, &ans, err, errlen))
		goto out;
	free(arena);
	arena = malloc(ans.len + 1);
	if (!arena)
		goto nomem;
	c = (struct cursor){ ans.data, ans.data + ans.len, arena };
	while (c.p < c.end) {
		struct stack_rec *s, **slot;

		c.aw = arena;	/* each row's elements are copied out */
		uint64_t hash;
		bool ok;

		s = stack_row(&c, &hash, &ok);
		if (!ok) {
			snprintf(err, errlen, "ClickHouse's answer does not parse (a row of the stacks)");
			goto out;
		}
		slot = hashmap__insert(stacks, &hash, NULL);
		if (!slot) {
			stack_free(s);
			goto nomem;
		}
		stack_free(*slot);
		*slot = s;
	}

	/* 3. one profile */
	b = pprof_builder__new(&(struct pprof_opts){
		.sample_types = v->types, .nr_sample_types = (size_t)v->nr_types,
		.default_sample_type = v->default_type, .period_type = v->period, .period = 1,
		.time_nanos = q->from_ns, .duration_nanos = q->to_ns - q->from_ns,
	});
	if (!b)
		goto nomem;
	{
		struct agg_key *k;
		int64_t *vals;
		size_t it = 0;
		const char *seen[FLEET_MAX_HOSTS * 4];

		while (hashmap__next(agg, &it, (void **)&k, (void **)&vals)) {
			struct stack_rec **s = hashmap__find(stacks, &k->stack);
			struct pprof_label labels[2] = {
				{ .key = "comm", .str = k->comm }, { .key = "host", .str = k->host },
			};
			int n;
			size_t h;

			for (h = 0; q->per_host && h < hosts && strcmp(seen[h], k->host); h++)
				;
			if (q->per_host && h == hosts && hosts < sizeof(seen) / sizeof(seen[0]))
				seen[hosts++] = k->host;
			if (s && *s) {
				n = stack_locations(b, *s, locs);
			} else {
				/* its row not (yet) in the stacks table: the values stay */
				if (!missing_loc)
					missing_loc = pprof_builder__location_lines(b, 0, 0,
						&(struct pprof_line){ .function = "[stack not in the fleet store]" }, 1);
				locs[0] = missing_loc;
				n = missing_loc ? 1 : -1;
			}
			if (n < 0 || pprof_builder__sample(b, locs, (size_t)n, vals, labels,
							   q->per_host ? 2 : 1))
				goto nomem;
		}
	}
	if (q->per_host)
		snprintf(comment, sizeof(comment), "fleet: %s from ClickHouse, %zu host%s, labels comm and host",
			 v->name, hosts, hosts == 1 ? "" : "s");
	else
		snprintf(comment, sizeof(comment), "fleet: %s from ClickHouse, every host%s added up, label comm",
			 v->name, q->nr_hosts ? " asked for" : "");
	if (pprof_builder__set_comments(b, comments, 1) ||
	    pprof_builder__write(b, true, (uint8_t **)&body->data, &body->len))
		goto nomem;
	body->cap = body->len;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
out:
	if (stacks) {
		struct stack_rec **s;
		size_t it = 0;

		while (hashmap__next(stacks, &it, NULL, (void **)&s))
			stack_free(*s);
	}
	hashmap__free(stacks);
	hashmap__free(agg);
	pprof_builder__free(b);
	free(locs);
	free(arena);
	buf__free(&sql);
	buf__free(&ans);
	return rc;
}

/* ---- top ---------------------------------------------------------------- */

int fleet__top(const struct fleet_query *q, bool by_process, int n, FILE *out, char *err,
	       size_t errlen)
{
	const struct view_def *v = q->view;
	struct buf sql = { 0 }, ans = { 0 };
	const char *unit = "";
	struct cursor c;
	char lim[32] = "";
	int rc = -1;

	for (int i = 0; i < v->nr_types; i++)
		if (!strcmp(v->types[i].type, v->default_type))
			unit = v->types[i].unit;
	if (n > 0)
		snprintf(lim, sizeof(lim), " LIMIT %d", n);
	if (sql_add(&sql, by_process ? "SELECT host, comm, sum(value) AS v" : "SELECT host, '', sum(value) AS v") ||
	    sql_add(&sql, " FROM cprof_samples_v1") || sql_where(&sql, q) ||
	    sql_add(&sql, " AND type = ") || sql_string(&sql, v->default_type) ||
	    sql_add(&sql, by_process ? " GROUP BY host, comm" : " GROUP BY host") ||
	    sql_add(&sql, " ORDER BY v DESC, host") || sql_add(&sql, lim) ||
	    sql_add(&sql, " FORMAT TabSeparated")) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (ch_query(q, sql.data, &ans, err, errlen))
		goto out;
	if (by_process)
		fprintf(out, "%18s  %-32s  %s\n", v->default_type, "host", "process");
	else
		fprintf(out, "%18s  %s\n", v->default_type, "host");
	c = (struct cursor){ ans.data, ans.data + ans.len };
	while (c.p < c.end) {
		char *f[3];
		bool last = false;
		int64_t val;
		int i;

		for (i = 0; i < 3; i++) {
			f[i] = tsv_field(&c, &last);
			if (!f[i] || (i < 2) == last)
				break;
		}
		if (i < 3 || !parse_i64(f[2], &val)) {
			snprintf(err, errlen, "ClickHouse's answer does not parse");
			goto out;
		}
		if (by_process)
			fprintf(out, "%18" PRId64 "  %-32s  %s\n", val, f[0], f[1]);
		else
			fprintf(out, "%18" PRId64 "  %s\n", val, f[0]);
	}
	fprintf(out, "(%s, %s)\n", v->name, unit);
	rc = 0;
out:
	buf__free(&sql);
	buf__free(&ans);
	return rc;
}
