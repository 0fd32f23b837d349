# The twin of the system perl (the default MemTrace perl on Debian): its XS
# handshake key equals the system perl's, it searches the system perl's
# library directories in the same order (its own core directories in place
# of the system's), and a program using Debian's own XS modules (JSON::XS,
# List::MoreUtils with its XS backend, Net::SSLeay, IO::Socket::SSL), as apt
# installed them, runs unchanged with its planted leak named at its line,
# and the report says that those modules' C allocations are not recorded.
use strict;
use warnings;
use Test::More;
use Config;
use File::Spec;
use File::Temp ();
use lib 't/lib';
use MemTraceTest qw(marked_line run_perl repo_root slurp);

my $stamp = "$Config{prefixexp}/.memtrace-complete";
my %stamp = -f $stamp ? (slurp($stamp) =~ /^(\w+): (.*)$/mg) : ();
plan skip_all => "this MemTrace perl is not a twin (kind: " . ($stamp{kind} // 'standalone') . ")"
    unless ($stamp{kind} // '') eq 'twin';
my $like = $stamp{like};
ok(-x $like, "the twinned perl $like is there");

# 1. The handshake key: XS modules built for $like pass it in the twin.
my $hs = repo_root() . '/perl/build/handshake-key.sh';
chomp(my $twin_key = `$hs $^X`);
chomp(my $like_key = `$hs $like`);
like($twin_key, qr/^0x[0-9a-f]+$/, "the twin's handshake key is computed ($twin_key)");
is($twin_key, $like_key, "the twin's XS handshake key equals $like\'s");

# 2. @INC: the same directories in the same order; only the core ones (the
# system's archlib, privlib, and Debian's perl-base) are the twin's own.
my @like_inc = split /\n/, `env -u PERL5LIB -u PERL5OPT $like -e 'print join "\\n", \@INC'`;
my @like_core = split /\n/, `env -u PERL5LIB -u PERL5OPT $like -MConfig -e 'print join "\\n", \@Config{qw(archlibexp privlibexp)}'`;
my @expected;
for my $dir (@like_inc) {
    if ($dir =~ m{/perl-base$}) { next }
    if ($dir eq $like_core[0]) { push @expected, $Config{archlibexp}; next }
    if ($dir eq $like_core[1]) { push @expected, $Config{privlibexp}; next }
    push @expected, $dir;
}
my @twin_inc = split /\n/, `env -u PERL5LIB -u PERL5OPT $^X -e 'print join "\\n", \@INC'`;
is_deeply(\@twin_inc, \@expected, "the twin's \@INC is $like\'s, with its own core directories")
    or diag explain { twin => \@twin_inc, like => \@like_inc };
is($Config{archname}, `$like -MConfig -e 'print \$Config{archname}'`, "same archname ($Config{archname})");

# 3. Debian's XS modules, unrebuilt, in a program with a planted leak.
my $dir = File::Temp->newdir('memtrace-twin-XXXXXX', TMPDIR => 1);
my $prog = "$dir/poller.pl";
open my $fh, '>', $prog or die "cannot write $prog: $!\n";
print {$fh} <<'PROG';
use strict;
use warnings;
use JSON::XS ();
use List::MoreUtils qw(uniq pairwise);
use Net::SSLeay ();
use IO::Socket::SSL ();

my @Kept;
my $json = JSON::XS->new->canonical;
sub poll {
    my ($n) = @_;
    my $doc = $json->decode('{"hosts":["a","b","a","c"],"n":' . $n . '}');
    my @hosts = uniq @{ $doc->{hosts} };
    my $ctx = Net::SSLeay::CTX_new() or die "CTX_new failed\n";
    Net::SSLeay::CTX_free($ctx);
    push @Kept, { n => $n, hosts => [@hosts] };   # LINE: planted
    return $json->encode({ n => $n, hosts => \@hosts });
}
poll($_) for 1 .. 12;
printf "xs: %s %s %s\n", (List::MoreUtils::XS->can('uniq') ? 'lmu-xs' : 'lmu-pp'),
    $INC{'JSON/XS.pm'}, $INC{'Net/SSLeay.pm'};
PROG
close $fh;
my $line = marked_line('planted', $prog);
my $run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $prog);
is($run->{exit}, 0, 'the program ran to its end under the twin') or diag $run->{stderr};
like($run->{stdout}, qr{^xs: lmu-xs /usr/\S+/JSON/XS\.pm /usr/\S+/Net/SSLeay\.pm$}m,
    "Debian's JSON::XS and Net::SSLeay loaded from the system's directories, List::MoreUtils with its XS backend")
    or diag $run->{stdout}, $run->{stderr};
unlike($run->{stderr}, qr/handshake|undefined symbol|Can't locate/, 'no handshake, symbol or @INC failure');
like($run->{stderr}, qr/^  \d+ leaked .* at \Q$prog\E line $line, in main::poll$/m,
    "the planted leak is named at $prog line $line, in main::poll")
    or diag $run->{stderr};

# 4. The report names the XS modules whose C allocations it cannot see:
# Debian's, built without PERL_MEM_LOG; not the twin's own (POSIX, ...).
like($run->{stderr},
    qr/^C allocations not recorded: JSON::XS, List::MoreUtils::XS and Net::SSLeay were built without PERL_MEM_LOG, so their Newx\/Renew\/Safefree calls are invisible \(their SVs are recorded\); no leak listed does not mean none in their C code \(-malloc records it\)\n\z/m,
    "the report's last line names Debian's XS modules as unrecorded C code")
    or diag $run->{stderr};

done_testing;
