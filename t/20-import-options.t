# perl -MDevel::MemTrace=OPTIONS on a program that knows nothing of it:
# -iteration=Pkg::sub ends an iteration at each return of the sub,
# -report_at_END prints the report; bad options are refused in one line.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(run_perl write_script);

my $KNOWN = q{known options: -iteration=Pkg::sub, -iteration_every=SECONDS, -report_at_END, -dump_at_END[=FILE], -dump_on=SIGNAL[:FILE], -dump_every=N[:FILE], -skip=N, -min_age=N, -all, -malloc, -stack=N, -c_frames[=N]};

my $script = write_script(<<'PERL');
use strict;
use warnings;

our (@kept, %cache);
my $polls = 0;

sub poll {
    my ($n) = @_;
    push @kept, { poll => $n };                          # line 9: leaks
    $cache{ $n % 3 } //= [ $n ] if $n <= 3;              # line 10: fills, then stops
    my $transient = [ map { { n => $_ } } 1 .. 50 ];     # line 11: freed
    return scalar @$transient;
}

$polls += poll($_) for 1 .. 10;
END { print "program END ran\n" }
print "polled $polls\n";
PERL

my $run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $script);
is($run->{exit}, 0, 'the program runs unchanged under -iteration and -report_at_END')
    or diag $run->{stderr};
is($run->{stdout}, "polled 500\nprogram END ran\n", "its output is its own, its END ran");
my $report = $run->{stderr};
like($report, qr/^Devel::MemTrace report: 10 iterations closed;/m,
    'the report is printed to STDERR, with the 10 calls of poll as iterations');
like($report, qr/^iteration 9: SVs \d+ \([-+]\d+\)/m, '... one line per iteration');
like($report, qr/^  \d+ leaked (?:HASH SVs|SVs \([^)]*\b7 HASH\b[^)]*\)) at \Q$script\E line 9, in main::poll\n      C site: .*; steady; per iteration: (\d+)(?: \g{-1}){6};/m,
    '... the leak at its line, steady')
    or diag $report;
unlike($report, qr/ line 1[01], /, '... nothing for the cache or the transient work');
like($report, qr/^\d+ sites? stopped leaking/m, '... the cache counted as stopped');
unlike($report, qr/program END ran/, "the report comes after the program's END");

# -all lists the stopped sites; -skip and -min_age change the rule.
$run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END,-all,-skip=1,-min_age=3', $script);
is($run->{exit}, 0, '-all, -skip=1, -min_age=3 accepted');
like($run->{stderr}, qr/made in iteration 2 or later that stayed live through 3 later checkpoints/,
    '... and used by the report');
like($run->{stderr}, qr/ at \Q$script\E line 9, in main::poll\n      C site: .*; steady; per iteration: (\d+)(?: \g{-1}){4};/m,
    '... which counts the iterations 2 .. 6');
like($run->{stderr}, qr/ at \Q$script\E line 10, in main::poll$/m, '... and lists the cache');

# A sub that does not exist: one warning, the program still runs.
$run = run_perl('-MDevel::MemTrace=-iteration=main::no_such_sub', $script);
is($run->{exit}, 0, '-iteration of a missing sub: the program still runs');
is($run->{stderr},
    "Devel::MemTrace: -iteration=main::no_such_sub: there is no sub main::no_such_sub"
    . " when the program starts, so no call ends an iteration"
    . " (call Devel::MemTrace::checkpoint() yourself instead)\n",
    '... after one line of warning');

# A sub defined only at run time is not there at INIT either; one given
# by an unqualified name is in main.
$run = run_perl('-MDevel::MemTrace=-iteration=poll,-report_at_END', $script);
like($run->{stderr}, qr/^Devel::MemTrace report: 10 iterations closed;/m,
    '-iteration=poll means main::poll');

# Bad options: one line naming the option and listing the known ones.
my %bad = (
    '-bogus'               => "Devel::MemTrace: unknown option '-bogus'; $KNOWN",
    '-iteration'           => "Devel::MemTrace: option needs a sub name such as -iteration=main::poll: '-iteration'; $KNOWN",
    '-iteration=not a sub' => "Devel::MemTrace: option needs a sub name such as -iteration=main::poll: '-iteration=not a sub'; $KNOWN",
    '-skip=x'              => "Devel::MemTrace: option needs an integer from 0 to 4294967295: '-skip=x'; $KNOWN",
    '-min_age=-2'          => "Devel::MemTrace: option needs an integer from 0 to 4294967295: '-min_age=-2'; $KNOWN",
    '-report_at_END=1'     => "Devel::MemTrace: unknown option '-report_at_END=1'; $KNOWN",
    "-skip=1\n"           => "Devel::MemTrace: option needs an integer from 0 to 4294967295: '-skip=1\\x0a'; $KNOWN",
    "-min_age=\t2"        => "Devel::MemTrace: option needs an integer from 0 to 4294967295: '-min_age=\\x092'; $KNOWN",
    "-iteration=main::\x{e9}t\x{e9}" => "Devel::MemTrace: option needs a sub name such as -iteration=main::poll: '-iteration=main::\\xe9t\\xe9'; $KNOWN",
);
# (A test's name shows an option's control characters escaped.)
sub label { (my $text = $_[0]) =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge; return $text }
for my $option (sort keys %bad) {
    my $run = run_perl("-MDevel::MemTrace=$option", '-e', 'print "ran\n"');
    my $label = label($option);
    isnt($run->{exit}, 0, "$label: refused");
    is($run->{stdout}, '', "$label: the program does not run");
    is($run->{stderr}, "$bad{$option}\nBEGIN failed--compilation aborted.\n", "$label: the message, on one line");
}

# The same through use, in this process.
for my $option ('-bogus', '-iteration', '-skip=x', "-skip=1\n", "-min_age=\t2") {
    require Devel::MemTrace;
    my $ok = eval { Devel::MemTrace->import($option); 1 };
    is($@, "$bad{$option}\n", "import('${\ label($option)}') dies with the one line");
}
{
    my $ok = eval { Devel::MemTrace->import("no\nsuch"); 1 };
    like($@, qr/\ADevel::MemTrace: 'no\\x0asuch' is not exported; exportable: [^\n]*\n\z/,
        'an unknown name to export is shown escaped, on one line');
}

done_testing;
