/* profq: answers the questions integration tests ask of a pprof file.
 *   profq FILE share FUNC        % of the default value in samples whose stack holds FUNC
 *   profq FILE reach FUNC ROOT   % of FUNC's value in samples whose stack also holds ROOT
 *   profq FILE depth FUNC        most times FUNC appears in one stack
 *   profq FILE pids              distinct pid label values, one per line
 *   profq FILE labels            number of samples missing pid, tid, comm or thread
 *   profq FILE kernel            % of the value in samples with a [kernel.kallsyms] frame
 *   profq FILE total             sum of the default value, and of samples/count
 *   profq FILE any FUNC...       % of the value in samples whose stack holds any of FUNCs
 *   profq FILE top N [outer]     the N functions with most flat value: "flat% cum% name";
 *                                outer: each location counts as its outermost function only
 *                                (the one its code was compiled into), as perf --no-inline
 *   profq FILE locations MAPSUB  locations in mappings whose file holds MAPSUB, one per line:
 *                                "ADDR MAPSTART MAPOFFSET" then "|function|file|line" per line
 *                                entry, innermost first (addresses in hex)
 *   profq FILE flags MAPSUB      has_functions has_filenames has_line_numbers has_inline_frames
 *                                (0 or 1) of the first mapping whose file holds MAPSUB
 *   profq FILE sysname FUNC      the system_name of function FUNC
 *   profq FILE label KEY         distinct string values of label KEY, one per line
 *   profq FILE window            "START_NS DURATION_NS": the profile's time_nanos, duration_nanos
 *   profq FILE outside           % of the value in samples with a frame in no mapping, or
 *                                outside its mapping's range (the profile's mappings are
 *                                the processes' executable ones and the kernel's)
 *   profq FILE unnamed-above FUNC...
 *                                "N BAD PCT": N stacks hold one of FUNCs; in BAD of them a
 *                                frame outward of (a caller of) such a frame names no
 *                                function; PCT: BAD's share of the N stacks' value
 *   profq FILE ends FUNC OUTER...
 *                                "N BAD PCT": N stacks hold FUNC; BAD of them end (their
 *                                outermost function) neither at FUNC nor at an OUTER;
 *                                PCT as above
 *   profq FILE sum TYPE [FILTER]...
 *                                sum of sample type TYPE (its name) over the samples
 *                                that pass every FILTER: KEY=VALUE (a label, string or
 *                                number; VALUE "-": the label is absent) or func=NAME
 *                                (NAME in the stack) or leaf=NAME (NAME a function of
 *                                the first frame)
 * FUNC matches a function name exactly. Output is one number or list.
 * With PROFQ_PID=N in the environment, the per-sample questions look only at
 * the samples of process N. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pprof.h"

static Perftools__Profiles__Profile *p;

static const char *str(int64_t i)
{
	return i >= 0 && (size_t)i < p->n_string_table ? p->string_table[i] : "";
}

static Perftools__Profiles__Location *location(uint64_t id)
{
	/* ids are 1..n in order in our files; fall back to a search */
	if (id && id <= p->n_location && p->location[id - 1]->id == id)
		return p->location[id - 1];
	for (size_t i = 0; i < p->n_location; i++)
		if (p->location[i]->id == id)
			return p->location[i];
	return NULL;
}

static const char *function_name(uint64_t id)
{
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id == id)
			return str(p->function[i]->name);
	return "";
}

static int count_in(const Perftools__Profiles__Sample *s, const char *fn)
{
	int n = 0;

	for (size_t i = 0; i < s->n_location_id; i++) {
		Perftools__Profiles__Location *l = location(s->location_id[i]);

		for (size_t j = 0; l && j < l->n_line; j++)
			n += !strcmp(function_name(l->line[j]->function_id), fn);
	}
	return n;
}

/* Whether a location names a function (an address-only frame does not). */
static bool named(const Perftools__Profiles__Location *l)
{
	for (size_t j = 0; l && j < l->n_line; j++)
		if (*function_name(l->line[j]->function_id))
			return true;
	return false;
}

/* Whether one of the names in fns[0..n) is a function of location l. */
static bool holds_any(const Perftools__Profiles__Location *l, char **fns, int n)
{
	for (size_t j = 0; l && j < l->n_line; j++)
		for (int k = 0; k < n; k++)
			if (!strcmp(function_name(l->line[j]->function_id), fns[k]))
				return true;
	return false;
}

/* "unnamed-above": a frame outward of a frame of fns names nothing. */
static bool unnamed_above(const Perftools__Profiles__Sample *s, char **fns, int n)
{
	size_t i = 0;

	while (i < s->n_location_id && !holds_any(location(s->location_id[i]), fns, n))
		i++;
	for (i++; i < s->n_location_id; i++)
		if (!named(location(s->location_id[i])))
			return true;
	return false;
}

/* "ends": the outermost function of the stack is one of fns. */
static bool ends_at(const Perftools__Profiles__Sample *s, char **fns, int n)
{
	const Perftools__Profiles__Location *l;

	if (!s->n_location_id)
		return false;
	l = location(s->location_id[s->n_location_id - 1]);
	if (!l || !l->n_line)
		return false;
	for (int k = 0; k < n; k++)
		if (!strcmp(function_name(l->line[l->n_line - 1]->function_id), fns[k]))
			return true;
	return false;
}

static bool has_kernel(const Perftools__Profiles__Sample *s)
{
	for (size_t i = 0; i < s->n_location_id; i++) {
		Perftools__Profiles__Location *l = location(s->location_id[i]);

		for (size_t m = 0; l && m < p->n_mapping; m++)
			if (p->mapping[m]->id == l->mapping_id &&
			    !strcmp(str(p->mapping[m]->filename), "[kernel.kallsyms]"))
				return true;
	}
	return false;
}

static int64_t label_num(const Perftools__Profiles__Sample *s, const char *key, bool *found)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(str(s->label[i]->key), key)) {
			*found = true;
			return s->label[i]->num;
		}
	*found = false;
	return 0;
}

static const Perftools__Profiles__Function *function_of(uint64_t id)
{
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id == id)
			return p->function[i];
	return NULL;
}

static const Perftools__Profiles__Mapping *mapping_like(const char *sub, uint64_t id)
{
	for (size_t m = 0; m < p->n_mapping; m++)
		if ((!id || p->mapping[m]->id == id) && strstr(str(p->mapping[m]->filename), sub))
			return p->mapping[m];
	return NULL;
}

/* The whole-profile queries: 0 when argv[2] was one of them. */
static int whole_profile(int argc, char **argv)
{
	const char *cmd = argv[2];

	if (!strcmp(cmd, "locations") && argc > 3) {
		for (size_t i = 0; i < p->n_location; i++) {
			const Perftools__Profiles__Location *l = p->location[i];
			const Perftools__Profiles__Mapping *m = mapping_like(argv[3], l->mapping_id);

			if (!m || !l->mapping_id)
				continue;
			printf("%llx %llx %llx", (unsigned long long)l->address,
			       (unsigned long long)m->memory_start, (unsigned long long)m->file_offset);
			for (size_t j = 0; j < l->n_line; j++) {
				const Perftools__Profiles__Function *f = function_of(l->line[j]->function_id);

				printf(" |%s|%s|%lld", f ? str(f->name) : "", f ? str(f->filename) : "",
				       (long long)l->line[j]->line);
			}
			printf("\n");
		}
		return 0;
	}
	if (!strcmp(cmd, "flags") && argc > 3) {
		const Perftools__Profiles__Mapping *m = mapping_like(argv[3], 0);

		if (!m)
			return 1;
		printf("%d %d %d %d\n", m->has_functions, m->has_filenames, m->has_line_numbers,
		       m->has_inline_frames);
		return 0;
	}
	if (!strcmp(cmd, "sysname") && argc > 3) {
		for (size_t i = 0; i < p->n_function; i++)
			if (!strcmp(str(p->function[i]->name), argv[3])) {
				printf("%s\n", str(p->function[i]->system_name));
				return 0;
			}
		return 1;
	}
	if (!strcmp(cmd, "window")) {
		printf("%lld %lld\n", (long long)p->time_nanos, (long long)p->duration_nanos);
		return 0;
	}
	if (!strcmp(cmd, "label") && argc > 3) {
		for (size_t i = 0; i < p->n_sample; i++)
			for (size_t j = 0; j < p->sample[i]->n_label; j++) {
				const Perftools__Profiles__Label *lb = p->sample[i]->label[j];

				if (!strcmp(str(lb->key), argv[3]) && lb->str)
					printf("%s\n", str(lb->str));
			}
		return 0;
	}
	return -1;
}

/* A frame whose address is in no mapping of the profile: the truncation
 * and lost-stack marks (address 0) are not frames. */
static bool has_outside(const Perftools__Profiles__Sample *s)
{
	for (size_t i = 0; i < s->n_location_id; i++) {
		Perftools__Profiles__Location *l = location(s->location_id[i]);
		const Perftools__Profiles__Mapping *m = NULL;

		if (!l || !l->address)
			continue;
		for (size_t j = 0; j < p->n_mapping && l->mapping_id; j++)
			if (p->mapping[j]->id == l->mapping_id)
				m = p->mapping[j];
		if (!m || l->address < m->memory_start || l->address >= m->memory_limit)
			return true;
	}
	return false;
}

static bool has_label(const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(str(s->label[i]->key), key))
			return true;
	return false;
}

/* "sum": whether sample s passes filter f (KEY=VALUE or func=NAME). */
static bool passes(const Perftools__Profiles__Sample *s, const char *f)
{
	const char *eq = strchr(f, '=');
	size_t klen = eq ? (size_t)(eq - f) : strlen(f);

	if (!eq)
		return false;
	if (klen == 4 && !strncmp(f, "func", 4))
		return count_in(s, eq + 1) > 0;
	if (klen == 4 && !strncmp(f, "leaf", 4)) {
		const Perftools__Profiles__Location *l = s->n_location_id ?
			location(s->location_id[0]) : NULL;

		for (size_t j = 0; l && j < l->n_line; j++)
			if (!strcmp(function_name(l->line[j]->function_id), eq + 1))
				return true;
		return false;
	}
	for (size_t i = 0; i < s->n_label; i++) {
		const char *k = str(s->label[i]->key);
		char num[32];

		if (strlen(k) != klen || strncmp(k, f, klen))
			continue;
		if (s->label[i]->str)
			return !strcmp(str(s->label[i]->str), eq + 1);
		snprintf(num, sizeof(num), "%lld", (long long)s->label[i]->num);
		return !strcmp(num, eq + 1);
	}
	return !strcmp(eq + 1, "-");
}

static int sum(int argc, char **argv)
{
	int vi = argc > 3 ? pprof__sample_index(p, argv[3]) : -1;
	double total = 0;

	if (vi < 0) {
		fprintf(stderr, "profq: no sample type %s\n", argc > 3 ? argv[3] : "(none given)");
		return 1;
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		bool ok = (size_t)vi < s->n_value;

		for (int a = 4; ok && a < argc; a++)
			ok = passes(s, argv[a]);
		if (ok)
			total += (double)s->value[vi];
	}
	printf("%.0f\n", total);
	return 0;
}

/* Flat and cumulative value per function name, for "top". */
struct fn_total {
	const char *name;
	double flat, cum;
};
static struct fn_total *totals;
static size_t nr_totals;

static struct fn_total *fn_total(const char *name)
{
	for (size_t i = 0; i < nr_totals; i++)
		if (!strcmp(totals[i].name, name))
			return &totals[i];
	totals = realloc(totals, (nr_totals + 1) * sizeof(*totals));
	if (!totals)
		exit(1);
	totals[nr_totals] = (struct fn_total){ name, 0, 0 };
	return &totals[nr_totals++];
}

static bool outer_only;

static void tally(const Perftools__Profiles__Sample *s, double v)
{
	const char *seen[512];
	size_t nseen = 0;

	for (size_t i = 0; i < s->n_location_id; i++) {
		Perftools__Profiles__Location *l = location(s->location_id[i]);

		for (size_t j = outer_only && l && l->n_line ? l->n_line - 1 : 0; l && j < l->n_line; j++) {
			const char *fn = function_name(l->line[j]->function_id);
			bool dup = false;

			if (i == 0 && (j == 0 || outer_only))
				fn_total(fn)->flat += v;
			for (size_t k = 0; k < nseen; k++)
				dup |= !strcmp(seen[k], fn);
			if (!dup && nseen < 512) {
				seen[nseen++] = fn;
				fn_total(fn)->cum += v;
			}
		}
	}
}

static int by_flat(const void *a, const void *b)
{
	const struct fn_total *x = a, *y = b;

	return x->flat < y->flat ? 1 : x->flat > y->flat ? -1 : strcmp(x->name, y->name);
}

static void print_top(double total, int n)
{
	qsort(totals, nr_totals, sizeof(*totals), by_flat);
	for (size_t i = 0; i < nr_totals && (int)i < n; i++)
		printf("%.2f %.2f %s\n", 100 * totals[i].flat / total, 100 * totals[i].cum / total,
		       totals[i].name);
}

int main(int argc, char **argv)
{
	static unsigned char buf[64 << 20];
	double total = 0, part = 0, base = 0;
	const char *only_pid = getenv("PROFQ_PID");
	int vi, maxdepth = 0, missing = 0, held = 0, bad = 0;
	size_t len;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: profq FILE share|reach|depth|pids|labels|kernel|total|any|top|"
				"locations|flags|sysname|label|unnamed-above|ends [ARGS]\n");
		return 2;
	}
	f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "profq: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	p = pprof__read(buf, len);
	if (!p) {
		fprintf(stderr, "profq: %s: not a pprof profile\n", argv[1]);
		return 1;
	}
	if (!strcmp(argv[2], "sum")) {
		missing = sum(argc, argv);
		pprof__free(p);
		return missing;
	}
	missing = whole_profile(argc, argv);
	if (missing >= 0) {
		pprof__free(p);
		return missing;
	}
	missing = 0;
	outer_only = !strcmp(argv[2], "top") && argc > 4 && !strcmp(argv[4], "outer");
	vi = pprof__sample_index(p, NULL);
	if (vi < 0)
		vi = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		double v = (size_t)vi < s->n_value ? (double)s->value[vi] : 0;
		const char *cmd = argv[2];

		if (only_pid) {
			bool found;

			if (label_num(s, "pid", &found) != atoll(only_pid) || !found)
				continue;
		}

		total += v;
		if (!strcmp(cmd, "share") && argc > 3 && count_in(s, argv[3]))
			part += v;
		if (!strcmp(cmd, "reach") && argc > 4 && count_in(s, argv[3])) {
			base += v;
			if (count_in(s, argv[4]))
				part += v;
		}
		if (!strcmp(cmd, "depth") && argc > 3 && count_in(s, argv[3]) > maxdepth)
			maxdepth = count_in(s, argv[3]);
		if (!strcmp(cmd, "kernel") && has_kernel(s))
			part += v;
		if (!strcmp(cmd, "outside") && has_outside(s))
			part += v;
		if (!strcmp(cmd, "labels") && (!has_label(s, "pid") || !has_label(s, "tid") ||
					       !has_label(s, "comm") || !has_label(s, "thread")))
			missing++;
		if (!strcmp(cmd, "pids")) {
			bool found;
			int64_t pid = label_num(s, "pid", &found);

			if (found)
				printf("%lld\n", (long long)pid);
		}
		if (!strcmp(cmd, "total") && s->n_value > 0)
			base += (double)s->value[0];
		if (!strcmp(cmd, "any"))
			for (int a = 3; a < argc; a++)
				if (count_in(s, argv[a])) {
					part += v;
					break;
				}
		if (!strcmp(cmd, "top"))
			tally(s, v);
		if (!strcmp(cmd, "unnamed-above") && argc > 3) {
			bool in = false;

			for (size_t k = 0; k < s->n_location_id && !in; k++)
				in = holds_any(location(s->location_id[k]), argv + 3, argc - 3);
			if (in) {
				held++;
				base += v;
				if (unnamed_above(s, argv + 3, argc - 3)) {
					bad++;
					part += v;
				}
			}
		}
		if (!strcmp(cmd, "ends") && argc > 4 && count_in(s, argv[3])) {
			held++;
			base += v;
			if (!ends_at(s, argv + 3, argc - 3)) {
				bad++;
				part += v;
			}
		}
	}
	if (!strcmp(argv[2], "top"))
		print_top(total, argc > 3 ? atoi(argv[3]) : 10);
	if (!strcmp(argv[2], "share") || !strcmp(argv[2], "kernel") || !strcmp(argv[2], "any") ||
	    !strcmp(argv[2], "outside"))
		printf("%.2f\n", total ? 100.0 * part / total : 0);
	else if (!strcmp(argv[2], "reach"))
		printf("%.2f\n", base ? 100.0 * part / base : 0);
	else if (!strcmp(argv[2], "depth"))
		printf("%d\n", maxdepth);
	else if (!strcmp(argv[2], "labels"))
		printf("%d\n", missing);
	else if (!strcmp(argv[2], "total"))
		printf("%.0f %.0f\n", total, base);
	else if (!strcmp(argv[2], "unnamed-above") || !strcmp(argv[2], "ends"))
		printf("%d %d %.2f\n", held, bad, base ? 100.0 * part / base : 0);
	pprof__free(p);
	return 0;
}
