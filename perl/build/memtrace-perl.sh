#!/usr/bin/env bash
# memtrace-perl.sh — build (or find in the cache) the base MemTrace perl:
# a perl with a shared libperl and -DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL.
# Progress goes to stderr; the LAST line of stdout is the absolute path of
# its bin/perl.
#
# Environment:
#   MEMTRACE_HOME       cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace)
#   MEMTRACE_PERL_SRC   perl source tarball (.tar.gz/.tar.xz/.tar.bz2) or
#                       unpacked source directory; default: Debian's perl
#                       source package (upstream tarball only)
#   MEMTRACE_THREADS=1  build a threaded perl (-Dusethreads)
#   MEMTRACE_CONFIGURE_ARGS  extra Configure arguments (whitespace-separated)
#   MEMTRACE_JOBS       parallel make jobs (default: nproc)
#   MEMTRACE_PERL_VARIANT  what -Accflags the perl gets (each its own cache key):
#                       memtrace (default) -DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL
#                                -fno-omit-frame-pointer -g;
#                       plain    no PERL_MEM_LOG (the benchmarks' baseline);
#                       plain-fp plain with -fno-omit-frame-pointer (what
#                                frame pointers cost perl, for 'make bench');
#                       memlog   -DPERL_MEM_LOG with perl's own logger
#                                (PERL_MEM_LOG=ms at run time), for 'make bench'
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MEMTRACE_HOME=${MEMTRACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace}
mkdir -p "$MEMTRACE_HOME"
MEMTRACE_HOME=$(cd "$MEMTRACE_HOME" && pwd)
LOG_DIR=$MEMTRACE_HOME/logs
SRC_DIR=$MEMTRACE_HOME/src
APT_DIR=$MEMTRACE_HOME/apt
mkdir -p "$LOG_DIR" "$SRC_DIR" "$MEMTRACE_HOME/perls" "$MEMTRACE_HOME/build" "$MEMTRACE_HOME/locks"
STAMP_NAME=.memtrace-complete

# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

# run_logged LOG WHAT CMD...: run CMD with all output into LOG.
run_logged() {
    local log=$1 what=$2
    shift 2
    "$@" >"$log" 2>&1 || fail_log "$log" "$what"
}

# One lock for everything that writes the cache (fetching, building), so
# that two 'make perl' at once wait for each other instead of colliding.
LOCKED=0
take_lock() {
    [[ $LOCKED == 1 ]] && return 0
    exec 9>"$MEMTRACE_HOME/locks/build.lock"
    if ! flock -n 9; then
        say "waiting for another MemTrace perl build/fetch to finish (lock: $MEMTRACE_HOME/locks/build.lock)"
        flock 9
    fi
    LOCKED=1
}

# version_of_patchlevel FILE: "5.36.0" from perl's patchlevel.h
version_of_patchlevel() {
    awk '/^#define[ \t]+PERL_REVISION[ \t]/ {r=$3}
         /^#define[ \t]+PERL_VERSION[ \t]/ {v=$3}
         /^#define[ \t]+PERL_SUBVERSION[ \t]/ {s=$3}
         END { if (r != "" && v != "" && s != "") print r "." v "." s }' "$1"
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------
# Debian source package, through a private apt configuration.

# shellcheck source-path=SCRIPTDIR source=debian-source.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian-source.sh"

# Only the upstream tarball (perl_*.orig.tar.*) is wanted: the MemTrace perl
# is upstream perl, without Debian's patches.
fetch_debian_source() {
    local log=$LOG_DIR/debian-source-fetch.log dl=$SRC_DIR/download.$$ orig
    : >"$log"
    MEMTRACE_APT_DIR=$APT_DIR
    debian_apt_setup ||
        die "no 'deb' entries found in /etc/apt/sources.list{,.d}; set MEMTRACE_PERL_SRC to a perl source tarball or directory"
    debian_fetch_source perl "$dl" "$log" --download-only
    orig=$(ls "$dl"/perl_*.orig.tar.* 2>/dev/null | head -n1 || true)
    [[ -n "$orig" ]] ||
        fail_log "$log" "finding perl_*.orig.tar.* in the download of perl=$DEBIAN_SOURCE_VERSION"
    mv "$orig" "$SRC_DIR/"
    rm -rf "$dl"
}

cached_orig() {
    ls "$SRC_DIR"/perl_*.orig.tar.* 2>/dev/null | sort -V | tail -n1 || true
}

# ---------------------------------------------------------------------------
# Resolve the source: SRC_KIND (tarball|dir), SRC_PATH, SRC_ID, PERL_VERSION.

if [[ -n "${MEMTRACE_PERL_SRC:-}" ]]; then
    [[ -e "$MEMTRACE_PERL_SRC" ]] || die "MEMTRACE_PERL_SRC=$MEMTRACE_PERL_SRC does not exist; point it at a perl source tarball or directory"
    SRC_PATH=$(realpath "$MEMTRACE_PERL_SRC")
    if [[ -d "$SRC_PATH" ]]; then
        SRC_KIND=dir
        [[ -f "$SRC_PATH/Configure" && -f "$SRC_PATH/patchlevel.h" ]] ||
            die "MEMTRACE_PERL_SRC=$SRC_PATH has no Configure/patchlevel.h; point it at the top of a perl source tree"
        PERL_VERSION=$(version_of_patchlevel "$SRC_PATH/patchlevel.h")
        SRC_ID="dir:$SRC_PATH:$PERL_VERSION"
    else
        SRC_KIND=tarball
        case "$SRC_PATH" in
            *.tar.gz|*.tgz|*.tar.xz|*.txz|*.tar.bz2|*.tbz2) ;;
            *) die "MEMTRACE_PERL_SRC=$SRC_PATH is not a .tar.gz/.tar.xz/.tar.bz2 tarball or a directory" ;;
        esac
        SRC_ID="tarball:$(sha256 "$SRC_PATH")"
    fi
else
    SRC_KIND=tarball
    SRC_PATH=$(cached_orig)
    if [[ -z "$SRC_PATH" ]]; then
        take_lock
        SRC_PATH=$(cached_orig)
        if [[ -z "$SRC_PATH" ]]; then
            command -v apt-get >/dev/null ||
                die "apt-get not found, so perl's source cannot be fetched from Debian; set MEMTRACE_PERL_SRC to a perl source tarball or directory"
            fetch_debian_source
            SRC_PATH=$(cached_orig)
        fi
    fi
    SRC_ID="tarball:$(sha256 "$SRC_PATH")"
fi

if [[ $SRC_KIND == tarball && -z "${PERL_VERSION:-}" ]]; then
    if [[ $(basename "$SRC_PATH") =~ ^perl[-_]([0-9]+\.[0-9]+\.[0-9]+)[._] ]]; then
        PERL_VERSION=${BASH_REMATCH[1]}
    else
        PERL_VERSION=$(tar -xOf "$SRC_PATH" --wildcards '*/patchlevel.h' 2>/dev/null |
            version_of_patchlevel /dev/stdin || true)
    fi
fi
[[ -n "${PERL_VERSION:-}" ]] || die "cannot tell the perl version of $SRC_PATH (no patchlevel.h?); check MEMTRACE_PERL_SRC"

# ---------------------------------------------------------------------------
# Configure arguments and the cache key.

VARIANT=${MEMTRACE_PERL_VARIANT:-memtrace}
case "$VARIANT" in
    # Frame pointers make the recorder's walk of C return addresses cheap
    # and reliable; -g lets the report name their file and line.
    memtrace) CCFLAGS=("-Accflags=-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL -fno-omit-frame-pointer -g") ;;
    plain) CCFLAGS=() ;;
    plain-fp) CCFLAGS=("-Accflags=-fno-omit-frame-pointer") ;;
    memlog) CCFLAGS=("-Accflags=-DPERL_MEM_LOG") ;;
    *) die "MEMTRACE_PERL_VARIANT=$VARIANT is not one of memtrace, plain, plain-fp, memlog" ;;
esac
CONFIGURE_ARGS=(-des -Duseshrplib "${CCFLAGS[@]}" -Dman1dir=none -Dman3dir=none)
THREADED=no
if [[ "${MEMTRACE_THREADS:-0}" == 1 ]]; then
    CONFIGURE_ARGS+=(-Dusethreads)
    THREADED=yes
fi
if [[ -n "${MEMTRACE_CONFIGURE_ARGS:-}" ]]; then
    read -r -a extra <<<"$MEMTRACE_CONFIGURE_ARGS"
    CONFIGURE_ARGS+=("${extra[@]}")
fi

KEY=$(printf '%s\n' "$SRC_ID" "threads=$THREADED" "${CONFIGURE_ARGS[@]}" | sha256sum | cut -c1-10)
NAME=perl-$PERL_VERSION-$KEY
PREFIX=$MEMTRACE_HOME/perls/$NAME
PERL_BIN=$PREFIX/bin/perl

is_complete() { [[ -f "$PREFIX/$STAMP_NAME" && -x "$PERL_BIN" ]]; }

if is_complete; then
    echo "$PERL_BIN"
    exit 0
fi

take_lock
if is_complete; then   # someone else finished it while we waited
    echo "$PERL_BIN"
    exit 0
fi

# ---------------------------------------------------------------------------
# Build.

BUILD=$MEMTRACE_HOME/build/$NAME
TREE=$BUILD/perl-$PERL_VERSION
MAKE_PID=
cleanup() {
    if [[ -n "$MAKE_PID" ]] && kill -0 "$MAKE_PID" 2>/dev/null; then
        kill -- "-$MAKE_PID" 2>/dev/null || kill "$MAKE_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$BUILD"
mkdir -p "$BUILD"
say "unpacking perl $PERL_VERSION from $SRC_PATH into $BUILD"
if [[ $SRC_KIND == dir ]]; then
    mkdir -p "$TREE"
    cp -a "$SRC_PATH/." "$TREE/"
    # A tree that was configured or built before must start clean.
    if [[ -f "$TREE/Makefile" ]]; then
        (cd "$TREE" && make distclean) >"$LOG_DIR/$NAME-distclean.log" 2>&1 || true
    fi
    rm -f "$TREE/config.sh" "$TREE/Policy.sh"
else
    mkdir -p "$BUILD/unpack"
    run_logged "$LOG_DIR/$NAME-unpack.log" "unpacking $SRC_PATH" tar -xf "$SRC_PATH" -C "$BUILD/unpack"
    top=$(find "$BUILD/unpack" -mindepth 1 -maxdepth 1)
    [[ $(wc -l <<<"$top") == 1 && -f "$top/Configure" ]] ||
        die "$SRC_PATH does not unpack to a single perl source directory with a Configure script"
    mv "$top" "$TREE"
    rmdir "$BUILD/unpack"
fi

LOG=$LOG_DIR/$NAME-configure.log
say "configuring perl $PERL_VERSION (variant: $VARIANT; threads: $THREADED; log: $LOG)"
run_logged "$LOG" "configuring perl $PERL_VERSION" \
    bash -c 'cd "$1" && shift && exec ./Configure "$@" </dev/null' configure "$TREE" \
    "-Dprefix=$PREFIX" "${CONFIGURE_ARGS[@]}"

JOBS=${MEMTRACE_JOBS:-$(nproc 2>/dev/null || echo 2)}
LOG=$LOG_DIR/$NAME-compile.log
say "compiling perl $PERL_VERSION with $JOBS jobs (log: $LOG)"
start=$SECONDS
set -m   # own process group, so an interrupt can stop the whole make
(cd "$TREE" && exec make -j"$JOBS") >"$LOG" 2>&1 </dev/null &
MAKE_PID=$!
set +m
tty=0; [[ -t 2 ]] && tty=1
last=$SECONDS
while kill -0 "$MAKE_PID" 2>/dev/null; do
    sleep 1
    if (( SECONDS - last >= 15 )); then
        last=$SECONDS
        objs=$(find "$TREE" -name '*.o' 2>/dev/null | wc -l)
        msg=$(printf '    ... compiling: %dm%02ds elapsed, %d objects built' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$objs")
        if [[ $tty == 1 ]]; then printf '\r%s' "$msg" >&2; else echo "$msg" >&2; fi
    fi
done
[[ $tty == 1 && $((SECONDS - start)) -ge 15 ]] && printf '\n' >&2
rc=0
wait "$MAKE_PID" || rc=$?
MAKE_PID=
(( rc == 0 )) || fail_log "$LOG" "compiling perl $PERL_VERSION (make exit $rc)"
say "compiled perl $PERL_VERSION in $((SECONDS - start))s"

LOG=$LOG_DIR/$NAME-install.log
say "installing into $PREFIX (log: $LOG)"
rm -rf "$PREFIX"   # a previous, interrupted install (no stamp) is redone
run_logged "$LOG" "installing perl $PERL_VERSION" bash -c 'cd "$1" && exec make install </dev/null' install "$TREE"

[[ -x "$PERL_BIN" ]] || die "make install did not create $PERL_BIN; see $LOG"
if [[ $VARIANT == plain* ]]; then
    "$PERL_BIN" -e 1 || die "$PERL_BIN does not start; see $LOG"
else
    "$HERE/check-perl.sh" "$PERL_BIN" || exit 2
fi

# The stamp is written last: without it the install counts as unfinished.
{
    echo "source: $SRC_ID"
    echo "source_path: $SRC_PATH"
    echo "version: $PERL_VERSION"
    echo "threads: $THREADED"
    echo "variant: $VARIANT"
    printf 'configure: -Dprefix=%s' "$PREFIX"; printf ' %q' "${CONFIGURE_ARGS[@]}"; echo
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$PREFIX/$STAMP_NAME.tmp"
mv "$PREFIX/$STAMP_NAME.tmp" "$PREFIX/$STAMP_NAME"
rm -rf "$BUILD"
say "perl $PERL_VERSION ($VARIANT) ready: $PERL_BIN"
echo "$PERL_BIN"
