# Each record keeps the Perl call stack that made it: a leak inside a
# library sub shows every line of the program that called it, with its
# count, and leak_sites(by => 'stack') makes each calling line a site.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line run_perl write_script);
use StackLeak;

use Devel::MemTrace qw(checkpoint leaks leak_sites report);

checkpoint();
for (1 .. 6) {
    StackLeak::make();                      # LINE: calls once
    StackLeak::make() for 1 .. 2;           # LINE: calls twice
    checkpoint();
}

my $lib      = $INC{'StackLeak.pm'};
my $lib_line = marked_line('the library leaks', $lib);
my ($once, $twice) = map { marked_line($_) } 'calls once', 'calls twice';

my ($site) = grep { $_->{file} eq $lib && $_->{line} == $lib_line && $_->{type} eq 'HASH' }
  @{ leak_sites() };
ok($site, "the leaked hashes are a site at $lib line $lib_line") or diag explain leak_sites();
my %count_from = map { ("$_->{frames}[1]{file} line $_->{frames}[1]{line}" => $_->{count}) }
  @{ $site->{stacks} || [] };
# Iterations 1 to 4 are judged (min_age 2): 2 and 1 leaks in each.
is_deeply(\%count_from, { __FILE__ . " line $twice" => 8, __FILE__ . " line $once" => 4 },
    'its stacks: called from both lines of the program, with their counts, most first')
  or diag explain $site->{stacks};
is_deeply($site->{stack}[0], { file => $lib, line => $lib_line, sub => 'StackLeak::make' },
    'a stack starts at the Perl site itself');
is_deeply($site->{stack}[1], { file => __FILE__, line => $twice, sub => 'main::RUNTIME' },
    '... then the line that called the sub (file level: main::RUNTIME)');

my $report = report();
like($report,
    qr/ leaked HASH SVs at \Q$lib\E line $lib_line, in StackLeak::make\n.*\n      8 called from \Q${\ __FILE__}\E line $twice\n      4 called from \Q${\ __FILE__}\E line $once\n/,
    'the report prints the stacks under the site, most leaked first');

my %by_stack;
for my $s (@{ leak_sites(by => 'stack', library => ['t/lib']) }) {
    $by_stack{"$s->{file} line $s->{line}"} += $s->{types}{HASH} // 0;
}
is_deeply(\%by_stack, { __FILE__ . " line $twice" => 8, __FILE__ . " line $once" => 4 },
    "leak_sites(by => 'stack') makes each calling line outside the library a site")
  or diag explain \%by_stack;

my %by_default;
for my $s (@{ leak_sites(by => 'stack') }) {
    $by_default{"$s->{file} line $s->{line}"} += $s->{types}{HASH} // 0;
}
is_deeply(\%by_default, \%by_stack, '... and the library is every directory of @INC by default');

my ($leak) = grep { $_->{type} eq 'HASH' && $_->{file} eq $lib } @{ leaks() };
is_deeply([ map {"$_->{file}:$_->{line}"} @{ $leak->{stack} }[ 0 .. 1 ] ],
    [ "$lib:$lib_line", __FILE__ . ':' . ($leak->{stack}[1]{line} == $once ? $once : $twice) ],
    'leaks() gives each leak its stack too');

eval { leak_sites(by => 'caller') };
like($@, qr/^Devel::MemTrace::leak_sites: option 'by' must be 'site' or 'stack', not 'caller'; valid options: .*\n\z/,
    'a bad grouping is refused in one line');

# -stack=1 keeps the running statement only: no callers to show.
my $script = write_script(<<"PERL");
use strict;
use warnings;
use lib '${\ MemTraceTest::repo_root()}/t/lib';
use StackLeak;
use Devel::MemTrace qw(checkpoint report);
checkpoint();
for (1 .. 5) { StackLeak::make(); checkpoint() }
print report();
PERL
my $run = run_perl('-MDevel::MemTrace=-stack=1', $script);
is($run->{exit}, 0, 'a program runs with -stack=1') or diag $run->{stderr};
like($run->{stdout}, qr/leaked HASH SVs at \S+StackLeak\.pm line $lib_line/, '... its leaks are found');
unlike($run->{stdout}, qr/called from/, '... with no callers');

$run = run_perl('-MDevel::MemTrace=-stack=0', '-e', '1');
like($run->{stderr}, qr/^Devel::MemTrace: option needs a number of Perl frames from 1 to 64 such as -stack=16: '-stack=0'; known options: /,
    '-stack=0 is refused in one line');

done_testing;
