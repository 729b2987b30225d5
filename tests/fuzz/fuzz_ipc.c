// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for what cprofd reads from others over its own wires:
 * the parser processes' replies (parserd.c: frames, unwind tables and
 * objects' identities), which
 * a parser subverted by a file could fill with anything, the daemon's
 * requests as a parser reads them, and HTTP query parameters (params.c),
 * which any local user sends. The first byte picks the reader. Frames read
 * are bounded and their strings terminated; tables come sorted; an error
 * reason for a client is one line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarfsrc.h"
#include "params.h"
#include "parserd.h"
#include "symcache.h"
#include "unwind_table.h"
#include "fuzz.h"

static int frames_read(void *arg, uint32_t i, const struct srcline *f, uint32_t nr)
{
	size_t *total = arg;

	FUZZ_CHECK(nr <= DWARFSRC_FRAMES_MAX);
	for (uint32_t j = 0; j < nr; j++) {
		*total += f[j].function ? strlen(f[j].function) : 0;
		*total += f[j].file ? strlen(f[j].file) : 0;
		*total += f[j].system_name ? strlen(f[j].system_name) : 0;
		FUZZ_CHECK(f[j].line >= 0);
	}
	return 0;
}

static void read_params(const uint8_t *data, size_t size)
{
	struct param params[32];
	struct profile_request req;
	char *text = malloc(size + 1), *save = NULL, *tok, err[256];
	size_t nr = 0;
	uint64_t bytes;

	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	params__parse_size(text, &bytes);
	for (tok = strtok_r(text, "&", &save); tok && nr < 32; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = '\0';
		params[nr++] = (struct param){ tok, eq };
	}
	err[0] = '\0';
	if (!params__parse(params, nr, &req, err, sizeof(err))) {
		FUZZ_CHECK(req.seconds >= 0 && req.seconds <= PARAMS_MAX_SECONDS);
		FUZZ_CHECK(req.hz >= 0 && req.hz <= PARAMS_MAX_HZ);
		FUZZ_CHECK(req.nr_pids >= 0 && req.nr_pids <= PARAMS_MAX_PIDS);
	} else {
		char *nl = strchr(err, '\n');

		FUZZ_CHECK(err[0] && (!nl || !nl[1]));
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct symcache *cache;
	struct parserd_identity id;
	struct unwind_table t;
	struct wbuf out = { 0 };
	const char *build_id;
	uint32_t flags;
	size_t total = 0;

	if (size < 2)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (!parserd__read_frames(data + 2, size - 2, data[1], &build_id, &flags,
					  frames_read, &total))
			FUZZ_CHECK(!build_id || strlen(build_id) <= PARSERD_BUILD_ID_MAX);
		break;
	case 1:
		if (!parserd__read_table(data + 1, size - 1, &t)) {
			for (size_t i = 1; i < t.nr; i++)
				FUZZ_CHECK(t.rows[i - 1].pc <= t.rows[i].pc);
			unwind_table__clear(&t);
		}
		break;
	case 2:
		read_params(data + 1, size - 1);
		break;
	case 4:
		if (!parserd__read_identity(data + 1, size - 1, &id)) {
			FUZZ_CHECK(id.nr_loads >= 0 && id.nr_loads <= PARSERD_MAX_LOADS);
			FUZZ_CHECK(strlen(id.build_id) < sizeof(id.build_id));
		}
		break;
	default:
		/* a request, without a file: answered from the cache, or not */
		if (!cache)
			cache = symcache__new(NULL);
		if (cache)
			parserd__symbolize(cache, data + 1, size - 1, -1, &out);
		wbuf_free(&out);
		break;
	}
	return 0;
}
