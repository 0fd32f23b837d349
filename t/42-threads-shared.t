# Leaks through threads::shared (on a perl built with -Dusethreads; skipped
# elsewhere). A shared variable lives in threads::shared's own interpreter,
# which a thread enters for the moment it changes one: the SVs a worker
# pushes onto a shared array are made there. They must be reported at the
# worker's line, in its sub (not "at an unknown Perl site"), and, once no
# other thread runs, with their type and size (not OTHER_THREAD, 0 bytes).
use strict;
use warnings;
use Config;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

BEGIN {
    plan skip_all => 'this perl has no ithreads (build one with MEMTRACE_THREADS=1)'
      unless $Config{useithreads};
}
use threads;
use threads::shared;
use List::Util ();
use Devel::MemTrace qw(checkpoint leak_sites leaks report);

my $PUSHES  = 20;    # by each worker
my $WORKERS = 2;     # per round
my $ROUNDS  = 3;     # one per iteration, 1 to 3

my @planted : shared;

sub work {
    my $tid = threads->tid;
    push @planted, "item $_ of thread $tid" for 1 .. $PUSHES;    # LINE: planted
    return;
}

# Iteration 0: the first threads make perl's per-package CLONE caches.
$_->join for map { threads->create(\&work) } 1 .. $WORKERS;
checkpoint();
for (1 .. $ROUNDS) {
    $_->join for map { threads->create(\&work) } 1 .. $WORKERS;
    checkpoint();
}
checkpoint() for 1 .. 2;    # iterations 1 to 3 live through 2 more: leaks

my $line    = marked_line('planted');
my $planted = $ROUNDS * $WORKERS * $PUSHES;
my %where   = (file => __FILE__, line => $line, kind => 'sv');

# Every worker is joined: threads::shared's SVs can be read.
my @sites = sites_at(scalar leak_sites(), %where);
is(scalar @sites, 1, "the pushed elements are one site, at line $line") or diag report();
my $site = $sites[0] || {};
is($site->{sub},   'main::work', '... in the worker\'s sub');
is($site->{count}, $planted,     "... all $planted of them");
# threads::shared copies each value from the pusher's proxy, a PVMG (it
# carries the shared_scalar magic), and sv_setsv makes the copy a PVMG too.
is_deeply($site->{types}, { PVMG => $planted }, '... typed as they are: PVMG')
  or diag explain $site->{types};
cmp_ok($site->{bytes}, '>=', $planted * 24, '... with their size (at least a head each)');
# What holds them is in threads::shared's interpreter, which the walk of
# the caller's heap does not see: said so, not "unreferenced".
is_deeply(
    [ map { "$_->{kind}: $_->{text}" } @{ $site->{held_by} || [] } ],
    [ ("other thread: threads::shared's interpreter (a shared variable), which is not walked") x 3 ],
    '... held in threads::shared\'s interpreter'
);

my @leaks = grep { $_->{kind} eq 'sv' && $_->{line} == $line } @{ leaks() };
is(scalar @leaks, $planted, 'leaks() lists each of them');
is(scalar(grep { $_->{type} eq 'PVMG' && $_->{size} > 0 } @leaks), $planted,
    '... each with its type and size');
my %by_iteration;
$by_iteration{ $_->{iteration} }++ for @leaks;
is_deeply(\%by_iteration, { map { ($_ => $WORKERS * $PUSHES) } 1 .. $ROUNDS },
    '... each in the iteration its worker ran in');
like(report(), qr/^ +$planted leaked PVMG SVs at \Q${\__FILE__}\E line $line, in main::work\n/m,
    'the report says it in one line');

# While another thread runs, any thread may change a shared variable: they
# are named, not read, but still at their line.
my ($started, $may_end) : shared = (0, 0);
my $running = threads->create(
    sub {
        { lock $started; $started = 1; cond_signal $started; }
        { lock $may_end; cond_wait $may_end until $may_end; }
        return 1;
    }
);
{ lock $started; cond_wait $started until $started; }
my ($meanwhile) = sites_at(scalar leak_sites(), %where);
is($meanwhile && $meanwhile->{count}, $planted, 'while another thread runs, the site is the same');
is_deeply($meanwhile && $meanwhile->{types}, { OTHER_THREAD => $planted },
    '... and its SVs are not read (OTHER_THREAD)');
{ lock $may_end; $may_end = 1; cond_signal $may_end; }
$running->join;
my ($after) = sites_at(scalar leak_sites(), %where);
is_deeply($after && $after->{types}, { PVMG => $planted }, 'once it is joined, they are read again');

# Nothing of threads::shared is left at an unknown Perl site.
my @unknown = grep { $_->{kind} eq 'sv' && $_->{file} eq '' } @{ leaks() };
is(scalar @unknown, 0, 'no leaked SV at an unknown Perl site')
  or diag join "\n", map { "$_->{type} $_->{c_func} iteration $_->{iteration}" } @unknown[ 0 .. 4 ];

done_testing;
