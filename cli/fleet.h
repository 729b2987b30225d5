/* cprof-ctl fleet: profiles across hosts from the ClickHouse tables cprofd
 * exports to (cprofd --export clickhouse=URL; daemon/export/rows.h). The
 * server adds up the samples (SQL); only the sums and their stacks come
 * back. */
#ifndef CPROF_CLI_FLEET_H
#define CPROF_CLI_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "client.h"
#include "views.h"

#define FLEET_MAX_HOSTS 64

struct fleet_query {
	const char *url;		/* ClickHouse's HTTP interface, [?database=DB] */
	const char *cacert;		/* for https, or NULL */
	const struct view_def *view;
	int64_t from_ns, to_ns;		/* windows starting in [from, to) */
	const char *hosts[FLEET_MAX_HOSTS];
	size_t nr_hosts;		/* 0: every host */
	const char *comm;		/* NULL: every process */
	const char *container;		/* NULL: any */
	bool per_host;			/* each host's samples apart, labelled host
					 * (as many rows back as hosts) */
};

/* One pprof profile (gzipped) of q into body: the hosts' samples added up
 * by stack and process name (label comm), and host (label host) with
 * q->per_host. 0, or -1
 * with a one-line reason in err. Call curl_global_init() first. */
int fleet__collect(const struct fleet_query *q, struct buf *body, char *err, size_t errlen);

/* The hosts (by_process: hosts and process names) by the view's default
 * sample type, most first, n rows (0: all), as a table on out. 0, or -1
 * with a one-line reason in err. */
int fleet__top(const struct fleet_query *q, bool by_process, int n, FILE *out, char *err,
	       size_t errlen);

#endif /* CPROF_CLI_FLEET_H */
