#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include "caps.h"
#include "log.h"

#define BIT(c)	(1ull << (c))

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = CAP_LAST_CAP;
		fclose(f);
	}
	return n;
}

uint64_t caps__runtime(void)
{
	uint64_t m = BIT(CAP_SYS_PTRACE) | BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_SETUID) |
		     BIT(CAP_SETGID) | BIT(CAP_SETPCAP) | BIT(CAP_KILL);
	int last = last_cap();

	/* kernels before 5.8 have neither CAP_BPF nor CAP_PERFMON, before
	 * 5.9 no CAP_CHECKPOINT_RESTORE: CAP_SYS_ADMIN stands for them */
	if (last >= CAP_BPF)
		m |= BIT(CAP_BPF) | BIT(CAP_PERFMON);
	if (last >= CAP_CHECKPOINT_RESTORE)
		m |= BIT(CAP_CHECKPOINT_RESTORE);
	else
		m |= BIT(CAP_SYS_ADMIN);
	return m;
}

static uint64_t drop_mask;
static int drop_last;
static int drop_done, drop_err;

/* In one thread: bounding set first, while CAP_SETPCAP is still held. */
static int drop_self(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	for (int c = 0; c <= drop_last && c < 64; c++)
		if (!(drop_mask & BIT(c)) && syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) &&
		    errno != EINVAL)
			return -errno;
	data[0].effective = data[0].permitted = (uint32_t)drop_mask;
	data[1].effective = data[1].permitted = (uint32_t)(drop_mask >> 32);
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

static void on_drop(int sig)
{
	int saved = errno, e = drop_self();

	if (e)
		__atomic_store_n(&drop_err, e, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&drop_done, 1, __ATOMIC_SEQ_CST);
	errno = saved;
}

static uint64_t thread_caps(int tid)
{
	char path[64], line[256];
	uint64_t eff = ~0ull;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;	/* gone */
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7)) {
			eff = strtoull(line + 7, NULL, 16);
			break;
		}
	fclose(f);
	return eff;
}

uint64_t caps__effective(void)
{
	return thread_caps((int)syscall(SYS_gettid));
}

int caps__drop_to(uint64_t mask)
{
	struct sigaction sa = { .sa_handler = on_drop, .sa_flags = SA_RESTART }, old;
	int sig = SIGRTMIN + 3, self = (int)syscall(SYS_gettid), e, round;

	if (geteuid() != 0)
		return 0;
	drop_mask = mask;
	drop_last = last_cap();
	e = drop_self();
	if (e)
		return e;
	sigfillset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old))
		return -errno;
	/* A thread made meanwhile by one not yet told has the old set: go
	 * round until no thread holds more than mask. */
	for (round = 0; round < 10; round++) {
		DIR *dir = opendir("/proc/self/task");
		struct dirent *de;
		int sent = 0, waited = 0, over = 0;

		if (!dir) {
			e = -errno;
			break;
		}
		__atomic_store_n(&drop_done, 0, __ATOMIC_SEQ_CST);
		while ((de = readdir(dir))) {
			int tid = atoi(de->d_name);

			if (tid <= 0 || tid == self || !(thread_caps(tid) & ~mask))
				continue;
			over++;
			if (!syscall(SYS_tgkill, getpid(), tid, sig))
				sent++;
		}
		closedir(dir);
		if (!over)
			break;
		while (__atomic_load_n(&drop_done, __ATOMIC_SEQ_CST) < sent && waited++ < 2000)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		e = __atomic_load_n(&drop_err, __ATOMIC_SEQ_CST);
		if (e)
			break;
	}
	if (!e && round == 10)
		e = -EAGAIN;
	sigaction(sig, &old, NULL);
	return e;
}
