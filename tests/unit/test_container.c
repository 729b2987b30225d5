// SPDX-License-Identifier: GPL-2.0
/*
 * container: ids from realistic /proc/PID/cgroup files of every runtime we
 * recognise, processes that are not in containers, broken text, small
 * buffers, and our own /proc/self/cgroup.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "container.h"

#define ID64_A "3f5e1c2a9b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
#define ID64_B "b4c8e2f61a3d5079c8e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"
#define ID64_C "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define POD_UID "pod8f3c2b1a-4d5e-6f70-8192-a3b4c5d6e7f8"
#define POD_UID_SYSTEMD "pod8f3c2b1a_4d5e_6f70_8192_a3b4c5d6e7f8"

/* A host process under cgroup v1 with systemd (hybrid layout). */
#define V1_HOST(session)						\
	"12:perf_event:/\n"						\
	"11:memory:/user.slice/user-1000.slice/" session "\n"		\
	"10:cpu,cpuacct:/user.slice\n"					\
	"9:blkio:/user.slice\n"						\
	"8:devices:/user.slice\n"					\
	"7:freezer:/\n"							\
	"6:net_cls,net_prio:/\n"					\
	"5:pids:/user.slice/user-1000.slice/" session "\n"		\
	"4:cpuset:/\n"							\
	"3:hugetlb:/\n"							\
	"2:rdma:/\n"							\
	"1:name=systemd:/user.slice/user-1000.slice/" session "\n"	\
	"0::/user.slice/user-1000.slice/" session "\n"

/* A container under cgroup v1, every hierarchy naming it. */
#define V1_ALL(path)							\
	"12:perf_event:" path "\n"					\
	"11:memory:" path "\n"						\
	"10:cpu,cpuacct:" path "\n"					\
	"9:blkio:" path "\n"						\
	"8:devices:" path "\n"						\
	"7:freezer:" path "\n"						\
	"6:net_cls,net_prio:" path "\n"					\
	"5:pids:" path "\n"						\
	"4:cpuset:" path "\n"						\
	"3:hugetlb:" path "\n"						\
	"2:rdma:/\n"							\
	"1:name=systemd:" path "\n"					\
	"0::/\n"

static const struct {
	const char *name, *text, *want;
} cases[] = {
	/* Docker */
	{ "docker, systemd driver, v2",
	  "0::/system.slice/docker-" ID64_A ".scope\n", "3f5e1c2a9b7d" },
	{ "docker, cgroupfs driver, v2", "0::/docker/" ID64_A "\n", "3f5e1c2a9b7d" },
	{ "docker, cgroupfs driver, v1", V1_ALL("/docker/" ID64_B), "b4c8e2f61a3d" },
	{ "docker, systemd driver, v1",
	  V1_ALL("/system.slice/docker-" ID64_B ".scope"), "b4c8e2f61a3d" },
	{ "docker, v1, first hierarchies at the root",
	  "13:misc:/\n12:rdma:/\n11:pids:/docker/" ID64_A "\n1:name=systemd:/docker/" ID64_A "\n0::/\n",
	  "3f5e1c2a9b7d" },
	{ "docker, rootless",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" ID64_C ".scope\n",
	  "0123456789ab" },
	{ "docker in docker, inner wins",
	  "0::/system.slice/docker-" ID64_A ".scope/docker/" ID64_B "\n", "b4c8e2f61a3d" },
	{ "docker, no trailing newline", "0::/docker/" ID64_C, "0123456789ab" },
	{ "docker daemon itself", "0::/system.slice/docker.service\n", "" },
	/* Podman */
	{ "podman, rootful",
	  "0::/machine.slice/libpod-" ID64_A ".scope/container\n", "3f5e1c2a9b7d" },
	{ "podman, rootless",
	  "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID64_B
	  ".scope/container\n", "b4c8e2f61a3d" },
	{ "podman, cgroupfs manager",
	  "0::/libpod_parent/libpod-" ID64_C "/ctr\n", "0123456789ab" },
	{ "podman pod",
	  "0::/machine.slice/machine-libpod_pod_" ID64_A ".slice/libpod-" ID64_B ".scope/container\n",
	  "b4c8e2f61a3d" },
	{ "podman, conmon is not the container",
	  "0::/machine.slice/libpod-conmon-" ID64_A ".scope\n", "" },
	/* containerd and Kubernetes */
	{ "kubernetes, containerd, systemd driver",
	  "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-" POD_UID_SYSTEMD
	  ".slice/cri-containerd-" ID64_A ".scope\n", "3f5e1c2a9b7d" },
	{ "kubernetes, cgroupfs driver, v1",
	  V1_ALL("/kubepods/besteffort/" POD_UID "/" ID64_B), "b4c8e2f61a3d" },
	{ "kubernetes, cgroupfs driver, v2, guaranteed",
	  "0::/kubepods/" POD_UID "/" ID64_C "\n", "0123456789ab" },
	{ "kubernetes, pod slice only", "0::/kubepods.slice/kubepods-besteffort.slice\n", "" },
	{ "nerdctl", "0::/system.slice/nerdctl-" ID64_A ".scope\n", "3f5e1c2a9b7d" },
	{ "containerd, cgroupfs, namespace default", "0::/default/" ID64_B "\n", "b4c8e2f61a3d" },
	/* CRI-O */
	{ "cri-o, systemd driver",
	  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-" POD_UID_SYSTEMD
	  ".slice/crio-" ID64_C ".scope\n", "0123456789ab" },
	{ "cri-o, cgroupfs driver, v1",
	  V1_ALL("/kubepods/burstable/" POD_UID "/crio-" ID64_A), "3f5e1c2a9b7d" },
	{ "cri-o, conmon is not the container",
	  "0::/kubepods.slice/kubepods-besteffort.slice/crio-conmon-" ID64_C ".scope\n", "" },
	/* systemd-nspawn */
	{ "nspawn", "0::/machine.slice/machine-debian12.scope/payload\n", "debian12" },
	{ "nspawn, escaped dashes",
	  "0::/machine.slice/machine-my\\x2dbuild\\x2dbox.scope/payload/system.slice/nginx.service\n",
	  "my-build-box" },
	{ "nspawn, v1",
	  V1_ALL("/machine.slice/machine-web\\x2d1.scope"), "web-1" },
	{ "nspawn, supervisor is on the host side",
	  "0::/machine.slice/machine-debian12.scope/supervisor\n", "" },
	{ "docker inside nspawn, inner wins",
	  "0::/machine.slice/machine-ci.scope/payload/system.slice/docker-" ID64_A ".scope\n",
	  "3f5e1c2a9b7d" },
	/* LXC */
	{ "lxc 4+, v2", "0::/lxc.payload.web1\n", "web1" },
	{ "lxc 4+, systemd inside",
	  "0::/lxc.payload.web1/system.slice/ssh.service\n", "web1" },
	{ "lxc 3, payload dir", "0::/lxc.payload/db-2/init.scope\n", "db-2" },
	{ "lxc, v1", V1_ALL("/lxc/db-2"), "db-2" },
	{ "lxc, monitor is not the container", "0::/lxc.monitor.web1\n", "" },
	/* Not containers */
	{ "init.scope", "0::/init.scope\n", "" },
	{ "user session", "0::/user.slice/user-0.slice/session-3.scope\n", "" },
	{ "ssh service", "0::/system.slice/ssh.service\n", "" },
	{ "user app scope",
	  "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4321.scope\n",
	  "" },
	{ "root cgroup", "0::/\n", "" },
	{ "v1 host session", V1_HOST("session-2.scope"), "" },
	{ "v1 host service",
	  "11:memory:/system.slice/cron.service\n1:name=systemd:/system.slice/cron.service\n0::/\n",
	  "" },
	{ "32-hex id is not a container",
	  "4:memory:/process_api/7468dafe7af6b503180100099422ae69\n0::/\n", "" },
	/* Broken text */
	{ "empty", "", "" },
	{ "no colons", "garbage\n", "" },
	{ "one colon", "0:/docker/" ID64_A "\n", "" },
	{ "63 hex digits", "0::/docker/" "3f5e1c2a9b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2\n", "" },
	{ "65 hex digits", "0::/docker-" ID64_A "0.scope\n", "" },
	{ "bare prefixes", "0::/docker-.scope/libpod-/machine-.scope/lxc.payload./lxc\n", "" },
	{ "slashes only", "0::///\n", "" },
	{ "colon in path", "0::/weird:name/docker/" ID64_A "\n", "3f5e1c2a9b7d" },
	{ "trailing slash", "0::/docker/" ID64_A "/\n", "3f5e1c2a9b7d" },
	{ "bad escape kept", "0::/machine.slice/machine-a\\x2zb\\x0a.scope\n", "a\\x2zb\\x0a" },
};

static void test_table(void)
{
	char buf[CONTAINER_ID_MAX], label[160];
	size_t i;
	int err;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(buf, 'Z', sizeof(buf));
		err = container__id_from_cgroup(cases[i].text, buf, sizeof(buf));
		snprintf(label, sizeof(label), "cgroup: %s", cases[i].name);
		CHECK(!err && !strcmp(buf, cases[i].want), label, "err %d, got \"%.*s\" want \"%s\"",
		      err, (int)strnlen(buf, sizeof(buf)), buf, cases[i].want);
	}
}

static void test_buffers(void)
{
	const char *docker = "0::/docker/" ID64_A "\n";
	const char *nspawn = "0::/machine.slice/machine-my\\x2dbox.scope\n";
	char buf[16];
	int err;

	err = container__id_from_cgroup(docker, buf, 13);
	CHECK(!err && !strcmp(buf, "3f5e1c2a9b7d"), "buffer: id fits exactly", "err %d", err);
	buf[0] = 'x';
	err = container__id_from_cgroup(docker, buf, 12);
	CHECK(err == -ENOSPC && !buf[0], "buffer: one byte short", "err %d", err);
	err = container__id_from_cgroup(nspawn, buf, 7);
	CHECK(!err && !strcmp(buf, "my-box"), "buffer: unescaped name fits exactly", "err %d", err);
	err = container__id_from_cgroup(nspawn, buf, 6);
	CHECK(err == -ENOSPC && !buf[0], "buffer: unescaped name one byte short", "err %d", err);
	err = container__id_from_cgroup("0::/init.scope\n", buf, 1);
	CHECK(!err && !buf[0], "buffer: no container needs one byte", "err %d", err);
	err = container__id_from_cgroup(docker, buf, 0);
	CHECK(err == -ENOSPC, "buffer: zero length", "err %d", err);
	err = container__id_from_cgroup(NULL, buf, sizeof(buf));
	CHECK(err == -EINVAL, "buffer: NULL text", "err %d", err);
}

static void test_self(void)
{
	char buf[CONTAINER_ID_MAX], want[CONTAINER_ID_MAX], text[8192];
	size_t n;
	FILE *f;
	int err;

	/* Ours, against the text read independently. */
	f = fopen("/proc/self/cgroup", "r");
	n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[n] = 0;
	err = container__id_from_cgroup(text, want, sizeof(want));
	memset(buf, 'Z', sizeof(buf));
	err = err ? err : container__id((uint32_t)getpid(), buf, sizeof(buf));
	CHECK(!err && !strcmp(buf, want), "self: container__id(getpid())",
	      "err %d got \"%.*s\" want \"%s\"", err, (int)strnlen(buf, sizeof(buf)), buf, want);
	printf("# this process's container: \"%s\"\n", buf);

	err = container__id(4194305, buf, sizeof(buf));	/* above the largest pid_max */
	CHECK(err == -ENOENT, "self: no such process", "err %d", err);
	err = container__id(0, buf, sizeof(buf));
	CHECK(err == -EINVAL, "self: pid 0", "err %d", err);
}

int main(void)
{
	test_table();
	test_buffers();
	test_self();
	return CHECK_EXIT();
}
