# Shared helpers for bench/run and bench/*/run.sh (sourced, not executed).
#   bench_build_dir        absolute build directory: ${VIGIL_BUILD_DIR:-build}, relative to the
#                          repository root unless absolute
#   bench_build TARGET...  configures the build directory with the dev preset if it has never
#                          been configured, then builds only the given targets
#   metric NAME VALUE UNIT prints one figure in the form every tool parses (DESIGN.md §7)
#   bench_description F    the first comment line of a run.sh (after the #! line)

VIGIL_SOURCE_DIR="${VIGIL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"

bench_build_dir() {
    local dir="${VIGIL_BUILD_DIR:-build}"
    case "$dir" in
        /*) echo "$dir" ;;
        *) echo "$VIGIL_SOURCE_DIR/$dir" ;;
    esac
}

bench_configure() {
    local dir
    dir="$(bench_build_dir)"
    if [ ! -f "$dir/CMakeCache.txt" ]; then
        echo "bench: configuring $dir with the dev preset" >&2
        (cd "$VIGIL_SOURCE_DIR" && cmake --preset dev -B "$dir" >&2)
    fi
}

bench_build() {
    bench_configure
    local dir
    dir="$(bench_build_dir)"
    echo "bench: building $* in $dir" >&2
    cmake --build "$dir" -j "${BENCH_JOBS:-$(nproc)}" --target "$@" >&2
}

metric() {
    if [ $# -ne 3 ]; then
        echo "metric: usage: metric NAME VALUE UNIT" >&2
        return 2
    fi
    printf 'METRIC %s %s %s\n' "$1" "$2" "$3"
}

bench_description() {
    sed -n '2,10{/^#/{s/^#[[:space:]]*//p;q}}' "$1"
}
