# Each status of a leak site, from the code a user would write: a leak in
# every iteration is steady, one every other iteration is intermittent, and
# one that was retained only in the latest judged iteration is not called
# steady yet; the default report lists the ongoing ones only.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

use Devel::MemTrace qw(checkpoint leak_sites report);

our (@every, @every_other, %late);

checkpoint();                                            # iteration 0
for my $i (1 .. 10) {
    push @every, [$i];                                   # LINE: each
    push @every_other, [$i] if $i % 2;                   # LINE: alternate
    $late{late} //= [$i] if $i == 8;                     # LINE: late
    checkpoint();
}
# Eligible (min_age 2): iterations 1 .. 8.

my $sites = leak_sites();
my $status_at = sub {
    my ($marker) = @_;
    my @s = sites_at($sites, file => __FILE__, line => marked_line($marker), kind => 'sv');
    return join ',', sort map { $_->{status} } @s;
};

is($status_at->('each'), 'steady', 'a leak in every iteration is steady');
is($status_at->('alternate'), 'intermittent', 'a leak every other iteration is intermittent');
is($status_at->('late'), 'intermittent', 'retained once, in the latest judged iteration: not steady yet');

my $report = report();
for my $marker (qw(each alternate late)) {
    my $line = marked_line($marker);
    like($report, qr/ at \Q${\__FILE__}\E line $line\n/, "the default report lists the ongoing site at line $line")
        or diag $report;
}

done_testing;
