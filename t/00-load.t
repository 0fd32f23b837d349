# Loading Devel::MemTrace: it loads into the MemTrace perl, starts
# recording, exports on request, and refuses bad import lists.
use strict;
use warnings;
use Test::More;

use Devel::MemTrace qw(checkpoint leaks leak_sites report arena_counts
                       pause resume is_recording);

ok(Devel::MemTrace::_is_memtrace_perl(),
    "this perl ($^X) routes its PERL_MEM_LOG hooks to the recorder");
ok(is_recording(), 'recording is on once the module is loaded');
is($Devel::MemTrace::VERSION, '0.01', 'version');

for my $name (qw(checkpoint leaks leak_sites report arena_counts pause
                 resume is_recording)) {
    is(\&{"main::$name"}, \&{"Devel::MemTrace::$name"}, "$name is exported on request");
}
ok(!defined &main::history, 'nothing else is exported');

my $ok = eval { Devel::MemTrace->import('no_such_function'); 1 };
ok(!$ok, 'importing an unknown name dies');
like($@, qr/\ADevel::MemTrace: 'no_such_function' is not exported; exportable: checkpoint /,
    '... naming it and listing what is exportable');
is(($@ =~ tr/\n//), 1, '... in one line');

my $stats = Devel::MemTrace::stats();
is(ref $stats, 'HASH', 'stats() is a hashref');
ok($stats->{events} > 0, 'the recorder has seen events')
    or diag explain $stats;

done_testing;
