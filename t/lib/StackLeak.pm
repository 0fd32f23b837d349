package StackLeak;

# A library sub that leaks: a hash that holds itself. t/32-stacks.t calls
# it from two lines of its own.

use strict;
use warnings;

sub make {
    my $h = {};        # LINE: the library leaks
    $h->{self} = $h;
    return;
}

1;
