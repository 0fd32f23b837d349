#!/usr/bin/env bash
# test-perls.sh [VERSION...] — everything behind 'make test-perls': builds
# a MemTrace perl of each perl version and runs 'make test' on it, then
# makes the default MemTrace perl current again.
#
# The versions: the default MemTrace perl's (the twin of the system perl),
# then the newest upstream version Debian carries in each of its suites
# stable, testing and unstable (apt-cache showsrc through a private apt
# configuration, $MEMTRACE_HOME/apt-suites, with deb-src lines for those
# suites on the system's Debian mirror), each built as a standalone perl
# from Debian's upstream tarball of that version (there is no system perl
# of that version to twin). VERSIONs given (e.g. 5.40.1) replace the
# suites' list; 'twin' stands for the default perl.
# perl 5.41.1 and later call the new-SV hook only with
# -DDEBUG_LEAKING_SCALARS: memtrace-perl.sh moves the call out of that
# block (newsv-hook.pl) for every MemTrace perl.
#
# Prints one summary line per version (its perl, build time, the test
# counts and PASS/FAIL) and exits 1 if any version failed. Logs:
# $MEMTRACE_HOME/logs/test-perls-<version>.log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"
# shellcheck source=perl/build/debian-source.sh
. "$HERE/debian-source.sh"

MEMTRACE_HOME=${MEMTRACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace}
mkdir -p "$MEMTRACE_HOME"
MEMTRACE_HOME=$(cd "$MEMTRACE_HOME" && pwd)
export MEMTRACE_HOME
LOG_DIR=$MEMTRACE_HOME/logs
SRC_DIR=$MEMTRACE_HOME/src
mkdir -p "$LOG_DIR" "$SRC_DIR" "$MEMTRACE_HOME/locks"
exec 8>"$MEMTRACE_HOME/locks/apt-suites.lock"
flock 8

MEMTRACE_APT_DIR=$MEMTRACE_HOME/apt-suites
# suites_apt: the private apt configuration for Debian's suites.
suites_apt() {
    debian_apt_setup || die "no 'deb' entries in /etc/apt/sources.list{,.d}: cannot find Debian's perl versions; give the versions to test"
    debian_suite_sources stable testing unstable >"$MEMTRACE_APT_DIR/sources.list"
    [[ -s "$MEMTRACE_APT_DIR/sources.list" ]] ||
        die "the system's apt sources have no Debian mirror, so Debian's suites cannot be asked; give the versions to test (e.g. make test-perls PERLS=5.40.1)"
}

# Debian source versions of perl, newest first.
versions_known() {
    apt-cache "${DEBIAN_APT_OPTS[@]}" showsrc perl 2>/dev/null |
        awk '/^Package:/ {p = $2} /^Version:/ && p == "perl" {print $2}' | sort -u | sort -rV
}

upstream_of() { local v=${1#*:}; echo "${v%%-*}"; }

# The private lists, fetched once per run.
UPDATED=0
suites_update() {
    [[ $UPDATED == 1 ]] && return 0
    local log=$LOG_DIR/test-perls-apt.log
    say "asking Debian which perl versions its suites carry (private apt lists in $MEMTRACE_APT_DIR; log: $log)"
    apt-get "${DEBIAN_APT_OPTS[@]}" update >"$log" 2>&1 ||
        fail_log "$log" "apt-get update of the private lists for Debian's suites"
    UPDATED=1
}

# orig_tarball VERSION: Debian's upstream tarball of perl VERSION, fetched
# once into $SRC_DIR/versions (not $SRC_DIR, where memtrace-perl.sh takes
# the newest tarball for the default standalone perl); its path.
orig_tarball() {
    local version=$1 have v log dl
    mkdir -p "$SRC_DIR/versions"
    have=$(ls "$SRC_DIR"/versions/perl_"$version".orig.tar.* 2>/dev/null | head -n1 || true)
    if [[ -n "$have" ]]; then echo "$have"; return 0; fi
    log=$LOG_DIR/test-perls-fetch-$version.log
    : >"$log"
    suites_update >&2
    for v in $(versions_known); do
        [[ $(upstream_of "$v") == "$version" ]] || continue
        dl=$SRC_DIR/download-$version.$$
        rm -rf "$dl"; mkdir -p "$dl"
        say "fetching perl $version's upstream tarball from Debian (perl=$v)"
        # Only the upstream tarball is needed: it counts even where the
        # mirror has dropped the version's .dsc.
        have=$(debian_download_orig perl "$v" "$dl" "$log")
        if [[ -n "$have" ]]; then
            mv "$have" "$SRC_DIR/versions/"
            rm -rf "$dl"
            ls "$SRC_DIR"/versions/"$(basename "$have")"
            return 0
        fi
        rm -rf "$dl"
    done
    fail_log "$log" "fetching perl $version's source from Debian (versions known: $(versions_known | tr '\n' ' '))"
}

suites_apt
if [[ $# -gt 0 ]]; then
    VERSIONS=("$@")
else
    suites_update
    VERSIONS=(twin)
    while IFS= read -r up; do
        VERSIONS+=("$up")
    done < <(versions_known | while IFS= read -r v; do upstream_of "$v"; done | awk '!seen[$0]++')
fi
TWIN_VERSION=$(/usr/bin/perl -MConfig -e 'print $Config{version}' 2>/dev/null || true)

SUMMARY=()
failed=0
for version in "${VERSIONS[@]}"; do
    env_args=()
    what=$version
    if [[ $version == twin || $version == "$TWIN_VERSION" ]]; then
        [[ $version == twin ]] || { say "perl $version is the system perl's: testing its twin"; }
        what="${TWIN_VERSION:-default} (twin)"
        version=twin
    else
        [[ $version =~ ^5\.[0-9]+\.[0-9]+$ ]] || die "'$version' is not a perl version (5.X.Y) or 'twin'"
        tarball=$(orig_tarball "$version")
        env_args=(MEMTRACE_PERL_KIND=standalone "MEMTRACE_PERL_SRC=$tarball")
        what="$version (standalone)"
    fi
    log=$LOG_DIR/test-perls-$version.log
    say "perl $what: make perl, make test (log: $log)"
    start=$SECONDS
    rc=0
    env "${env_args[@]}" make -s test >"$log" 2>&1 </dev/null || rc=$?
    took=$((SECONDS - start))
    perl=$(cat "$ROOT/target/.memtrace-perl-path" 2>/dev/null || echo '?')
    built=$(grep -o 'compiled perl [0-9.]* in [0-9]*s' "$log" | tail -n1 || true)
    counts=$(grep -E '^Files=[0-9]+, Tests=[0-9]+' "$log" | tail -n1 | cut -d, -f1-2 || true)
    result=$(grep -E '^Result: ' "$log" | tail -n1 || true)
    if (( rc != 0 )); then
        failed=1
        result="FAIL (exit $rc; see $log)"
    fi
    SUMMARY+=("perl $what: $perl; ${built:-perl cached}; make test ${took}s: ${counts:-no prove run} ${result:-}")
done

say "making the default MemTrace perl current again"
make -s perl >/dev/null 2>"$LOG_DIR/test-perls-restore.log" || fail_log "$LOG_DIR/test-perls-restore.log" "make perl (restoring the default perl)"

printf '%s\n' "${SUMMARY[@]}"
exit "$failed"
