#!/usr/bin/env bash
# hooks.sh [--summary] — the hooks' criterion microbenchmark (benches/hooks.rs,
# 'make bench-hooks'): one hook call with recording off, and alloc+free
# pairs through the public extern "C" Perl_mem_log_* hooks of the rlib on one
# thread and on two. Criterion's own report goes to stderr; then a summary
# (events per second, ns per hook call) to stdout: a table, or with
# --summary tab-separated lines "name<TAB>ns per iteration<TAB>events per
# iteration" for perl/bench/run.pl.
#
# Environment: BENCH_HOOKS_SECS=3 criterion's measurement time per benchmark
# (1 s warm-up each; 6 benchmarks); CARGO_TARGET_DIR as for cargo.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

summary=0
case "${1:-}" in
    --summary) summary=1 ;;
    "") ;;
    *) echo "usage: $0 [--summary]" >&2; exit 64 ;;
esac
secs=${BENCH_HOOKS_SECS:-3}
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_HOOKS_SECS=$secs is not a positive integer" >&2; exit 1; }
command -v cargo >/dev/null || { echo "error: cargo not found (looked in PATH and ~/.cargo/bin)" >&2; exit 1; }

CRITERION=${CARGO_TARGET_DIR:-$ROOT/target}/criterion
# name, criterion id, events (hook calls) per iteration
BENCHES=(
    "hook_off_alloc hook_off/alloc 1"
    "hook_off_free hook_off/free 1"
    "one_thread_transient one_thread/transient_pair 2"
    "one_thread_published one_thread/published_pair 2"
    "two_threads_transient two_threads/transient_pair 4"
    "two_threads_published two_threads/published_pair 4"
)
for b in "${BENCHES[@]}"; do
    read -r _ id _ <<<"$b"
    rm -rf "${CRITERION:?}/$id/new"
done

echo "==> cargo bench --bench hooks (criterion, ${secs}s per benchmark)" >&2
BENCH_HOOKS_SECS=$secs cargo bench --bench hooks >&2 ||
    { echo "error: cargo bench --bench hooks failed; see its output above" >&2; exit 1; }

rows=()
for b in "${BENCHES[@]}"; do
    read -r name id events <<<"$b"
    est=$CRITERION/$id/new/estimates.json
    [[ -f "$est" ]] || { echo "error: criterion wrote no $est" >&2; exit 1; }
    # {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":N,...},...}
    ns=$(sed -E 's/.*"median":\{"confidence_interval":\{[^}]*\},"point_estimate":([0-9.eE+-]+).*/\1/' "$est")
    [[ "$ns" =~ ^[0-9.eE+-]+$ ]] || { echo "error: no median in $est" >&2; exit 1; }
    rows+=("$name	$ns	$events")
done

if (( summary )); then
    printf '%s\n' "${rows[@]}"
else
    printf '%-24s %14s %16s\n' benchmark 'ns per hook' 'M events/s'
    for r in "${rows[@]}"; do
        IFS=$'\t' read -r name ns events <<<"$r"
        awk -v n="$name" -v ns="$ns" -v e="$events" \
            'BEGIN { printf "%-24s %14.2f %16.1f\n", n, ns / e, e / ns * 1000 }'
    done
fi
