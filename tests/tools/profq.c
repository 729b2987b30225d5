/* profq: answers the questions integration tests ask of a pprof file.
 *   profq FILE share FUNC        % of the default value in samples whose stack holds FUNC
 *   profq FILE reach FUNC ROOT   % of FUNC's value in samples whose stack also holds ROOT
 *   profq FILE depth FUNC        most times FUNC appears in one stack
 *   profq FILE pids              distinct pid label values, one per line
 *   profq FILE labels            number of samples missing pid, tid, comm or thread
 *   profq FILE kernel            % of the value in samples with a [kernel.kallsyms] frame
 *   profq FILE total             sum of the default value, and of samples/count
 * FUNC matches a function name exactly. Output is one number or list. */
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

static bool has_label(const Perftools__Profiles__Sample *s, const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(str(s->label[i]->key), key))
			return true;
	return false;
}

int main(int argc, char **argv)
{
	static unsigned char buf[64 << 20];
	double total = 0, part = 0, base = 0;
	int vi, maxdepth = 0, missing = 0;
	size_t len;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: profq FILE share|reach|depth|pids|labels|kernel|total [FUNC [ROOT]]\n");
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
	vi = pprof__sample_index(p, NULL);
	if (vi < 0)
		vi = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		double v = (size_t)vi < s->n_value ? (double)s->value[vi] : 0;
		const char *cmd = argv[2];

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
	}
	if (!strcmp(argv[2], "share") || !strcmp(argv[2], "kernel"))
		printf("%.2f\n", total ? 100.0 * part / total : 0);
	else if (!strcmp(argv[2], "reach"))
		printf("%.2f\n", base ? 100.0 * part / base : 0);
	else if (!strcmp(argv[2], "depth"))
		printf("%d\n", maxdepth);
	else if (!strcmp(argv[2], "labels"))
		printf("%d\n", missing);
	else if (!strcmp(argv[2], "total"))
		printf("%.0f %.0f\n", total, base);
	pprof__free(p);
	return 0;
}
