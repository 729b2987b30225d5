// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's side of a parser process (isolate.h). Requests are
 * serialized by one lock: the process serves one at a time anyway. The
 * counters have a lock of their own, so /metrics never waits behind a
 * request.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "hashmap.h"
#include "isolate.h"
#include "log.h"

extern char **environ;

#define NS			1000000000ull
#define SOCK_FD			3		/* where the parser finds its socket */
#define BAD_FOREVER		UINT64_MAX
#define TIMEOUT_BAD_NS		(600 * NS)	/* an object that overran: skipped this long */
#define RESPAWN_BACKOFF_NS	(10 * NS)	/* after a process that never answered */
#define MAX_BAD			4096u

struct isolate {
	struct isolate_opts o;
	char *exe, *role;
	pthread_mutex_t lock;		/* one request at a time */
	int sock;
	pid_t pid;
	uint64_t answered;		/* by this process */
	uint64_t spawn_after_ns;
	struct hashmap *bad;		/* struct file_id -> until when (ns) */
	pthread_mutex_t stats_lock;
	struct isolate_stats st;
	uint64_t hostile_base[HOSTILE_NR];	/* counted by processes that are gone */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

struct isolate *isolate__new(const struct isolate_opts *opts)
{
	struct isolate *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->o = *opts;
	p->exe = strdup(opts->exe ? opts->exe : "/proc/self/exe");
	p->role = strdup(opts->role);
	p->bad = hashmap__new(sizeof(struct file_id), sizeof(uint64_t));
	p->sock = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->stats_lock, NULL);
	if (!p->exe || !p->role || !p->bad) {
		isolate__free(p);
		errno = ENOMEM;
		return NULL;
	}
	return p;
}

static int spawn(struct isolate *p)
{
	char memory[24], cache[24];
	char *argv[] = { "cprofd", "--parser", p->role, "--memory", memory, "--cache", cache,
			 log_level >= LOG_DEBUG ? "-v" : NULL, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	/* dup2 onto itself would leave close-on-exec set */
	if (sv[1] == SOCK_FD) {
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, SOCK_FD + 1);

		close(sv[1]);
		sv[1] = fd;
		if (fd < 0) {
			err = -errno;
			close(sv[0]);
			return err;
		}
	}
	snprintf(memory, sizeof(memory), "%llu", (unsigned long long)p->o.max_data);
	snprintf(cache, sizeof(cache), "%llu", (unsigned long long)p->o.cache_bytes);
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, SIGTERM);
	sigaddset(&dflt, SIGINT);
	sigaddset(&dflt, SIGHUP);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], SOCK_FD);
	posix_spawnattr_init(&attr);
	/* the daemon blocks the signals it waits for; the parser must not */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	err = -posix_spawn(&pid, p->exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return err;
	}
	p->sock = sv[0];
	p->pid = pid;
	p->answered = 0;
	pthread_mutex_lock(&p->stats_lock);
	p->st.starts++;
	p->st.pid = pid;
	pthread_mutex_unlock(&p->stats_lock);
	log_debug("parser process for %s started: pid %d", p->role, (int)pid);
	return 0;
}

/* The process has been reaped: keep what it counted, and let the next
 * request start another. */
static void forget(struct isolate *p)
{
	if (p->sock >= 0)
		close(p->sock);
	p->sock = -1;
	p->pid = 0;
	pthread_mutex_lock(&p->stats_lock);
	for (int k = 0; k < HOSTILE_NR; k++)
		p->hostile_base[k] = p->st.hostile[k];
	p->st.pid = 0;
	p->st.rss_kb = 0;
	pthread_mutex_unlock(&p->stats_lock);
}

/* Kill the process, if it has not died already, and reap it; what became
 * of it goes into how (for logs). Its wait status. */
static int stop(struct isolate *p, char *how, size_t len)
{
	int status = 0;

	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (how && WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
			snprintf(how, len, "died of %s", strsignal(WTERMSIG(status)));
		else if (how && WIFEXITED(status))
			snprintf(how, len, "exited with status %d", WEXITSTATUS(status));
	}
	forget(p);
	return status;
}

static bool is_bad(struct isolate *p, const struct file_id *id)
{
	uint64_t *until = id ? hashmap__find(p->bad, id) : NULL;

	if (!until)
		return false;
	if (*until > now_ns())
		return true;
	hashmap__delete(p->bad, id);
	return false;
}

static void mark_bad(struct isolate *p, const struct file_id *id, uint64_t until)
{
	uint64_t *v;

	/* past the bound, the oldest lessons are forgotten all at once:
	 * at worst they cost one more restart each */
	if (hashmap__count(p->bad) >= MAX_BAD) {
		hashmap__free(p->bad);
		p->bad = hashmap__new(sizeof(struct file_id), sizeof(uint64_t));
		if (!p->bad)
			return;
	}
	v = hashmap__insert(p->bad, id, NULL);
	if (v)
		*v = until;
}

bool isolate__bad(struct isolate *p, const struct file_id *id)
{
	bool bad;

	pthread_mutex_lock(&p->lock);
	bad = p->bad && is_bad(p, id);
	pthread_mutex_unlock(&p->lock);
	return bad;
}

int isolate__call(struct isolate *p, uint32_t op, const struct file_id *id, const char *what,
		  const struct wbuf *req, int fd, struct ipc_hdr *rh, void **payload, size_t max)
{
	struct ipc_hdr h = { .op = op };
	uint64_t now = now_ns();
	char how[96] = "";
	bool blame;
	int err = 0, status;

	*payload = NULL;
	pthread_mutex_lock(&p->lock);
	if (!p->bad) {
		err = -ENOMEM;
		goto out;
	}
	if (id && is_bad(p, id)) {
		pthread_mutex_lock(&p->stats_lock);
		p->st.refused++;
		pthread_mutex_unlock(&p->stats_lock);
		err = -ENOTRECOVERABLE;
		goto out;
	}
	/* one that died between requests is not the next object's fault */
	if (p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == p->pid) {
		log_warn("the %s parser process exited between requests: restarted", p->role);
		forget(p);
		pthread_mutex_lock(&p->stats_lock);
		p->st.crashes++;
		pthread_mutex_unlock(&p->stats_lock);
	}
	if (p->pid <= 0) {
		if (now < p->spawn_after_ns) {
			err = -ECHILD;
			goto out;
		}
		err = spawn(p);
		if (err) {
			log_warn("cannot start the %s parser process (%s): %s: its frames stay unnamed",
				 p->role, p->exe, strerror(-err));
			p->spawn_after_ns = now + RESPAWN_BACKOFF_NS;
			err = -ECHILD;
			goto out;
		}
	}
	err = ipc_send(p->sock, &h, req ? req->p : NULL, req ? req->len : 0, fd);
	if (!err)
		err = ipc_recv(p->sock, rh, payload, max, NULL, now_ns() + p->o.deadline_ns);
	if (!err && rh->op != op)
		err = -EPROTO;
	if (!err) {
		p->answered++;
		pthread_mutex_lock(&p->stats_lock);
		p->st.requests++;
		p->st.rss_kb = rh->rss_kb;
		for (int k = 0; k < HOSTILE_NR; k++)
			p->st.hostile[k] = p->hostile_base[k] + rh->hostile[k];
		pthread_mutex_unlock(&p->stats_lock);
		goto out;
	}

	free(*payload);
	*payload = NULL;
	if (err == -ETIMEDOUT)
		snprintf(how, sizeof(how), "took more than %.1f s (--parser-timeout)",
			 p->o.deadline_ns / 1e9);
	else if (err == -EPROTO)
		snprintf(how, sizeof(how), "sent a malformed reply");
	status = stop(p, how[0] ? NULL : how, sizeof(how));
	/* a parser that exits before its first answer (it could not set
	 * itself up) says nothing about the file; one killed by a signal,
	 * one that overran or talked nonsense does */
	blame = err == -ETIMEDOUT || err == -EPROTO || p->answered ||
		(WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL);
	pthread_mutex_lock(&p->stats_lock);
	if (err == -ETIMEDOUT)
		p->st.timeouts++;
	else if (err == -EPROTO)
		p->st.protocol_errors++;
	else
		p->st.crashes++;
	pthread_mutex_unlock(&p->stats_lock);
	if (!p->answered)
		p->spawn_after_ns = now_ns() + RESPAWN_BACKOFF_NS;
	if (id && blame)
		mark_bad(p, id, err == -ETIMEDOUT ? now_ns() + TIMEOUT_BAD_NS : BAD_FOREVER);
	if (blame)
		log_warn("the %s parser process %s on %s: restarted; that file is skipped from now on%s",
			 p->role, how[0] ? how : "failed", what ? what : "a request",
			 err == -ETIMEDOUT ? " for 10 minutes" : " (until it changes)");
	else
		log_warn("the %s parser process %s before its first answer: tried again in %llu s",
			 p->role, how[0] ? how : "failed",
			 (unsigned long long)(RESPAWN_BACKOFF_NS / NS));
	if (err != -ETIMEDOUT && err != -EPROTO)
		err = -ECHILD;
out:
	if (p->bad) {
		pthread_mutex_lock(&p->stats_lock);
		p->st.bad_objects = hashmap__count(p->bad);
		pthread_mutex_unlock(&p->stats_lock);
	}
	pthread_mutex_unlock(&p->lock);
	return err;
}

void isolate__reject(struct isolate *p, const struct file_id *id, const char *what)
{
	pthread_mutex_lock(&p->lock);
	stop(p, NULL, 0);
	if (p->bad && id)
		mark_bad(p, id, BAD_FOREVER);
	pthread_mutex_lock(&p->stats_lock);
	p->st.protocol_errors++;
	p->st.bad_objects = p->bad ? hashmap__count(p->bad) : 0;
	pthread_mutex_unlock(&p->stats_lock);
	pthread_mutex_unlock(&p->lock);
	log_warn("the %s parser process answered nonsense about %s: restarted; that file is skipped from now on (until it changes)",
		 p->role, what ? what : "a request");
}

void isolate__stats(struct isolate *p, struct isolate_stats *st)
{
	if (!p) {
		*st = (struct isolate_stats){ 0 };
		return;
	}
	pthread_mutex_lock(&p->stats_lock);
	*st = p->st;
	pthread_mutex_unlock(&p->stats_lock);
}

void isolate__free(struct isolate *p)
{
	if (!p)
		return;
	stop(p, NULL, 0);
	hashmap__free(p->bad);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->stats_lock);
	free(p->exe);
	free(p->role);
	free(p);
}
