/* /proc/PID/maps: the executable mappings of a process. */
#ifndef CPROF_PROCMAPS_H
#define CPROF_PROCMAPS_H

#include <stddef.h>
#include <stdint.h>

struct procmap {
	uint64_t start, end;		/* [start, end) */
	uint64_t offset;		/* file offset of start */
	uint64_t dev;			/* makedev(major, minor) */
	uint64_t inode;
	/* The file's change time (ns) and size, mixed, when the maps were
	 * read; 0 when unknown. With (dev, inode) it names the file's
	 * contents: a rebuilt binary often gets the inode its old version
	 * freed, but never its change time, which no one can set. */
	uint64_t stamp;
	char *path;			/* file, "[vdso]", or NULL when anonymous */
};

struct procmaps {
	struct procmap *maps;		/* sorted by start */
	size_t nr;
};

/* Parse the text of a maps file, keeping executable mappings only.
 * Malformed lines are skipped. 0 or -errno. */
int procmaps__parse(const char *text, size_t len, struct procmaps *out);
/* Read /proc/PID/maps, and each file's stamp through map_files.
 * 0, -ENOENT/-ESRCH when the process is gone, or -errno. */
int procmaps__read(int pid, struct procmaps *out);
/* The mapping holding addr, or NULL. O(log n). */
const struct procmap *procmaps__find(const struct procmaps *m, uint64_t addr);
/* A deep copy of src into dst. 0 or -ENOMEM (dst then empty). */
int procmaps__copy(struct procmaps *dst, const struct procmaps *src);
/* Heap bytes m holds. */
size_t procmaps__mem(const struct procmaps *m);
void procmaps__clear(struct procmaps *m);

#endif /* CPROF_PROCMAPS_H */
