#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL 15 on loopback for tests (.ci/run) and benchmarks.
#   scripts/pg-test-server.sh start [STATE_DIR]  initdb + start on a free port of 127.0.0.1 (or
#        reuse the one already running from STATE_DIR), wait until it accepts connections and
#        print `export VIGIL_TEST_PG_URL=postgresql://postgres@127.0.0.1:PORT/postgres`
#        (use: eval "$(... start)")
#   scripts/pg-test-server.sh url [STATE_DIR]    prints the URL of the running server
#   scripts/pg-test-server.sh stop [STATE_DIR]   stops it and removes STATE_DIR
# STATE_DIR (default /tmp/vigil-pg-test) holds the cluster (data/), the logs (server.log,
# initdb.log, ctl.log), the socket and the url. As root the cluster belongs to and runs as the
# `postgres` user (PostgreSQL refuses root); otherwise as the calling user. Trust authentication,
# superuser `postgres`, fsync off: the data is throwaway. PG_TEST_SERVER_OPTS adds server options
# (e.g. "-c shared_buffers=512MB").
set -euo pipefail

cmd="${1:-}"
state="${2:-/tmp/vigil-pg-test}"

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    echo "pg-test-server: PostgreSQL not found in /usr/lib/postgresql/*/bin" \
         "(apt-get install postgresql, or scripts/install-deps.sh)" >&2
    return 1
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        local quoted
        quoted="$(printf '%q ' "$@")"
        su postgres -s /bin/sh -c "$quoted"
    else
        "$@"
    fi
}

running() {
    [ -f "$state/url" ] && [ -f "$state/data/postmaster.pid" ] &&
        kill -0 "$(head -1 "$state/data/postmaster.pid")" 2>/dev/null
}

# A port below the kernel's ephemeral range (a released ephemeral port can be handed to another
# process's connect() before the server binds it), free a moment ago.
free_port() {
    python3 - <<'EOF'
import random, socket
low = 32768
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except Exception:
    pass
high = low if low > 11000 else 32768
for _ in range(2000):
    port = random.randrange(10000, high)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
}

start() {
    if running; then
        echo "export VIGIL_TEST_PG_URL=$(cat "$state/url")"
        return 0
    fi
    local bin port attempt url opts
    bin="$(find_bindir)"
    rm -rf "$state/data"
    mkdir -p "$state"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$state"
        if ! su postgres -s /bin/sh -c "test -w '$state'"; then
            echo "pg-test-server: the postgres user cannot reach $state (a parent directory" \
                 "is closed to it, e.g. mktemp's 0700): use a STATE_DIR it can reach" >&2
            return 1
        fi
    fi
    as_owner "$bin/initdb" -D "$state/data" -A trust -U postgres -E UTF8 --locale=C --no-sync \
        >>"$state/initdb.log" 2>&1 || {
        echo "pg-test-server: initdb failed; log:" >&2
        tail -20 "$state/initdb.log" >&2 || true
        return 1
    }
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        opts="-p $port -k $state -c listen_addresses=127.0.0.1 -c fsync=off"
        opts="$opts ${PG_TEST_SERVER_OPTS:-}"
        # -w waits until the server accepts connections; the server detaches from our stdout.
        # The server log is written by the cluster's owner: server.log, not a file of ours.
        if as_owner "$bin/pg_ctl" -D "$state/data" -w -t 60 -l "$state/server.log" \
            -o "$opts" start </dev/null >>"$state/ctl.log" 2>&1; then
            url="postgresql://postgres@127.0.0.1:$port/postgres"
            echo "$url" >"$state/url"
            echo "pg-test-server: PostgreSQL on 127.0.0.1:$port, cluster $state/data" >&2
            echo "export VIGIL_TEST_PG_URL=$url"
            return 0
        fi
        echo "pg-test-server: attempt $attempt on port $port failed" >&2
    done
    echo "pg-test-server: PostgreSQL did not start; log:" >&2
    tail -20 "$state/ctl.log" "$state/server.log" >&2 || true
    return 1
}

stop() {
    if [ -f "$state/data/postmaster.pid" ]; then
        local bin
        bin="$(find_bindir)"
        as_owner "$bin/pg_ctl" -D "$state/data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
            local pid
            pid="$(head -1 "$state/data/postmaster.pid" 2>/dev/null || true)"
            [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        }
    fi
    rm -rf "$state"
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    url)
        running || { echo "pg-test-server: not running ($state)" >&2; exit 1; }
        cat "$state/url"
        ;;
    *)
        echo "usage: $0 start|url|stop [STATE_DIR]" >&2
        exit 2
        ;;
esac
