# A leak site's file, line and sub come from one frame: the statement that
# was running and the sub it is in. While perl enters a sub (pushing its
# frame, setting up @_ and its pad), the caller's statement is still the
# current one, so what that allocates belongs to the caller's sub, not to
# the sub being entered. Mutual recursion one level deeper per iteration
# makes a new pad of each sub at each call.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line);

use Devel::MemTrace qw(checkpoint leak_sites);

sub f { my $n = shift; return g($n) }                            # LINE: f calls g
sub g { my $n = shift; return $n > 0 ? f($n - 1) : 0 }           # LINE: g calls f

checkpoint();
for my $depth (1 .. 8) {
    f($depth);
    checkpoint();
}

my %sub_at;
for my $site (grep { $_->{file} eq __FILE__ } @{ leak_sites(status => 'all') }) {
    $sub_at{ $site->{line} }{ $site->{sub} } += $site->{count};
}
my ($f_line, $g_line) = map { marked_line($_) } 'f calls g', 'g calls f';
ok($sub_at{$f_line}, "the new pads of g are leaks at line $f_line") or diag explain \%sub_at;
is_deeply([ sort keys %{ $sub_at{$f_line} || {} } ], ['main::f'],
    "... in main::f, the sub that line is in (not main::g, the sub being entered)");
is_deeply([ sort keys %{ $sub_at{$g_line} || {} } ], ['main::g'], "line $g_line is in main::g");

done_testing;
