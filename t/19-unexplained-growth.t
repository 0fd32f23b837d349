# Growth the records do not explain: each checkpoint records the process's
# RSS, and the report says how much of its growth per iteration the listed
# leaks account for. perl grows a string's buffer without logging it, so a
# string made at start-up that gains 40 KB per iteration grows the process
# by ~40 KB an iteration while nothing leaks: the report must say the growth
# is memory the recorder does not see, never just "no leaks". A program
# whose growth is leaked allocations is explained.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(write_script run_perl);

plan skip_all => 'no /proc/self/statm here' unless -r '/proc/self/statm';

my $unlogged = write_script(<<'PERL');
use strict; use warnings;
use Devel::MemTrace qw(checkpoint report history);
my $log = '';                       # made before the first checkpoint: no leak
checkpoint();
for my $i (1 .. 14) {
    $log .= "x" x 40_000;           # its buffer grows by realloc, never logged
    checkpoint();
}
print report();
printf "rss %d\n", history()->[-1]{rss} > 1e6 ? 1 : 0;
PERL
my $run = run_perl($unlogged);
is($run->{exit}, 0, 'a program growing a string by 40 KB per iteration runs') or diag $run->{stderr};
like($run->{stdout}, qr/^iteration 5: .*, RSS \d+\.\d MB \(\+\d+(?:\.\d)? KB\)$/m,
    'each iteration line gives the RSS and its change') or diag $run->{stdout};
like($run->{stdout},
    qr/^growth: RSS grew (\d+\.\d) KB per iteration over iterations 1-\d+ \(median\); the ongoing leaks explain only 0 bytes: the rest is memory the recorder does not see/m,
    'the report says the growth is memory the recorder does not see') or diag $run->{stdout};
like($run->{stdout}, qr/^no leaks: /m, '... beside "no leaks", which is true of the records');
my ($kb) = $run->{stdout} =~ /^growth: RSS grew (\d+\.\d) KB/m;
ok($kb && $kb >= 30 && $kb <= 60, "... about 40 KB per iteration ($kb KB)") if defined $kb;
like($run->{stdout}, qr/^rss 1$/m, 'history() has the RSS of each checkpoint');

my $logged = write_script(<<'PERL');
use strict; use warnings;
use Devel::MemTrace qw(checkpoint report);
our @kept;
checkpoint();
for my $i (1 .. 14) {
    push @kept, [ (1) x 8000 ];     # an array's buffer and 8,000 SVs: all recorded
    checkpoint();
}
print report();
PERL
$run = run_perl($logged);
like($run->{stdout},
    qr/^growth: RSS grew \d+\.\d KB per iteration over iterations 1-\d+ \(median\); the ongoing leaks explain \d+\.\d KB of it$/m,
    'growth through logged allocations is explained by the leaks') or diag $run->{stdout};

done_testing;
