#!/usr/bin/env bash
# Bus append/consume rates of the embedded log and NATS JetStream, ~300-byte MQData from 10,000 agents (target embedded >= 1,000,000 appends/s).
# SECONDS (default 5) of appends per backend from THREADS (4) producer threads, BATCH (100)
# messages per append (one agent batch), INFLIGHT (64) appends in flight per thread; each
# append is acknowledged only once durable. Then one consumer reads everything back.
# The NATS run uses its own nats-server -js on loopback (scripts/nats-test-server.sh).
# BACKENDS (default "embedded nats") picks the backends.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build bus_bench
B="$(bench_build_dir)/bench/bus"
WORK="$(mktemp -d /tmp/vigil-bench-bus.XXXXXX)"
NATS="$VIGIL_SOURCE_DIR/scripts/nats-test-server.sh"
trap '"$NATS" stop "$WORK/nats" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
ARGS=(--seconds "${SECONDS_PER_BACKEND:-5}" --threads "${THREADS:-4}" --batch "${BATCH:-100}"
      --inflight "${INFLIGHT:-64}" --agents "${AGENTS:-10000}")
for backend in ${BACKENDS:-embedded nats}; do
    case "$backend" in
        embedded)
            "$B/bus_bench" --backend embedded --dir "$WORK/bus" "${ARGS[@]}"
            rm -rf "$WORK/bus"
            ;;
        nats)
            eval "$("$NATS" start "$WORK/nats")"
            "$B/bus_bench" --backend nats --url "$VIGIL_TEST_NATS_URL" "${ARGS[@]}"
            "$NATS" stop "$WORK/nats"
            ;;
    esac
done
