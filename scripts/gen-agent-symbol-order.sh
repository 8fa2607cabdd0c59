#!/usr/bin/env bash
# Regenerates agent/app/vigil-agent.order, the symbol order lld uses to put every function the
# idle agent runs (start-up, TLS handshake, heartbeats, keepalives) next to each other.
#   scripts/gen-agent-symbol-order.sh [BUILD_DIR] [SECONDS]     (defaults: build, 40)
# Runs the real agent under callgrind in the agent_idle benchmark's set-up (FakeCenter over mTLS,
# two idle plugins), dumps the profile while it idles (so shutdown code is left out), and writes
# the agent's executed functions, most instructions first. Code pages are mapped 64 KB around
# each fault, so keeping the executed code together is what keeps it from spreading over the
# whole text. Rerun after large changes to the agent or its libraries and commit the result; a
# stale file only orders less (names it lists that no longer exist are ignored).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
seconds="${2:-40}"
out="$root/agent/app/vigil-agent.order"

for tool in valgrind callgrind_control; do
    if ! command -v "$tool" >/dev/null; then
        echo "gen-agent-symbol-order: $tool not found (apt-get install valgrind)" >&2
        exit 2
    fi
done
if [ ! -f "$build/CMakeCache.txt" ]; then
    echo "gen-agent-symbol-order: $build is not a configured build directory" >&2
    exit 2
fi
cmake --build "$build" --target vigil-agent vigil-fetch sdk_example_plugin agent_stack_bench >&2

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-order.XXXXXX")"
bench_pid=""
cleanup() {
    if [ -n "$bench_pid" ]; then kill "$bench_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/agent" "$work/profile"

# The benchmark starts the agent with an empty environment: the wrapper names every path.
cat >"$work/agent-under-callgrind" <<EOF
#!/bin/bash
exec $(command -v valgrind) --tool=callgrind --demangle=no --dump-instr=no \\
    --callgrind-out-file=$work/profile/callgrind.out.%p $build/bin/vigil-agent "\$@"
EOF
chmod +x "$work/agent-under-callgrind"

"$build/bench/agent_e2e/agent_stack_bench" idle "$work/agent-under-callgrind" \
    "$build/bin/plugins/example/example" "$work/agent" "$seconds" >"$work/bench.log" 2>&1 &
bench_pid=$!
# Start-up under valgrind takes a few seconds, then 5 s of settling and SECONDS of idling:
# dump well inside the idle phase.
sleep $((seconds - 5))
if ! callgrind_control -d >"$work/dump.log" 2>&1; then
    echo "gen-agent-symbol-order: callgrind_control could not dump:" >&2
    cat "$work/dump.log" "$work/bench.log" >&2
    exit 1
fi
sleep 2
if ! wait "$bench_pid"; then
    bench_pid=""
    echo "gen-agent-symbol-order: the benchmark run failed:" >&2
    cat "$work/bench.log" >&2
    exit 1
fi
bench_pid=""

profile="$(ls "$work"/profile/callgrind.out.*.1 2>/dev/null | head -1)"
if [ -z "$profile" ]; then
    echo "gen-agent-symbol-order: no intermediate callgrind dump in $work/profile" >&2
    exit 1
fi

# Functions of the vigil-agent object with their self cost (first event = instructions), from
# callgrind's compressed name format: "ob=(id) path", "fn=(id) name", then cost lines.
python3 - "$profile" "$build/bin/vigil-agent" "$out" <<'EOF'
import os
import re
import sys

profile, binary, out = sys.argv[1], os.path.realpath(sys.argv[2]), sys.argv[3]
objects, names, cost = {}, {}, {}
current_ob, current_fn = None, None
in_call = False
ref = re.compile(r"^\((\d+)\)(?: (.*))?$")

def resolve(table, value):
    m = ref.match(value)
    if not m:
        return value
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1))

with open(profile, errors="replace") as f:
    for line in f:
        line = line.rstrip("\n")
        if line.startswith("ob="):
            current_ob = resolve(objects, line[3:])
        elif line.startswith("fn="):
            current_fn = resolve(names, line[3:])
            cost.setdefault((current_ob, current_fn), 0)
        elif line.startswith(("cob=", "cfi=", "cfl=")):
            if line.startswith("cob="):
                resolve(objects, line[4:])
        elif line.startswith("cfn="):
            resolve(names, line[4:])
        elif line.startswith("calls="):
            in_call = True  # the next cost line is the call's inclusive cost
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            if in_call:
                in_call = False
                continue
            parts = line.split()
            if len(parts) >= 2 and current_fn is not None:
                cost[(current_ob, current_fn)] += int(parts[1])

ours = [(c, fn) for (ob, fn), c in cost.items()
        if ob and os.path.realpath(ob) == binary and fn and not fn.startswith("0x")]
ours.sort(key=lambda x: (-x[0], x[1]))
seen = set()
with open(out, "w") as f:
    for _, fn in ours:
        # callgrind tells same-named local functions apart with a suffix; lld wants the symbol.
        name = fn.split("'")[0]
        if name not in seen:
            seen.add(name)
            f.write(name + "\n")
print(f"gen-agent-symbol-order: {len(seen)} functions -> {out}")
EOF
