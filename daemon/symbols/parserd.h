/* The parser process: where cprofd parses the files of other users (ELF,
 * DWARF, .eh_frame, pclntab, debug files), so that a hostile or broken file
 * costs only that process, which the daemon kills and starts again (see
 * isolate.h). It is cprofd itself, run as `cprofd --parser ROLE` on a socket
 * at descriptor 3: bounded in memory (RLIMIT_DATA), without core dumps,
 * killed with the daemon, and without root's powers: it runs as nobody with
 * only CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (read any file, reach a
 * process's files through /proc/PID/root), and cannot gain more.
 *
 * The handlers below are what it does for each request; the daemon's tests
 * also call them in its own process. Requests and replies (ipc.h payloads):
 *
 * IPC_SYMBOLIZE, with the object's file descriptor when the daemon could
 * open it: u64 dev, inode, stamp; u32 errno of the daemon's open (0: the
 * descriptor came); str path (as its process sees it), str root
 * ("/proc/PID/root"); u32 n; n x u64 file offsets. Reply: str build id;
 * u32 PARSERD_F_* flags; u32 n; then for each offset u32 nr of frames
 * (innermost first, at most DWARFSRC_FRAMES_MAX) and for each frame str
 * function, str system name, str file, u32 line.
 *
 * IPC_TABLE, with the object's descriptor: the reply is u64 nr of rows,
 * u64 FDEs, Go functions, unsupported rows, PLT rows, u32 from .debug_frame,
 * then the rows (struct unwind_row), sorted by pc.
 *
 * IPC_TRIM: the symbol cache is trimmed; the reply is struct
 * parserd_trim_stats.
 *
 * IPC_IDENTIFY, with the object's descriptor: the reply is str build id
 * (hex, NULL when none), u32 nr of PT_LOAD segments (at most
 * PARSERD_MAX_LOADS, the first ones), then u64 offset, vaddr and file size
 * of each.
 */
#ifndef CPROF_PARSERD_H
#define CPROF_PARSERD_H

#include <stddef.h>
#include <stdint.h>
#include "buildid.h"
#include "debuginfo.h"
#include "ipc.h"
#include "symcache.h"

#define PARSERD_F_DWARF		1u	/* files, lines and inlined frames */
#define PARSERD_F_FUNCTIONS	2u	/* function names of its own */

#define PARSERD_MAX_LOADS	16

/* What IPC_IDENTIFY tells of an object. */
struct parserd_identity {
	char build_id[BUILD_ID_MAX * 2 + 1];	/* hex, "" when none */
	int nr_loads;
	struct { uint64_t offset, vaddr, filesz; } loads[PARSERD_MAX_LOADS];
};

/* Offsets in one request at most: a bigger batch is split by the daemon. */
#define PARSERD_MAX_OFFSETS	65536u

struct parserd_trim_stats {
	struct symcache_stats symcache;
	struct debuginfo_stats debuginfo;
};

/* cprofd --parser ROLE [--memory BYTES] [-v]: serve requests on
 * descriptor 3 until it closes. The process's exit status. */
int parserd__main(int argc, char **argv);

/* The parser's side: a request in, its reply written to out. 0 or -errno. */
int parserd__symbolize(struct symcache *c, const void *req, size_t len, int fd,
		       struct wbuf *out);
int parserd__table(int fd, struct wbuf *out);
int parserd__trim(struct symcache *c, struct debuginfo *d, struct wbuf *out);
int parserd__identify(int fd, struct wbuf *out);

/* The daemon's side: replies read as hostile input (a parser a file has
 * subverted could send anything). -EPROTO when malformed. */
struct unwind_table;
struct srcline;
/* An IPC_IDENTIFY reply. */
int parserd__read_identity(const void *payload, size_t len, struct parserd_identity *id);
/* An IPC_TABLE reply into t (rows malloc'd, sorted by pc). */
int parserd__read_table(const void *payload, size_t len, struct unwind_table *t);
/* An IPC_SYMBOLIZE reply for n offsets: fn gets each offset's frames (in
 * the order asked), pointing into payload; a nonzero return stops the read
 * and is returned. The build id (at most PARSERD_BUILD_ID_MAX characters)
 * and flags also point into payload. */
#define PARSERD_BUILD_ID_MAX	256
typedef int (*parserd_frames_fn)(void *arg, uint32_t i, const struct srcline *frames, uint32_t nr);
int parserd__read_frames(const void *payload, size_t len, uint32_t n, const char **build_id,
			 uint32_t *flags, parserd_frames_fn fn, void *arg);

#endif /* CPROF_PARSERD_H */
