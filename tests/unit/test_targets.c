/* Unit test of daemon/capture/targets.c: every option value accepted and refused,
 * with the reasons; matching by comm, exe and cgroup (descendants too);
 * reading /proc for this process, a zombie and a program whose file was
 * deleted; copies, descriptions. Runs without root. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "targets.h"

static char err[512];

static int add(struct targets_spec *s, enum targets_kind kind, const char *value)
{
	return targets__add(s, kind, value, err, sizeof(err));
}

/* value refused, with a reason that has want in it */
static void refuse(const char *name, enum targets_kind kind, const char *value, const char *want)
{
	struct targets_spec s = { 0 };
	int ret = add(&s, kind, value);

	CHECK(ret == -EINVAL && strstr(err, want) && !strchr(err, '\n') && targets__empty(&s), name,
	      "ret %d err \"%s\", want \"%s\"", ret, err, want);
	targets__clear(&s);
}

static void test_pids(void)
{
	struct targets_spec s = { 0 };
	int ret;

	ret = add(&s, TARGETS_PID, "42");
	ret |= add(&s, TARGETS_PID, "4194304");
	ret |= add(&s, TARGETS_PID, "42");
	CHECK(!ret && s.nr_pids == 2 && s.pids[0] == 42 && s.pids[1] == 4194304,
	      "--pid: taken once each", "ret %d nr %d", ret, s.nr_pids);
	CHECK(!targets__empty(&s) && !targets__has_names(&s), "--pid: not a name target", "%s", "");
	refuse("--pid 0", TARGETS_PID, "0", "--pid 0: expected a process id");
	refuse("--pid abc", TARGETS_PID, "abc", "--pid abc: expected a process id");
	refuse("--pid -3", TARGETS_PID, "-3", "expected a process id");
	refuse("--pid 4194305", TARGETS_PID, "4194305", "expected a process id");
	refuse("--pid 12x", TARGETS_PID, "12x", "expected a process id");
	refuse("--pid \"\"", TARGETS_PID, "", "expected a process id");
	targets__clear(&s);
	CHECK(targets__empty(&s) && !s.pids, "clear empties", "%s", "");
}

static void test_comms(void)
{
	struct targets_spec s = { 0 };
	char name[16];
	int ret = 0;

	ret |= add(&s, TARGETS_COMM, "redis-server");
	ret |= add(&s, TARGETS_COMM, "abcdefghijklmno");
	ret |= add(&s, TARGETS_COMM, "redis-server");
	CHECK(!ret && s.nr_comms == 2 && !strcmp(s.comms[1].name, "abcdefghijklmno") &&
	      targets__has_names(&s), "--comm: 15 bytes taken, repeats once", "ret %d nr %d (%s)",
	      ret, s.nr_comms, err);
	refuse("--comm of 16 bytes", TARGETS_COMM, "abcdefghijklmnop",
	       "--comm: process names are at most 15 bytes, as the kernel keeps them: give \"abcdefghijklmno\"");
	refuse("--comm \"\"", TARGETS_COMM, "", "--comm: must be a process name of 1 to 15 bytes");
	refuse("--comm NULL", TARGETS_COMM, NULL, "--comm: must be a process name");
	for (int i = s.nr_comms; i < TARGETS_MAX_NAMES; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		ret |= add(&s, TARGETS_COMM, name);
	}
	CHECK(!ret && s.nr_comms == TARGETS_MAX_NAMES, "--comm: TARGETS_MAX_NAMES taken", "ret %d", ret);
	ret = add(&s, TARGETS_COMM, "one-more");
	CHECK(ret == -EINVAL && !strcmp(err, "--comm: at most 64 names"), "--comm: one more refused",
	      "ret %d err \"%s\"", ret, err);
	CHECK(targets__match_comm(&s, "redis-server") && !targets__match_comm(&s, "redis-serve") &&
	      !targets__match_comm(&s, "redis-server2") && !targets__match_comm(&s, NULL),
	      "comm matches whole names", "%s", "");
	/* a sample key's comm has all 16 bytes, NUL-padded */
	memset(name, 0, sizeof(name));
	memcpy(name, "abcdefghijklmno", 15);
	CHECK(targets__match_comm(&s, name), "comm of 15 bytes matches a key's", "%s", "");
	targets__clear(&s);
}

static void test_exes(void)
{
	struct targets_spec s = { 0 };
	char real[PATH_MAX];
	int ret;

	ret = add(&s, TARGETS_EXE, "/proc/self/exe");
	CHECK(!ret && s.nr_exes == 1 && realpath("/proc/self/exe", real) && !strcmp(s.exes[0], real),
	      "--exe: symlinks resolved", "ret %d (%s) %s", ret, err, s.nr_exes ? s.exes[0] : "");
	ret = add(&s, TARGETS_EXE, "/nonexistent/cprof/app");
	CHECK(!ret && s.nr_exes == 2 && !strcmp(s.exes[1], "/nonexistent/cprof/app"),
	      "--exe: a path that does not exist yet is taken as given", "ret %d (%s)", ret, err);
	ret = add(&s, TARGETS_EXE, real);
	CHECK(!ret && s.nr_exes == 2, "--exe: the same file twice is kept once", "nr %d", s.nr_exes);
	refuse("--exe relative", TARGETS_EXE, "python3",
	       "--exe: must be the absolute path of an executable, as in /usr/bin/python3, not \"python3\"");
	refuse("--exe \"\"", TARGETS_EXE, "", "--exe: must be the absolute path of an executable");
	CHECK(targets__match_exe(&s, real) && !targets__match_exe(&s, "/nonexistent/cprof") &&
	      !targets__match_exe(&s, NULL), "exe matches whole paths", "%s", "");
	targets__clear(&s);
}

/* A directory in the cgroup v2 hierarchy below the root, as a path from its
 * root ("/a/b"), or "" when there is none to try. */
static void some_cgroup(const char *mount, char *out, size_t len)
{
	char cmd[PATH_MAX + 64];
	FILE *f;

	out[0] = '\0';
	snprintf(cmd, sizeof(cmd), "find '%s' -mindepth 1 -maxdepth 3 -type d 2>/dev/null | tail -1", mount);
	f = popen(cmd, "r");
	if (!f)
		return;
	if (fgets(out, len, f)) {
		size_t ml = strlen(mount);

		out[strcspn(out, "\n")] = '\0';
		memmove(out, out + ml, strlen(out + ml) + 1);
	}
	pclose(f);
}

static void test_cgroups(void)
{
	struct targets_spec s = { 0 };
	char mount[PATH_MAX], sub[PATH_MAX], form[3 * PATH_MAX], dir[2 * PATH_MAX];
	char made[2 * PATH_MAX] = "";
	struct stat st;
	int ret, level = 0;

	if (targets__cgroup2_mount(mount, sizeof(mount))) {
		SKIP("--cgroup", "no cgroup2 file system is mounted here");
		return;
	}
	ret = add(&s, TARGETS_CGROUP, "/");
	CHECK(!ret && s.nr_cgroups == 1 && !strcmp(s.cgroups[0].path, "/") && s.cgroups[0].level == 0 &&
	      !stat(mount, &st) && s.cgroups[0].id == st.st_ino, "--cgroup /: the root, level 0, its id",
	      "ret %d (%s)", ret, err);
	ret = add(&s, TARGETS_CGROUP, mount);
	CHECK(!ret && s.nr_cgroups == 1, "--cgroup MOUNT: the root again, kept once", "ret %d nr %d (%s)",
	      ret, s.nr_cgroups, err);
	CHECK(targets__cgroup_exists("/") && !targets__cgroup_exists("/cprof-no-such-cgroup"),
	      "cgroup exists: the root, not one that is not", "%s", mount);
	refuse("--cgroup of no cgroup", TARGETS_CGROUP, "cprof-no-such-cgroup/x",
	       "--cgroup cprof-no-such-cgroup/x: no such cgroup: ");
	refuse("--cgroup with ..", TARGETS_CGROUP, "a/../b", "a cgroup path without \".\" or \"..\" is needed");
	refuse("--cgroup \"\"", TARGETS_CGROUP, "", "--cgroup: must be a cgroup");
	targets__clear(&s);

	some_cgroup(mount, sub, sizeof(sub));
	if (!sub[0] && geteuid() == 0) {
		/* as root, one of our own */
		snprintf(sub, sizeof(sub), "/cprof-unit.%d", (int)getpid());
		snprintf(made, sizeof(made), "%s%s", mount, sub);
		if (mkdir(made, 0755))
			sub[0] = made[0] = '\0';
	}
	if (!sub[0]) {
		SKIP("--cgroup below the root", "no cgroup below %s, and not root to make one", mount);
		return;
	}
	for (const char *p = sub; *p; p++)
		level += *p == '/';
	snprintf(dir, sizeof(dir), "%s%s", mount, sub);
	stat(dir, &st);
	/* the three forms: under the mount, from the root, relative */
	snprintf(form, sizeof(form), "%s%s/", mount, sub);
	ret = add(&s, TARGETS_CGROUP, form);
	ret |= add(&s, TARGETS_CGROUP, sub);
	ret |= add(&s, TARGETS_CGROUP, sub + 1);
	CHECK(!ret && s.nr_cgroups == 1 && !strcmp(s.cgroups[0].path, sub) &&
	      s.cgroups[0].level == level && s.cgroups[0].id == st.st_ino,
	      "--cgroup: three forms of one cgroup, its level and id", "ret %d (%s) nr %d path %s level %d",
	      ret, err, s.nr_cgroups, s.nr_cgroups ? s.cgroups[0].path : "", level);
	snprintf(form, sizeof(form), "%s/child/grandchild", sub);
	CHECK(targets__match_cgroup(&s, sub) && targets__match_cgroup(&s, form) &&
	      !targets__match_cgroup(&s, "/") && !targets__match_cgroup(&s, NULL),
	      "cgroup matches itself and below, not above", "%s", "");
	snprintf(form, sizeof(form), "%sx", sub);
	CHECK(!targets__match_cgroup(&s, form), "cgroup does not match a sibling with a longer name", "%s", form);
	targets__clear(&s);
	if (made[0])
		rmdir(made);
}

static void test_cgroup_text(void)
{
	char buf[64];
	int ret;

	ret = targets__cgroup_from_text("0::/system.slice/cron.service\n", buf, sizeof(buf));
	CHECK(!ret && !strcmp(buf, "/system.slice/cron.service"), "cgroup text: v2", "ret %d %s", ret, buf);
	ret = targets__cgroup_from_text("9:name=systemd:/user.slice\n4:memory:/x\n0::/user.slice/a b\n",
					buf, sizeof(buf));
	CHECK(!ret && !strcmp(buf, "/user.slice/a b"), "cgroup text: hybrid, the v2 line", "ret %d %s", ret, buf);
	ret = targets__cgroup_from_text("0::/", buf, sizeof(buf));
	CHECK(!ret && !strcmp(buf, "/"), "cgroup text: the root, no newline", "ret %d %s", ret, buf);
	ret = targets__cgroup_from_text("4:memory:/x\n1:name=systemd:/y\n", buf, sizeof(buf));
	CHECK(ret == -ENOENT, "cgroup text: v1 only", "ret %d", ret);
	ret = targets__cgroup_from_text("", buf, sizeof(buf));
	CHECK(ret == -ENOENT, "cgroup text: empty", "ret %d", ret);
	ret = targets__cgroup_from_text("0::/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
					buf, sizeof(buf));
	CHECK(ret == -ENAMETOOLONG, "cgroup text: too long for the buffer", "ret %d", ret);
}

static void test_proc(void)
{
	struct targets_spec s = { 0 };
	char comm[16], self_comm[17] = { 0 }, exe[PATH_MAX], real[PATH_MAX], cg[PATH_MAX];
	uint64_t ticks = 0;
	bool exited = true;
	pid_t child;
	int ret;

	prctl(PR_GET_NAME, self_comm);
	ret = targets__read_comm(getpid(), comm);
	CHECK(!ret && !strcmp(comm, self_comm), "read comm: this process's", "ret %d %s", ret, comm);
	ret = targets__read_exe(getpid(), exe, sizeof(exe));
	CHECK(!ret && realpath("/proc/self/exe", real) && !strcmp(exe, real), "read exe: this process's",
	      "ret %d %s", ret, exe);
	ret = targets__read_exe(getpid(), exe, 4);
	CHECK(ret == -ENAMETOOLONG, "read exe: too long for the buffer", "ret %d", ret);
	ret = targets__proc_stat(getpid(), &ticks, &exited);
	CHECK(!ret && ticks > 0 && !exited, "proc stat: this process, alive", "ret %d ticks %llu",
	      ret, (unsigned long long)ticks);
	ret = targets__proc_stat(999999999, &ticks, &exited);
	CHECK(ret < 0, "proc stat: no such process", "ret %d", ret);

	/* a zombie has exited, though /proc still shows it */
	child = fork();
	if (child == 0)
		_exit(0);
	for (int i = 0; i < 200; i++) {
		if (!targets__proc_stat(child, &ticks, &exited) && exited)
			break;
		usleep(10000);
	}
	CHECK(exited, "proc stat: a zombie has exited", "pid %d", child);
	waitpid(child, NULL, 0);

	/* matching this process, by what its targets need */
	add(&s, TARGETS_COMM, self_comm);
	CHECK(targets__match(&s, getpid(), NULL) == 1, "match: by comm read from /proc", "%s", "");
	CHECK(targets__match(&s, getpid(), "other") == 0, "match: by the comm given", "%s", "");
	targets__clear(&s);
	add(&s, TARGETS_COMM, "cprof-nomatch");
	add(&s, TARGETS_EXE, "/proc/self/exe");
	CHECK(targets__match(&s, getpid(), NULL) == 1, "match: by exe", "%s", "");
	CHECK(targets__match(&s, 1, NULL) == 0 || getpid() == 1, "match: init is not this exe", "%s", "");
	CHECK(targets__match(&s, 999999999, NULL) == 0, "match: no such process", "%s", "");
	targets__clear(&s);
	if (!targets__read_cgroup(getpid(), cg, sizeof(cg)) && !add(&s, TARGETS_CGROUP, cg)) {
		CHECK(targets__match(&s, getpid(), NULL) == 1, "match: by cgroup", "%s", cg);
		targets__clear(&s);
	} else {
		SKIP("match: by cgroup", "this process's cgroup v2 path cannot be read or added: %s", err);
	}
}

/* A program still running after its file was deleted (an upgrade) is still
 * that program. */
static void test_deleted_exe(void)
{
	char dir[] = "/tmp/cprof-targets.XXXXXX", path[PATH_MAX], cmd[2 * PATH_MAX], exe[PATH_MAX];
	pid_t child;
	int ret;

	if (!mkdtemp(dir)) {
		SKIP("read exe: deleted", "no temporary directory");
		return;
	}
	snprintf(path, sizeof(path), "%s/cprof-sleeper", dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", path);
	if (sh(cmd)) {
		SKIP("read exe: deleted", "cannot copy /bin/sleep");
		rmdir(dir);
		return;
	}
	child = fork();
	if (child == 0) {
		execl(path, path, "5", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (!targets__read_exe(child, exe, sizeof(exe)) && !strcmp(exe, path))
			break;
		usleep(10000);
	}
	unlink(path);
	ret = targets__read_exe(child, exe, sizeof(exe));
	CHECK(!ret && !strcmp(exe, path), "read exe: \" (deleted)\" taken off", "ret %d %s", ret, exe);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	rmdir(dir);
}

static void test_copy_describe(void)
{
	struct targets_spec a = { 0 }, b = { 0 };
	char buf[256], tiny[40];
	int ret;

	targets__describe(&a, buf, sizeof(buf));
	CHECK(!strcmp(buf, "every process"), "describe: nothing", "%s", buf);
	add(&a, TARGETS_PID, "7");
	add(&a, TARGETS_COMM, "nginx");
	add(&a, TARGETS_EXE, "/nonexistent/bin/app");
	add(&a, TARGETS_CGROUP, "/");
	ret = targets__copy(&b, &a);
	CHECK(!ret && targets__same(&a, &b), "copy: the same targets", "ret %d", ret);
	add(&b, TARGETS_COMM, "other");
	CHECK(!targets__same(&a, &b), "same: one more name differs", "%s", "");
	targets__clear(&b);
	ret = targets__copy(&b, &a);
	targets__clear(&a);
	CHECK(!ret && b.nr_pids == 1 && b.nr_comms == 1 && b.nr_exes == 1 &&
	      !strcmp(b.exes[0], "/nonexistent/bin/app") && b.pids[0] == 7,
	      "copy: deep, survives the original", "ret %d", ret);
	targets__describe(&b, buf, sizeof(buf));
	CHECK(!strncmp(buf, "pid 7, comm nginx, exe /nonexistent/bin/app", 43),
	      "describe: each kind", "%s", buf);
	targets__describe(&b, tiny, sizeof(tiny));
	CHECK(strlen(tiny) < sizeof(tiny) && strstr(tiny, "...") && !strncmp(tiny, "pid 7, comm nginx", 17),
	      "describe: shortened to fit", "%s", tiny);
	ret = targets__copy(&b, NULL);
	CHECK(!ret && targets__empty(&b), "copy of NULL: empty", "%s", "");
	targets__clear(&b);
	targets__clear(NULL);
}

int main(void)
{
	test_pids();
	test_comms();
	test_exes();
	test_cgroups();
	test_cgroup_text();
	test_proc();
	test_deleted_exe();
	test_copy_describe();
	return CHECK_EXIT();
}
