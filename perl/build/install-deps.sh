#!/usr/bin/env bash
# Install the Debian packages Devel::MemTrace needs to build its perl and
# the Rust recorder. Idempotent: silent and quick when everything is present.
# Arguments: more packages to install alongside (e.g. install-bench-deps.sh's).
set -euo pipefail

# gcc/make/libc6-dev (build-essential): perl's Configure and make, the C shim.
# dpkg-dev: apt-get source.  patchelf: add the recorder to perl's NEEDED list.
# clang + libclang-dev: bindgen.  xz-utils/bzip2: unpack source tarballs.
PACKAGES=(build-essential dpkg-dev patchelf clang libclang-dev xz-utils bzip2 ca-certificates)
# libdevel-mat-perl: pmat for the system perl, which the Devel::MAT plugin
# (perl/lib/Devel/MAT/Tool/MemTrace.pm) and its test run under.
PACKAGES+=(libdevel-mat-perl)
# Debian's own XS modules (built for the system perl, without PERL_MEM_LOG):
# t/26-twin.t loads them in the twin, unrebuilt. They pull in
# libperl5.XX, whose CORE headers handshake-key.sh compiles against.
PACKAGES+=(libjson-xs-perl liblist-moreutils-perl libnet-ssleay-perl libio-socket-ssl-perl)
PACKAGES+=("$@")

# Rust: the machine's own toolchain (rustup's ~/.cargo/bin) when there is one;
# otherwise Debian's current one. bookworm's plain 'cargo' (0.66, rustc 1.63)
# is too old for the crates; cargo-web/rustc-web (1.85+) track Firefox's needs.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    PACKAGES+=(cargo-web rustc-web)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "error: missing Debian packages (${missing[*]}) and not root; install them as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=()
fi

LOG_DIR="${MEMTRACE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/devel-memtrace}/logs"
mkdir -p "$LOG_DIR"
LOG="$LOG_DIR/install-deps.log"
echo "==> installing Debian packages: ${missing[*]} (log: $LOG)" >&2
{
    "${SUDO[@]}" apt-get update &&
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
} >"$LOG" 2>&1 || {
    echo "error: apt-get could not install ${missing[*]}; check the network/apt sources (see $LOG)" >&2
    tail -n 20 "$LOG" >&2
    exit 1
}
