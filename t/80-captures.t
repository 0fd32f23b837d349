# Captures: the bundled examples/poller.pl traced unchanged with
# -dump_at_END and -dump_every, then read back by the memtrace program
# (report, identify, diff, flamegraph, plot, and their --json forms), which
# must say what the traced process said; and the in-process identify() and
# dump() a program calls itself.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line load_leaky leaky_xs_line run_perl write_script repo_root slurp);

use File::Spec ();
use File::Temp ();
use JSON::PP   ();
use POSIX      ();

my $skip = load_leaky();
plan skip_all => $skip if $skip;

my $ROOT = repo_root();

# The memtrace program: MEMTRACE_BIN, else the tree's release build.
my $MEMTRACE = defined $ENV{MEMTRACE_BIN} && length $ENV{MEMTRACE_BIN}
  ? $ENV{MEMTRACE_BIN}
  : "$ROOT/target/release/memtrace";
-f $MEMTRACE && -x _
  or plan skip_all => "the memtrace program is not built ($MEMTRACE; cargo build --release,"
  . " or set MEMTRACE_BIN)";

chdir $ROOT or die "cannot chdir to $ROOT: $!\n";
my $poller = 'examples/poller.pl';
my $JSON   = JSON::PP->new;

# run_cmd([$stdin], @cmd): { exit, stdout, stderr } of @cmd, with $stdin
# (a string, or nothing) as its standard input.
sub run_cmd {
    my ($stdin, @cmd) = @_;
    my $dir = File::Temp->newdir('memtrace-cmd-XXXXXX', TMPDIR => 1);
    my ($in, $out, $err) = ("$dir/stdin", "$dir/stdout", "$dir/stderr");
    open my $fh, '>', $in or die "cannot write $in: $!\n";
    print {$fh} defined $stdin ? $stdin : '';
    close $fh or die "cannot write $in: $!\n";
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN,  '<', $in  or POSIX::_exit(126);
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    return { exit => $? >> 8, signal => $? & 127, stdout => slurp($out), stderr => slurp($err) };
}

sub memtrace       { return run_cmd(undef, $MEMTRACE, @_) }
sub memtrace_stdin { my $stdin = shift; return run_cmd($stdin, $MEMTRACE, @_) }

# decode_json($text, $name): the data, or undef after a failed test.
sub decode_json {
    my ($text, $name) = @_;
    my $data = eval { $JSON->decode($text) };
    ok(defined $data, "$name: the output is JSON") or diag $@;
    return $data;
}

# The planted lines, found by their comments.
my %planted;
{
    open my $fh, '<', $poller or die "cannot read $poller: $!\n";
    while (<$fh>) {
        $planted{$1} = $. if /# PLANTED LEAK (\d):/;
    }
}
is_deeply([ sort keys %planted ], [ 1, 2, 3 ], "$poller plants three leaks");
my ($line1, $line2, $line3) = @planted{ 1, 2, 3 };
my $xs_line = leaky_xs_line('leak_buffer');

# ---------------------------------------------------------------------------
# The traced run: one capture at END, one after every 6th checkpoint.

my $dir = File::Temp->newdir('memtrace-captures-XXXXXX', TMPDIR => 1);
my $run = run_perl(
    "-MDevel::MemTrace=-iteration=main::poll,-report_at_END,-dump_at_END=$dir/poll.mtc,-dump_every=6:$dir/poll.%n.mtc",
    $poller);
is($run->{exit}, 0, "$poller runs with -dump_at_END and -dump_every=6")
    or diag $run->{stderr};
is(scalar(() = $run->{stdout} =~ /^poll +\d+: /mg), 12, '... 12 polls');
my $in_process = $run->{stderr};
like($in_process, qr/\ADevel::MemTrace report: 12 iterations closed;/,
    '... the in-process report is all of its stderr');

opendir my $dh, $dir or die "cannot read $dir: $!\n";
my @files = sort grep { !/\A\./ } readdir $dh;
closedir $dh;
is_deeply(\@files, [ 'poll.12.mtc', 'poll.6.mtc', 'poll.mtc' ],
    '... writes poll.mtc at END and poll.6.mtc, poll.12.mtc at checkpoints 6 and 12, nothing else');
my $capture = "$dir/poll.mtc";

# ---------------------------------------------------------------------------
# memtrace report FILE: the in-process report, word for word.

my $report = memtrace('report', $capture);
is($report->{exit}, 0, 'memtrace report poll.mtc exits 0') or diag $report->{stderr};
is($report->{stderr}, '', '... quietly');
my $expected = $in_process;
$expected =~ s/see them with report\(all => 1\) or -MDevel::MemTrace=-all$/see them with --all/m;
isnt($expected, $in_process, '... (the in-process hint line names report(all => 1))');
is($report->{stdout}, $expected,
    '... prints the in-process report, the hint line spelling --all');

# The sites, two lines each: what it leaked and where, then the C site.
sub parse_sites {
    my ($text) = @_;
    my @sites;
    while ($text =~ /^  (\d+) leaked (.+?) at (\S+) line (\d+)(?:, in (\S+))?\n      C site: (\S+):(\d+) (\S+); (\w+); per iteration: ([\d ]+)(?:; (\d+) bytes)?; e\.g\. (0x[0-9a-f]+)$/mg) {
        my %site = (count => $1, what => $2, file => $3, line => $4, sub => $5,
            c_file => $6, c_line => $7, c_func => $8, status => $9,
            per_iteration => [ split ' ', $10 ], sv_bytes => $11, address => $12);
        $site{bytes} = defined $site{sv_bytes} ? $site{sv_bytes}
          : $site{what} =~ /\((\d+) bytes\)/ ? $1 : undef;
        push @sites, \%site;
    }
    return @sites;
}
my @in_sites  = parse_sites($in_process);
my @cli_sites = parse_sites($report->{stdout});
# perl 5.42 makes the IVs of line 135's hash with newSVsv_flags: a site of
# their own.
my $IV_SITE = $] >= 5.042;
is(scalar @in_sites, 4 + $IV_SITE, 'the in-process report lists ' . (4 + $IV_SITE) . ' ongoing sites')
    or diag $in_process;
is_deeply(\@cli_sites, \@in_sites, 'memtrace report lists the same sites, in the same order');
my @site_lines = $in_process =~ /^(  \d+ leaked .*\n      C site: .*)$/mg;
my @cli_lines  = $report->{stdout} =~ /^(  \d+ leaked .*\n      C site: .*)$/mg;
is_deeply(\@cli_lines, \@site_lines, '... their lines identical to the in-process ones');

my %by_name;
for my $site (@cli_sites) {
    my $name = "line $site->{line} $site->{c_func}";
    $by_name{$name} = $site;
}
my %want = (
    "line $line1 Perl_newSV"            => qr/\AUNDEF SVs\z/,
    "line $line2 XS_Leaky_leak_buffer"  => qr/\Achar buffers \(\d+ bytes\)\z/,
    "line $line3 Perl_newSV_type"       => qr/\ASVs \([^)]*\bHASH\b[^)]*\)\z/,
    "line $line3 Perl_hv_common"        => qr/\Achar buffers \(\d+ bytes\)\z/,
    ($IV_SITE ? ("line $line3 Perl_newSVsv_flags" => qr/\AIV SVs\z/) : ()),
);
for my $name (sort keys %want) {
    my $site = $by_name{$name};
    ok($site, "memtrace report names $poller $name") or next;
    is($site->{file}, $poller, "... in $poller");
    is($site->{sub}, 'main::poll', '... in main::poll');
    like($site->{what}, $want{$name}, "... leaking $site->{what}");
    is($site->{status}, 'steady', '... steady');
}
is($by_name{"line $line2 XS_Leaky_leak_buffer"}{c_file} . ':' . $by_name{"line $line2 XS_Leaky_leak_buffer"}{c_line},
    "Leaky.xs:$xs_line", "the C buffers' C site is Leaky.xs:$xs_line")
    if $by_name{"line $line2 XS_Leaky_leak_buffer"};
is_deeply([ sort { $a <=> $b } map { $_->{line} } @cli_sites ], [ $line1, $line2, ($line3) x (2 + $IV_SITE) ],
    "no other line than $line1, $line2, $line3 is listed");

# ---------------------------------------------------------------------------
# memtrace identify ADDR FILE: the sample address of each site names that
# site and says it is a leak.

for my $site (@cli_sites) {
    my $name = "line $site->{line} $site->{c_func}";
    my $id = memtrace('identify', $site->{address}, $capture);
    is($id->{exit}, 0, "identify $site->{address} (e.g. of $name) exits 0") or diag $id->{stderr};
    like($id->{stdout},
        qr/\A\Q$site->{address}\E: .* made at \Q$poller\E line $site->{line}, in main::poll \(C site \Q$site->{c_file}:$site->{c_line} $site->{c_func}\E\) in iteration \d+, called from \Q$poller\E line \d+, in main::main(?: <- [^;]+)?; a leak: made in iteration \d+ and live through \d+ later checkpoints(?:;[^\n]*)?\n\z/,
        "... names $poller line $site->{line}, its C site and the calling line in main::main, and says 'a leak'");
}
if (my $buffer = $by_name{"line $line3 Perl_hv_common"}) {
    my $id = memtrace('identify', $buffer->{address}, $capture);
    like($id->{stdout}, qr/; the buffer of HASH SV 0x[0-9a-f]+ made at \Q$poller\E line $line3, in main::poll; held by: the HASH it belongs to, held by: a cycle of 2 \(\{self\}\)\n\z/,
        "the hash's bucket array names its HASH, made at line $line3, and the cycle that holds it");
}

# As pmat-leakreport prints them, on standard input.
my $leakreport = join '', map { "LEAK[" . ($_ + 1) . "] UNDEF() at $cli_sites[$_]{address}\n" } 0 .. $#cli_sites;
my $id = memtrace_stdin($leakreport, 'identify', '-', $capture);
is($id->{exit}, 0, "identify - $capture reads pmat-leakreport's lines") or diag $id->{stderr};
my @answers = split /\n/, $id->{stdout};
is(scalar @answers, scalar @cli_sites, '... one answer per LEAK line');
for my $i (0 .. $#cli_sites) {
    my $site = $cli_sites[$i];
    like($answers[$i] // '', qr/\A\Q$site->{address}\E: .* made at \Q$poller\E line $site->{line}, in main::poll \(C site \Q$site->{c_file}:$site->{c_line} $site->{c_func}\E\) .*; a leak: /,
        "... LEAK[" . ($i + 1) . "]: line $site->{line}, $site->{c_func}, a leak");
}

$id = memtrace('identify', '12345', $capture);
is($id->{exit}, 1, 'identify of an address with no live record exits 1');
like($id->{stdout}, qr/\A0x3039: no live record: /, '... and says so');

# identify --json agrees.
if (my $site = $by_name{"line $line1 Perl_newSV"}) {
    my $json = memtrace('identify', '--json', $site->{address}, $capture);
    my $data = decode_json($json->{stdout}, 'identify --json');
    my $answer = ref $data eq 'ARRAY' ? $data->[0] : {};
    is($answer->{found}, 'live', "identify --json $site->{address}: live");
    is($answer->{record}{line}, $line1, "... line $line1");
    is($answer->{record}{type}, 'UNDEF', '... an UNDEF');
    ok($answer->{record}{leak}, '... a leak');
}

# ---------------------------------------------------------------------------
# memtrace diff: the captures after checkpoints 6 and 12.

my $diff = memtrace('diff', "$dir/poll.6.mtc", "$dir/poll.12.mtc");
is($diff->{exit}, 0, 'memtrace diff poll.6.mtc poll.12.mtc exits 0') or diag $diff->{stderr};
like($diff->{stdout}, qr/\ADevel::MemTrace diff: \Q$dir\/poll.6.mtc\E \(pid \d+, 6 iterations closed\) -> \Q$dir\/poll.12.mtc\E \(pid \d+, 12 iterations closed\); live allocations by site, leak status in \Q$dir\/poll.12.mtc\E \(skip 0, min_age 2\)\n/,
    '... its heading names both captures and their iterations');
for my $site (@cli_sites) {
    my $name = "line $site->{line} $site->{c_func}";
    my $grew = 6 * $site->{per_iteration}[-1];    # 6 polls between the two captures
    like($diff->{stdout},
        qr/^  \+$grew (?:SVs|buffers) \(\+\d+ bytes\) at \Q$poller\E line $site->{line}, in main::poll\n      C site: \Q$site->{c_file}:$site->{c_line} $site->{c_func}\E; steady leak in \Q$dir\/poll.12.mtc\E$/m,
        "... $name grew by $grew (6 polls of $site->{per_iteration}[-1]), a steady leak");
}

# The host cache and the per-batch aggregation: retained once, during the
# first polls, so stopped in the report, and not grown between 6 and 12.
my $stopped = memtrace('sites', '--status', 'stopped', '--json', $capture);
my $stopped_sites = decode_json($stopped->{stdout}, 'sites --status stopped --json') || [];
my @cache = grep { ($_->{sub} // '') =~ /\Amain::(?:host_info|aggregate)\z/ } @$stopped_sites;
ok(scalar @cache, 'the cache sites (host_info, aggregate) are stopped: '
    . join(', ', map { "line $_->{line}" } @cache));
for my $cache (@cache) {
    unlike($diff->{stdout}, qr/^  \+[1-9]\d* .* at \Q$poller\E line $cache->{line}, /m,
        "diff does not list line $cache->{line} ($cache->{sub}) as grown");
}
my $diff_json = memtrace('diff', '--json', "$dir/poll.6.mtc", "$dir/poll.12.mtc");
my $changes = decode_json($diff_json->{stdout}, 'diff --json') || {};
my %cache_line = map { $_->{line} => 1 } @cache;
is_deeply([ grep { $cache_line{ $_->{line} } && $_->{count_delta} > 0 } @{ $changes->{grew} || [] } ], [],
    'diff --json: no cache site among the grown');
for my $site (@cli_sites) {
    my ($change) = grep { $_->{line} == $site->{line} && $_->{c_func} eq $site->{c_func} }
      @{ $changes->{grew} || [] };
    ok($change && $change->{status} eq 'steady' && $change->{count_delta} == 6 * $site->{per_iteration}[-1],
        "diff --json: line $site->{line} $site->{c_func} grew as the text says, steady");
}

# Nothing the tool itself allocates (the dumps, the -iteration wrapper) is
# the program's: no live record made after iteration 0 is Devel::MemTrace's.
my $all_leaks = memtrace('leaks', '--min-age', '0', '--json', $capture);
my $records = decode_json($all_leaks->{stdout}, 'leaks --min-age 0 --json') || [];
ok(scalar @$records, 'memtrace leaks --min-age 0: ' . scalar(@$records) . ' records made after iteration 0');
is_deeply([ map { "$_->{file} line $_->{line}" } grep { $_->{file} =~ m{Devel/MemTrace\.pm\z} } @$records ], [],
    '... none of them made in Devel/MemTrace.pm');

# ---------------------------------------------------------------------------
# flamegraph and plot.

my $flame = "$dir/X.svg";
my $fg = memtrace('flamegraph', $capture, '-o', $flame);
is($fg->{exit}, 0, 'memtrace flamegraph -o X.svg exits 0') or diag $fg->{stderr};
ok(-s $flame, '... and writes it');
my $svg = -f $flame ? slurp($flame) : '';
like($svg, qr/<svg\b/, '... an SVG');
for my $text ("poller.pl:$line1", "poller.pl:$line2", "poller.pl:$line3", 'XS_Leaky_leak_buffer') {
    ok(index($svg, $text) >= 0, "... naming $text");
}

my $chart = "$dir/Y.svg";
my $plot = memtrace('plot', $capture, '-o', $chart);
is($plot->{exit}, 0, 'memtrace plot -o Y.svg exits 0') or diag $plot->{stderr};
$svg = -f $chart ? slurp($chart) : '';
like($svg, qr/<svg\b/, '... writes an SVG');
for my $title ('Growth per iteration: examples/poller.pl (pid ',
    'Live SVs (from the SV arenas, at each checkpoint)',
    'Live logged C allocations (Newx/Renew), KiB',
    'New leaks per iteration (allocations that became leaks at its checkpoint)') {
    ok(index($svg, $title) >= 0, "... with the chart title '$title'");
}

# The --json forms agree with the text.
my $rj = memtrace('report', '--json', $capture);
is($rj->{exit}, 0, 'memtrace report --json exits 0');
my $rdata = decode_json($rj->{stdout}, 'report --json') || {};
is_deeply([ map { [ $_->{count}, $_->{line}, $_->{c_func}, $_->{status} ] } @{ $rdata->{sites} || [] } ],
    [ map { [ $_->{count}, $_->{line}, $_->{c_func}, $_->{status} ] } @cli_sites ],
    '... its sites have the text\'s counts, lines, C sites and statuses, in order');
is_deeply([ map { sprintf '0x%x', $_->{sample_address} // 0 } @{ $rdata->{sites} || [] } ],
    [ map { $_->{address} } @cli_sites ], '... and sample addresses');
is_deeply($rdata->{rule}, { skip => 0, min_age => 2 }, '... and rule');
my $capture_info = ($rdata->{captures} || [])->[0] || {};
is($capture_info->{program}, $poller, '... and program');
my @history = @{ $capture_info->{history} || [] };
is_deeply([ map { $_->{iteration} } @history ], [ 0 .. 11 ], '... and 12 iterations');
my @text_svs = $in_process =~ /^iteration \d+: SVs (\d+)/mg;
is_deeply([ map { $_->{svs} } @history ], \@text_svs, "... with the text's SV counts");
like($svg, qr/Growth per iteration: examples\/poller\.pl \(pid \Q$capture_info->{pid}\E\)/,
    "the plot's heading names the capture's pid")
    if defined $capture_info->{pid};

my $fj = memtrace('flamegraph', '--json', $capture, '-o', "$dir/X2.svg");
is($fj->{exit}, 0, 'memtrace flamegraph --json exits 0');
my $fdata = decode_json($fj->{stdout}, 'flamegraph --json') || {};
is($fdata->{output}, "$dir/X2.svg", '... names its output');
ok(-s "$dir/X2.svg", '... and writes it');
is($fdata->{unit}, 'bytes', '... in bytes');
my $bytes = 0;
$bytes += $_->{bytes} for @cli_sites;
is($fdata->{total}, $bytes, "... total: the report's $bytes leaked bytes");
my %stack_bytes;
for my $stack (@{ $fdata->{stacks} || [] }) {
    # Outermost first: the Perl stack, then the C site and the type; the
    # innermost Perl frame is the reported line.
    my ($line) = ($stack->{frames}[-3] // '') =~ /poller\.pl:(\d+)\)\z/;
    $stack_bytes{ $line // 'other' } += $stack->{value};
}
my %site_bytes;
$site_bytes{ $_->{line} } += $_->{bytes} for @cli_sites;
is_deeply(\%stack_bytes, \%site_bytes, '... its stacks add up to the bytes of each reported line');
ok((grep { grep { /\AXS_Leaky_leak_buffer \(Leaky\.xs:$xs_line\)\z/ } @{ $_->{frames} } } @{ $fdata->{stacks} || [] }),
    "... a frame names XS_Leaky_leak_buffer (Leaky.xs:$xs_line)");

my $pj = memtrace('plot', '--json', $capture, '-o', "$dir/Y2.svg");
is($pj->{exit}, 0, 'memtrace plot --json exits 0');
my $pdata = decode_json($pj->{stdout}, 'plot --json') || {};
is_deeply($pdata->{history}, \@history, "... its history is report --json's");

# ---------------------------------------------------------------------------
# identify() in the traced process.

my $script = write_script(<<'PERL');
use strict;
use warnings;
use Devel::MemTrace ();
use Leaky;
use JSON::PP ();
use Scalar::Util qw(refaddr);

our %Cache;
our @Young;
for my $i (1 .. 6) {
    Leaky::leak_sv();                                             # LINE: leak_sv
    %Cache = (alpha => 1, beta => 2, gamma => 3) if $i == 2;      # LINE: hash
    Devel::MemTrace::checkpoint();
}
push @Young, {};                                                  # LINE: young

my %out;
my $leak_sv_line = shift;
my $hash_line    = shift;
my ($leaked) = grep { $_->{kind} eq 'sv' && $_->{type} eq 'UNDEF' && $_->{line} == $leak_sv_line }
  @{ Devel::MemTrace::leaks() };
$out{leaked} = Devel::MemTrace::identify($leaked->{address}) if $leaked;
$out{leaked_hex} = Devel::MemTrace::identify(sprintf '0x%x', $leaked->{address}) if $leaked;
$out{young} = Devel::MemTrace::identify(refaddr $Young[0]);
my ($bucket) = grep { $_->{kind} eq 'mem' && $_->{c_func} eq 'Perl_hv_common' && $_->{line} == $hash_line }
  @{ Devel::MemTrace::leaks(min_age => 0) };
$out{bucket} = Devel::MemTrace::identify($bucket->{address}) if $bucket;
$out{hash_address} = sprintf '0x%x', refaddr \%Cache;
$out{nothing} = Devel::MemTrace::identify(12345);

# An SV just freed: its slot heads perl's free list.
my $just_freed;
{ my $gone = {}; $just_freed = refaddr $gone; }
$out{just_freed} = Devel::MemTrace::identify($just_freed);
# An SV freed a while ago: other SVs were freed after it.
my @many = map { [$_] } 1 .. 50;
my $long_freed;
{ my $gone = {}; $long_freed = refaddr $gone; }
@many = ();
$out{long_freed} = Devel::MemTrace::identify($long_freed);
# An SV made while recording was paused.
Devel::MemTrace::pause();
our $Unrecorded = {};
Devel::MemTrace::resume();
$out{unrecorded} = Devel::MemTrace::identify(refaddr $Unrecorded);
my @two = Devel::MemTrace::identify(refaddr $Young[0], 12345);
$out{list} = \@two;
eval { Devel::MemTrace::identify('zz'); 1 } and die "identify('zz') did not croak\n";
$out{bad} = $@;
eval { Devel::MemTrace::identify(); 1 } and die "identify() did not croak\n";
$out{none} = $@;
print JSON::PP->new->canonical->encode(\%out);
PERL
my %line = map { $_ => marked_line($_, $script) } qw(leak_sv hash young);
$run = run_perl($script, $line{leak_sv}, $line{hash});
is($run->{exit}, 0, 'a script calling identify() runs') or diag $run->{stderr};
is($run->{stderr}, '', '... quietly');
my $out = decode_json($run->{stdout}, 'identify() results') || {};

my $leaked = $out->{leaked} || {};
is($leaked->{found}, 'live', "identify(a leaked UNDEF of Leaky::leak_sv): live");
is($leaked->{record}{line}, $line{leak_sv}, "... made at line $line{leak_sv}");
is($leaked->{record}{file}, $script, '... of the script');
is($leaked->{record}{type}, 'UNDEF', '... an UNDEF');
is($leaked->{record}{c_func}, 'Perl_newSV', '... by Perl_newSV');
ok($leaked->{record}{leak}, '... a leak');
like($leaked->{record}{why} // '', qr/\Aa leak: made in iteration \d+ and live through \d+ later checkpoints\z/,
    '... and why');
like($leaked->{text} // '', qr/\A0x[0-9a-f]+: UNDEF SV of \d+ bytes made at \Q$script\E line $line{leak_sv} \(C site sv\.c:\d+ Perl_newSV\) in iteration \d+; a leak: /,
    '... in one line for a person');
is_deeply($out->{leaked_hex}, $leaked, '... the same asked in hex, as pmat prints it');

my $young = $out->{young} || {};
is($young->{found}, 'live', 'identify(a HASH made in the open iteration): live');
is($young->{record}{line}, $line{young}, "... made at line $line{young}");
is($young->{record}{iteration}, 6, '... in iteration 6, still open');
ok(!$young->{record}{leak}, '... not a leak');
is($young->{record}{why}, 'not a leak yet: made in the iteration still open', '... not yet');

my $bucket = $out->{bucket} || {};
is($bucket->{found}, 'live', "identify(the bucket array of a global hash): live");
is($bucket->{record}{kind}, 'mem', '... a C buffer');
is($bucket->{record}{line}, $line{hash}, "... made at line $line{hash}");
is($bucket->{owner}{type}, 'HASH', '... owned by a HASH');
is($bucket->{owner}{address}, $out->{hash_address}, '... %Cache itself');
like($bucket->{text} // '', qr/; the buffer of HASH SV \Q$out->{hash_address}\E made at /,
    '... which its text names');

is($out->{nothing}{found}, 'not live', 'identify(12345): not live');
is($out->{nothing}{record}, undef, '... no record');
is($out->{nothing}{address}, '0x3039', '... the address in hex');
is($out->{long_freed}{found}, 'not live', 'identify(an SV freed a while ago): not live');
like($out->{long_freed}{text} // '', qr/\A0x[0-9a-f]+: an empty SV slot: the SV there was freed\z/,
    '... an empty SV slot');
is($out->{just_freed}{found}, 'not live', 'identify(the SV freed just before the call): not live');
like($out->{just_freed}{text} // '', qr/\A0x[0-9a-f]+: an empty SV slot: the SV there was freed\z/,
    '... an empty SV slot, not identify()\'s own temporary SV that took the slot');
is($out->{unrecorded}{found}, 'not live', 'identify(a HASH made while paused): not live');
like($out->{unrecorded}{text} // '', qr/\A0x[0-9a-f]+: a live HASH SV that was never recorded: made before Devel::MemTrace was loaded, or while recording was paused\z/,
    '... a live HASH never recorded');
is(scalar @{ $out->{list} || [] }, 2, 'identify(A, B) in list context: two answers');
is_deeply([ map { $_->{found} } @{ $out->{list} || [] } ], [ 'live', 'not live' ], '... in order');

like($out->{bad} // '', qr/\ADevel::MemTrace::identify: 'zz' is not an address[^\n]* at \Q$script\E line \d+\.\n\z/,
    "identify('zz') croaks with one line");
like($out->{none} // '', qr/\ADevel::MemTrace::identify: give it one or more addresses[^\n]* at \Q$script\E line \d+\.\n\z/,
    'identify() croaks with one line');

# ---------------------------------------------------------------------------
# dump() in the traced process.

my $dump_dir = File::Temp->newdir('memtrace-dump-XXXXXX', TMPDIR => 1);
$script = write_script(<<'PERL');
use strict;
use warnings;
use Devel::MemTrace ();
use JSON::PP ();

my ($dir) = @ARGV;
Devel::MemTrace::checkpoint() for 1 .. 3;
my %out = (pid => $$);
$out{written} = Devel::MemTrace::dump("$dir/d.%p.%n.%%.mtc");
$out{nowhere_file} = "$dir/no/such/dir/d.mtc";
eval { Devel::MemTrace::dump($out{nowhere_file}); 1 } and die "dump to nowhere did not croak\n";  # LINE: nowhere
$out{nowhere} = $@;
eval { Devel::MemTrace::dump('a.mtc', 'b.mtc'); 1 } and die "dump with 2 args did not croak\n";
$out{two} = $@;
print JSON::PP->new->canonical->encode(\%out);
PERL
my $dump_call_line = marked_line('nowhere', $script);
$run = run_perl($script, "$dump_dir");
is($run->{exit}, 0, 'a script calling dump() runs') or diag $run->{stderr};
$out = decode_json($run->{stdout}, 'dump() results') || {};
my $written = $out->{written} || {};
my $pid = $out->{pid} // 'PID';
is($written->{file}, "$dump_dir/d.$pid.3.%.mtc", 'dump("d.%p.%n.%%.mtc"): %p the pid, %n the 3 checkpoints, %% a %');
ok(-f $written->{file}, '... the file is there');
is($written->{bytes}, -s $written->{file}, '... bytes: its size');
ok($written->{records} && $written->{records} =~ /\A\d+\z/, "... records: $written->{records}");
ok(defined $written->{seconds} && $written->{seconds} >= 0, '... seconds');
is($written->{iterations}, 3, '... iterations: 3');
my $read = memtrace('report', $written->{file});
like($read->{stdout}, qr/\ADevel::MemTrace report: 3 iterations closed;/, '... memtrace reads it');

like($out->{nowhere} // '', qr/\ADevel::MemTrace::dump: cannot write \Q$out->{nowhere_file}\E: [^\n]*\n\z/,
    'dump() to a missing directory croaks with one line naming the file');
like($out->{nowhere} // '', qr/ at \Q$script\E line $dump_call_line\.\n\z/,
    '... at the caller\'s line, as its other croaks are');
like($out->{two} // '', qr/\ADevel::MemTrace::dump: takes one file name \(or none, for memtrace\.%p\.mtc\), not 2 arguments at \Q$script\E line \d+\.\n\z/,
    'dump() with 2 arguments croaks with one line');

done_testing;
