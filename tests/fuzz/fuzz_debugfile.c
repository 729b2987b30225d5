// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the debug-file lookup (debuginfo.c): an object and
 * the separate debug file it points to, both of which a user may write. The
 * input is a little-endian u32 n, then n bytes of the object (n's top bit
 * cleared), then the debug file. The object is written to DIR/bin/obj; the
 * debug file next to it as DIR/bin/fuzz.debug (what the seeds'
 * .gnu_debuglink names) and, unless n's top bit is set, under
 * DIR/debug/.build-id/ by the object's build id, so the lookup reads the
 * link and its CRC, checks each candidate (ELF, build id, debug sections,
 * CRC), and the symbolizer then reads what it found. Seeds:
 * scripts/fuzz-seeds.sh (stripped programs with their --only-keep-debug
 * files, and mismatched pairs).
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "buildid.h"
#include "debuginfo.h"
#include "dwarfsrc.h"
#include "elfinit.h"
#include "elfobj.h"
#include "fuzz.h"

static char dir[64], obj[96], link_file[96], debug_dir[96];
static struct debuginfo *di;

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(p);
	return 0;
}

static void cleanup(void)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int setup(void)
{
	char p[128];

	snprintf(dir, sizeof(dir), "/dev/shm/fuzz_debugfile.%d", (int)getpid());
	snprintf(obj, sizeof(obj), "%s/bin/obj", dir);
	snprintf(link_file, sizeof(link_file), "%s/bin/fuzz.debug", dir);
	snprintf(debug_dir, sizeof(debug_dir), "%s/debug", dir);
	mkdir(dir, 0700);
	atexit(cleanup);
	snprintf(p, sizeof(p), "%s/bin", dir);
	mkdir(p, 0700);
	mkdir(debug_dir, 0700);
	snprintf(p, sizeof(p), "%s/.build-id", debug_dir);
	mkdir(p, 0700);
	di = debuginfo__new(&(struct debuginfo_opts){ .debug_dir = debug_dir });
	return di && elf_ready() ? 0 : -1;
}

/* The debug file where a build-id lookup finds it; its path in *out. */
static int place_by_build_id(const uint8_t *d, size_t n, char *out, size_t len)
{
	char hex[BUILD_ID_MAX * 2 + 1], sub[160];
	struct build_id id = { .len = 0 };
	Elf *elf;
	int fd;

	fd = open(obj, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf)
		build_id__read(elf, &id);
	elf_end(elf);
	close(fd);
	if (id.len < 2)
		return -1;
	build_id__hex(&id, hex);
	snprintf(sub, sizeof(sub), "%s/.build-id/%.2s", debug_dir, hex);
	mkdir(sub, 0700);
	snprintf(out, len, "%s/%s.debug", sub, hex + 2);
	return fuzz_write_input(out, d, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srcline fr[8];
	char by_id[256];
	struct elfobj *o;
	uint64_t v, start;
	uint32_t n, by_link;
	Elf *elf;
	char *found;
	int fd;

	if (!di && setup())
		return 0;
	if (size < 4)
		return 0;
	memcpy(&n, data, 4);
	by_link = n >> 31;
	n &= ~(1u << 31);
	data += 4;
	size -= 4;
	if (n > size)
		n = (uint32_t)size;
	if (fuzz_write_input(obj, data, n) || fuzz_write_input(link_file, data + n, size - n))
		return 0;
	by_id[0] = '\0';
	if (!by_link)
		place_by_build_id(data + n, size - n, by_id, sizeof(by_id));

	/* the lookup alone: whatever it returns is one of the candidates */
	fd = open(obj, O_RDONLY | O_CLOEXEC);
	elf = fd >= 0 ? elf_begin(fd, ELF_C_READ, NULL) : NULL;
	found = elf ? debuginfo__find(di, elf, obj, "") : NULL;
	if (found)
		FUZZ_CHECK(!strcmp(found, link_file) || !strcmp(found, by_id));
	free(found);
	elf_end(elf);
	if (fd >= 0)
		close(fd);

	/* and as the symbolizer uses it: names and lines from what it found */
	o = elfobj__open(obj, &(struct elfobj_debug){ .debuginfo = di, .path = obj, .root = "" });
	for (uint64_t off = 0; o && off < n; off += 1024) {
		if (elfobj__offset_to_vaddr(o, off, &v))
			continue;
		elfobj__lookup(o, v, &start);
		FUZZ_CHECK(elfobj__symbolize(o, v, fr, 8) <= 8);
	}
	elfobj__free(o);
	unlink(link_file);
	if (by_id[0])
		unlink(by_id);
	return 0;
}
