#!/usr/bin/env bash
# install-command.sh PERL MEMTRACE — the last step of 'make perl':
#   * records PERL in $MEMTRACE_HOME/memtrace-perl, where the memtrace
#     command looks for the MemTrace perl (memtrace run, perl, prove);
#   * links MEMTRACE (target/release/memtrace) into MEMTRACE_BIN_DIR as
#     'memtrace' (default /usr/local/bin as root, ~/.local/bin otherwise),
#     unless a file that is not such a link is there already;
#   * writes its man page, memtrace(1), from doc/memtrace.pod beside it
#     (../share/man/man1 of that directory).
# Says once where it put the command; quiet when nothing changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

[[ $# -eq 2 ]] || { echo "usage: $0 PERL MEMTRACE" >&2; exit 64; }
PERL=$1
BIN=$2
[[ -x "$BIN" ]] || die "the memtrace command $BIN was not built; run cargo build --release -p memtrace"

MEMTRACE_HOME=${MEMTRACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace}
mkdir -p "$MEMTRACE_HOME"
record=$MEMTRACE_HOME/memtrace-perl
if [[ "$(cat "$record" 2>/dev/null || true)" != "$PERL" ]]; then
    echo "$PERL" >"$record.tmp" && mv "$record.tmp" "$record"
fi

if [[ -n "${MEMTRACE_BIN_DIR:-}" ]]; then
    dir=$MEMTRACE_BIN_DIR
elif [[ $(id -u) == 0 ]]; then
    dir=/usr/local/bin
else
    dir=$HOME/.local/bin
fi
mkdir -p "$dir" 2>/dev/null || { say "note: cannot create $dir, so memtrace is not on PATH; run it as $BIN"; exit 0; }
link=$dir/memtrace
target=$(realpath "$BIN")
if [[ -L "$link" ]]; then
    [[ "$(readlink "$link")" == "$target" ]] || {
        ln -sfn "$target" "$link"
        say "memtrace command: $link -> $target"
    }
elif [[ -e "$link" ]]; then
    say "note: $link exists and is not a link to a memtrace build; left alone (run $BIN, or remove it and run make perl)"
    exit 0
else
    ln -s "$target" "$link"
    say "memtrace command: $link -> $target"
fi
echo "$link" >"$ROOT/target/.memtrace-command-path"
case ":$PATH:" in
    *":$dir:"*) ;;
    *) say "note: $dir is not on your PATH; add it (export PATH=\"$dir:\$PATH\") to type memtrace" ;;
esac

# The man page, regenerated when the POD changes.
pod=$ROOT/doc/memtrace.pod
man_dir=$(dirname "$dir")/share/man/man1
if [[ -f "$pod" ]] && command -v pod2man >/dev/null; then
    man=$man_dir/memtrace.1
    if [[ ! -f "$man" || "$pod" -nt "$man" ]]; then
        if mkdir -p "$man_dir" 2>/dev/null &&
            pod2man --section=1 --center="Devel::MemTrace" --name=MEMTRACE "$pod" >"$man.tmp" 2>/dev/null; then
            mv "$man.tmp" "$man"
        else
            rm -f "$man.tmp"
        fi
    fi
fi
