/* The unwinder's loader: tables shared between processes and between files
 * with one build id, kept while idle, evicted when the row space is needed,
 * removed after a minute unmapped, and "full" counted when it cannot be
 * had; a rebuilt file on a reused inode gets its own table. Uses a real BPF hash map for the published processes
 * (root), and ordinary memory for the row and mapping spaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "check.h"
#include "proctab.h"
#include "unwind_table.h"
#include "unwinder.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LIBM "/usr/lib/x86_64-linux-gnu/libm.so.6"

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
	m->stamp = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
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

int main(void)
{
	struct unwinder_stats st;
	struct proc_instance a, b;
	struct procmap ma, mb;
	struct unwind_proc pub;
	struct unwinder *u;
	size_t libc_rows, libm_rows;
	void *rows, *maps;
	uint32_t pid_a = getpid(), pid_b = getppid();
	int fd;

	if (geteuid()) {
		SKIP("unwinder", "needs root for a BPF map");
		return 0;
	}
	libc_rows = rows_of(LIBC);
	libm_rows = rows_of(LIBM);
	if (!libc_rows || !libm_rows) {
		SKIP("unwinder", "no call-frame information in %s or %s", LIBC, LIBM);
		return 0;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "test_procs", sizeof(uint32_t),
			    sizeof(struct unwind_proc), 16, NULL);
	if (fd < 0) {
		SKIP("unwinder", "cannot create a BPF map: %s", strerror(errno));
		return 0;
	}
	/* room for either library, not both */
	rows = calloc(libc_rows + libm_rows - 1, sizeof(struct unwind_row));
	maps = calloc(64, sizeof(struct unwind_mapping));
	u = unwinder__new(rows, (uint32_t)(libc_rows + libm_rows - 1), maps, 64, fd);
	CHECK(u != NULL, "unwinder: new", "%s", strerror(errno));
	if (!u)
		return 1;

	fake_instance(&a, pid_a, LIBC, &ma);
	CHECK(unwinder__add(u, &a) == 0, "unwinder: add a process mapping libc", "failed");
	CHECK(!bpf_map_lookup_elem(fd, &pid_a, &pub) && pub.nr_maps == 1 && pub.start_ns == a.start_ns,
	      "unwinder: the process is published with its instance", "nr_maps %u", pub.nr_maps);
	unwinder__stats(u, &st);
	CHECK(st.rows_used == libc_rows && st.objects == 1, "unwinder: libc's rows are loaded",
	      "%llu rows, %llu objects", (unsigned long long)st.rows_used,
	      (unsigned long long)st.objects);

	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);
	unwinder__stats(u, &st);
	CHECK(bpf_map_lookup_elem(fd, &pid_a, &pub) && st.processes == 0,
	      "unwinder: a removed process is unpublished", "still there");
	CHECK(st.rows_used == libc_rows, "unwinder: an idle object keeps its rows", "%llu rows",
	      (unsigned long long)st.rows_used);

	fake_instance(&b, pid_b, LIBM, &mb);
	CHECK(unwinder__add(u, &b) == 0, "unwinder: add a process mapping libm", "failed");
	unwinder__stats(u, &st);
	CHECK(st.evicted == 1 && st.table_full == 0 && st.rows_used == libm_rows,
	      "unwinder: libc's idle rows were evicted to make room",
	      "evicted %llu, full %llu, rows %llu", (unsigned long long)st.evicted,
	      (unsigned long long)st.table_full, (unsigned long long)st.rows_used);
	if (!bpf_map_lookup_elem(fd, &pid_b, &pub)) {
		const struct unwind_mapping *m = (const struct unwind_mapping *)maps + pub.first_map;
		struct unwind_table t = { 0 };

		unwind_table__build(LIBM, &t);
		CHECK(m->nr_rows == t.nr && !memcmp((struct unwind_row *)rows + m->first_row, t.rows,
						    t.nr * sizeof(t.rows[0])),
		      "unwinder: the published mapping points at libm's own rows", "mismatch");
		CHECK(m->start == mb.start && m->end == mb.end && m->bias == mb.start,
		      "unwinder: the mapping's range and load bias", "bias %llx",
		      (unsigned long long)m->bias);
		unwind_table__clear(&t);
	}

	/* libm is in use: libc cannot have its rows back. */
	CHECK(unwinder__add(u, &a) == 0, "unwinder: add libc again while libm is in use", "failed");
	unwinder__stats(u, &st);
	CHECK(st.table_full == 1, "unwinder: no room is counted as table full", "full %llu",
	      (unsigned long long)st.table_full);
	if (!bpf_map_lookup_elem(fd, &pid_a, &pub)) {
		const struct unwind_mapping *m = (const struct unwind_mapping *)maps + pub.first_map;

		CHECK(m->nr_rows == 0, "unwinder: without rows the mapping falls back to frame pointers",
		      "%u rows", m->nr_rows);
	}
	unwinder__free(u);
	free(rows);
	free(maps);

	/* A second unwinder with room for both: sharing, reuse and expiry. */
	rows = calloc(libc_rows + libm_rows, sizeof(struct unwind_row));
	maps = calloc(64, sizeof(struct unwind_mapping));
	u = unwinder__new(rows, (uint32_t)(libc_rows + libm_rows), maps, 64, fd);
	CHECK(u != NULL, "unwinder: new", "%s", strerror(errno));
	if (!u)
		return 1;
	fake_instance(&a, pid_a, LIBC, &ma);
	unwinder__add(u, &a);
	unwinder__remove(u, pid_a, a.start_ns, a.exec_id);

	/* libm given libc's (dev, inode) and another mtime: what a rebuilt
	 * binary looks like when it gets the inode its old version freed */
	fake_instance(&b, pid_b, LIBM, &mb);
	mb.dev = ma.dev;
	mb.inode = ma.inode;
	mb.stamp = ma.stamp + 1;
	CHECK(unwinder__add(u, &b) == 0, "unwinder: add a new file on a reused inode", "failed");
	if (!bpf_map_lookup_elem(fd, &pid_b, &pub)) {
		const struct unwind_mapping *m = (const struct unwind_mapping *)maps + pub.first_map;

		CHECK(m->nr_rows == libm_rows,
		      "unwinder: a new file on a reused inode gets its own table, not the old one's",
		      "%u rows (libc has %zu, libm %zu)", m->nr_rows, libc_rows, libm_rows);
	}
	unwinder__remove(u, pid_b, b.start_ns, b.exec_id);

	/* a copy of libc: another inode, the same build id */
	{
		char copy[] = "/tmp/cprof-test-libc-XXXXXX", cmd[256];
		int cfd = mkstemp(copy);

		if (cfd >= 0) {
			close(cfd);
			snprintf(cmd, sizeof(cmd), "cp %s %s", LIBC, copy);
			if (system(cmd) == 0) {
				struct unwinder_stats before;

				unwinder__stats(u, &before);
				fake_instance(&b, pid_b, copy, &mb);
				CHECK(unwinder__add(u, &b) == 0, "unwinder: add a copy of libc", "failed");
				unwinder__stats(u, &st);
				CHECK(st.shared == before.shared + 1 && st.rows_used == before.rows_used &&
				      st.objects == before.objects,
				      "unwinder: a copy with libc's build id shares libc's table",
				      "shared %llu, rows %llu -> %llu", (unsigned long long)st.shared,
				      (unsigned long long)before.rows_used,
				      (unsigned long long)st.rows_used);
				if (!bpf_map_lookup_elem(fd, &pid_b, &pub)) {
					const struct unwind_mapping *m =
						(const struct unwind_mapping *)maps + pub.first_map;

					CHECK(m->nr_rows == libc_rows, "unwinder: the copy's mapping has libc's rows",
					      "%u rows", m->nr_rows);
				}
				unwinder__remove(u, pid_b, b.start_ns, b.exec_id);
			}
			unlink(copy);
		}
	}

	/* nothing maps either object now: a minute later both are gone */
	{
		struct timespec ts;
		uint64_t now;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		unwinder__expire(u, now + 30ull * 1000000000ull);
		unwinder__stats(u, &st);
		CHECK(st.expired == 0 && st.objects == 2, "unwinder: idle objects stay for a while",
		      "expired %llu, objects %llu", (unsigned long long)st.expired,
		      (unsigned long long)st.objects);
		unwinder__expire(u, now + 61ull * 1000000000ull);
		unwinder__stats(u, &st);
		CHECK(st.expired == 2 && st.objects == 0 && st.rows_used == 0,
		      "unwinder: objects unmapped for a minute are removed with their rows",
		      "expired %llu, objects %llu, rows %llu", (unsigned long long)st.expired,
		      (unsigned long long)st.objects, (unsigned long long)st.rows_used);
	}
	fake_instance(&a, pid_a, LIBC, &ma);
	CHECK(unwinder__add(u, &a) == 0 && !bpf_map_lookup_elem(fd, &pid_a, &pub) &&
	      ((const struct unwind_mapping *)maps)[pub.first_map].nr_rows == libc_rows,
	      "unwinder: an expired object is built again when mapped again", "failed");
	unwinder__free(u);
	free(rows);
	free(maps);
	close(fd);
	return CHECK_EXIT();
}
