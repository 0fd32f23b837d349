# The functions that take options refuse bad ones with one line that names
# the option and lists the valid ones; the functions that take none refuse
# any; good options change the answer as documented.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line);

use Devel::MemTrace ();

# Known leaks first, before any test runs, so that nothing else leaks in
# these iterations: one site of each status.
our (@every, @every_other, %late, %early);
Devel::MemTrace::checkpoint();                           # iteration 0
for my $i (1 .. 10) {
    push @every, [$i];                                   # LINE: each
    push @every_other, [$i] if $i % 2;                   # LINE: alternate
    $late{late} //= [$i] if $i == 8;                     # LINE: late
    $early{$i} = [$i] if $i <= 2;                        # LINE: early
    Devel::MemTrace::checkpoint();
}
# 11 checkpoints: iterations 0 .. 10 closed. With min_age 2, iterations
# 1 .. 8 are judged.

sub refused {
    my ($code, $pattern, $name) = @_;
    my $ok = eval { $code->(); 1 };
    ok(!$ok, "$name: refused");
    like($@, $pattern, "$name: the message")
        or return;
    like($@, qr/\A[^\n]*\n\z/, "$name: one line");
    like($@, qr/ at \Q${\ __FILE__}\E line \d+\.$/m, "$name: reported at the caller's line");
}

refused(sub { Devel::MemTrace::leaks(skp => 1) },
    qr/^Devel::MemTrace::leaks: unknown option 'skp'; valid options: skip, min_age at /,
    'leaks(skp => 1)');
refused(sub { Devel::MemTrace::leaks(skip => 'x') },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not 'x'; valid options: skip, min_age at /,
    "leaks(skip => 'x')");
refused(sub { Devel::MemTrace::leaks(min_age => -1) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not '-1'/,
    'leaks(min_age => -1)');
refused(sub { Devel::MemTrace::leaks(min_age => 1.5) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not '1.5'/,
    'leaks(min_age => 1.5)');
refused(sub { Devel::MemTrace::leaks(skip => 99_999_999_999) },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not '99999999999'; valid options: skip, min_age at \Q${\__FILE__}\E line/,
    'leaks(skip => 99_999_999_999), reported at the caller');
refused(sub { Devel::MemTrace::leaks(min_age => undef) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not undef/,
    'leaks(min_age => undef)');
refused(sub { Devel::MemTrace::leaks('skip') },
    qr/^Devel::MemTrace::leaks: options come in NAME => VALUE pairs/,
    'leaks(odd list)');
refused(sub { Devel::MemTrace::leak_sites(status => 'bad') },
    qr/^Devel::MemTrace::leak_sites: option 'status' must be 'steady', 'intermittent', 'stopped', 'ongoing', 'all', not 'bad'; valid options: skip, min_age, status, by, library at /,
    "leak_sites(status => 'bad')");
refused(sub { Devel::MemTrace::leak_sites(every => 1) },
    qr/^Devel::MemTrace::leak_sites: unknown option 'every'; valid options: skip, min_age, status, by, library at /,
    'leak_sites(every => 1)');
refused(sub { Devel::MemTrace::report(status => 'all') },
    qr/^Devel::MemTrace::report: unknown option 'status'; valid options: skip, min_age, all, top at /,
    "report(status => 'all')");
refused(sub { Devel::MemTrace::report(top => 'ten') },
    qr/^Devel::MemTrace::report: option 'top' must be an integer from 0 to 4294967295/,
    "report(top => 'ten')");
refused(sub { Devel::MemTrace::checkpoint(all => 1) },
    qr/^Devel::MemTrace::checkpoint: unknown option 'all'; valid options: skip, min_age at /,
    'checkpoint(all => 1)');

# Values that are not plain scalars, and control characters shown escaped,
# on one line.
refused(sub { Devel::MemTrace::report(all => [1]) },
    qr/^Devel::MemTrace::report: option 'all' must be a true or false value \(such as 1 or 0\), not an ARRAY reference; valid options: skip, min_age, all, top at /,
    'report(all => [1])');
refused(sub { Devel::MemTrace::report(all => *STDOUT) },
    qr/^Devel::MemTrace::report: option 'all' must be a true or false value \(such as 1 or 0\), not a glob \(\*main::STDOUT\); valid options: /,
    'report(all => *STDOUT)');
refused(sub { Devel::MemTrace::leak_sites(status => \'all') },
    qr/^Devel::MemTrace::leak_sites: option 'status' must be .*, not a SCALAR reference; valid options: skip, min_age, status, by, library at /,
    "leak_sites(status => \\'all')");
refused(sub { Devel::MemTrace::leaks(skip => bless {}, 'My::Count') },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not a My::Count object; valid options: skip, min_age at /,
    'leaks(skip => an object)');
refused(sub { Devel::MemTrace::leaks(skip => "1\n") },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not '1\\x0a'; valid options: skip, min_age at /,
    'leaks(skip => "1\n"): refused, the newline shown escaped');
refused(sub { Devel::MemTrace::checkpoint(min_age => "2\t") },
    qr/^Devel::MemTrace::checkpoint: option 'min_age' must be an integer from 0 to 4294967295, not '2\\x09'; /,
    'checkpoint(min_age => "2\t")');
refused(sub { Devel::MemTrace::report("all\n" => 1) },
    qr/^Devel::MemTrace::report: unknown option 'all\\x0a'; valid options: /,
    'report("all\n" => 1)');

# The functions that take no arguments refuse any.
for my $case (
    [ is_recording      => [1] ],
    [ pause             => [3] ],
    [ resume            => [1] ],
    [ history           => ['x'] ],
    [ current_iteration => [1] ],
    [ stats             => [1] ],
    [ arena_counts      => [ 1, 2 ] ],
) {
    my ($name, $args) = @$case;
    my $n = @$args;
    refused(sub { no strict 'refs'; &{"Devel::MemTrace::$name"}(@$args) },
        qr/^Devel::MemTrace::$name: takes no arguments, not $n argument${\ ($n == 1 ? '' : 's')} at /,
        "$name(@$args)");
}
ok(Devel::MemTrace::is_recording(), 'the refused pause(3) and resume(1) left recording on');

# Good options are accepted, and change the answer.
my $each = marked_line('each');
my %marker_of = map { marked_line($_) => $_ } qw(each alternate late early);
my $iterations_at = sub {
    my ($leaks, $line) = @_;
    my %seen;
    $seen{ $_->{iteration} } = 1 for grep { $_->{file} eq __FILE__ && $_->{line} == $line && $_->{kind} eq 'sv' } @$leaks;
    return join ' ', sort { $a <=> $b } keys %seen;
};
is($iterations_at->(scalar Devel::MemTrace::leaks(skip => 0, min_age => 2), $each), '1 2 3 4 5 6 7 8',
    'leaks(skip => 0, min_age => 2): the leak of every iteration, in iterations 1 to 8');
is($iterations_at->(scalar Devel::MemTrace::leaks(skip => 1, min_age => 3), $each), '2 3 4 5 6 7',
    'leaks(skip => 1, min_age => 3): in iterations 2 to 7');
is($iterations_at->(scalar Devel::MemTrace::leaks(), marked_line('alternate')), '1 3 5 7',
    'leaks(): the leak of every other iteration, in iterations 1, 3, 5 and 7');

# Each status keeps the SV sites of that status: of the four planted ones,
# exactly these.
my %expected = (
    steady       => 'each',
    intermittent => 'alternate late',
    stopped      => 'early',
    ongoing      => 'alternate each late',
    all          => 'alternate each early late',
);
for my $status (qw(steady intermittent stopped ongoing all)) {
    my $sites = Devel::MemTrace::leak_sites(status => $status);
    my @mine = grep { $_->{file} eq __FILE__ && $_->{kind} eq 'sv' && $marker_of{ $_->{line} } } @$sites;
    is(join(' ', sort map { $marker_of{ $_->{line} } } @mine), $expected{$status},
        "leak_sites(status => '$status'): the planted SV sites of that status");
    my %keep = $status eq 'all' ? (steady => 1, intermittent => 1, stopped => 1)
      : $status eq 'ongoing' ? (steady => 1, intermittent => 1)
      : ($status => 1);
    is(scalar(grep { !$keep{ $_->{status} } } @$sites), 0, "... and no site of another status");
}

# report(all => 1, top => 3, skip => 1, min_age => 1): the rule in the
# heading, the three sites that leaked most (every iteration's first), and
# a line counting the others.
my $report = Devel::MemTrace::report(all => 1, top => 3, skip => 1, min_age => 1);
like($report, qr/\ADevel::MemTrace report: 11 iterations closed; a leak is an allocation made in iteration 2 or later that stayed live through 1 later checkpoint\n/,
    'report(skip => 1, min_age => 1): the heading states that rule');
my @listed = $report =~ /^  (\d+ leaked .*)$/mg;
is(scalar @listed, 3, 'report(top => 3): three sites listed') or diag $report;
like($listed[0], qr/^24 leaked SVs \(.*\) at \Q${\__FILE__}\E line $each$/,
    '... first the leak of every iteration: 3 SVs in each of iterations 2 to 9');
my $all_sites = Devel::MemTrace::leak_sites(skip => 1, min_age => 1);
my $more = @$all_sites - 3;
like($report, qr/^  \.\.\. and $more more sites \(top => 3\)$/m, "... then '... and $more more sites'");
unlike($report, qr/stopped leaking/, 'report(all => 1): the stopped sites are not left out');

done_testing;
