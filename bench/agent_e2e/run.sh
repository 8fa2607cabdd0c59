#!/usr/bin/env bash
# Records/s from a plugin through vigil-agent and gRPC (mTLS) to a receiving center (target >= 300,000).
# COUNT (default 3000000) records of 200 bytes from the flood plugin; the agent is the real
# binary in its own process, the center a FakeCenter in the benchmark process.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build vigil-agent vigil-fetch bench-flood-plugin agent_stack_bench
B="$(bench_build_dir)"
WORK="$(mktemp -d /tmp/vigil-bench-e2e.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$B/bench/agent_e2e/agent_stack_bench" e2e "$B/bin/vigil-agent" "$B/bench/agent_pipe/bench-flood-plugin" "$WORK" "${COUNT:-3000000}"
