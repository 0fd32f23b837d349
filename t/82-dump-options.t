# The capture and timer import options as a user types them:
# -dump_on=SIGNAL[:FILE], -dump_every=N[:FILE], -iteration_every=SECONDS
# and -dump_at_END=FILE; and each malformed one refused in one line.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky run_perl write_script repo_root slurp);

use Cwd        ();
use File::Spec ();
use File::Temp ();
use JSON::PP   ();
use POSIX      ();

my $skip = load_leaky();
plan skip_all => $skip if $skip;

my $ROOT = repo_root();
my $MEMTRACE = defined $ENV{MEMTRACE_BIN} && length $ENV{MEMTRACE_BIN}
  ? $ENV{MEMTRACE_BIN}
  : "$ROOT/target/release/memtrace";
my $have_memtrace = -f $MEMTRACE && -x _;

# memtrace(@args): { exit, stdout, stderr } of the memtrace program.
sub memtrace {
    my (@args) = @_;
    my $dir = File::Temp->newdir('memtrace-cmd-XXXXXX', TMPDIR => 1);
    my ($out, $err) = ("$dir/stdout", "$dir/stderr");
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN,  '<', File::Spec->devnull or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        { no warnings 'exec'; exec { $MEMTRACE } $MEMTRACE, @args; }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return { exit => $? >> 8, stdout => slurp($out), stderr => slurp($err) };
}

sub files_in {
    my ($dir) = @_;
    opendir my $dh, $dir or die "cannot read $dir: $!\n";
    my @files = sort grep { !/\A\./ } readdir $dh;
    closedir $dh;
    return @files;
}

# run_in($dir, @args): run_perl(@args) with $dir as the current directory.
sub run_in {
    my ($dir, @args) = @_;
    my $here = Cwd::getcwd();
    chdir $dir or die "cannot chdir to $dir: $!\n";
    my $run = eval { run_perl(@args) };
    my $error = $@;
    chdir $here or die "cannot chdir back to $here: $!\n";
    die $error unless $run;
    return $run;
}

# The iterations a capture says it closed, or undef.
sub iterations_in {
    my ($file) = @_;
    return undef unless $have_memtrace;
    my ($n) = memtrace('report', $file)->{stdout} =~ /\ADevel::MemTrace report: (\d+) iterations closed;/;
    return $n;
}

# ---------------------------------------------------------------------------
# -dump_on=USR2: a capture whenever the signal comes.

my $signals = write_script(<<'PERL');
use strict;
use warnings;
our @Keep;
for my $i (1 .. 10) {
    kill USR2 => $$ if $i == 3 || $i == 7;    # after 2 and after 6 checkpoints
    push @Keep, [ $i ];
    Devel::MemTrace::checkpoint();
}
print "pid $$\n";
PERL

my $dir = File::Temp->newdir('memtrace-dump-on-XXXXXX', TMPDIR => 1);
my $run = run_perl("-MDevel::MemTrace=-dump_on=USR2:$dir/sig.%n.mtc", $signals);
is($run->{exit}, 0, '-dump_on=USR2:DIR/sig.%n.mtc: the program runs') or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
is_deeply([ files_in($dir) ], [ 'sig.2.mtc', 'sig.6.mtc' ],
    '... two signals, two captures, named by the iteration open when each came');
SKIP: {
    skip "memtrace is not built ($MEMTRACE)", 2 unless $have_memtrace;
    is(iterations_in("$dir/sig.2.mtc"), 2, '... sig.2.mtc: 2 iterations closed');
    is(iterations_in("$dir/sig.6.mtc"), 6, '... sig.6.mtc: 6 iterations closed');
}

# The default name, in the current directory; SIGUSR2 is USR2.
$dir = File::Temp->newdir('memtrace-dump-on-XXXXXX', TMPDIR => 1);
$run = run_in("$dir", '-MDevel::MemTrace=-dump_on=SIGUSR2', $signals);
is($run->{exit}, 0, '-dump_on=SIGUSR2 without a file name: the program runs') or diag $run->{stderr};
my ($pid) = $run->{stdout} =~ /^pid (\d+)$/m;
$pid //= 'PID';
is_deeply([ files_in($dir) ], [ "memtrace.$pid.2.mtc", "memtrace.$pid.6.mtc" ],
    '... writes memtrace.PID.N.mtc in the current directory');

# A handler the program had set before loading the module still runs.
$dir = File::Temp->newdir('memtrace-dump-on-XXXXXX', TMPDIR => 1);
my $chained = write_script(<<"PERL");
use strict;
use warnings;
our \@Got;
BEGIN { \$SIG{USR2} = sub { push \@Got, \$_[0] } }
use Devel::MemTrace '-dump_on=USR2:$dir/chain.%n.mtc';
for my \$i (1 .. 10) {
    kill USR2 => \$\$ if \$i == 3 || \$i == 7;
    Devel::MemTrace::checkpoint();
}
print "got \@Got\\n";
PERL
$run = run_perl($chained);
is($run->{exit}, 0, 'a program handler set before use Devel::MemTrace -dump_on=USR2') or diag $run->{stderr};
is($run->{stdout}, "got USR2 USR2\n", '... still runs, with the signal name');
is_deeply([ files_in($dir) ], [ 'chain.2.mtc', 'chain.6.mtc' ], '... and the captures are written');

# A handler the program sets after -M loaded the module replaces the dump:
# $SIG{USR2} is the program's again (perl's %SIG has one handler a signal).
$dir = File::Temp->newdir('memtrace-dump-on-XXXXXX', TMPDIR => 1);
my $replacing = write_script(<<'PERL');
use strict;
use warnings;
my $got = 0;
$SIG{USR2} = sub { $got++ };
for my $i (1 .. 10) {
    kill USR2 => $$ if $i == 3 || $i == 7;
    Devel::MemTrace::checkpoint();
}
print "got $got\n";
PERL
$run = run_perl("-MDevel::MemTrace=-dump_on=USR2:$dir/late.%n.mtc", $replacing);
is($run->{exit}, 0, 'a program that sets $SIG{USR2} itself at run time, under -dump_on=USR2')
    or diag $run->{stderr};
is($run->{stdout}, "got 2\n", '... its handler gets both signals');
is_deeply([ files_in($dir) ], [], '... and no capture is written: its handler replaced the dump');

# ---------------------------------------------------------------------------
# -dump_every=N: a capture after every Nth checkpoint.

my $loop = write_script(<<'PERL');
use strict;
use warnings;
our @Keep;
for my $i (1 .. 10) {
    push @Keep, { i => $i };
    Devel::MemTrace::checkpoint();
}
print "pid $$\n";
PERL
$dir = File::Temp->newdir('memtrace-dump-every-XXXXXX', TMPDIR => 1);
$run = run_perl("-MDevel::MemTrace=-dump_every=3:$dir/e.%n.mtc", $loop);
is($run->{exit}, 0, '-dump_every=3:DIR/e.%n.mtc over 10 iterations') or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
is_deeply([ files_in($dir) ], [ 'e.3.mtc', 'e.6.mtc', 'e.9.mtc' ], '... writes captures after checkpoints 3, 6 and 9');
SKIP: {
    skip "memtrace is not built ($MEMTRACE)", 3 unless $have_memtrace;
    is(iterations_in("$dir/e.$_.mtc"), $_, "... e.$_.mtc: $_ iterations closed") for 3, 6, 9;
}

$dir = File::Temp->newdir('memtrace-dump-every-XXXXXX', TMPDIR => 1);
$run = run_in("$dir", '-MDevel::MemTrace=-dump_every=5', $loop);
($pid) = $run->{stdout} =~ /^pid (\d+)$/m;
$pid //= 'PID';
is_deeply([ files_in($dir) ], [ "memtrace.$pid.10.mtc", "memtrace.$pid.5.mtc" ],
    '-dump_every=5 without a file name: memtrace.PID.N.mtc in the current directory');

# ---------------------------------------------------------------------------
# -iteration_every=SECONDS: a timer ends the iterations of a program with
# no sub to wrap, and the program cannot tell.

my $timed = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;
use JSON::PP ();
use Time::HiRes ();

my %out;
my $t0 = Time::HiRes::time();
my $leaked = 0;
# Busy until the timer has closed 6 iterations (0.3 s on a quiet machine;
# up to 60 s on a loaded one: no timing is asserted, only that it comes).
while (Devel::MemTrace::current_iteration() < 6 && Time::HiRes::time() - $t0 < 60) {
    my $until = Time::HiRes::time() + 0.01;
    my $sum = 0;
    while (Time::HiRes::time() < $until) { $sum += $_ for 1 .. 50 }
    Leaky::leak_sv();                                   # LINE: timed_leak
    $leaked++;
}
$out{leaked}   = $leaked;
$out{busy_end} = Devel::MemTrace::current_iteration();
my ($site) = grep { $_->{line} == $ARGV[0] && $_->{kind} eq 'sv' } @{ Devel::MemTrace::leak_sites() };
$out{site_count} = $site ? $site->{count} : 0;

# Waiting is not shortened.
my $t = Time::HiRes::time();
select(undef, undef, undef, 0.3);
$out{select} = Time::HiRes::time() - $t;
$t = Time::HiRes::time();
Time::HiRes::sleep(0.3);
$out{sleep} = Time::HiRes::time() - $t;

# $@, $! and $? are the program's across timer checkpoints.
$@ = "the program's error\n";
$! = 2;
$? = 3 << 8;
$out{before} = Devel::MemTrace::current_iteration();
$t = Time::HiRes::time();
my $spins = 0;
# Busy until a timer checkpoint has come (at least 0.2 s; bounded at 60 s).
$spins++ while (Time::HiRes::time() - $t < 0.2 || Devel::MemTrace::current_iteration() == $out{before})
    && Time::HiRes::time() - $t < 60;
$out{after} = Devel::MemTrace::current_iteration();
$out{eval_error} = $@;
$out{errno}      = 0 + $!;
$out{child}      = $?;
$? = 0;
print JSON::PP->new->canonical->encode(\%out);
PERL
my $leak_line = marked_line('timed_leak', $timed);
$run = run_perl('-MDevel::MemTrace=-iteration_every=0.05', $timed, $leak_line);
is($run->{exit}, 0, '-iteration_every=0.05: a busy loop, no sub to wrap') or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
my $out = eval { JSON::PP->new->decode($run->{stdout}) } || {};
ok(($out->{busy_end} // 0) > 5, "... the timer closed iterations: $out->{busy_end} while the program was busy");
ok(($out->{site_count} // 0) > 0,
    "... and the SVs leaked at line $leak_line are leaks ($out->{site_count} of $out->{leaked})");
cmp_ok($out->{select} // 0, '>=', 0.28, "select(undef, undef, undef, 0.3) is not shortened ($out->{select} s)");
cmp_ok($out->{sleep} // 0, '>=', 0.28, "Time::HiRes::sleep(0.3) is not shortened ($out->{sleep} s)");
ok(($out->{after} // 0) > ($out->{before} // 0),
    "checkpoints came while the program's \$@, \$! and \$? were set ($out->{before} -> $out->{after})");
is($out->{eval_error}, "the program's error\n", '... $@ is unchanged');
is($out->{errno}, 2, '... $! is unchanged');
is($out->{child}, 3 << 8, '... $? is unchanged');

# All of them at once: the timer, signals, every 5th checkpoint and END.
# Nothing the tool allocates for them is the program's.
my $busy = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;
use Time::HiRes ();
my $t0 = Time::HiRes::time();
my $k = 0;
# At least 0.4 s and 12 timer iterations (bounded at 60 s on a loaded machine).
while ((Time::HiRes::time() - $t0 < 0.4 || Devel::MemTrace::current_iteration() < 12)
    && Time::HiRes::time() - $t0 < 60) {
    ++$k;
    kill USR2 => $$ if $k % 5000 == 0;
    Leaky::leak_sv() if $k % 1000 == 0;                 # LINE: busy_leak
}
print "iterations ", Devel::MemTrace::current_iteration(), "\n";
PERL
$dir = File::Temp->newdir('memtrace-all-XXXXXX', TMPDIR => 1);
$run = run_perl("-MDevel::MemTrace=-iteration_every=0.02,-dump_every=5:$dir/e.%n.mtc,-dump_on=USR2:$dir/s.%n.mtc,-dump_at_END=$dir/end.mtc", $busy);
is($run->{exit}, 0, '-iteration_every, -dump_every, -dump_on and -dump_at_END together') or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
my ($closed) = $run->{stdout} =~ /^iterations (\d+)$/m;
my @written = files_in($dir);
ok((grep { $_ eq 'end.mtc' } @written), '... end.mtc written');
my @every = sort { $a <=> $b } map { /\Ae\.(\d+)\.mtc\z/ ? $1 : () } @written;
# (A timer checkpoint may still come between the print and END.)
is_deeply(\@every, [ map { 5 * $_ } 1 .. scalar @every ], '... e.N.mtc after checkpoints 5, 10, ...');
ok(@every && $every[-1] >= 5 * int(($closed // 0) / 5), "... up to the last multiple of 5 of the $closed iterations");
ok((grep { /\As\.\d+\.mtc\z/ } @written), '... and s.N.mtc for the signals');
SKIP: {
    skip "memtrace is not built ($MEMTRACE)", 4 unless $have_memtrace;
    my $busy_line = marked_line('busy_leak', $busy);
    my $records = eval { JSON::PP->new->decode(memtrace('leaks', '--min-age', '0', '--json', "$dir/end.mtc")->{stdout}) } || [];
    ok(scalar(grep { $_->{line} == $busy_line && $_->{file} eq $busy } @$records),
        "... end.mtc has the SVs leaked at line $busy_line");
    # (On a loaded machine the timer may close iteration 0 while the
    # program is still loading its modules: those records are the
    # program's. None may be the tool's.)
    is_deeply([ map { "$_->{file} line $_->{line}" } grep { $_->{file} =~ m{Devel/MemTrace\.pm\z} } @$records ], [],
        '... and no live record made after iteration 0 in Devel/MemTrace.pm');
    my ($last) = sort { ($b =~ /(\d+)/)[0] <=> ($a =~ /(\d+)/)[0] } grep { /\As\./ } @written;
    $records = eval { JSON::PP->new->decode(memtrace('leaks', '--min-age', '0', '--json', "$dir/$last")->{stdout}) } || [];
    ok(scalar @$records, "$last, written from the signal handler, has live records");
    is_deeply([ map { "$_->{file} line $_->{line}" } grep { $_->{file} =~ m{Devel/MemTrace\.pm\z} } @$records ], [],
        '... none in Devel/MemTrace.pm');
}

# ---------------------------------------------------------------------------
# -dump_at_END into a directory that is not there: one line of warning, and
# the program's exit status is its own.

$run = run_perl('-MDevel::MemTrace=-dump_at_END=/nonexistent-memtrace-dir/x.mtc', '-e', 'exit 3');
is($run->{exit}, 3, '-dump_at_END=/nonexistent/x.mtc: the exit status is the program\'s');
like($run->{stderr}, qr{\ADevel::MemTrace: -dump_at_END: Devel::MemTrace::dump: cannot write /nonexistent-memtrace-dir/x\.mtc: [^\n]*\n\z},
    '... one line of warning naming the file');

# ---------------------------------------------------------------------------
# Malformed options: refused before the program runs, in one line naming
# the option and listing the known ones (perl adds its own line about the
# failed BEGIN).

my $KNOWN = 'known options: -iteration=Pkg::sub, -iteration_every=SECONDS, -report_at_END,'
  . ' -dump_at_END[=FILE], -dump_on=SIGNAL[:FILE], -dump_every=N[:FILE], -skip=N, -min_age=N, -all, -malloc, -stack=N, -c_frames[=N]';
my $NEEDS_SIGNAL  = 'option needs a signal name such as -dump_on=USR2:';
my $NEEDS_N       = 'option needs a whole number of iterations from 1 such as -dump_every=10:';
my $NEEDS_SECONDS = 'option needs a number of seconds from 0.001 to 86400 such as -iteration_every=10:';
my %bad = (
    '-dump_on'              => "$NEEDS_SIGNAL '-dump_on'",
    '-dump_on='             => "$NEEDS_SIGNAL '-dump_on='",
    '-dump_on=usr2'         => "$NEEDS_SIGNAL '-dump_on=usr2'",
    '-dump_on=NOPE'         => "option names no signal this system has (NOPE): '-dump_on=NOPE'",
    '-dump_on=KILL'         => "option takes a signal the program does not use itself (USR1, USR2, ...), not KILL: '-dump_on=KILL'",
    '-dump_on=SIGALRM'      => "option takes a signal the program does not use itself (USR1, USR2, ...), not ALRM: '-dump_on=SIGALRM'",
    '-dump_every'           => "$NEEDS_N '-dump_every'",
    '-dump_every=0'         => "$NEEDS_N '-dump_every=0'",
    '-dump_every=x'         => "$NEEDS_N '-dump_every=x'",
    '-dump_every=-3'        => "$NEEDS_N '-dump_every=-3'",
    '-iteration_every'      => "$NEEDS_SECONDS '-iteration_every'",
    '-iteration_every=0'    => "$NEEDS_SECONDS '-iteration_every=0'",
    '-iteration_every=abc'  => "$NEEDS_SECONDS '-iteration_every=abc'",
    '-iteration_every=86401' => "$NEEDS_SECONDS '-iteration_every=86401'",
    '-dump_at_END='         => "option needs a file name after =, or none: '-dump_at_END='",
);
for my $option (sort keys %bad) {
    my $message = "Devel::MemTrace: $bad{$option}; $KNOWN";
    my $run = run_perl("-MDevel::MemTrace=$option", '-e', 'print "ran\n"');
    isnt($run->{exit}, 0, "$option: refused (exit $run->{exit})");
    is($run->{stdout}, '', "$option: the program does not run");
    is($run->{stderr}, "$message\nBEGIN failed--compilation aborted.\n",
        "$option: one line, then perl's own")
        or diag $run->{stderr};
}

# The same through use: the die is exactly the one line.
require Devel::MemTrace;
for my $option (sort keys %bad) {
    my $ok = eval { Devel::MemTrace->import($option); 1 };
    is($@, "Devel::MemTrace: $bad{$option}; $KNOWN\n", "import('$option') dies with the one line");
}

# perldoc Devel::MemTrace documents each of these options where it lists
# the import options (its IMPORT OPTIONS say any option not listed dies).
my $pod = slurp($INC{'Devel/MemTrace.pm'});
my ($import_options) = $pod =~ /^=head1 IMPORT OPTIONS\n(.*?)^=head1 /ms;
for my $option (qw(-dump_at_END -dump_on -dump_every -iteration_every)) {
    ok(($import_options // '') =~ /^=item \Q$option\E\b/m,
        "the POD's IMPORT OPTIONS has an =item for $option");
}

done_testing;
