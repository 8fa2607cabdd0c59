#!/usr/bin/env bash
# Records/s from one plugin through the agent's pipe reader into batches and the spool (target >= 1,000,000 of 200 B).
# COUNT (default 3000000) records of SIZE (default 200) bytes; the flood plugin runs as its own
# process, the pipe reader, batcher and spool in this one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build bench-flood-plugin agent_pipe_bench
B="$(bench_build_dir)/bench/agent_pipe"
WORK="$(mktemp -d /tmp/vigil-bench-pipe.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$B/agent_pipe_bench" "$B/bench-flood-plugin" "$WORK" "${COUNT:-3000000}" "${SIZE:-200}"
