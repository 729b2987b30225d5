#include <errno.h>
#include <linux/membarrier.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfmaps.h"

const char *const cprof_counter_names[CPROF_CNT_MAX] = {
	[CPROF_CNT_SAMPLES] = "samples",
	[CPROF_CNT_USTACK_LOST] = "user_stack_lost",
	[CPROF_CNT_KSTACK_LOST] = "kernel_stack_lost",
	[CPROF_CNT_STACKS_FULL] = "stacks_map_full",
	[CPROF_CNT_COUNTS_FULL] = "counts_map_full",
	[CPROF_CNT_EVENTS_LOST] = "events_lost",
	[CPROF_CNT_SEEN_FULL] = "seen_map_full",
	[CPROF_CNT_UNW_WALKS] = "unwind_walks",
	[CPROF_CNT_UNW_NO_PROC] = "unwind_no_tables_yet",
	[CPROF_CNT_UNW_DONE] = "unwind_end_outermost",
	[CPROF_CNT_UNW_END_FP] = "unwind_end_frame_pointer",
	[CPROF_CNT_UNW_END_READ] = "unwind_end_bad_read",
	[CPROF_CNT_UNW_END_BAD_FRAME] = "unwind_end_bad_frame",
	[CPROF_CNT_UNW_END_DEPTH] = "unwind_end_depth_limit",
	[CPROF_CNT_UNW_END_NOT_CODE] = "unwind_end_not_code",
	[CPROF_CNT_UNW_FP_NO_MAPPING] = "unwind_fp_step_no_mapping",
	[CPROF_CNT_UNW_FP_NO_TABLE] = "unwind_fp_step_no_table",
	[CPROF_CNT_UNW_FP_NO_ROW] = "unwind_fp_step_no_row",
	[CPROF_CNT_UNW_FP_UNSUPPORTED] = "unwind_fp_step_unsupported",
	[CPROF_CNT_UNW_FP_EVICTED] = "unwind_fp_step_table_evicted",
	[CPROF_CNT_UNW_WALK_NS] = "unwind_walk_ns",
	[CPROF_CNT_TGT_EXEC] = "targets_matched_at_exec",
	[CPROF_CNT_TGT_FORK] = "targets_inherited_at_fork",
	[CPROF_CNT_TGT_LEFT] = "targets_left_at_exec",
	[CPROF_CNT_TGT_CHECK] = "targets_checks_asked",
	[CPROF_CNT_TGT_FULL] = "targets_map_full",
	[CPROF_CNT_OFF_INTERVALS] = "offcpu_intervals",
	[CPROF_CNT_OFF_SHORT] = "offcpu_short",
	[CPROF_CNT_OFF_SHORT_NS] = "offcpu_short_ns",
	[CPROF_CNT_OFF_SAMPLED_OUT] = "offcpu_sampled_out",
	[CPROF_CNT_OFF_RECORDED] = "offcpu_recorded",
	[CPROF_CNT_OFF_USTACK_LOST] = "offcpu_user_stack_lost",
	[CPROF_CNT_OFF_THREADS_FULL] = "offcpu_threads_map_full",
	[CPROF_CNT_OFF_COUNTS_FULL] = "offcpu_map_full",
	[CPROF_CNT_OFF_STALE] = "offcpu_stale",
	[CPROF_CNT_OFF_EAGER_DRAWN] = "offcpu_eager_drawn",
	[CPROF_CNT_OFF_RATE_RAISED] = "offcpu_rate_raised",
	[CPROF_CNT_HEAP_CALLS] = "heap_alloc_calls",
	[CPROF_CNT_HEAP_FREE_CALLS] = "heap_free_calls",
	[CPROF_CNT_HEAP_SAMPLED] = "heap_sampled",
	[CPROF_CNT_HEAP_FREED] = "heap_sampled_freed",
	[CPROF_CNT_HEAP_FREE_UNKNOWN] = "heap_free_unknown",
	[CPROF_CNT_HEAP_FAILED] = "heap_alloc_failed",
	[CPROF_CNT_HEAP_LIVE_FULL] = "heap_live_full",
	[CPROF_CNT_HEAP_PENDING_LOST] = "heap_pending_lost",
	[CPROF_CNT_HEAP_COUNTS_FULL] = "heap_counts_full",
	[CPROF_CNT_HEAP_USTACK_LOST] = "heap_user_stack_lost",
	[CPROF_CNT_HEAP_BLOCK_NS] = "heap_blocking_ns",
	[CPROF_CNT_LOCK_WAITS] = "lock_waits",
	[CPROF_CNT_LOCK_BACK_UNSEEN] = "lock_waits_end_unseen",
	[CPROF_CNT_LOCK_WAITS_RECORDED] = "lock_waits_recorded",
	[CPROF_CNT_LOCK_WAKES] = "lock_wakes",
	[CPROF_CNT_LOCK_WAKES_RECORDED] = "lock_wakes_recorded",
	[CPROF_CNT_LOCK_SAMPLED_OUT] = "lock_sampled_out",
	[CPROF_CNT_LOCK_UNBLAMED_NS] = "lock_unblamed_ns",
	[CPROF_CNT_LOCK_RACES] = "lock_word_races",
	[CPROF_CNT_LOCK_WAITS_FULL] = "lock_waits_map_full",
	[CPROF_CNT_LOCK_WORDS_FULL] = "lock_words_map_full",
	[CPROF_CNT_LOCK_COUNTS_FULL] = "lock_map_full",
	[CPROF_CNT_LOCK_USTACK_LOST] = "lock_user_stack_lost",
};

const char *cprof_counter_source(int i)
{
	if (i == CPROF_CNT_SAMPLES || i == CPROF_CNT_COUNTS_FULL)
		return "cpu";
	if (i >= CPROF_CNT_OFF_INTERVALS && i <= CPROF_CNT_OFF_RATE_RAISED)
		return "sched";
	if (i >= CPROF_CNT_HEAP_CALLS && i <= CPROF_CNT_HEAP_BLOCK_NS)
		return "alloc";
	if (i >= CPROF_CNT_LOCK_WAITS && i <= CPROF_CNT_LOCK_USTACK_LOST)
		return "futex";
	return "core";
}

/* The kernel's "operation not supported" (ENOTSUPP), which user space's
 * errno.h does not name. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/* Entries per batch, and per pass of the key walk: as many keys and values
 * as fit in 64 KiB, up to 4096, whatever the size of the map. Draining
 * 100,000 entries took 40-50 ms with any batch of 64 to 16,384 entries (the
 * kernel's work dominates), so the size is chosen for memory: under
 * malloc's mmap threshold (cprofd fixes it at 256 KiB), the buffers come
 * from the heap again each second instead of fresh pages that fault in,
 * which were most of a drain's time. */
#define DRAIN_BYTES (64 << 10)
#define DRAIN_MAX 4096

static __u32 drain_cap(size_t key_size, size_t value_size)
{
	size_t n = DRAIN_BYTES / (key_size + value_size);

	return n < 1 ? 1 : n > DRAIN_MAX ? DRAIN_MAX : (__u32)n;
}

typedef int (*drain_fn)(const void *key, const void *value, void *arg);

/* Only hash maps are drained, and only with the sizes they were made with:
 * the kernel writes whole keys and values into our buffers. */
static int drain_check_map(int fd, size_t key_size, size_t value_size)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int err;

	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (err)
		return err;
	if ((info.type != BPF_MAP_TYPE_HASH && info.type != BPF_MAP_TYPE_LRU_HASH) ||
	    info.key_size != key_size || info.value_size != value_size)
		return -EINVAL;
	return 0;
}

/* Whether the kernel looks up and deletes hash map entries in batches
 * (BPF_MAP_LOOKUP_AND_DELETE_BATCH, Linux 5.6). Asked once per process, with
 * a call for no entries, which returns before it touches the map; a kernel
 * without the command says EINVAL, one without it for the map type ENOTSUPP. */
static int batch_ops = -1;	/* -1 not asked yet, 0 no, 1 yes */

static int has_batch_ops(int fd)
{
	int yes = __atomic_load_n(&batch_ops, __ATOMIC_RELAXED);
	__u32 token, count = 0;
	int err;

	if (yes < 0) {
		err = bpf_map_lookup_and_delete_batch(fd, NULL, &token, NULL, NULL, &count, NULL);
		yes = err != -EINVAL && err != -ENOTSUPP && err != -EOPNOTSUPP;
		__atomic_store_n(&batch_ops, yes, __ATOMIC_RELAXED);
	}
	return yes;
}

/* Whether a batch call that returned err took `count` entries out of the map:
 * the hash map says how many it took when it reaches the end (ENOENT) or
 * fails between buckets (ENOMEM, EBUSY); errors it finds before it starts
 * leave count as we passed it. */
static int batch_took(int err)
{
	return !err || err == -ENOENT || err == -ENOMEM || err == -EBUSY;
}

/* Take the entries out `cap` at a time, each batch a run of whole hash
 * buckets: the kernel deletes them as it copies them (unless only reading:
 * !take), and the cursor it hands back (a bucket index, a __u32) starts the
 * next batch after them, so no entry comes twice. A bucket that does not fit
 * in an empty batch is ENOSPC: grow the buffers and ask again from the same
 * bucket. */
static int drain_batch(int fd, size_t key_size, size_t value_size, __u32 cap,
		       drain_fn fn, void *arg, bool take)
{
	unsigned char *keys = NULL, *values = NULL;
	__u32 at, next, count;
	void *in = NULL;	/* the first batch starts at the first bucket */
	int n = 0, err;

	for (;;) {
		if (!keys) {
			keys = malloc((size_t)cap * key_size);
			values = malloc((size_t)cap * value_size);
			if (!keys || !values) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		count = cap;
		err = take ? bpf_map_lookup_and_delete_batch(fd, in, &next, keys, values, &count, NULL)
			   : bpf_map_lookup_batch(fd, in, &next, keys, values, &count, NULL);
		if (err == -ENOSPC && cap <= UINT32_MAX / 2) {
			free(keys);
			free(values);
			keys = values = NULL;
			cap *= 2;
			continue;
		}
		if (!batch_took(err))
			goto cleanup;
		if (count > cap) {	/* the kernel broke its word */
			err = -EIO;
			goto cleanup;
		}
		for (__u32 i = 0; i < count; i++) {
			if (fn)
				fn(keys + i * key_size, values + i * value_size, arg);
			n++;
		}
		if (err)
			break;
		at = next;
		in = &at;
	}
cleanup:
	free(keys);
	free(values);
	return err == -ENOENT ? n : err;	/* ENOENT: the end of the map */
}

/* For kernels without batch operations. Deleting the key a get_next_key walk
 * stands on sends the walk back to the first bucket, so each pass only walks:
 * it collects up to `cap` keys (the previous one always in our buffer, which
 * never moves), then takes each out (look up, delete, deliver), and the next
 * pass walks again from the start over what is left. A key the walk returns
 * twice (it restarts if its previous key vanished) is delivered once: the
 * second look-up finds it gone. Delete before deliver, so an entry that
 * cannot be deleted stays in the map undelivered. */
static int drain_keywalk(int fd, size_t key_size, size_t value_size, size_t cap,
			 drain_fn fn, void *arg)
{
	unsigned char *keys = malloc(cap * key_size), *value = malloc(value_size);
	size_t got;
	int n = 0, err = 0;

	if (!keys || !value) {
		err = -ENOMEM;
		goto cleanup;
	}
	do {
		for (got = 0; got < cap; got++) {
			err = bpf_map_get_next_key(fd, got ? keys + (got - 1) * key_size : NULL,
						   keys + got * key_size);
			if (err)
				break;
		}
		if (err && err != -ENOENT)
			goto cleanup;
		for (size_t i = 0; i < got; i++) {
			const unsigned char *k = keys + i * key_size;

			err = bpf_map_lookup_elem(fd, k, value);
			if (!err)
				err = bpf_map_delete_elem(fd, k);
			if (err == -ENOENT)
				continue;	/* taken out already */
			if (err)
				goto cleanup;
			if (fn)
				fn(k, value, arg);
			n++;
		}
	} while (got == cap);
	err = n;
cleanup:
	free(keys);
	free(value);
	return err;
}

int bpfmap__drain(int fd, size_t key_size, size_t value_size,
		  int (*fn)(const void *key, const void *value, void *arg), void *arg)
{
	int err = drain_check_map(fd, key_size, value_size);

	if (err)
		return err;
	if (has_batch_ops(fd))
		return drain_batch(fd, key_size, value_size, drain_cap(key_size, value_size), fn, arg,
				   true);
	return drain_keywalk(fd, key_size, value_size, drain_cap(key_size, value_size), fn, arg);
}

int bpfmap__each(int fd, size_t key_size, size_t value_size,
		 int (*fn)(const void *key, const void *value, void *arg), void *arg)
{
	unsigned char *key, *next, *value;
	int err = drain_check_map(fd, key_size, value_size), n = 0;
	void *prev = NULL;

	if (err)
		return err;
	if (has_batch_ops(fd))
		return drain_batch(fd, key_size, value_size, drain_cap(key_size, value_size), fn, arg,
				   false);
	key = malloc(key_size);
	next = malloc(key_size);
	value = malloc(value_size);
	if (!key || !next || !value) {
		err = -ENOMEM;
		goto out;
	}
	while (!bpf_map_get_next_key(fd, prev, next)) {
		memcpy(key, next, key_size);
		prev = key;
		if (bpf_map_lookup_elem(fd, key, value))
			continue;	/* gone meanwhile */
		if (fn)
			fn(key, value, arg);
		n++;
	}
	err = errno == ENOENT ? n : -errno;
out:
	free(key);
	free(next);
	free(value);
	return err;
}

int bpf__task_instance(const struct bpf_program *iter, uint32_t pid, struct cprof_instance *in)
{
	union bpf_iter_link_info info = { .task.pid = pid };
	LIBBPF_OPTS(bpf_iter_attach_opts, o, .link_info = &info, .link_info_len = sizeof(info));
	struct bpf_link *link = bpf_program__attach_iter(iter, &o);
	ssize_t n = -1;
	int fd;

	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd >= 0) {
		n = read(fd, in, sizeof(*in));
		close(fd);
	}
	bpf_link__destroy(link);
	return n == (ssize_t)sizeof(*in) && in->pid == pid ? 0 : -ESRCH;
}

void bpf__sync(void)
{
	static int broken;
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	/* MEMBARRIER_CMD_GLOBAL waits for synchronize_rcu(), and BPF programs
	 * run inside RCU read-side sections. Kernels with nohz_full refuse it;
	 * there, sleep far longer than any of our programs runs. */
	if (!broken && syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0)
		return;
	broken = 1;
	nanosleep(&ts, NULL);
}

int counters__read(int fd, uint64_t out[CPROF_CNT_MAX])
{
	int nr_cpus = libbpf_num_possible_cpus();
	uint64_t *vals;
	int err = 0;

	if (nr_cpus <= 0)
		return nr_cpus ? nr_cpus : -EINVAL;
	vals = calloc(nr_cpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (uint32_t c = 0; c < CPROF_CNT_MAX; c++) {
		out[c] = 0;
		if (bpf_map_lookup_elem(fd, &c, vals)) {
			err = -errno;
			break;
		}
		for (int i = 0; i < nr_cpus; i++)
			out[c] += vals[i];
	}
	free(vals);
	return err;
}
