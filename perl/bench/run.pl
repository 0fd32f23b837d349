# run.pl — the measuring half of 'make bench' (perl/bench/bench.sh sets it up
# and documents the settings). Runs every column of every workload,
# interleaved: round by round, workload by workload, each column once, the
# order rotated every round, so that machine noise hits all columns alike.
# Each run goes through perl/bench/rusage.c (BENCH_RUSAGE), which reports
# its wall time, CPU time (user+sys) and peak RSS from wait4(2). Prints one
# table: medians, ratios (of BENCH_CLOCK), peak RSS, the recorder's own
# numbers, the hooks' microbenchmark, and each budget with PASS/MISS.
# Exits 0 whether budgets pass or not (a failed run is an error).
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use POSIX ();
use Time::HiRes qw(time);

my $HERE = dirname(abs_path(__FILE__));
my $ROOT = dirname(dirname($HERE));

sub env_req { my $v = $ENV{ $_[0] }; defined $v or die "run.pl: $_[0] is not set; run perl/bench/bench.sh\n"; $v }
my %PERL = (
    plain  => env_req('BENCH_PERL_PLAIN'),
    plain_fp => $ENV{BENCH_PERL_PLAIN_FP} // '',
    noimpl => env_req('BENCH_PERL_NOIMPL'),
    mt     => env_req('BENCH_PERL_MT'),
    log    => $ENV{BENCH_PERL_LOG} // '',
);
my $TMP        = env_req('BENCH_TMP');
my $RUNS       = env_req('BENCH_RUNS');
my $SLOW_RUNS  = env_req('BENCH_SLOW_RUNS');
my $SCALE      = env_req('BENCH_SCALE') / 100;
my $SLOW_SIZE  = env_req('BENCH_SLOW_SIZE') / 100;
my @WORKLOADS  = split /,/, env_req('BENCH_WORKLOADS');
my %SKIP       = map { $_ => 1 } grep {length} split /,/, $ENV{BENCH_SKIP} // '';
my $LT_BLIB    = $ENV{BENCH_LEAKTRACE_BLIB} // '';
my $HOOKS      = $ENV{BENCH_HOOKS_SUMMARY} // '';
my $CLOCK      = $ENV{BENCH_CLOCK} // 'cpu';    # what the ratios compare
$CLOCK =~ /\A(cpu|wall)\z/ or die "run.pl: BENCH_CLOCK=$CLOCK is not cpu or wall\n";
$SKIP{logger}    = 1 if $PERL{log} eq '';
$SKIP{leaktrace} = 1 if $LT_BLIB eq '';

# Workload sizes at BENCH_SCALE=100: a few seconds each on perl (a) here.
# The first argument is the size that BENCH_SCALE and BENCH_SLOW_SIZE scale;
# fixed trailing arguments follow.
my %SIZE = (churn => 600_000, json => 900, regex => 600, bigheap => 160_000);
my %FIXED = (bigheap => [20]);    # passes over the heap, each with a checkpoint
my %ABOUT = (
    churn   => 'hashes, arrays, objects made and dropped',
    json    => 'JSON::PP encode/decode round trips',
    regex   => 'regex-heavy log parsing',
    bigheap => 'loop over a large live heap, checkpoint() each pass',
);

# ---------------------------------------------------------------------------
# The columns: [key, label, slow?, command builder (workload path, size args)].

my $RUSAGE = env_req('BENCH_RUSAGE');
-x $RUSAGE or die "run.pl: $RUSAGE is not executable; run perl/bench/bench.sh\n";
my $wrapper = "$HERE/leaktrace.pl";
my @COLUMNS = (
    [ a  => '(a) perl without PERL_MEM_LOG',        0, sub { [ $PERL{plain}, @_ ] } ],
    [ b  => '(b) PERL_MEM_LOG+NOIMPL, no recorder', 0, sub { [ $PERL{noimpl}, @_ ] } ],
    [ c  => '(c) MemTrace perl, recording off',     0, sub { [ $PERL{mt}, @_ ] } ],
    [ d  => '(d) recording on (-MDevel::MemTrace)', 0, sub { [ $PERL{mt}, '-MDevel::MemTrace', @_ ] } ],
    ($SKIP{malloc} ? () : (
    [ m  => '(m) recording on, -malloc',            0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-malloc', @_ ] } ],
    [ z  => '(z) all: -stack=32,-c_frames,-malloc', 0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-stack=32,-c_frames,-malloc', @_ ] } ],
    )),
    [ d1 => '(d1) recording on, -stack=1',         0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-stack=1', @_ ] } ],
    [ f  => '(f) deep stacks, -stack=32',          0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-stack=32', @_ ] } ],
    [ g  => '(g) C frames, -c_frames (6)',         0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-c_frames', @_ ] } ],
    [ h  => '(h) both, -stack=32,-c_frames',       0, sub { [ $PERL{mt}, '-MDevel::MemTrace=-stack=32,-c_frames', @_ ] } ],
    ($PERL{plain_fp} eq '' ? () : (
    [ ap => "(a') (a) with frame pointers",         0, sub { [ $PERL{plain_fp}, @_ ] } ],
    )),
    [ as => '(a) perl without PERL_MEM_LOG',        1, sub { [ $PERL{plain}, @_ ] } ],
    ($SKIP{logger} ? () : (
    [ ds => '(d) recording on',                     1, sub { [ $PERL{mt}, '-MDevel::MemTrace', @_ ] } ],
    [ e  => "(e) perl's logger, PERL_MEM_LOG=3ms",  1, sub { [ $PERL{log}, @_ ] },
      { env => { PERL_MEM_LOG => '3ms' }, fd3 => "$TMP/perl-mem-log" } ],
    )),
    ($SKIP{heaptrack} ? () : (
    [ hp => 'heaptrack on (a)',                     1,
      sub { [ 'heaptrack', '-o', "$TMP/heaptrack.data", $PERL{plain}, @_ ] } ],
    )),
    ($SKIP{valgrind} ? () : (
    [ vg => 'valgrind memcheck on (a)',             1,
      sub { [ 'valgrind', '--tool=memcheck', '--leak-check=full', "--log-file=$TMP/valgrind.log", $PERL{plain}, @_ ] } ],
    )),
    ($SKIP{leaktrace} ? () : (
    [ lc => '(c) in the leaked_info wrapper, bare', 1, sub { [ $PERL{mt}, $wrapper, @_ ] } ],
    [ lt => 'Test::LeakTrace leaked_info on (c)',   1,
      sub { [ $PERL{mt}, "-I$LT_BLIB/arch", "-I$LT_BLIB/lib", $wrapper, '--leaktrace', @_ ] } ],
    )),
);
my %COLUMN = map { $_->[0] => $_ } @COLUMNS;

sub size_of {
    my ($w, $slow) = @_;
    my $n = int($SIZE{$w} * $SCALE * ($slow ? $SLOW_SIZE : 1) + 0.5);
    return $n < 1 ? 1 : $n;
}

# ---------------------------------------------------------------------------
# Running one command.

sub tail_of { my ($f) = @_; open my $fh, '<', $f or return ''; my @l = <$fh>; join '', @l > 15 ? @l[-15 .. -1] : @l }

sub run_one {
    my ($w, $col) = @_;
    my ($key, $label, $slow, $build, $opt) = @$col;
    $opt //= {};
    my $size   = size_of($w, $slow);
    my $script = "$HERE/workloads/$w.pl";
    my $cmd    = $build->($script, $size, @{ $FIXED{$w} // [] });
    my ($rss_file, $err_file) = ("$TMP/rusage", "$TMP/stderr");
    unlink $rss_file;
    my $pid = fork // die "run.pl: fork: $!\n";
    if (!$pid) {
        open STDIN,  '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', $err_file;
        my $log;    # open until exec
        if ($opt->{fd3}) {
            $^F = 3;    # fd 3 stays open across exec
            open $log, '>', $opt->{fd3} or POSIX::_exit(126);
            POSIX::dup2(fileno $log, 3) if fileno $log != 3;
        }
        $ENV{$_} = $opt->{env}{$_} for keys %{ $opt->{env} // {} };
        exec { $RUSAGE } $RUSAGE, $rss_file, @$cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;
    if ($status != 0) {
        die "run.pl: $w, $label failed (exit status " . ($status >> 8) . ", signal " . ($status & 127)
          . "): @$cmd\n" . tail_of($err_file) . tail_of($rss_file);
    }
    my ($wall, $user, $sys, $rss) =
      (tail_of($rss_file) =~ /wall_us=(\d+) user_us=(\d+) sys_us=(\d+) maxrss_kb=(\d+)/)
      or die "run.pl: $RUSAGE wrote no times for @$cmd\n";
    my %r = (wall => $wall / 1000, cpu => ($user + $sys) / 1000, rss => $rss);
    if (open my $fh, '<', $err_file) {
        while (<$fh>) {
            if (/^memtrace-bench: (.*)/) { $r{stats} = { map { split /=/, $_, 2 } split ' ', $1 } }
        }
    }
    if ($opt->{fd3}) { $r{log_bytes} = -s $opt->{fd3} // 0; unlink $opt->{fd3} }
    unlink glob("$TMP/heaptrack.data*"), "$TMP/valgrind.log";
    return \%r;
}

# ---------------------------------------------------------------------------
# The runs, interleaved.

my %res;    # workload -> column key -> [result...]
my $rounds = $RUNS > $SLOW_RUNS ? $RUNS : $SLOW_RUNS;
my $t_start = time;
for my $round (1 .. $rounds) {
    my $t_round = time;
    for my $w (@WORKLOADS) {
        my @cols = grep { $round <= ($_->[2] ? $SLOW_RUNS : $RUNS) } @COLUMNS;
        my $k = ($round - 1) % @cols;
        @cols = (@cols[ $k .. $#cols ], @cols[ 0 .. $k - 1 ]) if $k;
        push @{ $res{$w}{ $_->[0] } }, run_one($w, $_) for @cols;
    }
    printf STDERR "==> round %d of %d done in %.0fs\n", $round, $rounds, time - $t_round;
}
my $measured = time - $t_start;

# ---------------------------------------------------------------------------
# Statistics.

sub median {
    my @v = sort { $a <=> $b } @_;
    return undef unless @v;
    return @v % 2 ? $v[ $#v / 2 ] : ($v[ @v / 2 - 1 ] + $v[ @v / 2 ]) / 2;
}
sub med  { my ($w, $k, $f) = @_; median(map { $_->{ $f // $CLOCK } } @{ $res{$w}{$k} // [] }) }
sub have { my ($w, $k) = @_; @{ $res{$w}{$k} // [] } > 0 }

my @budgets;    # [what, shown value, verdict]
sub budget {
    my ($what, $value, $op, $limit, $fmt) = @_;
    my $ok = $op eq '<=' ? $value <= $limit
      : $op eq '<'      ? $value < $limit
      : $op eq 'within' ? abs($value - 1) <= $limit
      :                   $value >= $limit;
    $limit = sprintf '1 +- %g', $limit if $op eq 'within';
    my $verdict = $ok ? 'PASS' : 'MISS';
    push @budgets, [ $what, sprintf($fmt, $value) . " $op $limit", $verdict ];
    return "$op $limit $verdict";
}

# ---------------------------------------------------------------------------
# The table.

sub slurp_cmd { my $out = `@_`; chomp $out; $out }
my $cpu = '?';
if (open my $fh, '<', '/proc/cpuinfo') { while (<$fh>) { if (/^model name\s*:\s*(.*)/) { $cpu = $1; last } } }
my $mem = '?';
if (open my $fh, '<', '/proc/meminfo') { while (<$fh>) { if (/^MemTotal:\s*(\d+)/) { $mem = sprintf '%.1f GiB', $1 / 1048576; last } } }
my $nproc  = slurp_cmd('nproc');
my $kernel = slurp_cmd('uname -sr');
my $load   = slurp_cmd('cut -d" " -f1-3 /proc/loadavg');
my $git    = slurp_cmd("git -C '$ROOT' describe --always --dirty 2>/dev/null") || 'unknown';
my ($pv, $threads) = split ' ', slurp_cmd(qq{'$PERL{mt}' -MConfig -e 'print "\$^V ", (\$Config{usethreads} ? "threaded" : "non-threaded")'});
my $date = POSIX::strftime('%Y-%m-%d %H:%M UTC', gmtime);

my @out;
my $fmt = "%-8s %8s  %-38s %9s %9s %10s  %-26s %s\n";
push @out, sprintf "Devel::MemTrace benchmark (make bench), %s\n", $date;
push @out, sprintf "machine: %s CPUs (%s), %s RAM, %s; load average at the end %s\n", $nproc, $cpu, $mem, $kernel, $load;
push @out, sprintf "perl %s %s, all perls from the same source and Configure arguments; recorder at git %s\n", $pv, $threads, $git;
push @out, sprintf "medians of %d runs (slow tools: %d runs at %g%% of the size, each against its own bare run at that size);"
  . " runs interleaved, order rotated each round; measuring took %.0f s, setup before it %.0f s\n",
  $RUNS, $SLOW_RUNS, $SLOW_SIZE * 100, $measured, $t_start - ($ENV{BENCH_STARTED} || $t_start);
push @out, sprintf "ratios compare %s (BENCH_CLOCK=%s); cpu is user+sys of the run and its children, less disturbed by other load than wall\n",
  $CLOCK eq 'cpu' ? 'CPU times' : 'wall times', $CLOCK;
push @out, "(b)/(a), (c)/(b), (d)/(c), (m)/(c): median of the ratios within each round, then their quartiles (the noise)\n";
push @out, "\n";
push @out, sprintf $fmt, 'workload', 'size', 'run', 'wall', 'cpu', 'peak RSS', "ratio ($CLOCK)", 'budget';
push @out, sprintf $fmt, '-' x 8, '-' x 8, '-' x 38, '-' x 9, '-' x 9, '-' x 10, '-' x 26, '-' x 14;

sub ms_s  { my $v = shift; defined $v ? ($v >= 10_000 ? sprintf('%.1f s', $v / 1000) : sprintf('%.0f ms', $v)) : '-' }
sub rss_s { my $v = shift; defined $v ? sprintf('%.1f MiB', $v / 1024) : '-' }
sub ratio { my ($x, $y) = @_; defined $x && defined $y && $y > 0 ? $x / $y : undef }

# The ratio of two columns measured in the same rounds: the median of the
# per-round ratios, with their quartiles. A round runs every column back to
# back, so a slow spell of the shared machine, which can last a round or
# two, falls on both sides of a ratio instead of on whichever column's
# median it happens to reach. Columns not measured in the same rounds get
# the ratio of their medians (and no quartiles).
sub paired {
    my ($w, $kx, $ky) = @_;
    my @x = map { $_->{$CLOCK} } @{ $res{$w}{$kx} // [] };
    my @y = map { $_->{$CLOCK} } @{ $res{$w}{$ky} // [] };
    return ratio(med($w, $kx), med($w, $ky)) unless @x && @x == @y && !grep { $_ <= 0 } @y;
    my @r = sort { $a <=> $b } map { $x[$_] / $y[$_] } 0 .. $#x;
    return (median(@r), $r[ int($#r / 4) ], $r[ $#r - int($#r / 4) ]);
}

# "1.234 (d)/(c) 1.21-1.25": a paired ratio, named, with its quartiles.
sub paired_s {
    my ($name, $r, $lo, $hi) = @_;
    return defined $lo ? sprintf('%.3f %s %.2f-%.2f', $r, $name, $lo, $hi) : sprintf('%.3f %s', $r, $name);
}

for my $w (@WORKLOADS) {
    my $first = 1;
    my $row = sub {
        my ($size, $label, $key, $ratio_s, $budget_s) = @_;
        push @out, sprintf $fmt, ($first ? $w : ''), $size // '', $label, ms_s(med($w, $key, 'wall')),
          ms_s(med($w, $key, 'cpu')), rss_s(med($w, $key, 'rss')), $ratio_s // '', $budget_s // '';
        $first = 0;
    };
    my $main = size_of($w, 0);
    my $slow = size_of($w, 1);
    my @ba = paired($w, 'b', 'a');
    my @cb = paired($w, 'c', 'b');
    my @dc = paired($w, 'd', 'c');
    my $on_limit = $w =~ /^(churn|json)$/ ? 1.3 : 1.5;
    $row->($main, $COLUMN{a}[1], 'a', '', '');
    $row->('', $COLUMN{b}[1], 'b', paired_s('(b)/(a)', @ba), '');
    $row->('', $COLUMN{c}[1], 'c', paired_s('(c)/(b)', @cb),
        budget("$w: recording off / NOIMPL", $cb[0], 'within', 0.03, '%.3f'));
    $row->('', $COLUMN{d}[1], 'd', paired_s('(d)/(c)', @dc),
        budget("$w: recording on / off", $dc[0], '<=', $on_limit, '%.3f'));
    for my $k (qw(m z)) {
        next unless have($w, $k);
        my @kc = paired($w, $k, 'c');
        $row->('', $COLUMN{$k}[1], $k, paired_s("($k)/(c)", @kc),
            budget("$w: $COLUMN{$k}[1] / off", $kc[0], '<=', 2.0, '%.3f'));
    }
    $row->('', $COLUMN{d1}[1], 'd1', paired_s('(d1)/(c)', paired($w, 'd1', 'c')), '');
    for my $k (qw(f g h)) {
        my @kc = paired($w, $k, 'c');
        $row->('', $COLUMN{$k}[1], $k, paired_s("($k)/(c)", @kc),
            budget("$w: $COLUMN{$k}[1] / off", $kc[0], '<=', 2.0, '%.3f'));
    }
    if (have($w, 'ap')) {
        $row->('', $COLUMN{ap}[1], 'ap', paired_s("(a')/(a)", paired($w, 'ap', 'a')), '');
    }

    my $as = med($w, 'as');
    my $first_slow = 1;
    my $srow = sub { my @r = @_; $r[0] = $first_slow ? $slow : ''; $first_slow = 0; $row->(@r) };
    $srow->(undef, $COLUMN{as}[1], 'as', '', '');
    if (have($w, 'e')) {
        my ($ds, $e) = (med($w, 'ds'), med($w, 'e'));
        $srow->(undef, $COLUMN{ds}[1], 'ds', sprintf('%.2f (d)/(a)', ratio($ds, $as)), '');
        my $log_mb = median(map { $_->{log_bytes} } @{ $res{$w}{e} }) / 1e6;
        my $budget = $w eq 'churn' ? budget("churn: perl's logger / recording on", ratio($e, $ds), '>=', 15, '%.1f') : '';
        $srow->(undef, $COLUMN{e}[1], 'e',
            sprintf('%.1f (e)/(d), %.1f (e)/(a)', ratio($e, $ds), ratio($e, $as)), $budget);
        push @out, sprintf $fmt, '', '', sprintf('    (its log: %.0f MB per run)', $log_mb), '', '', '', '', '';
    }
    for my $k (grep { have($w, $_) } qw(hp vg)) {
        $srow->(undef, $COLUMN{$k}[1], $k, sprintf('%.1f vs (a)', ratio(med($w, $k), $as)), '');
    }
    if (have($w, 'lt')) {
        my $lc = med($w, 'lc');
        $srow->(undef, $COLUMN{lc}[1], 'lc', '', '');
        $srow->(undef, $COLUMN{lt}[1], 'lt', sprintf('%.1f vs bare', ratio(med($w, 'lt'), $lc)), '');
    }

    # The recorder's own numbers, from the recording-on runs.
    my @stats = grep {defined} map { $_->{stats} } @{ $res{$w}{d} // [] };
    if (@stats) {
        my $live   = median(map { $_->{live_records} } @stats);
        my $bpr    = median(map { $_->{bytes_per_record} } @stats);
        my $cp     = median(map { $_->{checkpoint_ms_median} } @stats);
        my $cp_max = median(map { $_->{checkpoint_ms_max} } @stats);
        my $n_cp   = median(map { $_->{checkpoints} } @stats);
        my $rss_per = ratio(1024 * (med($w, 'd', 'rss') - med($w, 'c', 'rss')), $live);
        push @out, sprintf $fmt, '', '', sprintf('checkpoint(), %.2fM live records', $live / 1e6),
          sprintf('%.1f ms', $cp), '', '', sprintf('median of %d x %d (wall)', $n_cp, scalar @stats),
          $live >= 1_000_000
          ? budget('checkpoint() with >= 1M live records, ms', $cp, '<', 50, '%.1f')
          : do { push @budgets, ['checkpoint() with >= 1M live records', sprintf('only %d live', $live), 'MISS']; 'needs 1M live: MISS' };
        push @out, sprintf $fmt, '', '', '  slowest checkpoint (median over runs)', sprintf('%.1f ms', $cp_max), '', '', '', '';
        push @out, sprintf $fmt, '', '', 'recorder bytes per live record', sprintf('%.1f B', $bpr), '', '',
          'stats() table_bytes/live', budget('recorder bytes per live record (stats)', $bpr, '<=', 64, '%.1f');
        push @out, sprintf $fmt, '', '', '  peak RSS (d)-(c) per live record', sprintf('%.1f B', $rss_per // 0), '', '',
          'whole process, for scale', '';
    }
    push @out, "\n";
}

if ($HOOKS && -s $HOOKS) {
    open my $fh, '<', $HOOKS or die "run.pl: $HOOKS: $!\n";
    my %h;
    while (<$fh>) { chomp; my ($name, $ns, $events) = split /\t/; $h{$name} = [ $ns, $events ] }
    my @rows = (
        [ hook_off_alloc        => 'one hook call, recording off (alloc)' ],
        [ hook_off_free         => 'one hook call, recording off (free)' ],
        [ one_thread_transient  => '1 thread: alloc+free at once (nursery)' ],
        [ one_thread_published  => '1 thread: alloc+free 1024 apart' ],
        [ two_threads_transient => '2 threads: alloc+free at once' ],
        [ two_threads_published => '2 threads: alloc+free 1024 apart' ],
    );
    my $first = 1;
    for my $r (@rows) {
        my $v = $h{ $r->[0] } or next;
        my ($ns, $events) = @$v;
        my $per = $ns / $events;
        my $value = $r->[0] =~ /^hook_off/ ? sprintf('%.2f ns', $per) : sprintf('%.1f M/s', 1000 / $per);
        push @out, sprintf $fmt, ($first ? 'hooks' : ''), '', $r->[1], $value, '', '',
          ($r->[0] =~ /^hook_off/ ? 'per call' : sprintf('events/s; %.1f ns/event', $per)), '';
        $first = 0;
    }
    push @out, sprintf $fmt, '', '', '(criterion, benches/hooks.rs: make bench-hooks)', '', '', '', '', '';
    push @out, "\n";
}

my $miss = grep { $_->[2] eq 'MISS' } @budgets;
push @out, sprintf "budgets: %d of %d met\n", @budgets - $miss, scalar @budgets;
push @out, sprintf "  %-4s  %-42s %s\n", $_->[2], $_->[0], $_->[1] for @budgets;
print @out;
