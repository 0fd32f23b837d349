# A long-running loop over a large live heap: a table of N records (a hash
# of arrays: at the default N, over 1,000,000 live logged allocations) built
# once, then ITERATIONS passes that each update half of it and summarise
# that, as a server's main loop would (about 50 ms a pass on perl (a) here).
# With Devel::MemTrace loaded, every pass ends with checkpoint(); without it,
# the same loop runs without. Under the recorder, one line goes to STDERR at
# the end:
#   memtrace-bench: live_records=... bytes_per_record=... table_bytes=...
#     checkpoints=... checkpoint_ms_median=... checkpoint_ms_max=...
# (live_records and the bytes from stats() just before the first checkpoint).
# Usage: perl [-MDevel::MemTrace] bigheap.pl [N [ITERATIONS]]
use strict;
use warnings;

my $n     = shift // 160_000;
my $iters = shift // 20;
my $traced = exists $INC{'Devel/MemTrace.pm'};
require Time::HiRes if $traced;

# Each record: a hash key, a reference, an array, its buffer and 3 values:
# 6 or 7 logged allocations (string buffers are not logged: sv_grow).
my %table;
for my $i (1 .. $n) {
    $table{"host$i"} = [ "name$i", $i % 7, $i * 1.5 ];
}

my ($stats, @ms);
my $total  = 0;
my $window = int($n / 2) || 1;
for my $pass (1 .. $iters) {
    # Update a window of records (new values, same shape: no growth) and
    # build a transient summary of it.
    my %by_class;
    my $start = ($pass * 7919) % $n;
    for my $j (0 .. $window - 1) {
        my $rec = $table{ 'host' . (($start + $j) % $n + 1) };
        $rec->[1] = ($rec->[1] + $pass) % 7;
        $rec->[2] += 0.5;
        push @{ $by_class{ $rec->[1] } }, $rec->[0];
    }
    $total += scalar(@$_) for values %by_class;
    my @top = (sort { @{ $by_class{$b} } <=> @{ $by_class{$a} } } keys %by_class)[0 .. 2];
    $total += length join ',', grep {defined} @top;
    if ($traced) {
        $stats //= Devel::MemTrace::stats();
        my $t0 = Time::HiRes::time();
        Devel::MemTrace::checkpoint();
        push @ms, 1000 * (Time::HiRes::time() - $t0);
    }
}
print "$total\n";

if ($traced) {
    my @sorted = sort { $a <=> $b } @ms;
    printf STDERR "memtrace-bench: live_records=%d bytes_per_record=%.1f table_bytes=%d"
      . " checkpoints=%d checkpoint_ms_median=%.3f checkpoint_ms_max=%.3f\n",
      $stats->{live_records}, $stats->{bytes_per_record}, $stats->{table_bytes},
      scalar(@ms), $sorted[ $#sorted / 2 ], $sorted[-1];
}
