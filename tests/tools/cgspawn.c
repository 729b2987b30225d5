/* cgspawn: start a program directly in a cgroup v2 directory, as systemd
 * starts services (clone3 with CLONE_INTO_CGROUP): the child is never moved
 * there and its parent is not in it, so only a match at exec can find it.
 *   cgspawn CGROUP_DIR PIDFILE PROGRAM [ARG]...
 * Writes the child's pid to PIDFILE, waits for it, and exits as it did (1
 * when clone3 or CLONE_INTO_CGROUP is not there: kernels before 5.7). */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct clone_args args;
	int fd, status;
	long pid;
	FILE *f;

	if (argc < 4) {
		fprintf(stderr, "usage: cgspawn CGROUP_DIR PIDFILE PROGRAM [ARG]...\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cgspawn: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (uint64_t)fd;
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		fprintf(stderr, "cgspawn: clone3 into %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execv(argv[3], argv + 3);
		fprintf(stderr, "cgspawn: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	f = fopen(argv[2], "we");
	if (!f || fprintf(f, "%ld\n", pid) < 0 || fclose(f)) {
		fprintf(stderr, "cgspawn: %s: %s\n", argv[2], strerror(errno));
		kill((pid_t)pid, SIGKILL);
	}
	if (waitpid((pid_t)pid, &status, 0) < 0)
		return 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
