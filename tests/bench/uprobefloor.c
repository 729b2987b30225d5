// uprobefloor PID SITE...: the floors of tests/bench/heap.sh. Attaches an
// empty BPF program at each SITE, in process PID only, prints "attached" and
// waits for SIGINT or SIGTERM.
//
// SITE is PATH:OFFSET:HOW, OFFSET a file offset (decimal or 0x hex), HOW one of
//   entry           an entry probe as bpftrace and bcc attach one: a perf event
//                   of the kernel's uprobe PMU, opened for the pid, carrying a
//                   program that returns 0
//   return          the same, a return probe
//   session         a uprobe session link (BPF_TRACE_UPROBE_SESSION, 6.13), as
//                   cprofd attaches: a program that returns 1 at entry, which
//                   cancels the return
//   session+return  the same, the program returning 0: it runs at entry and at
//                   return
//
// Why not bpftrace alone: Debian 12's bpftrace 0.17 is built without
// ALLOW_UNSAFE_PROBE and without a disassembler, so it refuses any uprobe not
// at a symbol's start (uprobe:...libc.so.6:free+3 fails with "Can't check if
// uprobe is in proper place"); and it has no sessions.
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>

#define MAX_SITES 16
#define PMU "/sys/bus/event_source/devices/uprobe/"
// the kernel's attach type for uprobe sessions, which the uapi headers of
// Debian 12 do not name
#define ATTACH_UPROBE_SESSION 57

// bpf(BPF_LINK_CREATE) for a uprobe_multi link, as the kernel lays it out
// (libbpf 1.1 and these headers do not know it)
struct link_create_uprobe_multi {
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, multi_flags, pid, _pad;
	uint8_t rest[64];	// the rest of union bpf_attr: zero
};

static volatile sig_atomic_t done;

static void on_signal(int sig)
{
	(void)sig;
	done = 1;
}

// the number in sysfs file PATH after PREFIX (the PMU's type; the bit of its
// "config:N" retprobe flag); -1 if unreadable
static int sysfs_int(const char *path, const char *prefix)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	int v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && !strncmp(buf, prefix, strlen(prefix)))
		v = atoi(buf + strlen(prefix));
	fclose(f);
	return v;
}

// an empty program NAME returning RET; attached by a perf event (attach
// type 0) or a session link
static int load(const char *name, int ret, int attach_type)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = (enum bpf_attach_type)attach_type);
	int fd = bpf_prog_load(BPF_PROG_TYPE_KPROBE, name, "GPL", insns, 2, &o);

	if (fd < 0)
		fprintf(stderr, "uprobefloor: the kernel refused an empty program%s: %s\n",
			attach_type ? " for uprobe sessions (a kernel before 6.13?)" : "", strerror(-fd));
	return fd;
}

static int attach_perf(int prog, const char *path, uint64_t off, int ret, int pid)
{
	static int type = -2, retbit = -2;
	struct perf_event_attr attr = { .size = sizeof(attr), .sample_period = 1, .wakeup_events = 1 };
	int fd;

	if (type == -2) {
		type = sysfs_int(PMU "type", "");
		retbit = sysfs_int(PMU "format/retprobe", "config:");
	}
	if (type < 0 || retbit < 0 || retbit > 63) {
		fprintf(stderr, "uprobefloor: no uprobe PMU in " PMU ": the kernel lacks CONFIG_UPROBE_EVENTS\n");
		return -1;
	}
	attr.type = type;
	attr.config = ret ? 1ull << retbit : 0;
	attr.config1 = (uint64_t)(uintptr_t)path;
	attr.config2 = off;
	fd = syscall(SYS_perf_event_open, &attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int attach_session(int prog, const char *path, uint64_t off, int pid)
{
	struct link_create_uprobe_multi attr = { 0 };

	attr.prog_fd = prog;
	attr.attach_type = ATTACH_UPROBE_SESSION;
	attr.path = (uint64_t)(uintptr_t)path;
	attr.offsets = (uint64_t)(uintptr_t)&off;
	attr.cnt = 1;
	attr.pid = pid;
	return syscall(SYS_bpf, BPF_LINK_CREATE, &attr, sizeof(attr));
}

int main(int argc, char **argv)
{
	int fds[MAX_SITES], nfd = 0, prog_perf = -1, prog_cancel = -1, prog_session = -1;
	int pid, i, rc = 1;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stop, old;

	if (argc < 3 || argc - 2 > MAX_SITES) {
		fprintf(stderr, "usage: uprobefloor PID PATH:OFFSET:HOW... (at most %d; HOW: entry, return,\n"
				"       session, session+return)\n", MAX_SITES);
		return 2;
	}
	pid = atoi(argv[1]);
	for (i = 2; i < argc; i++) {
		char *path = strdup(argv[i]), *how, *off, *end;
		uint64_t offset;
		int fd;

		how = strrchr(path, ':');
		if (how)
			*how++ = 0;
		off = strrchr(path, ':');
		if (!how || !off) {
			fprintf(stderr, "uprobefloor: %s: expected PATH:OFFSET:HOW\n", argv[i]);
			goto out;
		}
		*off++ = 0;
		errno = 0;
		offset = strtoull(off, &end, 0);
		if (errno || end == off || *end) {
			fprintf(stderr, "uprobefloor: %s: bad offset %s\n", argv[i], off);
			goto out;
		}
		if (!strcmp(how, "entry") || !strcmp(how, "return")) {
			if (prog_perf < 0 && (prog_perf = load("floor_perf", 0, 0)) < 0)
				goto out;
			fd = attach_perf(prog_perf, path, offset, how[0] == 'r', pid);
		} else if (!strcmp(how, "session")) {
			if (prog_cancel < 0 && (prog_cancel = load("floor_cancel", 1, ATTACH_UPROBE_SESSION)) < 0)
				goto out;
			fd = attach_session(prog_cancel, path, offset, pid);
		} else if (!strcmp(how, "session+return")) {
			if (prog_session < 0 && (prog_session = load("floor_session", 0, ATTACH_UPROBE_SESSION)) < 0)
				goto out;
			fd = attach_session(prog_session, path, offset, pid);
		} else {
			fprintf(stderr, "uprobefloor: %s: HOW is entry, return, session or session+return\n", argv[i]);
			goto out;
		}
		if (fd < 0) {
			fprintf(stderr, "uprobefloor: cannot probe %s in pid %d: %s\n", argv[i], pid, strerror(errno));
			goto out;
		}
		fds[nfd++] = fd;	// the path stays allocated while the probe is attached
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("attached\n");
	fflush(stdout);
	while (!done)
		sigsuspend(&old);
	rc = 0;
out:
	while (nfd)
		close(fds[--nfd]);
	if (prog_perf >= 0)
		close(prog_perf);
	if (prog_cancel >= 0)
		close(prog_cancel);
	if (prog_session >= 0)
		close(prog_session);
	return rc;
}
