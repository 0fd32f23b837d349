#!/usr/bin/env bash
# compare-leaktrace.sh [RUNS] [SIZE] — Test::LeakTrace (built from Debian's
# libtest-leaktrace-perl source against the MemTrace perl) beside
# Test::MemTrace on the same perl and the same blocks: what each detects on
# the planted leak kinds, and leaked_info's wall time on an allocation-heavy
# block as a ratio to the bare block. Builds what it needs first (cached).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RUNS=${1:-5}
SIZE=${2:-1500}
[[ "$RUNS" =~ ^[1-9][0-9]*$ && "$SIZE" =~ ^[1-9][0-9]*$ ]] ||
    { echo "error: RUNS and SIZE must be positive integers (got '$RUNS' '$SIZE')" >&2; exit 2; }
PERL=$(make -s perl | tail -n 1)
eval "$(perl/build/env.sh "$PERL")"
BLIB=$(perl/build/test-leaktrace.sh "$PERL" | tail -n 1)
echo "perl: $PERL ($("$PERL" -e 'print $^V')); $(nproc) cores; $(date -u +%Y-%m-%d)"
exec "$PERL" perl/bench/compare-leaktrace.pl --leaktrace-blib "$BLIB" \
    --leaky-inc "$MEMTRACE_PERL_INC" --runs "$RUNS" --size "$SIZE"
