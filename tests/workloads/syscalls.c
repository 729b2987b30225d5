/* A syscall-heavy workload: most of its CPU time is spent in the kernel,
 * writing to /dev/null, so kernel frames must show in its profile.
 * usage: syscalls SECONDS */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) void write_loop(int fd, double seconds)
{
	static char buf[4096];
	time_t end = time(NULL) + (time_t)seconds;

	while (time(NULL) < end)
		for (int i = 0; i < 1000; i++)
			if (write(fd, buf, sizeof(buf)) < 0)
				return;
}

int main(int argc, char **argv)
{
	int fd = open("/dev/null", O_WRONLY);

	printf("pid %d\n", getpid());
	fflush(stdout);
	write_loop(fd, argc > 1 ? atof(argv[1]) : 10);
	return 0;
}
