# The memtrace command as a user types it: 'memtrace run' runs a program
# under the MemTrace perl with recording on (Devel::MemTrace's import
# options spelled --iteration=Pkg::sub, --report-at-end, ...), 'memtrace
# perl' prints that perl, 'memtrace prove' runs prove with it, 'memtrace
# doctor' checks the set-up; every mistake is one line and exit status 2.
use strict;
use warnings;
use Test::More;
use Cwd ();
use File::Basename qw(dirname);
use File::Temp ();
use lib 't/lib';
use MemTraceTest qw(marked_line write_script slurp);

my $command = $ENV{MEMTRACE_COMMAND};
plan skip_all => 'MEMTRACE_COMMAND is not set (make test sets it: perl/build/env.sh)'
    unless $command && -x $command;
# As the user has it: 'memtrace' found on PATH.
local $ENV{PATH} = dirname($command) . ":$ENV{PATH}";
delete local $ENV{PERL5OPT};

my $dir = File::Temp->newdir('memtrace-command-XXXXXX', TMPDIR => 1);

# sh LINE: run LINE with /bin/sh; { exit, stdout, stderr }.
sub sh {
    my ($line) = @_;
    my $rc = system('/bin/sh', '-c', "$line >$dir/out 2>$dir/err </dev/null");
    return { exit => $rc >> 8, stdout => slurp("$dir/out"), stderr => slurp("$dir/err") };
}

# A mistake: exit 2 and this one line.
sub refused {
    my ($line, $expected, $name) = @_;
    my $run = sh($line);
    is($run->{exit}, 2, "$name: exit status 2");
    my @lines = split /\n/, $run->{stderr};
    is(scalar @lines, 1, "$name: one line") or diag $run->{stderr};
    if (ref $expected) { like($lines[0], $expected, "$name: says what to do") }
    else               { is($lines[0], $expected, "$name: says what to do") }
}

my $script = write_script(<<'PERL');
use strict;
use warnings;
our @Kept;
sub poll {
    my ($n) = @_;
    push @Kept, { poll => $n };   # LINE: kept
    return;
}
poll($_) for 1 .. $ARGV[0];
print "polled $ARGV[0] times with args @ARGV\n";
exit($ARGV[1] // 0);
PERL
my $line = marked_line('kept', $script);

# run: the program's own output and arguments, the report at END.
my $run = sh("memtrace run --iteration=main::poll --report-at-end $script 10 0 --verbose");
is($run->{exit}, 0, 'memtrace run --iteration=main::poll --report-at-end prog.pl ARGS: exit 0')
    or diag $run->{stderr};
is($run->{stdout}, "polled 10 times with args 10 0 --verbose\n", '... the program got its arguments (--verbose too)');
like($run->{stderr}, qr/^Devel::MemTrace report: 10 iterations closed;/m, '... each return from main::poll closed an iteration');
like($run->{stderr}, qr/^  \d+ leaked .* at \Q$script\E line $line, in main::poll\n      C site: .*; steady;/m,
    "... the leak is named at its line ($line)") or diag $run->{stderr};

# The value as the next argument; the program's exit status passes through.
$run = sh("memtrace run --iteration main::poll --min-age 3 $script 4 7");
is($run->{exit}, 7, "the program's exit status (7) is memtrace run's");
is($run->{stderr}, '', '... no report without --report-at-end');

# --dump-at-end=FILE writes a capture the readers read.
$run = sh("memtrace run --iteration=main::poll --dump-at-end=$dir/p.mtc $script 6 && memtrace report $dir/p.mtc");
is($run->{exit}, 0, 'memtrace run --dump-at-end=FILE, then memtrace report FILE') or diag $run->{stderr};
like($run->{stdout}, qr/^Devel::MemTrace report: 6 iterations closed;.*\n(?:.*\n)*  \d+ leaked .* at \Q$script\E line $line, in main::poll$/m,
    '... the capture has the leak at its line');

# perl: the MemTrace perl (found without MEMTRACE_PERL: recorded by make perl).
$run = sh('env -u MEMTRACE_PERL memtrace perl');
is($run->{exit}, 0, 'memtrace perl: exit 0') or diag $run->{stderr};
is(Cwd::realpath((split /\n/, $run->{stdout})[0] // ''), Cwd::realpath($^X), '... prints the MemTrace perl, this perl');

# prove: the tests run under the MemTrace perl.
my $t = "$dir/check.t";
open my $fh, '>', $t or die "cannot write $t: $!\n";
print {$fh} "use Test::More tests => 2;\nis(\$^X, \$ENV{WANT_PERL}, 'run by the MemTrace perl');\nuse_ok('Devel::MemTrace');\n";
close $fh;
$run = sh("WANT_PERL=$^X memtrace prove $t");
is($run->{exit}, 0, 'memtrace prove t.t: exit 0') or diag $run->{stdout}, $run->{stderr};
like($run->{stdout}, qr/^Result: PASS$/m, '... the test ran under the MemTrace perl and passed');

# doctor: all ok here.
$run = sh('memtrace doctor');
is($run->{exit}, 0, 'memtrace doctor: exit 0 on this set-up') or diag $run->{stdout};
like($run->{stdout}, qr/^ok: the MemTrace perl is \Q$^X\E \(perl [\d.]+, /m, '... names the MemTrace perl');
like($run->{stdout}, qr/^ok: Devel::MemTrace loads in it and records$/m, '... which records');
like($run->{stdout}, qr/^ok: memtrace is on PATH: /m, '... and memtrace is on PATH');
unlike($run->{stdout}, qr/^problem:/m, '... no problem');

# --help
$run = sh('memtrace --help');
like($run->{stdout}, qr/^  memtrace run \[OPTIONS\] PROG\.pl \[ARGS\.\.\.\]$/m, 'memtrace --help lists run');
$run = sh('memtrace run --help');
like($run->{stdout}, qr/^  --iteration=Pkg::sub +each return from this sub ends an iteration/m, 'memtrace run --help lists its options');

# memtrace run keeps its own table of the module's import options (each
# spelled the command-line way, with help): it must offer every option the
# module knows, spelled the same, and no other.
{
    my $known = sh(qq{'$^X' -MDevel::MemTrace=-no_such_option -e 1});
    my ($list) = $known->{stderr} =~ /known options: (.*)$/m;
    ok(defined $list, 'the module lists its known options') or diag $known->{stderr};
    # -report_at_END[=...] is --report-at-end[=...]: the name in lower
    # case with dashes, the value as it is.
    my @module = sort map { /\A-(\w+)(\[?=\S+)?\z/ ? lc($1 =~ tr/_/-/r) . ($2 // '') : "?$_" }
      split /, /, $list // '';
    my @command = sort $run->{stdout} =~ /^  --(?!help)(\S+) /mg;
    is_deeply(\@command, \@module, 'memtrace run --help offers the same options as the module, spelled alike')
      or diag "module: @module\ncommand: @command";
}

# Mistakes, one line each.
refused("memtrace run --bogus $script", qr/^memtrace: unknown option '--bogus' for run: see memtrace run --help/, 'an unknown option');
refused("memtrace run --iteration poll $script",
    "memtrace: --iteration wants a fully qualified sub name, e.g. --iteration=main::poll, not 'poll'", 'a sub name without its package');
refused("memtrace run --min-age=two $script", "memtrace: --min-age wants a whole number of 0 or more, e.g. --min-age=2, not 'two'", 'a bad number');
refused("memtrace run --report-at-end=yes $script", 'memtrace: --report-at-end takes no value: write --report-at-end alone', 'a flag with a value');
refused('memtrace run --iteration', qr/^memtrace: --iteration needs a value, as in --iteration=Pkg::sub/, 'a missing value');
refused('memtrace run --report-at-end', 'memtrace: run needs a program: memtrace run [OPTIONS] PROGRAM.pl [ARGS...] (memtrace run --help)', 'no program');
refused("memtrace run $dir/no-such.pl", "memtrace: $dir/no-such.pl: No such file or directory (the program to run: memtrace run [OPTIONS] PROGRAM.pl [ARGS...])", 'a missing program');
refused("memtrace run -w $script", qr/^memtrace: unknown option '-w' for run: .*\$\(memtrace perl\)/, "a perl switch");
refused('memtrace perl -e 1', qr/^memtrace: perl takes no arguments \('-e' given\)/, 'memtrace perl with arguments');
refused('memtrace doctor now', "memtrace: doctor takes no arguments ('now' given): memtrace doctor", 'memtrace doctor with arguments');
refused('memtrace frobnicate', qr/^memtrace: 'frobnicate' is not a subcommand: use run, perl, prove, doctor, report/, 'an unknown subcommand');
refused('MEMTRACE_PERL=/no/such/perl memtrace perl',
    'memtrace: MEMTRACE_PERL=/no/such/perl is not an executable file: unset it, or point it at the MemTrace perl (make perl prints its path)', 'a bad MEMTRACE_PERL');

done_testing;
