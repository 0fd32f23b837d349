# The leak rule: an allocation made in iteration i >= 1 + skip is a leak
# once it has stayed live through min_age checkpoints after the one that
# closed iteration i.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line);

use Devel::MemTrace qw(checkpoint leaks);

our (@made_in_1, @made_in_2);

# How many HASH leaks leaks(%opts) finds at a line of this file.
sub hashes_at {
    my ($line, %opts) = @_;
    return scalar grep {
        $_->{file} eq __FILE__ && $_->{line} == $line
          && $_->{kind} eq 'sv' && $_->{type} eq 'HASH'
    } @{ leaks(%opts) };
}

my $line1 = marked_line('made in 1');
my $line2 = marked_line('made in 2');

is(checkpoint()->{iteration}, 0, 'iteration 0 closed');

push @made_in_1, { iteration => 1 };    # LINE: made in 1
is(checkpoint()->{iteration}, 1, 'iteration 1 closed');
is(hashes_at($line1), 0, 'made in iteration 1, no later checkpoint yet: not a leak');
is(hashes_at($line1, min_age => 0), 1, '... but it is with min_age 0');

push @made_in_2, { iteration => 2 };    # LINE: made in 2
checkpoint();                           # closes 2: one checkpoint after iteration 1
is(hashes_at($line1), 0, 'after 1 later checkpoint: not a leak (min_age 2)');
is(hashes_at($line1, min_age => 1), 1, '... a leak with min_age 1');

my $closing_3 = checkpoint();           # two checkpoints after iteration 1
my $from_1 = grep { $_->{iteration} == 1 } @{ leaks() };
is(hashes_at($line1), 1, 'after 2 later checkpoints: a leak (min_age 2)');
is(hashes_at($line1, min_age => 3), 0, '... not yet with min_age 3');
is(hashes_at($line1, skip => 1), 0, '... not with skip 1: iteration 1 is warm-up');
is(hashes_at($line2), 0, 'made in iteration 2, 1 later checkpoint: not a leak yet');
cmp_ok($closing_3->{new_leaks}, '>=', 1, "that checkpoint's new_leaks counts it");
is($closing_3->{new_leaks}, $from_1, '... and every other leak of iteration 1, as leaks() lists them');

checkpoint();                           # closes 4: two checkpoints after iteration 2
is(hashes_at($line2), 1, 'made in iteration 2, 2 later checkpoints: a leak');
is(hashes_at($line2, skip => 1), 1, '... also with skip 1');
is(hashes_at($line2, skip => 2), 0, '... not with skip 2');
is(hashes_at($line1), 1, 'the one from iteration 1 still is');

# Freed leaks are leaks no more.
@made_in_1 = ();
is(hashes_at($line1), 0, 'once freed, it is not a leak');
is(hashes_at($line2), 1, 'the other one still is');

my $a_leak = (grep { $_->{line} == $line2 && $_->{type} eq 'HASH' } @{ leaks() })[0];
is($a_leak->{iteration}, 2, 'a leak record knows its iteration');
is($a_leak->{sub}, 'main::RUNTIME', 'file-level code runs in main::RUNTIME');

done_testing;
