# Allocation-heavy object churn: hashes, arrays, strings and a blessed object
# made and dropped every iteration.
use strict;
use warnings;

my $n   = shift // 200_000;
my $sum = 0;
for my $i (1 .. $n) {
    my %h   = (a => [1 .. 5], b => "x" x 100, c => { k => $i });
    my @a   = map {"v$_"} 1 .. 10;
    my $obj = bless { id => $i, tags => [qw(a b c)] }, 'Thing';
    $sum += @a + keys %h;
}
print "$sum\n";
