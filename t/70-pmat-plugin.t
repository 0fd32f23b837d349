# Devel::MAT::Tool::MemTrace, the pmat plugin, run by the system perl's pmat
# on a heap dump and a capture of one run of a program whose XS call leaks an
# UNDEF SV that nothing references: 'memtrace ADDR', 'identify ADDR' (pmat's
# "not found", then the capture's answer) and 'memtrace-leaks' name the
# program's file and leak line and call the SV a leak. A capture of another
# run (another process id than the dump's $$) is refused, and a file that is
# not a capture is an error: each in one line.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky run_perl write_script repo_root slurp);

use File::Spec ();
use File::Temp ();
use POSIX      ();

my $ROOT        = repo_root();
my $SYSTEM_PERL = '/usr/bin/perl';
my $PMAT        = '/usr/bin/pmat';
my $PLUGIN_LIB  = "$ROOT/perl/lib";

# The environment of a system-perl run: none of this perl's module paths.
my @CLEAN_ENV = qw(PERL5LIB PERLLIB PERL5OPT PERL_LOCAL_LIB_ROOT MEMTRACE_CAPTURE);

# run_cmd(\%env, @cmd): { exit, stdout, stderr } of @cmd with %env set (undef
# values deleted) and @CLEAN_ENV removed, no standard input.
sub run_cmd {
    my ($env, @cmd) = @_;
    my $dir = File::Temp->newdir('memtrace-pmat-XXXXXX', TMPDIR => 1);
    my ($out, $err) = ("$dir/stdout", "$dir/stderr");
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        delete @ENV{@CLEAN_ENV};
        for my $name (keys %$env) {
            defined $env->{$name} ? ($ENV{$name} = $env->{$name}) : delete $ENV{$name};
        }
        open STDIN,  '<', File::Spec->devnull or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return { exit => $? >> 8, stdout => slurp($out), stderr => slurp($err) };
}

# Why this test cannot run here, or ''.
sub why_not {
    -x $SYSTEM_PERL or return "no system perl at $SYSTEM_PERL to run pmat";
    run_cmd({}, $SYSTEM_PERL, '-MDevel::MAT', '-e1')->{exit} == 0
        or return "the system perl has no Devel::MAT (apt-get install libdevel-mat-perl)";
    -f $PMAT or return "no pmat at $PMAT (apt-get install libdevel-mat-perl)";
    return '';
}

# The memtrace program the plugin will find: MEMTRACE_BIN, the tree's
# release build, or PATH.
sub memtrace_bin {
    return $ENV{MEMTRACE_BIN} if defined $ENV{MEMTRACE_BIN} && -x $ENV{MEMTRACE_BIN};
    my $built = "$ROOT/target/release/memtrace";
    return $built if -f $built && -x _;
    for my $dir (File::Spec->path) {
        return "$dir/memtrace" if -f "$dir/memtrace" && -x _;
    }
    return undef;
}

# Devel::MAT::Dumper for this perl: perl/build/devel-mat.sh builds it once
# (from Debian's source; a few seconds) and prints its blib directory last.
sub dumper_blib {
    my $r = run_cmd({}, 'bash', "$ROOT/perl/build/devel-mat.sh", $^X);
    my ($blib) = reverse grep { length } split /\n/, $r->{stdout};
    return ($blib, '') if $r->{exit} == 0 && defined $blib && -d "$blib/arch";
    my ($error) = grep { /^error:/ } split /\n/, $r->{stderr};
    return (undef, $error // "exit $r->{exit}");
}

if (my $why = why_not()) {
    plan skip_all => $why;
}
my $MEMTRACE = memtrace_bin()
    or plan skip_all => "the memtrace program is not built ($ROOT/target/release/memtrace;"
    . " cargo build --release) and not in MEMTRACE_BIN or on PATH";
if (my $why = load_leaky()) {
    plan skip_all => $why;
}
my ($BLIB, $dumper_error) = dumper_blib();
plan skip_all => "no Devel::MAT::Dumper for this perl (perl/build/devel-mat.sh $^X: $dumper_error)"
    unless $BLIB;

my $prog = write_script(<<'PERL');
use strict;
use warnings;
use Devel::MemTrace ();
BEGIN {
    unless (defined &Devel::MemTrace::dump) {
        print "SKIP: this Devel::MemTrace has no dump() to write a capture\n";
        exit 0;
    }
}
use Devel::MAT::Dumper ();
use Leaky ();

my ($dump, $capture, $leak_line) = @ARGV;

sub work {
    Leaky::leak_sv();    # LINE: leak_sv
}

for (1 .. 6) {
    work();
    Devel::MemTrace::checkpoint();
}
my @leaks = grep { $_->{kind} eq 'sv' && $_->{file} eq __FILE__ && $_->{line} == $leak_line }
    @{ Devel::MemTrace::leaks() };
Devel::MAT::Dumper::dump($dump);
Devel::MemTrace::dump($capture);
printf "LEAK 0x%x\n", $_->{address} for @leaks;
print "PID $$\n";
PERL
my $line = marked_line('leak_sv', $prog);
my $dir  = File::Temp->newdir('memtrace-pmat-t-XXXXXX', TMPDIR => 1);

# run_program($name): ($dump, $capture, $pid, @leak_addresses) of one run.
sub run_program {
    my ($name) = @_;
    my ($dump, $capture) = ("$dir/$name.pmat", "$dir/$name.mtc");
    my $r = run_perl("-I$BLIB/arch", "-I$BLIB/lib", $prog, $dump, $capture, $line);
    if ($r->{stdout} =~ /^SKIP: (.*)/m) {
        plan skip_all => $1;
    }
    is($r->{exit}, 0, "the program ($name) ran") or diag $r->{stderr};
    ok(-s $dump,    "... and wrote a heap dump");
    ok(-s $capture, "... and a capture");
    my @leaks = $r->{stdout} =~ /^LEAK (0x[0-9a-f]+)$/mg;
    my ($pid) = $r->{stdout} =~ /^PID ([0-9]+)$/m;
    return ($dump, $capture, $pid // 0, @leaks);
}

# pmat(\%env, $dump, @command): pmat's result for one command.
sub pmat {
    my ($env, $dump, @command) = @_;
    return run_cmd({ MEMTRACE_BIN => $MEMTRACE, %$env },
        $SYSTEM_PERL, "-I$PLUGIN_LIB", $PMAT, '-q', $dump, @command);
}

my ($dump, $capture, $pid, @leaks) = run_program('leaky');
is(scalar @leaks, 3, "Devel::MemTrace found 3 leaked SVs at $prog line $line (iterations 1 to 3)");
my $addr = $leaks[0] // '0x0';

# memtrace ADDR, with the capture found next to the dump.
my $r = pmat({}, $dump, 'memtrace', $addr);
is($r->{exit}, 0, "pmat's 'memtrace $addr' ran") or diag $r->{stderr};
like($r->{stdout},
    qr/^memtrace: capture \Q$capture\E \(next to the dump\), of process $pid \(.*\), as is the dump; [1-9][0-9]* of \d+ SVs sampled from the dump are live in it$/m,
    "... with the capture next to the dump, of the dump's process, sharing SVs with it")
    or diag $r->{stdout};
like($r->{stdout},
    qr/^UNDEF\(\) at \Q$addr\E: UNDEF SV of \d+ bytes made at \Q$prog\E line $line, in main::work \(C site sv\.c:\d+ Perl_newSV\) in iteration 1, called from \Q$prog\E line \d+; a leak\b/m,
    "... and answers: an UNDEF SV made at the leak line, in iteration 1, called from its caller's line, a leak")
    or diag $r->{stdout};

# identify ADDR: pmat's "not found", then the capture's answer.
$r = pmat({}, $dump, 'identify', $addr);
is($r->{exit}, 0, "pmat's 'identify $addr' ran") or diag $r->{stderr};
like($r->{stdout}, qr/ is:\n\S+not found\n +memtrace: UNDEF SV .* made at \Q$prog\E line $line, in main::work .*; a leak\b/,
    '... and after "not found" says where the capture saw it made, and that it leaks')
    or diag $r->{stdout};

# memtrace-leaks: all three, at one site.
$r = pmat({}, $dump, 'memtrace-leaks', '--unreferenced');
is($r->{exit}, 0, "pmat's 'memtrace-leaks --unreferenced' ran") or diag $r->{stderr};
like($r->{stdout}, qr/^3 UNDEF SVs made at \Q$prog\E line $line, in main::work \(C site sv\.c:\d+ Perl_newSV\)$/m,
    '... and lists the 3 unreferenced leaked SVs at the leak line')
    or diag $r->{stdout};
for my $leak (@leaks) {
    like($r->{stdout}, qr/^ +UNDEF\(\) at \Q$leak\E, made in iteration [1-3]$/m, "... $leak among them");
}

# A capture of another run of the same program: refused, since the dump's $$
# (Devel::MemTrace reads it as it loads) is another process id.
my (undef, $other, $other_pid) = run_program('other');
$r = pmat({}, $dump, 'memtrace-load', $other);
isnt($r->{exit}, 0, "memtrace-load of another run's capture fails");
like($r->{stderr}, qr/\Amemtrace: \Q$other\E is a capture of process $other_pid \(.*\), the dump is of process $pid \(\$\$ in the dump\): load the capture the dumped process wrote\n\z/,
    '... in one line naming both processes')
    or diag $r->{stderr};

# Not a capture: one error line, no stack trace.
$r = pmat({ MEMTRACE_CAPTURE => $prog }, $dump, 'memtrace', $addr);
isnt($r->{exit}, 0, 'a MEMTRACE_CAPTURE that is not a capture fails the command');
my @lines = grep { length } split /\n/, $r->{stderr};
is(scalar @lines, 1, '... with one error line') or diag $r->{stderr};
like($lines[0] // '', qr/^memtrace: /, '... from memtrace') or diag $r->{stderr};
unlike($r->{stderr} . $r->{stdout}, qr/ line \d+\.$/m, '... and no stack trace');

done_testing;
