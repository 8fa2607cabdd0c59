#!/usr/bin/env bash
# vigil-center with N simulated mTLS agents (lean nghttp2 generator): connections, RSS/agent, ack p99, ingest records/s, reconnect-all time.
# Everything on 127.0.0.1, in a temporary directory removed at exit:
#   1. vigil-swarm --pki-dir makes an ECDSA P-256 PKI; vigil-center starts (embedded bus);
#   2. AGENTS (10000) agents connect at CONNECT_RATE (250)/s, each sending one batch of
#      RECORDS_PER_BATCH (20) records a second; once all are connected, after 5 s of settling,
#      ACK_SECONDS (30) of traffic give the ack p99 and the center's RSS per agent;
#   3. the center gets SIGTERM, exits, starts again on the same port and data directory: the
#      time until every agent is connected again (RECONNECT=0 skips this);
#   4. INGEST_AGENTS (50) agents flood (window INGEST_WINDOW batches of INGEST_RECORDS_PER_BATCH
#      records) for INGEST_SECONDS (15): records acknowledged per second (INGEST=0 skips this).
# CENTER=testcenter runs against vigil-testcenter instead (a small sync server: ~100 agents).
# CONNECT_TIMEOUT_MS (10000, as vigil-agent) bounds TCP + TLS + HTTP/2 set-up of each attempt.
# CENTER_CONFIG=FILE passes a vigil-center YAML config (tuning knobs; flags above still win).
# KEEP=1 keeps the directory (logs, JSON reports, the center's /metrics). Needs jq.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/lib.sh"

AGENTS="${AGENTS:-10000}"
CONNECT_RATE="${CONNECT_RATE:-250}"
CONNECT_TIMEOUT_MS="${CONNECT_TIMEOUT_MS:-10000}"
RECORDS_PER_BATCH="${RECORDS_PER_BATCH:-20}"
ACK_SECONDS="${ACK_SECONDS:-30}"
RECONNECT="${RECONNECT:-1}"
INGEST="${INGEST:-1}"
INGEST_AGENTS="${INGEST_AGENTS:-50}"
INGEST_WINDOW="${INGEST_WINDOW:-8}"
INGEST_RECORDS_PER_BATCH="${INGEST_RECORDS_PER_BATCH:-500}"
INGEST_SECONDS="${INGEST_SECONDS:-15}"
CENTER="${CENTER:-center}"
THREADS="${THREADS:-1}"

command -v jq >/dev/null || { echo "center_swarm: jq is required (apt-get install jq)" >&2; exit 2; }
case "$CENTER" in
    center) bench_build vigil-swarm vigil-center ;;
    testcenter) bench_build vigil-swarm vigil-testcenter ;;
    *) echo "center_swarm: CENTER must be center or testcenter" >&2; exit 2 ;;
esac
B="$(bench_build_dir)"
SWARM="$B/bench/center_swarm/vigil-swarm"

WORK="$(mktemp -d /tmp/vigil-bench-swarm.XXXXXX)"
CENTER_PID=""
SWARM_PID=""
stop_pid() {  # stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS
    local pid="$1" limit="$2" i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < limit * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop_pid "$SWARM_PID" 10
    stop_pid "$CENTER_PID" 20
    if [ "${KEEP:-0}" = 1 ]; then echo "center_swarm: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Generator and center both hold one descriptor per agent.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((AGENTS + 100)) ]; then
    echo "center_swarm: open-file limit $(ulimit -n) is too small for $AGENTS agents" >&2
fi

# A free port below the ephemeral range, so that no client socket can sit on it.
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12000))
        if ! ss -Htan "( sport = :$p )" | grep -q .; then echo "$p"; return 0; fi
    done
    echo "center_swarm: no free port" >&2
    return 1
}
GRPC_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
[ "$HTTP_PORT" != "$GRPC_PORT" ] || HTTP_PORT=$((GRPC_PORT + 1))
PKI="$WORK/pki"
"$SWARM" --pki-dir "$PKI" >/dev/null

now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU seconds (user + system) a process has used so far.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cores() { awk -v a="$1" -v b="$2" -v s="$3" 'BEGIN { printf "%.2f", (b - a) / (s > 0 ? s : 1) }'; }
listen_drops() { nstat -asz TcpExtListenOverflows 2>/dev/null | awk '$1 == "TcpExtListenOverflows" { print $2 }' || true; }
jget() { jq -r "$2 // empty" "$1" 2>/dev/null || true; }

START_COUNT=0
start_center() {
    START_COUNT=$((START_COUNT + 1))
    local log="$WORK/center.$START_COUNT.log" i
    if [ "$CENTER" = center ]; then
        "$B/bin/vigil-center" --data-dir "$WORK/data" --grpc-listen "127.0.0.1:$GRPC_PORT" \
            --http-listen "127.0.0.1:$HTTP_PORT" --ca "$PKI/ca.pem" --cert "$PKI/center.pem" \
            --key "$PKI/center.key" --bus embedded --no-auth --log-level warn \
            ${CENTER_CONFIG:+--config "$CENTER_CONFIG"} >"$log" 2>&1 &
    else
        "$B/bin/vigil-testcenter" --listen "127.0.0.1:$GRPC_PORT" --ca "$PKI/ca.pem" \
            --cert "$PKI/center.pem" --key "$PKI/center.key" --quiet >"$log" 2>&1 &
    fi
    CENTER_PID=$!
    for ((i = 0; i < 600; i++)); do
        grep -q listening "$log" 2>/dev/null && return 0
        if ! kill -0 "$CENTER_PID" 2>/dev/null; then
            echo "center_swarm: the center exited at start:" >&2
            tail -20 "$log" >&2
            CENTER_PID=""
            return 1
        fi
        sleep 0.1
    done
    echo "center_swarm: the center did not say 'listening' within 60 s" >&2
    return 1
}
center_connections() {
    [ "$CENTER" = center ] || return 0
    curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" 2>/dev/null |
        awk '$1 == "vigil_center_connections" { print $2; exit }' || true
}
swarm_alive() { [ -n "$SWARM_PID" ] && kill -0 "$SWARM_PID" 2>/dev/null; }
center_alive() { [ -n "$CENTER_PID" ] && kill -0 "$CENTER_PID" 2>/dev/null; }
# Stops the run when the center has died: its figures would mean nothing.
check_center() {
    center_alive && return 0
    local status=0
    [ -n "$CENTER_PID" ] && { wait "$CENTER_PID" 2>/dev/null || status=$?; }
    echo "center_swarm: the center died (exit status $status); its log ends with:" >&2
    tail -15 "$WORK/center.$START_COUNT.log" >&2
    CENTER_PID=""
    exit 1
}

FAILED=0
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the run"
DROPS_START="$(listen_drops)"
start_center
sleep 1
RSS_BEFORE="$(rss_kb "$CENTER_PID")"
echo "center ($CENTER) listening on 127.0.0.1:$GRPC_PORT, RSS ${RSS_BEFORE} KB before agents"

# --- 2. N agents, one batch a second each ------------------------------------------------
STATUS="$WORK/swarm-status.json"
RAMP_LIMIT=$((AGENTS / (CONNECT_RATE > 0 ? CONNECT_RATE : 1000) + 90))
"$SWARM" --target "127.0.0.1:$GRPC_PORT" --pki-dir "$PKI" --agents "$AGENTS" --threads "$THREADS" \
    --connect-rate "$CONNECT_RATE" --connect-timeout-ms "$CONNECT_TIMEOUT_MS" --batches-per-s 1 --records-per-batch "$RECORDS_PER_BATCH" \
    --window-delay 5 --window-length "$ACK_SECONDS" --window-start-by "$RAMP_LIMIT" \
    --status-file "$STATUS" --json "$WORK/swarm.json" --duration 3600 \
    >"$WORK/swarm.log" 2>&1 &
SWARM_PID=$!
T_SWARM="$(now)"
echo "swarm: $AGENTS agents connecting at $CONNECT_RATE/s (log: swarm.log)"
while swarm_alive; do
    check_center
    phase="$(jget "$STATUS" .window.phase)"
    [ -n "$(jget "$STATUS" .first_all_connected_s)" ] && break
    [ "$phase" = running ] || [ "$phase" = done ] && break
    sleep 0.5
done
swarm_alive || { echo "center_swarm: the generator exited:" >&2; tail -20 "$WORK/swarm.log" >&2; exit 1; }
FIRST_ALL="$(jq -r '.first_all_connected_s // empty | . * 100 | round / 100' "$STATUS" 2>/dev/null || true)"
if [ -n "$FIRST_ALL" ]; then
    echo "swarm: all $AGENTS agents connected after ${FIRST_ALL} s"
else
    echo "swarm: not all agents connected within ${RAMP_LIMIT} s ($(jget "$STATUS" .connected) connected); measuring anyway"
    FAILED=1
fi
tail -1 "$WORK/swarm.log"
# The window opens 5 s after the last agent connected and lasts ACK_SECONDS.
WINDOW_CPU_START=""
for ((i = 0; i < (ACK_SECONDS + 60) * 2; i++)); do
    phase="$(jget "$STATUS" .window.phase)"
    [ "$phase" = running ] && [ -z "$WINDOW_CPU_START" ] && WINDOW_CPU_START="$(cpu_s "$CENTER_PID")"
    [ "$phase" = done ] && break
    swarm_alive || break
    check_center
    sleep 0.5
done
if [ "$(jget "$STATUS" .window.phase)" != done ]; then
    echo "center_swarm: the ack window did not complete" >&2
    exit 1
fi
check_center
RSS_CONNECTED="$(rss_kb "$CENTER_PID")"
WINDOW_CPU_END="$(cpu_s "$CENTER_PID")"
CONNECTED="$(jget "$STATUS" .connected)"
MAX_CONNECTED="$(jget "$STATUS" .max_connected)"
CENTER_SAYS="$(center_connections)"
[ "$CENTER" = center ] && curl -s --max-time 5 "http://127.0.0.1:$HTTP_PORT/metrics" \
    >"$WORK/center-metrics-after-window.txt" 2>/dev/null || true
tail -1 "$WORK/swarm.log"
echo "window: $(jq -c '{length_s: .window.length_s, connected_min: .window.connected_min, rates_per_s: .window.rates_per_s, ack_latency_ms: .window.ack_latency_ms, generator_loop_lag_ms: .window.loop_lag_ms, errors: .window.errors}' "$STATUS")"
echo "center: RSS ${RSS_CONNECTED} KB with ${CONNECTED} agents connected${CENTER_SAYS:+ (vigil_center_connections $CENTER_SAYS)}; CPU $(cores "${WINDOW_CPU_START:-$WINDOW_CPU_END}" "$WINDOW_CPU_END" "$ACK_SECONDS") cores during the window; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "generator: $(jq -c .generator "$STATUS")"
metric center_agents_connected "$MAX_CONNECTED" agents
if [ "${CONNECTED:-0}" -gt 0 ]; then
    metric center_rss_kb_per_agent "$(awk -v a="$RSS_CONNECTED" -v b="$RSS_BEFORE" -v n="$CONNECTED" 'BEGIN { printf "%.1f", (a - b) / n }')" KB
fi
ACKED_IN_WINDOW="$(jget "$STATUS" .window.ack_latency_ms.count)"
if [ "${ACKED_IN_WINDOW:-0}" -gt 0 ]; then
    metric center_ack_p99_ms "$(jq -r '.window.ack_latency_ms.p99 | . * 100 | round / 100' "$STATUS")" ms
else
    echo "center_swarm: no batch was acknowledged during the window" >&2
    FAILED=1
fi

# --- 3. restart the center ---------------------------------------------------------------
if [ "$RECONNECT" = 1 ]; then
    T_TERM="$(now)"
    stop_pid "$CENTER_PID" 60
    CENTER_PID=""
    STOP_S="$(elapsed_since "$T_TERM")"
    echo "center stopped ${STOP_S} s after SIGTERM"
    T_RESTART="$(now)"
    start_center
    echo "center listening again $(elapsed_since "$T_RESTART") s after the restart"
    RECONNECTED=""
    for ((i = 0; i < 240; i++)); do
        last="$(jget "$STATUS" .last_all_connected_epoch)"
        if [ -n "$last" ] && awk -v a="$last" -v b="$T_RESTART" 'BEGIN { exit !(a > b) }'; then
            RECONNECTED="$(awk -v a="$last" -v b="$T_RESTART" 'BEGIN { printf "%.2f", a - b }')"
            break
        fi
        swarm_alive || break
        check_center
        sleep 0.5
    done
    sleep 1.5
    tail -1 "$WORK/swarm.log"
    if [ -n "$RECONNECTED" ]; then
        metric center_reconnect_all_s "$RECONNECTED" s
    else
        echo "center_swarm: not all agents reconnected within 120 s ($(jget "$STATUS" .connected) of $AGENTS)" >&2
        FAILED=1
    fi
fi
stop_pid "$SWARM_PID" 30
SWARM_PID=""
if [ -f "$WORK/swarm.json" ]; then
    echo "swarm: $(jq -c '{handshakes_full: .totals.handshakes_full, handshakes_resumed: .totals.handshakes_resumed, sessions_offered: .totals.sessions_offered, config_syncs: .totals.config_syncs, goaways: .totals.goaways, errors: (.errors | with_entries(select(.value > 0))), grpc_status: .grpc_status}' "$WORK/swarm.json")"
fi

# --- 4. ingest: a few agents flooding ----------------------------------------------------
if [ "$INGEST" = 1 ]; then
    echo "ingest: $INGEST_AGENTS agents flooding (window $INGEST_WINDOW x $INGEST_RECORDS_PER_BATCH records) for $INGEST_SECONDS s"
    if "$SWARM" --target "127.0.0.1:$GRPC_PORT" --pki-dir "$PKI" --agents "$INGEST_AGENTS" \
        --agent-id-prefix ingest- --threads "$THREADS" --flood --window "$INGEST_WINDOW" \
        --records-per-batch "$INGEST_RECORDS_PER_BATCH" --window-delay 3 \
        --window-length "$INGEST_SECONDS" --window-start-by 60 --exit-after-window \
        --duration $((INGEST_SECONDS + 120)) --json "$WORK/ingest.json" >"$WORK/ingest.log" 2>&1 &&
        [ "$(jget "$WORK/ingest.json" .window.phase)" = done ] && center_alive; then
        grep -E "^  (window|generator)" "$WORK/ingest.log" || true
        echo "ingest window: $(jq -c '{rates_per_s: .window.rates_per_s, ack_latency_ms: .window.ack_latency_ms, errors: .window.errors, generator_cpu_s: .generator.cpu_s}' "$WORK/ingest.json")"
        metric center_ingest_records_per_s "$(jq -r '.window.rates_per_s.records_acked | round' "$WORK/ingest.json")" records/s
    else
        echo "center_swarm: the ingest run failed:" >&2
        tail -12 "$WORK/ingest.log" >&2
        check_center
        FAILED=1
    fi
fi
echo "listen queue overflows during the run: $(( $(listen_drops || echo 0) - ${DROPS_START:-0} ))"
exit "$FAILED"
