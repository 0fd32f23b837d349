# fork from a threaded program (on a perl built with -Dusethreads; skipped
# elsewhere): three ithreads allocate without pause while the main thread
# forks 50 times. Every child must finish (an alarm turns a hang into a
# failure: before the recorder took its locks around fork, 31 of 50
# children hung on the aggregator's lock, held at the fork by a worker),
# find the leak planted before the fork at its line, with the count the
# parent had, and go on recording: a leak it plants itself is found too.
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
use POSIX ();
use Devel::MemTrace qw(checkpoint leak_sites report);

my $FORKS      = 50;
my $CHILD_SECS = 30;    # a child that takes longer is hung

our @Kept;    # the main thread's leaks (each thread has its own copy)

sub plant       { push @Kept, { n => scalar @Kept }; return }    # LINE: planted
sub child_plant { push @Kept, { pid => $$ };        return }    # LINE: child_planted

my $stop : shared = 0;
my @workers = map {
    threads->create(
        sub {
            my $rounds = 0;
            until ($stop) {
                my %churn = map { ($_ => [$_]) } 1 .. 100;
                $rounds++;
            }
            return $rounds;
        }
    );
} 1 .. 3;

# Iteration 0 is warm-up; one leak in each of iterations 1 to 3, judged
# after two more checkpoints (the default min_age of 2).
checkpoint();
for (1 .. 3) { plant(); checkpoint() }
checkpoint() for 1 .. 2;

my $planted = marked_line('planted');
my %where   = (file => __FILE__, line => $planted, kind => 'sv', sub => 'main::plant');
my ($before) = sites_at(scalar leak_sites(), %where);
ok($before, "the leak planted at line $planted is found before any fork") or diag report();
my $count = $before ? $before->{count} : 0;
my $per_leak = $count / 3;    # the hash, its value and the reference to it

# What a child says, one line: "ok" or what was wrong.
sub child_verdict {
    checkpoint();
    my ($site) = sites_at(scalar leak_sites(), %where);
    return "the planted leak is not found" unless $site;
    return "the planted leak counts $site->{count}, the parent had $count"
      unless $site->{count} == $count;
    # Recording goes on in the child: a leak of its own, judged as usual.
    child_plant();
    checkpoint() for 1 .. 3;
    my ($own) = sites_at(scalar leak_sites(), file => __FILE__, line => marked_line('child_planted'),
        kind => 'sv');
    return "the child's own leak is not found" unless $own;
    return "the child's own leak counts $own->{count}, not $per_leak"
      unless $own->{count} == $per_leak;
    return 'ok';
}

my (%outcomes, @failures);
for my $n (1 .. $FORKS) {
    pipe my $reader, my $writer or die "pipe: $!\n";
    my $pid = fork;
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        close $reader;
        alarm $CHILD_SECS;    # SIGALRM ends a hung child
        my $verdict = eval { child_verdict() } // "died: $@";
        $verdict =~ s/\s+\z//;
        print {$writer} "$verdict\n";
        close $writer;
        POSIX::_exit(0);
    }
    close $writer;
    waitpid $pid, 0;
    my $status = $?;
    my $said = <$reader> // '';
    close $reader;
    chomp $said;
    my $outcome =
        ($status & 127) == POSIX::SIGALRM() ? 'hung'
      : $status                             ? "exited with status $status"
      :                                       $said;
    $outcomes{$outcome}++;
    push @failures, "child $n: $outcome" unless $outcome eq 'ok';
}
$stop = 1;
$_->join for @workers;

is($outcomes{hung} // 0, 0, "none of $FORKS children forked beside running threads hangs");
is($outcomes{ok} // 0, $FORKS,
    "every child finds the planted leak ($count) at line $planted and records its own")
  or diag join "\n", @failures[ 0 .. ($#failures < 9 ? $#failures : 9) ];

# The parent goes on as before.
checkpoint();
my ($after) = sites_at(scalar leak_sites(), %where);
is($after && $after->{count}, $count, 'the parent still counts the planted leak once each');

done_testing;
