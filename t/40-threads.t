# ithreads (on a perl built with -Dusethreads; skipped elsewhere): a thread's
# end must not stop recording for the process, nothing of a joined thread
# stays live, a leak in the main thread is still named at its line and sub,
# and reports never read the SVs of another, running, interpreter.
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

# A thread that is still running across checkpoints: its SVs are named, not read.
my $running = threads->create(sub { my @a = map { [$_] } 1 .. 50; sleep 2; scalar @a });
checkpoint() for 1 .. 3;
ok(defined eval { report(); 1 }, 'report() while another thread runs') or diag $@;
my @other = grep { $_->{type} eq 'OTHER_THREAD' } @{ leaks() };
cmp_ok(scalar @other, '>', 0, "the running thread's SVs are typed OTHER_THREAD");
$running->join;

done_testing;
