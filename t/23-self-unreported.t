# Nothing Devel::MemTrace allocates for itself appears in a report: not
# what the -iteration mark does around the program's own sub, nor what its
# functions allocate when the program calls them inside its loop.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(run_perl write_script);

# What the program prints at its end: every site, of any status, one line
# each, and those in the module's own file.
my $SITES_AT_END = <<'PERL';
my $sites = Devel::MemTrace::leak_sites(status => 'all');
print "site: $_->{count} $_->{kind} at $_->{file} line $_->{line}, in $_->{sub} ($_->{status})\n" for @$sites;
print "sites in the module: ", scalar(grep { $_->{file} =~ m{Devel/MemTrace\.pm\z} } @$sites), "\n";
print "sites: ", scalar(@$sites), "\n";
PERL

# A loop sub that leaks nothing, as the -iteration sub, for 20 iterations.
my $clean = write_script(<<"PERL");
use strict;
use warnings;
sub poll {
    my (\$n) = \@_;
    my %seen = map { (\$_ => [ \$_ * \$n ]) } 1 .. 50;
    my \$text = join ',', map { \$seen{\$_}[0] } sort { \$a <=> \$b } keys %seen;
    return length \$text;
}
my \$total = 0;
\$total += poll(\$_) for 1 .. 20;
print "total \$total\\n";
$SITES_AT_END
PERL

my $run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $clean);
is($run->{exit}, 0, 'a clean -iteration program runs') or diag $run->{stderr};
like($run->{stderr}, qr/^Devel::MemTrace report: 20 iterations closed;/m, '... 20 calls, 20 iterations');
like($run->{stderr}, qr/^no leaks: nothing allocated after warm-up \(iteration 0\) stayed live through 2 later checkpoints$/m,
    '... and the report says no leaks')
    or diag $run->{stderr};
like($run->{stdout}, qr/^sites in the module: 0$/m, '... no leak site of any status in Devel/MemTrace.pm')
    or diag $run->{stdout};
like($run->{stdout}, qr/^sites: 0$/m, '... nor anywhere else')
    or diag $run->{stdout};

# The same loop calling the module's functions in every iteration (the
# results are dropped, as a program that prints them would).
my $calls = write_script(<<"PERL");
use strict;
use warnings;
use Devel::MemTrace ();
my \$dir = shift;
sub poll {
    my (\$n) = \@_;
    my %seen = map { (\$_ => [ \$_ * \$n ]) } 1 .. 50;
    my \$leaks = Devel::MemTrace::leaks();
    my \$sites = Devel::MemTrace::leak_sites(status => 'all');
    my \$report = Devel::MemTrace::report(all => 1);
    my \@what = Devel::MemTrace::identify(0 + \\%seen, 0 + \$seen{1});
    my \$written = Devel::MemTrace::dump("\$dir/loop.%n.mtc");
    my \$history = Devel::MemTrace::history();
    my \$stats = Devel::MemTrace::stats();
    my \$counts = Devel::MemTrace::arena_counts();
    return scalar(\@what) + (\$written->{records} > 0);
}
my \$total = 0;
\$total += poll(\$_) for 1 .. 20;
print "total \$total\\n";
$SITES_AT_END
PERL

my $dir = File::Temp->newdir('memtrace-t23-XXXXXX', TMPDIR => 1);
$run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $calls, "$dir");
is($run->{exit}, 0, 'a loop calling leaks, leak_sites, report, identify, dump, history, stats, arena_counts runs')
    or diag $run->{stderr};
like($run->{stdout}, qr/^total 60$/m, '... each call answered');
like($run->{stdout}, qr/^sites in the module: 0$/m, '... and no leak site of any status is in Devel/MemTrace.pm')
    or diag $run->{stdout};
like($run->{stdout}, qr/^sites: 0$/m, '... nor anywhere else')
    or diag $run->{stdout};
like($run->{stderr}, qr/^no leaks: /m, '... the report says no leaks') or diag $run->{stderr};

done_testing;
