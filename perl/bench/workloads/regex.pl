# Regex-heavy text processing: parse access-log lines, normalise paths.
use strict;
use warnings;

my $rounds = shift // 40;
my $text   = join "\n", map {
    "2026-11-26 12:$_:00 host$_ GET /api/v1/items/$_?q=abc HTTP/1.1 200 " . ($_ * 37 % 1000)
} 1 .. 2000;
my %count;
for (1 .. $rounds) {
    for my $line (split /\n/, $text) {
        my ($method, $path, $bytes) =
          $line =~ m{^\S+ \S+ \w+ (\w+) (\S+) HTTP/[\d.]+ \d+ (\d+)}
          or next;
        $count{$method}++;
        $path =~ s/\d+/N/g;
        $count{$path} += $bytes;
    }
}
print scalar(keys %count), "\n";
