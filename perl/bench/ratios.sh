#!/usr/bin/env bash
# Quick side-by-side cost of the recorder, all in one run: for each workload,
# the median wall time of the same MemTrace perl (a) without the recorder
# (a twin binary with the recorder dropped from NEEDED: perl's NOIMPL no-op
# hooks), (b) with the recorder but Devel::MemTrace not loaded (recording
# off), (c) recording on; runs interleaved so machine noise hits all three.
# Usage: perl/bench/ratios.sh [RUNS]   (after make perl)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${1:-7}
PERL=$(make -s perl | tail -n 1)
TWIN=$(mktemp -d)/perl-noimpl
trap 'rm -rf "$(dirname "$TWIN")"' EXIT
cp "$PERL" "$TWIN"
RECORDER=$(patchelf --print-needed "$TWIN" | grep '/auto/Devel/MemTrace/MemTrace.so$')
patchelf --remove-needed "$RECORDER" "$TWIN"

ms() { local start; start=$(date +%s%N); "$@" >/dev/null; echo $((($(date +%s%N) - start) / 1000000)); }
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf '%-8s %10s %10s %10s %8s %10s\n' workload noimpl_ms off_ms on_ms on/off off/noimpl
for workload in perl/bench/workloads/*.pl; do
    name=$(basename "$workload" .pl)
    noimpl=() off=() on=()
    for _ in $(seq "$RUNS"); do
        noimpl+=("$(ms "$TWIN" "$workload")")
        off+=("$(ms "$PERL" "$workload")")
        on+=("$(ms "$PERL" -MDevel::MemTrace "$workload")")
    done
    n=$(printf '%s\n' "${noimpl[@]}" | median)
    f=$(printf '%s\n' "${off[@]}" | median)
    o=$(printf '%s\n' "${on[@]}" | median)
    printf '%-8s %10d %10d %10d %8.2f %10.3f\n' "$name" "$n" "$f" "$o" \
        "$(echo "$o / $f" | bc -l)" "$(echo "$f / $n" | bc -l)"
done
