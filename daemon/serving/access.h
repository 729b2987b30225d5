/* Who may see what. Root, and members of a group the administrator names,
 * see every process; any other local user sees only their own processes and
 * no kernel frames, as perf allows them (perf_event_paranoid 2). A client
 * is known by its Unix socket's credentials, or on loopback TCP by the owner
 * of its end of the connection; beyond loopback only by a bearer token. */
#ifndef CPROF_ACCESS_H
#define CPROF_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* What one request may see. */
struct access {
	bool all;			/* every process, kernel frames included */
	uint32_t uid;			/* otherwise: this user's processes only */
};

enum access_refusal {
	ACCESS_REMOTE,			/* beyond loopback without a token */
	ACCESS_BAD_TOKEN,		/* a token that is not one of ours */
	ACCESS_UNKNOWN_PEER,		/* the connection's owner could not be found */
	ACCESS_OTHER_USER,		/* a process of another user was asked for */
	ACCESS_NR_REFUSALS,
};
extern const char *const access_refusal_names[ACCESS_NR_REFUSALS];

struct access_policy;

/* group: members see everything (NULL or "": root only); a group that does
 * not exist is no error (no one is in it), and is said once in the log.
 * token_file: bearer tokens, one a line (NULL: none). NULL and a one-line
 * reason in err. */
struct access_policy *access__new(const char *group, const char *token_file, char *err,
				  size_t errlen);
void access__free(struct access_policy *p);
bool access__has_tokens(const struct access_policy *p);

/* How a request came. */
struct access_peer {
	int fd;				/* the connection */
	bool unix_socket;
	const char *authorization;	/* its Authorization header, or NULL */
};

/* Decide what the request may see. 0, or -EACCES with the reason (one line,
 * for a 403) in why and the kind of refusal in *refusal. */
int access__decide(const struct access_policy *p, const struct access_peer *peer,
		   struct access *out, enum access_refusal *refusal, char *why, size_t whylen);

/* Whether who may see process pid now (its /proc directory is theirs: what
 * ptrace's read check comes to for a process that is not set-id). */
bool access__may_see(const struct access *who, int pid);

/* Whether addr is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool access__is_loopback(const struct sockaddr *addr);

/* The uid owning the other end of a TCP connection on this host: fd is our
 * end. 0, or -errno (-ENOENT: the other end is not on this host). */
int access__tcp_peer_uid(int fd, uint32_t *uid);

#endif /* CPROF_ACCESS_H */
