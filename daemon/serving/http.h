/* The HTTP server (libmicrohttpd): one thread per connection, so a client
 * waiting out a 30 s profile holds no one else up. */
#ifndef CPROF_HTTP_H
#define CPROF_HTTP_H

struct cprofd;

/* Listening sockets are made first, so "address in use" is told before
 * anything is loaded into the kernel. -1 and errno on failure. */
int http__listen_tcp(const char *host_port, char *err, size_t errlen);
int http__listen_unix(const char *path, char *err, size_t errlen);

/* TLS for the TCP listener: PEM text of its key and certificate chain. */
struct http_tls {
	const char *key_pem, *cert_pem;
};

struct http_server;
/* Serve on the given sockets (-1: not that one), TCP over TLS when tls is
 * not NULL (the Unix socket never: its peers are known by the kernel).
 * NULL and errno. */
struct http_server *http__start(struct cprofd *d, int tcp_fd, int unix_fd, const struct http_tls *tls);
void http__stop(struct http_server *s);

#endif /* CPROF_HTTP_H */
