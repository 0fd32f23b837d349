package Leaky;

use strict;
use warnings;

our $VERSION = '0.01';

require XSLoader;
XSLoader::load('Leaky', $VERSION);

1;

__END__

=head1 NAME

Leaky - an XS module with planted leaks, for testing Devel::MemTrace

=head1 SYNOPSIS

    use Leaky;

    Leaky::leak_sv();           # leaks one UNDEF SV that nothing references
    Leaky::leak_buffer(256);    # leaks 256 bytes of C memory (Newx)

    my $sum = Leaky::temp_buffer(256);   # allocates and frees: clean
    my $sv  = Leaky::make_sv(42);        # a mortal SV: clean

=head1 DESCRIPTION

The two leaks a heap dump cannot explain, made on purpose: an SV created in
C and referenced by nothing (Devel::MAT's C<identify> says "not found"), and
a C buffer that is never freed (SV counts stay flat). Devel::MemTrace finds
both at the Perl line that called the function; the buffer also at its C
site in F<Leaky.xs>, on the line marked C<LEAK: leak_buffer>.

=head1 FUNCTIONS

=head2 leak_sv()

Creates an UNDEF SV with C<newSV(0)> and drops it.

=head2 leak_buffer($n)

Allocates C<$n> bytes with C<Newx(buf, n, char)> and never frees them.

=head2 temp_buffer($n)

Allocates C<$n> bytes, fills and sums them, frees them; returns the sum.

=head2 make_sv([$iv])

Returns a new mortal SV: an integer if C<$iv> is given, else undef.

=head2 adopt_buffer($n)

Returns a string of C<$n> "a"s whose buffer was allocated with C<Newx> and
handed to the SV (C<sv_usepvn_flags>). Clean; perl later grows it with
C<saferealloc>, which is not logged.

=cut
