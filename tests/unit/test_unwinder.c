/* The unwinder's loader: one BPF array map per object's table, shared
 * between processes and between files with one build id, kept while idle,
 * removed when the rows are needed, the tables of processes no longer
 * sampled evicted before those of busy ones, refused tables loaded again
 * once there is room, removed after ten minutes unmapped; a rebuilt file on
 * a reused inode gets its own table; tables of any size fit. Uses real BPF
 * maps (root) for the table slots, the published processes and the
 * sampling times, and ordinary memory for the mapping slots. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "check.h"
#include "fileio.h"
#include "cprof.h"
#include "proctab.h"
#include "unwind_table.h"
#include "unwinder.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LIBM "/usr/lib/x86_64-linux-gnu/libm.so.6"
#define LLVM "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1"
#define CLANG_CPP "/usr/lib/x86_64-linux-gnu/libclang-cpp.so.14"
#define NS 1000000000ull

static int procs_fd, seen_fd, tables_fd, index_fd, hdrs_fd, maps_fd;
static uint32_t nr_index;

/* A process instance whose one executable mapping is path, at offset 0. */
static void fake_instance(struct proc_instance *in, uint32_t pid, const char *path,
			  struct procmap *m)
{
	struct stat st;

	stat(path, &st);
	memset(in, 0, sizeof(*in));
	in->pid = pid;
	in->exec_id = 1;
	in->start_ns = 1000 + pid;
	m->start = 0x7f0000000000ULL;
	m->end = m->start + st.st_size;
	m->offset = 0;
	m->dev = st.st_dev;
	m->inode = st.st_ino;
	m->stamp = file_stamp(&st);
	m->path = (char *)path;
	in->maps.maps = m;
	in->maps.nr = 1;
}

static size_t rows_of(const char *path)
{
	struct unwind_table t = { 0 };
	size_t n = unwind_table__build(path, &t) ? 0 : t.nr;

	unwind_table__clear(&t);
	return n;
}

static uint64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* As the BPF side records it: in was last sampled ago_ns before now. */
static void sampled(const struct proc_instance *in, uint64_t ago_ns)
{
	struct cprof_instance k = { .pid = in->pid, .exec_id = in->exec_id, .start_ns = in->start_ns };
	struct seen_val v = { .samples = CPROF_BUSY_SAMPLES, .last_ns = mono_now() - ago_ns };

	bpf_map_update_elem(seen_fd, &k, &v, BPF_ANY);
}

/* The published (first) mapping of pid, as the walker reads it, or NULL;
 * valid until the next call. */
static const struct unwind_mapping *published(uint32_t pid)
{
	static struct unwind_mapping m;
	struct unwind_proc pub;

	if (bpf_map_lookup_elem(procs_fd, &pid, &pub) || !pub.nr_maps ||
	    bpf_map_lookup_elem(maps_fd, &pub.first_map, &m))
		return NULL;
	return &m;
}

/* What the walker finds in m's table slot: the rows, or -1 when the slot
 * is empty (evicted or refused). Compared with path's table when given,
 * the table's index too. */
static long slot_rows(const struct unwind_mapping *m, const char *path, bool *same)
{
	struct unwind_table t = { 0 };
	struct unwind_table_hdr hdr;
	uint32_t id, slot = m->table;
	long n = -1;
	int fd;

	*same = false;
	if (bpf_map_lookup_elem(tables_fd, &slot, &id))
		return -1;
	fd = bpf_map_get_fd_by_id(id);
	if (fd < 0)
		return -1;
	if (path && !unwind_table__build(path, &t) && !bpf_map_lookup_elem(hdrs_fd, &slot, &hdr)) {
		size_t nr_index = unwind_table__index_len(&t);
		uint64_t *want = calloc(nr_index + 1, sizeof(*want));
		struct unwind_table_hdr want_hdr;
		struct unwind_row row;

		*same = want != NULL;
		for (uint32_t i = 0; i < t.nr && *same; i += 97)
			*same = !bpf_map_lookup_elem(fd, &i, &row) && !memcmp(&row, &t.rows[i], sizeof(row));
		/* the indexes, read as the walker reads them */
		if (want)
			unwind_table__index(&t, hdr.blocks, want, &want_hdr);
		/* a generation of its own, never 0 (an empty cache entry) */
		*same = *same && hdr.gen;
		want_hdr.gen = hdr.gen;
		*same = *same && !memcmp(&hdr, &want_hdr, sizeof(hdr));
		for (uint32_t k = 0; k < nr_index && *same; k++) {
			uint32_t i = hdr.blocks + k;
			uint64_t v;

			*same = !bpf_map_lookup_elem(index_fd, &i, &v) && v == want[k];
		}
		free(want);
	}
	for (n = 0; ; n++) {
		struct unwind_row row;
		uint32_t i = (uint32_t)n;

		if (bpf_map_lookup_elem(fd, &i, &row))
			break;
	}
	unwind_table__clear(&t);
	close(fd);
	return n;
}

static struct unwinder *new_unwinder(uint64_t max_rows)
{
	struct unwinder_opts o = {
		.tables_fd = tables_fd, .max_tables = 64, .maps_fd = maps_fd, .nr_maps = 256,
		.procs_fd = procs_fd, .seen_fd = seen_fd, .max_rows = max_rows,
		.index_fd = index_fd, .nr_index = unwinder__index_entries(max_rows, 64),
		.hdrs_fd = hdrs_fd,
	};

	return unwinder__new(&o);
}

#define U64(x) ((unsigned long long)(x))

int main(void)
{
	struct unwinder_stats st, before;
	struct proc_instance a, b;
	struct procmap ma, mb;
	const struct unwind_mapping *m;
	struct unwinder *u;
	size_t libc_rows, libm_rows;
	uint32_t pid_a = getpid(), pid_b = getppid();
	bool same;
	long n;

	if (geteuid()) {
		SKIP("unwinder", "needs root for BPF maps");
		return 0;
	}
	libc_rows = rows_of(LIBC);
	libm_rows = rows_of(LIBM);
	if (!libc_rows || !libm_rows) {
		SKIP("unwinder", "no call-frame information in %s or %s", LIBC, LIBM);
		return 0;
	}
	procs_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_procs", sizeof(uint32_t),
				  sizeof(struct unwind_proc), 16, NULL);
	seen_fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "test_seen", sizeof(struct cprof_instance),
				 sizeof(struct seen_val), 64, NULL);
	tables_fd = unwinder__create_tables_map(64);
	hdrs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_hdrs", sizeof(uint32_t),
				 sizeof(struct unwind_table_hdr), 64, NULL);
	/* room for the largest budget below */
	nr_index = unwinder__index_entries(64ull << 20, 64);
	index_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_index", sizeof(uint32_t), sizeof(uint64_t),
				  nr_index, NULL);
	maps_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_maps", sizeof(uint32_t),
				 sizeof(struct unwind_mapping), 256, NULL);
	if (procs_fd < 0 || seen_fd < 0 || tables_fd < 0 || hdrs_fd < 0 || index_fd < 0 || maps_fd < 0) {
		SKIP("unwinder", "cannot create BPF maps: %s", strerror(errno));
		return 0;
	}

	/* Room for either library, not both. */
	u = new_unwinder(libc_rows + libm_rows - 1);
	CHECK(u != NULL, "unwinder: new", "%s", strerror(errno));
	if (!u)
		return 1;
	fake_instance(&a, pid_a, LIBC, &ma);
	sampled(&a, 0);
	CHECK(unwinder__add(u, &a) == 0, "unwinder: add a process mapping libc", "failed");
	m = published(pid_a);
	CHECK(m && m->nr_rows == libc_rows && m->start == ma.start && m->bias == ma.start,
	      "unwinder: the process is published with its mapping", "%s",
	      m ? "wrong rows or range" : "not published");
	n = m ? slot_rows(m, LIBC, &same) : -1;
	CHECK(n == (long)libc_rows && same, "unwinder: libc's table is a map of its own, exactly its rows",
	      "%ld rows in the slot (libc has %zu), same %d", n, libc_rows, same);
	unwinder__stats(u, &st);
	CHECK(st.rows_used == libc_rows && st.objects == 1, "unwinder: rows counted against the budget",
	      "%llu rows, %llu objects", U64(st.rows_used), U64(st.objects));

	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);
	unwinder__stats(u, &st);
	CHECK(!published(pid_a) && st.processes == 0, "unwinder: a removed process is unpublished",
	      "still there");
	CHECK(st.rows_used == libc_rows, "unwinder: an idle object keeps its table", "%llu rows",
	      U64(st.rows_used));

	fake_instance(&b, pid_b, LIBM, &mb);
	sampled(&b, 0);
	CHECK(unwinder__add(u, &b) == 0, "unwinder: add a process mapping libm", "failed");
	unwinder__stats(u, &st);
	CHECK(st.evicted == 1 && st.table_full == 0 && st.rows_used == libm_rows,
	      "unwinder: libc's idle table was removed to make room",
	      "evicted %llu, full %llu, rows %llu", U64(st.evicted), U64(st.table_full),
	      U64(st.rows_used));
	m = published(pid_b);
	n = m ? slot_rows(m, LIBM, &same) : -1;
	CHECK(n == (long)libm_rows && same, "unwinder: the published mapping finds libm's own rows",
	      "%ld rows, same %d", n, same);

	/* libm's process is sampled: libc cannot have its rows back. */
	CHECK(unwinder__add(u, &a) == 0, "unwinder: add libc again while libm is busy", "failed");
	unwinder__stats(u, &st);
	CHECK(st.table_full == 1 && st.objects_waiting == 1, "unwinder: no room is counted as table full",
	      "full %llu, waiting %llu", U64(st.table_full), U64(st.objects_waiting));
	m = published(pid_a);
	CHECK(m && m->nr_rows == libc_rows && slot_rows(m, NULL, &same) == -1,
	      "unwinder: a refused table's slot is named but empty: the walker counts it and uses frame pointers",
	      "%s", m ? "slot not empty" : "not published");

	/* libm's process goes cold: its table makes room for libc's. */
	sampled(&b, 31 * NS);
	unwinder__tick(u, mono_now() + 6 * NS);
	unwinder__stats(u, &st);
	m = published(pid_a);
	CHECK(st.evicted_cold == 1 && st.reloaded == 1 && m && slot_rows(m, LIBC, &same) ==
	      (long)libc_rows && same,
	      "unwinder: a cold process's table is evicted for a busy one's, which is loaded",
	      "evicted_cold %llu, reloaded %llu", U64(st.evicted_cold), U64(st.reloaded));
	m = published(pid_b);
	CHECK(m && slot_rows(m, NULL, &same) == -1, "unwinder: the cold process walks by frame pointers",
	      "its slot is not empty");

	/* Both busy: neither is evicted for the other. */
	sampled(&b, 0);
	unwinder__tick(u, mono_now() + 12 * NS);
	unwinder__stats(u, &before);
	CHECK(before.evicted_cold == 1 && before.reloaded == 1,
	      "unwinder: busy processes' tables are never evicted", "evicted_cold %llu, reloaded %llu",
	      U64(before.evicted_cold), U64(before.reloaded));

	/* libc's process exits: libm's waiting table comes back. */
	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);
	unwinder__tick(u, mono_now() + 18 * NS);
	unwinder__stats(u, &st);
	m = published(pid_b);
	CHECK(st.reloaded == 2 && m && slot_rows(m, LIBM, &same) == (long)libm_rows && same,
	      "unwinder: a refused table is loaded once there is room", "reloaded %llu",
	      U64(st.reloaded));
	unwinder__remove(u, pid_b, b.start_ns, b.exec_id);
	unwinder__free(u);

	/* Room for both: sharing, reuse and expiry. */
	u = new_unwinder(libc_rows + libm_rows);
	CHECK(u != NULL, "unwinder: new", "%s", strerror(errno));
	if (!u)
		return 1;
	fake_instance(&a, pid_a, LIBC, &ma);
	unwinder__add(u, &a);
	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);

	/* a file rewritten in place: the same (dev, inode), new contents,
	 * as a rebuilt binary that got the inode its old version freed */
	{
		char f[] = "/tmp/cprof-test-reused-XXXXXX", cmd[300];
		struct proc_instance c;
		struct procmap mc;
		int ffd = mkstemp(f);

		if (ffd >= 0) {
			close(ffd);
			snprintf(cmd, sizeof(cmd), "cat %s > %s", LIBC, f);
			if (system(cmd) == 0) {
				fake_instance(&c, pid_a + 7, f, &mc);
				unwinder__add(u, &c);
				unwinder__remove(u, pid_a + 7, c.start_ns, c.exec_id);
			}
			snprintf(cmd, sizeof(cmd), "sleep 0.01; cat %s > %s", LIBM, f);
			if (system(cmd) == 0) {
				fake_instance(&b, pid_b, f, &mb);
				CHECK(mb.inode == mc.inode && mb.stamp != mc.stamp,
				      "unwinder: the file keeps its inode, with a new stamp", "not");
				CHECK(unwinder__add(u, &b) == 0, "unwinder: add a new file on a reused inode",
				      "failed");
				m = published(pid_b);
				CHECK(m && m->nr_rows == libm_rows,
				      "unwinder: a new file on a reused inode gets its own table, not the old one's",
				      "%u rows (libc has %zu, libm %zu)", m ? m->nr_rows : 0, libc_rows,
				      libm_rows);
				unwinder__remove(u, pid_b, b.start_ns, b.exec_id);
			}
			unlink(f);
		}
	}

	/* a copy of libc: another inode, the same build id */
	{
		char copy[] = "/tmp/cprof-test-libc-XXXXXX", cmd[256];
		int cfd = mkstemp(copy);

		if (cfd >= 0) {
			close(cfd);
			snprintf(cmd, sizeof(cmd), "cp %s %s", LIBC, copy);
			if (system(cmd) == 0) {
				unwinder__stats(u, &before);
				fake_instance(&b, pid_b, copy, &mb);
				CHECK(unwinder__add(u, &b) == 0, "unwinder: add a copy of libc", "failed");
				unwinder__stats(u, &st);
				CHECK(st.shared == before.shared + 1 && st.rows_used == before.rows_used &&
				      st.objects == before.objects,
				      "unwinder: a copy with libc's build id shares libc's table",
				      "shared %llu, rows %llu -> %llu", U64(st.shared),
				      U64(before.rows_used), U64(st.rows_used));
				m = published(pid_b);
				CHECK(m && m->nr_rows == libc_rows, "unwinder: the copy's mapping has libc's rows",
				      "%u rows", m ? m->nr_rows : 0);
				unwinder__remove(u, pid_b, b.start_ns, b.exec_id);
			}
			unlink(copy);
		}
	}

	/* nothing maps either object now: ten minutes later both are gone */
	{
		uint64_t now = mono_now();

		unwinder__expire(u, now + 300 * NS);
		unwinder__stats(u, &st);
		CHECK(st.expired == 0 && st.objects == 2, "unwinder: idle objects stay for a while",
		      "expired %llu, objects %llu", U64(st.expired), U64(st.objects));
		unwinder__expire(u, now + 601 * NS);
		unwinder__stats(u, &st);
		CHECK(st.expired == 2 && st.objects == 0 && st.rows_used == 0,
		      "unwinder: objects unmapped for ten minutes are removed with their tables",
		      "expired %llu, objects %llu, rows %llu", U64(st.expired), U64(st.objects),
		      U64(st.rows_used));
	}
	fake_instance(&a, pid_a, LIBC, &ma);
	CHECK(unwinder__add(u, &a) == 0 && (m = published(pid_a)) && m->nr_rows == libc_rows &&
	      slot_rows(m, LIBC, &same) == (long)libc_rows && same,
	      "unwinder: an expired object is built again when mapped again", "failed");
	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);
	unwinder__free(u);

	/* Programs of any size: libLLVM and libclang-cpp together are about
	 * two million rows, twice what the one row space of old held. */
	if (access(LLVM, R_OK) || access(CLANG_CPP, R_OK)) {
		SKIP("unwinder: LLVM-size tables", "%s or %s not installed", LLVM, CLANG_CPP);
	} else {
		size_t llvm_rows = rows_of(LLVM), clang_rows = rows_of(CLANG_CPP);

		u = new_unwinder(64ull << 20);
		fake_instance(&a, pid_a, LLVM, &ma);
		fake_instance(&b, pid_b, CLANG_CPP, &mb);
		sampled(&a, 0);
		sampled(&b, 0);
		unwinder__add(u, &a);
		unwinder__add(u, &b);
		unwinder__stats(u, &st);
		printf("# libLLVM: %zu rows, libclang-cpp: %zu rows, built in %.2f s\n", llvm_rows,
		       clang_rows, st.build_ns / 1e9);
		CHECK(st.objects == 2 && st.rows_used == llvm_rows + clang_rows && st.table_full == 0 &&
		      llvm_rows + clang_rows > (1u << 20),
		      "unwinder: libLLVM and libclang-cpp both get their tables",
		      "objects %llu, rows %llu, full %llu", U64(st.objects), U64(st.rows_used),
		      U64(st.table_full));
		m = published(pid_a);
		n = m ? slot_rows(m, NULL, &same) : -1;
		CHECK(n == (long)llvm_rows, "unwinder: libLLVM's slot holds all its rows", "%ld of %zu",
		      n, llvm_rows);
		unwinder__free(u);
	}
	close(procs_fd);
	close(seen_fd);
	close(tables_fd);
	return CHECK_EXIT();
}
