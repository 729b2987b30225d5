/* The fleet store's rows (daemon/export/rows.c) and cprof-ctl fleet's
 * reading of what ClickHouse answers (cli/fleet.c): a profile becomes rows,
 * stacks once each by a hash of their symbolized frames; strings that need
 * escaping survive the round trip; answers that do not parse are refused. */
#include <string.h>
#include "check.h"
#include "hashmap.h"
#include "pprof.h"
#include "rows.h"
#include "../../cli/client.c"
#include "../../cli/fleet.c"

/* A profile of two samples on one stack, one on another; a function name
 * with every character TabSeparated and quoting care about. */
static const char *const hostile = "we'ird\\fn\twith\nall";

static int profile(uint8_t **out, size_t *len, int64_t v0)
{
	static const struct pprof_value_type types[] = { { "samples", "count" }, { "cpu", "nanoseconds" } };
	struct pprof_builder *b = pprof_builder__new(&(struct pprof_opts){
		.sample_types = types, .nr_sample_types = 2, .period_type = types[1], .period = 1 });
	struct pprof_line inl[2] = { { .function = "inlined_leaf", .filename = "a.c", .line = 7 },
				     { .function = "caller", .filename = "a.c", .line = 12 } };
	struct pprof_line odd = { .function = hostile, .filename = "b'\\.c", .line = 3 };
	uint64_t m = pprof_builder__mapping(b, &(struct pprof_mapping){ .file = "/bin/x",
								       .build_id = "abcd" });
	uint64_t l1 = pprof_builder__location(b, m, 0x1000, inl, 2);
	uint64_t l2 = pprof_builder__location(b, m, 0x2000, &odd, 1);
	uint64_t l3 = pprof_builder__location(b, m, 0x3000, NULL, 0);
	uint64_t s1[2] = { l1, l2 }, s2[2] = { l3, l2 };
	int64_t v1[2] = { v0, v0 * 10 }, v2[2] = { 1, 10 };
	struct pprof_label lab[4] = { { .key = "pid", .num = 42 }, { .key = "comm", .str = "x\ty" },
				      { .key = "bytes", .num = 64 }, { .key = "state", .str = "S" } };
	int e;

	e = pprof_builder__sample(b, s1, 2, v1, lab, 4);
	if (!e)
		e = pprof_builder__sample(b, s2, 2, v2, lab, 2);
	if (!e)
		e = pprof_builder__write(b, false, out, len);
	pprof_builder__free(b);
	return e;
}

static size_t lines(const char *s, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += s[i] == '\n';
	return k;
}

static void test_rows(void)
{
	struct rows_window w = { .host = "host\tA", .view = "cpu", .start_ns = 1764781200000000000LL,
				 .end_ns = 1764781210000000000LL };
	struct hashmap *sent = hashmap__new(sizeof(uint64_t), 1), *pending = hashmap__new(sizeof(uint64_t), 1);
	char *stk = NULL, *smp = NULL, *stk2 = NULL, *smp2 = NULL;
	size_t stk_len = 0, smp_len = 0, stk2_len = 0, smp2_len = 0, len;
	struct rows_stats st = { 0 }, st2 = { 0 };
	const char *head = "1764781200\t10000\thost\\tA\tcpu\tsamples\tcount\t3\t";
	uint8_t *buf;
	FILE *fs, *fm;
	int e;

	CHECK(profile(&buf, &len, 3) == 0, "rows: a profile to turn into rows", "-");
	fs = open_memstream(&stk, &stk_len);
	fm = open_memstream(&smp, &smp_len);
	e = rows__write(buf, len, &w, sent, pending, fs, fm, &st);
	fclose(fs);
	fclose(fm);
	CHECK(!e && st.stacks == 2 && lines(stk, stk_len) == 2, "rows: each stack once", "%d, %llu stacks",
	      e, (unsigned long long)st.stacks);
	CHECK(st.samples == 4 && lines(smp, smp_len) == 4, "rows: a row per sample and type",
	      "%llu", (unsigned long long)st.samples);
	CHECK(hashmap__count(pending) == 2 && !hashmap__count(sent),
	      "rows: the stacks written are pending, not sent", "%zu", hashmap__count(pending));
	CHECK(smp && !strncmp(smp, head, strlen(head)),
	      "rows: time, window, host (escaped), view, type, unit, value", "%.80s", smp);
	CHECK(strstr(smp, "\t42\t0\tx\\ty\t\t\t\t['bytes','state']\t['64','S']\n") != NULL,
	      "rows: pid, tid, comm (escaped), empty columns, the other labels as arrays", "%.300s", smp);
	CHECK(strstr(stk, "['inlined_leaf','caller','we\\'ird\\\\fn\\twith\\nall']") != NULL,
	      "rows: frames innermost first, quoted and escaped", "%.300s", stk);
	CHECK(strstr(stk, "[1,0,0]") && strstr(stk, "['0x3000','we\\'ird"),
	      "rows: the inlined flag; a frame without a name is its address", "%.300s", stk);

	/* the same window again, its stacks now sent: only samples */
	{
		uint64_t *h;
		size_t it = 0;

		while (hashmap__next(pending, &it, (void **)&h, NULL))
			hashmap__insert(sent, h, NULL);
	}
	fs = open_memstream(&stk2, &stk2_len);
	fm = open_memstream(&smp2, &smp2_len);
	e = rows__write(buf, len, &w, sent, NULL, fs, fm, &st2);
	fclose(fs);
	fclose(fm);
	CHECK(!e && st2.stacks == 0 && stk2_len == 0 && st2.samples == 4,
	      "rows: stacks already sent are not written again", "%llu stacks",
	      (unsigned long long)st2.stacks);
	CHECK(smp2_len == smp_len && !memcmp(smp, smp2, smp_len),
	      "rows: the same profile gives the same rows (hashes are stable)", "-");

	/* what cprof-ctl fleet reads back: ClickHouse answers the arrays as
	 * they were sent */
	{
		char *arena = malloc(stk_len + 1);
		struct cursor c = { stk, stk + stk_len, arena };
		struct stack_rec *s;
		uint64_t hash;
		bool ok;
		int found = 0;

		for (int i = 0; i < 2; i++) {
			c.aw = arena;
			s = stack_row(&c, &hash, &ok);
			if (ok && s->nr == 3 && !strcmp(s->fn[2], hostile) && !strcmp(s->file[2], "b'\\.c") &&
			    s->line[0] == 7 && s->inl[0] && !s->inl[1] && !strcmp(s->map[0], "/bin/x") &&
			    !strcmp(s->bid[0], "abcd"))
				found++;
			stack_free(s);
		}
		CHECK(found == 1, "fleet: a stack row read back has its frames as written", "%d", found);
		free(arena);
	}
	{
		static const char *const bad[] = {
			"1\t['a'\t[]\t[]\t[]\t[]\t[]\n",		/* unterminated array */
			"1\t['a]\t[]\t[]\t[]\t[]\t[]\n",		/* unterminated string */
			"1\t['a','b']\t['x']\t[1,2]\t[0,0]\t['m','m']\t['','']\n",	/* lengths differ */
			"x\t[]\t[]\t[]\t[]\t[]\t[]\n",		/* not a hash */
			"1\t[]\t[]\t[]\t[]\t[]\n",			/* a column short */
			"1\t['a']\t['f']\t[99999999999]\t[0]\t['m']\t['b']\n",	/* line out of range */
			"1\t['a']\t['f']\t[1]\t[0]\t['m']\t['b']",	/* no newline */
		};
		int refused = 0;

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			char *copy = strdup(bad[i]), *arena = malloc(strlen(bad[i]) + 1);
			struct cursor c = { copy, copy + strlen(copy), arena };
			uint64_t hash;
			bool ok;

			stack_free(stack_row(&c, &hash, &ok));
			refused += !ok;
			free(copy);
			free(arena);
		}
		CHECK(refused == (int)(sizeof(bad) / sizeof(bad[0])),
		      "fleet: stack rows that do not parse are refused, not guessed", "%d of %zu", refused,
		      sizeof(bad) / sizeof(bad[0]));
	}
	CHECK(rows__write((const uint8_t *)"not a profile", 13, &w, NULL, NULL, stdout, stdout, &st) < 0,
	      "rows: what is not a profile is refused", "-");
	free(stk);
	free(smp);
	free(stk2);
	free(smp2);
	free(buf);
	hashmap__free(sent);
	hashmap__free(pending);
}

int main(void)
{
	test_rows();
	return CHECK_EXIT();
}
