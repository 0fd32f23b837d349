#!/usr/bin/env bash
# The recorder's cost in counts rather than seconds: for each workload, the
# instructions, first-level cache misses (instruction and data) and
# last-level misses of the MemTrace perl with recording off and on, under
# cachegrind, with address-space randomisation off and perl's hash seed
# fixed, so that two runs of the same build give the same numbers.
#
# Timings on a shared machine move by a few percent from run to run; these
# counts do not, so a change of 1% in what the hooks do is seen at once.
# They are a model, not the machine: cachegrind simulates the caches given
# below (a 32 KB 8-way first level, as on the machines this runs on) and no
# branch predictor. `cycles*` weighs each miss as ten instructions and
# each last-level miss as sixty, which tracked the measured on/off ratio
# of churn within 0.02. The budgets stay in `make bench`, in seconds.
#
# Usage: perl/bench/counts.sh [WORKLOAD[:SIZE] ...] [-- IMPORT_OPTIONS]
#   perl/bench/counts.sh                      churn:20000 json:90 regex:60 bigheap:16000
#   perl/bench/counts.sh churn:20000 -- =-stack=32,-c_frames,-malloc
# (after make perl; valgrind comes with perl/build/install-bench-deps.sh)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

die() { echo "counts.sh: $*" >&2; exit 2; }

workloads=()
options=
while (($#)); do
    case $1 in
        --) shift; options=${1:-}; shift $(($# > 0 ? 1 : 0)); break ;;
        *) workloads+=("$1"); shift ;;
    esac
done
(($# == 0)) || die "unexpected arguments after the options: $*"
((${#workloads[@]})) || workloads=(churn:20000 json:90 regex:60 bigheap:16000)
[[ -z "$options" || "$options" == =* ]] ||
    die "import options start with '=' as after -MDevel::MemTrace (got '$options'); e.g. -- =-stack=1"

command -v valgrind >/dev/null || die "valgrind not found; run perl/build/install-bench-deps.sh"
command -v setarch >/dev/null || die "setarch not found (util-linux)"
eval "$(perl/build/env.sh)"
[[ -x "${MEMTRACE_PERL:-}" ]] || die "no MemTrace perl; run make perl first"

# counts PERL_ARGS...: "Ir I1mr D1mr+D1mw LLmr+LLmw" of one run.
counts() {
    PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 setarch "$(uname -m)" -R \
        valgrind --tool=cachegrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 \
        --LL=1048576,16,64 --cachegrind-out-file=/dev/null "$MEMTRACE_PERL" "$@" 2>&1 >/dev/null |
        perl -ne '
            s/,//g;
            $c{$1} = $2 if /==\d+== (I|I1|D1|LL)\s+(?:refs|misses):\s+(\d+)/;
            END { print join(" ", map { $c{$_} // die "no $_ count from cachegrind\n" } qw(I I1 D1 LL)), "\n" }'
}

for entry in "${workloads[@]}"; do
    name=${entry%%:*} size=${entry#*:}
    [[ "$entry" == *:* ]] || size=
    [[ -f perl/bench/workloads/$name.pl ]] || die "no workload '$name' (perl/bench/workloads/*.pl)"
    [[ -z "$size" || "$size" =~ ^[1-9][0-9]*$ ]] || die "size '$size' of $name is not a positive integer"
done
read -r -a inc <<<"${MEMTRACE_PERL_INC:-}"

printf '%-8s %7s %-4s %10s %9s %9s %9s %10s\n' workload size run instr I1miss D1miss LLmiss 'cycles*'
for entry in "${workloads[@]}"; do
    name=${entry%%:*} size=${entry#*:}
    [[ "$entry" == *:* ]] || size=
    args=(perl/bench/workloads/"$name".pl)
    [[ -z "$size" ]] || args+=("$size")
    declare -A model=()
    for run in off on; do
        if [[ $run == on ]]; then set -- "-MDevel::MemTrace$options"; else set --; fi
        read -r ir i1 d1 ll < <(counts "${inc[@]}" "$@" "${args[@]}")
        model[$run]=$((ir + 10 * (i1 + d1) + 60 * ll))
        printf '%-8s %7s %-4s %9.1fM %8.2fM %8.2fM %8.2fM %9.1fM\n' "$name" "${size:--}" "$run" \
            "$(bc -l <<<"$ir / 10^6")" "$(bc -l <<<"$i1 / 10^6")" "$(bc -l <<<"$d1 / 10^6")" \
            "$(bc -l <<<"$ll / 10^6")" "$(bc -l <<<"${model[$run]} / 10^6")"
    done
    printf '%-8s %7s on/off cycles* %.3f\n' "$name" "${size:--}" "$(bc -l <<<"${model[on]} / ${model[off]}")"
    unset model
done
