#!/usr/bin/env bash
# bench.sh — everything behind 'make bench': the recorder's cost side by side
# with every alternative, measured in one run on this machine, printed as one
# table of medians, ratios, peak RSS and the budgets (PASS/MISS).
#
# It builds what it needs once (each step cached and skipped when done):
#   * Debian packages: install-deps.sh, plus heaptrack and valgrind
#     (install-bench-deps.sh);
#   * target/bench/rusage from perl/bench/rusage.c: runs each command and
#     reports its wall time, CPU time and peak RSS (wait4);
#   * the MemTrace perl with the recorder installed (make-perl.sh), and two
#     more perls from the same source and Configure arguments
#     (memtrace-perl.sh with MEMTRACE_PERL_VARIANT): 'plain' (no
#     PERL_MEM_LOG) and 'memlog' (PERL_MEM_LOG with perl's own logger);
#   * Test::LeakTrace for the MemTrace perl (perl/build/test-leaktrace.sh);
#   * the hooks' criterion benchmark (perl/bench/hooks.sh, 'make bench-hooks').
# The NOIMPL twin, the MemTrace perl with the recorder dropped from its
# NEEDED list (patchelf), is made afresh in a temporary directory each run.
#
# The columns (perl/bench/run.pl runs them, interleaved, rotating the order):
#   (a) perl without PERL_MEM_LOG          (b) PERL_MEM_LOG + NOIMPL, no recorder
#   (c) MemTrace perl, recording off       (d) recording on (-MDevel::MemTrace)
#   (m) recording on with -malloc (the C library's malloc family too)
#   (z) all the heavier options together: -stack=32,-c_frames,-malloc
#   (d1) recording on with -stack=1 (the Perl site alone, no callers)
#   (f) deep stacks, -stack=32   (g) C frames, -c_frames   (h) both
#   (a') perl (a) built with -fno-omit-frame-pointer: what frame pointers
#        cost perl itself (the 'plain-fp' variant)
#   (e) perl's own logger: the memlog perl with PERL_MEM_LOG=3ms, 3>file
#   heaptrack and valgrind memcheck on (a); Test::LeakTrace's leaked_info
#   around the workload on the MemTrace perl (perl/bench/leaktrace.pl);
# over the workloads in perl/bench/workloads (churn, json, regex, bigheap).
# The slow ones ((e), heaptrack, valgrind, Test::LeakTrace) run at a smaller
# size, each as a ratio to its own bare run at that size, measured alongside.
#
# Environment (all optional):
#   BENCH_RUNS=7          runs of each of (a)-(d); the table shows medians
#   BENCH_SLOW_RUNS=3     runs of each slow tool and of its bare run
#   BENCH_SCALE=100       workload sizes, in percent of the defaults
#   BENCH_SLOW_SIZE=10    the slow tools' size, in percent of the main size
#   BENCH_WORKLOADS=churn,json,regex,bigheap   which workloads, in this order
#   BENCH_SKIP=           comma-separated columns to leave out, of:
#                         malloc logger heaptrack valgrind leaktrace hooks
#                         framepointers
#   BENCH_HOOKS_SECS=3    criterion's measurement time per hook benchmark
#   BENCH_CLOCK=cpu       what the ratios and budgets compare: cpu (user+sys
#                         of the run and its children: more robust than wall
#                         against other load on a shared machine) or wall;
#                         the table shows the medians of both
# Plus the build's own: MEMTRACE_HOME, MEMTRACE_PERL_SRC, MEMTRACE_THREADS,
# MEMTRACE_CONFIGURE_ARGS, MEMTRACE_JOBS (see memtrace-perl.sh).
# Progress goes to stderr, the table to stdout.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/perl/build
cd "$ROOT"

# shellcheck source=perl/build/common.sh
. "$BUILD/common.sh"

# Validate the settings before building anything.
positive_int() { # NAME DEFAULT
    local name=$1 value=${!1:-$2}
    [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "$name=$value is not a positive integer"
    printf -v "$name" '%s' "$value"
    export "${name?}"
}
positive_int BENCH_RUNS 7
positive_int BENCH_SLOW_RUNS 3
positive_int BENCH_SCALE 100
positive_int BENCH_SLOW_SIZE 10
positive_int BENCH_HOOKS_SECS 3
(( BENCH_SLOW_SIZE <= 100 )) || die "BENCH_SLOW_SIZE=$BENCH_SLOW_SIZE is over 100 (it is a percentage of the main size)"
export BENCH_CLOCK=${BENCH_CLOCK:-cpu}
[[ "$BENCH_CLOCK" == cpu || "$BENCH_CLOCK" == wall ]] || die "BENCH_CLOCK=$BENCH_CLOCK is not cpu or wall"
export BENCH_WORKLOADS=${BENCH_WORKLOADS-churn,json,regex,bigheap}
IFS=, read -r -a workloads <<<"$BENCH_WORKLOADS"
(( ${#workloads[@]} > 0 )) || die "BENCH_WORKLOADS is empty; name some of: churn json regex bigheap"
for w in "${workloads[@]}"; do
    [[ "$w" =~ ^[a-z0-9_]+$ && -f "$HERE/workloads/$w.pl" ]] ||
        die "BENCH_WORKLOADS: no workload '$w' (perl/bench/workloads/$w.pl); name some of: churn json regex bigheap"
done
export BENCH_SKIP=${BENCH_SKIP:-}
IFS=, read -r -a skips <<<"$BENCH_SKIP"
for s in "${skips[@]+"${skips[@]}"}"; do
    case "$s" in
        malloc|logger|heaptrack|valgrind|leaktrace|hooks|framepointers) ;;
        *) die "BENCH_SKIP: unknown column '$s'; use some of: malloc logger heaptrack valgrind leaktrace hooks framepointers" ;;
    esac
done
skipped() { [[ ",$BENCH_SKIP," == *",$1,"* ]]; }

started=$SECONDS
started_epoch=$(date +%s)

# 1. Debian packages.
"$BUILD/install-bench-deps.sh"

# 1b. The run wrapper, rebuilt when its source changes.
mkdir -p "$ROOT/target/bench"
RUSAGE=$ROOT/target/bench/rusage
if [[ ! -x "$RUSAGE" || "$HERE/rusage.c" -nt "$RUSAGE" ]]; then
    cc -O2 -Wall -Werror -o "$RUSAGE.tmp" "$HERE/rusage.c" || die "compiling perl/bench/rusage.c failed"
    mv -f "$RUSAGE.tmp" "$RUSAGE"
fi

# 2. The perls: the MemTrace perl with the recorder (c, d), and from the same
# source and Configure arguments the plain (a) and the logger (e) perls.
PERL_MT=$("$BUILD/make-perl.sh" | tail -n 1)
[[ -x "$PERL_MT" ]] || die "make-perl.sh printed no perl path (got '$PERL_MT')"
PERL_PLAIN=$(MEMTRACE_PERL_VARIANT=plain "$BUILD/memtrace-perl.sh" | tail -n 1)
[[ -x "$PERL_PLAIN" ]] || die "memtrace-perl.sh (plain) printed no perl path (got '$PERL_PLAIN')"
PERL_PLAIN_FP=
if ! skipped framepointers; then
    PERL_PLAIN_FP=$(MEMTRACE_PERL_VARIANT=plain-fp "$BUILD/memtrace-perl.sh" | tail -n 1)
    [[ -x "$PERL_PLAIN_FP" ]] || die "memtrace-perl.sh (plain-fp) printed no perl path (got '$PERL_PLAIN_FP')"
fi
PERL_LOG=
if ! skipped logger; then
    PERL_LOG=$(MEMTRACE_PERL_VARIANT=memlog "$BUILD/memtrace-perl.sh" | tail -n 1)
    [[ -x "$PERL_LOG" ]] || die "memtrace-perl.sh (memlog) printed no perl path (got '$PERL_LOG')"
fi

# 3. The NOIMPL twin (b): the same binary without the recorder in NEEDED,
# so libperl's no-op hooks are called. It finds libperl by its RUNPATH.
TMP=$(mktemp -d "$ROOT/target/bench/run.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PERL_NOIMPL=$TMP/perl-noimpl
cp "$(realpath "$PERL_MT")" "$PERL_NOIMPL"
recorder=$(patchelf --print-needed "$PERL_NOIMPL" | grep '/auto/Devel/MemTrace/MemTrace\.so$' || true)
[[ -n "$recorder" ]] || die "$PERL_MT has no recorder in its NEEDED list; run 'make perl'"
patchelf --remove-needed "$recorder" "$PERL_NOIMPL"
"$PERL_NOIMPL" -e 1 || die "the NOIMPL twin $PERL_NOIMPL does not start"

# 4. Test::LeakTrace for the MemTrace perl (another script builds it).
LEAKTRACE_BLIB=
if ! skipped leaktrace; then
    if [[ -x "$BUILD/test-leaktrace.sh" ]]; then
        LEAKTRACE_BLIB=$("$BUILD/test-leaktrace.sh" "$PERL_MT" | tail -n 1)
        [[ -d "$LEAKTRACE_BLIB" ]] || die "test-leaktrace.sh printed no blib directory (got '$LEAKTRACE_BLIB')"
    else
        say "note: perl/build/test-leaktrace.sh does not exist; no Test::LeakTrace column"
    fi
fi

# 5. The hooks' microbenchmark (criterion): its numbers go into the table.
HOOKS_SUMMARY=
if ! skipped hooks; then
    HOOKS_SUMMARY=$TMP/hooks.tsv
    "$HERE/hooks.sh" --summary >"$HOOKS_SUMMARY"
fi

say "setup done in $((SECONDS - started))s; measuring"
export BENCH_PERL_PLAIN=$PERL_PLAIN BENCH_PERL_PLAIN_FP=$PERL_PLAIN_FP BENCH_PERL_NOIMPL=$PERL_NOIMPL BENCH_PERL_MT=$PERL_MT
export BENCH_PERL_LOG=$PERL_LOG BENCH_LEAKTRACE_BLIB=$LEAKTRACE_BLIB BENCH_HOOKS_SUMMARY=$HOOKS_SUMMARY
export BENCH_TMP=$TMP BENCH_STARTED=$started_epoch BENCH_RUSAGE=$RUSAGE
# The harness runs on perl (a): no hooks in the measuring process.
env -u PERL5OPT -u PERL5LIB -u PERL_MEM_LOG "$PERL_PLAIN" "$HERE/run.pl"
