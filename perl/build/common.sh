# common.sh — sourced (". perl/build/common.sh"), not run. The messages and
# failure reports every build and bench script prints the same way.

# say MSG...: a progress line on stderr.
say() { echo "==> $*" >&2; }

# die MSG...: one error line on stderr, exit 1.
die() { echo "error: $*" >&2; exit 1; }

# fail_log LOG WHAT: report a failed step with the end of its log and exit.
fail_log() {
    local log=$1 what=$2
    echo "error: $what failed; see $log (last 20 lines below)" >&2
    tail -n 20 "$log" 2>/dev/null | sed 's/^/    /' >&2
    exit 1
}

# target_perl PERL: the perl a module is built for, checked. Sets PERL (its
# absolute path), PERL_REAL, PERL_INFO (version, archlibexp, cc, make, then
# Config::myconfig(): what identifies its build), PERL_VERSION,
# PERL_ARCHLIB, PERL_CC and PERL_MAKE; one error line if it is no perl 5.
target_perl() {
    PERL=$1
    if [[ "$PERL" != */* ]]; then
        PERL=$(command -v -- "$PERL" || true)
        [[ -n "$PERL" ]] || die "'$1' is not on PATH; pass the path of a perl binary"
    fi
    [[ -f "$PERL" && -x "$PERL" ]] || die "$PERL is not an executable file; pass the path of a perl binary"
    PERL=$(cd "$(dirname "$PERL")" && pwd)/$(basename "$PERL")
    PERL_REAL=$(realpath "$PERL")
    # shellcheck disable=SC2016  # perl code, expanded by perl
    if ! PERL_INFO=$(env -u PERL5OPT -u PERL5LIB "$PERL" -MConfig -e '
            printf "%vd\n%s\n%s\n%s\ncf_time=%s\n%s", $^V, $Config{archlibexp},
                $Config{cc}, $Config{make} || "make", $Config{cf_time}, Config::myconfig()' 2>&1); then
        die "$PERL -MConfig failed ($(head -n1 <<<"$PERL_INFO")); is it a working perl?"
    fi
    PERL_VERSION=$(sed -n 1p <<<"$PERL_INFO")
    PERL_ARCHLIB=$(sed -n 2p <<<"$PERL_INFO")
    PERL_CC=$(sed -n 3p <<<"$PERL_INFO")
    PERL_MAKE=$(sed -n 4p <<<"$PERL_INFO")
    [[ "$PERL_VERSION" =~ ^5\.[0-9]+\.[0-9]+$ && -n "$PERL_ARCHLIB" && -n "$PERL_CC" ]] ||
        die "$PERL does not report a perl 5 version and its %Config (got '$(head -n1 <<<"$PERL_INFO")'); is it a perl binary?"
}

# module_cache NAME: the cache a module build keeps under MEMTRACE_HOME.
# Sets MEMTRACE_HOME (absolute), LOG_DIR, SRC_DIR and MEMTRACE_APT_DIR (its
# own private apt state, apt-NAME, so a perl build holding the main one's
# lock for minutes does not hold it up), and makes them and NAME/.
module_cache() {
    MEMTRACE_HOME=${MEMTRACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace}
    mkdir -p "$MEMTRACE_HOME"
    MEMTRACE_HOME=$(cd "$MEMTRACE_HOME" && pwd)
    LOG_DIR=$MEMTRACE_HOME/logs
    SRC_DIR=$MEMTRACE_HOME/src
    MEMTRACE_APT_DIR=$MEMTRACE_HOME/apt-$1
    mkdir -p "$LOG_DIR" "$SRC_DIR" "$MEMTRACE_HOME/$1" "$MEMTRACE_HOME/locks"
}

# take_module_lock NAME WHAT: one lock (fd 8) for fetching and building NAME,
# taken once per script run.
take_module_lock() {
    [[ ${LOCKED:-0} == 1 ]] && return 0
    exec 8>"$MEMTRACE_HOME/locks/$1.lock"
    if ! flock -n 8; then
        say "waiting for another $2 fetch/build to finish (lock: $MEMTRACE_HOME/locks/$1.lock)"
        flock 8
    fi
    LOCKED=1
}

# xs_build_tools: make, the compiler PERL was built with (installing the
# build packages if they are missing), PERL's headers and
# ExtUtils::MakeMaker: what building an XS module for PERL needs (after
# target_perl). One error line for what is missing.
xs_build_tools() {
    local cc_cmd=${PERL_CC%% *}
    if ! command -v "$PERL_MAKE" >/dev/null || ! command -v "$cc_cmd" >/dev/null; then
        say "$PERL_MAKE or $cc_cmd (the compiler $PERL was built with) is missing; installing build tools"
        "$(dirname "${BASH_SOURCE[0]}")/install-deps.sh"
        command -v "$PERL_MAKE" >/dev/null || die "'$PERL_MAKE' is still not on PATH; install it to build XS modules for $PERL"
        command -v "$cc_cmd" >/dev/null || die "'$cc_cmd' (\$Config{cc} of $PERL) is still not on PATH; install it to build XS modules for $PERL"
    fi
    [[ -f "$PERL_ARCHLIB/CORE/perl.h" ]] ||
        die "$PERL has no headers ($PERL_ARCHLIB/CORE/perl.h is missing), so XS modules cannot be built for it (for Debian's perl: apt-get install libperl5.36)"
    env -u PERL5OPT -u PERL5LIB "$PERL" -MExtUtils::MakeMaker -e1 2>/dev/null ||
        die "$PERL has no ExtUtils::MakeMaker, so Makefile.PL cannot run (for Debian's perl: apt-get install perl)"
}

# A module build must not see the caller's module paths or options, only
# PERL's own.
BUILD_ENV=(env -u PERL5OPT -u PERL5LIB -u PERLLIB -u PERL_MM_OPT -u PERL_MB_OPT
    -u PERL_LOCAL_LIB_ROOT -u PERL_CORE -u HARNESS_OPTIONS -u TEST_FILES)

# step LOG WHAT CMD...: run CMD in $TREE in BUILD_ENV, all output into LOG.
step() {
    local log=$1 what=$2
    shift 2
    (cd "$TREE" && exec "${BUILD_ENV[@]}" "$@") </dev/null >"$log" 2>&1 || fail_log "$log" "$what"
}

# A module build's cache entry ($STAMP, $BLIB): whether
# it was built and checked (module_is_complete); finish_module WHAT prints the warning of its
# own failed test suite (if any) and the blib directory, and exits.
module_is_complete() { [[ -f "$STAMP" && -d "$BLIB/arch" && -d "$BLIB/lib" ]]; }

finish_module() {
    local tests
    tests=$(sed -n 's/^tests: //p' "$STAMP")
    if [[ "$tests" != pass* ]]; then
        echo "warning: $1's own 'make test' failed on $PERL ($tests); see $(sed -n 's/^test_log: //p' "$STAMP")" >&2
    fi
    echo "$BLIB"
    exit 0
}

# recorder_dirs PERL: set RECORDER_ARCH and RECORDER_LIB, where
# Devel::MemTrace (its .so, its .pm files) is installed in the MemTrace
# PERL: its site directories when they are its own (under its prefix: a
# standalone perl), else its core directories (a twin, whose site
# directories are the system perl's and must not get a module that only
# loads in the twin).
recorder_dirs() {
    local out
    # shellcheck disable=SC2016  # perl code
    out=$(env -u PERL5OPT -u PERL5LIB "$1" -MConfig -e '
        my $p = $Config{prefixexp};
        my $own = index($Config{installsitearch}, "$p/") == 0 && index($Config{installsitelib}, "$p/") == 0;
        print $own ? "$Config{installsitearch}\n$Config{installsitelib}\n"
                   : "$Config{installarchlib}\n$Config{installprivlib}\n"') ||
        die "$1 -MConfig failed; is it a working perl?"
    RECORDER_ARCH=$(sed -n 1p <<<"$out")
    RECORDER_LIB=$(sed -n 2p <<<"$out")
    [[ -n "$RECORDER_ARCH" && -n "$RECORDER_LIB" ]] ||
        die "$1 reports no install directories in its Config; is it a complete install?"
}

# needed_index FILE PATTERN exact|re: the 0-based index of PATTERN in FILE's
# NEEDED list (an exact entry, or an awk regex), or -1.
needed_index() {
    patchelf --print-needed "$1" | awk -v pat="$2" -v mode="$3" '
        BEGIN { idx = -1 }
        idx < 0 && ((mode == "exact" && $0 == pat) || (mode == "re" && $0 ~ pat)) { idx = NR - 1 }
        END { print idx }'
}

# load_recorder_first BINARY SO: make the perl BINARY load the recorder SO
# before its libperl (so that the recorder's PERL_MEM_LOG hooks are the ones
# libperl calls), then check that order. A binary that lacks it is patched
# as a copy renamed into place: atomic, and safe while the binary runs
# elsewhere (no ETXTBSY); a stale recorder entry (an older install path) is
# dropped first.
load_recorder_first() {
    local b=$1 so=$2 tmp old err so_i perl_i
    if [[ $(needed_index "$b" "$so" exact) -lt 0 ]]; then
        tmp=$(mktemp "$(dirname "$b")/.$(basename "$b").XXXXXX")
        cp -p "$b" "$tmp"
        while IFS= read -r old; do
            patchelf --remove-needed "$old" "$tmp"
        done < <(patchelf --print-needed "$tmp" | grep '/auto/Devel/MemTrace/MemTrace\.so$' || true)
        if ! err=$(patchelf --add-needed "$so" "$tmp" 2>&1); then
            rm -f "$tmp"
            die "patchelf --add-needed $so $b failed: $err"
        fi
        mv -f "$tmp" "$b"
        say "added $so to the NEEDED list of $b"
    fi
    so_i=$(needed_index "$b" "$so" exact)
    perl_i=$(needed_index "$b" '(^|/)libperl\.so' re)
    if (( so_i < 0 || perl_i < 0 || so_i > perl_i )); then
        die "$b NEEDED order is wrong (recorder at $so_i, libperl at $perl_i; it must come first): $(patchelf --print-needed "$b" | tr '\n' ' ')"
    fi
}
