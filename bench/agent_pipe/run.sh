#!/usr/bin/env bash
# Records/s from one plugin through the agent's pipe reader into batches and the spool (target >= 1,000,000 of 200 B).
set -euo pipefail
BUILD_DIR="${VIGIL_BUILD_DIR:-build}"
cmake --build "$BUILD_DIR" --target bench-flood-plugin agent_pipe_bench >/dev/null
WORK="$(mktemp -d /tmp/vigil-bench-pipe.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
"$BUILD_DIR/bench/agent_pipe_bench" "$BUILD_DIR/bench/bench-flood-plugin" "$WORK" "${COUNT:-3000000}" "${SIZE:-200}"
