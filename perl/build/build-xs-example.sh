#!/usr/bin/env bash
# build-xs-example.sh PERL — build examples/Leaky (a MakeMaker dist) for PERL
# in target/xs/Leaky-<perl key>/, never in examples/ itself. Rebuilds only when
# the sources (or the perl) changed. The blib it makes is MEMTRACE_LEAKY_BLIB
# from env.sh.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PERL" >&2
    exit 64
fi
PERL=$1

eval "$("$HERE/env.sh" "$PERL")"
SRC=$ROOT/examples/Leaky
DIR=$(dirname "$MEMTRACE_LEAKY_BLIB")

if [[ ! -f "$SRC/Makefile.PL" ]]; then
    echo "==> note: examples/Leaky/Makefile.PL does not exist yet; skipping the Leaky XS example" >&2
    exit 0
fi

# Identity of what we build: the perl, and every source file's content (the
# MakeMaker leftovers an in-place build might have left are ignored).
hash=$( (echo "$PERL"; cd "$SRC" && find . -type f ! -name '*~' ! -name '.*' \
        ! -name Makefile ! -name 'Makefile.old' ! -name 'MYMETA.*' ! -name pm_to_blib \
        ! -name '*.o' ! -name '*.bs' ! -path './blib/*' -print0 |
        sort -z | xargs -0 -r sha256sum) | sha256sum | cut -c1-16)

up_to_date() {
    [[ -d "$MEMTRACE_LEAKY_BLIB/arch" && "$(cat "$DIR/.memtrace-src-hash" 2>/dev/null || true)" == "$hash" ]]
}
up_to_date && exit 0

# Two builds at once (e.g. two engineers' 'make perl') would wipe each
# other's directory: serialize, then look again.
mkdir -p "$(dirname "$DIR")"
exec 8>"$DIR.lock"
flock 8
up_to_date && exit 0

LOG=$DIR.log
echo "==> building examples/Leaky for $PERL in $DIR (log: $LOG)" >&2
rm -rf "$DIR"
mkdir -p "$DIR"
cp -a "$SRC/." "$DIR/"
rm -rf "$DIR/blib" "$DIR/Makefile" "$DIR/pm_to_blib"
if ! (cd "$DIR" && "$PERL" Makefile.PL && make) >"$LOG" 2>&1 </dev/null; then
    echo "error: building examples/Leaky failed; see $LOG (last 20 lines below)" >&2
    tail -n 20 "$LOG" | sed 's/^/    /' >&2
    exit 1
fi
echo "$hash" >"$DIR/.memtrace-src-hash"
