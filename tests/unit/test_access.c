/* daemon/serving/access.c: who a client is, on real sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "access.h"
#include "check.h"

static struct sockaddr_in v4(const char *a)
{
	struct sockaddr_in s = { .sin_family = AF_INET };

	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

static void test_loopback(void)
{
	struct sockaddr_in a = v4("127.0.0.1"), b = v4("127.9.8.7"), c = v4("10.0.0.1"), d = v4("128.0.0.1");
	struct sockaddr_in6 e = v6("::1"), f = v6("::ffff:127.0.0.1"), g = v6("::ffff:10.1.1.1"), h = v6("fe80::1");

	CHECK(access__is_loopback((struct sockaddr *)&a) && access__is_loopback((struct sockaddr *)&b),
	      "loopback: 127.0.0.0/8", "not taken as loopback");
	CHECK(!access__is_loopback((struct sockaddr *)&c) && !access__is_loopback((struct sockaddr *)&d),
	      "loopback: 10.0.0.1 and 128.0.0.1 are not", "taken as loopback");
	CHECK(access__is_loopback((struct sockaddr *)&e) && access__is_loopback((struct sockaddr *)&f),
	      "loopback: ::1 and ::ffff:127.0.0.1", "not taken as loopback");
	CHECK(!access__is_loopback((struct sockaddr *)&g) && !access__is_loopback((struct sockaddr *)&h),
	      "loopback: ::ffff:10.1.1.1 and fe80::1 are not", "taken as loopback");
}

/* A TCP connection over loopback whose client end is made by a child
 * running as uid: the server's end must say uid. */
static void test_tcp_owner(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, fds[2];
	uint32_t uid = 12345;
	pid_t pid;
	char b;

	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&sa, &len) || pipe(fds)) {
		SKIP("tcp owner", "no loopback TCP here: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid == 0) {
		int s;

		if (geteuid() == 0 && setresuid(4242, 4242, 4242))
			_exit(1);
		s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
			_exit(1);
		if (read(fds[0], &b, 1) < 0)	/* until the parent has asked */
			_exit(1);
		_exit(0);
	}
	c = accept(l, NULL, NULL);
	CHECK(c >= 0 && access__tcp_peer_uid(c, &uid) == 0 && uid == (geteuid() == 0 ? 4242u : geteuid()),
	      "tcp owner: the client's end of a loopback connection is its user's",
	      "uid %u", uid);
	if (write(fds[1], "x", 1) < 0)
		perror("write");
	waitpid(pid, NULL, 0);
	if (c >= 0)
		close(c);
	close(l);
}

static void write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		perror(path);
	close(fd);
}

/* Tokens and the decision on a Unix socket pair (the peer is this process). */
static void test_tokens(void)
{
	char dir[] = "/tmp/cprof-access.XXXXXX", path[64], err[256];
	struct access_policy *p;
	struct access who;
	enum access_refusal why;
	int sv[2];

	if (!mkdtemp(dir) || socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
		SKIP("tokens", "no scratch directory or socket pair");
		return;
	}
	snprintf(path, sizeof(path), "%s/tokens", dir);
	write_file(path, "# comment\n\n  s3cret-one  \nsecond\n", 0600);
	p = access__new("no-such-group-cprof", path, err, sizeof(err));
	CHECK(p && access__has_tokens(p), "tokens: read, comments and blanks skipped", "%s", err);
	if (p) {
		struct access_peer peer = { .fd = sv[0], .unix_socket = true, .authorization = "Bearer s3cret-one" };

		CHECK(!access__decide(p, &peer, &who, &why, err, sizeof(err)) && who.all,
		      "tokens: a good one sees everything", "%s", err);
		peer.authorization = "bearer second";
		CHECK(!access__decide(p, &peer, &who, &why, err, sizeof(err)) && who.all,
		      "tokens: the scheme is case-insensitive", "%s", err);
		peer.authorization = "Bearer s3cret-on";
		CHECK(access__decide(p, &peer, &who, &why, err, sizeof(err)) == -EACCES && why == ACCESS_BAD_TOKEN,
		      "tokens: a prefix of one is refused", "accepted");
		peer.authorization = "Bearer s3cret-onex";
		CHECK(access__decide(p, &peer, &who, &why, err, sizeof(err)) == -EACCES,
		      "tokens: one longer than one is refused", "accepted");
		peer.authorization = "Basic czNjcmV0LW9uZQ==";
		CHECK(access__decide(p, &peer, &who, &why, err, sizeof(err)) == -EACCES,
		      "tokens: other schemes are refused", "accepted");
		peer.authorization = NULL;
		CHECK(!access__decide(p, &peer, &who, &why, err, sizeof(err)) &&
		      who.all == (geteuid() == 0) && who.uid == geteuid(),
		      "unix socket: without a token, the peer's credentials decide", "all %d uid %u", who.all, who.uid);
		access__free(p);
	}
	write_file(path, "\n# nothing\n", 0600);
	p = access__new(NULL, path, err, sizeof(err));
	CHECK(!p && strstr(err, "no token"), "tokens: a file without one is an error", "%s", err);
	access__free(p);
	p = access__new(NULL, "/nonexistent/tokens", err, sizeof(err));
	CHECK(!p && strstr(err, "/nonexistent/tokens"), "tokens: a missing file is named", "%s", err);
	access__free(p);
	unlink(path);
	rmdir(dir);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	test_loopback();
	test_tcp_owner();
	test_tokens();
	return CHECK_EXIT();
}
