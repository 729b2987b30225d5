/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Targets chosen by name (--comm, --exe, --cgroup): keeping the targets map
 * in step with the processes that start, exec and exit, so that a process
 * that matches is sampled from its first instruction.
 *
 * - exec: a new image whose name is a target comm, or that runs in (a
 *   descendant of) a target cgroup, is added here and now. What BPF cannot
 *   tell (an exe target: a path) is asked of user space, which adds or
 *   removes it; a name-matched process that no longer matches leaves.
 * - fork: a new process (not a thread) of a name-matched one is added too:
 *   a server's workers, a shell's pipeline. A --pid target's children are
 *   not: --pid means that process and its threads.
 * - exit: the last thread of a process removes it, so that its pid, once
 *   reused, is not taken for a target.
 * - cgroup moves: user space is asked to check the process.
 *
 * Each handler is built twice, for tp_btf and raw_tp; user space loads the
 * ones the kernel can attach (as libbpf-tools do). None of them does
 * anything unless user space set target_flags. Included by one view. */
#ifndef CPROF_BPF_TARGETS_H
#define CPROF_BPF_TARGETS_H

#include <bpf/bpf_tracing.h>

/* Whether bpf_get_current_ancestor_cgroup_id() may be called (5.7 for
 * tracing programs): without it, user space checks cgroups at exec. */
const volatile bool cgroup_ancestor_ok = false;

/* The levels (bit N: level N, the root is 0) that hold target cgroups:
 * only their ancestors are looked up. */
__u64 target_cgroup_levels = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CPROF_MAX_TARGET_NAMES);
	__type(key, struct cprof_comm);
	__type(value, __u8);
} target_comms SEC(".maps");

/* Target cgroups by id (the cgroup v2 directory's inode number). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CPROF_MAX_TARGET_NAMES);
	__type(key, __u64);
	__type(value, __u8);
} target_cgroups SEC(".maps");

static __always_inline bool comm_targeted(struct task_struct *p)
{
	struct cprof_comm c;

	__builtin_memset(&c, 0, sizeof(c));
	BPF_CORE_READ_STR_INTO(&c.name, p, comm);
	return bpf_map_lookup_elem(&target_comms, &c) != NULL;
}

/* Whether the current task's cgroup is a target cgroup or below one. */
static __always_inline bool cgroup_targeted(void)
{
	__u64 levels = target_cgroup_levels;

	if (!cgroup_ancestor_ok)
		return false;
	for (int l = 0; l < CPROF_CGROUP_LEVELS; l++) {
		__u64 id;

		if (!(levels & (1ull << l)))
			continue;
		id = bpf_get_current_ancestor_cgroup_id(l);
		if (!id)
			return false;	/* the task's cgroup is above this level */
		if (bpf_map_lookup_elem(&target_cgroups, &id))
			return true;
	}
	return false;
}

static __always_inline void target_add(__u32 tgid, enum cprof_counter added)
{
	__u8 name = CPROF_TARGET_NAME;
	long err = bpf_map_update_elem(&targets, &tgid, &name, BPF_NOEXIST);

	if (!err) {
		count(added);
		__sync_fetch_and_add(&targets_gen, 1);
	} else if (err != -17 /* EEXIST: a target already, maybe by --pid */)
		count(CPROF_CNT_TGT_FULL);
}

/* Ask user space whether p's process is a target now. */
static __always_inline void target_ask(struct task_struct *p, __u32 type)
{
	struct cprof_instance in = {
		.pid = BPF_CORE_READ(p, tgid),
		.exec_id = BPF_CORE_READ(p, self_exec_id),
		.start_ns = BPF_CORE_READ(p, group_leader, start_boottime),
	};

	count(CPROF_CNT_TGT_CHECK);
	send_event(type, &in);
}

/* p is current: sched_process_exec runs in the task that exec'd, once it
 * has its new name (and, after a thread's exec, the leader's place). */
static __always_inline int on_exec(struct task_struct *p)
{
	__u32 flags = target_flags, tgid;
	__u8 *v;

	if (!(flags & CPROF_TGT_NAMES))
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	if (((flags & CPROF_TGT_COMM) && comm_targeted(p)) ||
	    ((flags & CPROF_TGT_CGROUP) && cgroup_targeted())) {
		target_add(tgid, CPROF_CNT_TGT_EXEC);
		return 0;
	}
	if (flags & (CPROF_TGT_EXE | CPROF_TGT_CGROUP_USER)) {
		/* it stays a target, or not, until user space has looked */
		target_ask(p, CPROF_EV_TARGET_EXEC);
		return 0;
	}
	v = bpf_map_lookup_elem(&targets, &tgid);
	if (v && *v == CPROF_TARGET_NAME && !bpf_map_delete_elem(&targets, &tgid)) {
		count(CPROF_CNT_TGT_LEFT);
		__sync_fetch_and_add(&targets_gen, 1);
	}
	return 0;
}

/* Before the child first runs: none of its samples is missed. */
static __always_inline int on_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, ctgid;
	__u8 *v;

	if (!(target_flags & CPROF_TGT_NAMES))
		return 0;
	ptgid = BPF_CORE_READ(parent, tgid);
	ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return 0;	/* a thread */
	v = bpf_map_lookup_elem(&targets, &ptgid);
	if (v && *v == CPROF_TARGET_NAME)
		target_add(ctgid, CPROF_CNT_TGT_FORK);
	return 0;
}

/* Every thread's exit; the process has gone once none lives (do_exit
 * counts signal->live down before this tracepoint). */
static __always_inline int on_exit(struct task_struct *p)
{
	__u32 tgid;

	if (!(target_flags & CPROF_TGT_FILTER))
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) > 0)
		return 0;
	tgid = BPF_CORE_READ(p, tgid);
	if (!bpf_map_delete_elem(&targets, &tgid))
		__sync_fetch_and_add(&targets_gen, 1);	/* its pid may be reused */
	return 0;
}

static __always_inline int on_cgroup_move(struct task_struct *task)
{
	if (target_flags & (CPROF_TGT_CGROUP | CPROF_TGT_CGROUP_USER))
		target_ask(task, CPROF_EV_TARGET_MOVED);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(target_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p);
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(target_exec_raw, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(target_fork, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(target_fork_raw, struct task_struct *parent, struct task_struct *child)
{
	return on_fork(parent, child);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(target_exit, struct task_struct *p)
{
	return on_exit(p);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(target_exit_raw, struct task_struct *p)
{
	return on_exit(p);
}

SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(target_cgroup_move, struct cgroup *dst, const char *path, struct task_struct *task)
{
	return on_cgroup_move(task);
}

SEC("raw_tp/cgroup_attach_task")
int BPF_PROG(target_cgroup_move_raw, struct cgroup *dst, const char *path, struct task_struct *task)
{
	return on_cgroup_move(task);
}

#endif /* CPROF_BPF_TARGETS_H */
