/* Separate debug information for ELF objects: local debug directories,
 * .gnu_debuglink, the debuginfod client cache, background debuginfod fetches
 * and MiniDebugInfo (.gnu_debugdata). */
#ifndef CPROF_DEBUGINFO_H
#define CPROF_DEBUGINFO_H

#include <stdbool.h>
#include <stdint.h>
#include <gelf.h>

struct debuginfo_opts {
	const char *debug_dir;	/* NULL: /usr/lib/debug */
	bool debuginfod;	/* ask the servers in $DEBUGINFOD_URLS (off when unset or empty) */
};

struct debuginfo;

/* $DEBUGINFOD_URLS and the cache location ($DEBUGINFOD_CACHE_PATH, else
 * libdebuginfod's defaults) are read here, once; the fetch worker's
 * libdebuginfod reads the environment again, so do not change it while an
 * instance with debuginfod on is alive. NULL and errno on failure. */
struct debuginfo *debuginfo__new(const struct debuginfo_opts *opts);

/*
 * A separate file holding the DWARF and full symbol table of the object `elf`
 * (already open). path: the object's path as the process sees it (e.g.
 * /usr/bin/x); root: prefix for reaching that path from the host ("" or
 * "/proc/PID/root").
 *
 * Looks, in order, at: debug_dir/.build-id/xx/rest.debug (host, then under
 * root); .gnu_debuglink next to the object, in its .debug/ dir, and under
 * debug_dir + the object's dir (host, then under root), each candidate's
 * CRC32 checked against the debuglink and its build id (when both have one)
 * against the object's; then the debuginfod client cache. A candidate must
 * also hold a symbol table or DWARF.
 *
 * Returns a malloc'd path, or NULL with errno ENOENT. When debuginfod is on
 * and nothing was found, it queues a fetch on a worker thread and returns
 * NULL with errno EAGAIN: a later call returns the file once fetched. EAGAIN
 * also when the queue is full (the request is counted as dropped and queued
 * again by a later call). Never blocks on the network. Failed fetches are
 * remembered (retried after 10 min). Call from one thread at a time.
 */
char *debuginfo__find(struct debuginfo *d, Elf *elf, const char *path, const char *root);

/* MiniDebugInfo: the xz-compressed ELF in .gnu_debugdata (Fedora, CentOS
 * ship it), decompressed (at most 64 MiB) and opened with elf_memory. NULL,
 * errno ENOENT when there is none (EBADMSG: corrupt, EFBIG: too big). *image
 * gets the buffer: free it after elf_end(). */
Elf *debuginfo__minidebuginfo(Elf *elf, void **image);

struct debuginfo_stats {
	uint64_t found_local;	/* finds answered from disk (incl. the debuginfod cache) */
	uint64_t fetched;	/* debuginfod fetches that succeeded */
	uint64_t fetch_failed;	/* ... that failed */
	uint64_t pending;	/* fetches queued or in flight now */
	uint64_t dropped;	/* fetches not queued: queue full */
};

void debuginfo__stats(struct debuginfo *d, struct debuginfo_stats *st);
/* NULL-safe; stops and joins the worker (aborting a fetch in flight). */
void debuginfo__free(struct debuginfo *d);

#endif /* CPROF_DEBUGINFO_H */
