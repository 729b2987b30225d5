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
};

int bpfmap__drain(int fd, size_t key_size, size_t value_size,
		  int (*fn)(const void *key, const void *value, void *arg), void *arg)
{
	size_t cap = 256, n = 0;
	unsigned char *keys = malloc(cap * key_size), *value = malloc(value_size);
	unsigned char *prev = NULL;
	int err = 0;

	if (!keys || !value) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Collect the keys first: deleting while walking with get_next_key
	 * would restart the walk from the first bucket each time. */
	for (;;) {
		if (n == cap) {
			unsigned char *k = realloc(keys, 2 * cap * key_size);

			if (!k) {
				err = -ENOMEM;
				goto cleanup;
			}
			keys = k;
			cap *= 2;
		}
		if (bpf_map_get_next_key(fd, prev, keys + n * key_size))
			break;		/* ENOENT: no more */
		prev = keys + n * key_size;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *k = keys + i * key_size;

		if (bpf_map_lookup_elem(fd, k, value))
			continue;
		if (fn) {
			err = fn(k, value, arg);
			if (err)
				goto cleanup;
		}
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(fd, keys + i * key_size);
	err = (int)n;
cleanup:
	free(keys);
	free(value);
	return err;
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
