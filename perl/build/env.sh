#!/usr/bin/env bash
# env.sh [PERL] — the environment tests and demos use to find the MemTrace
# perl and the example XS module built for it:
#   MEMTRACE_PERL        the MemTrace perl
#   MEMTRACE_LEAKY_BLIB  target/xs/Leaky-<perl key>/blib (for -Mblib=... or
#                        -I$MEMTRACE_LEAKY_BLIB/lib -I$MEMTRACE_LEAKY_BLIB/arch)
#   MEMTRACE_PERL_INC    "-I<blib>/lib -I<blib>/arch"
#   MEMTRACE_COMMAND     the memtrace command 'make perl' put on PATH (its
#                        link), else the built target/release/memtrace
# PERL defaults to target/.memtrace-perl-path (written by 'make perl').
# Source it (". perl/build/env.sh [PERL]") to export the variables, or run it
# and eval its output (eval "$(perl/build/env.sh [PERL])").

_memtrace_env() {
    local root perl key blib
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    perl=${1:-}
    if [[ -z "$perl" ]]; then
        perl=$(cat "$root/target/.memtrace-perl-path" 2>/dev/null || true)
        [[ -n "$perl" ]] || { echo "error: no MemTrace perl known ($root/target/.memtrace-perl-path missing); run 'make perl' first" >&2; return 1; }
    fi
    [[ -x "$perl" ]] || { echo "error: MemTrace perl $perl is not executable; run 'make perl'" >&2; return 1; }
    # .../perls/perl-<version>-<key>/bin/perl -> perl-<version>-<key>
    key=$(basename "$(dirname "$(dirname "$perl")")")
    blib=$root/target/xs/Leaky-$key/blib
    printf 'export MEMTRACE_PERL=%q\n' "$perl"
    printf 'export MEMTRACE_LEAKY_BLIB=%q\n' "$blib"
    printf 'export MEMTRACE_PERL_INC=%q\n' "-I$blib/lib -I$blib/arch"
    local cmd
    cmd=$(cat "$root/target/.memtrace-command-path" 2>/dev/null || true)
    [[ -n "$cmd" && -x "$cmd" ]] || cmd=${CARGO_TARGET_DIR:-$root/target}/release/memtrace
    printf 'export MEMTRACE_COMMAND=%q\n' "$cmd"
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    _memtrace_env_out=$(_memtrace_env "$@") && eval "$_memtrace_env_out"
    unset -f _memtrace_env; unset _memtrace_env_out
else
    set -euo pipefail
    _memtrace_env "$@"
fi
