#!/usr/bin/env bash
# handshake-key.sh PERL — print the XS handshake key that modules built for
# PERL carry (util.h's HS_KEY: interpreter struct size, threads, API
# version), as "0x...". Compiled from PERL's own headers and ccflags, so it
# needs a C compiler and PERL's CORE headers (Debian: libperl5.XX).
# Two perls whose keys differ cannot load each other's XS modules.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"
[[ $# -eq 1 ]] || { echo "usage: $0 PERL" >&2; exit 64; }
target_perl "$1"
[[ -f "$PERL_ARCHLIB/CORE/perl.h" ]] ||
    die "$PERL has no headers ($PERL_ARCHLIB/CORE/perl.h is missing), so its handshake key cannot be computed (Debian's perl: apt-get install libperl${PERL_VERSION%.*})"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/hs.c" <<'C'
#include "EXTERN.h"
#include "perl.h"
#include <stdio.h>
int main(void) {
    printf("0x%lx\n", (unsigned long)HS_KEY(FALSE, FALSE, "v" PERL_API_VERSION_STRING, ""));
    return 0;
}
C
# shellcheck disable=SC2016
flags=$(env -u PERL5OPT -u PERL5LIB "$PERL" -MConfig -e 'print "$Config{ccflags} -I$Config{archlibexp}/CORE"')
# shellcheck disable=SC2086  # flags are words
if ! out=$(cd "$dir" && ${PERL_CC} $flags -o hs hs.c 2>&1); then
    die "compiling the handshake probe against $PERL's headers failed: $(head -n 3 <<<"$out" | tr '\n' ' ')"
fi
"$dir/hs"
