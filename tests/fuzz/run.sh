#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for a bounded time:
#   tests/fuzz/run.sh BUILD_DIR SECONDS      (BUILD_DIR configured with `cmake --preset fuzz`)
# Each tests/fuzz/<name>_fuzz.cpp, plugins/*/fuzz/<name>_fuzz.cpp and server/*/fuzz/<name>_fuzz.cpp is run from
# BUILD_DIR/fuzz/<name>_fuzz for SECONDS, starting from a temporary copy of the corpus/<name>/
# next to its source (the committed seeds are never modified).
# Exits non-zero if any target crashes, leaks, times out or runs out of memory; the input that
# did it is kept in BUILD_DIR/fuzz/artifacts/<target>/ and the log tail is printed.
set -euo pipefail

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -eq 0 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ ! -d "$1" ]; then
    echo "fuzz: build directory $1 not found (cmake --preset fuzz -B $1 && cmake --build $1)" >&2
    exit 2
fi
build="$(cd "$1" && pwd)"
seconds="$2"

work="$(mktemp -d "${TMPDIR:-/tmp}/vigil-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

failed=0
count=0
for src in "$root"/tests/fuzz/*_fuzz.cpp "$root"/plugins/*/fuzz/*_fuzz.cpp \
    "$root"/server/*/fuzz/*_fuzz.cpp; do
    [ -f "$src" ] || continue
    target="$(basename "$src" .cpp)"
    name="${target%_fuzz}"
    bin="$build/fuzz/$target"
    if [ ! -x "$bin" ]; then
        echo "fuzz: $target: $bin is missing (cmake --build $1 --target $target)" >&2
        failed=1
        continue
    fi
    corpus="$work/corpus/$name"
    mkdir -p "$corpus"
    seeds="$(dirname "$src")/corpus/$name"
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$corpus/"
    fi
    artifacts="$build/fuzz/artifacts/$target"
    mkdir -p "$artifacts"
    log="$work/$target.log"
    echo "fuzz: $target for ${seconds}s from $(find "$corpus" -type f | wc -l) seeds"
    count=$((count + 1))
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: unbounded growth is a bug.
    if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)"
        cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
        echo "fuzz: $target ok: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(find "$corpus" -type f | wc -l)"
    else
        rc=$?
        echo "fuzz: $target FAILED (exit $rc); reproducer in $artifacts/" >&2
        tail -n 60 "$log" >&2
        failed=1
    fi
done

if [ "$count" -eq 0 ]; then
    echo "fuzz: no fuzz targets found under $root/tests/fuzz" >&2
    exit 1
fi
exit "$failed"
