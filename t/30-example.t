# The bundled example: examples/poller.pl, run unchanged under
# -MDevel::MemTrace=-iteration=main::poll,-report_at_END, and
# examples/demo.pl (the explicit API). Each report names the three planted
# leaks at their lines, and nothing else: not the host cache, not the
# per-poll work.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky leaky_xs_line run_perl repo_root);

my $skip = load_leaky();
plan skip_all => $skip if $skip;

chdir repo_root() or die "cannot chdir to the repository: $!\n";
my $poller = 'examples/poller.pl';

# The planted lines, found by their comments.
my %planted;
{
    open my $fh, '<', $poller or die "cannot read $poller: $!\n";
    while (<$fh>) {
        $planted{$1} = $. if /# PLANTED LEAK (\d):/;
    }
}
is_deeply([ sort keys %planted ], [ 1, 2, 3 ], "$poller plants three leaks");
my $xs_line = leaky_xs_line('leak_buffer');

sub check_report {
    my ($name, $report, $file) = @_;
    my $in = ', in main::poll';
    my ($line1, $line2, $line3) = @planted{ 1, 2, 3 };
    like($report, qr/^  (\d+) leaked UNDEF SVs at \Q$file\E line $line1\Q$in\E\n      C site: sv\.c:\d+ \w+; steady;/m,
        "$name: leak 1, the UNDEF SVs of Leaky::leak_sv(), at line $planted{1}");
    like($report, qr/^  (\d+) leaked char buffers \((\d+) bytes\) at \Q$file\E line $line2\Q$in\E\n      C site: Leaky\.xs:$xs_line XS_Leaky_leak_buffer; steady;/m,
        "$name: leak 2, the C buffers of Leaky::leak_buffer(256), at line $planted{2} and Leaky.xs:$xs_line");
    like($report, qr/^  \d+ leaked (?:HASH SVs|SVs \([^)]*\bHASH\b[^)]*\)) at \Q$file\E line $line3\Q$in\E\n      C site: .*; steady;/m,
        "$name: leak 3, the reference cycle's HASHes, at line $planted{3}");

    my %planted_line = map { $_ => 1 } values %planted;
    my @other = grep { !$planted_line{$_} }
                $report =~ /^  \d+ leaked .* at \Q$file\E line (\d+)/mg;
    is_deeply(\@other, [], "$name: no other line of $file is reported")
        or diag $report;
    my @files = grep { $_ ne $file } $report =~ /^  \d+ leaked .* at (.+) line \d+/mg;
    is_deeply(\@files, [], "$name: nor any other file");
    like($report, qr/^\d+ sites? stopped leaking/m,
        "$name: the cache's one-time retention is counted as stopped, not listed");
}

my $run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $poller);
is($run->{exit}, 0, "$poller runs under -iteration=main::poll,-report_at_END")
    or diag $run->{stderr};
is(scalar(() = $run->{stdout} =~ /^poll +\d+: /mg), 12, '... 12 polls');
like($run->{stderr}, qr/^Devel::MemTrace report: 12 iterations closed;/m, '... 12 iterations');
check_report('-iteration', $run->{stderr}, $poller);
note $run->{stderr};

$run = run_perl('examples/demo.pl');
is($run->{exit}, 0, 'examples/demo.pl runs')
    or diag $run->{stderr};
like($run->{stderr}, qr/^Devel::MemTrace report: 12 iterations closed;/m, '... 12 iterations');
my ($file) = $run->{stderr} =~ /^  \d+ leaked .* at (\S+poller\.pl) line /m;
ok($file, '... its report names poller.pl');
check_report('demo.pl', $run->{stderr}, $file || $poller);

# Without Devel::MemTrace the poller is an ordinary program.
$run = run_perl($poller, 3);
is($run->{exit}, 0, "$poller runs without Devel::MemTrace");
is($run->{stderr}, '', '... quietly');
is(scalar(() = $run->{stdout} =~ /^poll +\d+: /mg), 3, '... for the polls asked');

done_testing;
