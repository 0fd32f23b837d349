# A leak that recurs every Nth iteration grows for ever, like a steady one:
# it must never be called "stopped" between two of its leaks, and the
# report says its rhythm. A cache that filled during warm-up and went quiet
# for longer than it ever paused is stopped.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

use Devel::MemTrace qw(checkpoint leak_sites report);

our (@every_fifth, @every_seventh, %cache);

checkpoint();                                            # iteration 0
for my $i (1 .. 52) {
    push @every_fifth, {} if $i % 5 == 0;                # LINE: fifth
    push @every_seventh, [] if $i % 7 == 3;              # LINE: seventh
    $cache{$i} = [$i] if $i <= 3;                        # LINE: cache
    checkpoint();
}
# 53 closed; eligible (min_age 2): iterations 1 .. 50. The last fifth-
# iteration leak was made in iteration 50, the last seventh in 45: quiet
# for 5 judged iterations, less than its rhythm.

my $sites = leak_sites();
my $site_at = sub {
    my ($marker) = @_;
    my @s = sites_at($sites, file => __FILE__, line => marked_line($marker), kind => 'sv');
    is(scalar @s, 1, "one SV site at the '$marker' line") or diag explain $sites;
    return $s[0] || {};
};

my $fifth = $site_at->('fifth');
is($fifth->{status}, 'intermittent', 'a leak every 5th iteration is ongoing, not stopped');
is($fifth->{period}, 5, '... leaking every 5 iterations');
is($fifth->{count}, 20, '... 10 leaked hashes, each with its reference, in iterations 1 to 50');
is_deeply($fifth->{types}, { HASH => 10, REF => 10 }, '... a HASH and a REF each time');

my $seventh = $site_at->('seventh');
is($seventh->{status}, 'intermittent',
    'a leak every 7th iteration, quiet for the last 5 judged iterations, is ongoing');
is($seventh->{period}, 7, '... every 7 iterations');

my $cache = $site_at->('cache');
is($cache->{status}, 'stopped', 'a cache filled in iterations 1-3, quiet since: stopped');
is($cache->{period}, undef, '... with no rhythm');

my $report = report();
my $fifth_line = marked_line('fifth');
like($report,
    qr/ at \Q${\__FILE__}\E line $fifth_line\n      C site: \S+ \S+; intermittent, every 5 iterations; per iteration \(last 15 of 50\): 0 0 0 0 2 0 0 0 0 2 0 0 0 0 2;/,
    'the report says the rhythm of the periodic leak')
    or diag $report;
like($report, qr/^leak sites: 2 ongoing \(0 steady, 2 intermittent\), \d+ stopped$/m,
    'the summary counts both periodic leaks as ongoing')
    or diag $report;

done_testing;
