#!/usr/bin/env bash
# Hub rule engine events/s per core and on all cores over the default pack + bench Sigma rules (target >= 1,000,000 per core).
# COUNT (default 2000000) events per thread; THREADS (default: nproc). Prints the rate with the
# Hyperscan prefilter off for comparison.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build hub_bench
B="$(bench_build_dir)/bench/hub"
S="$VIGIL_SOURCE_DIR"
"$B/hub_bench" --count "${COUNT:-2000000}" --threads "${THREADS:-$(nproc)}" \
    "$S/hub/rules" "$S/hub/rules/sigma" "$S/bench/hub/sigma"
