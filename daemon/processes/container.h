/* SPDX-License-Identifier: GPL-2.0 */
/* Container ids: which container a process runs in, from its cgroup path. */
#ifndef CPROF_CONTAINER_H
#define CPROF_CONTAINER_H

#include <stddef.h>
#include <stdint.h>

/* Room for any id this module writes: a short hex id or a machine/LXC
 * name (systemd unit names are at most 255 bytes). */
#define CONTAINER_ID_MAX	256

/*
 * The container a process runs in, from the text of /proc/PID/cgroup
 * (cgroup v2 "0::/path" and v1 "N:controllers:/path" lines). Writes the
 * id, "" when not in a container, and returns 0; -ENOSPC when it does not
 * fit in len bytes (buf is then ""), -EINVAL without text.
 *
 * Recognised, innermost path component first, first matching line wins:
 *   Docker          .../docker-<64hex>.scope, /docker/<64hex>
 *   Podman          .../libpod-<64hex>.scope, .../libpod-<64hex>/...
 *   containerd/CRI  .../cri-containerd-<64hex>.scope, nerdctl-<64hex>.scope,
 *                   kubepods.../pod<uid>/<64hex> (any bare 64-hex component)
 *   CRI-O           .../crio-<64hex>.scope, .../crio-<64hex>
 *   systemd-nspawn  machine.slice/machine-<name>.scope, "\xHH" unescaped
 *                   (not its ".../supervisor" child, the host-side nspawn)
 *   LXC             /lxc.payload.<name>, /lxc.payload/<name>, /lxc/<name>
 * 64-hex ids are shortened to their first 12 characters, as docker ps
 * shows them; names are kept whole. Plain systemd services, user
 * sessions, and the runtimes' monitors (conmon, lxc.monitor) are not
 * containers.
 */
int container__id_from_cgroup(const char *cgroup_text, char *buf, size_t len);
/* Same from /proc/PID/cgroup. -errno when unreadable (-ENOENT or -ESRCH:
 * the process is gone). */
int container__id(uint32_t pid, char *buf, size_t len);

#endif /* CPROF_CONTAINER_H */
