#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <microhttpd.h>
#include "access.h"
#include "cprofd.h"
#include "http.h"
#include "log.h"

#define MAX_PARAMS 80

#define HTTP_MAX_BODY	(1u << 20)

/* Connections served at once per listener. Past that, up to HTTP_SPARE more
 * are taken only to be told 503 (rather than reset); past those, reset. */
#define HTTP_MAX_CONNS	64
#define HTTP_SPARE	16
/* A connection that sends nothing for this long, while its request comes in
 * or between requests, is closed: slow or idle clients do not keep slots. */
#define HTTP_IDLE_S	15

#define STR_(x)	#x
#define STR(x)	STR_(x)

struct http_server {
	struct cprofd *d;
	struct MHD_Daemon *tcp, *unix_;
	bool tls;			/* the TCP listener speaks TLS */
};

int http__listen_tcp(const char *host_port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	char host[256];
	const char *colon = strrchr(host_port, ':');
	size_t hl;
	int fd = -1, one = 1, e;

	if (!colon || colon == host_port || !colon[1]) {
		snprintf(err, errlen, "--listen %s: expected HOST:PORT, e.g. 127.0.0.1:6070", host_port);
		errno = EINVAL;
		return -1;
	}
	hl = colon - host_port;
	if (host_port[0] == '[' && colon[-1] == ']') {	/* [::1]:6070 */
		host_port++;
		hl -= 2;
	}
	if (hl >= sizeof(host)) {
		snprintf(err, errlen, "--listen: host name too long");
		errno = EINVAL;
		return -1;
	}
	memcpy(host, host_port, hl);
	host[hl] = 0;
	e = getaddrinfo(host, colon + 1, &hints, &ai);
	if (e) {
		snprintf(err, errlen, "cannot listen on %s:%s: %s", host, colon + 1, gai_strerror(e));
		errno = EINVAL;
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		e = errno;
		snprintf(err, errlen, "cannot listen on %s:%s: %s%s", host, colon + 1, strerror(e),
			 e == EADDRINUSE ? "; is another cprofd running? choose another with --listen HOST:PORT" : "");
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		errno = e;
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int http__listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "--socket %s: path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	/* A socket file left by a daemon that died is stale; one that answers
	 * belongs to a running cprofd. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		snprintf(err, errlen, "cannot listen on %s: another cprofd is serving it; stop it or use --socket PATH",
			 path);
		errno = EADDRINUSE;
		return -1;
	}
	unlink(path);
	/* Anyone may connect: what each may see is decided by who they are
	 * (the socket's peer credentials), as on loopback TCP. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0666) || listen(fd, 64))
		goto fail;
	return fd;
fail:
	e = errno;
	snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(e));
	if (fd >= 0)
		close(fd);
	errno = e;
	return -1;
}

struct params {
	struct param p[MAX_PARAMS];
	size_t n;
	bool too_many;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct params *ps = cls;

	if (ps->n == MAX_PARAMS) {
		ps->too_many = true;
		return MHD_NO;
	}
	ps->p[ps->n].key = key;
	ps->p[ps->n].value = value;
	ps->n++;
	return MHD_YES;
}

/* A connection whose handler is waiting for its profile. */
struct client {
	struct MHD_Connection *c;
	bool http11;			/* may be sent an interim (1xx) response */
	bool tls;			/* nothing may be written past the library */
	bool probed;			/* its end closed; it was sent one */
};

/*
 * Wait up to ms; true when the client has gone. Nothing else reads or
 * writes this socket while our handler runs (one thread per connection).
 *
 * A client that closes its sending side (FIN) may have left, or may only
 * have half-closed after its request and still be reading: TCP shows both
 * alike. An HTTP/1.1 client is then sent one interim response, "102
 * Processing", which clients skip while they wait for the real one: one
 * that left answers it with a reset, and one that reads goes on waiting for
 * its profile. (HTTP/1.0 allows no interim response: a FIN there ends it.)
 */
static bool connection_hung_up(void *arg, int ms)
{
	static const char interim[] = "HTTP/1.1 102 Processing\r\n\r\n";
	struct client *cl = arg;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(cl->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd pfd;
	char b;

	if (!ci) {
		usleep(ms * 1000);
		return false;
	}
	pfd.fd = ci->connect_fd;
	/* after the probe, only a reset (POLLHUP, POLLERR) says it left */
	pfd.events = cl->probed ? 0 : POLLRDHUP;
	if (poll(&pfd, 1, ms) <= 0)
		return false;
	if (pfd.revents & (POLLHUP | POLLERR))
		return true;
	if (!(pfd.revents & POLLRDHUP) && (cl->tls || recv(pfd.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)) {
		/* readable but not closed: a pipelined request; wait it out */
		usleep(ms * 1000);
		return false;
	}
	/* its end is closed */
	if (!cl->http11 || cl->tls)
		return true;
	if (cl->probed)
		return false;	/* a reset will say if it left */
	cl->probed = true;
	if (send(pfd.fd, interim, sizeof(interim) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) !=
	    (ssize_t)(sizeof(interim) - 1))
		return true;
	return false;
}

static enum MHD_Result queue_text(struct MHD_Connection *c, int status, const char *text)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
								   MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	if (status >= 400)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A POST's body, gathered over the calls libmicrohttpd makes as it arrives. */
struct upload {
	char *data;
	size_t len;
	bool too_big;
};

/* Take the next piece of a POST body. true while more is to come. */
static bool gather_upload(void **req_cls, const char *data, size_t *size)
{
	struct upload *u = *req_cls;

	if (!u) {
		*req_cls = calloc(1, sizeof(struct upload));
		return *req_cls != NULL;
	}
	if (!*size)
		return false;
	if (u->len + *size > HTTP_MAX_BODY) {
		u->too_big = true;
	} else if (!u->too_big) {
		char *p = realloc(u->data, u->len + *size + 1);

		if (p) {
			memcpy(p + u->len, data, *size);
			u->data = p;
			u->len += *size;
			u->data[u->len] = '\0';
		} else {
			u->too_big = true;
		}
	}
	*size = 0;
	return true;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *req_cls;

	if (u) {
		free(u->data);
		free(u);
		*req_cls = NULL;
	}
}

static bool cl_unix(const struct http_server *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *di = MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);

	return di && di->daemon == s->unix_;
}

/* What this request's client may see. true, or false once it has been
 * refused (403 queued, counted) with what to return in *ret. */
static bool decide(struct http_server *s, struct MHD_Connection *c, struct access *who,
		   enum MHD_Result *ret)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct access_peer peer = {
		.fd = ci ? ci->connect_fd : -1,
		.unix_socket = cl_unix(s, c),
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
	};
	enum access_refusal why;
	char reason[256];
	int err;

	pthread_rwlock_rdlock(&s->d->access_lock);
	err = access__decide(s->d->access, &peer, who, &why, reason, sizeof(reason) - 1);
	pthread_rwlock_unlock(&s->d->access_lock);
	if (!err)
		return true;
	__atomic_add_fetch(&s->d->access_refused[why], 1, __ATOMIC_RELAXED);
	strcat(reason, "\n");
	*ret = queue_text(c, 403, reason);
	return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct http_server *s = cls;
	struct params ps = { .n = 0 };
	struct MHD_Response *resp;
	struct upload *body = NULL;
	struct access who;
	struct client cl;
	struct reply r;
	enum MHD_Result ret;

	/* before anything else, a POST's body included */
	if (!*req_cls && !decide(s, c, &who, &ret))
		return ret;
	if (!strcmp(method, "POST")) {
		/* pprof's symbol requests: a list of addresses */
		if (gather_upload(req_cls, upload_data, upload_data_size))
			return MHD_YES;
		body = *req_cls;
		if (!body)
			return queue_text(c, 500, "out of memory\n");
		if (body->too_big)
			return queue_text(c, 413, "request body over 1 MiB\n");
	} else if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		return queue_text(c, 405, "only GET and POST are served here\n");
	}
	{
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_DAEMON)->daemon,
			MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (di && di->num_connections > HTTP_MAX_CONNS) {
			__atomic_add_fetch(&s->d->http_refused, 1, __ATOMIC_RELAXED);
			return queue_text(c, 503, "too many connections at once (the limit is " STR(HTTP_MAX_CONNS) "); "
					  "try again when others finish\n");
		}
	}
	/* a POST is decided again on its last call: who was set on its first */
	if (body && !decide(s, c, &who, &ret))
		return ret;
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_param, &ps);
	if (ps.too_many)
		return queue_text(c, 400, "too many query parameters\n");

	cl = (struct client){ .c = c, .http11 = !strcmp(version, MHD_HTTP_VERSION_1_1), .tls = s->tls && !cl_unix(s, c) };
	cprofd__serve(s->d, &who, url, ps.p, ps.n, body ? body->data : NULL, body ? body->len : 0,
		      connection_hung_up, &cl, &r);
	if (r.status == 0) {
		free(r.body);
		return MHD_NO;		/* the client left: close */
	}
	resp = MHD_create_response_from_buffer(r.len, r.body ? r.body : (void *)"", r.body ?
					       MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r.body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r.content_type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (r.disposition)
		MHD_add_response_header(resp, "Content-Disposition", r.disposition);
	if (r.note[0])
		MHD_add_response_header(resp, "X-Cprof-Note", r.note);
	/* go tool pprof prints the text of an error only from a server that
	 * says it is Go's pprof handler, as net/http/pprof does */
	if (r.status >= 400)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	ret = MHD_queue_response(c, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Daemon *start_one(struct http_server *s, int fd, const struct http_tls *tls)
{
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_LISTEN_SOCKET, fd, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNS + HTTP_SPARE, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_S, NULL },
		{ tls ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, tls ? (void *)tls->key_pem : NULL },
		{ tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls ? (void *)tls->cert_pem : NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (fd < 0)
		return NULL;
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				MHD_USE_POLL | (tls ? MHD_USE_TLS : 0),
				0, NULL, NULL, on_request, s,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

struct http_server *http__start(struct cprofd *d, int tcp_fd, int unix_fd, const struct http_tls *tls)
{
	struct http_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->d = d;
	s->tls = tls != NULL;
	s->tcp = start_one(s, tcp_fd, tls);
	s->unix_ = start_one(s, unix_fd, NULL);
	if ((tcp_fd >= 0 && !s->tcp) || (unix_fd >= 0 && !s->unix_)) {
		http__stop(s);
		errno = EIO;
		return NULL;
	}
	return s;
}

void http__stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->tcp)
		MHD_stop_daemon(s->tcp);
	if (s->unix_)
		MHD_stop_daemon(s->unix_);
	free(s);
}
