// SPDX-License-Identifier: GPL-2.0
/* Vigil driver: one trivial program per hook type, loaded and attached one at a time at start
 * (src/hook_probe.cpp) to learn what this kernel allows. None of them records anything; each
 * is detached right after the probe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp/syscalls/sys_exit_getppid")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sys_exit")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tp_btf/sched_process_exec")
int probe_tp_btf(void *ctx) { return 0; }

SEC("kprobe/do_nanosleep")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/do_nanosleep")
int probe_fentry(void *ctx) { return 0; }

SEC("lsm/file_open")
int probe_lsm(void *ctx) { return 0; }

SEC("iter/task")
int probe_iter(void *ctx) { return 0; }

SEC("cgroup/connect4")
int probe_cgroup(void *ctx) { return 1; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }
