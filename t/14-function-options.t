# The functions that take options refuse bad ones with one line that names
# the option and lists the valid ones; the functions that take none refuse
# any.
use strict;
use warnings;
use Test::More;

use Devel::MemTrace ();

sub refused {
    my ($code, $pattern, $name) = @_;
    my $ok = eval { $code->(); 1 };
    ok(!$ok, "$name: refused");
    like($@, $pattern, "$name: the message")
        or return;
    like($@, qr/\A[^\n]*\n\z/, "$name: one line");
    like($@, qr/ at \Q${\ __FILE__}\E line \d+\.$/m, "$name: reported at the caller's line");
}

refused(sub { Devel::MemTrace::leaks(skp => 1) },
    qr/^Devel::MemTrace::leaks: unknown option 'skp'; valid options: skip, min_age at /,
    'leaks(skp => 1)');
refused(sub { Devel::MemTrace::leaks(skip => 'x') },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not 'x'; valid options: skip, min_age at /,
    "leaks(skip => 'x')");
refused(sub { Devel::MemTrace::leaks(min_age => -1) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not '-1'/,
    'leaks(min_age => -1)');
refused(sub { Devel::MemTrace::leaks(min_age => 1.5) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not '1.5'/,
    'leaks(min_age => 1.5)');
refused(sub { Devel::MemTrace::leaks(skip => 99_999_999_999) },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not '99999999999'; valid options: skip, min_age at \Q${\__FILE__}\E line/,
    'leaks(skip => 99_999_999_999), reported at the caller');
refused(sub { Devel::MemTrace::leaks(min_age => undef) },
    qr/^Devel::MemTrace::leaks: option 'min_age' must be an integer from 0 to 4294967295, not undef/,
    'leaks(min_age => undef)');
refused(sub { Devel::MemTrace::leaks('skip') },
    qr/^Devel::MemTrace::leaks: options come in NAME => VALUE pairs/,
    'leaks(odd list)');
refused(sub { Devel::MemTrace::leak_sites(status => 'bad') },
    qr/^Devel::MemTrace::leak_sites: option 'status' must be 'steady', 'intermittent', 'stopped', 'ongoing', 'all', not 'bad'; valid options: skip, min_age, status at /,
    "leak_sites(status => 'bad')");
refused(sub { Devel::MemTrace::leak_sites(every => 1) },
    qr/^Devel::MemTrace::leak_sites: unknown option 'every'; valid options: skip, min_age, status at /,
    'leak_sites(every => 1)');
refused(sub { Devel::MemTrace::report(status => 'all') },
    qr/^Devel::MemTrace::report: unknown option 'status'; valid options: skip, min_age, all, top at /,
    "report(status => 'all')");
refused(sub { Devel::MemTrace::report(top => 'ten') },
    qr/^Devel::MemTrace::report: option 'top' must be an integer from 0 to 4294967295/,
    "report(top => 'ten')");
refused(sub { Devel::MemTrace::checkpoint(all => 1) },
    qr/^Devel::MemTrace::checkpoint: unknown option 'all'; valid options: skip, min_age at /,
    'checkpoint(all => 1)');

# Values that are not plain scalars, and control characters shown escaped,
# on one line.
refused(sub { Devel::MemTrace::report(all => [1]) },
    qr/^Devel::MemTrace::report: option 'all' must be a true or false value \(such as 1 or 0\), not an ARRAY reference; valid options: skip, min_age, all, top at /,
    'report(all => [1])');
refused(sub { Devel::MemTrace::report(all => *STDOUT) },
    qr/^Devel::MemTrace::report: option 'all' must be a true or false value \(such as 1 or 0\), not a glob \(\*main::STDOUT\); valid options: /,
    'report(all => *STDOUT)');
refused(sub { Devel::MemTrace::leak_sites(status => \'all') },
    qr/^Devel::MemTrace::leak_sites: option 'status' must be .*, not a SCALAR reference; valid options: skip, min_age, status at /,
    "leak_sites(status => \\'all')");
refused(sub { Devel::MemTrace::leaks(skip => bless {}, 'My::Count') },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not a My::Count object; valid options: skip, min_age at /,
    'leaks(skip => an object)');
refused(sub { Devel::MemTrace::leaks(skip => "1\n") },
    qr/^Devel::MemTrace::leaks: option 'skip' must be an integer from 0 to 4294967295, not '1\\x0a'; valid options: skip, min_age at /,
    'leaks(skip => "1\n"): refused, the newline shown escaped');
refused(sub { Devel::MemTrace::checkpoint(min_age => "2\t") },
    qr/^Devel::MemTrace::checkpoint: option 'min_age' must be an integer from 0 to 4294967295, not '2\\x09'; /,
    'checkpoint(min_age => "2\t")');
refused(sub { Devel::MemTrace::report("all\n" => 1) },
    qr/^Devel::MemTrace::report: unknown option 'all\\x0a'; valid options: /,
    'report("all\n" => 1)');

# The functions that take no arguments refuse any.
for my $case (
    [ is_recording      => [1] ],
    [ pause             => [3] ],
    [ resume            => [1] ],
    [ history           => ['x'] ],
    [ current_iteration => [1] ],
    [ stats             => [1] ],
    [ arena_counts      => [ 1, 2 ] ],
) {
    my ($name, $args) = @$case;
    my $n = @$args;
    refused(sub { no strict 'refs'; &{"Devel::MemTrace::$name"}(@$args) },
        qr/^Devel::MemTrace::$name: takes no arguments, not $n argument${\ ($n == 1 ? '' : 's')} at /,
        "$name(@$args)");
}
ok(Devel::MemTrace::is_recording(), 'the refused pause(3) and resume(1) left recording on');

# Good options are accepted.
is(ref Devel::MemTrace::leaks(skip => 0, min_age => 2), 'ARRAY', 'leaks(skip => 0, min_age => 2)');
is(ref Devel::MemTrace::leak_sites(status => $_), 'ARRAY', "leak_sites(status => '$_')")
    for qw(steady intermittent stopped ongoing all);
like(Devel::MemTrace::report(all => 1, top => 3, skip => 1, min_age => 1),
    qr/^Devel::MemTrace report: /, 'report(all => 1, top => 3, skip => 1, min_age => 1)');

done_testing;
