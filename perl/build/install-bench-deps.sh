#!/usr/bin/env bash
# install-bench-deps.sh — the Debian packages 'make bench' needs on top of
# install-deps.sh's: the comparison tools heaptrack and valgrind.
# Idempotent, like it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec "$HERE/install-deps.sh" heaptrack valgrind
