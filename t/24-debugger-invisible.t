# Loading the module is invisible to the debugger: perl -d traces, steps
# and sees the same subs with -MDevel::MemTrace as without it, whatever the
# options (-iteration's watched sub, the timer's checkpoints, the END
# report and capture), apart from the -M's own `use` and import, which any
# module loaded with -M shows.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use lib 't/lib';
use MemTraceTest qw(run_perl slurp write_script);

my $program = write_script(<<'PERL');
my $x = 1;
sub f { select undef, undef, undef, 0.12; return $x + 1 }
for (1 .. 6) { f() }
print "done\n";
PERL

my $dir = File::Temp->newdir('memtrace-db-XXXXXX', TMPDIR => 1);
my @module = ('-MDevel::MemTrace=-iteration=main::f,-report_at_END,'
      . "-dump_at_END=$dir/db.mtc,-iteration_every=0.1");

# perl5db.pl itself, tracing every statement run (AutoTrace) to a file.
sub autotrace {
    my (@args) = @_;
    my $trace = "$dir/trace.txt";
    unlink $trace;
    local $ENV{PERLDB_OPTS} = "NonStop AutoTrace LineInfo=$trace";
    my $run = run_perl('-d', @args, $program);
    return ($run, -e $trace ? slurp($trace) : '');
}

my ($plain_run, $plain_trace) = autotrace();
my ($traced_run, $traced_trace) = autotrace(@module);
is($plain_run->{exit}, 0, 'perl -d runs the program') or diag $plain_run->{stderr};
like($plain_trace, qr/^main::f\(\Q$program\E:2\):/m, 'AutoTrace traces the program');
is($traced_run->{exit}, 0, 'perl -d runs it with the module too')
  or diag $traced_run->{stderr};
is($traced_run->{stdout}, "done\n", 'the program prints what it prints');
like($traced_run->{stderr}, qr/^Devel::MemTrace report: \d+ iterations closed/m,
    'the module did its work: the END report');
ok(-s "$dir/db.mtc", 'and the END capture');
is($traced_trace, $plain_trace,
    'the debugger traces the same statements with the module loaded as without');

# A DB::DB that single-steps from the start (compile time included) and a
# DB::sub that logs every sub call: the module's own statements and subs,
# and the modules only it loads, never show.
my $logger = <<'PERL';
BEGIN {
    package DB;
    $DB::single = 1;
    sub DB::DB { my @c = caller; print STDERR "stop $c[1]:$c[2]\n" }
    sub DB::sub {
        my @c = caller;
        print STDERR 'sub ', (ref $DB::sub ? 'CODE' : $DB::sub), " from $c[1]\n";
        &$DB::sub;
    }
}
PERL
$logger =~ s/\n\s*/ /g;

sub debugger_log {
    my (@args) = @_;
    local $ENV{PERL5DB} = $logger;
    my $run = run_perl('-d', @args, $program);
    return [ grep {/^(?:stop|sub) /} split /\n/, $run->{stderr} ];
}

my $plain  = debugger_log();
my $logged = debugger_log(@module);
is(scalar(grep {/^stop \Q$program\E:2$/} @$plain), 12,
    'DB::DB stops at both statements of f, six times');
my @module_lines = grep { m{MemTrace\.pm|XSLoader\.pm|DynaLoader\.pm|Config\.pm} } @$logged;
is_deeply(\@module_lines, [], 'no stop or sub call in the module or what only it loads');

# What -M itself adds, for any module: its `use` (a BEGIN block) and import.
my @seen = @$logged;
my ($use) = grep { $seen[$_] eq "sub CODE from $program" } 0 .. $#seen;
splice @seen, $use, 1 if defined $use;
@seen = grep { $_ ne "sub Devel::MemTrace::import from $program" } @seen;
is_deeply(\@seen, $plain, 'the same stops and sub calls, apart from the -M line itself');

done_testing;
