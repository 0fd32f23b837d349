# perl -MTest::MemTrace::Script prog.pl: an unchanged program's leaks are
# reported at END, at their lines, in the report form asked for (-sites by
# default, -simple, -sv_only, or TEST_MEMTRACE_SCRIPT); the program's own
# output and exit status are unchanged; an unknown option dies in one line.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(why_no_test_memtrace marked_line leaky_xs_line run_perl write_script);

use Test::MemTrace ();

if (my $why = why_no_test_memtrace()) {
    plan skip_all => $why;
}

my $XS_LINE = leaky_xs_line('leak_buffer');
my $OPTIONS = '-simple, -lines, -sv_dump, -verbose, -sites, -sv_only';

my $prog = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;

sub work {
    my ($n) = @_;
    my $node = { n => $n }; $node->{self} = $node;   # LINE: cycle
    Leaky::leak_sv();                                # LINE: leak_sv
    Leaky::leak_buffer(300);                         # LINE: leak_buffer
    my $sum = Leaky::temp_buffer(100);               # LINE: temp
    my @rows = map { { id => $_ } } 1 .. 20;         # LINE: rows
    return $sum + @rows;
}

work($_) for 1 .. 2;
print "worked\n";
END { print "the program's END\n" }
exit 3;
PERL
my %line = map { $_ => marked_line($_, $prog) } qw(cycle leak_sv leak_buffer temp rows);

# The program alone.
my $plain = run_perl($prog);
is($plain->{exit}, 3, 'the program alone exits with 3');
is($plain->{stdout}, "worked\nthe program's END\n", '... and prints its lines');
is($plain->{stderr}, '', '... and nothing on STDERR');

sub check_unchanged {
    my ($name, $run) = @_;
    is($run->{exit}, $plain->{exit}, "$name: the exit status is the program's");
    is($run->{stdout}, $plain->{stdout}, "$name: so is its output, its END block included");
}

# Default: -sites.
{
    my $run = run_perl('-MTest::MemTrace::Script', $prog);
    check_unchanged('-MTest::MemTrace::Script', $run);
    my $err = $run->{stderr};
    like($err, qr/\ATest::MemTrace::Script: \d+ allocations \(SVs and C memory\) made after the program started and still live at its end\n/,
        'default: the report starts with its summary line') or diag $err;
    like($err, qr/^\d+ leaks at \d+ sites:$/m, 'default: -sites, the leaks grouped by site') or diag $err;
    like($err, qr/^  leaked 2 char C buffers \(600 bytes\) at \Q$prog\E line $line{leak_buffer}, in main::work\n      C site: Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer\n\s+$line{leak_buffer}: \s*Leaky::leak_buffer\(300\);/m,
        "default: the Newx buffers at line $line{leak_buffer} and Leaky.xs:$XS_LINE, count and bytes") or diag $err;
    like($err, qr/^  leaked 2 UNDEF SVs \(\d+ bytes\) at \Q$prog\E line $line{leak_sv}, in main::work\n      C site: sv\.c:\d+ Perl_newSV\n/m,
        "default: the UNDEF SVs of Leaky::leak_sv at line $line{leak_sv}") or diag $err;
    like($err, qr/^  leaked \d+ SVs \((?=[^)]*\b2 HASH\b)(?=[^)]*\b2 REF\b)[^)]*\) \(\d+ bytes\) at \Q$prog\E line $line{cycle}, in main::work$/m,
        "default: the cycle's hashes and references at line $line{cycle}, one site") or diag $err;
    unlike($err, qr/line $line{temp}\b/, 'default: not the temporary XS buffer (Leaky::temp_buffer)') or diag $err;
    unlike($err, qr/^  leaked .* at (?!\Q$prog\E line)/m,
        'default: nothing outside the program (not Test::MemTrace, not Test::Builder)') or diag $err;
}

# -simple: one line per leak.
{
    my $run = run_perl('-MTest::MemTrace::Script=-simple', $prog);
    check_unchanged('-simple', $run);
    my $err = $run->{stderr};
    my @buffers = $err =~ /^leaked 300 bytes of char\(0x[0-9a-f]+\) from \Q$prog\E line $line{leak_buffer}\b.*Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer/mg;
    is(scalar @buffers, 2, '-simple: one line per leaked buffer, with its C site') or diag $err;
    my @undef = $err =~ /^leaked UNDEF\(0x[0-9a-f]+\) from \Q$prog\E line $line{leak_sv}\.$/mg;
    is(scalar @undef, 2, '-simple: one line per UNDEF SV') or diag $err;
    my @hashes = $err =~ /^leaked HASH\(0x[0-9a-f]+\) from \Q$prog\E line $line{cycle}\.$/mg;
    is(scalar @hashes, 2, '-simple: one line per leaked hash') or diag $err;
    unlike($err, qr/^\d+ leaks at/m, '-simple: not grouped by site');
}

# -sv_only: no C memory.
{
    my $run = run_perl('-MTest::MemTrace::Script=-sv_only', $prog);
    check_unchanged('-sv_only', $run);
    my $err = $run->{stderr};
    like($err, qr/\ATest::MemTrace::Script: 8 SVs made after the program started and still live at its end\n/,
        '-sv_only: 8 SVs (twice a hash, the reference and the number in it, and an UNDEF SV)') or diag $err;
    unlike($err, qr/C buffer|Leaky\.xs/, '-sv_only: no C memory') or diag $err;
    like($err, qr/^  leaked 2 UNDEF SVs .* line $line{leak_sv}, in main::work$/m, '-sv_only: the SVs still') or diag $err;
}

# Options combined, and TEST_MEMTRACE_SCRIPT when none are given.
{
    my $run = run_perl('-MTest::MemTrace::Script=-simple,-sv_only', $prog);
    check_unchanged('-simple,-sv_only', $run);
    my @leaks = $run->{stderr} =~ /^leaked (\w+)\(/mg;
    is(scalar @leaks, 8, '-simple,-sv_only: eight lines, one per SV') or diag $run->{stderr};
    is_deeply([ grep { !/^(?:HASH|REF|IV|UNDEF)$/ } @leaks ], [], '... all SVs') or diag $run->{stderr};

    local $ENV{TEST_MEMTRACE_SCRIPT} = '-simple,-sv_only';
    my $env = run_perl('-MTest::MemTrace::Script', $prog);
    check_unchanged('TEST_MEMTRACE_SCRIPT=-simple,-sv_only', $env);
    is(join(',', $env->{stderr} =~ /^leaked (\w+)\(/mg) =~ tr/,//, 7,
        'TEST_MEMTRACE_SCRIPT=-simple,-sv_only: the same eight lines') or diag $env->{stderr};
    unlike($env->{stderr}, qr/^\d+ leaks at/m, '... in -simple form');

    $ENV{TEST_MEMTRACE_SCRIPT} = '-sites';
    my $given = run_perl('-MTest::MemTrace::Script=-simple', $prog);
    like($given->{stderr}, qr/^leaked HASH\(/m, 'options given on the command line win over TEST_MEMTRACE_SCRIPT');

    $ENV{TEST_MEMTRACE_SCRIPT} = '-lines';
    my $lines = run_perl('-MTest::MemTrace::Script', $prog);
    like($lines->{stderr}, qr/^leaked 300 bytes of char.*\n(?:\s*\d+:.*\n)*?\s*$line{leak_buffer}:\s*Leaky::leak_buffer\(300\);/m,
        'TEST_MEMTRACE_SCRIPT=-lines: the source lines') or diag $lines->{stderr};
}

# A program that leaks nothing (and keeps nothing: no lexicals of subs).
{
    my $clean = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;
my $total = 0;
$total += Leaky::temp_buffer(50) + Leaky::make_sv(2) for 1 .. 3;
print "total $total\n";    # STDOUT's buffer is STDOUT's
printf STDERR "%s", '';
exit 0;
PERL
    my $run = run_perl('-MTest::MemTrace::Script', $clean);
    is($run->{exit}, 0, 'a clean program exits 0');
    is($run->{stderr}, "Test::MemTrace::Script: no allocations (SVs and C memory) made after the program started and still live at its end\n",
        '... and its report says it leaked nothing') or diag $run->{stderr};
}

# Loaded at run time (require + import): recording starts then.
{
    my $late = write_script(<<'PERL');
use strict;
use warnings;
use Leaky;
Leaky::leak_buffer(10);                              # LINE: before
require Test::MemTrace::Script; Test::MemTrace::Script->import('-simple');
Leaky::leak_buffer(20);                              # LINE: after
PERL
    my $run = run_perl($late);
    my $after  = marked_line('after', $late);
    my $before = marked_line('before', $late);
    like($run->{stderr}, qr/^leaked 20 bytes of char\(0x[0-9a-f]+\) from \Q$late\E line $after\b/m,
        'loaded at run time: what leaks after it is reported') or diag $run->{stderr};
    unlike($run->{stderr}, qr/line $before\b/, '... what leaked before it is not');
}

# Unknown options die in one line, before the program runs.
for my $case ([ '-MTest::MemTrace::Script=-bogus', undef, "'-bogus' (from import)" ],
              [ '-MTest::MemTrace::Script', '-simple,-nope', "'-nope' (from TEST_MEMTRACE_SCRIPT)" ]) {
    my ($arg, $env, $what) = @$case;
    local $ENV{TEST_MEMTRACE_SCRIPT} = $env;
    my $run = run_perl($arg, $prog);
    isnt($run->{exit}, 0, "unknown option $what: perl fails");
    is($run->{stdout}, '', '... before the program runs');
    my @ours = grep {/Test::MemTrace::Script/} split /\n/, $run->{stderr};
    is(scalar @ours, 1, '... with one line') or diag $run->{stderr};
    is($ours[0], "Test::MemTrace::Script: unknown option $what; options: $OPTIONS",
        '... naming the option and listing the valid ones');
}

done_testing;
