#!/usr/bin/env bash
# make-perl.sh — everything behind 'make perl':
#   1. Debian build dependencies (install-deps.sh)
#   2. the base MemTrace perl, built once into the cache (memtrace-perl.sh)
#   3. the Rust recorder, built against that perl (cargo, feature "perl"),
#      and the memtrace command (target/release/memtrace)
#   4. the recorder and perl/lib installed into that perl (install-recorder.sh)
#   5. the example XS module examples/Leaky built for that perl, in
#      target/xs/Leaky-<perl key>/ (see env.sh for its blib path)
#   6. the memtrace command put on PATH (install-command.sh): a symlink in
#      MEMTRACE_BIN_DIR (default /usr/local/bin as root, ~/.local/bin
#      otherwise), and the perl's path recorded in
#      $MEMTRACE_HOME/memtrace-perl, where the command finds it
# Progress goes to stderr; the LAST line of stdout is the perl's path, which
# is also written to target/.memtrace-perl-path.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"

"$HERE/install-deps.sh"

PERL=$("$HERE/memtrace-perl.sh" | tail -n 1)
[[ -x "$PERL" ]] || die "memtrace-perl.sh did not print a perl path (got '$PERL'); see its output above"
# The perl-feature build has its own target dir, so that 'cargo test' (the
# recorder alone, no feature) and this build never overwrite each other.
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/perl
mkdir -p "$ROOT/target"
echo "$PERL" >"$ROOT/target/.memtrace-perl-path"

# 3. The recorder. Serialized, so that two 'make perl' at once neither race
# on installing into the perl nor on the example build.
exec 7>"$ROOT/target/.make-perl.lock"
flock 7
[[ -f "$ROOT/Cargo.toml" ]] || die "no Cargo.toml in $ROOT yet, so the recorder cannot be built; base perl is ready at $PERL"
command -v cargo >/dev/null || die "cargo not found (looked in PATH and ~/.cargo/bin); install Rust with rustup"
MEMTRACE_PERL=$PERL cargo build --release --features perl --target-dir "$TARGET" >&2 ||
    die "cargo build --release --features perl failed (MEMTRACE_PERL=$PERL); see the cargo output above"

CDYLIB=${MEMTRACE_CDYLIB:-$TARGET/release/libdevel_memtrace.so}
[[ -f "$CDYLIB" ]] || die "cargo built no $CDYLIB; the crate's [lib] must be a cdylib named devel_memtrace (or set MEMTRACE_CDYLIB)"

# The memtrace command, which reads captures (target/release/memtrace).
cargo build --release -p memtrace >&2 ||
    die "cargo build --release -p memtrace failed; see the cargo output above"

# 4. Install it into the perl.
"$HERE/install-recorder.sh" "$PERL" "$CDYLIB"

# 5. The example XS module, rebuilt only when its sources change.
"$HERE/build-xs-example.sh" "$PERL"

# 6. The memtrace command on PATH, and the perl it runs programs under.
"$HERE/install-command.sh" "$PERL" "${CARGO_TARGET_DIR:-$ROOT/target}/release/memtrace"

echo "$PERL"
