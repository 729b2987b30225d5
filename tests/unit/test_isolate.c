// SPDX-License-Identifier: GPL-2.0
/*
 * The parser processes: the message framing and its bounds (ipc.c), the
 * handlers run in this process (parserd.c), and real parser processes
 * (build/cprofd --parser) asked through isolate.c: answers equal to what
 * this process computes itself, then failures made on purpose: a parser
 * killed by a signal in the middle of its work, one stopped past its
 * deadline, and a fake one that answers garbage. Each must cost only the
 * object asked about, which is then remembered as bad, and the next
 * request must find a fresh process. As root, also checks what the parser
 * may do: its user, capabilities and data limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "isolate.h"
#include "parserd.h"
#include "procmaps.h"
#include "symbatch.h"
#include "symcache.h"
#include "unwind_table.h"

#define CPROFD	"build/cprofd"

__attribute__((noinline)) int isolate_marker_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

static struct procmaps self_maps;

static const struct procmap *self_map(uint64_t addr)
{
	return procmaps__find(&self_maps, addr);
}

static void check_rbuf(void)
{
	struct wbuf w = { 0 };
	struct rbuf r;
	char raw[16];

	wbuf_u32(&w, 7);
	wbuf_str(&w, "abc");
	wbuf_str(&w, NULL);
	wbuf_u64(&w, 1ull << 40);
	r = (struct rbuf){ w.p, w.len, 0, false };
	CHECK(rbuf_u32(&r) == 7 && !strcmp(rbuf_str(&r, 16) ?: "", "abc") && !rbuf_str(&r, 16) &&
	      rbuf_u64(&r) == 1ull << 40 && !r.bad && r.off == r.len,
	      "ipc: what is written reads back", "bad %d off %zu len %zu", r.bad, r.off, r.len);
	r = (struct rbuf){ w.p, w.len, 0, false };
	rbuf_u32(&r);
	CHECK(!rbuf_str(&r, 2) && r.bad && !rbuf_u64(&r),
	      "ipc: a string longer than allowed is refused, and so is all after it", "bad %d", r.bad);
	/* length 4 but the bytes hold a NUL inside, or none at the end */
	memcpy(raw, "\x04\0\0\0ab\0d\0", 9);
	r = (struct rbuf){ (const uint8_t *)raw, 9, 0, false };
	CHECK(!rbuf_str(&r, 64) && r.bad, "ipc: a string with a NUL inside is refused", "bad %d", r.bad);
	memcpy(raw, "\x04\0\0\0abcdX", 9);
	r = (struct rbuf){ (const uint8_t *)raw, 9, 0, false };
	CHECK(!rbuf_str(&r, 64) && r.bad, "ipc: a string without its NUL is refused", "bad %d", r.bad);
	memcpy(raw, "\xff\xff\xff\x0f", 4);
	r = (struct rbuf){ (const uint8_t *)raw, 4, 0, false };
	CHECK(!rbuf_str(&r, SIZE_MAX) && r.bad, "ipc: a string past the end is refused", "bad %d", r.bad);
	wbuf_free(&w);
}

/* An IPC_SYMBOLIZE request for file offsets of the object at m. */
static void symbolize_req(struct wbuf *w, const struct procmap *m, const uint64_t *offs, uint32_t n)
{
	wbuf_u64(w, m->dev);
	wbuf_u64(w, m->inode);
	wbuf_u64(w, m->stamp);
	wbuf_u32(w, 0);
	wbuf_str(w, m->path);
	wbuf_str(w, "/proc/self/root");
	wbuf_u32(w, n);
	for (uint32_t i = 0; i < n; i++)
		wbuf_u64(w, offs[i]);
}

/* The first function name in a symbolize reply of one offset. */
static const char *first_function(const void *p, size_t len, char *buf, size_t buflen)
{
	struct rbuf r = { p, len, 0, false };
	const char *name;

	rbuf_str(&r, 256);
	rbuf_u32(&r);
	if (rbuf_u32(&r) != 1 || rbuf_u32(&r) < 1)
		return NULL;
	name = rbuf_str(&r, 4096);
	if (!name)
		return NULL;
	snprintf(buf, buflen, "%s", name);
	return buf;
}

static void check_handlers(const struct procmap *m, uint64_t off)
{
	struct symcache *c = symcache__new(NULL);
	struct wbuf req = { 0 }, out = { 0 };
	char name[128];
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), err;

	symbolize_req(&req, m, &off, 1);
	err = parserd__symbolize(c, req.p, req.len, fd, &out);
	CHECK(!err && first_function(out.p, out.len, name, sizeof(name)) &&
	      !strcmp(name, "isolate_marker_function"),
	      "parserd: a function of this program is named", "err %d name %s", err,
	      out.len ? first_function(out.p, out.len, name, sizeof(name)) : "-");
	wbuf_free(&out);
	/* cached now: answered without the file */
	err = parserd__symbolize(c, req.p, req.len, -1, &out);
	CHECK(!err && first_function(out.p, out.len, name, sizeof(name)),
	      "parserd: a cached object needs no file", "err %d", err);
	wbuf_free(&out);
	for (size_t cut = 0; cut < req.len; cut += 7) {
		err = parserd__symbolize(c, req.p, cut, fd, &out);
		wbuf_free(&out);
		if (err != -EPROTO)
			break;
	}
	CHECK(err == -EPROTO, "parserd: every truncated request is refused", "err %d", err);
	wbuf_u32(&req, 0);
	err = parserd__symbolize(c, req.p, req.len, fd, &out);
	CHECK(err == -EPROTO, "parserd: a request with bytes after its end is refused", "err %d", err);
	wbuf_free(&out);
	wbuf_free(&req);
	close(fd);
	symcache__free(c);
}

static struct isolate *start(const char *role, const char *exe, uint64_t deadline_ms)
{
	return isolate__new(&(struct isolate_opts){
		.role = role, .exe = exe, .max_data = 256ull << 20,
		.deadline_ns = deadline_ms * 1000000ull });
}

static int call_symbolize(struct isolate *p, const struct procmap *m, uint64_t off,
			  const struct file_id *id, char *name, size_t len)
{
	struct wbuf req = { 0 };
	struct ipc_hdr rh;
	void *payload = NULL;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), err;

	symbolize_req(&req, m, &off, 1);
	err = isolate__call(p, IPC_SYMBOLIZE, id, "test object", &req, fd, &rh, &payload, 1 << 20);
	if (!err)
		err = rh.status;
	if (!err && !first_function(payload, rh.len, name, len))
		err = -EBADMSG;
	free(payload);
	wbuf_free(&req);
	close(fd);
	return err;
}

static bool uses_id(pid_t pid, const char *field, const char *want)
{
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, strlen(field)) && strstr(line, want))
			found = true;
	if (f)
		fclose(f);
	return found;
}

static void check_limits(pid_t pid)
{
	char path[64], line[256];
	unsigned long long soft = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max data size", 13))
			sscanf(line + 13, "%llu", &soft);
	if (f)
		fclose(f);
	CHECK(soft == 256ull << 20, "isolate: the parser's data is limited (RLIMIT_DATA)",
	      "limit %llu", soft);
	if (geteuid() != 0) {
		SKIP("isolate: the parser runs as nobody with two capabilities", "not root");
		return;
	}
	CHECK(uses_id(pid, "Uid:", "65534\t65534\t65534\t65534") &&
	      uses_id(pid, "Gid:", "65534\t65534\t65534\t65534") &&
	      uses_id(pid, "CapEff:", "0000000000080004") &&
	      uses_id(pid, "CapBnd:", "0000000000080004") && uses_id(pid, "NoNewPrivs:", "1"),
	      "isolate: the parser runs as nobody with two capabilities, and cannot gain more",
	      "see /proc/%d/status", (int)pid);
}

static void check_symbols(const struct procmap *m, uint64_t off)
{
	struct isolate *p = start("symbols", CPROFD, 10000);
	struct file_id id = { m->dev, m->inode, m->stamp }, other = { 1, 2, 3 }, third = { 1, 2, 4 };
	struct isolate_stats st;
	char name[128] = "";
	pid_t killer;
	int err;

	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	CHECK(!err && !strcmp(name, "isolate_marker_function"),
	      "isolate: the parser process names a function of this program", "err %d name %s",
	      err, name);
	isolate__stats(p, &st);
	CHECK(st.starts == 1 && st.requests == 1 && st.pid > 0 && st.rss_kb > 0,
	      "isolate: one process started, one request answered, its memory told",
	      "starts %llu requests %llu pid %d rss %llu", (unsigned long long)st.starts,
	      (unsigned long long)st.requests, st.pid, (unsigned long long)st.rss_kb);
	if (st.pid > 0)
		check_limits(st.pid);

	/* a crash in the middle of a request: stopped, asked, killed */
	kill(st.pid, SIGSTOP);
	killer = fork();
	if (killer == 0) {
		usleep(300000);
		kill(st.pid, SIGSEGV);
		kill(st.pid, SIGCONT);
		_exit(0);
	}
	err = call_symbolize(p, m, off, &other, name, sizeof(name));
	if (killer > 0)
		waitpid(killer, NULL, 0);
	isolate__stats(p, &st);
	CHECK(err == -ECHILD && st.crashes == 1 && st.pid == 0 && st.bad_objects == 1 &&
	      isolate__bad(p, &other) && !isolate__bad(p, &id),
	      "isolate: a parser that dies on a request costs that object only, remembered as bad",
	      "err %d crashes %llu pid %d bad %llu", err, (unsigned long long)st.crashes, st.pid,
	      (unsigned long long)st.bad_objects);
	err = call_symbolize(p, m, off, &other, name, sizeof(name));
	isolate__stats(p, &st);
	CHECK(err == -ENOTRECOVERABLE && st.refused == 1 && st.starts == 1,
	      "isolate: a bad object is not handed to a parser again", "err %d refused %llu",
	      err, (unsigned long long)st.refused);
	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	isolate__stats(p, &st);
	CHECK(!err && !strcmp(name, "isolate_marker_function") && st.starts == 2,
	      "isolate: the next request starts a fresh parser", "err %d starts %llu", err,
	      (unsigned long long)st.starts);
	isolate__free(p);

	/* a parser that hangs: killed at its deadline */
	p = start("symbols", CPROFD, 500);
	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	isolate__stats(p, &st);
	if (!err && st.pid > 0) {
		pid_t old = st.pid;

		kill(old, SIGSTOP);
		err = call_symbolize(p, m, off, &third, name, sizeof(name));
		isolate__stats(p, &st);
		CHECK(err == -ETIMEDOUT && st.timeouts == 1 && isolate__bad(p, &third) &&
		      kill(old, 0) && errno == ESRCH,
		      "isolate: a parser past its deadline is killed, and the object skipped",
		      "err %d timeouts %llu", err, (unsigned long long)st.timeouts);
		err = call_symbolize(p, m, off, &id, name, sizeof(name));
		CHECK(!err, "isolate: after a timeout, a fresh parser answers", "err %d", err);
	} else {
		CHECK(0, "isolate: a parser past its deadline is killed, and the object skipped",
		      "first request failed: %d", err);
	}
	isolate__free(p);
}

static void check_garbage(const struct procmap *m, uint64_t off)
{
	char script[] = "/tmp/cprof-fake-parser-XXXXXX";
	struct file_id id = { 9, 9, 9 };
	struct isolate_stats st;
	struct isolate *p;
	char name[64];
	int fd = mkstemp(script), err;

	_Static_assert(sizeof(struct ipc_hdr) == 56, "the fake parser writes 56 bytes");
	/* answers with a header (struct ipc_hdr) that claims 1 TiB */
	dprintf(fd, "#!/bin/sh\n"
		    "printf '\\001\\000\\000\\000\\000\\000\\000\\000' >&3\n"
		    "printf '\\000\\000\\000\\000\\000\\001\\000\\000' >&3\n"
		    "head -c 40 /dev/zero >&3\n"
		    "sleep 10\n");
	fchmod(fd, 0755);
	close(fd);
	p = start("symbols", script, 5000);
	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	isolate__stats(p, &st);
	CHECK(err == -EPROTO && st.protocol_errors == 1 && st.pid == 0 && isolate__bad(p, &id),
	      "isolate: a parser that answers garbage is killed, and the object skipped",
	      "err %d protocol errors %llu pid %d", err, (unsigned long long)st.protocol_errors,
	      st.pid);
	isolate__free(p);

	/* well framed, but the frames do not parse: rejected all the same */
	fd = open(script, O_WRONLY | O_TRUNC);
	dprintf(fd, "#!/bin/sh\n"
		    "printf '\\001\\000\\000\\000\\000\\000\\000\\000' >&3\n"
		    "printf '\\004\\000\\000\\000\\000\\000\\000\\000' >&3\n"
		    "head -c 40 /dev/zero >&3\n"
		    "printf 'junk' >&3\n"
		    "sleep 10\n");
	close(fd);
	p = start("symbols", script, 5000);
	{
		struct symbatch *b = symbatch__new(&(struct symsrc){ .parser = p });
		struct symobj *o = symbatch__object(b, (uint32_t)getpid(), m);
		struct file_id oid = { m->dev, m->inode, m->stamp };
		const struct srcline *f;
		int n = symbatch__frames(b, o, off, &f);

		isolate__stats(p, &st);
		CHECK(n == 0 && st.protocol_errors == 1 && st.pid == 0 && isolate__bad(p, &oid),
		      "isolate: an answer that does not parse kills the parser, and the object is skipped",
		      "n %d protocol errors %llu pid %d", n, (unsigned long long)st.protocol_errors,
		      st.pid);
		symbatch__free(b);
	}
	isolate__free(p);

	/* one that cannot set itself up: no file is blamed, and it is not
	 * started again at once */
	fd = open(script, O_WRONLY | O_TRUNC);
	dprintf(fd, "#!/bin/sh\nexit 1\n");
	close(fd);
	p = start("symbols", script, 5000);
	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	isolate__stats(p, &st);
	CHECK(err == -ECHILD && st.bad_objects == 0 && !isolate__bad(p, &id),
	      "isolate: a parser that cannot start blames no file", "err %d bad %llu", err,
	      (unsigned long long)st.bad_objects);
	err = call_symbolize(p, m, off, &id, name, sizeof(name));
	isolate__stats(p, &st);
	CHECK(err == -ECHILD && st.starts == 1,
	      "isolate: ... and is not started again at once", "err %d starts %llu", err,
	      (unsigned long long)st.starts);
	isolate__free(p);
	unlink(script);
}

static void check_table(void)
{
	struct isolate *p = start("tables", CPROFD, 10000);
	struct unwind_table local = { 0 };
	struct ipc_hdr rh = { 0 };
	void *payload = NULL;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), err, lerr;
	bool same = false;

	err = isolate__call(p, IPC_TABLE, NULL, "this program", NULL, fd, &rh, &payload, 256 << 20);
	lerr = unwind_table__build("/proc/self/exe", &local);
	if (!err && !rh.status && !lerr) {
		struct rbuf r = { payload, rh.len, 0, false };
		uint64_t nr = rbuf_u64(&r);
		const void *rows;

		for (int i = 0; i < 4; i++)
			rbuf_u64(&r);
		rbuf_u32(&r);
		rows = rbuf_take(&r, nr * sizeof(struct unwind_row));
		same = nr == local.nr && nr > 0 && rows &&
		       !memcmp(rows, local.rows, nr * sizeof(struct unwind_row));
	}
	CHECK(same, "isolate: the tables parser builds the rows this process builds",
	      "err %d status %d local %d (%zu rows)", err, rh.status, lerr, local.nr);
	unwind_table__clear(&local);
	free(payload);

	/* the build id and segments the unwinder maps addresses with */
	{
		struct parserd_identity remote = { 0 }, here = { 0 };
		struct wbuf out = { 0 };
		int rerr;

		err = isolate__call(p, IPC_IDENTIFY, NULL, "this program", NULL, fd, &rh, &payload,
				    4096);
		rerr = err ? err : rh.status ? rh.status :
		       parserd__read_identity(payload, rh.len, &remote);
		lerr = parserd__identify(fd, &out) ?: parserd__read_identity(out.p, out.len, &here);
		CHECK(!rerr && !lerr && remote.build_id[0] && remote.nr_loads >= 2 &&
		      !strcmp(remote.build_id, here.build_id) && remote.nr_loads == here.nr_loads &&
		      !memcmp(remote.loads, here.loads, sizeof(here.loads)),
		      "isolate: the tables parser reads an object's build id and segments",
		      "remote %d local %d build id %s loads %d", rerr, lerr, remote.build_id,
		      remote.nr_loads);
		free(payload);
		wbuf_free(&out);
	}
	close(fd);
	isolate__free(p);
}

static void check_symbatch(const struct procmap *m, uint64_t off, struct symsrc src,
			   const char *how)
{
	struct symbatch *b = symbatch__new(&src);
	struct symobj *o = symbatch__object(b, (uint32_t)getpid(), m);
	const struct srcline *f = NULL;
	char name[128];
	int n;

	symbatch__want(b, o, off);
	symbatch__resolve(b);
	n = symbatch__frames(b, o, off, &f);
	snprintf(name, sizeof(name), "symbatch (%s): frames, build id and flags of an object", how);
	CHECK(n >= 1 && f && f[n - 1].function && !strcmp(f[n - 1].function, "isolate_marker_function") &&
	      symobj__ok(b, o) && symobj__has_functions(b, o) && symobj__build_id(b, o),
	      name, "n %d function %s", n, n >= 1 && f ? f[n - 1].function : "-");
	/* an offset not asked for before is asked at once */
	n = symbatch__frames(b, o, off + 1, &f);
	snprintf(name, sizeof(name), "symbatch (%s): an offset not wanted before is asked for", how);
	CHECK(n >= 1 && !strcmp(f[n - 1].function, "isolate_marker_function"), name, "n %d", n);
	symbatch__free(b);
}

int main(void)
{
	const struct procmap *m;
	struct symcache *c;
	uint64_t off;

	check_rbuf();
	if (procmaps__read(getpid(), &self_maps) ||
	    !(m = self_map((uint64_t)(uintptr_t)isolate_marker_function))) {
		CHECK(0, "isolate: find this program's mapping", "errno %d", errno);
		return CHECK_EXIT();
	}
	off = (uint64_t)(uintptr_t)isolate_marker_function - m->start + m->offset;
	check_handlers(m, off);
	if (access(CPROFD, X_OK)) {
		SKIP("isolate: parser processes", "%s is not built", CPROFD);
		return CHECK_EXIT();
	}
	check_symbols(m, off);
	check_garbage(m, off);
	check_table();
	c = symcache__new(NULL);
	check_symbatch(m, off, (struct symsrc){ .local = c }, "in this process");
	symcache__free(c);
	{
		struct isolate *p = start("symbols", CPROFD, 10000);

		check_symbatch(m, off, (struct symsrc){ .parser = p }, "parser process");
		isolate__free(p);
	}
	procmaps__clear(&self_maps);
	return CHECK_EXIT() + (isolate_marker_function(1) != 4);
}
