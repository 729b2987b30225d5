// SPDX-License-Identifier: GPL-2.0
/*
 * Symbol demangling for C++ (Itanium ABI) and Rust, done by libiberty, the
 * demangler binutils and gcc use, so that our names read exactly like those
 * of addr2line -C, c++filt -i and perf.
 *
 * Only libiberty's callback entry points are used: they allocate nothing
 * through xmalloc (which exits the process when memory runs out); the text
 * arrives in pieces that we collect in a buffer of our own. A static link
 * of libiberty.a then pulls in cp-demangle.o, rust-demangle.o and
 * safe-ctype.o, all position-independent, so a PIE links fine.
 *
 * Rust is tried first: a legacy Rust name is also a valid C++ name
 * (_ZN...17h<hash>E), and the C++ demangler would keep the hash as a last
 * path component.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "hostile.h"
#include "demangle.h"

/* No DMGL_VERBOSE: std::string stays std::string and Rust loses its hash. */
#define DEMANGLE_OPTS	(DMGL_PARAMS | DMGL_ANSI)

struct dm_buf {
	char *s;
	size_t len, cap;
	bool oom;
	jmp_buf out;		/* past DEMANGLE_MAX_OUT: back to demangle() */
};

/* libiberty's callback demanglers keep all their state on the stack and
 * hold no lock, so leaving them by longjmp loses nothing: a name whose
 * demangling runs away (a crafted Rust backreference loop, or templates
 * nested to expand exponentially) is given up as soon as its text passes
 * the limit, whatever the demangler would have gone on doing. */
static void dm_append(const char *piece, size_t n, void *opaque)
{
	struct dm_buf *b = opaque;
	size_t need;
	char *tmp;

	if (b->oom || !n)
		return;
	need = b->len + n + 1;
	if (need > DEMANGLE_MAX_OUT + 1)
		longjmp(b->out, 1);
	if (need > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;

		while (ncap < need)
			ncap *= 2;
		tmp = realloc(b->s, ncap);
		if (!tmp) {
			b->oom = true;
			return;
		}
		b->s = tmp;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, piece, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static bool looks_mangled(const char *name)
{
	if (name[0] != '_')
		return false;
	return name[1] == 'Z' || name[1] == 'R' || !strncmp(name, "_GLOBAL_", 8);
}

char *demangle(const char *name)
{
	/* on the heap: what the callbacks changed before a longjmp is then
	 * still defined after it (a local's value would not be) */
	struct dm_buf *b = NULL;
	char *out = NULL;
	int err = 0, ok;

	if (!name || !looks_mangled(name) || strnlen(name, DEMANGLE_MAX_LEN + 1) > DEMANGLE_MAX_LEN) {
		err = -EINVAL;
		goto cleanup;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto cleanup;
	}
	if (setjmp(b->out)) {
		hostile__count(HOSTILE_DEMANGLE);
		err = -E2BIG;
		goto cleanup;
	}
	ok = rust_demangle_callback(name, DEMANGLE_OPTS, dm_append, b);
	if (!ok && !b->oom && name[1] != 'R') {
		b->len = 0;
		ok = cplus_demangle_v3_callback(name, DEMANGLE_OPTS, dm_append, b);
	}
	if (b->oom)
		err = -ENOMEM;
	else if (!ok || !b->len)
		err = -EINVAL;
	else
		out = b->s;

cleanup:
	if (b && !out)
		free(b->s);
	free(b);
	if (err)
		errno = -err;
	return out;
}
