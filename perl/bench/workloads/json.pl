# JSON::PP encode/decode round trips of a 50-record document.
use strict;
use warnings;
use JSON::PP;

my $rounds = shift // 300;
my $json   = JSON::PP->new->canonical;
my $data   = {
    users => [
        map { { id => $_, name => "user$_", tags => [qw(a b c)], score => $_ * 1.5 } } 1 .. 50
    ]
};
my $n = 0;
for (1 .. $rounds) {
    my $text = $json->encode($data);
    $n += @{ $json->decode($text)->{users} };
}
print "$n\n";
