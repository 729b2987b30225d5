// SPDX-License-Identifier: GPL-2.0
/*
 * Container ids from /proc/PID/cgroup.
 *
 * Every runtime puts a container's processes in a cgroup named after the
 * container, so the id is in the path: "docker-<64hex>.scope" under
 * systemd, "/docker/<64hex>" with the cgroupfs driver, and so on for
 * Podman, containerd, CRI-O, systemd-nspawn and LXC. The path is read from
 * its innermost component outwards, so that a container in a container
 * (Docker in Docker, Docker in an nspawn machine) names the inner one, and
 * so that sub-cgroups runtimes create inside a container (".../container",
 * ".../payload/system.slice/...", "init.scope") are looked through.
 *
 * cgroup v1 files have one line per hierarchy, usually all naming the same
 * container; the first line that names one wins. Paths are as the reader's
 * cgroup namespace shows them: the daemon is expected in the host's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "fileio.h"
#include "hexval.h"

/* A v1 file has a dozen lines; paths are at most a few hundred bytes. */
#define CGROUP_MAX_BYTES	(256u << 10)

#define HEX_ID_LEN		64
#define SHORT_ID_LEN		12

/* One component of a cgroup path, not NUL-terminated. */
struct comp {
	const char *p;
	size_t len;
};

/* Prefixes of "<prefix><64hex>[.scope]" components. The runtimes' monitor
 * cgroups (libpod-conmon-<id>, crio-conmon-<id>) do not match: what follows
 * the prefix is not 64 hex digits. */
static const char *const id_prefixes[] = {
	"docker-",		/* Docker, systemd cgroup driver */
	"libpod-",		/* Podman */
	"cri-containerd-",	/* containerd's CRI plugin */
	"crio-",		/* CRI-O */
	"nerdctl-",		/* containerd without CRI */
};

static bool comp_is(const struct comp *c, const char *s)
{
	size_t n = strlen(s);

	return c->len == n && !memcmp(c->p, s, n);
}

static bool has_prefix(const struct comp *c, const char *s)
{
	size_t n = strlen(s);

	return c->len > n && !memcmp(c->p, s, n);
}

static bool has_suffix(const struct comp *c, const char *s)
{
	size_t n = strlen(s);

	return c->len > n && !memcmp(c->p + c->len - n, s, n);
}

static bool is_hex_id(const char *p, size_t len)
{
	size_t i;

	if (len != HEX_ID_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (hexval(p[i]) < 0)
			return false;
	return true;
}

/* The component before the one starting at cur (or ending at cur, for the
 * last one), skipping empty ones; false at the start of the path. */
static bool comp_before(const char *base, const char *cur, struct comp *out)
{
	const char *e = cur, *s;

	while (e > base && e[-1] == '/')
		e--;
	if (e == base)
		return false;
	for (s = e; s > base && s[-1] != '/'; s--)
		;
	out->p = s;
	out->len = (size_t)(e - s);
	return true;
}

static int put(char *buf, size_t len, const char *p, size_t n)
{
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, p, n);
	buf[n] = 0;
	return 1;
}

/* A systemd unit name part, with "\xHH" escapes decoded where they stand
 * for a printable character ("\x2d" is how systemd writes "-"). */
static int put_unescaped(char *buf, size_t len, const char *p, size_t n)
{
	size_t i = 0, o = 0;
	int v = -1;

	while (i < n) {
		if (p[i] == '\\' && n - i >= 4 && p[i + 1] == 'x' &&
		    hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0)
			v = hexval(p[i + 2]) << 4 | hexval(p[i + 3]);
		if (o + 1 >= len)
			return -ENOSPC;
		if (v >= 0x20 && v < 0x7f) {
			buf[o++] = (char)v;
			i += 4;
		} else {
			buf[o++] = p[i++];
		}
		v = -1;
	}
	if (o >= len)
		return -ENOSPC;
	buf[o] = 0;
	return 1;
}

/*
 * Does c, with its neighbours in the path (NULL at either end), name a
 * container? 1 with the id in buf, 0 when not, -ENOSPC.
 */
static int match_comp(const struct comp *c, const struct comp *prev, const struct comp *next,
		      char *buf, size_t len)
{
	struct comp rest;
	size_t i, n;

	/* /docker/<id>, kubepods/.../pod<uid>/<id>, containerd's /<ns>/<id> */
	if (is_hex_id(c->p, c->len))
		return put(buf, len, c->p, SHORT_ID_LEN);

	for (i = 0; i < sizeof(id_prefixes) / sizeof(id_prefixes[0]); i++) {
		if (!has_prefix(c, id_prefixes[i]))
			continue;
		n = strlen(id_prefixes[i]);
		rest.p = c->p + n;
		rest.len = c->len - n;
		if (has_suffix(&rest, ".scope"))
			rest.len -= strlen(".scope");
		if (is_hex_id(rest.p, rest.len))
			return put(buf, len, rest.p, SHORT_ID_LEN);
	}

	/* systemd-nspawn: machine-<escaped name>.scope, where the nspawn
	 * process itself sits in a "supervisor" child. */
	if (has_prefix(c, "machine-") && has_suffix(c, ".scope") &&
	    c->len > strlen("machine-") + strlen(".scope")) {
		if (next && comp_is(next, "supervisor"))
			return 0;
		return put_unescaped(buf, len, c->p + strlen("machine-"),
				     c->len - strlen("machine-") - strlen(".scope"));
	}

	/* LXC 4+: /lxc.payload.<name>; older: /lxc.payload/<name>, /lxc/<name>.
	 * lxc.monitor.<name> holds the monitor, outside the container. */
	if (has_prefix(c, "lxc.payload."))
		return put(buf, len, c->p + strlen("lxc.payload."),
			   c->len - strlen("lxc.payload."));
	if (prev && (comp_is(prev, "lxc") || comp_is(prev, "lxc.payload")))
		return put(buf, len, c->p, c->len);
	return 0;
}

/* The id in one cgroup path [base, end): 1, 0 or -ENOSPC. */
static int match_path(const char *base, const char *end, char *buf, size_t len)
{
	struct comp cur, prev, next;
	bool has_prev, has_next = false;
	int ret;

	if (!comp_before(base, end, &cur))
		return 0;
	for (;;) {
		has_prev = comp_before(base, cur.p, &prev);
		ret = match_comp(&cur, has_prev ? &prev : NULL, has_next ? &next : NULL, buf, len);
		if (ret || !has_prev)
			return ret;
		next = cur;
		has_next = true;
		cur = prev;
	}
}

int container__id_from_cgroup(const char *text, char *buf, size_t len)
{
	const char *p, *end, *eol, *path;
	int ret = 0;

	if (!text || !buf) {
		ret = -EINVAL;
		goto cleanup;
	}
	if (!len) {
		ret = -ENOSPC;
		goto cleanup;
	}
	buf[0] = 0;
	end = text + strlen(text);
	for (p = text; p < end && !ret; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		/* "hierarchy-ID:controllers:path"; the path may hold colons. */
		path = memchr(p, ':', (size_t)(eol - p));
		if (path)
			path = memchr(path + 1, ':', (size_t)(eol - path - 1));
		if (path)
			ret = match_path(path + 1, eol, buf, len);
	}
	if (ret < 0)
		buf[0] = 0;
cleanup:
	return ret < 0 ? ret : 0;
}

int container__id(uint32_t pid, char *buf, size_t len)
{
	char path[64], *text = NULL;
	size_t tlen;
	int err;

	if (!pid || !buf)
		return -EINVAL;
	if (len)
		buf[0] = 0;
	snprintf(path, sizeof(path), "/proc/%u/cgroup", pid);
	err = read_file(path, CGROUP_MAX_BYTES, &text, &tlen);
	if (err)
		goto cleanup;
	err = container__id_from_cgroup(text, buf, len);
cleanup:
	free(text);
	return err;
}
