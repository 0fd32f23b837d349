# The recorder's memory follows what is live, not how long the program
# runs: a checkpoint per request for ever, or a string eval per request,
# must not grow the process. (Before: 96 bytes per checkpoint, and history()
# of a million checkpoints took 2.4 GB; one Perl site per "(eval N)".)
use strict;
use warnings;
use Test::More;

use Devel::MemTrace qw(checkpoint history stats);

sub rss_mb {
    open my $statm, '<', '/proc/self/statm' or return undef;
    my (undef, $resident) = split ' ', scalar <$statm>;
    return $resident * 4096 / 1e6;
}

plan skip_all => 'no /proc/self/statm here' unless defined rss_mb();

checkpoint() for 1 .. 5000;
my $before = rss_mb();
checkpoint() for 1 .. 300_000;
my $grew = rss_mb() - $before;
cmp_ok($grew, '<', 3, '300,000 more checkpoints grow the process by less than 3 MB')
    or diag sprintf '%.1f MB', $grew;

my $history = history();
cmp_ok(scalar @$history, '<=', 8192, 'history() keeps at most 8192 snapshots');
is($history->[0]{iteration}, 0, '... from iteration 0');
my @recent = @$history[ -4096 .. -1 ];
is($recent[-1]{iteration}, Devel::MemTrace::current_iteration() - 1, '... to the latest');
ok(!grep({ $recent[$_]{iteration} != $recent[$_ - 1]{iteration} + 1 } 1 .. $#recent),
    '... the latest 4096 of them one per iteration');
my @iterations = map { $_->{iteration} } @$history;
ok(!grep({ $iterations[$_] <= $iterations[$_ - 1] } 1 .. $#iterations), '... in order');

my $report = Devel::MemTrace::report();
like($report, qr/^Devel::MemTrace report: 305000 iterations closed;/, 'the report counts every closed iteration');
like($report, qr/^\.\.\. \(\d+ iterations not shown\)$/m, '... and says what it leaves out');

# String evals: perl names each "(eval N)"; all of them are one file.
# Called from a sub, so that their allocations have call stacks too.
my ($sites_before, $stacks_before) = @{ stats() }{qw(perl_sites stacks)};
$before = rss_mb();
sub evals {
    for my $i (1 .. 20_000) {
        my $sum = eval "my \@a = map { [\$_] } 1 .. 50; $i + scalar \@a";    # LINE: eval
        die $@ unless defined $sum;
    }
}
evals();
checkpoint();
my ($sites_after, $stacks_after) = @{ stats() }{qw(perl_sites stacks)};
cmp_ok($sites_after - $sites_before, '<', 10, '20,000 string evals add a handful of Perl sites, not one each')
    or diag $sites_after - $sites_before;
cmp_ok($stacks_after - $stacks_before, '<', 20, '... and a handful of call stacks')
    or diag $stacks_after - $stacks_before;
$grew = rss_mb() - $before;
cmp_ok($grew, '<', 3, '... and grow the process by less than 3 MB') or diag sprintf '%.1f MB', $grew;

# A leak inside string evals is still found, at "(eval)" and its line.
our @kept;
checkpoint();
for my $i (1 .. 5) {
    eval "push \@main::kept, [$i];\n1" or die $@;
    checkpoint();
}
my @eval_sites = grep { $_->{file} eq '(eval)' && $_->{line} == 1 } @{ Devel::MemTrace::leak_sites(status => 'all') };
ok(@eval_sites, 'a leak made by evals is reported at file "(eval)", line 1 of the eval')
    or diag explain [ map { "$_->{file}:$_->{line}" } @{ Devel::MemTrace::leak_sites(status => 'all') } ];

done_testing;
