# What Test::MemTrace cannot use is refused with one clear line, before the
# block runs: a block that is not code, an unknown leaktrace mode, an
# invalid comparison operator or expected count, bad RUNS/WARMUP settings,
# an unknown import option. On a perl that is not a MemTrace perl the
# assertions skip with the reason (never a plain pass, never a crash), and
# the data functions die with it.
use strict;
use warnings;
use File::Spec ();
use File::Temp ();
use TAP::Parser;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(run_perl write_script repo_root slurp);

use Test::MemTrace;

my $FILE = __FILE__;

# Runs $code; returns its exception ('' if none).
sub error_of {
    my ($code) = @_;
    local $@;
    return eval { my @result = $code->(); 1 } ? '' : $@;
}

# One line, at the caller's line (as croak reports it).
sub one_line_at {
    my ($line) = @_;
    return qr/ at \Q$FILE\E line $line\.\n\z/;
}

SKIP: {
    skip Test::MemTrace::unavailable_reason(), 1 if defined Test::MemTrace::unavailable_reason();

    my $ran = 0;
    my @cases = (
        # [ what, code, the line's text ]
        [ "&no_leaks_ok('x')", sub { &no_leaks_ok('x') },
          q{Test::MemTrace::no_leaks_ok: the first argument must be a code block or code reference, not 'x'} ],
        [ '&leaked_count(undef)', sub { &leaked_count(undef) },
          q{Test::MemTrace::leaked_count: the first argument must be a code block or code reference, not undef} ],
        [ '&leaks_cmp_ok({}, ...)', sub { &leaks_cmp_ok({}, '<', 1, 'x') },
          q{Test::MemTrace::leaks_cmp_ok: the first argument must be a code block or code reference, not HASH reference} ],
        [ '&no_growth_ok([])', sub { &no_growth_ok([]) },
          q{Test::MemTrace::no_growth_ok: the first argument must be a code block or code reference, not ARRAY reference} ],
        [ "&leaked_info('main::clean')", sub { &leaked_info('main::clean') },
          q{Test::MemTrace::leaked_info: the first argument must be a code block or code reference, not 'main::clean'} ],
        [ '&leaked_refs(\1)', sub { &leaked_refs(\1) },
          q{Test::MemTrace::leaked_refs: the first argument must be a code block or code reference, not SCALAR reference} ],
        [ '&growth_count(1)', sub { &growth_count(1) },
          q{Test::MemTrace::growth_count: the first argument must be a code block or code reference, not '1'} ],
        [ '&leaktrace(undef, -simple)', sub { &leaktrace(undef, '-simple') },
          q{Test::MemTrace::leaktrace: the first argument must be a code block or code reference, not undef} ],
        [ 'leaktrace -foo', sub { leaktrace { $ran++ } -foo },
          q{Test::MemTrace::leaktrace: unknown mode '-foo'; use one of -simple, -lines, -sv_dump, -verbose, -sites or a code reference} ],
        [ 'leaktrace {}', sub { leaktrace { $ran++ } {} },
          q{Test::MemTrace::leaktrace: unknown mode HASH reference; use one of -simple, -lines, -sv_dump, -verbose, -sites or a code reference} ],
        [ "leaktrace 'lines'", sub { leaktrace { $ran++ } 'lines' },
          q{Test::MemTrace::leaktrace: unknown mode 'lines'; use one of -simple, -lines, -sv_dump, -verbose, -sites or a code reference} ],
        [ 'leaks_cmp_ok =~', sub { leaks_cmp_ok { $ran++ } '=~', 1, 'x' },
          q{Test::MemTrace::leaks_cmp_ok: invalid comparison operator '=~'; use one of < <= == != >= >} ],
        [ 'leaks_cmp_ok lt', sub { leaks_cmp_ok { $ran++ } 'lt', 1, 'x' },
          q{Test::MemTrace::leaks_cmp_ok: invalid comparison operator 'lt'; use one of < <= == != >= >} ],
        [ 'leaks_cmp_ok undef', sub { leaks_cmp_ok { $ran++ } undef, 1, 'x' },
          q{Test::MemTrace::leaks_cmp_ok: invalid comparison operator undef; use one of < <= == != >= >} ],
        [ 'leaks_cmp_ok count -1', sub { leaks_cmp_ok { $ran++ } '<', -1, 'x' },
          q{Test::MemTrace::leaks_cmp_ok: the expected count must be a non-negative integer, not '-1'} ],
        [ "leaks_cmp_ok count 'x'", sub { leaks_cmp_ok { $ran++ } '==', 'x', 'x' },
          q{Test::MemTrace::leaks_cmp_ok: the expected count must be a non-negative integer, not 'x'} ],
        [ 'leaks_cmp_ok count 1.5', sub { leaks_cmp_ok { $ran++ } '<', 1.5, 'x' },
          q{Test::MemTrace::leaks_cmp_ok: the expected count must be a non-negative integer, not '1.5'} ],
        [ 'RUNS = 0', sub { local $Test::MemTrace::RUNS = 0; no_growth_ok { $ran++ } 'x' },
          q{Test::MemTrace::no_growth_ok: $Test::MemTrace::RUNS must be an integer from 1 to 1000000, not '0'} ],
        [ "RUNS = 'x'", sub { local $Test::MemTrace::RUNS = 'x'; growth_count { $ran++ } },
          q{Test::MemTrace::growth_count: $Test::MemTrace::RUNS must be an integer from 1 to 1000000, not 'x'} ],
        [ 'WARMUP = -1', sub { local $Test::MemTrace::WARMUP = -1; no_growth_ok { $ran++ } 'x' },
          q{Test::MemTrace::no_growth_ok: $Test::MemTrace::WARMUP must be an integer from 0 to 1000000, not '-1'} ],
        [ 'WARMUP = undef', sub { local $Test::MemTrace::WARMUP = undef; growth_info { $ran++ } },
          q{Test::MemTrace::growth_info: $Test::MemTrace::WARMUP must be an integer from 0 to 1000000, not undef} ],
    );
    my $count = Test::More->builder->current_test;
    for my $case (@cases) {
        my ($what, $code, $text) = @$case;
        my $error = error_of(sub { $code->() });
        # croak names the line of the call in @cases: find it.
        like($error, qr/\A\Q$text\E at \Q$FILE\E line \d+\.\n\z/, "$what dies with one line: $text");
    }
    is(Test::More->builder->current_test, $count + @cases, 'none of them made a test result');
    is($ran, 0, '... nor ran its block');

    # The line croak names is the caller's.
    my $error = error_of(sub { leaks_cmp_ok { 1 } 'lt', 1, 'x' });   my $line = __LINE__;
    like($error, one_line_at($line), "the error is reported at the caller's line $line");

    # The settings are checked when used, so a good value works again.
    {
        local $Test::MemTrace::RUNS = 2;
        is(growth_count { 1 }, 0, 'RUNS = 2 is fine');
    }

    # Import options.
    my $use = run_perl('-e', 'use Test::MemTrace -nope; print "ran\n"');
    isnt($use->{exit}, 0, 'use Test::MemTrace -nope: compilation fails');
    is($use->{stdout}, '', '... before anything runs');
    my ($first) = split /\n/, $use->{stderr};
    is($first, q{Test::MemTrace: unknown option '-nope'; options: -sv_only, -runs => N, -warmup => N at -e line 1.},
        '... with one line naming the option and listing the valid ones') or diag $use->{stderr};
    is(scalar(grep {/Test::MemTrace/} split /\n/, $use->{stderr}), 1, '... and no other line about it')
        or diag $use->{stderr};

    for my $case ([ '-runs => 0', q{-runs must be an integer from 1 to 1000000, not '0'} ],
                  [ q{-warmup => 'x'}, q{-warmup must be an integer from 0 to 1000000, not 'x'} ],
                  [ q{'nope'}, qr{'nope' is not exported; exported: [^\n]*\bno_leaks_ok\b[^\n]*} ]) {
        my ($args, $text) = @$case;
        my $run = run_perl('-e', "use Test::MemTrace $args; print qq{ran\\n}");
        my ($first) = split /\n/, $run->{stderr};
        $text = quotemeta $text unless ref $text;
        like($first, qr/\ATest::MemTrace: $text; options: -sv_only, -runs => N, -warmup => N at -e line 1\.\z/,
            "use Test::MemTrace $args dies with one line") or diag $run->{stderr};
        is($run->{stdout}, '', '... before anything runs');
    }

    my $good = run_perl('-e', 'use Test::MemTrace -sv_only, -runs => 3, -warmup => 0;'
        . ' print join(",", $Test::MemTrace::SV_ONLY, $Test::MemTrace::RUNS, $Test::MemTrace::WARMUP), "\n"');
    is($good->{stdout}, "1,3,0\n", 'use Test::MemTrace -sv_only, -runs => 3, -warmup => 0 sets the settings')
        or diag $good->{stderr};
}

# ---------------------------------------------------------------------------
# A perl that is not a MemTrace perl: the system perl, with perl/lib.

# Runs @command with a clean environment (no PERL5LIB: this perl's
# libraries are not the other perl's); returns exit, stdout, stderr.
sub run_other_perl {
    my (@command) = @_;
    my $dir = File::Temp->newdir('memtrace-other-XXXXXX', TMPDIR => 1);
    my ($out, $err) = ("$dir/stdout", "$dir/stderr");
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        delete @ENV{qw(PERL5LIB PERL5OPT PERLLIB HARNESS_ACTIVE HARNESS_VERSION)};
        open STDIN,  '<', File::Spec->devnull or die;
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec { $command[0] } @command or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return { exit => $? >> 8, signal => $? & 127, stdout => slurp($out), stderr => slurp($err) };
}

SKIP: {
    my $system = '/usr/bin/perl';
    skip "no $system", 1 unless -x $system;
    my $is_memtrace = `$system -MConfig -e 'print \$Config{ccflags}' 2>/dev/null`;
    skip "$system is a MemTrace perl", 1 if $is_memtrace =~ /-DPERL_MEM_LOG\b/;

    my $lib  = repo_root() . '/perl/lib';
    my $test = write_script(<<'PERL');
use strict;
use warnings;
use Test::More;
use Test::MemTrace;
my $ran = 0;
my $why = Test::MemTrace::unavailable_reason();
print "# REASON: ", (defined $why ? $why : 'undef'), "\n";
no_leaks_ok { $ran++; my $h = {}; $h->{self} = $h } 'no_leaks_ok';
leaks_cmp_ok { $ran++ } '<', 1, 'leaks_cmp_ok';
no_growth_ok { $ran++ } 'no_growth_ok';
for my $name (qw(leaked_count leaked_info leaked_refs growth_count growth_info leaktrace)) {
    no strict 'refs';
    my $error = eval { my @result = &$name(sub { $ran++ }); 1 } ? 'no error' : $@;
    $error =~ s/\n(?=.)/\\n/g;
    print "# DIED $name: $error";
}
print "# RAN: $ran\n";
done_testing;
PERL
    my $run = run_other_perl($system, "-I$lib", $test);
    is($run->{signal}, 0, "$system: the test file does not crash");
    is($run->{exit}, 0, '... and exits 0 (skips are not failures)') or diag $run->{stderr};

    my $parser = TAP::Parser->new({ tap => $run->{stdout} });
    my @results;
    while (my $result = $parser->next) {
        push @results, $result if $result->is_test;
    }
    is(scalar @results, 3, '... three test results') or diag $run->{stdout};
    is(scalar(grep { $_->has_skip } @results), 3, '... all three skipped') or diag $run->{stdout};
    is(scalar(grep { !$_->has_skip && $_->is_ok } @results), 0, '... none a plain pass');
    is(scalar(grep { !$_->is_ok } @results), 0, '... none a failure');
    is($parser->tests_planned, 3, '... and done_testing counts them');

    my ($reason) = $run->{stdout} =~ /^# REASON: (.*)$/m;
    like($reason, qr/\ADevel::MemTrace: this perl \(\Q$system\E\) is not a MemTrace perl\b[^\n]*\z/,
        'unavailable_reason: one line saying this perl is not a MemTrace perl');
    for my $result (@results) {
        is($result->explanation, "Test::MemTrace: $reason", '... the skip reason of ' . $result->description);
    }
    for my $name (qw(leaked_count leaked_info leaked_refs growth_count growth_info leaktrace)) {
        my ($error) = $run->{stdout} =~ /^# DIED $name: (.*)$/m;
        like($error, qr/\ATest::MemTrace::$name cannot measure: \Q$reason\E \(skip such tests when Test::MemTrace::unavailable_reason\(\) is true\) at \Q$test\E line \d+\.\z/,
            "$name dies with one line giving the reason");
    }
    my ($ran) = $run->{stdout} =~ /^# RAN: (\d+)$/m;
    is($ran, 0, 'no block ran');
    unlike($run->{stderr}, qr/\S/, 'nothing on STDERR') or diag $run->{stderr};

    # A bad argument is still refused there, in one line.
    my $bad = run_other_perl($system, "-I$lib", '-MTest::MemTrace', '-e', 'leaktrace { 1 } -foo');
    isnt($bad->{exit}, 0, "$system: an unknown leaktrace mode still dies");
    like($bad->{stderr}, qr/\ATest::MemTrace::leaktrace: unknown mode '-foo'; [^\n]* at -e line 1\.\n\z/,
        '... in one line') or diag $bad->{stderr};
}

done_testing;
