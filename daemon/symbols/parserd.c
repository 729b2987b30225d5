// SPDX-License-Identifier: GPL-2.0
/*
 * The parser process (see parserd.h): one request at a time, on one thread
 * (and debuginfod's fetch worker when that is on). It holds nothing the
 * daemon needs: killing it loses only its caches.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <gelf.h>

#include "buildid.h"
#include "elfinit.h"
#include "elfobj.h"
#include "log.h"
#include "parserd.h"
#include "unwind_table.h"

#define SOCK_FD		3
#define NOBODY		65534
/* The daemon's requests are small; a table reply may be 256 MiB. */
#define MAX_REQUEST	(PARSERD_MAX_OFFSETS * 8 + 2 * PATH_MAX + 64)
/* A name in a reply: demangled names stop at 64 KiB (demangle.h). */
#define MAX_NAME	(1u << 20)
/* What reading a process's files takes, and nothing more. */
#define KEPT_CAPS	((1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_SYS_PTRACE))

int parserd__symbolize(struct symcache *c, const void *req, size_t len, int fd,
		       struct wbuf *out)
{
	struct rbuf r = { req, len, 0, false };
	struct srcline frames[DWARFSRC_FRAMES_MAX];
	char fdpath[32];
	const char *paths[1] = { fdpath };
	struct symcache_ref ref = { .paths = paths, .verified = true };
	const uint8_t *offs;	/* u64s, not aligned */
	struct elfobj *obj;
	uint32_t open_err, n, flags = 0;

	ref.dev = rbuf_u64(&r);
	ref.inode = rbuf_u64(&r);
	ref.stamp = rbuf_u64(&r);
	open_err = rbuf_u32(&r);
	ref.path = rbuf_str(&r, PATH_MAX);
	ref.root = rbuf_str(&r, PATH_MAX);
	n = rbuf_u32(&r);
	offs = n <= PARSERD_MAX_OFFSETS ? rbuf_take(&r, (size_t)n * sizeof(uint64_t)) : NULL;
	if (r.bad || !offs || r.off != r.len || open_err > 4095)	/* errno values */
		return -EPROTO;
	if (fd >= 0) {
		snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
		ref.nr_paths = 1;
	}
	obj = symcache__find(c, &ref);
	if (!obj)
		return -(fd < 0 && open_err ? (int)open_err : errno ? errno : ENOENT);

	if (elfobj__has_dwarf(obj))
		flags |= PARSERD_F_DWARF;
	if (elfobj__nr_symbols(obj) > 0 || elfobj__has_dwarf(obj))
		flags |= PARSERD_F_FUNCTIONS;
	wbuf_str(out, elfobj__build_id(obj));
	wbuf_u32(out, flags);
	wbuf_u32(out, n);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t off, vaddr;
		int k = 0;

		memcpy(&off, offs + (size_t)i * sizeof(off), sizeof(off));
		if (!elfobj__offset_to_vaddr(obj, off, &vaddr))
			k = elfobj__symbolize(obj, vaddr, frames, DWARFSRC_FRAMES_MAX);
		if (k < 0)
			k = 0;
		wbuf_u32(out, (uint32_t)k);
		for (int j = 0; j < k; j++) {
			wbuf_str(out, frames[j].function);
			wbuf_str(out, frames[j].system_name);
			wbuf_str(out, frames[j].file);
			wbuf_u32(out, frames[j].line > 0 ? (uint32_t)frames[j].line : 0);
		}
	}
	return out->err;
}

int parserd__table(int fd, struct wbuf *out)
{
	struct unwind_table t = { 0 };
	char fdpath[32];
	int err;

	if (fd < 0)
		return -EBADF;
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
	err = unwind_table__build(fdpath, &t);
	if (err)
		return err;
	wbuf_u64(out, t.nr);
	wbuf_u64(out, t.nr_fdes);
	wbuf_u64(out, t.nr_go_funcs);
	wbuf_u64(out, t.nr_unsupported);
	wbuf_u64(out, t.nr_plt);
	wbuf_u32(out, (uint32_t)t.from_debug_frame);
	wbuf_put(out, t.rows, t.nr * sizeof(*t.rows));
	unwind_table__clear(&t);
	return out->err;
}

int parserd__identify(int fd, struct wbuf *out)
{
	struct build_id id;
	char hex[BUILD_ID_MAX * 2 + 1];
	uint32_t n = 0;
	size_t nr = 0;
	GElf_Phdr ph;
	Elf *elf;

	elf = fd >= 0 && elf_ready() ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &nr)) {
		elf_end(elf);
		return -ENOEXEC;
	}
	if (build_id__read(elf, &id)) {
		build_id__hex(&id, hex);
		wbuf_str(out, hex);
	} else {
		wbuf_str(out, NULL);
	}
	for (size_t i = 0; i < nr && n < PARSERD_MAX_LOADS; i++)
		n += gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD;
	wbuf_u32(out, n);
	for (size_t i = 0, k = 0; i < nr && k < n; i++) {
		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
			continue;
		wbuf_u64(out, ph.p_offset);
		wbuf_u64(out, ph.p_vaddr);
		wbuf_u64(out, ph.p_filesz);
		k++;
	}
	elf_end(elf);
	return out->err;
}

int parserd__read_identity(const void *payload, size_t len, struct parserd_identity *id)
{
	struct rbuf r = { payload, len, 0, false };
	const char *hex = rbuf_str(&r, sizeof(id->build_id) - 1);
	uint32_t n;

	*id = (struct parserd_identity){ 0 };
	n = rbuf_u32(&r);
	if (r.bad || n > PARSERD_MAX_LOADS)
		return -EPROTO;
	if (hex) {
		if (strspn(hex, "0123456789abcdef") != strlen(hex))
			return -EPROTO;
		strcpy(id->build_id, hex);
	}
	for (uint32_t i = 0; i < n; i++) {
		id->loads[i].offset = rbuf_u64(&r);
		id->loads[i].vaddr = rbuf_u64(&r);
		id->loads[i].filesz = rbuf_u64(&r);
	}
	if (r.bad || r.off != r.len)
		return -EPROTO;
	id->nr_loads = (int)n;
	return 0;
}

int parserd__read_table(const void *payload, size_t len, struct unwind_table *t)
{
	struct rbuf r = { payload, len, 0, false };
	const void *rows;
	uint64_t nr = rbuf_u64(&r);

	*t = (struct unwind_table){ 0 };
	t->nr_fdes = rbuf_u64(&r);
	t->nr_go_funcs = rbuf_u64(&r);
	t->nr_unsupported = rbuf_u64(&r);
	t->nr_plt = rbuf_u64(&r);
	t->from_debug_frame = rbuf_u32(&r) != 0;
	rows = nr <= UNWIND_MAX_TABLE_ROWS ? rbuf_take(&r, nr * sizeof(*t->rows)) : NULL;
	if (r.bad || r.off != r.len || (nr && !rows))
		return -EPROTO;
	/* copied first: the payload need not be aligned for them */
	t->rows = malloc(nr ? nr * sizeof(*t->rows) : 1);
	if (!t->rows)
		return -ENOMEM;
	if (nr)
		memcpy(t->rows, rows, nr * sizeof(*t->rows));
	t->nr = nr;
	for (uint64_t i = 1; i < nr; i++)
		if (t->rows[i].pc < t->rows[i - 1].pc) {
			unwind_table__clear(t);
			return -EPROTO;
		}
	return 0;
}

int parserd__read_frames(const void *payload, size_t len, uint32_t n, const char **build_id,
			 uint32_t *flags, parserd_frames_fn fn, void *arg)
{
	struct rbuf r = { payload, len, 0, false };
	struct srcline frames[DWARFSRC_FRAMES_MAX];

	*build_id = rbuf_str(&r, PARSERD_BUILD_ID_MAX);
	*flags = rbuf_u32(&r);
	if (rbuf_u32(&r) != n || r.bad)
		return -EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = rbuf_u32(&r);
		int err;

		if (r.bad || k > DWARFSRC_FRAMES_MAX)
			return -EPROTO;
		for (uint32_t j = 0; j < k; j++) {
			uint32_t line;

			frames[j].function = rbuf_str(&r, MAX_NAME);
			frames[j].system_name = rbuf_str(&r, MAX_NAME);
			frames[j].file = rbuf_str(&r, MAX_NAME);
			line = rbuf_u32(&r);
			frames[j].line = line > INT_MAX ? 0 : (int)line;
		}
		if (r.bad)
			return -EPROTO;
		err = fn(arg, i, frames, k);
		if (err)
			return err;
	}
	return r.off == r.len ? 0 : -EPROTO;
}

int parserd__trim(struct symcache *c, struct debuginfo *d, struct wbuf *out)
{
	struct parserd_trim_stats st = { 0 };

	symcache__trim(c);
	symcache__stats(c, &st.symcache);
	if (d)
		debuginfo__stats(d, &st.debuginfo);
	wbuf_put(out, &st, sizeof(st));
	return out->err;
}

/* Keep only KEPT_CAPS, as nobody unless keep_root (debuginfod's cache is
 * root's), and never gain more (no_new_privs). */
static int drop_privileges(bool keep_root)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (geteuid() != 0)
		keep_root = true;	/* nothing to drop: run by hand, or a test */
	for (int cap = 0; cap < 64; cap++)
		if (!(KEPT_CAPS & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) &&
		    errno != EINVAL && errno != EPERM)
			return -errno;
	if (!keep_root) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || setgroups(0, NULL) ||
		    setresgid(NOBODY, NOBODY, NOBODY) || setresuid(NOBODY, NOBODY, NOBODY))
			log_warn("parser: cannot run as nobody (%s): it keeps root's user id",
				 strerror(errno));
	}
	if (geteuid() == 0 || !keep_root) {
		data[0].effective = data[0].permitted = (uint32_t)KEPT_CAPS;
		if (syscall(SYS_capset, &hdr, data))
			return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return 0;
}

static uint64_t rss_kb(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%lu %lu", &size, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* The daemon closed its end, or died: whatever this process is doing, it
 * is not wanted any more. (PR_SET_PDEATHSIG would follow the thread that
 * started it, which may be an HTTP connection's.) */
static void *watch_daemon(void *arg)
{
	struct pollfd p = { .fd = SOCK_FD, .events = POLLRDHUP };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	_exit(0);
	return arg;
}

static int serve(struct symcache *c, struct debuginfo *d)
{
	for (;;) {
		struct ipc_hdr h, rh = { 0 };
		struct wbuf out = { 0 };
		void *req;
		int fd, err;

		err = ipc_recv(SOCK_FD, &h, &req, MAX_REQUEST, &fd, 0);
		if (err)
			return err == -EPIPE ? 0 : 1;	/* the daemon has gone */
		rh.op = h.op;
		switch (h.op) {
		case IPC_SYMBOLIZE:
			rh.status = c ? parserd__symbolize(c, req, h.len, fd, &out) : -EOPNOTSUPP;
			break;
		case IPC_TABLE:
			rh.status = parserd__table(fd, &out);
			break;
		case IPC_TRIM:
			rh.status = c ? parserd__trim(c, d, &out) : 0;
			/* what the cache let go goes back to the system */
			malloc_trim(0);
			break;
		case IPC_IDENTIFY:
			rh.status = parserd__identify(fd, &out);
			break;
		default:
			rh.status = -EOPNOTSUPP;
		}
		if (rh.status)
			out.len = 0;
		for (int k = 0; k < HOSTILE_NR; k++)
			rh.hostile[k] = hostile__get(k);
		rh.rss_kb = rss_kb();
		err = ipc_send(SOCK_FD, &rh, out.p, out.len, -1);
		if (fd >= 0)
			close(fd);
		free(req);
		wbuf_free(&out);
		/* a table's rows and its builder's arrays are large and short-lived */
		if (h.op == IPC_TABLE)
			malloc_trim(0);
		if (err)
			return err == -EPIPE ? 0 : 1;
	}
}

int parserd__main(int argc, char **argv)
{
	const char *role = argc > 2 ? argv[2] : "", *urls = getenv("DEBUGINFOD_URLS");
	unsigned long long memory = 0, cache = 0;
	struct debuginfo *d = NULL;
	struct symcache *c = NULL;
	bool symbols = !strcmp(role, "symbols");
	pthread_t watcher;
	int ret = 1;

	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			log_level = LOG_DEBUG;
		else if (!strcmp(argv[i], "--memory") && i + 1 < argc)
			memory = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--cache") && i + 1 < argc)
			cache = strtoull(argv[++i], NULL, 10);
	}
	if (!symbols && strcmp(role, "tables")) {
		fprintf(stderr, "cprofd --parser: unknown role \"%s\" (symbols or tables): it is run by cprofd itself\n",
			role);
		return 2;
	}
	if (fcntl(SOCK_FD, F_GETFD) < 0) {
		fprintf(stderr, "cprofd --parser: no socket on descriptor %d: it is run by cprofd itself\n",
			SOCK_FD);
		return 2;
	}
	/* nothing of the daemon's but the socket: not its listeners, not its
	 * BPF objects */
	close_range(SOCK_FD + 1, ~0u, 0);
	signal(SIGPIPE, SIG_IGN);
	/* with the daemon, however it ends */
	if (pthread_create(&watcher, NULL, watch_daemon, NULL)) {
		fprintf(stderr, "cprofd --parser: cannot start a thread: %s\n", strerror(errno));
		return 1;
	}
	prctl(PR_SET_NAME, symbols ? "cprofd-symbols" : "cprofd-tables", 0, 0, 0);
	/* as the daemon: big blocks from mmap, given back when freed */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
#ifndef __SANITIZE_ADDRESS__	/* its shadow memory counts as data */
	if (memory)
		setrlimit(RLIMIT_DATA, &(struct rlimit){ memory, memory });
#endif
	if (symbols) {
		d = debuginfo__new(&(struct debuginfo_opts){ .debuginfod = true });
		c = d ? symcache__new(&(struct symcache_opts){ .debuginfo = d,
								 .max_bytes = cache }) : NULL;
		if (!c) {
			log_error("parser: out of memory");
			goto cleanup;
		}
	}
	/* debuginfod's fetches write root's cache */
	if (drop_privileges(symbols && urls && *urls)) {
		log_error("parser: cannot drop privileges: %s", strerror(errno));
		goto cleanup;
	}
	ret = serve(c, d);
cleanup:
	symcache__free(c);
	debuginfo__free(d);
	return ret;
}
