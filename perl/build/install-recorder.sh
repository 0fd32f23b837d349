#!/usr/bin/env bash
# install-recorder.sh PERL CDYLIB — install the Devel::MemTrace recorder into
# a MemTrace perl:
#   * CDYLIB  -> <arch>/auto/Devel/MemTrace/MemTrace.so
#   * perl/lib/** -> <lib>
#     (<arch>, <lib>: its site directories for a standalone perl, its core
#     ones for a twin, whose site directories are the system's: common.sh's
#     recorder_dirs)
#   * the installed MemTrace.so is added to the NEEDED list of the perl
#     binaries, ahead of libperl.so, so its Perl_mem_log_* hooks win.
# Each step is skipped when already done, so a rerun costs almost nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

if [[ $# -ne 2 ]]; then
    echo "usage: $0 PERL CDYLIB" >&2
    exit 64
fi
PERL=$1
CDYLIB=$2

# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

[[ -f "$CDYLIB" ]] || die "recorder library $CDYLIB not found; build it with 'cargo build --release --features perl'"
command -v patchelf >/dev/null || die "patchelf not found; run perl/build/install-deps.sh"
"$HERE/check-perl.sh" "$PERL" || exit 2
PERL=$(realpath "$PERL")

# Paths from the perl's own Config (assigned by the eval below).
cfg_installbin='' cfg_version=''
eval "$("$PERL" -MConfig -e '
    for my $k (qw(installbin version)) {
        my $v = $Config{$k}; $v =~ s/\x27/\x27\\\x27\x27/g;
        print "cfg_$k=\x27$v\x27\n";
    }')"
recorder_dirs "$PERL"

# install_file SRC DEST [MODE]: copy atomically (temp file in DEST's
# directory, then rename) and only when the content differs.
install_file() {
    local src=$1 dest=$2 mode=${3:-644} dir tmp
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
        return 1
    fi
    dir=$(dirname "$dest")
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$(basename "$dest").XXXXXX")
    cp "$src" "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$dest"
    return 0
}

# 1. The recorder library, where XSLoader will look for Devel::MemTrace.
SO=$RECORDER_ARCH/auto/Devel/MemTrace/MemTrace.so
if install_file "$CDYLIB" "$SO" 755; then
    say "installed recorder $SO"
fi

# 2. The Perl modules.
if [[ -d "$ROOT/perl/lib" ]]; then
    n=0
    while IFS= read -r -d '' f; do
        rel=${f#"$ROOT/perl/lib/"}
        if install_file "$f" "$RECORDER_LIB/$rel" 644; then
            n=$((n + 1))
        fi
    done < <(find "$ROOT/perl/lib" -type f ! -name '*~' ! -name '.*' -print0)
    (( n == 0 )) || say "installed $n module file(s) from perl/lib into $RECORDER_LIB"
else
    say "note: $ROOT/perl/lib does not exist yet; no Perl modules installed"
fi

# 3. Make the perl binaries load the recorder before libperl.

bins=()
for b in "$PERL" "$cfg_installbin/perl" "$cfg_installbin/perl$cfg_version"; do
    [[ -f "$b" ]] || continue
    b=$(realpath "$b")
    dup=0
    for seen in "${bins[@]+"${bins[@]}"}"; do [[ "$seen" == "$b" ]] && dup=1; done
    (( dup )) || bins+=("$b")
done

for b in "${bins[@]}"; do
    load_recorder_first "$b" "$SO"
done

# 4. perldoc as root switches to the user nobody, who cannot read this
# perl's files under a private home (~/.cache of root): 'perldoc
# Devel::MemTrace' then fails with "Can't find any loadable formatter
# class". This perl's perldoc keeps root's rights (its -U) instead.
PERLDOC=$cfg_installbin/perldoc
if [[ -f "$PERLDOC" ]] && ! grep -q 'Devel::MemTrace: as root, keep the rights of root' "$PERLDOC"; then
    tmp=$(mktemp "$(dirname "$PERLDOC")/.perldoc.XXXXXX")
    # shellcheck disable=SC2016  # perl code, inserted as it is
    insert='# Devel::MemTrace: as root, keep the rights of root (-U): the user nobody cannot read this perl in a private home.
BEGIN { $ENV{PERLDOC} = "-U " . (defined $ENV{PERLDOC} ? $ENV{PERLDOC} : "") if $> == 0 }'
    { head -n 3 "$PERLDOC"; printf '%s\n' "$insert"; tail -n +4 "$PERLDOC"; } >"$tmp"
    chmod 755 "$tmp"
    mv -f "$tmp" "$PERLDOC"
    say "$PERLDOC keeps root's rights as root (-U), so perldoc Devel::MemTrace works from a private cache"
fi

# 5. The perl must still start.
if ! out=$("$PERL" -e 1 2>&1); then
    die "$PERL no longer starts after installing the recorder: $(head -n 3 <<<"$out" | tr '\n' ' ')"
fi
