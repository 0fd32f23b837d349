package Unlogged;
use strict;
use warnings;

our $VERSION = '0.01';

require XSLoader;
XSLoader::load('Unlogged', $VERSION);

1;

__END__

=head1 NAME

Unlogged - leaks through plain malloc and through an unlogged Newx

=head1 DESCRIPTION

Its C<Newx> and C<Safefree> never call perl's logging hooks, as in an XS
module a distribution built (without C<-DPERL_MEM_LOG>), for
Devel::MemTrace's C<-malloc> tests (F<t/25-malloc.t>). Each function is
documented in F<Unlogged.xs>.

=head2 leak_malloc, leak_newx, clean_malloc, leak_realloc_null, realloc_to_zero, leak_realloc_grow, leak_posix_memalign, leak_aligned_alloc, hold, release

See F<Unlogged.xs>.

=cut
