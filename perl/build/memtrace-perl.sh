#!/usr/bin/env bash
# memtrace-perl.sh — build (or find in the cache) the base MemTrace perl:
# a perl with a shared libperl and -DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL
# (plus -fno-omit-frame-pointer, for cheap C stack walks). Two kinds:
#
#   twin        (the default on Debian and Ubuntu) the twin of the system
#               perl, /usr/bin/perl, or of MEMTRACE_LIKE: the same version,
#               from Debian's perl source package with Debian's patches
#               applied (the system perl's own revision, else the nearest
#               one of the same upstream version, said in one line), its
#               Configure arguments (threaded on Debian, same archname), the
#               same site and vendor library directories in the same @INC
#               order, so every module installed with apt or into
#               /usr/local loads, XS ones included. Its interpreter struct
#               must equal the system perl's (abi-guard.pl); the build is
#               refused with one line when the XS handshake keys differ.
#   standalone  upstream perl (Debian's orig tarball, or MEMTRACE_PERL_SRC),
#               non-threaded unless MEMTRACE_THREADS=1, searching only its
#               own directories. The default when MEMTRACE_PERL_SRC is set
#               or the system has no Debian perl.
# Progress goes to stderr; the LAST line of stdout is the absolute path of
# its bin/perl.
#
# Environment:
#   MEMTRACE_HOME       cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace)
#   MEMTRACE_PERL_KIND  twin or standalone (default: see above)
#   MEMTRACE_LIKE       the perl to twin (default /usr/bin/perl); implies twin
#   MEMTRACE_PERL_SRC   perl source tarball (.tar.gz/.tar.xz/.tar.bz2) or
#                       unpacked source directory; default: Debian's perl
#                       source package (a twin: with Debian's patches; a
#                       standalone perl: the upstream tarball only)
#   MEMTRACE_THREADS=1  standalone: build a threaded perl (-Dusethreads)
#   MEMTRACE_CONFIGURE_ARGS  extra Configure arguments (whitespace-separated)
#   MEMTRACE_JOBS       parallel make jobs (default: nproc)
#   MEMTRACE_KEEP_BUILD=1  keep the build tree ($MEMTRACE_HOME/build/NAME) for
#                       'make check-core' (.ci/run sets it)
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
# shellcheck source-path=SCRIPTDIR source=perl-source.sh
. "$(dirname "${BASH_SOURCE[0]}")/perl-source.sh"

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
# Which kind of perl: twin (of MEMTRACE_LIKE, default /usr/bin/perl) or
# standalone.

# debian_revision_of PERL: the Debian source version of the package that
# installed PERL (empty when dpkg does not know it).
debian_revision_of() {
    local real pkg
    command -v dpkg-query >/dev/null || return 0
    real=$(realpath "$1" 2>/dev/null) || return 0
    pkg=$(dpkg-query -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) || return 0
    [[ -n "$pkg" ]] || return 0
    dpkg-query -W -f='${source:Version}' "$pkg" 2>/dev/null || true
}

KIND=${MEMTRACE_PERL_KIND:-}
if [[ -z "$KIND" ]]; then
    if [[ -n "${MEMTRACE_LIKE:-}" ]]; then
        KIND=twin
    elif [[ -n "${MEMTRACE_PERL_SRC:-}" ]]; then
        KIND=standalone
    elif [[ -x /usr/bin/perl ]] && command -v apt-get >/dev/null && [[ -n "$(debian_revision_of /usr/bin/perl)" ]]; then
        KIND=twin
    else
        KIND=standalone
    fi
fi
case "$KIND" in
    twin | standalone) ;;
    *) die "MEMTRACE_PERL_KIND=$KIND is not one of twin, standalone" ;;
esac
if [[ $KIND == standalone && -n "${MEMTRACE_LIKE:-}" ]]; then
    die "MEMTRACE_LIKE=$MEMTRACE_LIKE asks for a twin but MEMTRACE_PERL_KIND=standalone; unset one of them"
fi
if [[ $KIND == twin && "${MEMTRACE_THREADS:-0}" == 1 ]]; then
    die "MEMTRACE_THREADS=1 is for the standalone perl (a twin is threaded exactly when the perl it twins is); unset it, or set MEMTRACE_PERL_KIND=standalone"
fi

if [[ $KIND == twin ]]; then
    LIKE=${MEMTRACE_LIKE:-/usr/bin/perl}
    if [[ "$LIKE" != */* ]]; then
        LIKE=$(command -v -- "$LIKE" || true)
        [[ -n "$LIKE" ]] || die "MEMTRACE_LIKE=$MEMTRACE_LIKE is not on PATH; give the path of the perl to twin"
    fi
    [[ -f "$LIKE" && -x "$LIKE" ]] || die "MEMTRACE_LIKE=$LIKE is not an executable file; give the path of the perl to twin"
    LIKE=$(realpath "$LIKE")
    # shellcheck disable=SC2016  # perl code
    LIKE_VERSION=$(env -u PERL5OPT -u PERL5LIB "$LIKE" -MConfig -e 'print $Config{version}' 2>/dev/null || true)
    [[ "$LIKE_VERSION" =~ ^5\.[0-9]+\.[0-9]+$ ]] ||
        die "$LIKE does not report a perl 5 version (got '$LIKE_VERSION'); MEMTRACE_LIKE must be a perl binary"
    LIKE_REV=$(debian_revision_of "$LIKE")
fi

# ---------------------------------------------------------------------------
# Resolve the source: SRC_KIND (tarball|dir|debian), SRC_PATH, SRC_ID,
# PERL_VERSION. A 'debian' source is a directory holding a downloaded
# Debian source package (.dsc and tarballs), unpacked with its patches.

DEBIAN_SRC_DIR=$SRC_DIR/debian-perl

# The cached download of Debian source version $1 (its .dsc), if complete.
debian_cached() {
    local d=$DEBIAN_SRC_DIR/$1
    [[ -f "$d/.complete" ]] && ls "$d"/perl_*.dsc 2>/dev/null | head -n1
}

# debian_twin_source VERSION WANT: find (cache, else download) the Debian
# perl source package of upstream VERSION, revision WANT if the archive has
# it, else the nearest one (the next newer revision first, then the newest
# older). Sets SRC_PATH (its .dsc) and DEBIAN_SOURCE_VERSION.
debian_twin_source() {
    local version=$1 want=$2 choice log versions v cands=() newer=() older=() dl orig dsc
    choice=$DEBIAN_SRC_DIR/choice-${want:-$version}
    if [[ -f "$choice" ]]; then
        v=$(cat "$choice")
        if dsc=$(debian_cached "$v") && [[ -n "$dsc" ]]; then
            SRC_PATH=$dsc DEBIAN_SOURCE_VERSION=$v
            return 0
        fi
    fi
    take_lock
    command -v apt-get >/dev/null ||
        die "apt-get not found, so perl $version's source cannot be fetched from Debian; set MEMTRACE_PERL_SRC to a perl-$version source tarball or directory"
    log=$LOG_DIR/debian-twin-source-fetch.log
    : >"$log"
    mkdir -p "$DEBIAN_SRC_DIR"
    MEMTRACE_APT_DIR=$APT_DIR
    debian_apt_setup ||
        die "no 'deb' entries found in /etc/apt/sources.list{,.d}; set MEMTRACE_PERL_SRC to a perl-$version source tarball or directory"
    say "fetching the perl source index from Debian (private apt lists in $APT_DIR; log: $log)"
    apt-get "${DEBIAN_APT_OPTS[@]}" update >>"$log" 2>&1 ||
        fail_log "$log" "apt-get update of the private deb-src lists (network to the Debian mirror?)"
    versions=$(debian_source_versions perl)
    for v in $versions; do
        local up=${v#*:}
        up=${up%%-*}
        [[ "$up" == "$version" ]] || continue
        if [[ -n "$want" && "$v" == "$want" ]]; then
            cands=("$v" "${cands[@]+"${cands[@]}"}")
        elif [[ -n "$want" ]] && dpkg --compare-versions "$v" gt "$want"; then
            newer=("$v" "${newer[@]+"${newer[@]}"}")   # versions come newest first: this is ascending
        else
            older+=("$v")
        fi
    done
    cands+=("${newer[@]+"${newer[@]}"}" "${older[@]+"${older[@]}"}")
    [[ ${#cands[@]} -gt 0 ]] ||
        die "Debian's archive (as this system's apt sources see it) has no perl $version source (it has: $(tr '\n' ' ' <<<"$versions")); set MEMTRACE_PERL_SRC to a perl-$version source tarball or directory"
    for v in "${cands[@]}"; do
        if dsc=$(debian_cached "$v") && [[ -n "$dsc" ]]; then
            :
        else
            dl=$DEBIAN_SRC_DIR/download.$$
            rm -rf "$dl"; mkdir -p "$dl"
            # The upstream tarball the standalone build fetched saves 13 MB.
            for orig in "$SRC_DIR"/perl_"$version".orig.tar.*; do
                [[ -f "$orig" ]] && cp "$orig" "$dl/"
            done
            say "fetching perl source from Debian (apt-get source --download-only perl=$v)"
            if ! (cd "$dl" && apt-get "${DEBIAN_APT_OPTS[@]}" source --download-only "perl=$v") >>"$log" 2>&1; then
                say "perl=$v did not download; trying the next revision"
                rm -rf "$dl"
                continue
            fi
            rm -rf "${DEBIAN_SRC_DIR:?}/$v"
            mv "$dl" "$DEBIAN_SRC_DIR/$v"
            touch "$DEBIAN_SRC_DIR/$v/.complete"
            dsc=$(debian_cached "$v")
        fi
        if [[ -n "$want" && "$v" != "$want" ]]; then
            say "Debian's archive no longer has perl $want, the revision of $LIKE; building the nearest revision of perl $version, $v"
        fi
        echo "$v" >"$choice"
        SRC_PATH=$dsc DEBIAN_SOURCE_VERSION=$v
        return 0
    done
    fail_log "$log" "fetching any Debian perl $version source (${cands[*]})"
}

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
elif [[ $KIND == twin ]]; then
    SRC_KIND=debian
    debian_twin_source "$LIKE_VERSION" "$LIKE_REV"
    PERL_VERSION=$LIKE_VERSION
    SRC_ID="debian:$DEBIAN_SOURCE_VERSION:$(sha256 "$SRC_PATH")"
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
if [[ $KIND == twin && "$PERL_VERSION" != "$LIKE_VERSION" ]]; then
    die "MEMTRACE_PERL_SRC=$SRC_PATH is perl $PERL_VERSION but $LIKE is perl $LIKE_VERSION; a twin needs the same version's source"
fi

# ---------------------------------------------------------------------------
# Configure arguments and the cache key.

VARIANT=${MEMTRACE_PERL_VARIANT:-memtrace}
# The MemTrace flags, in this one place. Frame pointers make the
# recorder's walk of C return addresses (-c_frames) cheap and reliable; -g
# lets the report name their file and line (a twin has it already: Debian
# builds with -Doptimize='-O2 -g').
MEMTRACE_CCFLAGS="-DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL -fno-omit-frame-pointer"
[[ $KIND == standalone ]] && MEMTRACE_CCFLAGS+=" -g"
case "$VARIANT" in
    memtrace) CCFLAGS=("-Accflags=$MEMTRACE_CCFLAGS") ;;
    plain) CCFLAGS=() ;;
    plain-fp) CCFLAGS=("-Accflags=-fno-omit-frame-pointer") ;;
    memlog) CCFLAGS=("-Accflags=-DPERL_MEM_LOG") ;;
    *) die "MEMTRACE_PERL_VARIANT=$VARIANT is not one of memtrace, plain, plain-fp, memlog" ;;
esac
# Bumped when the way a twin is made changes (abi-guard.pl, twin-config.pl).
TWIN_RECIPE=1
if [[ $KIND == twin ]]; then
    # Where the twin goes is part of its arguments: compute the name first
    # from everything else.
    TWIN_ARGS_PROBE=$(env -u PERL5OPT -u PERL5LIB "$LIKE" "$HERE/twin-config.pl" /PREFIX | tr '\0' '\n') ||
        die "$LIKE could not run twin-config.pl to read its Configure arguments; is it a working perl?"
    THREADED=$(env -u PERL5OPT -u PERL5LIB "$LIKE" -MConfig -e 'print $Config{usethreads} ? "yes" : "no"')
    KEY=$(printf '%s\n' "$SRC_ID" "twin=$LIKE" "recipe=$TWIN_RECIPE" "$TWIN_ARGS_PROBE" "${CCFLAGS[@]}" \
        "${MEMTRACE_CONFIGURE_ARGS:-}" | sha256sum | cut -c1-10)
    NAME=perl-$PERL_VERSION-twin-$KEY
    PREFIX=$MEMTRACE_HOME/perls/$NAME
    mapfile -d '' -t CONFIGURE_ARGS < <(env -u PERL5OPT -u PERL5LIB "$LIKE" "$HERE/twin-config.pl" "$PREFIX")
    CONFIGURE_ARGS=(-des "${CONFIGURE_ARGS[@]}" "${CCFLAGS[@]}")
else
    CONFIGURE_ARGS=(-des -Duseshrplib "${CCFLAGS[@]}" -Dman1dir=none -Dman3dir=none)
    THREADED=no
    if [[ "${MEMTRACE_THREADS:-0}" == 1 ]]; then
        CONFIGURE_ARGS+=(-Dusethreads)
        THREADED=yes
    fi
fi
if [[ -n "${MEMTRACE_CONFIGURE_ARGS:-}" ]]; then
    read -r -a extra <<<"$MEMTRACE_CONFIGURE_ARGS"
    CONFIGURE_ARGS+=("${extra[@]}")
fi

if [[ $KIND == standalone ]]; then
    KEY=$(printf '%s\n' "$SRC_ID" "threads=$THREADED" "${CONFIGURE_ARGS[@]}" | sha256sum | cut -c1-10)
    NAME=perl-$PERL_VERSION-$KEY
    PREFIX=$MEMTRACE_HOME/perls/$NAME
fi
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
GUARD=no
[[ $KIND == twin && $VARIANT == memtrace ]] && GUARD=yes
NEWSV=no
[[ $VARIANT != plain ]] && NEWSV=yes
unpack_perl_source "$SRC_KIND" "$SRC_PATH" "$TREE" "$LOG_DIR/$NAME-unpack.log" "$GUARD" "$NEWSV"

LOG=$LOG_DIR/$NAME-configure.log
say "configuring perl $PERL_VERSION (kind: $KIND${LIKE:+ of $LIKE}; variant: $VARIANT; threads: $THREADED; log: $LOG)"
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
# Debian's Configure arguments name the library libperl.so.X.Y.Z; what
# links against it (-lperl: the recorder, ExtUtils::Embed) wants libperl.so
# beside it, as Debian's libperl-dev provides.
core=$("$PERL_BIN" -MConfig -e 'print "$Config{archlibexp}/CORE"')
libperl=$("$PERL_BIN" -MConfig -e 'print $Config{libperl}')
if [[ "$libperl" != libperl.so && -f "$core/$libperl" && ! -e "$core/libperl.so" ]]; then
    ln -s "$libperl" "$core/libperl.so"
fi
if [[ $VARIANT == plain* ]]; then
    "$PERL_BIN" -e 1 || die "$PERL_BIN does not start; see $LOG"
else
    "$HERE/check-perl.sh" "$PERL_BIN" || exit 2
fi
if [[ $KIND == twin && $VARIANT != memlog ]]; then
    # XS modules built for $LIKE load in the twin only if their handshake
    # keys (interpreter size, threads, API) agree. (The memlog variant, for
    # 'make bench', keeps PL_mem_log for perl's own logger: its key differs.)
    twin_key=$("$HERE/handshake-key.sh" "$PERL_BIN") || exit 2
    like_key=$("$HERE/handshake-key.sh" "$LIKE") || exit 2
    [[ "$twin_key" == "$like_key" ]] ||
        die "the twin's XS handshake key is $twin_key but $LIKE's is $like_key (their interpreter structs differ), so modules built for $LIKE would not load in it; refusing it (set MEMTRACE_PERL_KIND=standalone for a perl of its own)"
    say "the twin's XS handshake key equals $LIKE's ($twin_key)"
fi

# The stamp is written last: without it the install counts as unfinished.
{
    echo "source: $SRC_ID"
    echo "source_kind: $SRC_KIND"
    echo "source_path: $SRC_PATH"
    echo "abi_guard: $GUARD"
    echo "newsv_hook: $NEWSV"
    echo "kind: $KIND"
    if [[ $KIND == twin ]]; then echo "like: $LIKE"; fi
    echo "version: $PERL_VERSION"
    echo "threads: $THREADED"
    echo "variant: $VARIANT"
    printf 'configure: -Dprefix=%s' "$PREFIX"; printf ' %q' "${CONFIGURE_ARGS[@]}"; echo
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$PREFIX/$STAMP_NAME.tmp"
mv "$PREFIX/$STAMP_NAME.tmp" "$PREFIX/$STAMP_NAME"
# MEMTRACE_KEEP_BUILD=1 keeps the build tree, where 'make check-core' runs
# perl's own tests without building the same perl again (.ci/run).
if [[ "${MEMTRACE_KEEP_BUILD:-0}" != 1 ]]; then
    rm -rf "$BUILD"
fi
say "perl $PERL_VERSION ($VARIANT) ready: $PERL_BIN"
echo "$PERL_BIN"
