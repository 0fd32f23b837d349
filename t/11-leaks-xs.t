# Leaks made in XS (the example module Leaky), found at the Perl line that
# called the XSUB: an unreferenced UNDEF SV (C site sv.c) and a Newx buffer
# (C site Leaky.xs, at its line). Their clean counterparts leak nothing.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at load_leaky leaky_xs_line);

use Devel::MemTrace qw(checkpoint leak_sites leaks report);

my $skip = load_leaky();
plan skip_all => $skip if $skip;

my $ITERATIONS = 8;
my $BUFFER     = 256;

sub one_iteration {
    Leaky::leak_sv();                                   # LINE: leak_sv
    Leaky::leak_buffer($BUFFER);                        # LINE: leak_buffer
    my $sum = Leaky::temp_buffer(4096);                 # LINE: temp_buffer
    my $sv  = Leaky::make_sv(42) + Leaky::make_sv(1);   # LINE: make_sv
    my $str = Leaky::adopt_buffer(100);                 # LINE: adopt_buffer
    $str .= 'x' x 10_000;    # perl moves the adopted buffer, unlogged
    return $sum + $sv + length $str;
}

one_iteration();    # warm-up: iteration 0
checkpoint();
for (1 .. $ITERATIONS) {
    one_iteration();
    checkpoint();
}

my $sites = leak_sites();
my $file  = __FILE__;
my $eligible = $ITERATIONS - 2;

# Leaky::leak_sv(): an UNDEF SV that nothing references.
my $sv_line = marked_line('leak_sv');
my @sv = sites_at($sites, file => $file, line => $sv_line, kind => 'sv');
is(scalar @sv, 1, "one SV leak site at $file line $sv_line (Leaky::leak_sv)")
    or diag explain $sites;
SKIP: {
    skip 'no site', 7 unless @sv;
    my $site = $sv[0];
    is($site->{type}, 'UNDEF', '... of UNDEF SVs');
    is($site->{c_file}, 'sv.c', '... made in sv.c');
    is($site->{sub}, 'main::one_iteration', '... while main::one_iteration ran');
    is($site->{count}, $eligible, '... one per eligible iteration');
    is_deeply($site->{per_iteration}, [ (1) x $eligible ], '... per_iteration');
    is($site->{status}, 'steady', '... steady');
    is($site->{first_iteration}, 1, '... from iteration 1');
}

# Leaky::leak_buffer(256): C memory.
my $buffer_line = marked_line('leak_buffer');
my $xs_line     = leaky_xs_line('leak_buffer');
my @mem = sites_at($sites, file => $file, line => $buffer_line, kind => 'mem');
is(scalar @mem, 1, "one C leak site at $file line $buffer_line (Leaky::leak_buffer)")
    or diag explain $sites;
SKIP: {
    skip 'no site', 7 unless @mem;
    my $site = $mem[0];
    is($site->{type}, 'char', '... of char buffers');
    is($site->{c_file}, 'Leaky.xs', '... made in Leaky.xs');
    is($site->{c_line}, $xs_line, "... at its Newx, line $xs_line");
    is($site->{c_func}, 'XS_Leaky_leak_buffer', '... in XS_Leaky_leak_buffer');
    is($site->{count}, $eligible, '... one per eligible iteration');
    is($site->{bytes}, $eligible * $BUFFER, "... of $BUFFER bytes each");
    is($site->{status}, 'steady', '... steady');
}
my @buffers = grep { $_->{kind} eq 'mem' && $_->{file} eq $file && $_->{line} == $buffer_line }
              @{ leaks() };
is(scalar @buffers, $eligible, 'leaks() lists each buffer');
is_deeply([ map { $_->{size} } @buffers ], [ ($BUFFER) x $eligible ], "... each of size $BUFFER");
is_deeply([ map { $_->{iteration} } @buffers ], [ 1 .. $eligible ], '... one per iteration');

# Nothing for the clean counterparts.
for my $clean (qw(temp_buffer make_sv adopt_buffer)) {
    my $line = marked_line($clean);
    my @found = sites_at($sites, file => $file, line => $line);
    is(scalar @found, 0, "Leaky::$clean() leaks nothing (line $line)")
        or diag explain \@found;
}

my $report = report();
like($report, qr/^  $eligible leaked UNDEF SVs at \Q$file\E line $sv_line, in main::one_iteration\n      C site: sv\.c:\d+ \S+; steady; per iteration: 1( 1)+; \d+ bytes; e\.g\. 0x[0-9a-f]+$/m,
    'the report names the UNDEF SVs and their C site');
my $bytes = $eligible * $BUFFER;
like($report, qr/^  $eligible leaked char buffers \($bytes bytes\) at \Q$file\E line $buffer_line, in main::one_iteration\n      C site: Leaky\.xs:$xs_line XS_Leaky_leak_buffer; steady; per iteration: 1( 1)+; e\.g\. 0x[0-9a-f]+$/m,
    'the report names the buffers and their XS line');
note $report;

# A Newx'd buffer adopted by an SV moves with the string when perl grows
# it (unlogged saferealloc): its record follows, at its new size.
our $kept = Leaky::adopt_buffer(100);                  # LINE: adopt_kept
$kept .= 'y' x 10_000;
checkpoint() for 1 .. 3;
my @adopted = grep { $_->{kind} eq 'mem' && $_->{line} == marked_line('adopt_kept') }
              @{ leaks() };
is(scalar @adopted, 1, 'the kept adopted buffer is one record') or diag explain \@adopted;
cmp_ok($adopted[0]{size} // 0, '>=', 10_101, '... of its grown size, at its new address')
    or diag explain \@adopted;

done_testing;
