#!/usr/bin/env bash
# test-leaktrace.sh PERL — build (or find in the cache) Test::LeakTrace for
# PERL, from Debian's libtest-leaktrace-perl source package (Debian's patches
# applied), and run its own test suite once. Works for any perl 5 with
# ExtUtils::MakeMaker and its CORE headers: a MemTrace perl ('make perl'
# prints its path last), /usr/bin/perl, or any other build.
#
# The LAST line of stdout is the module's blib directory DIR. Use it as
#     $PERL -Mblib=DIR -MTest::LeakTrace ...        (blib.pm finds DIR itself)
# or  $PERL -IDIR/arch -IDIR/lib -MTest::LeakTrace ...
# Progress goes to stderr. Failure: one "error: ..." line on stderr naming
# what failed and its log, and a non-zero exit. When the module built but
# its own 'make test' failed, a "warning: ..." line on stderr names the
# failing test files and the log (on every run, cached or not); the exit
# status is still 0, since the module may be usable anyway.
#
# Cache: $MEMTRACE_HOME/test-leaktrace/Test-LeakTrace-<source version>-
# perl-<perl version>-<key>/, the key hashing PERL's path (as given and
# resolved), its version and its %Config summary, and the source version.
# The stamp file .memtrace-complete in it records the test result. A cached
# build costs one 'PERL -MConfig' run. The Debian source stays unpacked in
# $MEMTRACE_HOME/src/libtest-leaktrace-perl_<version>/; it is fetched with a
# private apt configuration (perl/build/debian-source.sh) whose state lives
# in $MEMTRACE_HOME/apt-test-leaktrace. Logs: $MEMTRACE_HOME/logs/.
# Missing build tools (make, the perl's cc, dpkg-source) are installed with
# perl/build/install-deps.sh.
#
# Environment:
#   MEMTRACE_HOME   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_PKG=libtest-leaktrace-perl
STAMP_NAME=.memtrace-complete

# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

if [[ $# -ne 1 ]]; then
    echo "usage: $0 PERL   (prints Test::LeakTrace's blib directory for PERL last)" >&2
    exit 64
fi

# ---------------------------------------------------------------------------
# The perl: absolute path, and what identifies its build.

target_perl "$1"
module_cache test-leaktrace

# shellcheck source-path=SCRIPTDIR source=debian-source.sh
. "$HERE/debian-source.sh"

# ---------------------------------------------------------------------------
# The source: the newest complete unpack in the cache, else fetched from
# Debian. Sets SRC_VERSION and SRC_TREE.

# find_cached_source: set SRC_VERSION/SRC_TREE from the cache, or return 1.
find_cached_source() {
    local stamps stamp
    stamps=("$SRC_DIR/${SRC_PKG}"_*/"$STAMP_NAME")
    [[ -f "${stamps[0]}" ]] || return 1
    stamp=$(printf '%s\n' "${stamps[@]}" | sort -V | tail -n1)
    SRC_VERSION=$(sed -n 's/^version: //p' "$stamp")
    SRC_TREE=$(sed -n 's/^tree: //p' "$stamp")
    [[ -n "$SRC_VERSION" && -f "$SRC_TREE/Makefile.PL" ]]
}

fetch_source() {
    command -v apt-get >/dev/null ||
        die "apt-get not found, so the $SRC_PKG source cannot be fetched from Debian"
    local log=$LOG_DIR/$SRC_PKG-source-fetch.log
    local dl=$SRC_DIR/$SRC_PKG.download.$$ dest top
    : >"$log"
    debian_fetch_source "$SRC_PKG" "$dl" "$log"
    top=$(find "$dl" -mindepth 1 -maxdepth 1 -type d)
    [[ -n "$top" && $(wc -l <<<"$top") == 1 && -f "$top/Makefile.PL" ]] || {
        echo "(apt-get source $SRC_PKG=$DEBIAN_SOURCE_VERSION left no single source directory with a Makefile.PL in $dl)" >>"$log"
        fail_log "$log" "unpacking $SRC_PKG=$DEBIAN_SOURCE_VERSION"
    }
    dest=$SRC_DIR/${SRC_PKG}_${DEBIAN_SOURCE_VERSION//[^A-Za-z0-9.+~-]/_}
    rm -rf "$dest"
    mv "$dl" "$dest"
    printf 'package: %s\nversion: %s\ntree: %s\nfetched: %s\n' "$SRC_PKG" "$DEBIAN_SOURCE_VERSION" \
        "$dest/$(basename "$top")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dest/$STAMP_NAME"
    say "$SRC_PKG $DEBIAN_SOURCE_VERSION unpacked in $dest/$(basename "$top")"
}

if ! find_cached_source; then
    take_module_lock test-leaktrace 'Test::LeakTrace'
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

KEY=$(printf '%s\n' "perl=$PERL" "real=$PERL_REAL" "$PERL_INFO" "source=$SRC_PKG=$SRC_VERSION" | sha256sum | cut -c1-10)
NAME=Test-LeakTrace-${SRC_VERSION//[^A-Za-z0-9.+~-]/_}-perl-$PERL_VERSION-$KEY
DIR=$MEMTRACE_HOME/test-leaktrace/$NAME
TREE=$DIR/src
BLIB=$TREE/blib
STAMP=$DIR/$STAMP_NAME

finish() { finish_module 'Test::LeakTrace'; }

module_is_complete && finish

take_module_lock test-leaktrace 'Test::LeakTrace'
module_is_complete && finish   # someone else built it while we waited

# ---------------------------------------------------------------------------
# Build tools and headers.

xs_build_tools

# ---------------------------------------------------------------------------
# Build and test, in the cache entry itself; the stamp, written last, marks
# it complete.

start=$SECONDS
rm -rf "$DIR"
mkdir -p "$DIR"
cp -a "$SRC_TREE" "$TREE"
say "building Test::LeakTrace ($SRC_PKG $SRC_VERSION) for $PERL (perl $PERL_VERSION) in $TREE"
step "$LOG_DIR/$NAME-configure.log" "'perl Makefile.PL' of Test::LeakTrace for $PERL" "$PERL" Makefile.PL
step "$LOG_DIR/$NAME-make.log" "'make' of Test::LeakTrace for $PERL" "$PERL_MAKE"
[[ -d "$BLIB/arch" && -d "$BLIB/lib" ]] ||
    die "'make' of Test::LeakTrace left no $BLIB/{arch,lib}; see $LOG_DIR/$NAME-make.log"

TEST_LOG=$LOG_DIR/$NAME-test.log
say "running Test::LeakTrace's own test suite (log: $TEST_LOG)"
if (cd "$TREE" && exec "${BUILD_ENV[@]}" "$PERL_MAKE" test) </dev/null >"$TEST_LOG" 2>&1; then
    TESTS="pass ($(sed -n 's/^Files=\([0-9]*\), Tests=\([0-9]*\),.*/\1 files, \2 tests/p' "$TEST_LOG"))"
else
    # Test::Harness's summary: "t/foo.t (Wstat: 256 ... Failed: 1)" then
    # "  Failed test:  3" lines.
    failed=$(awk '/^Test Summary Report/ {s = 1; next}
                  s && /^[^ ].* \(Wstat: / {printf "%s%s", sep, $1; sep = ", "}
                  s && /^ +Failed tests?: / {sub(/^ +Failed tests?: +/, ""); printf " #%s", $0}
                  s && /^ +Parse errors: / {printf " (parse errors)"}' "$TEST_LOG")
    TESTS="FAIL: ${failed:-make test failed before any test summary}"
fi

{
    echo "perl: $PERL"
    echo "perl_real: $PERL_REAL"
    echo "perl_version: $PERL_VERSION"
    echo "source: $SRC_PKG $SRC_VERSION ($SRC_TREE)"
    echo "blib: $BLIB"
    echo "tests: $TESTS"
    echo "test_log: $TEST_LOG"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
say "Test::LeakTrace built for $PERL in $((SECONDS - start))s; its tests: $TESTS"
finish
