#!/usr/bin/env bash
# Highest connect rate the eBPF driver takes without ring drops or lost records, 1 and 2 threads (target >= 300,000 events/s), and its RSS.
# Root. Raises the rate of UDP connect()s on loopback round by round (RATES, events/s; ROUND_MS
# each, default 1500) until the driver's heartbeat reports ring-full drops or a connect's 42
# record does not reach the harness. See README.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
    echo "driver_capacity: needs root (eBPF)" >&2
    exit 1
fi
bench_build driver_plugin driver_capacity_bench
BUILD="$(bench_build_dir)"
bench_pid=""
cleanup() {
    # The benchmark kills its driver's process group on SIGTERM.
    if [ -n "$bench_pid" ]; then kill -TERM "$bench_pid" 2>/dev/null || true; wait "$bench_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$BUILD/bench/driver_capacity/driver_capacity_bench" "$BUILD/bin/plugins/driver/driver" \
    rates="${RATES:-50000,100000,150000,200000,250000,300000,400000,500000,600000,800000,1000000}" \
    round_ms="${ROUND_MS:-1500}" threads="${THREADS:-1,2}" readers="${READERS:-harness,agent}" &
bench_pid=$!
wait "$bench_pid"
bench_pid=""
