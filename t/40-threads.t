# ithreads (on a perl built with -Dusethreads; skipped elsewhere): a thread's
# end must not stop recording for the process, nothing of a joined thread
# stays live, a leak in the main thread is still named at its line and sub,
# and reports never read the SVs of another, running, interpreter: they are
# named OTHER_THREAD, at the line of that thread that made them.
use strict;
use warnings;
use Config;
use List::Util ();
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

BEGIN {
    plan skip_all => 'this perl has no ithreads (build one with MEMTRACE_THREADS=1)'
      unless $Config{useithreads};
}
use threads;
use threads::shared;
use Devel::MemTrace qw(checkpoint leak_sites leaks report is_recording);

our @Kept;    # shared by nothing: each thread's copy dies with the thread

sub thread_work {
    my @transient = map { { n => $_ } } 1 .. 200;
    return scalar @transient;
}

sub leak_in_main {
    push @Kept, { id => scalar @Kept };    # LINE: main_leak
    return;
}

# The first thread creates perl's per-package CLONE caches once: warm-up.
threads->create(\&thread_work)->join;
checkpoint();
for (1 .. 6) {
    threads->create(\&thread_work)->join;
    leak_in_main();
    checkpoint();
}

ok(is_recording(), 'recording goes on after threads have ended');

my $sites = leak_sites(status => 'ongoing');
my @main = sites_at($sites, file => __FILE__, line => marked_line('main_leak'), kind => 'sv');
ok(@main, 'the leak in the main thread is found at its line') or diag report();
is($main[0]{sub}, 'main::leak_in_main', '... in its sub') if @main;
ok(!grep({ $_->{type} eq 'OTHER_THREAD' } @$sites), 'no live SV of a joined thread is left')
  or diag report();

# A thread that is still running across checkpoints: its SVs are named, not
# read. It makes 50 arrays of one element each and waits until told to end.
my ($made, $may_end) : shared = (0, 0);
my $running = threads->create(
    sub {
        my @a = map { [$_] } 1 .. 50;    # LINE: running_thread
        { lock $made; $made = 1; cond_signal $made; }
        { lock $may_end; cond_wait $may_end until $may_end; }
        return scalar @a;
    }
);
{ lock $made; cond_wait $made until $made; }
checkpoint() for 1 .. 3;

my $running_line = marked_line('running_thread');
my $report = report();
like(
    $report,
    qr/^ +18 leaked SVs \(6 HASH, 6 IV, 6 REF\) at \Q${\__FILE__}\E line ${\marked_line('main_leak')}, in main::leak_in_main\n/m,
    "report() while another thread runs names the main thread's 6 leaks at their line"
) or diag $report;
like(
    $report,
    qr/^ +\d+ leaked OTHER_THREAD SVs at \Q${\__FILE__}\E line $running_line, in main::__ANON__\n/m,
    "... and the running thread's SVs, unread, at the line that made them"
) or diag $report;
# Each [$_] is an array, its element and the reference to it: 150 SVs.
my @running = sites_at(scalar leak_sites(), file => __FILE__, line => $running_line, kind => 'sv');
is(List::Util::sum(0, map { $_->{count} } @running), 150, "leak_sites() counts the running thread's 150");
is(join(',', sort map { keys %{ $_->{types} } } @running), join(',', ('OTHER_THREAD') x @running),
    '... all of them OTHER_THREAD');
my @other = grep { $_->{type} eq 'OTHER_THREAD' } @{ leaks() };
is(scalar(grep { $_->{line} == $running_line } @other), 150,
    "leaks() types the running thread's SVs OTHER_THREAD");
is(scalar(grep { $_->{size} } @other), 0, '... and reads no size of them');

{ lock $may_end; $may_end = 1; cond_signal $may_end; }
is($running->join, 50, 'the running thread ends as it would untraced');
checkpoint();
ok(!grep({ $_->{type} eq 'OTHER_THREAD' } @{ leaks() }), 'once it is joined, none of its SVs is left')
  or diag report();

done_testing;
