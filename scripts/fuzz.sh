#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of fuzz/ (clang, with ASan and
# UBSan).  Every harness has seeds in fuzz/corpus/<name>/ and the inputs of
# past findings in fuzz/regress/<name>/ (kept forever).
#
#   scripts/fuzz.sh build            compile every harness into build/fuzz/
#   scripts/fuzz.sh smoke [NAME...]  seeds and regressions once each, then a
#                                    short run (FUZZ_SMOKE_SECONDS, default 2)
#   scripts/fuzz.sh run [NAME...]    each harness FUZZ_SECONDS (default 60),
#                                    growing build/fuzz/corpus/<name>/
#   scripts/fuzz.sh merge [NAME...]  add the inputs of "run" that reach new
#                                    code to fuzz/corpus/ (minimized)
#   scripts/fuzz.sh list             the harnesses
#
# NAME is a harness without its prefix: csv, id, flatjson, ... A finding
# stops that harness, prints the sanitizer report and leaves the input in
# build/fuzz/crashes/<name>/; copy it to fuzz/regress/<name>/ once fixed.
# The last line is a table of executions per harness; exit 1 on a finding.
set -u
cd "$(dirname "$0")/.."

BUILD=${BUILD:-$PWD/build}
FUZZ_DIR=$BUILD/fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-2}
FUZZ_CC=${FUZZ_CC:-clang}
# libFuzzer's default 2 GB would let a leak grow long before it is seen
FUZZ_RSS_MB=${FUZZ_RSS_MB:-1024}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

die() { echo "fuzz: $*" >&2; exit 2; }

have_clang() {
    command -v "$FUZZ_CC" >/dev/null 2>&1 || return 1
    # the libFuzzer runtime ships apart from clang on Debian
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)
          { return 0; }' \
        | "$FUZZ_CC" -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1
}

names() {
    local f n
    for f in fuzz/fuzz_*.c; do
        n=${f#fuzz/fuzz_}
        n=${n%.c}
        [ "$n" = util ] && continue
        [ "$n" = event ] && [ ! -f src/oie_event.c ] && continue
        echo "$n"
    done
}

build() {
    have_clang || die "$FUZZ_CC with libFuzzer not found (Debian: clang)"
    make -s --no-print-directory -j2 -f fuzz/fuzz.mk BUILD="$BUILD" \
        FUZZ_CC="$FUZZ_CC" fuzz-build
}

# runs one harness; prints "execs seconds" on fd 3; returns its status
fuzz_one() {
    local name=$1 seconds=$2 corpus=$3 bin=$FUZZ_DIR/fuzz_$1 log dict=()
    local crashes=$FUZZ_DIR/crashes/$name
    mkdir -p "$crashes" "$corpus"
    log=$FUZZ_DIR/logs/$name.log
    mkdir -p "$(dirname "$log")"
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")

    "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb="$FUZZ_RSS_MB" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$crashes/" "$corpus" "fuzz/corpus/$name" \
        >"$log" 2>&1
    local rc=$?

    local execs
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "${execs:-0}" >&3

    if [ $rc -ne 0 ]; then
        echo "fuzz: $name: FINDING (exit $rc); input in $crashes/" >&2
        grep -E -A30 'ERROR:|runtime error|check failed' "$log" \
            | head -60 >&2
    fi
    return $rc
}

# every stored input once: seeds, then the regressions
replay_one() {
    local name=$1 bin=$FUZZ_DIR/fuzz_$1 files=()
    mapfile -t files < <(find "fuzz/corpus/$name" "fuzz/regress/$name" \
                             -type f 2>/dev/null | sort)
    [ ${#files[@]} -eq 0 ] && { echo 0; return 0; }
    local log=$FUZZ_DIR/logs/$name.replay.log
    mkdir -p "$(dirname "$log")"
    if ! "$bin" -runs=1 "${files[@]}" >"$log" 2>&1; then
        echo "fuzz: $name: a stored input fails:" >&2
        grep -E -B2 -A30 'ERROR:|runtime error|check failed' "$log" \
            | head -60 >&2
        echo "${#files[@]}"
        return 1
    fi
    echo "${#files[@]}"
}

cmd=${1:-}
shift || true
[ $# -gt 0 ] && sel=("$@") || mapfile -t sel < <(names)

case "$cmd" in
list)
    names
    ;;
build)
    build
    ;;
smoke|run)
    build || exit 2
    failed=0
    table=""
    for name in "${sel[@]}"; do
        [ -x "$FUZZ_DIR/fuzz_$name" ] || die "no harness \"$name\""
        stored=$(replay_one "$name") || failed=1
        if [ "$cmd" = smoke ]; then
            seconds=$FUZZ_SMOKE_SECONDS
            corpus=$(mktemp -d "${TMPDIR:-/tmp}/oie-fuzz-$name-XXXXXX")
        else
            seconds=$FUZZ_SECONDS
            corpus=$FUZZ_DIR/corpus/$name
        fi
        execs=$(fuzz_one "$name" "$seconds" "$corpus" 3>&1 >&2) || failed=1
        [ "$cmd" = smoke ] && rm -rf "$corpus"
        table+=$(printf '%-10s %8s stored inputs ok, %10s executions in %ss' \
                        "$name" "$stored" "$execs" "$seconds")$'\n'
        echo "fuzz: $name: $execs executions in ${seconds}s" >&2
    done
    printf '%s' "$table"
    exit $failed
    ;;
merge)
    build || exit 2
    for name in "${sel[@]}"; do
        [ -d "$FUZZ_DIR/corpus/$name" ] || continue
        mkdir -p "fuzz/corpus/$name"
        "$FUZZ_DIR/fuzz_$name" -merge=1 -max_len=65536 "fuzz/corpus/$name" \
            "$FUZZ_DIR/corpus/$name" 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files'
    done
    ;;
*)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
