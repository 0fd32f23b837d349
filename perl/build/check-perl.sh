#!/usr/bin/env bash
# check-perl.sh PERL — exit 0 if PERL can host the Devel::MemTrace recorder:
# it must have a shared libperl (useshrplib=true; with a static libperl the
# PERL_MEM_LOG hooks are called directly and cannot be replaced) and be built
# with -DPERL_MEM_LOG (otherwise the hooks are never called).
# Prints one error line and exits 2 otherwise.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PERL" >&2
    exit 64
fi
perl=$1
if [[ "$perl" != */* ]]; then
    perl=$(command -v -- "$perl" || true)
    [[ -n "$perl" ]] || { echo "error: '$1' is not on PATH; pass the path of a perl binary" >&2; exit 2; }
fi
if [[ ! -x "$perl" ]]; then
    echo "error: $perl is not an executable file; pass the path of a perl binary" >&2
    exit 2
fi

if ! info=$("$perl" -MConfig -e 'print "$Config{useshrplib}\n$Config{ccflags}\n"' 2>&1); then
    echo "error: $perl -MConfig failed ($(head -n1 <<<"$info")); is it a working perl?" >&2
    exit 2
fi
useshrplib=$(sed -n 1p <<<"$info")
ccflags=$(sed -n 2p <<<"$info")

if [[ "$useshrplib" != "true" ]]; then
    echo "error: $perl has a static libperl (useshrplib=${useshrplib:-undef}): the recorder cannot replace its PERL_MEM_LOG hooks; build a MemTrace perl with 'make perl'" >&2
    exit 2
fi
if ! grep -Eq '(^|[[:space:]])-DPERL_MEM_LOG([[:space:]]|$)' <<<"$ccflags"; then
    echo "error: $perl was built without -DPERL_MEM_LOG (ccflags: $ccflags): it never calls the recorder's hooks; build a MemTrace perl with 'make perl'" >&2
    exit 2
fi
exit 0
