# Test::MemTrace's data functions: leaked_count, leaked_info (with a real
# reference to each leaked SV, undef for C memory, and the Perl file and
# line that made it), leaked_refs (SVs only), and leaktrace in each of its
# modes and with a callback. A clean block leaks nothing in all of them.
use strict;
use warnings;
use Config;
use Scalar::Util qw(refaddr reftype);
use Test::More;
use lib 't/lib';
use MemTraceTest qw(why_no_test_memtrace marked_line leaky_xs_line run_perl write_script);

use Test::MemTrace;

if (my $why = why_no_test_memtrace()) {
    plan skip_all => $why;
}

my $FILE    = __FILE__;
my $XS_LINE = leaky_xs_line('leak_buffer');

sub make_cycle   { my $h = { name => 'node' }; $h->{self} = $h; return }  # LINE: cycle
sub leak_svs     { Leaky::leak_sv() for 1 .. 2; return }                  # LINE: leak_sv
sub leak_buffers { Leaky::leak_buffer(100) for 1 .. 3; return }           # LINE: leak_buffer
sub clean_work {
    my @rows = map { { id => $_, name => "row $_" } } 1 .. 50;
    my $text = join ',', map { $_->{name} } @rows;
    my $n = Leaky::temp_buffer(1000) + Leaky::make_sv(3);
    return length($text) + $n;
}
clean_work();    # perl keeps a sub's lexical arrays' buffers for its next call

# A sub's first call: perl keeps the buffers of its lexicals (here an
# array's) for the next call. That is not a leak.
sub first_call { my @list = (1 .. 50); return scalar @list }

# ---------------------------------------------------------------------------
# leaked_count

is(leaked_count { clean_work() }, 0, 'leaked_count: a clean block leaks 0');
is(leaked_count { first_call() }, 0, 'leaked_count: the buffer of a lexical array, kept by perl for the next call, is no leak');
is(leaked_count { my @x = map { [$_] } 1 .. 250_000; scalar @x }, 0,
    'leaked_count: growing perl\'s temporaries stack (made before recording) is no leak');
is(leaked_count { leak_svs() }, 2, 'leaked_count: two Leaky::leak_sv calls leak 2');
is(leaked_count { leak_buffers() }, 3, 'leaked_count: three Leaky::leak_buffer calls leak 3 (C memory counts)');
is(leaked_count { leak_svs(); leak_buffers() }, 5, 'leaked_count: SVs and buffers add up');
{
    local $Test::MemTrace::SV_ONLY = 1;
    is(leaked_count { leak_buffers() }, 0, 'leaked_count with SV_ONLY: C buffers do not count');
    is(leaked_count { leak_svs(); leak_buffers() }, 2, '... SVs do');
    is(leaked_count { make_cycle() }, 3, '... a cycle leaks its hash, the reference in it and the value (as Test::LeakTrace counts)');
}
is(leaked_count { make_cycle() }, 4,
    'without SV_ONLY the cycle also leaks its hash\'s C bucket array: 4, as Devel::MemTrace\'s report counts');
{
    my $calls = 0;
    my $count = leaked_count { $calls++ };
    is($calls, 1, 'leaked_count runs the block once');
}
{
    my $ok = eval { my $count = leaked_count { die "boom\n" }; 1 };
    ok(!$ok, 'an exception in the block propagates');
    is($@, "boom\n", '... unchanged');
    is(leaked_count { leak_svs() }, 2, '... and the next measurement is right');
}

# ---------------------------------------------------------------------------
# leaked_info: [$ref_or_undef, $file, $line, \%details]

is_deeply([ leaked_info { clean_work() } ], [], 'leaked_info: a clean block gives an empty list');

{
    my @info = leaked_info { leak_svs() };
    my $line = marked_line('leak_sv');
    is(scalar @info, 2, 'leaked_info: one entry per leaked SV of Leaky::leak_sv');
    for my $i (0 .. $#info) {
        my ($ref, $file, $line_got, $details) = @{ $info[$i] };
        is(ref $ref, 'SCALAR', "entry $i: a reference to the leaked scalar");
        ok(!defined $$ref, '... which is undef (an UNDEF SV)');
        is($file, $FILE, "... file $FILE");
        is($line_got, $line, "... line $line, the line that called Leaky::leak_sv");
        is($details->{kind}, 'sv', '... details: kind sv');
        is($details->{type}, 'UNDEF', '... type UNDEF');
        is($details->{sub}, 'main::leak_svs', '... sub main::leak_svs');
        is($details->{c_file}, 'sv.c', '... C file sv.c');
        is($details->{address}, refaddr($ref), '... the address is the SV the reference points to');
    }
}

{
    my @info = leaked_info { leak_buffers() };
    my $line = marked_line('leak_buffer');
    is(scalar @info, 3, 'leaked_info: one entry per Newx buffer of Leaky::leak_buffer');
    is_deeply([ map { $_->[0] } @info ], [ undef, undef, undef ], '... C memory has no reference: undef');
    is_deeply([ map { "$_->[1] line $_->[2]" } @info ], [ ("$FILE line $line") x 3 ], "... each at $FILE line $line");
    is_deeply([ map { join ' ', @{ $_->[3] }{qw(kind type size c_file c_line c_func sub)} } @info ],
        [ ("mem char 100 Leaky.xs $XS_LINE XS_Leaky_leak_buffer main::leak_buffers") x 3 ],
        "... details: 100 bytes of char, C site Leaky.xs:$XS_LINE XS_Leaky_leak_buffer");
}

{
    my @info = leaked_info { make_cycle() };
    my $line = marked_line('cycle');
    my @sv = grep { defined $_->[0] } @info;
    my ($hash) = grep { reftype($_->[0]) eq 'HASH' } @sv;
    my ($ref)  = grep { ref($_->[0]) eq 'REF' } @sv;
    ok($hash, 'leaked_info of a cycle: a reference to the leaked hash');
    is($hash && $hash->[0]{name}, 'node', '... the very hash the block made');
    is($hash && refaddr($hash->[0]{self}), $hash && refaddr($hash->[0]), '... which refers to itself');
    ok($ref, '... and a reference to the leaked reference');
    is($ref && refaddr(${ $ref->[0] }), $hash && refaddr($hash->[0]), '... which points to the hash');
    is_deeply([ map { "$_->[1] line $_->[2]" } @info ], [ ("$FILE line $line") x @info ],
        "... all made at $FILE line $line");
    is(scalar(grep { !defined $_->[0] } @info), scalar(grep { $_->[3]{kind} eq 'mem' } @info),
        '... undef exactly for the C memory');
    my @mem = grep { $_->[3]{kind} eq 'mem' } @info;
    is_deeply([ map { "$_->[3]{type} $_->[3]{c_file} $_->[3]{c_func}" } @mem ], ['char hv.c Perl_hv_common'],
        '... which is the hash\'s bucket array, made by hv.c');
    is($mem[0] && $mem[0][3]{owner}, $hash && refaddr($hash->[0]), '... its owner: the leaked hash');
    ok(!exists $hash->[3]{owner}, '... (an SV has no owner in its details)') if $hash;
    delete $hash->[0]{self} if $hash;    # break the cycle
}

# ---------------------------------------------------------------------------
# leaked_refs: SV references only

is_deeply([ leaked_refs { clean_work() } ], [], 'leaked_refs: a clean block gives an empty list');
is_deeply([ leaked_refs { leak_buffers() } ], [], 'leaked_refs: C buffers have no references');
{
    my @refs = leaked_refs { leak_svs(); leak_buffers() };
    is(scalar @refs, 2, 'leaked_refs: only the SVs of a block leaking SVs and buffers');
    is_deeply([ map { ref } @refs ], [ 'SCALAR', 'SCALAR' ], '... references to the leaked scalars');
}
{
    my @refs = leaked_refs { make_cycle() };
    my ($hash) = grep { reftype($_) eq 'HASH' } @refs;
    is($hash && $hash->{name}, 'node', 'leaked_refs of a cycle: the leaked hash itself');
    delete $hash->{self} if $hash;
}

# ---------------------------------------------------------------------------
# leaktrace with a callback

{
    my @calls;
    leaktrace { leak_svs(); leak_buffers() } sub { push @calls, [@_] };
    is(scalar @calls, 5, 'leaktrace with a callback: called once per leak');
    is(scalar(grep { @$_ == 4 } @calls), 5, '... with ($ref, $file, $line, $details)');
    is_deeply([ sort map { defined $_->[0] ? ref $_->[0] : 'undef' } @calls ],
        [ 'SCALAR', 'SCALAR', 'undef', 'undef', 'undef' ], '... refs for the SVs, undef for the buffers');
    is_deeply([ sort map {"$_->[1]:$_->[2]"} @calls ],
        [ sort((("$FILE:" . marked_line('leak_buffer')) x 3), (("$FILE:" . marked_line('leak_sv')) x 2)) ],
        '... each with its file and line');
    my $called = 0;
    leaktrace { clean_work() } sub { $called++ };
    is($called, 0, '... and never for a clean block');
}

# ---------------------------------------------------------------------------
# leaktrace's modes: run in a child perl, reading its STDERR (sv_dump writes
# to perl's debug log, fd 2, directly).

my $script = write_script(<<'PERL');
use strict;
use warnings;
use Test::MemTrace;
use Leaky;
my $mode = shift;
sub cycle { my $h = { name => 'node' }; $h->{self} = $h; return }  # LINE: child_cycle
sub work {
    cycle();
    Leaky::leak_sv();                   # LINE: child_leak_sv
    Leaky::leak_buffer(64);             # LINE: child_leak_buffer
    my $n = Leaky::temp_buffer(100);    # LINE: child_temp
    return $n;
}
if ($mode eq 'clean') { leaktrace { Leaky::temp_buffer(100) } -simple }
elsif ($mode eq 'default') { leaktrace { work() } }
else { leaktrace { work() } $mode }
print "done\n";
PERL
my %line = map { $_ => marked_line("child_$_", $script) } qw(cycle leak_sv leak_buffer temp);
my $hex  = qr/0x[0-9a-f]+/;

my %run = map { $_ => run_perl($script, $_) } qw(-simple -lines -sv_dump -verbose -sites default clean);
for my $mode (sort keys %run) {
    is($run{$mode}{exit}, 0, "leaktrace $mode: the program runs") or diag $run{$mode}{stderr};
    is($run{$mode}{stdout}, "done\n", '... and continues after it');
}

# -simple: one line per leak.
my $simple = $run{'-simple'}{stderr};
my @simple = split /\n/, $simple;
is(scalar(grep { /^leaked HASH\($hex\) from \Q$script\E line $line{cycle}\.$/ } @simple), 1,
    '-simple: the leaked HASH and where it was made') or diag $simple;
is(scalar(grep { /^leaked REF\($hex\) from \Q$script\E line $line{cycle}\.$/ } @simple), 1,
    '-simple: the leaked REF') or diag $simple;
is(scalar(grep { /^leaked UNDEF\($hex\) from \Q$script\E line $line{leak_sv}\.$/ } @simple), 1,
    '-simple: the UNDEF SV of Leaky::leak_sv') or diag $simple;
is(scalar(grep { /^leaked 64 bytes of char\($hex\) from \Q$script\E line $line{leak_buffer}\b.*\bLeaky\.xs:$XS_LINE XS_Leaky_leak_buffer\b/ } @simple), 1,
    '-simple: the Newx buffer, its size and its C site') or diag $simple;
is(scalar(grep { !/^leaked / } @simple), 0, '-simple: nothing but one line per leak') or diag $simple;
unlike($simple, qr/line $line{temp}\b/, '-simple: the temporary buffer is not listed');
is_deeply([ sort split /\n/, $run{default}{stderr} =~ s/$hex/0x/gr ], [ sort split /\n/, $simple =~ s/$hex/0x/gr ],
    'the default mode is -simple');

# -lines: and the source line (among the lines around it).
my $lines = $run{'-lines'}{stderr};
my $source = qr/(?:\s*\d+:.*\n)*?/;
like($lines, qr/^leaked UNDEF\($hex\) from \Q$script\E line $line{leak_sv}\.\n$source\s*$line{leak_sv}:\s*Leaky::leak_sv\(\);\s+# LINE: child_leak_sv\n/m,
    '-lines: each leak followed by its source line') or diag $lines;
like($lines, qr/^leaked 64 bytes of char.*\n$source\s*$line{leak_buffer}:\s*Leaky::leak_buffer\(64\);/m,
    '-lines: also for C memory') or diag $lines;
unlike($lines, qr/^SV = /m, '-lines: no sv_dump');

# -sv_dump: and perl's dump of each SV.
my $dump = $run{'-sv_dump'}{stderr};
like($dump, qr/^leaked UNDEF\(($hex)\) from \Q$script\E line $line{leak_sv}\.\nSV = NULL\(0x0\) at \1\n/m,
    '-sv_dump: the UNDEF SV, then its dump at the same address') or diag $dump;
like($dump, qr/^leaked HASH\(($hex)\) from .*\nSV = PVHV\($hex\) at \1\n(?:  .*\n)*?  KEYS = 2\n/m,
    '-sv_dump: the HASH and its dump') or diag $dump;
unlike($dump, qr/^\s*$line{leak_sv}:/m, '-sv_dump: no source lines');

# -verbose: both.
my $verbose = $run{'-verbose'}{stderr};
like($verbose, qr/^leaked UNDEF\(($hex)\) from \Q$script\E line $line{leak_sv}\.\n$source\s*$line{leak_sv}:\s*Leaky::leak_sv\(\);.*\n$source\s*SV = NULL\(0x0\) at \1\n/m,
    '-verbose: the leak, its source line and its dump') or diag $verbose;

# -sites: one entry per site, with counts and bytes.
my $sites = $run{'-sites'}{stderr};
like($sites, qr/^\d+ leaks at \d+ sites:$/m, '-sites: a summary line') or diag $sites;
like($sites, qr/^  leaked 1 char C buffer \(64 bytes\) at \Q$script\E line $line{leak_buffer}, in main::work\n      C site: Leaky\.xs:$XS_LINE XS_Leaky_leak_buffer\n\s+$line{leak_buffer}: \s*Leaky::leak_buffer\(64\);/m,
    '-sites: the buffer site, its count, bytes, Perl and C site and source') or diag $sites;
like($sites, qr/^  leaked 1 UNDEF SV \(\d+ bytes\) at \Q$script\E line $line{leak_sv}, in main::work\n      C site: sv\.c:\d+ Perl_newSV\n/m,
    '-sites: the UNDEF SV site') or diag $sites;
like($sites, qr/^  leaked \d+ SVs \((?=[^)]*\b1 HASH\b)(?=[^)]*\b1 REF\b)[^)]*\) \(\d+ bytes\) at \Q$script\E line $line{cycle}, in main::cycle$/m,
    '-sites: the cycle\'s hash and reference, one site') or diag $sites;

# A clean block: no output.
is($run{clean}{stderr}, '', 'leaktrace on a clean block prints nothing');

done_testing;
