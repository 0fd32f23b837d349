# Test::MemTrace's assertions as a test suite sees them: no_leaks_ok,
# leaks_cmp_ok and no_growth_ok pass on clean code and fail on each planted
# leak kind (a Perl reference cycle, an unreferenced SV made in XS, a Newx
# buffer made in XS), and their diagnostics name the leaking Perl line, the
# sub, the C site, the type, the count and the bytes. They are good
# Test::Builder citizens: the failure is reported at the caller's line
# ($Test::Builder::Level honoured), they work in subtests and under Test2,
# and done_testing counts them. $Test::MemTrace::SV_ONLY, RUNS and WARMUP
# change what is counted and how often the block runs.
use strict;
use warnings;
use Config;
use Test::More;
use Test::Builder::Tester;
use Test2::API qw(intercept);
use lib 't/lib';
use MemTraceTest qw(why_no_test_memtrace marked_line leaky_xs_line run_perl write_script slurp);

use Test::MemTrace;

if (my $why = why_no_test_memtrace()) {
    plan skip_all => $why;
}

my $FILE    = __FILE__;
my $XS_LINE = leaky_xs_line('leak_buffer');
my $SV_HEAD = 2 * $Config{ptrsize} + 8;    # sizeof(SV): the bytes of a bodiless SV
my @SOURCE  = split /\n/, slurp($FILE);

# The planted leaks, one statement each, and clean work.
our (@Kept, %Cache, $Last);
use JSON::PP ();
{
    package Client;
    sub new     { return bless {}, shift }
    sub request { my ($self) = @_; $self->{last_response} = { status => 200, body => 'x' x 50 }; 200 }
}
my $Client = Client->new;
sub make_counter  { my $n = 0; return sub { $n++ } }
sub lexical_array { my @a = (1, 2, 3); return \@a }
sub make_cycle   { my $h = {}; $h->{self} = $h; return }                   # LINE: cycle
sub leak_svs     { Leaky::leak_sv() for 1 .. 2; return }                  # LINE: leak_sv
sub leak_buffers { Leaky::leak_buffer(100) for 1 .. 3; return }           # LINE: leak_buffer
sub keep_one     { push @Kept, [ 1, 2, 3 ]; return }                      # LINE: keep
sub fill_cache   { $Cache{table} //= { map { $_ => "value $_" } 1 .. 20 }; return scalar keys %{ $Cache{table} } }

my %CLEAN = (
    'lexical arrays and hashes' => sub {
        my @rows = map { { id => $_, tags => [ $_ % 3 ] } } 1 .. 50;
        my %by   = map { $_->{id} => $_ } @rows;
        return scalar keys %by;
    },
    'a string built and dropped' => sub {
        my $s = join ',', map {"item $_"} 1 .. 100;
        $s .= 'x' x 1000;
        return length $s;
    },
    'a temporary XS buffer (Leaky::temp_buffer)' => sub { Leaky::temp_buffer(4096) },
    'mortal XS SVs (Leaky::make_sv)'             => sub { my $n = Leaky::make_sv(42) + Leaky::make_sv(1); $n },
    'an XS buffer adopted by an SV (Leaky::adopt_buffer)' => sub {
        my $str = Leaky::adopt_buffer(100);
        $str .= 'x' x 10_000;    # perl moves the adopted buffer
        return length $str;
    },
    'a cache filled on the first run' => \&fill_cache,
    # What a run keeps only until the next run replaces it.
    'an object that remembers its last response' => sub { $Client->request },
    'a global replaced on every call' => sub { $Last = [ 1, 2, 3 ] },
    # A `my` variable perl re-creates in the pad when the old one is kept.
    'a closure factory' => sub { my $counter = make_counter(); $counter->() },
    'a reference to a lexical array returned' => sub { my $r = lexical_array(); scalar @$r },
    # A regexp's capture buffer, swapped by each match.
    'captures in a loop' => sub { my @d; push @d, $1 while "a1b2c3" =~ /(\d)/g; scalar @d },
    'JSON::PP decode and encode' => sub {
        my $data = JSON::PP->new->canonical->decode('{"a":[1,2,{"b":"c"}],"d":null}');
        JSON::PP->new->canonical->encode($data);
    },
    # perl's temporaries stack, made at startup, grows (a Renew of a buffer
    # the recorder never saw).
    'a temporaries stack grown' => sub { my @x = map { [$_] } 1 .. 50_000; scalar @x },
);

# The events of running $code, under Test2's intercept: the Ok events, the
# text of all Diag events, and all events.
sub events_of {
    my ($code) = @_;
    my $events = intercept { $code->() };
    my @ok   = grep { $_->isa('Test2::Event::Ok') } @$events;
    my $diag = join "\n", map { $_->message } grep { $_->isa('Test2::Event::Diag') } @$events;
    return (\@ok, $diag, $events);
}

# The diag lines of one leak site: what, where, the C site, the source.
sub site_re {
    my (%site) = @_;
    my $source = $SOURCE[ $site{line} - 1 ];
    my $c_site = $site{c_site} // qr/\S+:\d+ \S+/;
    return qr/^  leaked $site{count} \Q$site{what}\E \($site{bytes} bytes\) at \Q$FILE\E line $site{line}, in \Q$site{sub}\E\n      C site: $c_site(?:; per run: [\d ]+)?\n\s+$site{line}: \Q$source\E$/m;
}

# The planted leaks' sites as the diagnostics of each assertion show them:
# no_leaks_ok and leaks_cmp_ok count the leaks of one run, no_growth_ok
# those of its 5 measured runs, with the leaks of each run.
my ($CYCLE, $LEAK_SV, $LEAK_BUFFER) = map { marked_line($_) } qw(cycle leak_sv leak_buffer);
sub planted_sites {
    my ($what, $runs) = @_;
    if ($what =~ /cycle/) {
        # One site (Devel::MemTrace's grouping), its types listed: a HASH
        # and a REF per run.
        return qr/^  leaked \d+ SVs \((?=[^)]*\b$runs HASH\b)(?=[^)]*\b$runs REF\b)[^)]*\) \(\d+ bytes\) at \Q$FILE\E line $CYCLE, in main::make_cycle$/m;
    }
    if ($what =~ /leak_sv/) {
        return site_re(count => 2 * $runs, what => 'UNDEF SVs', bytes => 2 * $runs * $SV_HEAD,
            line => $LEAK_SV, sub => 'main::leak_svs',
            c_site => qr/sv\.c:\d+ Perl_newSV${\ ($runs > 1 ? '; per run: 2' . ' 2' x ($runs - 1) : '')}/);
    }
    return site_re(count => 3 * $runs, what => 'char C buffers', bytes => 300 * $runs,
        line => $LEAK_BUFFER, sub => 'main::leak_buffers',
        c_site => qr/Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer${\ ($runs > 1 ? '; per run: 3' . ' 3' x ($runs - 1) : '')}/);
}

my %PLANTED = (
    'a Perl reference cycle'                    => \&make_cycle,
    'unreferenced SVs from XS (Leaky::leak_sv)' => \&leak_svs,
    'Newx buffers from XS (Leaky::leak_buffer)' => \&leak_buffers,
);

# Test::Builder::Tester, at the top level of the file: the exact output.
# First in the file: Test::Builder::Tester renumbers the tests it checks,
# and would hide the failures of the tests before it.
{
    my $line   = marked_line('leak_buffer');
    my $source = $SOURCE[ $line - 1 ];
    my @diag = (
        "    '3'", '        <=', "    '0'",
        "  leaked 3 char C buffers (300 bytes) at $FILE line $line, in main::leak_buffers",
        "      C site: Leaky.xs:$XS_LINE XS_Leaky_leak_buffer",
        sprintf('      %5d: %s', $line, $source),
    );
    test_out('not ok 1 - buffers (leaks 3 <= 0)', 'ok 2 - clean (leaks 0 <= 0)');
    test_fail(+2);
    test_diag(@diag);
    no_leaks_ok { leak_buffers() } 'buffers';
    no_leaks_ok { Leaky::temp_buffer(64) } 'clean';
    test_test('Test::Builder::Tester: the failure, at the caller line, and the leak site; then a pass');
    # Test::Builder::Tester turned off the ending checks; this file's own
    # failures must still fail it.
    Test::Builder->new->no_ending(0);
}

# ---------------------------------------------------------------------------
# Clean code passes each assertion, with no diagnostics.

for my $what (sort keys %CLEAN) {
    my $code = $CLEAN{$what};
    my ($ok, $diag) = events_of(sub {
        %Cache = ();
        no_leaks_ok { $code->() } "no_leaks_ok: $what";
        %Cache = ();
        leaks_cmp_ok { $code->() } '==', 0, "leaks_cmp_ok: $what";
        %Cache = ();
        no_growth_ok { $code->() } "no_growth_ok: $what";
    });
    is(scalar @$ok, 3, "$what: three test results");
    is_deeply([ map { $_->pass ? 1 : 0 } @$ok ], [ 1, 1, 1 ], "$what: all three pass")
        or diag $diag;
    is($ok->[0] && $ok->[0]->name, "no_leaks_ok: $what (leaks 0 <= 0)", "$what: no_leaks_ok names the count");
    is($ok->[1] && $ok->[1]->name, "leaks_cmp_ok: $what (leaks 0 == 0)", "$what: leaks_cmp_ok names the comparison");
    is($diag, '', "$what: no diagnostics");
}

# ---------------------------------------------------------------------------
# Each planted leak fails each assertion; the diagnostics name its sites.

for my $what (sort keys %PLANTED) {
    my $code = $PLANTED{$what};
    for my $assertion (qw(no_leaks_ok leaks_cmp_ok no_growth_ok)) {
        my @sites = planted_sites($what, $assertion eq 'no_growth_ok' ? 5 : 1);
        my ($ok, $diag) = events_of(sub {
            if    ($assertion eq 'no_leaks_ok')  { no_leaks_ok { $code->() } $what }
            elsif ($assertion eq 'leaks_cmp_ok') { leaks_cmp_ok { $code->() } '<', 1, $what }
            else                                 { no_growth_ok { $code->() } $what }
        });
        is(scalar @$ok, 1, "$assertion, $what: one test result");
        ok($ok->[0] && !$ok->[0]->pass, "$assertion fails on $what");
        like($diag, $_, "$assertion, $what: the diagnostics name the site") or diag $diag for @sites;
    }
}

# The count in the test name, and the leaks_cmp_ok operators.
{
    my ($ok, $diag) = events_of(sub {
        leaks_cmp_ok { leak_svs() } '==', 2, 'exactly two';
        leaks_cmp_ok { leak_svs() } '<=', 1, 'at most one';
        leaks_cmp_ok { leak_buffers() } '>', 2, 'more than two';
        leaks_cmp_ok { Leaky::temp_buffer(64) } '>', 0, 'some';
        leaks_cmp_ok { leak_buffers() } '!=', 3, 'not three';
    });
    is_deeply([ map { $_->name } @$ok ],
        [ 'exactly two (leaks 2 == 2)', 'at most one (leaks 2 <= 1)', 'more than two (leaks 3 >  2)',
          'some (leaks 0 >  0)', 'not three (leaks 3 != 3)' ],
        'leaks_cmp_ok appends (leaks GOT OP COUNT) to the name, as Test::LeakTrace does (%-2s)');
    is_deeply([ map { $_->pass ? 1 : 0 } @$ok ], [ 1, 0, 1, 0, 0 ],
        '... and compares the leaks of one run with the operator');
}

# no_growth_ok: the summary line of its diagnostics.
{
    my ($ok, $diag) = events_of(sub { no_growth_ok { leak_buffers() } 'buffers' });
    like($diag, qr/^1 site leaked in every one of 5 runs \(after 1 warm-up run\), at least 3 per run:$/m,
        'no_growth_ok says how many sites grew, in how many runs, by how much')
        or diag $diag;
    like($diag, qr/^      C site: Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer; per run: 3 3 3 3 3$/m,
        '... and the leaks of each run at each site') or diag $diag;
}

# A global that grows on every run fails no_growth_ok; a cache filled on the
# first run passes it, and passes leaks_cmp_ok thanks to its warm-up run.
{
    my ($ok, $diag) = events_of(sub {
        no_growth_ok { keep_one() } 'a push to a global array';
        %Cache = ();
        no_growth_ok { fill_cache() } 'a one-time cache';
        %Cache = ();
        leaks_cmp_ok { fill_cache() } '==', 0, 'a one-time cache, after warm-up';
    });
    %Cache = ();
    is_deeply([ map { $_->pass ? 1 : 0 } @$ok ], [ 0, 1, 1 ],
        'no_growth_ok fails on a growing global, passes on a one-time cache; so does leaks_cmp_ok');
    like($diag, qr/^  leaked \d+ \S*\s*SVs .* at \Q$FILE\E line ${\ marked_line('keep')}, in main::keep_one$/m,
        '... naming the line that pushes') or diag $diag;
    like($diag, qr/^  leaked .*\b5 ARRAY\b.* line ${\ marked_line('keep')},/m,
        '... and the 5 arrays it pushed (one per run), among its SVs') or diag $diag;
    %Cache = ();
    %Cache = ();
    my $n = growth_count { fill_cache() };
    is($n, 0, 'growth_count of a one-time cache is 0');
}

# ---------------------------------------------------------------------------
# growth_count, RUNS and WARMUP.

is(growth_count { Leaky::leak_sv(); Leaky::leak_sv() }, 2, 'growth_count: two leak_sv calls per run are 2');
is(growth_count { Leaky::leak_buffer(16) for 1 .. 3 }, 3, 'growth_count: three buffers per run are 3');
is(growth_count { Leaky::temp_buffer(16) }, 0, 'growth_count: a temporary buffer is 0');
{
    # Each run of a string eval compiles new code, "(eval N)" with a new N
    # each time; the recorder files all of them as "(eval)": the same line
    # of the eval's text is one site in every run.
    our @Eval_kept;
    my @sites = growth_info { eval 'push @main::Eval_kept, [1]; 1' or die $@ };
    is_deeply([ map { "$_->{kind} at $_->{file} line $_->{line}, $_->{c_func}: @{ $_->{per_iteration} }" } @sites ],
        [ 'sv at (eval) line 1, Perl_newSV_type: 3 3 3 3 3', 'mem at (eval) line 1, Perl_av_make: 1 1 1 1 1' ],
        'growth_info over a string eval: its array, integer and reference, and the array\'s elements, one site each at "(eval)" line 1');
}
{
    my $calls = 0;
    my $count = growth_count { $calls++ };
    is($calls, 6, 'by default the block runs 1 warm-up + 5 measured times');
    local $Test::MemTrace::RUNS   = 3;
    local $Test::MemTrace::WARMUP = 2;
    $calls = 0;
    $count = growth_count { $calls++ };
    is($calls, 5, '$Test::MemTrace::RUNS = 3, WARMUP = 2: the block runs 5 times');
    my ($site) = growth_info { Leaky::leak_sv() };
    is_deeply($site && $site->{per_iteration}, [ 1, 1, 1 ], '... and 3 runs are measured');
}
{
    # Without a warm-up run, a cache's first fill is measured; with one run
    # measured, it is counted as growth.
    local $Test::MemTrace::WARMUP = 0;
    local $Test::MemTrace::RUNS   = 1;
    %Cache = ();
    ok(growth_count { fill_cache() } > 0, 'WARMUP = 0, RUNS = 1: a cache filled in the run counts');
    %Cache = ();
    my ($ok) = events_of(sub { no_growth_ok { fill_cache() } 'cache, no warm-up' });
    ok($ok->[0] && !$ok->[0]->pass, '... and fails no_growth_ok');
    %Cache = ();
}
{
    # An intermittent leak (every other run) is not growth in every run.
    my $i = 0;
    is(growth_count { Leaky::leak_sv() if $i++ % 2 }, 0, 'a site that leaks in some runs only is not growth');
}

# ---------------------------------------------------------------------------
# $Test::MemTrace::SV_ONLY: C memory is not counted, SVs are.

{
    local $Test::MemTrace::SV_ONLY = 1;
    my ($ok, $diag) = events_of(sub {
        no_leaks_ok { leak_buffers() } 'buffers, SVs only';
        leaks_cmp_ok { leak_buffers() } '==', 0, 'buffers, SVs only';
        no_growth_ok { leak_buffers() } 'buffers, SVs only';
        no_leaks_ok { leak_svs() } 'SVs, SVs only';
        no_growth_ok { leak_svs() } 'SVs, SVs only';
    });
    is_deeply([ map { $_->pass ? 1 : 0 } @$ok ], [ 1, 1, 1, 0, 0 ],
        'local $Test::MemTrace::SV_ONLY = 1: a C-buffer-only leak passes, an SV leak fails');
    unlike($diag, qr/C buffer/, '... and no C buffer is listed');
}
{
    my ($ok) = events_of(sub { no_leaks_ok { leak_buffers() } 'buffers again' });
    ok($ok->[0] && !$ok->[0]->pass, '... and only within the local: C buffers count again after it');
}

# ---------------------------------------------------------------------------
# Test::Builder citizenship: where the failure is reported.

# Test2 events: the failure's trace is the line that called the assertion.
{
    my ($ok) = events_of(sub {
        no_leaks_ok { leak_svs() } 'direct';                      # LINE: call no_leaks_ok
        leaks_cmp_ok { leak_svs() } '<', 1, 'direct';             # LINE: call leaks_cmp_ok
        no_growth_ok { leak_svs() } 'direct';                     # LINE: call no_growth_ok
    });
    for my $i (0 .. 2) {
        my $name = (qw(no_leaks_ok leaks_cmp_ok no_growth_ok))[$i];
        my $want = marked_line("call $name");
        my $trace = $ok->[$i] && $ok->[$i]->trace;
        is($trace && join(' line ', $trace->file, $trace->line), "$FILE line $want",
            "$name called in a sub reports its failure at the caller's line $want");
    }
}

# A helper that wraps an assertion raises $Test::Builder::Level, and the
# failure is reported where the helper was called.
sub no_leaks_in {
    my ($code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return no_leaks_ok { $code->() } $name;
}
sub no_growth_in {
    my ($code, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return no_growth_ok { $code->() } $name;
}
{
    my ($ok) = events_of(sub {
        no_leaks_in(\&leak_buffers, 'wrapped');                    # LINE: wrapped no_leaks_ok
        no_growth_in(\&leak_buffers, 'wrapped');                   # LINE: wrapped no_growth_ok
    });
    for my $i (0, 1) {
        my $name = (qw(no_leaks_ok no_growth_ok))[$i];
        my $want = marked_line("wrapped $name");
        my $trace = $ok->[$i] && $ok->[$i]->trace;
        ok($ok->[$i] && !$ok->[$i]->pass, "$name in a wrapper helper fails");
        is($trace && join(' line ', $trace->file, $trace->line), "$FILE line $want",
            "... reported at the helper's caller, line $want (\$Test::Builder::Level honoured)");
    }
}

# Inside a subtest: the results belong to the subtest, which fails with them.
{
    my (undef, undef, $events) = events_of(sub {
        subtest 'leaks in a subtest' => sub {
            no_leaks_ok { Leaky::temp_buffer(64) } 'clean in subtest';
            no_leaks_ok { leak_svs() } 'leak in subtest';          # LINE: in subtest
            leaks_cmp_ok { leak_svs() } '==', 2, 'two in subtest';
            no_growth_ok { leak_buffers() } 'growth in subtest';
        };
        subtest 'clean subtest' => sub {
            no_leaks_ok { Leaky::make_sv(1) } 'clean';
            no_growth_ok { Leaky::temp_buffer(8) } 'clean';
        };
    });
    my @subtests = grep { $_->isa('Test2::Event::Subtest') } @$events;
    is(scalar @subtests, 2, 'two subtests');
    my @inner = grep { $_->isa('Test2::Event::Ok') } @{ $subtests[0]->subevents };
    is_deeply([ map { $_->pass ? 1 : 0 } @inner ], [ 1, 0, 1, 0 ], 'the assertions report inside the subtest');
    ok(!$subtests[0]->pass, '... which fails with them');
    ok($subtests[1]->pass, 'a subtest of clean assertions passes');
    my $trace = $inner[1] && $inner[1]->trace;
    is($trace && join(' line ', $trace->file, $trace->line), "$FILE line " . marked_line('in subtest'),
        '... and a failure inside a subtest is reported at its line');
    like(join("\n", map { $_->message } grep { $_->isa('Test2::Event::Diag') } @{ $subtests[0]->subevents }),
        planted_sites('leak_sv', 1),
        '... with its diagnostics');
}

# done_testing counts the assertions; a plan that says otherwise fails.
{
    my (undef, undef, $events) = events_of(sub {
        no_leaks_ok { 1 } 'one';
        leaks_cmp_ok { 1 } '==', 0, 'two';
        no_growth_ok { 1 } 'three';
        done_testing;
    });
    my ($plan) = grep { $_->isa('Test2::Event::Plan') } @$events;
    is($plan && $plan->max, 3, 'done_testing counts the three assertions');
    ok($events->state->{is_passing}, '... and the run passes');

    (undef, undef, $events) = events_of(sub {
        plan tests => 2;
        no_leaks_ok { 1 } 'one';
        leaks_cmp_ok { 1 } '==', 0, 'two';
        no_growth_ok { 1 } 'three';
    });
    is($events->state->{count}, 3, 'three assertions are three tests');
    ok(!$events->state->{is_passing}, '... so a plan of 2 fails');
}

# A Test2-based test file (Test2::Tools::Tiny, no Test::More).
{
    my $script = write_script(<<'PERL');
use strict;
use warnings;
use Test2::Tools::Tiny;
use Test::MemTrace;
use Leaky;
no_leaks_ok { Leaky::temp_buffer(100) } 'clean';
no_leaks_ok { Leaky::leak_buffer(10) } 'buffer';
no_growth_ok { Leaky::leak_sv() } 'growth';
leaks_cmp_ok { Leaky::leak_sv() } '==', 1, 'one';
done_testing;
PERL
    my $run = run_perl($script);
    is($run->{stdout}, "ok 1 - clean (leaks 0 <= 0)\nnot ok 2 - buffer (leaks 1 <= 0)\n"
        . "not ok 3 - growth\nok 4 - one (leaks 1 == 1)\n1..4\n",
        'a Test2::Tools::Tiny test file: results and done_testing count') or diag $run->{stderr};
    isnt($run->{exit}, 0, '... and it fails');
    like($run->{stderr}, qr/^#   leaked 1 char C buffer \(10 bytes\) at \Q$script\E line 7, in main::__ANON__\n#       C site: Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer$/m,
        '... with the diagnostics') or diag $run->{stderr};
    like($run->{stderr}, qr/^#   at \Q$script\E line 7\.$/m, '... at the failing line');
}

# The real thing: these count for this file's done_testing.
no_leaks_ok { $CLEAN{'lexical arrays and hashes'}->() } 'no_leaks_ok passes in this file';
leaks_cmp_ok { Leaky::leak_sv() } '==', 1, 'leaks_cmp_ok passes in this file';
no_growth_ok { Leaky::temp_buffer(32) } 'no_growth_ok passes in this file';

done_testing;
