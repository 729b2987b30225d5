/* A JIT in miniature: copies a counting loop into executable anonymous
 * memory, says so in /tmp/perf-PID.map as JITs do, and runs it for argv[1]
 * seconds. Its frames must be named from the map. x86-64 only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

/* mov rax, rdi; 1: test rax, rax; je 2f; dec rax; jmp 1b; 2: ret */
static const unsigned char countdown[] = {
	0x48, 0x89, 0xf8, 0x48, 0x85, 0xc0, 0x74, 0x05,
	0x48, 0xff, 0xc8, 0xeb, 0xf6, 0xc3,
};

int main(int argc, char **argv)
{
	time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 10);
	uint64_t (*fn)(uint64_t);
	char path[64];
	FILE *map;
	void *code;

	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return 1;
	memcpy((char *)code + 64, countdown, sizeof(countdown));
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", getpid());
	map = fopen(path, "w");
	if (!map)
		return 1;
	fprintf(map, "%lx %zx jit_countdown_loop\n", (unsigned long)code + 64, sizeof(countdown));
	fclose(map);
	fn = (uint64_t (*)(uint64_t))((char *)code + 64);
	printf("pid %d\n", getpid());
	fflush(stdout);
	while (time(NULL) < end)
		fn(50000000);
	unlink(path);
	return 0;
}
