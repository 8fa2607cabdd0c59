#!/usr/bin/env bash
# Manager store: alert list p99 over the console's queries with 1,000,000 alerts and 10,000 hosts, SQLite and PostgreSQL (target <= 100 ms).
# ALERTS (default 1000000), HOSTS (10000), DAYS (30) the alerts span, QUERIES (50) timed queries
# of each kind; BACKENDS (default "sqlite postgresql"). Each backend is loaded through the store's
# ingest API in batches of 1000 (the bus consumer's way), then queried. PostgreSQL runs on
# loopback (scripts/pg-test-server.sh, shared_buffers 1 GB). KEEP=DIR keeps the SQLite file and
# the PostgreSQL server running in DIR and reuses them on the next run, without reloading (stop
# the server with scripts/pg-test-server.sh stop DIR/pg). Prints per-query percentiles and METRIC
# lines; manager_alert_list_p99_ms is the worse of the backends run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
bench_build manager_store_bench
B="$(bench_build_dir)/bench/manager_store"
PG="$VIGIL_SOURCE_DIR/scripts/pg-test-server.sh"
if [ -n "${KEEP:-}" ]; then
    WORK="$KEEP"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d /tmp/vigil-bench-manager.XXXXXX)"
fi
chmod 755 "$WORK"  # the PostgreSQL cluster below it belongs to the postgres user
cleanup() {
    [ -n "${KEEP:-}" ] && return 0
    "$PG" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ARGS=(--alerts "${ALERTS:-1000000}" --hosts "${HOSTS:-10000}" --days "${DAYS:-30}"
      --queries "${QUERIES:-50}")
OUT="$WORK/metrics"
: >"$OUT"
for backend in ${BACKENDS:-sqlite postgresql}; do
    case "$backend" in
        sqlite)
            "$B/manager_store_bench" --url "sqlite://$WORK/manager.db" "${ARGS[@]}" | tee -a "$OUT"
            ;;
        postgresql)
            # Reuses the server a KEEP run left running.
            eval "$(PG_TEST_SERVER_OPTS="-c shared_buffers=1GB" "$PG" start "$WORK/pg")"
            "$B/manager_store_bench" --url "$VIGIL_TEST_PG_URL" "${ARGS[@]}" | tee -a "$OUT"
            [ -n "${KEEP:-}" ] || "$PG" stop "$WORK/pg"
            ;;
        *)
            echo "bench/manager_store: unknown backend $backend" >&2
            exit 2
            ;;
    esac
done
worst="$(awk '$1 == "METRIC" && $2 ~ /^manager_alert_list_p99_ms_/ { if ($3 > w) w = $3 }
             END { print w + 0 }' "$OUT")"
metric manager_alert_list_p99_ms "$worst" ms
