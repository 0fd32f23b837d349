#!/usr/bin/env bash
# devel-mat.sh PERL — build (or find in the cache) Devel::MAT::Dumper for
# PERL, writing heap dumps that Debian bookworm's pmat (libdevel-mat-perl
# 0.51, run by the system perl) reads. Works for any perl 5 with
# ExtUtils::MakeMaker and its CORE headers; meant for the MemTrace perl,
# which cannot load Debian's binary Dumper when it is not a twin of the
# system perl (a non-threaded MemTrace perl lacks PL_current_context).
#
# The LAST line of stdout is the module's blib directory DIR. Use it as
#     $PERL -Mblib=DIR -MDevel::MAT::Dumper -e 'Devel::MAT::Dumper::dump($file)'
# or  $PERL -IDIR/arch -IDIR/lib ...
# Progress goes to stderr. Failure: one "error: ..." line on stderr naming
# what failed and its log, and a non-zero exit. When the module built but its
# own 'make test' failed, a "warning: ..." line on stderr says so (exit 0).
#
# Which source. pmat 0.51 reads PMAT format 0.0 to 0.5. Debian's source
# versions are tried in this order: those of the system's own suites
# (bookworm: 0.46, format 0.4), then those of $MEMTRACE_DEVEL_MAT_SUITES
# (default: trixie, 0.50), newest first within each. A version counts as
# fetched when its upstream tarball downloads and matches the SHA-256 in
# Debian's Sources index; Debian's .dsc and patches are used when they
# download too (dpkg-source -x), else the upstream tarball alone. (Here
# Debian's mirror answered 404 for every file of 0.46-1, and for the .dsc and
# .debian.tar.xz of 0.50-1, whose upstream tarball it serves.)
#
# The format patch. Dumper 0.48 and later write PMAT format 0.6, which 0.51
# refuses ("format version minor unrecognised (6)"). Format 0.6 differs from
# 0.4 in three things only (doc/format.txt): a HEK pointer in each HASH body
# entry, a PV_SHARED_HEK extension record after a shared-key string SV, and
# NAME_HEK fields appended to GLOB and CODE headers. Header sizes are
# declared in the file, so 0.51 skips the appended header fields; this
# script drops the other two from Dumper.xs and writes minor version 4.
# Each edit must match the source exactly, or the build stops. The dist's
# t/01header.t is changed to expect minor 4 with it.
#
# The check. After building, the script dumps a small heap with the new
# module and reads the header's format version; where /usr/bin/perl has
# Devel::MAT, it loads that dump with it too. A dump 0.51 cannot load fails
# the build.
#
# Cache: $MEMTRACE_HOME/devel-mat-dumper/Devel-MAT-Dumper-<source version>-
# perl-<perl version>-<key>/, the key hashing PERL's path (as given and
# resolved), its version and %Config summary, the source version and this
# script's patch revision; .memtrace-complete in it records the checks. A
# cached build costs one 'PERL -MConfig' run. The source stays in
# $MEMTRACE_HOME/src/libdevel-mat-dumper-perl_<version>/, fetched with a
# private apt configuration (perl/build/debian-source.sh) whose state lives
# in $MEMTRACE_HOME/apt-devel-mat. Logs: $MEMTRACE_HOME/logs/.
#
# Environment:
#   MEMTRACE_HOME              cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace)
#   MEMTRACE_DEVEL_MAT_SUITES  Debian suites to look in after the system's
#                              own (space-separated; default: trixie)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_PKG=libdevel-mat-dumper-perl
STAMP_NAME=.memtrace-complete
# Bump when the patch or the build steps change: it is part of the cache key.
PATCH_REVISION=1

# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PERL   (prints Devel::MAT::Dumper's blib directory for PERL last)" >&2
    exit 64
fi

# ---------------------------------------------------------------------------
# The perl: absolute path, and what identifies its build.

target_perl "$1"
module_cache devel-mat
mkdir -p "$MEMTRACE_HOME/devel-mat-dumper"

# shellcheck source-path=SCRIPTDIR source=debian-source.sh
. "$HERE/debian-source.sh"

# ---------------------------------------------------------------------------
# The source: the newest complete fetch in the cache, else fetched from
# Debian. Sets SRC_VERSION, SRC_TREE and SRC_ORIGIN.

find_cached_source() {
    local stamps stamp
    stamps=("$SRC_DIR/${SRC_PKG}"_*/"$STAMP_NAME")
    [[ -f "${stamps[0]}" ]] || return 1
    stamp=$(printf '%s\n' "${stamps[@]}" | sort -V | tail -n1)
    SRC_VERSION=$(sed -n 's/^version: //p' "$stamp")
    SRC_TREE=$(sed -n 's/^tree: //p' "$stamp")
    SRC_ORIGIN=$(sed -n 's/^origin: //p' "$stamp")
    [[ -n "$SRC_VERSION" && -d "$SRC_TREE/lib/Devel/MAT" ]]
}

# add_suites: append deb-src lines for $MEMTRACE_DEVEL_MAT_SUITES, made from
# the system's own lines for its release (same mirror, keyring, components).
add_suites() {
    local codename suite list=$MEMTRACE_APT_DIR/sources.list
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [[ -n "$codename" ]] || return 0
    for suite in ${MEMTRACE_DEVEL_MAT_SUITES-trixie}; do
        [[ "$suite" == "$codename" ]] && continue
        awk -v from="$codename" -v to="$suite" '
            { for (i = 2; i <= NF; i++) if ($i == from) { $i = to; print; break } }' "$list"
    done | sort -u >"$list.extra"
    cat "$list.extra" >>"$list"
    rm -f "$list.extra"
}

# try_version VERSION LOG: download VERSION into a fresh directory, check the
# upstream tarball against the index, unpack it (with Debian's .dsc when it
# came too) into $SRC_DIR; 0 on success.
try_version() {
    local v=$1 log=$2 dl orig name dest tree origin
    dl=$SRC_DIR/$SRC_PKG.download.$$
    rm -rf "$dl"; mkdir -p "$dl"
    say "fetching $SRC_PKG source from Debian (apt-get source --download-only $SRC_PKG=$v)"
    # The upstream tarball, checked, even if the .dsc or the Debian tarball
    # did not download (then it is unpacked alone, below).
    orig=$(debian_download_orig "$SRC_PKG" "$v" "$dl" "$log")
    [[ -n "$orig" ]] || return 1
    name=$(basename "$orig")
    dest=$SRC_DIR/${SRC_PKG}_${v//[^A-Za-z0-9.+~-]/_}
    rm -rf "$dest"; mkdir -p "$dest"
    local dsc
    dsc=$(find "$dl" -maxdepth 1 -name "${SRC_PKG}_*.dsc" | head -n1)
    if [[ -n "$dsc" ]] && find "$dl" -maxdepth 1 -name "${SRC_PKG}_*.debian.tar.*" | grep -q . &&
        (cd "$dest" && dpkg-source -x "$dsc" unpacked) >>"$log" 2>&1; then
        tree=$dest/unpacked
        origin="Debian source package $SRC_PKG $v (dpkg-source -x, Debian's patches applied)"
    else
        rm -rf "$dest"; mkdir -p "$dest/unpacked"
        tar -xf "$orig" -C "$dest/unpacked" >>"$log" 2>&1 || { echo "==> $SRC_PKG=$v: cannot unpack $name" >>"$log"; return 1; }
        tree=$(find "$dest/unpacked" -mindepth 1 -maxdepth 1 -type d | head -n1)
        origin="upstream tarball $name of Debian's $SRC_PKG $v (SHA-256 checked against the Sources index; its .dsc/.debian.tar did not download)"
    fi
    cp "$orig" "$dest/"
    rm -rf "$dl"
    [[ -n "$tree" && -d "$tree/lib/Devel/MAT" ]] || { echo "==> $SRC_PKG=$v: no lib/Devel/MAT in the unpacked source" >>"$log"; return 1; }
    printf 'package: %s\nversion: %s\ntree: %s\norigin: %s\nfetched: %s\n' "$SRC_PKG" "$v" "$tree" \
        "$origin" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dest/$STAMP_NAME"
    say "$SRC_PKG $v unpacked in $tree"
    return 0
}

fetch_source() {
    command -v apt-get >/dev/null ||
        die "apt-get not found, so the $SRC_PKG source cannot be fetched from Debian"
    local log=$LOG_DIR/$SRC_PKG-source-fetch.log own extra v tried=()
    : >"$log"
    debian_apt_setup ||
        fail_log "$log" "finding apt sources (no 'deb' entries in /etc/apt/sources.list{,.d})"
    say "fetching the $SRC_PKG source index from Debian (private apt lists in $MEMTRACE_APT_DIR; log: $log)"
    apt-get "${DEBIAN_APT_OPTS[@]}" update >>"$log" 2>&1 ||
        fail_log "$log" "apt-get update of the private deb-src lists (network to the Debian mirror?)"
    own=$(debian_source_versions "$SRC_PKG")
    add_suites
    apt-get "${DEBIAN_APT_OPTS[@]}" update >>"$log" 2>&1 ||
        fail_log "$log" "apt-get update of the private deb-src lists with suites ${MEMTRACE_DEVEL_MAT_SUITES-trixie}"
    extra=$(debian_source_versions "$SRC_PKG" | grep -vxF -f <(printf '%s\n' "$own") || true)
    for v in $own $extra; do
        tried+=("$v")
        try_version "$v" "$log" && return 0
        say "$SRC_PKG=$v could not be fetched; trying the next version"
    done
    fail_log "$log" "fetching any $SRC_PKG source version (tried: ${tried[*]:-none listed})"
}

if ! find_cached_source; then
    take_module_lock devel-mat-dumper 'Devel::MAT::Dumper'
    if ! find_cached_source; then
        if ! command -v dpkg-source >/dev/null; then
            say "dpkg-source (dpkg-dev) is missing, and apt-get source needs it"
            "$HERE/install-deps.sh"
        fi
        fetch_source
        find_cached_source || die "the $SRC_PKG source fetched into $SRC_DIR is incomplete; remove $SRC_DIR/${SRC_PKG}_* and retry"
    fi
fi

# ---------------------------------------------------------------------------
# The cache entry for this perl and source.

KEY=$(printf '%s\n' "perl=$PERL" "real=$PERL_REAL" "$PERL_INFO" "source=$SRC_PKG=$SRC_VERSION" \
    "patch=$PATCH_REVISION" | sha256sum | cut -c1-10)
NAME=Devel-MAT-Dumper-${SRC_VERSION//[^A-Za-z0-9.+~-]/_}-perl-$PERL_VERSION-$KEY
DIR=$MEMTRACE_HOME/devel-mat-dumper/$NAME
TREE=$DIR/src
BLIB=$TREE/blib
STAMP=$DIR/$STAMP_NAME

finish() { finish_module 'Devel::MAT::Dumper'; }

module_is_complete && finish

take_module_lock devel-mat-dumper 'Devel::MAT::Dumper'
module_is_complete && finish

# ---------------------------------------------------------------------------
# Build tools and headers.

xs_build_tools

start=$SECONDS
rm -rf "$DIR"
mkdir -p "$DIR"
cp -a "$SRC_TREE" "$TREE"
chmod -R u+w "$TREE"
PATCH_LOG=$LOG_DIR/$NAME-patch.log
: >"$PATCH_LOG"

# The dist ships a Build.PL (Module::Build, not in perl's core since 5.22):
# MakeMaker builds it instead, from the XS moved to the top directory.
if [[ -f "$TREE/lib/Devel/MAT/Dumper.xs" && ! -f "$TREE/Dumper.xs" ]]; then
    mv "$TREE/lib/Devel/MAT/Dumper.xs" "$TREE/Dumper.xs"
fi
[[ -f "$TREE/Dumper.xs" && -f "$TREE/lib/Devel/MAT/Dumper.pm" ]] ||
    die "the $SRC_PKG $SRC_VERSION source in $SRC_TREE has no Dumper.xs and lib/Devel/MAT/Dumper.pm"
cat >"$TREE/Makefile.PL" <<'EOF'
# Written by perl/build/devel-mat.sh: the dist's Build.PL needs Module::Build.
use strict;
use warnings;
use ExtUtils::MakeMaker;
WriteMakefile(
    NAME         => 'Devel::MAT::Dumper',
    VERSION_FROM => 'lib/Devel/MAT/Dumper.pm',
    XS           => { 'Dumper.xs' => 'Dumper.c' },
    OBJECT       => 'Dumper$(OBJ_EXT)',
);
EOF

WRITES_MINOR=$(sed -n 's/^#define FORMAT_VERSION_MINOR \([0-9]*\)$/\1/p' "$TREE/Dumper.xs")
[[ "$WRITES_MINOR" =~ ^[0-9]+$ ]] ||
    die "cannot find '#define FORMAT_VERSION_MINOR N' in $SRC_TREE's Dumper.xs; $SRC_PKG $SRC_VERSION is not a version this script knows"
PATCHED="no (the source writes PMAT format 0.$WRITES_MINOR)"
if ((WRITES_MINOR == 6)); then
    say "$SRC_PKG $SRC_VERSION writes PMAT format 0.6, which pmat 0.51 refuses; patching it to write 0.4 (log: $PATCH_LOG)"
    # shellcheck disable=SC2016  # perl code
    env -u PERL5OPT -u PERL5LIB "$PERL" -e '
        my ($xs, $test) = @ARGV;
        local $/;
        open my $in, "<", $xs or die "cannot read $xs: $!\n";
        my $text = <$in>;
        close $in;
        # Each edit is a s///g; it must change exactly one place.
        my @edits = (
            [ "the format version", sub {
                $_[0] =~ s/^#define FORMAT_VERSION_MINOR 6$/#define FORMAT_VERSION_MINOR 4/mg } ],
            [ "the HEK pointer of each HASH body entry", sub {
                $_[0] =~ s/^[ \t]*write_ptr\(fh, hek_is_shared \? hek : NULL\);\n//mg } ],
            [ "the PV_SHARED_HEK extension record", sub {
                $_[0] =~ s!^([ \t]*)if\(SvPOKp\(sv\) && SvIsCOW_shared_hash\(sv\)\) \{$!${1}if(0) { /* PMAT format 0.4 has no PV_SHARED_HEK */!mg } ],
        );
        for my $e (@edits) {
            my ($what, $edit) = @$e;
            my $n = $edit->($text) || 0;
            $n == 1 or die "patching $xs: $what matched $n times, not once\n";
            print "patched: $what\n";
        }
        open my $out, ">", $xs or die "cannot write $xs: $!\n";
        print {$out} $text;
        close $out or die "cannot write $xs: $!\n";
        if (-f $test) {
            open my $tin, "<", $test or die "cannot read $test: $!\n";
            my $t = <$tin>;
            close $tin;
            if ($t =~ s/is\( \$minor, 6,/is( \$minor, 4,/) {
                open my $tout, ">", $test or die "cannot write $test: $!\n";
                print {$tout} $t;
                close $tout or die "cannot write $test: $!\n";
                print "patched: $test expects minor 4\n";
            }
        }
    ' "$TREE/Dumper.xs" "$TREE/t/01header.t" >>"$PATCH_LOG" 2>&1 ||
        fail_log "$PATCH_LOG" "patching $SRC_PKG $SRC_VERSION to write PMAT format 0.4"
    PATCHED="yes: format 0.6 -> 0.4 (no HASH entry HEK pointers, no PV_SHARED_HEK records)"
elif ((WRITES_MINOR > 5)); then
    die "$SRC_PKG $SRC_VERSION writes PMAT format 0.$WRITES_MINOR, which pmat 0.51 cannot read and this script cannot patch"
fi

say "building Devel::MAT::Dumper ($SRC_PKG $SRC_VERSION) for $PERL (perl $PERL_VERSION) in $TREE"
step "$LOG_DIR/$NAME-configure.log" "'perl Makefile.PL' of Devel::MAT::Dumper for $PERL" "$PERL" Makefile.PL
step "$LOG_DIR/$NAME-make.log" "'make' of Devel::MAT::Dumper for $PERL" "$PERL_MAKE"
[[ -d "$BLIB/arch" && -d "$BLIB/lib" ]] ||
    die "'make' of Devel::MAT::Dumper left no $BLIB/{arch,lib}; see $LOG_DIR/$NAME-make.log"

TEST_LOG=$LOG_DIR/$NAME-test.log
say "running Devel::MAT::Dumper's own test suite (log: $TEST_LOG)"
if (cd "$TREE" && exec "${BUILD_ENV[@]}" "$PERL_MAKE" test) </dev/null >"$TEST_LOG" 2>&1; then
    TESTS="pass ($(sed -n 's/^Files=\([0-9]*\), Tests=\([0-9]*\),.*/\1 files, \2 tests/p' "$TEST_LOG"))"
else
    failed=$(awk '/^Test Summary Report/ {s = 1; next}
                  s && /^[^ ].* \(Wstat: / {printf "%s%s", sep, $1; sep = ", "}
                  s && /^ +Failed tests?: / {sub(/^ +Failed tests?: +/, ""); printf " #%s", $0}' "$TEST_LOG")
    TESTS="FAIL: ${failed:-make test failed before any test summary}"
fi

# The check: a dump from the new module, its format version, and (where the
# system perl has Devel::MAT) a load by the pmat that will read it.
CHECK_LOG=$LOG_DIR/$NAME-check.log
CHECK_DUMP=$DIR/check.pmat
# shellcheck disable=SC2016  # perl code
(cd "$DIR" && "${BUILD_ENV[@]}" "$PERL" -Mblib="$BLIB" -MDevel::MAT::Dumper -e '
    our @check = ([1, 2, 3], { key => "value" });
    Devel::MAT::Dumper::dump($ARGV[0]);' "$CHECK_DUMP") </dev/null >"$CHECK_LOG" 2>&1 ||
    fail_log "$CHECK_LOG" "writing a check dump with the new Devel::MAT::Dumper"
FORMAT=$(od -A n -t u1 -j 6 -N 2 "$CHECK_DUMP" | awk '{print $1 "." $2}')
[[ "$FORMAT" =~ ^0\.[0-5]$ ]] ||
    { echo "the check dump $CHECK_DUMP is PMAT format $FORMAT" >>"$CHECK_LOG"; fail_log "$CHECK_LOG" "checking the format version of a dump (want 0.0 to 0.5)"; }
PMAT_CHECK="skipped: /usr/bin/perl has no Devel::MAT (apt-get install libdevel-mat-perl)"
if [[ -x /usr/bin/perl ]] && env -u PERL5OPT -u PERL5LIB /usr/bin/perl -MDevel::MAT -e1 2>/dev/null; then
    # shellcheck disable=SC2016  # perl code
    if PMAT_OUT=$(env -u PERL5OPT -u PERL5LIB /usr/bin/perl -MDevel::MAT -e '
            my $pmat = Devel::MAT->load($ARGV[0]);
            my $av = $pmat->find_symbol(q{@main::check});
            my $n = $av->n_elems;
            $n == 2 or die "\@main::check has $n elements in the dump, not 2\n";
            my $hv = $av->elem(1)->rv;
            my $value = $hv->value("key")->pv;
            $value eq "value" or die "\$main::check[1]{key} is \"$value\" in the dump, not \"value\"\n";
            printf "Devel::MAT %s loaded it (%d SVs; \@main::check as written)\n",
                Devel::MAT->VERSION, scalar(() = $pmat->dumpfile->heap);
        ' "$CHECK_DUMP" 2>>"$CHECK_LOG"); then
        PMAT_CHECK=$PMAT_OUT
    else
        fail_log "$CHECK_LOG" "loading the check dump $CHECK_DUMP with /usr/bin/perl's Devel::MAT"
    fi
fi
echo "$PMAT_CHECK" >>"$CHECK_LOG"

{
    echo "perl: $PERL"
    echo "perl_real: $PERL_REAL"
    echo "perl_version: $PERL_VERSION"
    echo "source: $SRC_PKG $SRC_VERSION ($SRC_TREE)"
    echo "origin: $SRC_ORIGIN"
    echo "patched: $PATCHED"
    echo "writes: PMAT format $FORMAT"
    echo "pmat_check: $PMAT_CHECK"
    echo "blib: $BLIB"
    echo "tests: $TESTS"
    echo "test_log: $TEST_LOG"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
say "Devel::MAT::Dumper built for $PERL in $((SECONDS - start))s; writes PMAT format $FORMAT; $PMAT_CHECK; its tests: $TESTS"
finish
