# Perl-level leaks found at their exact lines: a reference cycle leaks in
# every iteration (steady); transient work is clean; a cache that fills in
# the first iterations and then stops growing is 'stopped', and the default
# report leaves it out.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

use Devel::MemTrace qw(checkpoint leak_sites report);

my $ITERATIONS = 10;
my %Cache;

sub make_cycle {
    my ($id) = @_;
    my $node = { id => $id, name => "node $id" }; $node->{self} = $node;  # LINE: cycle
    return;
}

sub transient_work {                                   # LINE: transient-first
    my ($n) = @_;
    my $rows = [ map { { id => $_, name => "row $_", tags => [ $_ % 3, $_ % 5 ] } } 1 .. 200 ];
    my %by_tag;
    push @{ $by_tag{ $_->{tags}[0] } }, $_ for @$rows;
    my $text = join ',', map { "$_=" . scalar @{ $by_tag{$_} } } sort keys %by_tag;
    my $copy = { %by_tag };
    return length($text) + keys %$copy;
}                                                      # LINE: transient-last

sub cached_lookup {
    my ($key) = @_;
    return $Cache{$key} //= { key => $key, value => "value of $key" };  # LINE: cache
}

sub one_iteration {
    my ($i) = @_;
    make_cycle($i);
    my $total = transient_work($i);
    # The cache sees keys 1..2 in iteration 1, 1..4 in iteration 2, then
    # no new key.
    cached_lookup($_) for 1 .. ($i < 3 ? 2 * $i : 4);
    return $total;
}

# Warm-up, as iteration 0: what the first run keeps for good (pads, the
# hash of the cache) is not a leak.
one_iteration(0);
checkpoint();
for my $i (1 .. $ITERATIONS) {
    one_iteration($i);
    checkpoint();
}

my $sites = leak_sites();
my $file  = __FILE__;

# The reference cycle: each iteration leaks its hash (and what it holds).
my $cycle_line = marked_line('cycle');
my @cycle = sites_at($sites, file => $file, line => $cycle_line, kind => 'sv');
ok(@cycle, "the cycle leaks SVs at $file line $cycle_line")
    or diag explain $sites;
my ($hash_site) = grep { $_->{types}{HASH} } @cycle;
ok($hash_site, '... one of its sites leaks HASH SVs')
    or diag explain \@cycle;
{
    my @wrong_sub = grep { $_->{sub} ne 'main::make_cycle' }
                    sites_at($sites, file => $file, line => $cycle_line);
    is_deeply(\@wrong_sub, [], "every site at the cycle's line names main::make_cycle")
        or diag explain \@wrong_sub;
}
SKIP: {
    skip 'no HASH site', 5 unless $hash_site;
    is($hash_site->{sub}, 'main::make_cycle', '... in main::make_cycle');
    is($hash_site->{status}, 'steady', '... steadily');
    is($hash_site->{first_iteration}, 1, '... from iteration 1');
    # iterations 1 .. ITERATIONS - min_age are eligible
    my @per = @{ $hash_site->{per_iteration} };
    is(scalar @per, $ITERATIONS - 2, '... counted in each eligible iteration')
        or diag explain $hash_site;
    ok(!grep({ $_ != $per[0] || $_ < 1 } @per), '... the same number each time')
        or diag explain $hash_site;
    is($hash_site->{types}{HASH}, $ITERATIONS - 2, '... counted by type');
}

my @cycle_leaks = grep { $_->{file} eq $file && $_->{line} == $cycle_line }
                  @{ Devel::MemTrace::leaks() };
my @hashes = grep { $_->{kind} eq 'sv' && $_->{type} eq 'HASH' } @cycle_leaks;
is(scalar @hashes, $ITERATIONS - 2, 'leaks() lists each leaked HASH');
is_deeply([ map { $_->{iteration} } @hashes ], [ 1 .. $ITERATIONS - 2 ],
    '... one per iteration, in order');
my %fields = map { $_ => 1 } map { keys %$_ } @hashes;
for my $field (qw(address kind type size iteration file line sub c_file c_line c_func)) {
    ok($fields{$field}, "a leak record has '$field'");
}

# Transient work: nothing at its lines.
my @transient = sites_at($sites, file => $file,
    line => [ marked_line('transient-first'), marked_line('transient-last') ]);
is(scalar @transient, 0, 'transient work leaks nothing')
    or diag explain \@transient;

# The cache: leaked in iterations 1 and 2, then stopped.
my $cache_line = marked_line('cache');
my @cache = sites_at($sites, file => $file, line => $cache_line);
ok(@cache, "the cache's entries are found at line $cache_line")
    or diag explain $sites;
is_deeply([ grep { $_->{status} ne 'stopped' } @cache ], [],
    "... and all of its sites are 'stopped'")
    or diag explain \@cache;
is(scalar(sites_at(scalar leak_sites(status => 'ongoing'), file => $file, line => $cache_line)), 0,
    "leak_sites(status => 'ongoing') leaves the cache out");
is(scalar(sites_at(scalar leak_sites(status => 'stopped'), file => $file, line => $cache_line)),
    scalar @cache, "leak_sites(status => 'stopped') has it");
is(scalar(sites_at(scalar leak_sites(status => 'steady'), file => $file, line => $cycle_line, kind => 'sv')),
    scalar(grep { $_->{status} eq 'steady' } @cycle),
    "leak_sites(status => 'steady') has the cycle");

# The report: the cycle, not the cache, unless asked.
my $report = report();
like($report, qr/^  \d+ leaked SVs? .* at \Q$file\E line $cycle_line, in main::make_cycle$/m,
    'the report names the cycle at its line');
unlike($report, qr/ at \Q$file\E line $cache_line\b/, '... not the cache');
like($report, qr/^\d+ sites? stopped leaking .* report\(all => 1\)/m,
    '... and says how to see the stopped sites');
like($report, qr/^iteration $_: SVs \d+ \([-+]\d+\), allocations/m, "... has a line for iteration $_")
    for 1 .. $ITERATIONS;
like(report(all => 1), qr/ at \Q$file\E line $cache_line, in main::cached_lookup$/m,
    'report(all => 1) names the cache too');
note $report;

done_testing;
