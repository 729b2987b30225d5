// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The capture core and every data source, in one BPF object: one set of
 * shared maps (stacks, counters, process events, unwind tables, targets),
 * one generation, one unwinder. User space loads the programs of the
 * sources its views need (daemon/capture/core.c); a source that is off gets no
 * program and maps of one entry. */
#include "common.h"
#include "targets.h"
#include "cpu.bpf.h"
#include "sched.bpf.h"
#include "heap.bpf.h"
#include "lock.bpf.h"
#include "switch.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
