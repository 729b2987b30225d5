// SPDX-License-Identifier: GPL-2.0
/*
 * debuginfo: finding separate debug files. A small program is compiled with
 * -g in a temp dir and split with binutils into a stripped object and a
 * .debug file, which are then laid out the ways debug files are found: by
 * build id, by .gnu_debuglink (next to the object, in .debug/, under the
 * debug dir), under a container's root, and from a real debuginfod server
 * on loopback. Expected paths and build ids come from the test's own layout
 * and from readelf/nm, not from the code under test. Also: a debuglink file
 * with the wrong CRC, MiniDebugInfo built with the usual recipe, Debian's
 * libc with libc6-dbg, and the bounded fetch queue.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "check.h"
#include "debuginfo.h"

#define LIBC_PATH	"/lib/x86_64-linux-gnu/libc.so.6"
#define QUEUE_MAX	256	/* what debuginfo.c promises */

static char tmp[] = "/tmp/cprof-dbgi-XXXXXX";
static pid_t server_pid;

static const char prog_src[] =
	"#include <stdio.h>\n"
	"#define NOINLINE __attribute__((noinline))\n"
	"static volatile int sink;\n"
	"NOINLINE int cprof_dbg_alpha(int n)\n"
	"{ int a = 0; for (int i = 0; i < n; i++) a += i ^ sink; return a; }\n"
	"NOINLINE static int cprof_dbg_beta(int n) { return cprof_dbg_alpha(n) * 3 + sink; }\n"
	"NOINLINE int cprof_dbg_gamma(int n) { return cprof_dbg_beta(n + 1) - sink; }\n"
	"int main(int argc, char **argv)\n"
	"{ (void)argv; printf(\"%d\\n\", cprof_dbg_gamma(argc + TAG)); return 0; }\n";

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int __attribute__((format(printf, 1, 2))) shf(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return sh(cmd);
}

/* tmp/rel, in one of a few rotating buffers. */
static const char *__attribute__((format(printf, 1, 2))) T(const char *fmt, ...)
{
	static char bufs[8][1024];
	static int next;
	char *b = bufs[next++ % 8];
	char rel[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(b, 1024, "%s/%s", tmp, rel);
	return b;
}

/* First line printed by a shell command, or "". */
static void cmd_line(char *out, size_t size, const char *cmd)
{
	FILE *f = popen(cmd, "r");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(out, (int)size, f))
		out[strcspn(out, "\n")] = '\0';
	pclose(f);
}

/* Build id as readelf reports it: the independent reading. */
static void readelf_build_id(const char *file, char *out, size_t size)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null | awk '/Build ID/ {print $3; exit}'", file);
	cmd_line(out, size, cmd);
}

struct obj {
	int fd;
	Elf *elf;
};

static int obj_open(struct obj *o, const char *file)
{
	o->elf = NULL;
	o->fd = open(file, O_RDONLY | O_CLOEXEC);
	if (o->fd < 0)
		return -errno;
	o->elf = elf_begin(o->fd, ELF_C_READ, NULL);
	if (!o->elf) {
		close(o->fd);
		o->fd = -1;
		return -ENOEXEC;
	}
	return 0;
}

static void obj_close(struct obj *o)
{
	if (o->elf)
		elf_end(o->elf);
	if (o->fd >= 0)
		close(o->fd);
}

/* One find with a fresh instance (debuginfod off). NULL and *err = errno. */
static char *find_once(const char *debug_dir, const char *file, const char *path,
		       const char *root, int *err)
{
	struct debuginfo_opts opts = { .debug_dir = debug_dir };
	struct debuginfo *d;
	struct obj o;
	char *res = NULL;

	*err = 0;
	d = debuginfo__new(&opts);
	if (!d) {
		*err = errno;
		return NULL;
	}
	if (obj_open(&o, file) != 0) {
		*err = EBADF;
		debuginfo__free(d);
		return NULL;
	}
	res = debuginfo__find(d, o.elf, path, root);
	if (!res)
		*err = errno;
	obj_close(&o);
	debuginfo__free(d);
	return res;
}

/* Expect find to return exactly `want` (or NULL/ENOENT when want is NULL). */
static void expect_find(const char *name, const char *debug_dir, const char *file,
			const char *path, const char *root, const char *want)
{
	char *got;
	int err;

	got = find_once(debug_dir, file, path, root, &err);
	if (want)
		CHECK(got && !strcmp(got, want), name, "got %s (%s), want %s",
		      got ? got : "NULL", got ? "" : strerror(err), want);
	else
		CHECK(!got && err == ENOENT, name, "got %s, errno %d (%s), want NULL/ENOENT",
		      got ? got : "NULL", err, strerror(err));
	free(got);
}

static int setup(char *hex, size_t size)
{
	FILE *f;

	if (!mkdtemp(tmp)) {
		perror("mkdtemp");
		return -1;
	}
	f = fopen(T("prog.c"), "w");
	if (!f)
		return -1;
	fputs(prog_src, f);
	fclose(f);
	if (shf("cd %s && gcc -g -O1 -DTAG=1 -Wl,--build-id=sha1 -o prog prog.c && "
		"gcc -g -O1 -DTAG=2 -Wl,--build-id=sha1 -o other prog.c && "
		"objcopy --only-keep-debug prog prog.debug && "
		"objcopy --only-keep-debug other other.debug && "
		"strip --strip-all -o stripped prog && "
		"strip --strip-all -o other.stripped other && "
		"strip --strip-debug -o linked prog && "
		"objcopy --add-gnu-debuglink=prog.debug linked && "
		"mkdir -p empty", tmp))
		return -1;
	readelf_build_id(T("prog"), hex, size);
	if (strlen(hex) < 8) {
		printf("# no build id in %s\n", T("prog"));
		return -1;
	}
	return 0;
}

static void test_build_id(const char *hex)
{
	char want[1200];

	shf("mkdir -p %s/dbg_a/.build-id/%.2s && cp %s/prog.debug %s/dbg_a/.build-id/%.2s/%s.debug",
	    tmp, hex, tmp, tmp, hex, hex + 2);
	snprintf(want, sizeof(want), "%s/dbg_a/.build-id/%.2s/%s.debug", tmp, hex, hex + 2);
	expect_find("build-id: found under debug_dir/.build-id", T("dbg_a"), T("stripped"),
		    T("stripped"), "", want);
	expect_find("build-id: nothing under an empty debug_dir", T("empty"), T("stripped"),
		    T("stripped"), "", NULL);

	/* A file at the right name with another build id, and one with no
	 * debug data at all, are not debug files for this object. */
	shf("mkdir -p %s/dbg_x/.build-id/%.2s && cp %s/other.debug %s/dbg_x/.build-id/%.2s/%s.debug",
	    tmp, hex, tmp, tmp, hex, hex + 2);
	expect_find("build-id: wrong build id rejected", T("dbg_x"), T("stripped"),
		    T("stripped"), "", NULL);
	shf("mkdir -p %s/dbg_y/.build-id/%.2s && cp %s/stripped %s/dbg_y/.build-id/%.2s/%s.debug",
	    tmp, hex, tmp, tmp, hex, hex + 2);
	expect_find("build-id: file without symbols or DWARF rejected", T("dbg_y"),
		    T("stripped"), T("stripped"), "", NULL);
}

static void test_debuglink(const char *hex)
{
	char want[1200], bid[256], cmd[1200];

	/* Ground truth for the debuglink itself: readelf shows the name. */
	snprintf(cmd, sizeof(cmd),
		 "readelf -p .gnu_debuglink %s/linked | grep -o 'prog.debug' | head -1", tmp);
	cmd_line(want, sizeof(want), cmd);
	CHECK(!strcmp(want, "prog.debug"), "debuglink: test object links to prog.debug",
	      "readelf says '%s'", want);

	shf("mkdir -p %s/b1 && cp %s/linked %s/prog.debug %s/b1/", tmp, tmp, tmp, tmp);
	expect_find("debuglink: same directory", T("empty"), T("b1/linked"), T("b1/linked"), "",
		    T("b1/prog.debug"));

	shf("mkdir -p %s/b2/.debug && cp %s/linked %s/b2/ && cp %s/prog.debug %s/b2/.debug/",
	    tmp, tmp, tmp, tmp, tmp);
	expect_find("debuglink: .debug/ directory", T("empty"), T("b2/linked"), T("b2/linked"), "",
		    T("b2/.debug/prog.debug"));

	shf("mkdir -p %s/b3 %s/dbg_b%s/b3 && cp %s/linked %s/b3/ && cp %s/prog.debug %s/dbg_b%s/b3/",
	    tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	snprintf(want, sizeof(want), "%s/dbg_b%s/b3/prog.debug", tmp, tmp);
	expect_find("debuglink: debug_dir + object's directory", T("dbg_b"), T("b3/linked"),
		    T("b3/linked"), "", want);

	/* Order: next to the object comes before .debug/. */
	shf("mkdir -p %s/b4/.debug && cp %s/linked %s/prog.debug %s/b4/ && cp %s/prog.debug %s/b4/.debug/",
	    tmp, tmp, tmp, tmp, tmp, tmp);
	expect_find("debuglink: same directory before .debug/", T("empty"), T("b4/linked"),
		    T("b4/linked"), "", T("b4/prog.debug"));

	/* The build id wins over the debuglink. */
	snprintf(want, sizeof(want), "%s/dbg_a/.build-id/%.2s/%s.debug", tmp, hex, hex + 2);
	expect_find("debuglink: build-id path looked at first", T("dbg_a"), T("b1/linked"),
		    T("b1/linked"), "", want);

	/* (c) Same build id, other contents: only the CRC tells them apart. */
	shf("mkdir -p %s/c && cp %s/linked %s/c/ && echo junk > %s/junk && "
	    "objcopy --add-section .cprof_junk=%s/junk %s/prog.debug %s/c/prog.debug",
	    tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	readelf_build_id(T("c/prog.debug"), bid, sizeof(bid));
	CHECK(!strcmp(bid, hex) && shf("! cmp -s %s/prog.debug %s/c/prog.debug", tmp, tmp) == 0,
	      "debuglink: bad-CRC file has the right build id but other bytes", "build id %s", bid);
	expect_find("debuglink: wrong CRC rejected", T("empty"), T("c/linked"), T("c/linked"), "",
		    NULL);
	shf("mkdir -p %s/c/.debug && cp %s/prog.debug %s/c/.debug/", tmp, tmp, tmp);
	expect_find("debuglink: wrong CRC skipped, next candidate taken", T("empty"), T("c/linked"),
		    T("c/linked"), "", T("c/.debug/prog.debug"));
}

static void test_root(const char *hex)
{
	char want[1200];

	if (access("/opt/cprof-dbgi-app", F_OK) == 0) {
		SKIP("root: debuglink under root", "/opt/cprof-dbgi-app exists on the host");
		return;
	}
	shf("mkdir -p %s/root/opt/cprof-dbgi-app && cp %s/linked %s/prog.debug %s/root/opt/cprof-dbgi-app/",
	    tmp, tmp, tmp, tmp);
	expect_find("root: debuglink next to the object under root", T("empty"),
		    T("root/opt/cprof-dbgi-app/linked"), "/opt/cprof-dbgi-app/linked",
		    T("root"), T("root/opt/cprof-dbgi-app/prog.debug"));
	expect_find("root: not found without the root prefix", T("empty"),
		    T("root/opt/cprof-dbgi-app/linked"), "/opt/cprof-dbgi-app/linked", "", NULL);

	/* Build id under root, with the default debug dir. */
	shf("mkdir -p %s/root/usr/lib/debug/.build-id/%.2s && cp %s/stripped %s/root/opt/cprof-dbgi-app/ && "
	    "cp %s/prog.debug %s/root/usr/lib/debug/.build-id/%.2s/%s.debug",
	    tmp, hex, tmp, tmp, tmp, tmp, hex, hex + 2);
	snprintf(want, sizeof(want), "%s/root/usr/lib/debug/.build-id/%.2s/%s.debug", tmp, hex, hex + 2);
	expect_find("root: build-id path under root (default debug_dir)", NULL,
		    T("root/opt/cprof-dbgi-app/stripped"), "/opt/cprof-dbgi-app/stripped",
		    T("root"), want);

	/* debug_dir + the object's dir, under another root (this one has
	 * the build-id path, which would be found first). */
	shf("mkdir -p %s/root2/opt/cprof-dbgi-app %s/root2/usr/lib/debug/opt/cprof-dbgi-app && "
	    "cp %s/linked %s/root2/opt/cprof-dbgi-app/ && "
	    "cp %s/prog.debug %s/root2/usr/lib/debug/opt/cprof-dbgi-app/",
	    tmp, tmp, tmp, tmp, tmp, tmp);
	expect_find("root: debug_dir + object's directory under root", NULL,
		    T("root2/opt/cprof-dbgi-app/linked"), "/opt/cprof-dbgi-app/linked", T("root2"),
		    T("root2/usr/lib/debug/opt/cprof-dbgi-app/prog.debug"));
}

/* Does the symbol table of elf hold name at addr (as STT_FUNC when func)? */
static bool symtab_has(Elf *elf, const char *name, uint64_t addr, bool func)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *data;
		GElf_Shdr shdr;
		size_t i, n;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		data = elf_getdata(scn, NULL);
		n = shdr.sh_size / shdr.sh_entsize;
		for (i = 0; data && i < n; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(data, (int)i, &sym))
				continue;
			s = elf_strptr(elf, shdr.sh_link, sym.st_name);
			if (!s || strcmp(s, name) || sym.st_value != addr)
				continue;
			if (func && GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			return true;
		}
	}
	return false;
}

static void test_minidebuginfo(void)
{
	char line[512], name[256], missing[300] = "";
	int nr_expected = 0, nr_found = 0, nr_cprof = 0;
	unsigned long long addr;
	struct obj o = { .fd = -1 };
	void *image = NULL;
	Elf *mini = NULL;
	FILE *f = NULL;
	char type;

	/* The recipe from gdb's manual: function symbols not already in
	 * .dynsym, kept in a symbol-only ELF, xz'd into .gnu_debugdata. */
	if (shf("cd %s && nm -D --format=posix --defined-only prog | awk '{print $1}' | sort > dynsyms && "
		"nm --format=posix --defined-only prog | "
		"awk '$2 == \"T\" || $2 == \"t\" {print $1}' | sort > funcsyms && "
		"comm -13 dynsyms funcsyms > keep_symbols && "
		"objcopy --only-keep-debug prog mini_debuginfo && "
		"objcopy -S --remove-section .gdb_index --remove-section .comment "
		"--keep-symbols=keep_symbols mini_debuginfo && "
		"rm -f mini_debuginfo.xz && xz --keep mini_debuginfo && "
		"strip --strip-all -o mini prog && "
		"objcopy --add-section .gnu_debugdata=mini_debuginfo.xz mini && "
		"nm --format=posix --defined-only prog | awk '$2 == \"T\" || $2 == \"t\"' | "
		"sort | join - keep_symbols > expected", tmp)) {
		CHECK(0, "minidebuginfo: build the test binary", "see the command above");
		return;
	}

	if (obj_open(&o, T("mini")) != 0) {
		CHECK(0, "minidebuginfo: open", "cannot open %s", T("mini"));
		return;
	}
	mini = debuginfo__minidebuginfo(o.elf, &image);
	CHECK(mini && image, "minidebuginfo: .gnu_debugdata decompressed and opened", "errno %d (%s)",
	      errno, strerror(errno));
	if (!mini)
		goto cleanup;

	f = fopen(T("expected"), "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%255s %c %llx", name, &type, &addr) != 3)
			continue;
		nr_expected++;
		if (symtab_has(mini, name, addr, false))
			nr_found++;
		else if (!missing[0])
			snprintf(missing, sizeof(missing), "%s@%llx", name, addr);
		if (!strncmp(name, "cprof_dbg_", 10) && symtab_has(mini, name, addr, true))
			nr_cprof++;
	}
	CHECK(nr_expected >= 3 && nr_found == nr_expected,
	      "minidebuginfo: .symtab holds every function nm lists (name and address)",
	      "%d of %d, first missing %s", nr_found, nr_expected, missing);
	CHECK(nr_cprof == 3, "minidebuginfo: the program's three functions are STT_FUNC",
	      "%d of 3", nr_cprof);

cleanup:
	if (f)
		fclose(f);
	if (mini)
		elf_end(mini);
	free(image);
	obj_close(&o);

	/* None, and junk that is not xz. */
	if (obj_open(&o, T("stripped")) == 0) {
		errno = 0;
		mini = debuginfo__minidebuginfo(o.elf, &image);
		CHECK(!mini && errno == ENOENT && !image, "minidebuginfo: none -> ENOENT",
		      "errno %d", errno);
		obj_close(&o);
	}
	shf("cd %s && objcopy --add-section .gnu_debugdata=junk stripped corrupt", tmp);
	if (obj_open(&o, T("corrupt")) == 0) {
		errno = 0;
		mini = debuginfo__minidebuginfo(o.elf, &image);
		CHECK(!mini && errno == EBADMSG && !image, "minidebuginfo: corrupt -> EBADMSG",
		      "errno %d", errno);
		obj_close(&o);
	}
}

static void test_libc(void)
{
	char hex[256], want[512];

	readelf_build_id(LIBC_PATH, hex, sizeof(hex));
	if (strlen(hex) < 8) {
		SKIP("libc: Debian libc6-dbg", "no build id read from %s", LIBC_PATH);
		return;
	}
	snprintf(want, sizeof(want), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	if (access(want, R_OK) != 0) {
		SKIP("libc: Debian libc6-dbg", "libc6-dbg not installed (%s missing)", want);
		return;
	}
	expect_find("libc: /usr/lib/debug/.build-id path found (libc6-dbg)", NULL, LIBC_PATH,
		    LIBC_PATH, "", want);
}

static void timing(void)
{
	struct debuginfo_opts opts = { .debug_dir = NULL };
	struct debuginfo *d;
	double t0, first;
	struct obj o;
	int i, n = 2000;
	char *p;

	opts.debug_dir = T("dbg_a");
	d = debuginfo__new(&opts);
	if (!d || obj_open(&o, T("stripped")) != 0)
		goto out;
	t0 = now_us();
	for (i = 0; i < n; i++)
		free(debuginfo__find(d, o.elf, T("stripped"), ""));
	printf("# local find, build-id path: %.1f us\n", (now_us() - t0) / n);
	obj_close(&o);
	debuginfo__free(d);

	opts.debug_dir = T("empty");
	d = debuginfo__new(&opts);
	if (!d || obj_open(&o, T("b1/linked")) != 0)
		goto out;
	t0 = now_us();
	p = debuginfo__find(d, o.elf, T("b1/linked"), "");
	first = now_us() - t0;
	free(p);
	t0 = now_us();
	for (i = 0; i < n; i++)
		free(debuginfo__find(d, o.elf, T("b1/linked"), ""));
	printf("# local find, debuglink: first %.1f us (reads the file for its CRC), then %.1f us\n",
	       first, (now_us() - t0) / n);
	obj_close(&o);
out:
	debuginfo__free(d);
}

static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* HTTP status of GET url_path on the loopback server, or -1. */
static int http_status(int port, const char *url_path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 2 };
	char req[512], resp[64] = "";
	int fd, status = -1;
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", url_path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	n = read(fd, resp, sizeof(resp) - 1);
	if (n > 0) {
		resp[n] = '\0';
		if (sscanf(resp, "HTTP/%*s %d", &status) != 1)
			status = -1;
	}
out:
	close(fd);
	return status;
}

static void kill_server(void)
{
	int i;

	if (server_pid <= 0)
		return;
	kill(server_pid, SIGTERM);
	for (i = 0; i < 100; i++) {
		if (waitpid(server_pid, NULL, WNOHANG) == server_pid)
			goto done;
		usleep(50000);
	}
	kill(server_pid, SIGKILL);
	waitpid(server_pid, NULL, 0);
done:
	server_pid = 0;
}

static void on_signal(int sig)
{
	if (server_pid > 0)
		kill(server_pid, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int start_server(int port)
{
	char portstr[16];
	pid_t pid;
	int fd;

	snprintf(portstr, sizeof(portstr), "%d", port);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Die with the test, whatever way it goes. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		unsetenv("DEBUGINFOD_URLS");	/* no federation back to itself */
		fd = open(T("debuginfod.log"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execlp("debuginfod", "debuginfod", "-F", "-p", portstr, "-d", T("db.sqlite"),
		       "-c", "1", T("srv"), (char *)NULL);
		_exit(127);
	}
	server_pid = pid;
	return 0;
}

/* Poll find until it stops saying EAGAIN; NULL and *err otherwise. */
static char *poll_find(struct debuginfo *d, Elf *elf, const char *path, double limit_us,
		       int *err, double *took_us)
{
	double t0 = now_us();
	char *p;

	for (;;) {
		p = debuginfo__find(d, elf, path, "");
		*err = p ? 0 : errno;
		if (p || *err != EAGAIN || now_us() - t0 > limit_us)
			break;
		usleep(2000);
	}
	*took_us = now_us() - t0;
	return p;
}

static void test_debuginfod(const char *hex)
{
	struct debuginfo_stats st;
	struct debuginfo *d = NULL, *d2 = NULL;
	struct obj o = { .fd = -1 }, other = { .fd = -1 };
	char urls[64], url_path[256], bid[256], *p = NULL, *p1 = NULL, *p2 = NULL;
	double t0, took;
	int port, status = -1, err, err2;

	if (access("/usr/bin/debuginfod", X_OK) != 0 && shf("command -v debuginfod >/dev/null") != 0) {
		SKIP("debuginfod: fetch from a loopback server",
		     "debuginfod not installed (apt-get install debuginfod)");
		return;
	}
	port = free_port();
	if (port <= 0) {
		SKIP("debuginfod: fetch from a loopback server", "no free loopback port");
		return;
	}
	shf("mkdir -p %s/srv %s/g && cp %s/prog %s/srv/ && cp %s/stripped %s/g/ && cp %s/other.stripped %s/g/",
	    tmp, tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	if (start_server(port) != 0) {
		SKIP("debuginfod: fetch from a loopback server", "cannot start debuginfod");
		return;
	}

	/* The server must scan its directory first; ask it directly (not
	 * through libdebuginfod, whose cache would remember the misses). */
	snprintf(url_path, sizeof(url_path), "/buildid/%s/debuginfo", hex);
	t0 = now_us();
	while (now_us() - t0 < 20e6) {
		status = http_status(port, url_path);
		if (status == 200)
			break;
		usleep(100000);
	}
	CHECK(status == 200, "debuginfod: server up and has scanned the binary",
	      "last status %d after %.1f s, see %s", status, (now_us() - t0) / 1e6, T("debuginfod.log"));
	if (status != 200)
		goto cleanup;
	printf("# debuginfod server ready after %.1f s\n", (now_us() - t0) / 1e6);

	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", port);
	setenv("DEBUGINFOD_URLS", urls, 1);
	setenv("DEBUGINFOD_CACHE_PATH", T("cache-g"), 1);
	setenv("DEBUGINFOD_TIMEOUT", "10", 1);

	d = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	if (!d || obj_open(&o, T("g/stripped")) != 0 || obj_open(&other, T("g/other.stripped")) != 0) {
		CHECK(0, "debuginfod: setup", "debuginfo__new or open failed");
		goto cleanup;
	}

	t0 = now_us();
	errno = 0;
	p = debuginfo__find(d, o.elf, T("g/stripped"), "");
	err = errno;
	took = now_us() - t0;
	CHECK(!p && err == EAGAIN, "debuginfod: first find queues a fetch (NULL, EAGAIN)",
	      "got %s, errno %d", p ? p : "NULL", err);
	CHECK(took < 50000, "debuginfod: first find does not wait for the network", "%.0f us", took);
	free(p);
	errno = 0;
	p = debuginfo__find(d, other.elf, T("g/other.stripped"), "");
	err = errno;
	CHECK(!p && err == EAGAIN, "debuginfod: unknown build id queued too", "errno %d", err);
	free(p);

	p1 = poll_find(d, o.elf, T("g/stripped"), 20e6, &err, &took);
	took += now_us() - t0 - took;	/* from the first find */
	CHECK(p1 != NULL, "debuginfod: file returned once fetched", "errno %d (%s) after %.1f s",
	      err, strerror(err), took / 1e6);
	if (p1) {
		printf("# debuginfod fetch on loopback: %.1f ms from first find to file\n", took / 1e3);
		readelf_build_id(p1, bid, sizeof(bid));
		CHECK(!strcmp(bid, hex), "debuginfod: fetched file has the object's build id",
		      "%s has %s, want %s", p1, bid, hex);
		CHECK(shf("readelf -S '%s' | grep -q '\\.debug_info'", p1) == 0,
		      "debuginfod: fetched file holds DWARF", "%s", p1);
		CHECK(!strncmp(p1, T("cache-g/"), strlen(T("cache-g/"))),
		      "debuginfod: file is in DEBUGINFOD_CACHE_PATH", "%s", p1);
	}

	p = poll_find(d, other.elf, T("g/other.stripped"), 20e6, &err, &took);
	CHECK(!p && err == ENOENT, "debuginfod: unknown build id fails (ENOENT)",
	      "got %s, errno %d", p ? p : "NULL", err);
	free(p);
	debuginfo__stats(d, &st);
	CHECK(st.fetched == 1 && st.fetch_failed == 1 && st.pending == 0,
	      "debuginfod: stats count one fetched, one failed, none pending",
	      "fetched %lu failed %lu pending %lu", (unsigned long)st.fetched,
	      (unsigned long)st.fetch_failed, (unsigned long)st.pending);
	errno = 0;
	t0 = now_us();
	p = debuginfo__find(d, other.elf, T("g/other.stripped"), "");
	err = errno;
	took = now_us() - t0;
	debuginfo__stats(d, &st);
	CHECK(!p && err == ENOENT && st.pending == 0 && st.fetch_failed == 1 && took < 50000,
	      "debuginfod: failure remembered (ENOENT at once, no new fetch)",
	      "errno %d pending %lu failed %lu, %.0f us", err, (unsigned long)st.pending,
	      (unsigned long)st.fetch_failed, took);
	free(p);

	kill_server();
	CHECK(http_status(port, url_path) < 0, "debuginfod: server stopped", "still answers");

	d2 = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	errno = 0;
	p2 = d2 ? debuginfo__find(d2, o.elf, T("g/stripped"), "") : NULL;
	err2 = errno;
	CHECK(p2 && p1 && !strcmp(p1, p2),
	      "debuginfod: second instance finds it in the cache without the server",
	      "got %s (errno %d), want %s", p2 ? p2 : "NULL", err2, p1 ? p1 : "NULL");
	debuginfo__stats(d2, &st);
	CHECK(st.found_local == 1 && st.pending == 0 && st.fetched == 0,
	      "debuginfod: cache hit is local, no fetch", "found_local %lu pending %lu",
	      (unsigned long)st.found_local, (unsigned long)st.pending);

cleanup:
	kill_server();
	free(p1);
	free(p2);
	obj_close(&o);
	obj_close(&other);
	debuginfo__free(d);
	debuginfo__free(d2);
	unsetenv("DEBUGINFOD_URLS");
	unsetenv("DEBUGINFOD_TIMEOUT");
	setenv("DEBUGINFOD_CACHE_PATH", T("cache-none"), 1);
}

/* A loopback socket that listens but never accepts: connections complete
 * in the kernel and then nothing is ever said. */
static int hanging_server(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 16) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Patch the build id of an in-memory copy to make many distinct objects. */
static void test_queue_bound(const char *hex)
{
	struct debuginfo_stats st;
	struct debuginfo *d = NULL;
	unsigned char id[64], *image = NULL, *at;
	size_t len = strlen(hex) / 2, size, i;
	int nr = 600, again = 0, maxpending = 0, port, n, hang;
	char urls[64];
	double t0;
	FILE *f;

	for (i = 0; i < len; i++)
		sscanf(hex + 2 * i, "%2hhx", &id[i]);
	f = fopen(T("stripped"), "rb");
	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = (size_t)ftell(f);
	rewind(f);
	image = malloc(size);
	if (!image || fread(image, 1, size, f) != size) {
		fclose(f);
		free(image);
		return;
	}
	fclose(f);
	at = memmem(image, size, id, len);
	if (!at) {
		CHECK(0, "queue: build id found in the image", "not found");
		goto cleanup;
	}

	/* Nothing listens there: every fetch fails fast. */
	port = free_port();
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", port);
	setenv("DEBUGINFOD_URLS", urls, 1);
	setenv("DEBUGINFOD_CACHE_PATH", T("cache-q"), 1);
	setenv("DEBUGINFOD_RETRY_LIMIT", "0", 1);
	d = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	if (!d)
		goto cleanup;
	for (n = 0; n < nr; n++) {
		Elf *elf;
		char *p;

		memcpy(at, &n, sizeof(n));
		elf = elf_memory((char *)image, size);
		if (!elf)
			continue;
		p = debuginfo__find(d, elf, T("stripped"), "");
		if (!p && errno == EAGAIN)
			again++;
		free(p);
		elf_end(elf);
		debuginfo__stats(d, &st);
		if ((int)st.pending > maxpending)
			maxpending = (int)st.pending;
	}
	debuginfo__stats(d, &st);
	CHECK(again == nr, "queue: every new build id answered EAGAIN", "%d of %d", again, nr);
	CHECK(maxpending <= QUEUE_MAX + 1 && st.dropped > 0,
	      "queue: bounded, overflow counted as dropped", "max pending %d, dropped %lu",
	      maxpending, (unsigned long)st.dropped);
	t0 = now_us();
	while (now_us() - t0 < 60e6) {
		debuginfo__stats(d, &st);
		if (!st.pending)
			break;
		usleep(10000);
	}
	CHECK(st.pending == 0 && st.fetch_failed + st.dropped == (uint64_t)nr && !st.fetched,
	      "queue: every request either failed or was dropped",
	      "pending %lu failed %lu dropped %lu", (unsigned long)st.pending,
	      (unsigned long)st.fetch_failed, (unsigned long)st.dropped);

	/* Freeing with a full queue stops the worker promptly. */
	debuginfo__free(d);
	d = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	for (n = 1000; d && n < 1300; n++) {
		Elf *elf;

		memcpy(at, &n, sizeof(n));
		elf = elf_memory((char *)image, size);
		if (elf) {
			free(debuginfo__find(d, elf, T("stripped"), ""));
			elf_end(elf);
		}
	}
	t0 = now_us();
	debuginfo__free(d);
	d = NULL;
	CHECK(now_us() - t0 < 5e6, "queue: free with a full queue returns promptly", "%.1f s",
	      (now_us() - t0) / 1e6);

	/* A server that accepts and never answers: free must abort the
	 * fetch in flight, not wait for libdebuginfod's 90 s timeout. */
	hang = hanging_server(&port);
	if (hang < 0) {
		SKIP("queue: free aborts a hanging fetch", "cannot listen on loopback");
		goto cleanup;
	}
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%d", port);
	setenv("DEBUGINFOD_URLS", urls, 1);
	d = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	n = 2000;
	memcpy(at, &n, sizeof(n));
	if (d) {
		Elf *elf = elf_memory((char *)image, size);

		if (elf) {
			free(debuginfo__find(d, elf, T("stripped"), ""));
			elf_end(elf);
		}
	}
	usleep(500000);
	debuginfo__stats(d, &st);
	t0 = now_us();
	debuginfo__free(d);
	d = NULL;
	CHECK(st.pending == 1 && now_us() - t0 < 5e6, "queue: free aborts a hanging fetch",
	      "pending %lu, free took %.1f s", (unsigned long)st.pending, (now_us() - t0) / 1e6);
	close(hang);

cleanup:
	debuginfo__free(d);
	free(image);
	unsetenv("DEBUGINFOD_URLS");
	unsetenv("DEBUGINFOD_RETRY_LIMIT");
	setenv("DEBUGINFOD_CACHE_PATH", T("cache-none"), 1);
}

static void test_args(void)
{
	struct debuginfo_stats st;
	struct debuginfo *d;

	debuginfo__free(NULL);
	errno = 0;
	CHECK(!debuginfo__find(NULL, NULL, "/x", "") && errno == EINVAL, "args: find(NULL) -> EINVAL",
	      "errno %d", errno);
	errno = 0;
	CHECK(!debuginfo__minidebuginfo(NULL, NULL) && errno == EINVAL,
	      "args: minidebuginfo(NULL) -> EINVAL", "errno %d", errno);
	/* debuginfod asked for but DEBUGINFOD_URLS unset: off, ENOENT. */
	d = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = T("empty"), .debuginfod = true });
	if (d) {
		struct obj o;

		if (obj_open(&o, T("stripped")) == 0) {
			errno = 0;
			CHECK(!debuginfo__find(d, o.elf, T("stripped"), "") && errno == ENOENT,
			      "args: debuginfod off without DEBUGINFOD_URLS", "errno %d", errno);
			obj_close(&o);
		}
		debuginfo__stats(d, &st);
		CHECK(st.pending == 0 && st.dropped == 0, "args: nothing queued", "pending %lu",
		      (unsigned long)st.pending);
	}
	debuginfo__free(d);
}

int main(void)
{
	char hex[256];
	struct sigaction sa = { .sa_handler = on_signal };

	if (elf_version(EV_CURRENT) == EV_NONE) {
		printf("FAIL: libelf: elf_version\n");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	atexit(kill_server);
	if (shf("command -v gcc objcopy strip nm readelf xz >/dev/null") != 0) {
		SKIP("debuginfo", "needs gcc, binutils and xz");
		return CHECK_EXIT();
	}
	if (setup(hex, sizeof(hex)) != 0) {
		CHECK(0, "setup", "cannot build the test binaries in %s", tmp);
		goto out;
	}
	/* Keep the host's debuginfod settings out of the way. */
	unsetenv("DEBUGINFOD_URLS");
	setenv("DEBUGINFOD_CACHE_PATH", T("cache-none"), 1);

	test_args();
	test_build_id(hex);
	test_debuglink(hex);
	test_root(hex);
	test_minidebuginfo();
	test_libc();
	timing();
	test_debuginfod(hex);
	test_queue_bound(hex);

out:
	kill_server();
	if (!getenv("CPROF_KEEP_TMP"))
		shf("rm -rf '%s'", tmp);
	return CHECK_EXIT();
}
