# A prefork server: a parent traced with -dump_at_END=DIR/w.%p.mtc forks
# three workers, each of which runs its own loop of iterations, leaks, and
# exits normally. Every process writes its own capture, named by its pid;
# memtrace report merges the workers' captures site by site. A name
# without %p gets the child's pid added in the child only.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky run_perl write_script repo_root slurp);

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
-f $MEMTRACE && -x _
  or plan skip_all => "the memtrace program is not built ($MEMTRACE; cargo build --release,"
  . " or set MEMTRACE_BIN)";

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

# ---------------------------------------------------------------------------
# Three workers, eight iterations each.

my $ITERATIONS = 8;
my $server = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;

our @Global;
my @pids;
for my $worker (1 .. 3) {
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        for my $i (1 .. 8) {
            Leaky::leak_sv();        # LINE: worker_xs
            push @Global, {};        # LINE: worker_perl
            Devel::MemTrace::checkpoint();
        }
        exit 0;                      # END blocks run: the capture is written
    }
    push @pids, $pid;
}
for my $pid (@pids) {
    waitpid $pid, 0;
    $? == 0 or die "worker $pid failed: $?\n";
}
print "parent $$\n";
print "worker $_\n" for @pids;
PERL
my $xs_line   = marked_line('worker_xs', $server);
my $perl_line = marked_line('worker_perl', $server);

my $dir = File::Temp->newdir('memtrace-prefork-XXXXXX', TMPDIR => 1);
my $run = run_perl("-MDevel::MemTrace=-dump_at_END=$dir/w.%p.mtc", $server);
is($run->{exit}, 0, 'a parent forks 3 workers under -dump_at_END=DIR/w.%p.mtc')
    or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
my ($parent)  = $run->{stdout} =~ /^parent (\d+)$/m;
my @workers   = $run->{stdout} =~ /^worker (\d+)$/mg;
is(scalar @workers, 3, '... 3 workers ran');
$parent //= 0;

is_deeply([ files_in($dir) ], [ sort map { "w.$_.mtc" } $parent, @workers ],
    '4 captures: one per worker and the parent\'s own at its END, each named by its pid');

my @worker_files = map { "$dir/w.$_.mtc" } @workers;

# One worker on its own.
my $one = memtrace('report', $worker_files[0]);
is($one->{exit}, 0, 'memtrace report of one worker\'s capture') or diag $one->{stderr};
like($one->{stdout}, qr/\ADevel::MemTrace report: $ITERATIONS iterations closed;/,
    "... $ITERATIONS iterations, the worker's own");
my ($one_xs)   = $one->{stdout} =~ /^  (\d+) leaked UNDEF SVs at \Q$server\E line $xs_line\n      C site: sv\.c:\d+ Perl_newSV; steady;/m;
my ($one_perl) = $one->{stdout} =~ /^  (\d+) leaked SVs \(\d+ HASH, \d+ REF\) at \Q$server\E line $perl_line\n      C site: \S+ Perl_newSV_type; steady;/m;
# Iterations 1 .. 8 - 1 - min_age 2 are judged: 5 of them, one UNDEF each,
# and a HASH and its REF each.
is($one_xs, $ITERATIONS - 3, "... the UNDEF SVs of Leaky::leak_sv() at line $xs_line: one per judged iteration")
    or diag $one->{stdout};
is($one_perl, 2 * ($ITERATIONS - 3), "... the HASHes and REFs of push \@Global, {} at line $perl_line: two per judged iteration");

# The three workers merged.
my $merged = memtrace('report', @worker_files);
is($merged->{exit}, 0, 'memtrace report of the 3 workers\' captures') or diag $merged->{stderr};
my $text = $merged->{stdout};
my ($heading) = split /\n/, $text;
like($heading, qr/\ADevel::MemTrace report: 3 captures of \Q$server\E \(pids (\d+), (\d+), (\d+)\); $ITERATIONS iterations closed; a leak is /,
    '... one heading: 3 captures of the program, their pids')
    or diag $text;
my ($pids) = $heading =~ /\(pids ([\d, ]+)\)/;
is_deeply([ sort { $a <=> $b } split /, /, $pids // '' ], [ sort { $a <=> $b } @workers ],
    '... the workers\' pids, not the parent\'s');
for my $i (0 .. 2) {
    like($text, qr/^capture \Q$worker_files[$i]\E \(pid $workers[$i]\):\n  iteration 0: /m,
        "... the iteration lines of worker $workers[$i]");
}
is(scalar(() = $text =~ /^  iteration \d+: /mg), 3 * $ITERATIONS, "... $ITERATIONS iteration lines each");
my ($all_xs, $all_perl) = (3 * ($one_xs // 0), 3 * ($one_perl // 0));
like($text, qr/^  $all_xs leaked UNDEF SVs at \Q$server\E line $xs_line\n      C site: sv\.c:\d+ Perl_newSV; steady; per iteration: (?:3 ){4}3; \d+ bytes/m,
    "... the leak at line $xs_line is one site, 3 times one worker's count, 3 per iteration");
like($text, qr/^  $all_perl leaked SVs \(\d+ HASH, \d+ REF\) at \Q$server\E line $perl_line\n/m,
    "... the leak at line $perl_line is one site, 3 times one worker's count");
is(scalar(() = $text =~ /^  \d+ leaked /mg), 2, '... and nothing else leaks');

my $json = memtrace('report', '--json', @worker_files);
my $data = eval { JSON::PP->new->decode($json->{stdout}) } || {};
is_deeply([ sort { $a <=> $b } map { $_->{pid} } @{ $data->{captures} || [] } ], [ sort { $a <=> $b } @workers ],
    'report --json: the 3 captures and their pids');
my ($site) = grep { $_->{line} == $xs_line } @{ $data->{sites} || [] };
is($site && $site->{count}, 3 * ($one_xs // 0), "... the site at line $xs_line counts all three workers");

# The parent closed no iteration: its capture says so.
my $p = memtrace('report', "$dir/w.$parent.mtc");
is($p->{exit}, 0, 'the parent\'s capture reads');
like($p->{stdout}, qr/\ADevel::MemTrace report: 0 iterations closed; [^\n]*\nno iteration closed yet: call Devel::MemTrace::checkpoint\(\) at the end of each iteration, or run with -MDevel::MemTrace=-iteration=Pkg::sub\n\z/,
    '... no iteration closed in the parent')
    or diag $p->{stdout};

# ---------------------------------------------------------------------------
# A name without %p: the parent keeps it, a forked child adds its pid.

my $forker = write_script(<<'PERL');
use strict;
use warnings;
my $pid = fork;
die "cannot fork: $!\n" unless defined $pid;
if ($pid == 0) {
    Devel::MemTrace::checkpoint() for 1 .. 2;
    exit 0;
}
waitpid $pid, 0;
print "parent $$\nchild $pid\n";
PERL

for my $case ([ 'fixed.mtc', 'fixed.mtc', 'fixed.%s.mtc' ], [ 'fixed', 'fixed', 'fixed.%s' ]) {
    my ($name, $parent_file, $child_pattern) = @$case;
    my $fixed = File::Temp->newdir('memtrace-fixed-XXXXXX', TMPDIR => 1);
    $run = run_perl("-MDevel::MemTrace=-dump_at_END=$fixed/$name", $forker);
    is($run->{exit}, 0, "-dump_at_END=DIR/$name, a forked child: runs") or diag $run->{stderr};
    is($run->{stderr}, '', '... quietly');
    my ($parent_pid) = $run->{stdout} =~ /^parent (\d+)$/m;
    my ($child_pid)  = $run->{stdout} =~ /^child (\d+)$/m;
    my $child_file = sprintf $child_pattern, $child_pid // 'PID';
    is_deeply([ files_in($fixed) ], [ sort $parent_file, $child_file ],
        "... the parent writes $parent_file, the child $child_file");
    my $r = memtrace('report', "$fixed/$child_file");
    like($r->{stdout}, qr/\ADevel::MemTrace report: 2 iterations closed;/, "... the child's capture has its 2 iterations");
    my $j = memtrace('report', '--json', "$fixed/$child_file", "$fixed/$parent_file");
    my $d = eval { JSON::PP->new->decode($j->{stdout}) } || {};
    is_deeply([ map { $_->{pid} } @{ $d->{captures} || [] } ], [ $child_pid, $parent_pid ],
        '... each capture knows its own pid');
}

# ---------------------------------------------------------------------------
# -iteration_every in a forked worker: the timer runs there too.

my $timed = write_script(<<'PERL');
use strict;
use warnings;
use Time::HiRes qw(time);
sub busy { my $until = time + shift; my $n = 0; $n++ while time < $until; return $n }
busy(0.2);
my $pid = fork;
die "cannot fork: $!\n" unless defined $pid;
if ($pid == 0) {
    my $before = Devel::MemTrace::current_iteration();
    busy(0.3);
    print "child $before ", Devel::MemTrace::current_iteration(), "\n";
    exit 0;
}
waitpid $pid, 0;
print "parent ", Devel::MemTrace::current_iteration(), "\n";
PERL
$run = run_perl('-MDevel::MemTrace=-iteration_every=0.05', $timed);
is($run->{exit}, 0, '-iteration_every=0.05, a forked worker busy for 0.3 s') or diag $run->{stderr};
my ($before, $after) = $run->{stdout} =~ /^child (\d+) (\d+)$/m;
ok(defined $after && $after - $before >= 3,
    "... the worker's own timer closes its iterations (" . ($before // '?') . ' -> ' . ($after // '?') . ')');

done_testing;
