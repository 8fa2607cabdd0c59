#!/usr/bin/env bash
# Starts and stops a JetStream nats-server on loopback for tests (.ci/run) and benchmarks.
#   scripts/nats-test-server.sh start [STATE_DIR]  starts one on a free port of 127.0.0.1 (or
#        reuses the one already running from STATE_DIR), waits until it answers and prints
#        `export VIGIL_TEST_NATS_URL=nats://127.0.0.1:PORT` (use: eval "$(... start)")
#   scripts/nats-test-server.sh url [STATE_DIR]    prints the URL of the running server
#   scripts/nats-test-server.sh stop [STATE_DIR]   stops it and removes STATE_DIR
# STATE_DIR (default /tmp/vigil-nats-test) holds the JetStream store, the log, pid and url.
set -euo pipefail

cmd="${1:-}"
state="${2:-/tmp/vigil-nats-test}"

find_server() {
    local s
    s="$(command -v nats-server 2>/dev/null || true)"
    for s in "$s" /usr/sbin/nats-server /usr/local/sbin/nats-server /usr/local/bin/nats-server; do
        if [ -n "$s" ] && [ -x "$s" ]; then
            echo "$s"
            return 0
        fi
    done
    echo "nats-test-server: nats-server not found (apt-get install nats-server)" >&2
    return 1
}

running() {
    [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

answers() {  # port: true once the server greets with INFO
    local greeting
    greeting="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 4 <&3" 2>/dev/null || true)"
    [ "$greeting" = "INFO" ]
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    if running; then
        echo "export VIGIL_TEST_NATS_URL=$(cat "$state/url")"
        return 0
    fi
    local server port pid attempt
    server="$(find_server)"
    mkdir -p "$state"
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        # Detached from our stdout so that $(... start) returns while the server runs.
        "$server" -a 127.0.0.1 -p "$port" -js -sd "$state/store" </dev/null >>"$state/log" 2>&1 &
        pid=$!
        echo "$pid" >"$state/pid"
        for _ in $(seq 1 150); do
            if answers "$port"; then
                echo "nats://127.0.0.1:$port" >"$state/url"
                echo "nats-test-server: nats-server (pid $pid) on 127.0.0.1:$port, store $state/store" >&2
                echo "export VIGIL_TEST_NATS_URL=nats://127.0.0.1:$port"
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "nats-test-server: attempt $attempt on port $port failed" >&2
    done
    echo "nats-test-server: nats-server did not start; log:" >&2
    tail -20 "$state/log" >&2 || true
    return 1
}

stop() {
    if running; then
        local pid i
        pid="$(cat "$state/pid")"
        kill "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$state"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    url)
        running || { echo "nats-test-server: not running ($state)" >&2; exit 1; }
        cat "$state/url"
        ;;
    *)
        echo "usage: $0 start|url|stop [STATE_DIR]" >&2
        exit 2
        ;;
esac
