# report() when there is nothing to report: no iteration yet, too few
# iterations, and a clean program. Each runs in its own perl, so that
# nothing but the program itself is recorded.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(run_perl write_script);

my $clean = write_script(<<'PERL');
use strict;
use warnings;
use Devel::MemTrace qw(checkpoint report);

my $iterations = shift;
print report() unless $iterations;
for my $i (1 .. $iterations) {
    my $rows = [ map { { id => $_, name => "row $_" } } 1 .. 100 ];
    my $total = 0;
    $total += $_->{id} for @$rows;
    checkpoint();
}
print report();
PERL

my $run = run_perl($clean, 0);
is($run->{exit}, 0, 'report() before any checkpoint');
like($run->{stdout}, qr/^no iteration closed yet: call Devel::MemTrace::checkpoint\(\) at the end of each iteration, or run with -MDevel::MemTrace=-iteration=Pkg::sub$/m,
    '... says how to close iterations');

$run = run_perl($clean, 3);
like($run->{stdout}, qr/^too few iterations to find leaks: 3 closed, a leak needs at least 4 \(skip 0, min_age 2\)$/m,
    'report() after 3 checkpoints: too few to find leaks')
    or diag $run->{stdout}, $run->{stderr};

$run = run_perl($clean, 8);
is($run->{exit}, 0, 'a clean loop of 8 iterations');
my $report = $run->{stdout};
like($report, qr/\ADevel::MemTrace report: 8 iterations closed; a leak is an allocation made in iteration 1 or later that stayed live through 2 later checkpoints\n/,
    '... the heading states the rule');
like($report, qr/^iteration 0: SVs \d+, allocations \d+, \d+ bytes, RSS \d+\.\d MB$/m, '... iteration 0 without changes, with the RSS');
for my $i (1 .. 7) {
    like($report, qr/^iteration $i: SVs \d+ \([-+]\d+\), allocations \d+ \([-+]\d+\), \d+ bytes \([-+]\d+\), new leaks \d+, RSS \d+\.\d MB \([-+]\d+(?:\.\d KB| bytes)\)$/m,
        "... iteration $i with its changes, RSS too");
}
like($report, qr/^no leaks: nothing allocated after warm-up \(iteration 0\) stayed live through 2 later checkpoints$/m,
    '... and no leaks')
    or diag $report;

done_testing;
