#!/usr/bin/env perl
# compare-leaktrace.pl — Test::LeakTrace and Test::MemTrace on the same
# MemTrace perl and the same blocks: what each detects on the planted leak
# kinds, and the wall time of leaked_info on an allocation-heavy block as a
# ratio to running that block bare, in the same process.
#
# Run by perl/bench/compare-leaktrace.sh, which builds what it needs.
# Usage: PERL compare-leaktrace.pl --leaktrace-blib DIR --leaky-inc "-I.. -I.."
#                                  [--runs N] [--size N]
use strict;
use warnings;

use File::Temp  ();
use Getopt::Long qw(GetOptions);
use List::Util  qw(sum);

my %opt = (runs => 5, size => 1500);
GetOptions(\%opt, 'leaktrace-blib=s', 'leaky-inc=s', 'runs=i', 'size=i')
  or die "usage: $0 --leaktrace-blib DIR --leaky-inc '-I.. -I..' [--runs N] [--size N]\n";
for my $need (qw(leaktrace-blib leaky-inc)) {
    defined $opt{$need} or die "compare-leaktrace.pl: --$need is required\n";
}
$opt{runs} >= 1 && $opt{size} >= 1
  or die "compare-leaktrace.pl: --runs and --size must be positive integers\n";

my %TOOL = (
    'Test::LeakTrace' => ["-Mblib=$opt{'leaktrace-blib'}"],
    'Test::MemTrace'  => [],
);
my @TOOLS = sort keys %TOOL;
my @LEAKY = split ' ', $opt{'leaky-inc'};

# The planted cases: [name, what it is, code]. The code is one line, so the
# line a tool names can be checked against it.
my @CASES = (
    [ clean   => 'clean block (lexicals, a temp XS buffer)',
      'my %h = map { $_ => [$_] } 1 .. 20; my $s = join ",", sort keys %h; Leaky::temp_buffer(64);' ],
    [ cycle   => 'Perl cycle', 'my $h = {}; $h->{self} = $h;' ],
    [ xs_sv   => 'unreferenced SV from XS (newSV, never freed)', 'Leaky::leak_sv();' ],
    [ xs_newx => 'Newx buffer from XS (never freed)', 'Leaky::leak_buffer(64);' ],
    [ cache   => 'cache filled on first run only', 'our %CACHE; $CACHE{k} ||= [ 1 .. 10 ];' ],
    [ replace => 'global replaced on every run', 'our $LAST; $LAST = { n => [ 1 .. 3 ] };' ],
    [ grow    => 'push onto a global array', 'our @LOG; push @LOG, { n => 1 };' ],
);

my $CASE_LINE = 6;    # the line of CASE in the script below

sub detection_script {
    my ($tool, $code) = @_;
    return <<"EOS";
use strict; use warnings;
use Test::More;
use $tool;
use Leaky;
my \@info = leaked_info {
    $code
};
my \@lines = sort { \$a <=> \$b } keys %{ { map { (\$_->[2] // 0) => 1 } \@info } };
print "count=", scalar(\@info), " lines=", join(",", \@lines), "\\n";
no_leaks_ok {
    $code
} 'no_leaks_ok';
done_testing;
EOS
}

sub run_script {
    my ($tool, $script) = @_;
    my $fh = File::Temp->new(SUFFIX => '.pl');
    print {$fh} $script;
    close $fh;
    my @cmd = ($^X, @{ $TOOL{$tool} }, @LEAKY, $fh->filename);
    my $out = qx{@cmd 2>&1};
    return ($out, $?);
}

print "== what each detects (leaked_info count, lines named; no_leaks_ok)\n";
printf "%-46s %-34s %-34s\n", 'case', @TOOLS;
for my $case (@CASES) {
    my ($name, $what, $code) = @$case;
    my @cells;
    for my $tool (@TOOLS) {
        my ($out) = run_script($tool, detection_script($tool, $code));
        my ($count, $lines) = $out =~ /^count=(\d+) lines=(\S*)/m;
        my $verdict = $out =~ /^ok 1 - no_leaks_ok/m ? 'passes'
                    : $out =~ /^not ok 1 - no_leaks_ok/m ? 'FAILS'
                    : $out =~ /^ok 1 # skip/m ? 'skipped' : 'error';
        if (!defined $count) {
            my ($first) = $out =~ /^(.*\S.*)$/m;
            push @cells, 'error: ' . ($first // 'no output');
            next;
        }
        my $line_note = $count == 0 ? '' :
            $lines eq $CASE_LINE ? ", line $CASE_LINE" : ", lines $lines";
        push @cells, "$count leaked$line_note; $verdict";
    }
    printf "%-46s %-34s %-34s\n", $what, @cells;
}

# ---------------------------------------------------------------------------
# Speed: the same allocation-heavy block, bare and inside leaked_info, in one
# process per tool; processes alternate so machine noise hits both alike.

my $HEAVY = <<"EOS";
for my \$i (1 .. $opt{size}) {
    my %h = (id => \$i, name => "item\$i" x 3, tags => [ map { "t\$_" } 1 .. 8 ],
             nested => { a => [ 1 .. 10 ], b => { c => \$i } });
    my \@sorted = sort { \$a <=> \$b } map { \$_ * 3 % 17 } 1 .. 30;
    my \$s = join ',', \@sorted, keys %h;
}
EOS

sub timing_script {
    my ($tool) = @_;
    return <<"EOS";
use strict; use warnings;
use Time::HiRes qw(time);
use $tool;
sub heavy {
$HEAVY
}
heavy();    # warm up
my \$t0 = time; heavy(); my \$bare = time - \$t0;
\$t0 = time; my \@info = leaked_info { heavy() }; my \$traced = time - \$t0;
printf "bare=%.6f traced=%.6f leaks=%d\\n", \$bare, \$traced, scalar \@info;
EOS
}

my %times;
for my $run (1 .. $opt{runs}) {
    for my $tool ($run % 2 ? @TOOLS : reverse @TOOLS) {
        my ($out, $status) = run_script($tool, timing_script($tool));
        my ($bare, $traced, $leaks) = $out =~ /bare=(\S+) traced=(\S+) leaks=(\d+)/
          or die "compare-leaktrace.pl: $tool timing run failed: "
          . (split /\n/, $out)[0] . "\n";
        push @{ $times{$tool}{bare} },   $bare;
        push @{ $times{$tool}{traced} }, $traced;
        push @{ $times{$tool}{ratio} },  $traced / $bare;
        $times{$tool}{leaks} = $leaks;
    }
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

printf "\n== leaked_info on an allocation-heavy block (%d loop iterations),"
  . " medians of %d runs\n", $opt{size}, $opt{runs};
printf "%-16s %10s %12s %14s %s\n", 'tool', 'bare ms', 'traced ms', 'traced/bare', 'ratio range';
for my $tool (@TOOLS) {
    my $t = $times{$tool};
    my @r = sort { $a <=> $b } @{ $t->{ratio} };
    printf "%-16s %10.1f %12.1f %14.2f %.2f-%.2f\n", $tool,
      1000 * median(@{ $t->{bare} }), 1000 * median(@{ $t->{traced} }),
      median(@r), $r[0], $r[-1];
}
printf "Test::LeakTrace / Test::MemTrace (traced time): %.1fx\n",
  median(@{ $times{'Test::LeakTrace'}{traced} }) / median(@{ $times{'Test::MemTrace'}{traced} });
