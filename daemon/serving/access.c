#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include "access.h"
#include "log.h"

#define MAX_TOKENS	64
#define MAX_TOKEN_LEN	512
#define MAX_TOKEN_FILE	(64 * 1024)
#define MAX_GROUPS	1024

const char *const access_refusal_names[ACCESS_NR_REFUSALS] = {
	[ACCESS_REMOTE] = "remote",
	[ACCESS_BAD_TOKEN] = "bad_token",
	[ACCESS_UNKNOWN_PEER] = "unknown_peer",
	[ACCESS_OTHER_USER] = "other_user",
};

struct access_policy {
	bool has_group;
	gid_t gid;
	char *tokens[MAX_TOKENS];
	size_t nr_tokens;
};

static int read_tokens(struct access_policy *p, const char *path, char *err, size_t errlen)
{
	char *buf, *line, *save = NULL;
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > MAX_TOKEN_FILE) {
		snprintf(err, errlen, "--token-file %s: expected a regular file of at most %d KiB",
			 path, MAX_TOKEN_FILE / 1024);
		close(fd);
		return -1;
	}
	if (st.st_mode & 0077)
		log_warn("--token-file %s can be read by others than its owner (mode %o): chmod 600 it",
			 path, st.st_mode & 0777);
	buf = calloc(1, MAX_TOKEN_FILE + 1);
	n = buf ? read(fd, buf, MAX_TOKEN_FILE) : -1;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "--token-file %s: %s", path, buf ? strerror(errno) : "out of memory");
		free(buf);
		return -1;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t len;

		line += strspn(line, " \t\r");
		len = strcspn(line, " \t\r");
		if (!len || line[0] == '#')
			continue;
		if (len > MAX_TOKEN_LEN || p->nr_tokens == MAX_TOKENS) {
			snprintf(err, errlen, "--token-file %s: at most %d tokens of %d bytes each",
				 path, MAX_TOKENS, MAX_TOKEN_LEN);
			free(buf);
			return -1;
		}
		p->tokens[p->nr_tokens] = strndup(line, len);
		if (!p->tokens[p->nr_tokens]) {
			snprintf(err, errlen, "out of memory");
			free(buf);
			return -1;
		}
		p->nr_tokens++;
	}
	free(buf);
	if (!p->nr_tokens) {
		snprintf(err, errlen, "--token-file %s holds no token (one a line)", path);
		return -1;
	}
	return 0;
}

struct access_policy *access__new(const char *group, const char *token_file, char *err,
				  size_t errlen)
{
	struct access_policy *p = calloc(1, sizeof(*p));

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (group && group[0]) {
		struct group gr, *res = NULL;
		char buf[16384];

		if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) == 0 && res) {
			p->has_group = true;
			p->gid = gr.gr_gid;
		} else {
			log_info("group %s does not exist: only root sees every process (create it, or choose one with --group)",
				 group);
		}
	}
	if (token_file && token_file[0] && read_tokens(p, token_file, err, errlen)) {
		access__free(p);
		return NULL;
	}
	return p;
}

void access__free(struct access_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr_tokens; i++) {
		explicit_bzero(p->tokens[i], strlen(p->tokens[i]));
		free(p->tokens[i]);
	}
	free(p);
}

bool access__has_tokens(const struct access_policy *p)
{
	return p && p->nr_tokens;
}

/* Compared in time that depends on the lengths only. */
static bool same_secret(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned char d = alen != blen;

	for (size_t i = 0; i < alen; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i % (blen ? blen : 1)];
	return !d && blen;
}

static bool token_valid(const struct access_policy *p, const char *auth)
{
	size_t len;
	bool ok = false;

	if (strncasecmp(auth, "Bearer ", 7))
		return false;
	auth += 7;
	auth += strspn(auth, " ");
	len = strcspn(auth, " \t\r\n");
	for (size_t i = 0; i < p->nr_tokens; i++)
		ok |= same_secret(auth, len, p->tokens[i]);
	return ok;
}

/* Whether uid, with primary group gid and, if known, these groups, is in the
 * policy's group; groups NULL: from the group database. */
static bool in_group(const struct access_policy *p, uint32_t uid, gid_t gid, const gid_t *groups,
		     int nr)
{
	gid_t db[MAX_GROUPS];
	struct passwd pw, *res = NULL;
	char buf[16384];

	if (!p->has_group)
		return false;
	if (gid == p->gid)
		return true;
	if (!groups) {
		if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) || !res)
			return false;
		nr = MAX_GROUPS;
		if (getgrouplist(res->pw_name, res->pw_gid, db, &nr) < 0)
			return false;
		groups = db;
	}
	for (int i = 0; i < nr; i++)
		if (groups[i] == p->gid)
			return true;
	return false;
}

bool access__is_loopback(const struct sockaddr *addr)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (addr->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return !memcmp(a->s6_addr, mapped, 12) && a->s6_addr[12] == 127;
	}
	return false;
}

/* An IPv4 address seen through an IPv6 socket, as IPv4. */
static void unmap(struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (ss->ss_family != AF_INET6 || memcmp(s6->sin6_addr.s6_addr, mapped, 12))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	memcpy(ss, &s4, sizeof(s4));
}

static void diag_endpoint(const struct sockaddr_storage *ss, __be16 *port, __be32 addr[4])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;

		*port = s->sin_port;
		addr[0] = s->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;

		*port = s->sin6_port;
		memcpy(addr, &s->sin6_addr, 16);
	}
}

int access__tcp_peer_uid(int fd, uint32_t *uid)
{
	struct sockaddr_storage us, them;
	socklen_t ul = sizeof(us), tl = sizeof(them);
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 r;
	} req = {
		.nlh = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			 .nlmsg_flags = NLM_F_REQUEST },
		.r = { .sdiag_protocol = IPPROTO_TCP, .idiag_states = ~0u },
	};
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	union {
		struct nlmsghdr h;
		char b[8192];
	} resp;
	struct nlmsghdr *h;
	ssize_t n;
	int nfd, err = -ENOENT;

	if (getsockname(fd, (struct sockaddr *)&us, &ul) || getpeername(fd, (struct sockaddr *)&them, &tl))
		return -errno;
	unmap(&us);
	unmap(&them);
	if (us.ss_family != them.ss_family ||
	    (us.ss_family != AF_INET && us.ss_family != AF_INET6))
		return -EAFNOSUPPORT;
	/* the other end's socket: its local address is our peer's */
	req.r.sdiag_family = us.ss_family;
	diag_endpoint(&them, &req.r.id.idiag_sport, req.r.id.idiag_src);
	diag_endpoint(&us, &req.r.id.idiag_dport, req.r.id.idiag_dst);
	req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
	req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	nfd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nfd < 0)
		return -errno;
	if (sendto(nfd, &req, sizeof(req), 0, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(nfd, &resp, sizeof(resp), 0);
	if (n < 0) {
		err = -errno;
		goto out;
	}
	for (h = &resp.h; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error)
				err = e->error;
			break;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
		    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
			const struct inet_diag_msg *m = NLMSG_DATA(h);

			*uid = m->idiag_uid;
			err = 0;
			break;
		}
	}
out:
	close(nfd);
	return err;
}

static void decide_user(const struct access_policy *p, uint32_t uid, gid_t gid,
			const gid_t *groups, int nr, struct access *out)
{
	out->uid = uid;
	out->all = uid == 0 || in_group(p, uid, gid, groups, nr);
}

int access__decide(const struct access_policy *p, const struct access_peer *peer,
		   struct access *out, enum access_refusal *refusal, char *why, size_t whylen)
{
	struct sockaddr_storage them;
	socklen_t tl = sizeof(them);
	char host[INET6_ADDRSTRLEN] = "?";
	uint32_t uid;
	int err;

	*out = (struct access){ .all = false, .uid = (uint32_t)-1 };
	if (peer->authorization && p->nr_tokens) {
		if (!token_valid(p, peer->authorization)) {
			*refusal = ACCESS_BAD_TOKEN;
			snprintf(why, whylen, "the bearer token is not one this cprofd accepts (--token-file)");
			return -EACCES;
		}
		out->all = true;
		return 0;
	}
	if (peer->unix_socket) {
		struct ucred cr;
		socklen_t cl = sizeof(cr);
		gid_t groups[MAX_GROUPS];
		socklen_t gl = sizeof(groups);

		if (getsockopt(peer->fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl)) {
			*refusal = ACCESS_UNKNOWN_PEER;
			snprintf(why, whylen, "cannot tell who is connected to the socket: %s", strerror(errno));
			return -EACCES;
		}
		/* the groups the client had when it connected; the group
		 * database if this kernel cannot say (before 4.13) */
		if (getsockopt(peer->fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl))
			decide_user(p, cr.uid, cr.gid, NULL, 0, out);
		else
			decide_user(p, cr.uid, cr.gid, groups, (int)(gl / sizeof(gid_t)), out);
		return 0;
	}
	if (getpeername(peer->fd, (struct sockaddr *)&them, &tl)) {
		*refusal = ACCESS_UNKNOWN_PEER;
		snprintf(why, whylen, "cannot tell who is connected: %s", strerror(errno));
		return -EACCES;
	}
	if (them.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&them)->sin_addr, host, sizeof(host));
	else if (them.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&them)->sin6_addr, host, sizeof(host));
	if (!access__is_loopback((struct sockaddr *)&them)) {
		*refusal = ACCESS_REMOTE;
		snprintf(why, whylen, "requests from %s (not this host) need a bearer token: "
			 "send Authorization: Bearer TOKEN, a token from cprofd's --token-file", host);
		return -EACCES;
	}
	err = access__tcp_peer_uid(peer->fd, &uid);
	if (err) {
		*refusal = ACCESS_UNKNOWN_PEER;
		snprintf(why, whylen, "cannot tell which user connected from %s: %s; use the Unix socket instead",
			 host, strerror(-err));
		return -EACCES;
	}
	decide_user(p, uid, (gid_t)-1, NULL, 0, out);
	return 0;
}

bool access__may_see(const struct access *who, int pid)
{
	char path[32];
	struct stat st;

	if (who->all)
		return true;
	snprintf(path, sizeof(path), "/proc/%d", pid);
	return !stat(path, &st) && st.st_uid == who->uid;
}
