/* floor OBJECT [PROGRAM...]: load the BPF object (build/tests/floor.bpf.o),
 * attach the named programs (all of them when none is named), print
 * "attached" and wait for SIGINT or SIGTERM. The offcpu benchmark's floor. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>

static volatile sig_atomic_t done;

static void on_signal(int sig)
{
	done = 1;
}

int main(int argc, char **argv)
{
	struct bpf_link *links[8] = { 0 };
	struct bpf_program *prog;
	struct bpf_object *obj;
	int n = 0, rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: floor OBJECT [PROGRAM...]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) {
		fprintf(stderr, "floor: cannot open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (bpf_object__load(obj)) {
		fprintf(stderr, "floor: the kernel refused %s\n", argv[1]);
		goto out;
	}
	bpf_object__for_each_program(prog, obj) {
		bool want = argc == 2;

		for (int i = 2; i < argc; i++)
			want |= !strcmp(argv[i], bpf_program__name(prog));
		if (!want || n == 8)
			continue;
		links[n] = bpf_program__attach(prog);
		if (!links[n]) {
			fprintf(stderr, "floor: cannot attach %s: %s\n", bpf_program__name(prog),
				strerror(errno));
			goto out;
		}
		n++;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("attached %d\n", n);
	fflush(stdout);
	while (!done)
		pause();
	rc = 0;
out:
	for (int i = 0; i < n; i++)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	return rc;
}
