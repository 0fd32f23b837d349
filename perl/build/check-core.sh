#!/usr/bin/env bash
# check-core.sh [--ci] — perl's own core tests, once with recording off and
# once with recording on, and the tests that fail only with recording on.
#
#   1. 'make perl' (make-perl.sh): the MemTrace perl, the recorder and
#      Devel::MemTrace installed in it (cached).
#   2. A build tree of that same perl: the one memtrace-perl.sh built it in,
#      if that was kept, else one built here once (same source and Configure
#      arguments, read from the installed perl's stamp) into
#      $MEMTRACE_HOME/core/<perl key>/. Its ./perl gets the installed
#      recorder first in NEEDED, as install-recorder.sh does for the
#      installed perl, and its lib/ links to the installed Devel::MemTrace:
#      the perl under test is the MemTrace perl.
#   3. A probe test, run the way the core tests are run, checks that
#      recording really is off, or on and counting events, in a test and in
#      a perl the test starts.
#   4. t/harness over the core tests, t/ (the directories 'make test' runs
#      but porting/) and lib/: once with no PERL5OPT (t/TEST deletes it),
#      once with PERL5OPT_TEST=-MDevel::MemTrace, which t/TEST hands to
#      every test and every perl the tests start.
#   5. Each failure seen only with recording on (a failed subtest, an exit
#      or wait status, a parse error such as a bad plan) is rerun alone:
#      with recording on again (flaky?), with -MList::Util instead (does
#      loading any XS module through PERL5OPT do it?), and with the module
#      loaded and recording paused (does loading Devel::MemTrace do it?).
#      What none of these explains, recording causes.
#
# The last line sums it up; the exit status is 1 if recording, or loading
# the module, causes a failure that is not on the KNOWN list below.
#
# --ci   the CI subset (CI_TESTS below): a few minutes with recording on.
#
# Environment:
#   CHECK_CORE_JOBS     parallel test jobs (TEST_JOBS; default: nproc)
#   CHECK_CORE_TESTS    a t/harness -re pattern choosing the tests
#                       (default: the full set, or CI_TESTS with --ci)
#   CHECK_CORE_TIMEOUT  seconds each of the two runs may take (default 7200)
#   CHECK_CORE_RERUN_TIMEOUT  seconds each rerun may take (default 600)
#   CHECK_CORE_VMEM_MB  address space each test process may use, in MiB
#                       (default 4096, 1024 with --ci), so that a runaway
#                       test fails instead of filling the machine's memory
#   MEMTRACE_HOME, MEMTRACE_PERL_SRC, ...  as for 'make perl'
# Logs and the harness output of each run: $MEMTRACE_HOME/core/<perl key>/runs/
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=perl/build/common.sh
. "$HERE/common.sh"
# shellcheck source=perl/build/perl-source.sh
. "$HERE/perl-source.sh"

# The core tests: t/harness runs these in its own order and parallel
# schedule. porting/ is left out: it checks the source tree (MANIFEST,
# pods, git), which recording cannot change.
FULL_TESTS='^(?:base|comp|run|cmd|io|re|opbasic|op|uni|mro|lib|perf)/|^\.\./lib/'
# The CI subset, about 2 minutes of tests with recording on here: the
# compiler, the command line (run/ starts perls with every switch), the
# ops (op/: fork, eval, caller, sort, closures, lexical subs...), unicode,
# method resolution, t/lib, and the debugger's own test. Not re/ and io/
# (4 minutes between them), nor the rest of lib/.
CI_TESTS='^(?:base|comp|cmd|run|opbasic|op|uni|mro|lib|perf)/|^\.\./lib/perl5db\.t$'

# Failures that loading Devel::MemTrace causes, recording or not (the
# reruns tell), as the module is today: FILE => why. Empty since the
# debugger cannot see the module (README, "perl's own tests"); a known file
# that passes is reported, so that it can leave this list.
declare -A KNOWN=()

MODE=full
while (($#)); do
    case $1 in
        --ci) MODE=ci ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1'; usage: $0 [--ci]" ;;
    esac
    shift
done
if [[ -n "${CHECK_CORE_TESTS:-}" ]]; then
    TESTS=$CHECK_CORE_TESTS
    [[ $MODE == ci ]] || MODE=chosen
elif [[ $MODE == ci ]]; then
    TESTS=$CI_TESTS
else
    TESTS=$FULL_TESTS
fi
JOBS=${CHECK_CORE_JOBS:-$(nproc 2>/dev/null || echo 2)}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "CHECK_CORE_JOBS=$JOBS is not a whole number of jobs from 1"
TIMEOUT=${CHECK_CORE_TIMEOUT:-7200}
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "CHECK_CORE_TIMEOUT=$TIMEOUT is not a whole number of seconds from 1"
RERUN_TIMEOUT=${CHECK_CORE_RERUN_TIMEOUT:-600}
[[ $RERUN_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "CHECK_CORE_RERUN_TIMEOUT=$RERUN_TIMEOUT is not a whole number of seconds from 1"
VMEM_MB=${CHECK_CORE_VMEM_MB:-$([[ $MODE == ci ]] && echo 1024 || echo 4096)}
[[ $VMEM_MB =~ ^[1-9][0-9]*$ ]] || die "CHECK_CORE_VMEM_MB=$VMEM_MB is not a whole number of MiB from 1"
VMEM_KB=$((VMEM_MB * 1024))

# ---------------------------------------------------------------------------
# 1. The MemTrace perl and the recorder installed in it.

PERL=$("$HERE/make-perl.sh" | tail -n 1)
[[ -x "$PERL" ]] || die "make-perl.sh did not print a perl path (got '$PERL'); see its output above"
PREFIX=$(dirname "$(dirname "$PERL")")
KEY=$(basename "$PREFIX")
STAMP=$PREFIX/.memtrace-complete
[[ -f "$STAMP" ]] || die "$PREFIX has no .memtrace-complete stamp, so its source and Configure arguments are unknown; rebuild it with 'make perl'"
recorder_dirs "$PERL"
SO=$RECORDER_ARCH/auto/Devel/MemTrace/MemTrace.so
[[ -f "$SO" ]] || die "no recorder at $SO; run 'make perl'"

stamp_field() { sed -n "s/^$1: //p" "$STAMP" | head -n 1; }
SRC_PATH=$(stamp_field source_path)
# Older stamps have no source_kind: a directory or a tarball.
SRC_KIND=$(stamp_field source_kind)
if [[ -z "$SRC_KIND" ]]; then
    if [[ -d "$SRC_PATH" ]]; then SRC_KIND=dir; else SRC_KIND=tarball; fi
fi
ABI_GUARD=$(stamp_field abi_guard)
ABI_GUARD=${ABI_GUARD:-no}
NEWSV_HOOK=$(stamp_field newsv_hook)
NEWSV_HOOK=${NEWSV_HOOK:-no}
VERSION=$(stamp_field version)
CONFIGURE_LINE=$(stamp_field configure)
[[ -n "$SRC_PATH" && -n "$VERSION" && -n "$CONFIGURE_LINE" ]] ||
    die "$STAMP lacks source_path, version or configure; rebuild the perl with 'make perl'"
[[ -e "$SRC_PATH" ]] || die "the source of $KEY, $SRC_PATH, is gone; set MEMTRACE_PERL_SRC to it again"
# The stamp writes the arguments with printf %q: read them back as words.
eval "CONFIGURE_ARGS=($CONFIGURE_LINE)"

# ---------------------------------------------------------------------------
# 2. The build tree, cached beside the perl it mirrors.

MEMTRACE_HOME=$(cd "$PREFIX/../.." && pwd)
CORE=$MEMTRACE_HOME/core/$KEY
# The tree that memtrace-perl.sh built the perl in, if it kept it.
KEPT=$MEMTRACE_HOME/build/$KEY/perl-$VERSION
# Holds the path of the tree prepared for the tests, once it is ready.
BUILT=$CORE/.check-core-tree
LOG_DIR=$MEMTRACE_HOME/logs
mkdir -p "$CORE" "$LOG_DIR" "$MEMTRACE_HOME/locks"

run_logged() {
    local log=$1 what=$2
    shift 2
    "$@" >"$log" 2>&1 || fail_log "$log" "$what"
}

exec 8>"$MEMTRACE_HOME/locks/core-$KEY.lock"
if ! flock -n 8; then
    say "waiting for another check-core on $KEY to finish (lock: $MEMTRACE_HOME/locks/core-$KEY.lock)"
    flock 8
fi

TREE=
if [[ -f "$BUILT" ]]; then
    TREE=$(cat "$BUILT")
    [[ -x "$TREE/perl" && -e "$TREE/t/perl" ]] || TREE=
fi
if [[ -z "$TREE" ]]; then
    start=$SECONDS
    if [[ -x "$KEPT/perl" && -f "$KEPT/config.sh" ]]; then
        TREE=$KEPT
        log=$LOG_DIR/$KEY-core-test-prep.log
        say "preparing the tests in the build tree of $KEY, $TREE (log: $log)"
        run_logged "$log" "make test_prep in $TREE" bash -c 'cd "$1" && exec make test_prep </dev/null' test_prep "$TREE"
    else
        TREE=$CORE/perl-$VERSION
        rm -rf "$TREE" "$CORE/unpack"
        say "unpacking perl $VERSION from $SRC_PATH into $CORE (the core tests need a build tree)"
        unpack_perl_source "$SRC_KIND" "$SRC_PATH" "$TREE" "$LOG_DIR/$KEY-core-unpack.log" "$ABI_GUARD" "$NEWSV_HOOK"
        log=$LOG_DIR/$KEY-core-configure.log
        say "configuring it as $KEY was configured (log: $log)"
        run_logged "$log" "configuring the core-test tree" \
            bash -c 'cd "$1" && shift && exec ./Configure "$@" </dev/null' configure "$TREE" "${CONFIGURE_ARGS[@]}"
        log=$LOG_DIR/$KEY-core-compile.log
        say "compiling it and preparing its tests with ${MEMTRACE_JOBS:-$JOBS} jobs (log: $log)"
        run_logged "$log" "compiling the core-test tree" \
            bash -c 'cd "$1" && make -j"$2" </dev/null && exec make test_prep </dev/null' compile "$TREE" "${MEMTRACE_JOBS:-$JOBS}"
        [[ -x "$TREE/perl" && -e "$TREE/t/perl" ]] || die "the build made no $TREE/perl or t/perl; see $log"
    fi
    [[ -x "$TREE/perl" && -e "$TREE/t/perl" ]] || die "there is no $TREE/perl or $TREE/t/perl after the build; see $LOG_DIR"
    echo "$TREE" >"$BUILT"
    say "core-test tree ready in $((SECONDS - start))s: $TREE"
fi

# The tree's perl loads the installed recorder before its libperl, as the
# installed MemTrace perl does (install-recorder.sh). Checked every run: the
# tree's perl may have been rebuilt.
load_recorder_first "$TREE/perl" "$SO"

# Devel::MemTrace in the tree's lib/, where the tests look for modules (they
# set @INC to ../lib before PERL5OPT's -M runs): links to the installed
# module and recorder, so a reinstall ('make perl') is what runs next time.
SITELIB=$RECORDER_LIB
mkdir -p "$TREE/lib/Devel" "$TREE/lib/auto/Devel/MemTrace"
ln -sfn "$SITELIB/Devel/MemTrace.pm" "$TREE/lib/Devel/MemTrace.pm"
ln -sfn "$SO" "$TREE/lib/auto/Devel/MemTrace/MemTrace.so"

# Every run uses the tree's libperl (its RUNPATH names the installed one,
# built from the same source and arguments) and none of the caller's
# PERL5* settings. TEST_JOBS runs the tests in parallel.
# Only this run's logs: a rerun's log left from an earlier run would mislead.
RUNS=$CORE/runs
rm -rf "$RUNS"
mkdir -p "$RUNS"
harness() {
    (
        ulimit -v "$VMEM_KB" &&
        cd "$TREE/t" &&
        exec env -u PERL5LIB -u PERLLIB -u PERL5OPT -u PERL5OPT_TEST -u PERL_UNICODE -u HARNESS_OPTIONS \
            LD_LIBRARY_PATH="$TREE" TEST_JOBS="$JOBS" HARNESS_TIMER=1 "$@"
    )
}
ON_OPT=-MDevel::MemTrace
# For the reruns: the module loaded, recording paused before the test is
# compiled (-M's text is code: 'use Devel::MemTrace;BEGIN{...}').
PAUSED_OPT='-MDevel::MemTrace;BEGIN{Devel::MemTrace::pause()}'
# And a core XS module that exports nothing, loaded the same way: what fails
# with it too fails because PERL5OPT puts a 'use' in every program and
# loads an XS module (XSLoader boots DynaLoader's XSUBs), not because of
# what Devel::MemTrace does.
CONTROL_OPT=-MList::Util

# ---------------------------------------------------------------------------
# 3. The probe: is recording off/on where the core tests run?

PROBE_DIR=$TREE/t/memtrace-check-core
mkdir -p "$PROBE_DIR"
cat >"$PROBE_DIR/probe.t" <<'PROBE'
#!./perl
# Written by Devel::MemTrace's perl/build/check-core.sh: is recording what
# this run says it is, in a test and in the perls a test starts?
BEGIN { chdir 't' if -d 't'; require './test.pl'; set_up_inc('../lib'); }
use strict;
use warnings;

my $want = $ENV{MEMTRACE_CHECK_CORE_PROBE} // '';
plan(tests => 3);
my $child = runperl(prog => 'print exists $INC{q{Devel/MemTrace.pm}} ? q{loaded} : q{absent}, q{ },'
    . ' defined &Devel::MemTrace::is_recording && Devel::MemTrace::is_recording() ? q{on} : q{off}');
if ($want eq 'on') {
    ok($INC{'Devel/MemTrace.pm'} && Devel::MemTrace::is_recording(), 'Devel::MemTrace is loaded and recording');
    my $before = Devel::MemTrace::stats()->{events};
    my @kept = map { { n => $_ } } 1 .. 1000;
    my $after = Devel::MemTrace::stats()->{events};
    cmp_ok($after - $before, '>=', 2000, 'the recorder saw the 1000 hashes and their values made');
    is($child, 'loaded on', 'a perl the test starts records too');
}
else {
    ok(!exists $INC{'Devel/MemTrace.pm'}, 'Devel::MemTrace is not loaded');
    ok(!defined &Devel::MemTrace::is_recording, 'nothing of it is defined');
    is($child, 'absent off', 'a perl the test starts does not load it either');
}
PROBE
probe() {
    local mode=$1 log=$RUNS/probe-$1.log
    local -a opt=()
    [[ $mode == on ]] && opt=(PERL5OPT_TEST="$ON_OPT")
    if ! harness env "${opt[@]}" MEMTRACE_CHECK_CORE_PROBE="$mode" ./perl harness memtrace-check-core/probe.t >"$log" 2>&1; then
        echo "error: the probe for recording $mode failed, so the core-test run would not test what it says; see $log:" >&2
        sed 's/^/    /' "$log" >&2
        exit 1
    fi
}
probe off
probe on
say "probe: recording is off without PERL5OPT_TEST, on with PERL5OPT_TEST=$ON_OPT (events counted, in child perls too)"

# ---------------------------------------------------------------------------
# 4. The two runs.

run_core() {
    local mode=$1 log=$RUNS/$1.log start rc=0
    local -a opt=()
    [[ $mode == on ]] && opt=(PERL5OPT_TEST="$ON_OPT")
    say "running the core tests with recording $mode ($JOBS jobs; output: $log)"
    start=$SECONDS
    harness env "${opt[@]}" timeout -k 60 "$TIMEOUT" ./perl harness -re "$TESTS" >"$log" 2>&1 || rc=$?
    echo "$((SECONDS - start))" >"$RUNS/$mode.seconds"
    if (( rc == 124 || rc == 137 )); then
        die "the core tests with recording $mode did not finish in ${TIMEOUT}s (CHECK_CORE_TIMEOUT); see $log"
    fi
    grep -q '^Result: ' "$log" ||
        fail_log "$log" "the core-test harness with recording $mode (exit $rc, no 'Result:' line)"
}
run_core off
run_core on

# ---------------------------------------------------------------------------
# 5. Compare, rerun what failed only with recording on, and say it.

KNOWN_FILE=$RUNS/known.txt
: >"$KNOWN_FILE"
for f in "${!KNOWN[@]}"; do printf '%s\t%s\n' "$f" "${KNOWN[$f]}" >>"$KNOWN_FILE"; done

# rerun FILE MODE: one test file again; its log is the harness output.
rerun() {
    local file=$1 mode=$2 log
    log=$RUNS/rerun-$mode-$(tr '/.' '__' <<<"$file").log
    local -a opt=()
    case $mode in
        on) opt=(PERL5OPT_TEST="$ON_OPT") ;;
        paused) opt=(PERL5OPT_TEST="$PAUSED_OPT") ;;
        control) opt=(PERL5OPT_TEST="$CONTROL_OPT") ;;
    esac
    harness env "${opt[@]}" timeout -k 30 "$RERUN_TIMEOUT" ./perl harness "$file" >"$log" 2>&1 || true
    echo "$log"
}
export -f rerun harness
export RUNS TREE JOBS ON_OPT PAUSED_OPT CONTROL_OPT RERUN_TIMEOUT VMEM_KB

"$PERL" - "$RUNS" "$KNOWN_FILE" "$MODE" "$TESTS" <<'COMPARE'
use strict;
use warnings;

my ($runs, $known_file, $mode, $tests) = @ARGV;

# The "Test Summary Report" of a t/harness log. Returns the files that
# failed, FILE => { failed => N, keys => { KEY => 1 }, parse => [...] },
# where a KEY is one failure: 'test N', 'non-zero exit', 'wait status N'
# (a signal) or 'parse errors' (a bad plan, say); and the totals.
sub summary {
    my ($log) = @_;
    open my $fh, '<', $log or die "check-core: cannot read $log: $!\n";
    my (%fail, $file, $label, %total);
    my $in = 0;
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^Test Summary Report/) { $in = 1; next }
        # With HARNESS_TIMER, each test file's line: "[12:34:56] op/x.t ... ok"
        $total{ran}{$1} = 1 if $line =~ /^\[[\d:]+\] (\S+) \.+/;
        if ($line =~ /^Files=(\d+), Tests=(\d+)/) {
            @total{qw(files tests)} = ($1, $2);
            $in = 0;
            next;
        }
        next unless $in;
        next if $line =~ /^-+$/;
        if ($line =~ /^(\S+)\s+\(Wstat: (\d+).*?Tests: (\d+) Failed: (\d+)\)/) {
            $file = $1;
            $fail{$file} = { failed => $4, keys => {} };
            $fail{$file}{keys}{'wait status ' . ($2 & 0x7f)} = 1 if $2 & 0x7f;
            $label = '';
            next;
        }
        next unless defined $file;
        if ($line =~ /^\s+([A-Za-z][A-Za-z -]*?):\s*(.*)$/) {
            ($label, $line) = ($1, $2);
        }
        elsif ($line !~ /^\s/) {
            next;
        }
        if ($label =~ /^Failed tests?$/) {
            for my $range (grep { length } split /[\s,]+/, $line) {
                my ($from, $to) = $range =~ /^(\d+)(?:-(\d+))?$/ or next;
                $fail{$file}{keys}{"test $_"} = 1 for $from .. ($to // $from);
            }
        }
        elsif ($label eq 'Non-zero exit status') {
            $fail{$file}{keys}{'non-zero exit'} = 1;
        }
        elsif ($label eq 'Parse errors') {
            $fail{$file}{keys}{'parse errors'} = 1;
            push @{ $fail{$file}{parse} }, $line =~ s/^\s+//r;
        }
    }
    # A file in the report only for a TODO test that passed did not fail.
    delete @fail{ grep { !%{ $fail{$_}{keys} } } keys %fail };
    return (\%fail, \%total);
}

# "test 69, test 133, non-zero exit" -> "tests 69, 133; non-zero exit"
sub say_keys {
    my @tests = sort { $a <=> $b } map { /^test (\d+)$/ ? $1 : () } @_;
    my @other = sort grep { !/^test \d+$/ } @_;
    my @parts;
    push @parts, (@tests == 1 ? 'test ' : 'tests ') . join(', ', @tests) if @tests;
    return join '; ', @parts, @other;
}

sub minutes { sprintf '%dm%02ds', $_[0] / 60, $_[0] % 60 }

sub slurp {
    open my $fh, '<', $_[0] or die "check-core: cannot read $_[0]: $!\n";
    local $/;
    my $text = <$fh>;
    chomp $text;
    return $text;
}

my %known = map { chomp; split /\t/, $_, 2 } do {
    open my $fh, '<', $known_file or die "check-core: cannot read $known_file: $!\n";
    <$fh>;
};

my (%fail, %total, %seconds);
for my $m (qw(off on)) {
    ($fail{$m}, $total{$m}) = summary("$runs/$m.log");
    $seconds{$m} = slurp("$runs/$m.seconds");
    defined $total{$m}{files}
      or die "check-core: no 'Files=' line in $runs/$m.log: the harness stopped early\n";
}
$total{off}{files} == $total{on}{files}
  or die "check-core: the two runs ran a different number of test files"
  . " ($total{off}{files} off, $total{on}{files} on); see $runs/off.log and $runs/on.log\n";

sub pass_line {
    my ($m) = @_;
    my $failed_tests = 0;
    $failed_tests += $_->{failed} for values %{ $fail{$m} };
    return sprintf '%d of %d test files pass, %d of %d subtests; %s (%s)',
      $total{$m}{files} - keys %{ $fail{$m} }, $total{$m}{files},
      $total{$m}{tests} - $failed_tests, $total{$m}{tests}, minutes($seconds{$m}), "$runs/$m.log";
}

sub failures_of {
    my ($m, @files) = @_;
    return 'none' unless @files;
    return join ', ', map { "$_ (" . say_keys(keys %{ $fail{$m}{$_}{keys} }) . ')' } @files;
}

# What failed with recording on and not off, per file.
my %only_on;
for my $file (sort keys %{ $fail{on} }) {
    my $off = exists $fail{off}{$file} ? $fail{off}{$file}{keys} : {};
    my @new = grep { !$off->{$_} } keys %{ $fail{on}{$file}{keys} };
    $only_on{$file} = \@new if @new;
}

print "check-core, $mode set (t/harness -re '$tests'):\n";
print "  recording off: ", pass_line('off'), "\n";
print "  recording on:  ", pass_line('on'), "\n";
my @same = grep { exists $fail{on}{$_} && !$only_on{$_} } sort keys %{ $fail{off} };
print "  failing the same with recording off and on: ", failures_of(off => @same), "\n";
my @off_only = grep { !exists $fail{on}{$_} } sort keys %{ $fail{off} };
print "  failing only with recording off: ", failures_of(off => @off_only), "\n";

# Each file that failed only with recording on, rerun alone: with recording
# on (does it fail again?), with List::Util loaded the same way instead (does
# any XS module loaded through PERL5OPT do it?), and with Devel::MemTrace
# loaded and recording paused (does loading it do it?). Each failure goes to
# the first of these that explains it; what none explains, recording causes.
# rerun(FILE, HOW, KEYS) -> the failures of the rerun (one that did not
# finish fails them all) and its log.
sub rerun {
    my ($file, $how, @keys) = @_;
    open my $ph, '-|', 'bash', '-c', 'rerun "$1" "$2"', 'rerun', $file, $how
      or die "check-core: cannot rerun $file: $!\n";
    chomp(my $log = <$ph> // '');
    close $ph;
    my ($f, $total) = summary($log);
    return ({ map { $_ => 1 } @keys }, "$log, did not finish") unless defined $total->{files};
    return ($f->{$file} ? $f->{$file}{keys} : {}, $log);
}

my @CLASSES = (
    [ flaky     => 'flaky (passed when rerun with recording on)' ],
    [ 'any -M'  => 'any XS module loaded through PERL5OPT does it (fails the same with -MList::Util)' ],
    [ known     => 'loading Devel::MemTrace does it (fails the same with recording paused); known' ],
    [ loading   => 'loading Devel::MemTrace does it (fails the same with recording paused)' ],
    [ recording => 'recording does it (passes with Devel::MemTrace loaded and recording paused)' ],
);
my (%files_in, @caused);
print "  failing only with recording on: ", (%only_on ? scalar(keys %only_on) . ' file(s), each rerun alone:' : 'none'), "\n";
for my $file (sort keys %only_on) {
    my @keys = @{ $only_on{$file} };
    my $parse = $fail{on}{$file}{parse} ? ' (' . join('; ', @{ $fail{on}{$file}{parse} }) . ')' : '';
    print "    $file$parse:\n";
    my (%class, %log);
    my ($again, $again_log) = rerun($file, 'on', @keys);
    $class{$_} = 'flaky' for grep { !$again->{$_} } @keys;
    my @left = grep { !$class{$_} } @keys;
    if (@left) {
        my ($control) = rerun($file, 'control', @left);
        $class{$_} = 'any -M' for grep { $control->{$_} } @left;
        @left = grep { !$class{$_} } @left;
    }
    if (@left) {
        my ($paused, $paused_log) = rerun($file, 'paused', @left);
        # The known list excuses what loading the module does, never what
        # recording does.
        my $loading = defined $known{$file} ? 'known' : 'loading';
        $class{$_} = $loading for grep { $paused->{$_} } @left;
        $class{$_} //= 'recording' for @left;
        @log{qw(loading known)} = ($paused_log) x 2;
        $log{recording} = $again_log;
    }
    for my $c (@CLASSES) {
        my ($name, $says) = @$c;
        my @in = grep { $class{$_} eq $name } @keys;
        next unless @in;
        $files_in{$name}{$file} = 1;
        push @caused, $file if $name eq 'loading' || $name eq 'recording';
        $says .= ": $known{$file}" if $name eq 'known';
        $says .= " ($log{$name})" if $log{$name};
        print "        ", say_keys(@in), ": $says\n";
    }
}
my @known_passed = grep { $total{on}{ran}{$_} && !$files_in{known}{$_} } sort keys %known;
print "  on the known list, but nothing failed there because of loading the module (take them off it): @known_passed\n"
  if @known_passed;

my %uniq;
@caused = grep { !$uniq{$_}++ } @caused;
my $summary = sprintf '%s set, %d test files: %d pass with recording off, %d with it on;'
  . ' failing only with recording on: %s',
  $mode, $total{off}{files}, $total{off}{files} - keys %{ $fail{off} }, $total{on}{files} - keys %{ $fail{on} },
  join ', ', map { scalar(keys %{ $files_in{ $_->[0] } // {} }) . " $_->[0]" } reverse @CLASSES;
if (@caused) {
    print "check-core: FAIL ($summary): caused by Devel::MemTrace in @caused\n";
    exit 1;
}
print "check-core: OK ($summary)\n";
exit 0;
COMPARE
