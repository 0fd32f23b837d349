# checkpoint(): iterations numbered from 0, deltas that are differences,
# and SV counts by type and by class.
use strict;
use warnings;
use Test::More;

use Devel::MemTrace qw(checkpoint arena_counts);

my $CLASS = 'MemTrace::Test::Widget';

my @checkpoints = map { checkpoint() } 1 .. 3;
is_deeply([ map { $_->{iteration} } @checkpoints ], [ 0, 1, 2 ],
    'checkpoints close iterations 0, 1, 2');
is(Devel::MemTrace::current_iteration(), 3, 'iteration 3 is now running');

my @keys = qw(iteration svs svs_delta by_type mem_live mem_bytes mem_live_delta
              mem_bytes_delta sv_live new_leaks);
for my $key (@keys) {
    ok(exists $checkpoints[-1]{$key}, "checkpoint has '$key'");
}

my ($before, $after) = @checkpoints[ 1, 2 ];
cmp_ok($after->{svs}, '>', 100, 'a running perl has live SVs');
is($after->{svs_delta}, $after->{svs} - $before->{svs}, 'svs_delta is the difference of svs');
is($after->{mem_live_delta}, $after->{mem_live} - $before->{mem_live},
    'mem_live_delta is the difference of mem_live');
is($after->{mem_bytes_delta}, $after->{mem_bytes} - $before->{mem_bytes},
    'mem_bytes_delta is the difference of mem_bytes');
cmp_ok($after->{mem_live}, '>', 0, 'there are live logged allocations');
cmp_ok($after->{sv_live}, '>', 0, 'the recorder counts live SVs');

my $by_type = $after->{by_type};
for my $type (qw(HASH ARRAY CODE)) {
    cmp_ok($by_type->{$type} || 0, '>', 0, "by_type counts $type SVs");
}
ok(!exists $by_type->{$CLASS}, "no $CLASS object yet");

# N new objects, and 1000 new SVs that stay alive.
my @widgets = map { bless { id => $_ }, $CLASS } 1 .. 7;
my @kept    = map { "string $_" } 1 .. 1000;
my $with_widgets = checkpoint();
is($with_widgets->{by_type}{$CLASS}, 7, "by_type counts the 7 $CLASS objects");
is(arena_counts()->{$CLASS}, 7, 'arena_counts() counts them too');
cmp_ok($with_widgets->{svs_delta}, '>=', 1000 + 7,
    'svs_delta grew by at least the SVs kept');

@widgets = ();
@kept    = ();
my $without = checkpoint();
ok(!$without->{by_type}{$CLASS}, "the $CLASS objects are gone once freed");
cmp_ok($without->{svs_delta}, '<', -900, 'and svs_delta shows them freed');

my $counts = arena_counts();
is(ref $counts, 'HASH', 'arena_counts() is a hashref');
cmp_ok($counts->{CODE} || 0, '>', 0, 'it counts CODE SVs');

my $history = Devel::MemTrace::history();
is(scalar @$history, 5, 'history() has one entry per checkpoint');
is_deeply([ map { $_->{iteration} } @$history ], [ 0 .. 4 ], '... in order');
is($history->[2]{svs}, $checkpoints[2]{svs}, '... with what each checkpoint returned');
ok(!exists $history->[2]{by_type}, '... without by_type');

# In void context checkpoint() skips the walk of the SV arenas (nobody reads
# by_type) and takes perl's own count of live SVs: the same number the walk
# of the next checkpoint, at the same point of the same call, counts.
{
    my @more = map { [$_] } 1 .. 500;
    my $walked;
    checkpoint();
    $walked = checkpoint();
    my $void = Devel::MemTrace::history()->[-2];
    is($void->{iteration}, 5, 'a checkpoint in void context closes an iteration too');
    is($void->{svs}, $walked->{svs}, '... and counts the live SVs the arena walk counts');
    is($walked->{svs_delta}, 0, '... so the next delta is 0');
    @more = ();
    checkpoint();
    $walked = checkpoint();
    is(Devel::MemTrace::history()->[-2]{svs}, $walked->{svs}, '... also after SVs were freed');
    cmp_ok(Devel::MemTrace::history()->[-2]{svs_delta}, '<', -900, '... which its delta shows');
}

done_testing;
