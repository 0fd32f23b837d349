# debian-source.sh — sourced (". perl/build/debian-source.sh"), not run.
# Fetches Debian source packages through a private apt configuration: a
# sources list of 'deb-src' lines derived from the system's 'deb' lines, and
# private lists/cache directories under $MEMTRACE_APT_DIR. The system's apt
# configuration and state are not changed. memtrace-perl.sh fetches perl's
# source with it, test-leaktrace.sh Test::LeakTrace's.
#
# The caller sets MEMTRACE_APT_DIR (e.g. $MEMTRACE_HOME/apt), defines say
# (progress line to stderr) and fail_log LOG WHAT (one error line naming LOG,
# then exit), and holds whatever lock guards MEMTRACE_APT_DIR.
# shellcheck shell=bash

# Print one-line deb-src entries for every 'deb' entry the system has.
derive_deb_src() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        awk '$1 == "deb" { $1 = "deb-src"; print }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        awk '
            function flush(   n, u, s, i, j, uris, suites, opts) {
                if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no" && uri != "" && suite != "") {
                    opts = (signed ~ /^\//) ? "[signed-by=" signed "] " : ""
                    n = split(uri, uris, /[ \t]+/)
                    s = split(suite, suites, /[ \t]+/)
                    for (i = 1; i <= n; i++) for (j = 1; j <= s; j++)
                        if (uris[i] != "" && suites[j] != "")
                            print "deb-src " opts uris[i] " " suites[j] " " comps
                }
                types = uri = suite = comps = signed = enabled = ""
            }
            /^#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { next }   # continuation line (e.g. an inline key)
            {
                key = tolower($1); sub(/:$/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uri = val
                else if (key == "suites") suite = val
                else if (key == "components") comps = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }
        ' "$f"
    done
}

# debian_apt_setup: write the private sources list and set the array
# DEBIAN_APT_OPTS (options for apt-get/apt-cache). Returns 1 when the system
# has no 'deb' entries to derive 'deb-src' lines from.
debian_apt_setup() {
    local d=${MEMTRACE_APT_DIR:?MEMTRACE_APT_DIR is not set}
    mkdir -p "$d/sources.list.d" "$d/lists/partial" "$d/cache/archives/partial"
    derive_deb_src | sort -u >"$d/sources.list"
    [[ -s "$d/sources.list" ]] || return 1
    DEBIAN_APT_OPTS=(
        -o "Dir::Etc::SourceList=$d/sources.list"
        -o "Dir::Etc::SourceParts=$d/sources.list.d"
        -o "Dir::State::Lists=$d/lists"
        -o "Dir::Cache=$d/cache"
        -o "Debug::NoLocking=true"
    )
    # apt's download sandbox user (_apt) cannot read a cache under /root.
    if [[ $(id -u) == 0 ]]; then DEBIAN_APT_OPTS+=(-o "APT::Sandbox::User=root"); fi
    return 0
}

# debian_source_versions PKG: the source versions of PKG the private lists
# know, newest first, one a line (empty when none). Needs debian_apt_setup.
debian_source_versions() {
    local pkg=$1
    apt-cache "${DEBIAN_APT_OPTS[@]}" showsrc "$pkg" 2>/dev/null |
        awk -v want="$pkg" '/^Package:/ {p = $2} /^Version:/ && p == want {print $2}' |
        sort -u | sort -rV
}

# debian_fetch_source PKG DEST LOG [--download-only]: refresh the private
# lists, then 'apt-get source PKG=VERSION' (download, verify, unpack with
# Debian's patches applied; with --download-only, only download, and only
# the upstream tarball counts: see debian_download_orig) into the empty
# directory DEST, newest version first, falling back to older ones.
# Sets DEBIAN_SOURCE_VERSION to the version fetched. All apt output is
# appended to LOG; failures end in fail_log.
debian_fetch_source() {
    local pkg=$1 dest=$2 log=$3 versions v
    local only=()
    [[ "${4:-}" == --download-only ]] && only=(--download-only)
    debian_apt_setup ||
        fail_log "$log" "finding apt sources (no 'deb' entries in /etc/apt/sources.list{,.d})"
    say "fetching the $pkg source index from Debian (private apt lists in $MEMTRACE_APT_DIR; log: $log)"
    apt-get "${DEBIAN_APT_OPTS[@]}" update >>"$log" 2>&1 ||
        fail_log "$log" "apt-get update of the private deb-src lists (network to the Debian mirror?)"
    versions=$(debian_source_versions "$pkg")
    [[ -n "$versions" ]] || fail_log "$log" "apt-cache showsrc $pkg (no source versions listed)"
    for v in $versions; do
        rm -rf "$dest"; mkdir -p "$dest"
        say "fetching $pkg source from Debian (apt-get source ${only[*]:+${only[*]} }$pkg=$v)"
        if [[ ${#only[@]} -gt 0 ]]; then
            if [[ -n "$(debian_download_orig "$pkg" "$v" "$dest" "$log")" ]]; then
                # shellcheck disable=SC2034  # the caller's result
                DEBIAN_SOURCE_VERSION=$v
                return 0
            fi
        elif (cd "$dest" && apt-get "${DEBIAN_APT_OPTS[@]}" source "$pkg=$v") >>"$log" 2>&1; then
            # shellcheck disable=SC2034  # the caller's result
            DEBIAN_SOURCE_VERSION=$v
            return 0
        fi
        echo "==> $pkg=$v did not download or unpack; trying the next version" >>"$log"
        say "$pkg=$v did not download or unpack; trying an older version"
    done
    rm -rf "$dest"
    fail_log "$log" "fetching any $pkg source version ($(tr '\n' ' ' <<<"$versions"))"
}

# debian_source_sha256 PKG VERSION FILE: FILE's SHA-256 in the Sources
# index entry of PKG VERSION (the private lists), or nothing.
debian_source_sha256() {
    apt-cache "${DEBIAN_APT_OPTS[@]}" showsrc "$1" 2>/dev/null |
        awk -v pkg="$1" -v want="$2" -v file="$3" '
            /^Package:/ { p = $2 }
            /^Version:/ { ver = $2 }
            /^[^ ]/ && !/^Checksums-Sha256:/ { in_sha = 0 }
            /^Checksums-Sha256:/ { in_sha = 1; next }
            in_sha && /^ / && p == pkg && ver == want && $3 == file { print $1; exit }'
}

# debian_download_orig PKG VERSION DIR LOG: download PKG=VERSION into the
# empty directory DIR (apt-get source --download-only) and print the path
# of its upstream tarball, PKG_*.orig.tar.*, checked against the index's
# SHA-256; nothing if it did not come or does not match. A mirror that has
# dropped the package's .dsc (a 404) fails the apt command but keeps what
# did download: the tarball is what counts, so it is checked here instead.
debian_download_orig() {
    local pkg=$1 v=$2 dir=$3 log=$4 orig name want have
    (cd "$dir" && apt-get "${DEBIAN_APT_OPTS[@]}" source --download-only "$pkg=$v") >>"$log" 2>&1 ||
        echo "==> $pkg=$v: apt-get source failed; checking what did download" >>"$log"
    orig=$(find "$dir" -maxdepth 1 -name "${pkg}_*.orig.tar.*" ! -name '*.asc' | head -n1)
    if [[ -z "$orig" ]]; then
        echo "==> $pkg=$v: its upstream tarball did not download" >>"$log"
        return 0
    fi
    name=$(basename "$orig")
    want=$(debian_source_sha256 "$pkg" "$v" "$name")
    have=$(sha256sum "$orig" | cut -d' ' -f1)
    if [[ -z "$want" || "$want" != "$have" ]]; then
        echo "==> $pkg=$v: $name has SHA-256 $have, the index says '${want:-nothing}'" >>"$log"
        return 0
    fi
    echo "$orig"
}

# debian_suite_sources SUITE...: one-line deb-src entries for the perl
# sources of Debian's SUITEs (stable, testing, unstable, or code names), on
# the first Debian mirror of the system's own 'deb' lines (not its security
# one). Empty when the system has no Debian mirror (e.g. Ubuntu).
debian_suite_sources() {
    local line opts uri s
    line=$(derive_deb_src | awk '$0 !~ /security/ && $0 ~ /\/debian\/?( |$)/ { print; exit }')
    [[ -n "$line" ]] || return 0
    opts=$(sed -n 's/^deb-src \(\[[^]]*\] \).*/\1/p' <<<"$line")
    uri=$(sed -E 's/^deb-src (\[[^]]*\] )?//' <<<"$line" | awk '{print $1}')
    for s in "$@"; do
        echo "deb-src ${opts}${uri} $s main"
    done
}
