#!/usr/bin/env bash
# SDK record builder vs libprotobuf map encoding: ns and bytes per 15-field driver record.
# Figures are the median of 5 repetitions of thread CPU time (other load on the machine does
# not inflate them). Extra arguments go to google-benchmark (e.g. --benchmark_filter=sdk).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build bench_sdk_encode
exec "$(bench_build_dir)/bench/sdk_encode/bench_sdk_encode" "$@"
