// SPDX-License-Identifier: GPL-2.0
/*
 * Symbol demangling for C++ (Itanium ABI) and Rust, done by libiberty, the
 * demangler binutils and gcc use, so that our names read exactly like those
 * of addr2line -C, c++filt -i and perf.
 *
 * Only libiberty's callback entry points are used: they allocate nothing
 * through xmalloc (which exits the process when memory runs out); the text
 * arrives in pieces that we collect in a buffer of our own. A static link
 * of libiberty.a then pulls in cp-demangle.o, rust-demangle.o and
 * safe-ctype.o, all position-independent, so a PIE links fine.
 *
 * Rust is tried first: a legacy Rust name is also a valid C++ name
 * (_ZN...17h<hash>E), and the C++ demangler would keep the hash as a last
 * path component.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <libiberty/demangle.h>

#include "hostile.h"
#include "demangle.h"

/* No DMGL_VERBOSE: std::string stays std::string and Rust loses its hash. */
#define DEMANGLE_OPTS	(DMGL_PARAMS | DMGL_ANSI)

/* A Rust name's demangling may take this much of the thread's CPU. */
#define DEMANGLE_CPU_NS	(50 * 1000000L)

struct dm_buf {
	char *s;
	size_t len, cap;
	bool oom;
	bool timed;		/* the CPU timer is armed */
	sigjmp_buf out;		/* past DEMANGLE_MAX_OUT or the CPU limit: back to demangle() */
};

/* The Rust demangler can also run away printing nothing: a crafted binder
 * of 2^60 lifetimes is a loop whose text is all skipped, so the limit on
 * the text never comes. A timer on the thread's CPU clock ends it: its
 * signal leaves the demangler as the text limit does. */
static __thread struct dm_buf *volatile dm_active;
/* in dm_append's realloc, which the timer must not leave by a jump: it
 * notes that the time is up, and dm_append jumps once out of it */
static __thread volatile sig_atomic_t dm_busy, dm_expired;
static __thread timer_t dm_timer;
static __thread int dm_timer_state;	/* 0: not made yet, 1: made, -1: cannot be */
static pthread_once_t dm_handler_once = PTHREAD_ONCE_INIT;

static int dm_signal(void)
{
	return SIGRTMIN + 4;	/* caps.c has SIGRTMIN + 3 */
}

static void dm_on_timer(int sig)
{
	struct dm_buf *b = dm_active;

	(void)sig;
	if (b && dm_busy)
		dm_expired = 1;
	else if (b)
		siglongjmp(b->out, 2);
}

static void dm_install(void)
{
	struct sigaction sa = { .sa_handler = dm_on_timer };

	sigemptyset(&sa.sa_mask);
	sigaction(dm_signal(), &sa, NULL);
}

/* Arm (ns > 0) or disarm the calling thread's timer; false when it has none. */
static bool dm_arm(long ns)
{
	struct itimerspec its = { .it_value = { ns / 1000000000L, ns % 1000000000L } };

	if (!dm_timer_state) {
		struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = dm_signal() };
		sigset_t set;

		pthread_once(&dm_handler_once, dm_install);
		sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
		dm_timer_state = timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &dm_timer) ? -1 : 1;
		sigemptyset(&set);
		sigaddset(&set, dm_signal());
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	return dm_timer_state > 0 && !timer_settime(dm_timer, 0, &its, NULL);
}

/* libiberty's callback demanglers keep all their state on the stack and
 * hold no lock, so leaving them by longjmp loses nothing: a name whose
 * demangling runs away (a crafted Rust backreference loop, or templates
 * nested to expand exponentially) is given up as soon as its text passes
 * the limit, whatever the demangler would have gone on doing. */
static void dm_append(const char *piece, size_t n, void *opaque)
{
	struct dm_buf *b = opaque;
	size_t need;
	char *tmp;

	if (b->oom || !n)
		return;
	need = b->len + n + 1;
	if (need > DEMANGLE_MAX_OUT + 1)
		siglongjmp(b->out, 1);
	if (need > b->cap) {
		size_t ncap = b->cap ? b->cap : 64;

		while (ncap < need)
			ncap *= 2;
		dm_busy = 1;
		tmp = realloc(b->s, ncap);
		dm_busy = 0;
		if (tmp) {
			b->s = tmp;
			b->cap = ncap;
		}
		if (dm_expired)
			siglongjmp(b->out, 2);
		if (!tmp) {
			b->oom = true;
			return;
		}
	}
	memcpy(b->s + b->len, piece, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static bool looks_mangled(const char *name)
{
	if (name[0] != '_')
		return false;
	return name[1] == 'Z' || name[1] == 'R' || !strncmp(name, "_GLOBAL_", 8);
}

char *demangle(const char *name)
{
	/* on the heap: what the callbacks changed before a longjmp is then
	 * still defined after it (a local's value would not be) */
	struct dm_buf *b = NULL;
	char *out = NULL;
	int err = 0, ok, why;

	if (!name || !looks_mangled(name) || strnlen(name, DEMANGLE_MAX_LEN + 1) > DEMANGLE_MAX_LEN) {
		err = -EINVAL;
		goto cleanup;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* the signal mask is not saved: cheap, and the timer's signal,
	 * blocked in its handler, is unblocked again below when it came */
	why = sigsetjmp(b->out, 0);
	if (why) {
		dm_active = NULL;
		if (b->timed)
			dm_arm(0);
		if (why == 2) {
			sigset_t set;

			sigemptyset(&set);
			sigaddset(&set, dm_signal());
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		}
		hostile__count(HOSTILE_DEMANGLE);
		err = why == 2 ? -ETIME : -E2BIG;
		goto cleanup;
	}
	if (name[1] == 'R') {
		dm_expired = 0;
		dm_active = b;
		b->timed = dm_arm(DEMANGLE_CPU_NS);
	}
	ok = rust_demangle_callback(name, DEMANGLE_OPTS, dm_append, b);
	if (b->timed)
		dm_arm(0);
	dm_active = NULL;
	if (!ok && !b->oom && name[1] != 'R') {
		b->len = 0;
		ok = cplus_demangle_v3_callback(name, DEMANGLE_OPTS, dm_append, b);
	}
	if (b->oom)
		err = -ENOMEM;
	else if (!ok || !b->len)
		err = -EINVAL;
	else
		out = b->s;

cleanup:
	if (b && !out)
		free(b->s);
	free(b);
	if (err)
		errno = -err;
	return out;
}
