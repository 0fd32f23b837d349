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
