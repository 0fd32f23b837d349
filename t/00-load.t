# Loading Devel::MemTrace: it loads into the MemTrace perl, starts
# recording, exports on request, and refuses bad import lists.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line run_perl);

use Devel::MemTrace qw(checkpoint leaks leak_sites report arena_counts
                       pause resume is_recording);

ok(Devel::MemTrace::_is_memtrace_perl(),
    "this perl ($^X) routes its PERL_MEM_LOG hooks to the recorder");
ok(is_recording(), 'recording is on once the module is loaded');
is($Devel::MemTrace::VERSION, '0.01', 'version');

for my $name (qw(checkpoint leaks leak_sites report arena_counts pause
                 resume is_recording)) {
    is(\&{"main::$name"}, \&{"Devel::MemTrace::$name"}, "$name is exported on request");
}
ok(!defined &main::history, 'nothing else is exported');

my $ok = eval { Devel::MemTrace->import('no_such_function'); 1 };
ok(!$ok, 'importing an unknown name dies');
like($@, qr/\ADevel::MemTrace: 'no_such_function' is not exported; exportable: checkpoint /,
    '... naming it and listing what is exportable');
is(($@ =~ tr/\n//), 1, '... in one line');

# Recording is on: what this file makes now is recorded, with its line.
my $made = [ 1 .. 3 ];                                   # LINE: made
my ($what) = Devel::MemTrace::identify(0 + $made);
like($what->{text},
    qr/^0x[0-9a-f]+: ARRAY SV of \d+ bytes made at \Q${\ __FILE__}\E line ${\ marked_line('made')} \(C site [^)]+\) in iteration 0; not a leak: made in iteration 0 \(start-up, before the first checkpoint\); held by: my \$made \(file level\)$/,
    'an array made after loading is recorded at its line, in iteration 0, held by its variable');

# The recorder's counters follow what the program keeps.
my $before = Devel::MemTrace::stats();
is($before->{iteration}, 0, 'stats: iteration 0 before the first checkpoint');
my @kept = map { { n => $_ } } 1 .. 1000;
my $after = Devel::MemTrace::stats();
cmp_ok($after->{sv_live} - $before->{sv_live}, '>=', 3000,
    'stats: 1000 hashes kept, each with its reference and value, add at least 3000 live SVs');
cmp_ok($after->{mem_live} - $before->{mem_live}, '>=', 1000,
    '... and at least 1000 live allocations (their bucket arrays)');
cmp_ok($after->{new_svs} - $before->{new_svs}, '>=', 3000, '... seen as new SVs');
@kept = ();
my $freed = Devel::MemTrace::stats();
cmp_ok($freed->{del_svs} - $after->{del_svs}, '>=', 3000, '... and their frees as freed SVs');

# Loading the module leaves $!, $@ and $? as loading any module does: a
# program that dies at once still exits 255, not errno.
my $run = run_perl('-MDevel::MemTrace', '-e', 'die "x\n"');
is($run->{exit}, 255, 'perl -MDevel::MemTrace -e \'die "x\\n"\' exits 255');
is($run->{stderr}, "x\n", '... with its own message only');
$run = run_perl('-MDevel::MemTrace', '-e', 'print $! + 0, "|$@|$?"');
is($run->{stdout}, '0||0', 'perl -MDevel::MemTrace -e \'print $!+0\' prints 0 ($@ and $? empty)');
$run = run_perl('-MDevel::MemTrace=-iteration=main::f,-report_at_END,-dump_on=USR2,-iteration_every=60',
    '-e', 'sub f { 1 } print $! + 0, "|$@|$?"; die "x\n"');
is($run->{stdout}, '0||0', '... with options too (and after INIT)');
is($run->{exit}, 255, '... and dies with 255');
$run = run_perl('-e', '$? = 768; $! = 5; require Devel::MemTrace; print $?, "|", $! + 0');
is($run->{stdout}, '768|0', '$? is kept; $! is 0, as perl leaves it after any require');

done_testing;
