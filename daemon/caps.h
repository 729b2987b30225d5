/* The daemon's capabilities after start-up: what it needs to go on
 * profiling, and nothing it needed only to start. */
#ifndef CPROF_CAPS_H
#define CPROF_CAPS_H

#include <stdint.h>

/* What cprofd keeps once started, as a capability mask:
 *   BPF, PERFMON       perf events for hz= requests, and their programs
 *   SYS_PTRACE         other users' /proc/PID/maps, mem and root
 *   DAC_READ_SEARCH    their binaries and libraries, opened for the parsers
 *   CHECKPOINT_RESTORE /proc/PID/map_files (deleted and replaced binaries);
 *                      SYS_ADMIN instead on kernels before 5.9
 *   SETUID, SETGID     perf maps read as their owner; parsers run as nobody
 *   SETPCAP            parsers drop from their bounding set
 *   KILL               a hung parser, which runs as nobody, is stopped
 * Dropped after start: SYSLOG (kallsyms), SYS_NICE (the events thread's
 * priority), SYS_RESOURCE (the open-file limit) and every other. */
uint64_t caps__runtime(void);

/* Make mask the effective, permitted and bounding sets of every thread of
 * this process (capabilities are per thread: each is told by a signal, as
 * glibc does for setuid). 0, or -errno; a process that is not root has
 * nothing to drop and gets 0. */
int caps__drop_to(uint64_t mask);

/* The effective set of the calling thread. */
uint64_t caps__effective(void);

#endif /* CPROF_CAPS_H */
