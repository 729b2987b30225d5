/* C++ allocations of known number and size, for the heap and allocs views:
 * operator new and delete, in libstdc++ (over glibc's malloc) or, as
 * newdel-tcmalloc, tcmalloc's own. It prints "pid N" and "ready", waits for
 * SIGUSR1 (so that a test can attach the profiler first), runs each function
 * below, in this order, prints the ground truth and "done", then waits for
 * SIGTERM and exits 0. SIGTERM before SIGUSR1 ends it too (exit 0).
 *
 *   cpp_leak     500 x new Node (256 bytes), kept
 *   cpp_array    100 x new char[4000], kept
 *   cpp_churn    200,000 x { new Node; write it; delete } (a sized delete:
 *                operator delete(void *, size_t))
 *                one line each:
 *                FUNC alloc_objects N alloc_bytes N inuse_objects N inuse_bytes N
 *   std_vector   push_back of 100,000 ints into a std::vector kept in a
 *                global: its reallocations, each freeing the buffer before,
 *                are calls of operator new from std::vector's code under
 *                std_vector
 *                std_vector final_capacity_bytes N
 *
 * Sizes are the bytes asked for. Each allocation is a call from the
 * function named, never a tail call, and every object is written, so that no
 * compiler leaves one out (new and delete of an unused object may be).
 * usage: newdel */
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <unistd.h>

struct Node {
	Node *next;
	char payload[248];
};
static_assert(sizeof(Node) == 256, "Node is 256 bytes");

struct truth {
	long long alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
};

/* every object kept, by function */
static Node *nodes[500];
static char *arrays[100];
static std::vector<int> kept_vector;

/* the compiler must take p as used */
#define escape(p) asm volatile("" : : "r"(p) : "memory")

static void allocated(truth *t, long long n)
{
	t->alloc_objects++;
	t->alloc_bytes += n;
	t->inuse_objects++;
	t->inuse_bytes += n;
}

static void print_truth(const char *fn, const truth *t)
{
	printf("%s alloc_objects %lld alloc_bytes %lld inuse_objects %lld inuse_bytes %lld\n",
	       fn, t->alloc_objects, t->alloc_bytes, t->inuse_objects, t->inuse_bytes);
}

__attribute__((noinline)) static void cpp_leak(truth *t)
{
	for (int i = 0; i < 500; i++) {
		Node *n = new Node;

		n->next = i ? nodes[i - 1] : nullptr;
		n->payload[0] = 1;
		escape(n);
		nodes[i] = n;
		allocated(t, sizeof(Node));
	}
}

__attribute__((noinline)) static void cpp_array(truth *t)
{
	for (int i = 0; i < 100; i++) {
		char *a = new char[4000];

		a[0] = 1;
		escape(a);
		arrays[i] = a;
		allocated(t, 4000);
	}
}

__attribute__((noinline)) static void cpp_churn(truth *t)
{
	int count = 200000;

	for (int i = 0; i < count; i++) {
		Node *n = new Node;

		n->payload[0] = (char)i;
		escape(n);
		delete n;
	}
	t->alloc_objects += count;
	t->alloc_bytes += (long long)sizeof(Node) * count;
}

__attribute__((noinline)) static void std_vector(void)
{
	for (int i = 0; i < 100000; i++)
		kept_vector.push_back(i);
	escape(kept_vector.data());
}

/* Waits for sig; SIGTERM, meanwhile, ends the process (exit 0), so that
 * a test that gives up on it can still stop it. */
static void wait_for(int sig)
{
	sigset_t set;
	int got = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	do {
		if (sigwait(&set, &got))
			continue;
		if (got == SIGTERM)
			exit(0);
	} while (got != sig);
}

int main()
{
	truth t_leak = {}, t_array = {}, t_churn = {};
	sigset_t sigs;

	/* before anything: a signal sent early waits for its sigwait */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, nullptr);
	printf("pid %d\nready\n", getpid());
	fflush(stdout);
	wait_for(SIGUSR1);

	cpp_leak(&t_leak);
	cpp_array(&t_array);
	cpp_churn(&t_churn);
	std_vector();
	print_truth("cpp_leak", &t_leak);
	print_truth("cpp_array", &t_array);
	print_truth("cpp_churn", &t_churn);
	printf("std_vector final_capacity_bytes %zu\n", kept_vector.capacity() * sizeof(int));
	printf("done\n");
	fflush(stdout);
	wait_for(SIGTERM);
	return 0;
}
