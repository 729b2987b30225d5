// SPDX-License-Identifier: GPL-2.0
/*
 * The program test_unwind compiles (gcc -O2 -fno-optimize-sibling-calls,
 * without frame pointers, and once with them) and runs: it sets up known
 * call chains and, at the end of each, writes a dump of the thread as a
 * sampler would see it: rip, rsp and rbp, the raw stack from rsp to the
 * stack's top, its /proc/self/maps, the functions the chain must unwind
 * to, and the CFA (the caller's rsp after return) of each function of ours
 * on the chain. The chains: plain (a), through qsort (b), a thread (c), a
 * VLA frame (d), taken at a function's first instruction (e), through a
 * call to a noreturn function (f).
 *
 * Usage: unwind_target PREFIX   (writes PREFIX<chain>.dump)
 *
 * Expectation tokens, in walk order: a name is one frame with exactly
 * that name; "?" is one frame, whatever it is; "*" is zero or more frames
 * outside this executable.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define MAX_NOTES 16

struct regs {
	uint64_t ip, sp, bp;
};

struct cfa_note {
	const char *fn;
	uint64_t cfa;
};

static const char *out_prefix;
static volatile int sink;
static struct cfa_note notes[MAX_NOTES];
static int nr_notes;
static uint64_t main_cfa;	/* for dumps taken on the main thread */

/* __builtin_dwarf_cfa() is the CFA as the compiler's own CFI defines it. */
#define NOTE_CFA(fn) note_cfa(fn, (uint64_t)(uintptr_t)__builtin_dwarf_cfa())

NOINLINE static void note_cfa(const char *fn, uint64_t cfa)
{
	if (nr_notes < MAX_NOTES)
		notes[nr_notes++] = (struct cfa_note){ fn, cfa };
}

static void die(const char *what)
{
	fprintf(stderr, "unwind_target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *read_maps(size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap), *tmp;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (!buf || fd < 0)
		die("read /proc/self/maps");
	while ((got = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			tmp = realloc(buf, cap *= 2);
			if (!tmp)
				die("realloc");
			buf = tmp;
		}
	}
	if (got < 0)
		die("read /proc/self/maps");
	close(fd);
	*len = n;
	return buf;
}

/* The highest address of the calling thread's stack: the end of [stack]
 * for the main thread, pthread_getattr_np() for the others. */
static uint64_t stack_top(uint64_t sp, const char *maps, size_t len)
{
	unsigned long long start, end;
	const char *p = maps, *nl;

	if (getpid() != gettid()) {
		pthread_attr_t a;
		void *addr;
		size_t size;

		if (pthread_getattr_np(pthread_self(), &a) ||
		    pthread_attr_getstack(&a, &addr, &size))
			die("pthread_getattr_np");
		pthread_attr_destroy(&a);
		return (uint64_t)(uintptr_t)addr + size;
	}
	while (p < maps + len) {
		nl = memchr(p, '\n', (size_t)(maps + len - p));
		if (!nl)
			nl = maps + len;
		if (memmem(p, (size_t)(nl - p), "[stack]", 7) &&
		    sscanf(p, "%llx-%llx", &start, &end) == 2 && start <= sp && sp < end)
			return end;
		p = nl + 1;
	}
	errno = ENOENT;
	die("no [stack] mapping holds rsp");
	return 0;
}

/* Called by capture() and entry_capture() with the registers they took;
 * everything at or above r->sp is their frame and their callers'. */
__attribute__((used, noinline)) void cprof_dump(const struct regs *r, const char *chain,
						const char *expect)
{
	char path[4096];
	size_t maps_len;
	char *maps = read_maps(&maps_len);
	uint64_t top = stack_top(r->sp, maps, maps_len);
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s%s.dump", out_prefix, chain);
	f = fopen(path, "w");
	if (!f)
		die(path);
	fprintf(f, "cprof-unwind-dump 1\nchain %s\nip %llx\nsp %llx\nbp %llx\ntop %llx\n"
		"expect %s\n", chain, (unsigned long long)r->ip, (unsigned long long)r->sp,
		(unsigned long long)r->bp, (unsigned long long)top, expect);
	for (i = 0; i < nr_notes; i++)
		fprintf(f, "cfa %s %llx\n", notes[i].fn, (unsigned long long)notes[i].cfa);
	if (getpid() == gettid())
		fprintf(f, "cfa main %llx\n", (unsigned long long)main_cfa);
	fprintf(f, "stack %llu\n", (unsigned long long)(top - r->sp));
	fwrite((const void *)(uintptr_t)r->sp, 1, top - r->sp, f);
	fprintf(f, "\nmaps %zu\n", maps_len);
	fwrite(maps, 1, maps_len, f);
	fprintf(f, "\nend\n");
	if (ferror(f) | fclose(f))
		die(path);
	free(maps);
	nr_notes = 0;
}

/* rip (the instruction after the lea, which is in capture), rsp and rbp,
 * all at one point of capture's body. */
NOINLINE void capture(const char *chain, const char *expect)
{
	struct regs r;

	NOTE_CFA("capture");
	__asm__ volatile("lea 0(%%rip), %0\n\t"
			 "mov %%rsp, %1\n\t"
			 "mov %%rbp, %2"
			 : "=&r"(r.ip), "=&r"(r.sp), "=&r"(r.bp));
	cprof_dump(&r, chain, expect);
}

/* entry_capture(regs, chain, expect) takes the registers at its own first
 * instruction, where nothing is pushed yet and the CFA is rsp + 8: the
 * point where a frame-pointer walk loses the immediate caller. */
void entry_capture(struct regs *r, const char *chain, const char *expect);
__asm__(
	"	.text\n"
	"	.globl	entry_capture\n"
	"	.type	entry_capture, @function\n"
	"	.p2align 4\n"
	"entry_capture:\n"
	"	.cfi_startproc\n"
	"	lea	entry_capture(%rip), %rax\n"
	"	mov	%rax, 0(%rdi)\n"
	"	mov	%rsp, 8(%rdi)\n"
	"	mov	%rbp, 16(%rdi)\n"
	"	sub	$8, %rsp\n"
	"	.cfi_adjust_cfa_offset 8\n"
	"	call	cprof_dump\n"
	"	add	$8, %rsp\n"
	"	.cfi_adjust_cfa_offset -8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	entry_capture, .-entry_capture\n");

#define MAIN_END "main * __libc_start_main _start"

/* (a) a plain chain, frames of different shapes */
NOINLINE void level3(int n)
{
	volatile char buf[40];

	NOTE_CFA("level3");
	buf[n % 40] = (char)n;
	capture("plain", "capture level3 level2 level1 " MAIN_END);
	sink += buf[1];
}

NOINLINE void level2(int n)
{
	NOTE_CFA("level2");
	level3(n + 1);
	sink++;
}

NOINLINE void level1(int n)
{
	int a = sink * n, b = sink + n, c = sink ^ n;

	NOTE_CFA("level1");
	level2(n * 2);
	sink += a + b + c;	/* live across the call: callee-saved registers */
}

/* (b) through qsort: libc's frames, without frame pointers */
static int cmp_calls;

NOINLINE int cmp_ints(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	if (++cmp_calls == 3) {
		NOTE_CFA("cmp_ints");
		capture("qsort", "capture cmp_ints * qsort_r sorter " MAIN_END);
	}
	return (x > y) - (x < y);
}

NOINLINE void sorter(int n)
{
	int v[16];

	NOTE_CFA("sorter");
	for (int i = 0; i < 16; i++)
		v[i] = (i * 7919 + n) % 101;
	qsort(v, 16, sizeof(v[0]), cmp_ints);
	sink += v[0];
}

/* (c) a thread: start_thread and clone3 are libc's, and clone3's CFI marks
 * the return address undefined: the walk must end there. */
NOINLINE void leaf_fn(int n)
{
	NOTE_CFA("leaf_fn");
	capture("thread", "capture leaf_fn thread_fn ? ?");
	sink += n;
}

NOINLINE void *thread_fn(void *arg)
{
	NOTE_CFA("thread_fn");
	leaf_fn((int)(uintptr_t)arg);
	sink++;
	return NULL;
}

/* (d) a VLA (the CFA is on rbp), under a function that keeps so much live
 * across its call that it saves rbp among the other callee-saved ones. */
NOINLINE void pressure(int n)
{
	int a = sink + n, b = sink * 3, c = sink ^ 5, d = sink - n, e = sink | 9, f = sink & n,
	    g = sink * n;

	NOTE_CFA("pressure");
	capture("vla", "capture pressure with_vla " MAIN_END);
	sink += a + b * c + d * e + f * g + a * g + b * f;
}

NOINLINE void with_vla(int n)
{
	volatile char buf[n];

	NOTE_CFA("with_vla");
	buf[0] = (char)n;
	buf[n - 1] = 1;
	pressure(n);
	sink += buf[0] + buf[n - 1];
}

/* (e) captured at a function's very first instruction. */
NOINLINE void entry_caller(void)
{
	struct regs r;

	NOTE_CFA("entry_caller");
	entry_capture(&r, "entry", "entry_capture entry_caller " MAIN_END);
	sink += (int)r.ip;
}

/* (f) a call to a noreturn function is its caller's last instruction: the
 * return address is past the caller's end, so it must be looked up one
 * byte back, inside the call. */
NOINLINE __attribute__((noreturn)) void fatal(int n)
{
	NOTE_CFA("fatal");
	capture("noreturn", "capture fatal last_words main * __libc_start_main _start");
	exit(n);
}

NOINLINE void last_words(int n)
{
	NOTE_CFA("last_words");
	sink += n;
	fatal(n - 4);
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: unwind_target PREFIX\n");
		return 2;
	}
	out_prefix = argv[1];
	main_cfa = (uint64_t)(uintptr_t)__builtin_dwarf_cfa();
	level1(3);
	sorter(5);
	with_vla(37 + (sink & 1));
	entry_caller();
	errno = pthread_create(&t, NULL, thread_fn, (void *)(uintptr_t)7);
	if (errno)
		die("pthread_create");
	pthread_join(t, NULL);
	last_words(4);
}
