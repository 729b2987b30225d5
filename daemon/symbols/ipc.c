// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "ipc.h"

#define STR_NULL	UINT32_MAX

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int ipc_send(int sock, struct ipc_hdr *h, const void *payload, size_t len, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov[2] = { { h, sizeof(*h) }, { (void *)payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	size_t left = sizeof(*h) + len;
	ssize_t n;

	h->len = len;
	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = cbuf;
		msg.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (left) {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		left -= (size_t)n;
		/* the descriptor went with the first bytes */
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (n > 0 && msg.msg_iovlen) {
			size_t take = (size_t)n < msg.msg_iov->iov_len ? (size_t)n : msg.msg_iov->iov_len;

			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + take;
			msg.msg_iov->iov_len -= take;
			n -= (ssize_t)take;
			if (!msg.msg_iov->iov_len) {
				msg.msg_iov++;
				msg.msg_iovlen--;
			}
		}
	}
	return 0;
}

/* Wait until sock is readable or the deadline passes. */
static int wait_readable(int sock, uint64_t deadline_ns)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int ms = -1, r;

	if (deadline_ns) {
		uint64_t now = now_ns();

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		ms = (int)((deadline_ns - now + 999999) / 1000000);
	}
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r ? 0 : -ETIMEDOUT;
}

/* Read len bytes into buf, taking a descriptor if one comes. */
static int read_full(int sock, void *buf, size_t len, int *fd, uint64_t deadline_ns)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	size_t got = 0;

	while (got < len) {
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;
		ssize_t n;
		int err = wait_readable(sock, deadline_ns);

		if (err)
			return err;
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		if (n == 0)
			return -EPIPE;
		for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			size_t nfds;
			int fds[2];

			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
			for (size_t i = 0; i < nfds; i++) {
				if (fd && *fd < 0)
					*fd = fds[i];
				else
					close(fds[i]);	/* unasked for: not kept */
			}
		}
		if (msg.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		got += (size_t)n;
	}
	return 0;
}

int ipc_recv(int sock, struct ipc_hdr *h, void **payload, size_t max, int *fd,
	     uint64_t deadline_ns)
{
	void *p = NULL;
	int err;

	*payload = NULL;
	if (fd)
		*fd = -1;
	err = read_full(sock, h, sizeof(*h), fd, deadline_ns);
	if (!err && h->len > max)
		err = -EPROTO;
	if (!err && h->len) {
		p = malloc(h->len);
		err = p ? read_full(sock, p, h->len, NULL, deadline_ns) : -ENOMEM;
	}
	if (err) {
		free(p);
		if (fd && *fd >= 0) {
			close(*fd);
			*fd = -1;
		}
		return err;
	}
	*payload = p;
	return 0;
}

void wbuf_put(struct wbuf *b, const void *data, size_t len)
{
	if (b->err || !len)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void wbuf_u32(struct wbuf *b, uint32_t v)
{
	wbuf_put(b, &v, sizeof(v));
}

void wbuf_u64(struct wbuf *b, uint64_t v)
{
	wbuf_put(b, &v, sizeof(v));
}

void wbuf_str(struct wbuf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (!s || len >= STR_NULL) {
		wbuf_u32(b, STR_NULL);
		return;
	}
	wbuf_u32(b, (uint32_t)len);
	wbuf_put(b, s, len + 1);
}

void wbuf_free(struct wbuf *b)
{
	free(b->p);
	*b = (struct wbuf){ 0 };
}

const void *rbuf_take(struct rbuf *b, size_t len)
{
	const void *p;

	if (b->bad || len > b->len - b->off) {
		b->bad = true;
		return NULL;
	}
	p = b->p + b->off;
	b->off += len;
	return p;
}

uint32_t rbuf_u32(struct rbuf *b)
{
	const void *p = rbuf_take(b, sizeof(uint32_t));
	uint32_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t rbuf_u64(struct rbuf *b)
{
	const void *p = rbuf_take(b, sizeof(uint64_t));
	uint64_t v = 0;

	if (p)
		memcpy(&v, p, sizeof(v));
	return v;
}

const char *rbuf_str(struct rbuf *b, size_t max)
{
	uint32_t len = rbuf_u32(b);
	const char *s;

	if (b->bad || len == STR_NULL)
		return NULL;
	if (len > max) {
		b->bad = true;
		return NULL;
	}
	s = rbuf_take(b, (size_t)len + 1);
	if (!s || s[len] || memchr(s, '\0', len)) {
		b->bad = true;
		return NULL;
	}
	return s;
}
