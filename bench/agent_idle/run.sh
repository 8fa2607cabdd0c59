#!/usr/bin/env bash
# RSS and CPU of vigil-agent with two idle plugins, connected to a center, over 30 s (targets <= 15,000 kB, <= 0.5 %).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build vigil-agent vigil-fetch sdk_example_plugin agent_stack_bench
B="$(bench_build_dir)"
WORK="$(mktemp -d /tmp/vigil-bench-idle.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$B/bench/agent_e2e/agent_stack_bench" idle "$B/bin/vigil-agent" "$B/bin/plugins/example/example" "$WORK" "${SECONDS_IDLE:-30}"
