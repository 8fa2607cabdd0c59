#!/usr/bin/env bash
# Manager over HTTP: alert list p99 through vigil-manager's API with 1,000,000 alerts and 10,000 hosts on SQLite and PostgreSQL (target <= 100 ms), and the console's first paint in chromium (target <= 1000 ms).
# ALERTS (default 1000000), HOSTS (10000), DAYS (30) the alerts span, REQUESTS (300) timed list
# requests per backend, BACKENDS (default "sqlite postgresql"), RUNS (5) dashboard loads.
# The store is filled by vigil-manager-seed (server/manager/seed, the code bench/manager_store
# uses: batches of 1000 through the store's ingest API); vigil-manager then serves it on
# loopback with the console (<build>/console/dist). http_p99.mjs times the console's list
# requests (first pages, filtered pages, cursor pages) over HTTP with keep-alive;
# first_paint.mjs loads the dashboard in headless chromium (playwright-core, /usr/bin/chromium).
# KEEP=DIR keeps the SQLite file and the PostgreSQL server in DIR for the next run (stop it with
# scripts/pg-test-server.sh stop DIR/pg). Prints manager_alert_list_p99_ms (SQLite),
# manager_alert_list_p99_ms_pg and console_first_paint_ms.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"
HERE="$VIGIL_SOURCE_DIR/bench/manager"
bench_build vigil-manager vigil-manager-seed console
BIN="$(bench_build_dir)/bin"
PG="$VIGIL_SOURCE_DIR/scripts/pg-test-server.sh"
[ -f "$(bench_build_dir)/console/dist/index.html" ] || {
    echo "bench/manager: the console is not built (npm missing?)" >&2
    exit 1
}
if [ -n "${KEEP:-}" ]; then
    WORK="$KEEP"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d /tmp/vigil-bench-manager-http.XXXXXX)"
fi
chmod 755 "$WORK"  # the PostgreSQL cluster below it belongs to the postgres user
MANAGER_PID=""
stop_manager() {
    if [ -n "$MANAGER_PID" ]; then
        kill "$MANAGER_PID" 2>/dev/null || true
        wait "$MANAGER_PID" 2>/dev/null || true
        MANAGER_PID=""
    fi
}
cleanup() {
    stop_manager
    [ -n "${KEEP:-}" ] && return 0
    "$PG" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
# Fixed, so that a KEEP store (its admin made on the first run) takes the same password.
PASSWORD="${BENCH_PASSWORD:-vigil-bench-manager}"
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start_manager URL: vigil-manager on a free loopback port; sets BASE.
start_manager() {
    local port
    port="$(free_port)"
    BASE="http://127.0.0.1:$port"
    "$BIN/vigil-manager" --store "$1" --listen "127.0.0.1:$port" --admin-password "$PASSWORD" \
        --log-level warn >"$WORK/manager.log" 2>&1 &
    MANAGER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$BASE/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$MANAGER_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "bench/manager: vigil-manager did not start:" >&2
    cat "$WORK/manager.log" >&2
    exit 1
}
SEED=(--alerts "${ALERTS:-1000000}" --hosts "${HOSTS:-10000}" --days "${DAYS:-30}")
for backend in ${BACKENDS:-sqlite postgresql}; do
    case "$backend" in
        sqlite)
            url="sqlite://$WORK/manager.db"
            suffix=""
            ;;
        postgresql)
            eval "$(PG_TEST_SERVER_OPTS="-c shared_buffers=1GB" "$PG" start "$WORK/pg")"
            url="$VIGIL_TEST_PG_URL"
            suffix="_pg"
            ;;
        *)
            echo "bench/manager: unknown backend $backend" >&2
            exit 2
            ;;
    esac
    "$BIN/vigil-manager-seed" --url "$url" "${SEED[@]}"
    start_manager "$url"
    echo "$backend: vigil-manager on $BASE"
    node "$HERE/http_p99.mjs" "$BASE" "$PASSWORD" "${REQUESTS:-300}" "$suffix"
    if [ "$backend" = sqlite ]; then
        if [ -x "${VIGIL_CHROMIUM:-/usr/bin/chromium}" ]; then
            node "$HERE/first_paint.mjs" "$VIGIL_SOURCE_DIR" "$BASE" "$PASSWORD" "${RUNS:-5}"
        else
            echo "bench/manager: no chromium (apt-get install chromium): no console_first_paint_ms"
        fi
    fi
    stop_manager
    if [ "$backend" = postgresql ] && [ -z "${KEEP:-}" ]; then "$PG" stop "$WORK/pg"; fi
done
