# What holds each leak: for every planted leak at its exact line, the
# holder a leak hunter needs beside where it was made. From one walk of
# the heap when the report is made.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky);
use Scalar::Util qw(weaken);
use Tie::Hash;

BEGIN { my $why = load_leaky(); plan skip_all => $why if $why }
use Devel::MemTrace qw(checkpoint leak_sites identify);

our (@Log, %Cache, %Tied, @Weak);
tie %Tied, 'Tie::StdHash';
my %file_lexical;
sub remember { state_cache($_[0]) }
sub state_cache { use feature 'state'; state %seen; $seen{ $_[0] } = [ $_[0] ] }   # LINE: state
sub closure_keeps_its_box { my $box = {}; $box->{cb} = sub { $box }; return }      # LINE: closure

checkpoint();
for my $i (1 .. 6) {
    Leaky::leak_sv();                                            # LINE: unreferenced
    my $h = {}; $h->{self} = $h;                                 # LINE: cycle 1
    my $a = {}; my $b = {}; $a->{b} = $b; $b->{a} = $a;          # LINE: cycle 2
    my ($x, $y, $z) = ({}, {}, {}); $x->{next} = $y; $y->{next} = $z; $z->{next} = $x;   # LINE: cycle 3
    push @Log, { request => $i };                                # LINE: global array
    $Cache{"k$i"}{items} = [ { n => $i } ];                      # LINE: cache
    closure_keeps_its_box();
    remember("key$i");
    $file_lexical{"f$i"} = [ $i ];                               # LINE: file lexical
    my $w = {}; $w->{me} = $w; weaken($w->{me});                 # LINE: weakened
    $Tied{"t$i"} = [ $i ];                                       # LINE: tied
    my $c_held = {}; Internals::SvREFCNT(%$c_held, 2);           # LINE: weak only
    push @Weak, $c_held; weaken($Weak[-1]);
    checkpoint();
}

my $sites = leak_sites(status => 'all');
sub held_at {
    my ($marker, $type) = @_;
    my $line = marked_line($marker);
    my @at = grep { $_->{file} eq __FILE__ && $_->{line} == $line && $_->{kind} eq 'sv'
                    && (!$type || $_->{types}{$type}) } @$sites;
    return [ map { @{ $_->{held_by} } } @at ];
}
sub holder_like {
    my ($marker, $type, $kind, $path, $name) = @_;
    my $held = held_at($marker, $type);
    my @match = grep { $_->{kind} eq $kind && $_->{text} =~ $path } @$held;
    ok(scalar @match, $name) or diag explain [ map { "$_->{kind}: $_->{text}" } @$held ];
    return $match[0];
}

my $unreferenced = holder_like('unreferenced', 'UNDEF', 'unreferenced', qr/^nothing refers to it: its one reference is held by C code/,
    'an SV from XS that nothing refers to: held by C code');
is($unreferenced && $unreferenced->{refcount}, 1, '... with its refcount, 1');

holder_like('cycle 1', 'HASH', 'cycle', qr/^a cycle of 2 \(\{self\}\)$/, '$h->{self} = $h: a cycle of 2 ({self})');
holder_like('cycle 2', 'HASH', 'cycle', qr/^a cycle of 4 \(\{(?:a\}\{b|b\}\{a)\}\)$/, 'two hashes referring to each other: a cycle of 4');
holder_like('cycle 3', 'HASH', 'cycle', qr/^a cycle of 6 \(\{next\}\{next\}\{next\}\)$/, 'three hashes in a ring: a cycle of 6');
holder_like('global array', 'HASH', 'root', qr/^\@main::Log\[\d+\]$/, 'push @Log, {...}: held by @main::Log[N]');
holder_like('cache', 'ARRAY', 'root', qr/^%main::Cache\{k\d\}\{items\}$/, 'a nested cache: %main::Cache{kN}{items}');
holder_like('cache', 'HASH', 'root', qr/^%main::Cache\{k\d\}(?:\{items\}\[0\])?$/, '... and the hashes under it');
holder_like('closure', 'HASH', 'cycle', qr/^a cycle of 4 \(.*\{cb\}.*captured as \$box by main::__ANON__.*\)$/,
    'a closure capturing its own container: the cycle names $box and the closure');
holder_like('state', 'ARRAY', 'root', qr/^my %seen in main::state_cache\{key\d\}$/,
    "a lexical of a long-lived sub's pad: my %seen in main::state_cache{keyN}");
holder_like('file lexical', 'ARRAY', 'root', qr/^my %file_lexical \(file level\)\{f\d\}$|%file_lexical captured by main::\w+\{f\d\}$/,
    'a file-level lexical: named, with its key');
holder_like('tied', 'ARRAY', 'root', qr/^%main::Tied \(the object of its 'P' magic\)\{t\d\}$/,
    'a tied hash: held through its tie object (magic)');

holder_like('weak only', 'HASH', 'weak only', qr/^only weak references remain \(1 weak reference\), and they do not hold: its 1 reference is held by C code$/,
    'an SV only weakly referred to, its count held by C code: weak references do not hold');

my @weakened = grep { $_->{line} == marked_line('weakened') && $_->{file} eq __FILE__ } @$sites;
is(scalar @weakened, 0, 'a weakened cycle is no leak') or diag explain \@weakened;

# identify() answers the same for any one of them.
my ($log_site) = grep { $_->{line} == marked_line('global array') && $_->{types}{HASH} } @$sites;
my $id = identify($log_site->{sample_address});
like($id->{text}, qr/; held by: \@main::Log\[\d+\]/, 'identify() says what holds it too') or diag $id->{text};
is($id->{held_by}{kind}, 'root', '... in held_by');

# leaks() says what holds each leak too (the first 1000).
my ($unreferenced_leak) = grep { $_->{kind} eq 'sv' && $_->{type} eq 'UNDEF' && $_->{line} == marked_line('unreferenced') }
    @{ Devel::MemTrace::leaks() };
is($unreferenced_leak && $unreferenced_leak->{held_by}{kind}, 'unreferenced', 'leaks() has held_by: the XS SV is unreferenced');
my ($log_leak) = grep { $_->{line} == marked_line('global array') && $_->{type} eq 'HASH' } @{ Devel::MemTrace::leaks() };
like($log_leak && $log_leak->{held_by}{path}, qr/^\@main::Log\[\d+\]$/, '... and a pushed hash @main::Log[N]');

my $report = Devel::MemTrace::report(all => 1);
like($report, qr/^      held by: a cycle of 2 \(\{self\}\)$/m, 'the report prints the holder under its site') or diag $report;
like($report, qr/^      held by: \@main::Log\[\d+\]$/m, '... the global array') or diag $report;

done_testing;
