#!/usr/bin/env bash
# What the eBPF driver costs watched processes: kernel µs per exec (target <= 5) and per connect (<= 1), ns per unrelated syscall (<= 60), wall-clock A/B.
# Root. Loads the driver plugin under the plugin harness (sdk/testkit) several times; turns on
# kernel.bpf_stats_enabled for the run and restores it. Knobs (environment): EXECS (2000),
# CONNECTS (50000), PAIRS (6 driver off/on phase pairs), ROUNDS (4 per phase), GETPID_CALLS
# (2000000 per round). See README.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "driver_overhead: needs root (eBPF)" >&2
    exit 1
fi
bench_build driver_plugin driver_overhead_bench
BUILD="$(bench_build_dir)"
old_stats="$(sysctl -n kernel.bpf_stats_enabled)"
bench_pid=""
cleanup() {
    # The benchmark kills its driver's process group on SIGTERM.
    if [ -n "$bench_pid" ]; then kill -TERM "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true; fi
    sysctl -q -w kernel.bpf_stats_enabled="$old_stats" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
sysctl -q -w kernel.bpf_stats_enabled=1
"$BUILD/bench/driver_overhead/driver_overhead_bench" "$BUILD/bin/plugins/driver/driver" \
    execs="${EXECS:-2000}" connects="${CONNECTS:-50000}" pairs="${PAIRS:-6}" \
    rounds="${ROUNDS:-4}" getpid_calls="${GETPID_CALLS:-2000000}" &
bench_pid=$!
wait "$bench_pid"
bench_pid=""
