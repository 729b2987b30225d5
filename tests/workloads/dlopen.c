/* Burns CPU in its own code until SIGUSR1 (at most 10 s), so that a test
 * can first see cprofd walk it with its tables, then loads LIB with dlopen
 * and burns SECONDS inside it.
 * usage: dlopen LIB SECONDS */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

__attribute__((noipa)) void warm_up(void)
{
	time_t end = time(NULL) + 10;

	while (!go && time(NULL) < end)
		for (int i = 0; i < 100000; i++)
			sink += i;
}

int main(int argc, char **argv)
{
	void (*burn)(double);
	void *lib;

	if (argc < 3) {
		fprintf(stderr, "usage: dlopen LIB SECONDS\n");
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	printf("pid %d\n", getpid());
	fflush(stdout);
	warm_up();
	lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	printf("loaded\n");
	fflush(stdout);
	burn = (void (*)(double))dlsym(lib, "burn_in_lib");
	if (!burn)
		return 1;
	burn(atof(argv[2]));
	return 0;
}
