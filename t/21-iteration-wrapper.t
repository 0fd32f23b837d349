# The -iteration wrapper: ends one iteration per outermost return (also by
# die), and keeps the calling context, @_ aliasing and the prototype.
use strict;
use warnings;
use Test::More;

use Devel::MemTrace ();

my @contexts;

sub work($;$);
sub work($;$) {
    push @contexts, wantarray ? 'list' : defined wantarray ? 'scalar' : 'void';
    $_[0] .= '+';                          # @_ aliases the caller's variable
    die "asked to die\n" if $_[1] && $_[1] eq 'die';
    work($_[0], 'inner') if $_[1] && $_[1] eq 'recurse';
    return wantarray ? (1, 2, 3) : 'one';
}

Devel::MemTrace->import('-iteration=main::work');    # exists: wrapped at once
Devel::MemTrace->import('-iteration=main::work');    # twice is once

is(prototype(\&work), '$;$', 'the prototype is kept');

my $iteration = Devel::MemTrace::current_iteration();
my $x = 'x';

my @list = work($x);
is_deeply(\@list, [ 1, 2, 3 ], 'list context reaches the sub');
my $scalar = work($x);
is($scalar, 'one', 'scalar context reaches the sub');
work($x);
is_deeply(\@contexts, [qw(list scalar void)], '... and void context');
is($x, 'x+++', '@_ still aliases the arguments');
is(Devel::MemTrace::current_iteration(), $iteration + 3, 'each return ended an iteration');

my $ok = eval { work($x, 'die'); 1 };
ok(!$ok, 'the sub died');
is($@, "asked to die\n", '... with its own error');
is(Devel::MemTrace::current_iteration(), $iteration + 4, '... and still ended an iteration');

work($x, 'recurse');
is(Devel::MemTrace::current_iteration(), $iteration + 5,
    'a recursive call ends one iteration, at the outermost return');

my $history = Devel::MemTrace::history();
is(scalar @$history, $iteration + 5, 'the iterations are in the history');

done_testing;
