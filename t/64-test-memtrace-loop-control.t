# However a block under test leaves, every Test::MemTrace function runs it
# exactly as often as it says, each measured run in a recorder iteration of
# its own, and gives the result it gives for a block that returns.
#
# A block is a sub: `return` ends a run. `next`, `last`, `redo` (plain, or
# for a loop of the test outside the call) and `goto` a label outside the
# block would leave the sub for a loop in its callers, which were
# Test::MemTrace's own: a growing block that ended with `next` passed
# no_growth_ok, run fewer times than measured. Now such a run ends there,
# as at a return, no loop outside is reached, and the function warns once
# (category exiting) at the line that called it. `die` propagates
# unchanged.
#
# Each case is compiled from a template with a #line of its own, so the
# block that leaks one UNDEF SV per run (Leaky::leak_sv) is at a known file
# and line: "loop-control/FUNCTION/HOW" line 3.
use strict;
use warnings;
use Scalar::Util qw(refaddr);
use Test::More;
use Test2::API qw(intercept);
use lib 't/lib';
use MemTraceTest qw(why_no_test_memtrace);

use Test::MemTrace;

if (my $why = why_no_test_memtrace()) {
    plan skip_all => $why;
}

# The growth functions: one warm-up run and three measured ones.
$Test::MemTrace::WARMUP = 1;
$Test::MemTrace::RUNS   = 3;

# Set by the compiled cases.
our ($Runs, $Result, $After, $Jumped);

# How each function is called, and the runs it makes: single-run functions
# once, leaks_cmp_ok and no_leaks_ok three times (warm-up, measured, one
# more), the growth functions WARMUP + RUNS times. The assertions run under
# Test2's intercept, which gives their events.
my %FUNCTION = (
    leaked_info  => { runs => 1, call => '[ leaked_info BLOCK ]' },
    leaked_refs  => { runs => 1, call => '[ leaked_refs BLOCK ]' },
    leaked_count => { runs => 1, call => 'leaked_count BLOCK' },
    leaktrace    => { runs => 1, call => 'do { my @calls; leaktrace BLOCK sub { push @calls, [@_] }; \@calls }' },
    leaks_cmp_ok => { runs => 3, call => q{intercept { leaks_cmp_ok BLOCK '==', 1, 'one leak' }} },
    no_leaks_ok  => { runs => 3, call => q{intercept { no_leaks_ok BLOCK 'no leaks' }} },
    no_growth_ok => { runs => 4, call => q{intercept { no_growth_ok BLOCK 'no growth' }} },
    growth_count => { runs => 4, call => 'growth_count BLOCK' },
    growth_info  => { runs => 4, call => '[ growth_info BLOCK ]' },
);

# How the block leaves, after it leaked its one SV; and what the warning
# names it.
my %HOW = (
    returns    => { code => '',                    left => undef },
    return     => { code => 'return 42;',          left => undef },
    next       => { code => 'next;',               left => 'next' },
    last       => { code => 'last;',               left => 'last' },
    redo       => { code => 'redo;',               left => 'redo' },
    next_outer => { code => 'next OUTER;',         left => 'next OUTER' },
    last_outer => { code => 'last OUTER;',         left => 'last OUTER' },
    goto_out   => { code => 'goto DONE;',          left => 'goto' },
    die        => { code => qq{die "boom\\n";},    left => undef },
);

my $LINE = 3;    # the line of the block in each case's file

# Compiles the case: a loop OUTER around the call, the label DONE after
# it. Without Test::MemTrace in between, `next OUTER` and `last OUTER`
# would skip `$After = 1`, `goto DONE` would set $Jumped, `redo` would run
# the loop's body again for ever.
sub compile_case {
    my ($function, $how) = @_;
    my $block = "{ \$Runs++; Leaky::leak_sv(); $HOW{$how}{code} }";
    (my $call = $FUNCTION{$function}{call}) =~ s/BLOCK/$block/;
    my $code = <<"PERL";
#line 1 "loop-control/$function/$how"
sub {
    OUTER: for my \$pass (1) {
        \$Result = $call;
        \$After = 1;
    }
    return;
    DONE: \$Jumped = 1;
    return;
}
PERL
    my $case = eval $code or die "cannot compile the case $function/$how: $@";
    return $case;
}

# Runs a case: its warnings (Test::MemTrace's, perl's "Exiting ..." ones),
# and the exception, if any. perl's warnings come while the block runs, so
# the handler only appends to a string that exists already: pushing onto
# an array would make an SV in the run, a leak of the block.
our $Warned = ' ' x 10_000;
sub run_case {
    my ($case) = @_;
    ($Runs, $Result, $After, $Jumped) = (0, undef, 0, 0);
    $Warned = '';
    local $SIG{__WARN__} = \&warned;
    my $ok = eval { $case->(); 1 };
    return ([ $Warned =~ /(.*\n)/g ], $ok ? undef : $@);
}
sub warned { $Warned .= $_[0]; return }

# The result a block that leaks one UNDEF SV per run gives, whatever way
# it leaves: checks for each function.
sub check_result {
    my ($function, $file, $what) = @_;
    my $at = "$file line $LINE";
    if ($function eq 'leaked_info') {
        is(scalar @$Result, 1, "$what: one entry");
        my ($ref, $got_file, $got_line, $details) = @{ $Result->[0] || [] };
        is("$details->{kind} $details->{type} at $got_file line $got_line", "sv UNDEF at $at",
            "$what: the UNDEF SV made at $at");
        is(refaddr($ref), $details->{address}, "$what: with a reference to it");
    }
    elsif ($function eq 'leaked_refs') {
        is(scalar @$Result, 1, "$what: one reference");
        ok(ref $Result->[0] eq 'SCALAR' && !defined ${ $Result->[0] }, "$what: to the UNDEF SV");
    }
    elsif ($function eq 'leaked_count' || $function eq 'growth_count') {
        is($Result, 1, "$what: 1");
    }
    elsif ($function eq 'leaktrace') {
        is(scalar @$Result, 1, "$what: the callback called once");
        is(join(' ', map { $_ // 'undef' } @{ $Result->[0] }[ 1, 2 ]), "$file $LINE", "$what: with $at");
    }
    elsif ($function eq 'growth_info') {
        is(scalar @$Result, 1, "$what: one growing site");
        my $site = $Result->[0] || {};
        is("$site->{kind} $site->{type} at $site->{file} line $site->{line}", "sv UNDEF at $at",
            "$what: the UNDEF SVs at $at");
        is_deeply($site->{per_iteration}, [ 1, 1, 1 ], "$what: 1 in each of the 3 measured runs");
    }
    else {
        my @ok   = grep { $_->isa('Test2::Event::Ok') } @$Result;
        my $diag = join "\n", map { $_->message } grep { $_->isa('Test2::Event::Diag') } @$Result;
        is(scalar @ok, 1, "$what: one test");
        my %expect = (
            leaks_cmp_ok => [ 1, 'one leak (leaks 1 == 1)' ],
            no_leaks_ok  => [ 0, 'no leaks (leaks 1 <= 0)' ],
            no_growth_ok => [ 0, 'no growth' ],
        );
        my ($pass, $name) = @{ $expect{$function} };
        is($ok[0] && ($ok[0]->pass ? 1 : 0) . ' ' . $ok[0]->name, "$pass $name",
            "$what: " . ($pass ? 'passes' : 'fails') . " as '$name'");
        if ($function eq 'no_leaks_ok') {
            like($diag, qr/^  leaked 1 UNDEF SV \(\d+ bytes\) at \Q$at\E, in main::__ANON__$/m,
                "$what: the diagnostics name the leak at $at") or diag $diag;
        }
        if ($function eq 'no_growth_ok') {
            like($diag, qr/^  leaked 3 UNDEF SVs \(\d+ bytes\) at \Q$at\E, in main::__ANON__\n      C site: sv\.c:\d+ Perl_newSV; per run: 1 1 1$/m,
                "$what: the diagnostics show 1 leak in each measured run") or diag $diag;
        }
    }
}

for my $function (sort keys %FUNCTION) {
    my $runs = $FUNCTION{$function}{runs};
    for my $how (sort keys %HOW) {
        my $file = "loop-control/$function/$how";
        my $what = "$function, a block that " . ($how eq 'returns' ? 'returns' : "ends with $HOW{$how}{code}");
        my ($warnings, $error) = run_case(compile_case($function, $how));
        my @ours   = grep {/^Test::MemTrace::/} @$warnings;
        my @perl   = grep { !/^Test::MemTrace::/ } @$warnings;
        if ($how eq 'die') {
            is($error, "boom\n", "$what: the exception propagates unchanged");
            is($Runs, 1, "$what: the block ran once, then the call ended");
            ok(!defined $Result && !$After, "$what: no result");
            is_deeply(\@ours, [], "$what: no warning from Test::MemTrace");
            ok(!Devel::MemTrace::is_recording(), "$what: recording is off again");
            next;
        }
        is($error, undef, "$what: the call returns") or next;
        is($Runs, $runs, "$what: the block ran $runs time" . ($runs == 1 ? '' : 's'));
        is("$After $Jumped", '1 0', "$what: the test's code after the call ran; no loop or label outside was reached");
        check_result($function, $file, $what);
        my $left = $HOW{$how}{left};
        unless (defined $left) {
            is_deeply($warnings, [], "$what: no warning");
            next;
        }
        my $text = $runs == 1
          ? qq{the block was left by "$left": its run ended there, as at a return; no loop outside the block is reached from it}
          : qq{the block was left by "$left" in all $runs runs: each such run ended there, as at a return; no loop outside the block is reached from it};
        is_deeply(\@ours, ["Test::MemTrace::$function: $text at $file line $LINE.\n"],
            "$what: one warning, at the line of the call");
        next if $how eq 'goto_out';    # perl does not warn about goto
        (my $op = $left) =~ s/ .*//;
        my @expected = ("Exiting subroutine via $op at $file line $LINE.\n") x $runs;
        @expected = map { ($_, "Exiting pseudo-block via $op at $file line $LINE.\n") } @expected
          if $left =~ / /;
        is_deeply(\@perl, \@expected, "$what: and perl's own warnings, once per run");
    }
}

# ---------------------------------------------------------------------------
# A block that leaves by `next` in some runs only, and the warning's count.

{
    $Warned = '';
    local $SIG{__WARN__} = \&warned;
    no warnings 'exiting';    # perl's own; Test::MemTrace's are then silent too
    my $runs = 0;
    my $count = growth_count { $runs++; next if $runs % 2; Leaky::leak_sv() };
    is($runs, 4, 'a block that leaves by next in every other run still runs 4 times');
    is($count, 0, '... and leaks in 2 of its 3 measured runs only: no growth');
    is($Warned, '', "... with no warnings 'exiting' at the call, no warning at all");
}
{
    $Warned = '';
    local $SIG{__WARN__} = \&warned;
    my $runs = 0;
    my $count = growth_count { Leaky::leak_sv(); $runs++; next if $runs % 2; last };    # LINE: mixed
    my $line = MemTraceTest::marked_line('mixed');
    is($count, 1, 'a block that leaves by next and by last in turn: 1 per run');
    is_deeply([ grep {/^Test::MemTrace/} $Warned =~ /(.*\n)/g ],
        [ qq{Test::MemTrace::growth_count: the block was left by "next" in 2 of 4 runs, "last" in 2 of 4 runs:}
            . ' each such run ended there, as at a return; no loop outside the block is reached from it'
            . " at ${\ __FILE__} line $line.\n" ],
        '... one warning, with how many runs left each way');
}

# Loop control for the block's own loops is the block's business.
{
    $Warned = '';
    local $SIG{__WARN__} = \&warned;
    my $runs = 0;
    my $count = leaked_count {
        $runs++;
        for my $i (1 .. 3) { next if $i == 2; last if $i == 3; Leaky::leak_sv() }
        my $j = 0;
        { $j++; redo if $j < 3; }
    };
    is("$runs $count", '1 1', 'loop control for loops inside the block works as usual');
    is($Warned, '', '... and warns of nothing');
}

# The block sees the caller's $_, whatever loops Test::MemTrace runs.
{
    my @seen;
    for ('the caller\'s') {
        no_growth_ok_quiet(sub { push @seen, $_ });
    }
    is_deeply([ sort { $a cmp $b } keys %{ { map { $_ => 1 } @seen } } ], ["the caller's"],
        'the block sees the caller\'s $_ in every run');
}

sub no_growth_ok_quiet {
    my ($block) = @_;
    intercept { no_growth_ok { $block->() } 'quiet' };
    return;
}

done_testing;
