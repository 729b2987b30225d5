/* daemon/views/views.c: the view table that routing, the index, /metrics,
 * --views and cprof-ctl read. */
#include <errno.h>
#include <string.h>
#include "check.h"
#include "views.h"

static void test_table(void)
{
	int bad = 0;

	for (size_t i = 0; i < nr_views; i++) {
		const struct view_def *v = &views[i];
		bool has_default = false;

		for (int t = 0; t < v->nr_types; t++)
			has_default |= !strcmp(v->types[t].type, v->default_type);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(views[j].name, v->name) || !strcmp(views[j].path, v->path))
				bad++;
		if (!has_default || !v->sources || !v->summary || !v->period.type ||
		    views__find(v->name) != v || views__by_path(v->path) != v)
			bad++;
	}
	CHECK(bad == 0, "table: names and paths unique, each default among its types, found by name and path",
	      "%d problems", bad);
	CHECK(views__find("cpu") && views__find("cpu")->built && !strcmp(views__find("cpu")->path, "profile"),
	      "table: cpu is served at profile", "not so");
	CHECK(views__find("heap") && views__find("heap")->cumulative && views__find("wall") &&
	      !views__find("wall")->cumulative && views__find("wall")->sources == (SOURCE_CPU | SOURCE_SCHED),
	      "table: heap is cumulative, wall windowed and reads two sources", "not so");
}

static void test_parse(void)
{
	unsigned int mask;
	char err[256] = "";

	CHECK(!views__parse_list("cpu", "--views", &mask, err, sizeof(err)) &&
	      mask == 1u << (views__find("cpu") - views), "parse: cpu", "%s", err);
	CHECK(!views__parse_list("all", "--views", &mask, err, sizeof(err)) && mask,
	      "parse: all is every view built", "%s", err);
	CHECK(views__parse_list("cpu,gpu", "--views", &mask, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "no view 'gpu'") && strstr(err, "--views"), "parse: an unknown view is named", "%s", err);
	err[0] = '\0';
	CHECK(!views__parse_list("block,mutex", "--continuous", &mask, err, sizeof(err)) &&
	      mask == (1u << (views__find("block") - views) | 1u << (views__find("mutex") - views)),
	      "parse: block,mutex", "%s", err);
	CHECK(views__parse_list("", "--views", &mask, err, sizeof(err)) == -EINVAL,
	      "parse: an empty list is refused", "accepted");
	CHECK(views__parse_list("cpu,,cpu", "--views", &mask, err, sizeof(err)) == -EINVAL,
	      "parse: an empty name is refused", "accepted");
}

int main(void)
{
	test_table();
	test_parse();
	return CHECK_EXIT();
}
