# -c_frames: each record keeps the native return addresses of the C code
# that made it, named when asked. perl 5.36's smartmatch against a code
# reference leaks the sub's return value (fixed in a later perl): perl
# logs it at the allocator, sv_inline.h's Perl_newSV_type; the native
# frames name the culprit in pp_ctl.c.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use lib 't/lib';
use MemTraceTest qw(marked_line repo_root run_perl);

use Devel::MemTrace qw(-c_frames checkpoint leaks leak_sites report);

no warnings;    # smartmatch is experimental
my $code = sub { 1 };    # LINE: the sub returns
checkpoint();
for (1 .. 6) {
    my $matched = 1 ~~ $code for 1 .. 2;    # LINE: smartmatch
    checkpoint();
}
use warnings;

my ($sub_line, $match_line) = map { marked_line($_) } 'the sub returns', 'smartmatch';
SKIP: {
# The leak is perl 5.36's (the default MemTrace perl is Debian's); perl
# fixed it in 5.39.3 (Perl/perl5 pull request 21428), so 5.40 on has none.
skip "smartmatch against a code reference does not leak on perl $]", 10 if $] >= 5.039003;
my ($site) = grep { $_->{file} eq __FILE__ && $_->{line} == $sub_line } @{ leak_sites() };
ok($site, "the leaked return values are a site at line $sub_line") or diag explain leak_sites();
is($site->{count}, 8, '... 2 per judged iteration');
is_deeply([ @{$site}{qw(c_file c_func)} ], [ 'sv_inline.h', 'Perl_newSV_type' ],
    '... where perl logs the allocator');
my @culprit = grep { $_->{file} eq 'pp_ctl.c' && $_->{func} =~ /\A(?:S_do_smartmatch|Perl_pp_smartmatch)\z/ }
  @{ $site->{c_frames} || [] };
ok(@culprit, '... and its native frames name pp_ctl.c and the smartmatch')
  or diag explain $site->{c_frames};
ok($culprit[0] && $culprit[0]{line} > 0, '... with its line');
is($site->{c_frames}[0]{func}, 'Perl_newSV_type', 'the innermost frame is the allocator (inlined)');

like(report(),
    qr/ leaked IV SVs at \Q${\ __FILE__}\E line $sub_line, in main::__ANON__\n      C site: pp_ctl\.c:\d+ (?:S_do_smartmatch|Perl_pp_smartmatch) \(allocated by sv_inline\.h:\d+ Perl_newSV_type\);.*\n      8 called from \Q${\ __FILE__}\E line $match_line\n/,
    "the report's C site is the culprit, the allocator beside it");

my ($leak) = grep { $_->{file} eq __FILE__ && $_->{line} == $sub_line } @{ leaks() };
ok((grep { $_->{file} eq 'pp_ctl.c' } @{ $leak->{c_frames} || [] }), 'leaks() gives each leak its native frames');
my ($what) = Devel::MemTrace::identify($leak->{address});
like($what->{text},
    qr/ \(C site pp_ctl\.c:\d+ (?:S_do_smartmatch|Perl_pp_smartmatch), allocated by sv_inline\.h:\d+ Perl_newSV_type\) in iteration \d+, called from \Q${\ __FILE__}\E line $match_line;/,
    'identify() names the culprit and the calling line too');

# A capture keeps them, named: the memtrace reader shows the culprit.
my $memtrace = $ENV{MEMTRACE_BIN} || repo_root() . '/target/release/memtrace';
SKIP: {
    skip "the memtrace program is not built ($memtrace)", 1 unless -x $memtrace;
    my $dir = File::Temp->newdir('memtrace-t-XXXXXX', TMPDIR => 1);
    Devel::MemTrace::dump("$dir/c.mtc");
    my $text = `'$memtrace' report '$dir/c.mtc'`;
    like($text, qr/C site: pp_ctl\.c:\d+ (?:S_do_smartmatch|Perl_pp_smartmatch) \(allocated by sv_inline\.h:\d+ Perl_newSV_type\)/,
        'memtrace report of a capture names the culprit too');
}
}

# Off by default; a bad count is refused in one line.
my $run = run_perl('-MDevel::MemTrace=checkpoint,leaks', '-e',
    'our @k; checkpoint(); for (1 .. 4) { push @k, {}; checkpoint() }'
      . ' my ($l) = grep { $_->{type} eq "HASH" } @{ leaks() };'
      . ' print scalar @{ $l->{c_frames} }, " ", scalar @{ $l->{stack} }');
is($run->{stdout}, '0 1', 'without -c_frames a leak has no native frames (and a stack of its own line)')
  or diag $run->{stderr};
$run = run_perl('-MDevel::MemTrace=-c_frames=33', '-e', '1');
like($run->{stderr}, qr/^Devel::MemTrace: option needs a number of native frames from 0 \(off\) to 32, or none \(6\): '-c_frames=33'; known options: /,
    '-c_frames=33 is refused in one line');

done_testing;
