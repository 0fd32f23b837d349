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

# take_lock NAME WHAT: one lock (fd 8) for fetching and building NAME,
# taken once per script run.
take_lock() {
    [[ ${LOCKED:-0} == 1 ]] && return 0
    exec 8>"$MEMTRACE_HOME/locks/$1.lock"
    if ! flock -n 8; then
        say "waiting for another $2 fetch/build to finish (lock: $MEMTRACE_HOME/locks/$1.lock)"
        flock 8
    fi
    LOCKED=1
}
