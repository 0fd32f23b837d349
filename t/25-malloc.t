# -malloc: memory perl never logs. An XS module whose Newx is not logged
# (t/xs/Unlogged, as a distribution builds its modules) leaks through plain
# malloc and through Newx; with -malloc both are found at the Perl line that
# called the XSUB, as kind malloc, in leak_sites(), leaks(), the report and
# a capture. Clean calls, realloc(NULL), realloc to 0 and a free of a block
# never recorded leave nothing behind; posix_memalign keeps its alignment.
# perl's own log of a block (Leaky's Newx) stays one record, perl's.
use strict;
use warnings;
use Test::More;
use Config;
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp ();
use POSIX ();
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at load_leaky leaky_xs_line repo_root slurp run_perl write_script);

use Devel::MemTrace qw(checkpoint leak_sites leaks report pause resume), '-malloc';

my $ROOT = repo_root();

# Build t/xs/Unlogged in a temporary directory (a few seconds).
my $build = File::Temp->newdir('memtrace-unlogged-XXXXXX', TMPDIR => 1);
{
    my $src = "$ROOT/t/xs/Unlogged";
    for my $file (qw(Makefile.PL Unlogged.xs lib/Unlogged.pm)) {
        make_path("$build/" . ($file =~ m{(.*)/} ? $1 : '.'));
        copy("$src/$file", "$build/$file") or die "cannot copy $src/$file: $!\n";
    }
    my $log = "$build/build.log";
    my $status = system("cd '$build' && { '$^X' Makefile.PL && $Config{make}; } >'$log' 2>&1 </dev/null");
    is($status, 0, 't/xs/Unlogged builds for this perl')
      or BAIL_OUT("t/xs/Unlogged does not build (a C compiler and $Config{make} are needed): "
        . join ' | ', (split /\n/, slurp($log))[-5 .. -1]);
    unshift @INC, "$build/blib/lib", "$build/blib/arch";
    require Unlogged;
}

my $ITERATIONS = 8;
my $eligible   = $ITERATIONS - 2;
my (@aligned, @aligned_alloc, @kept);
# Not a constant: a folded 'y' x 500 may be one shared buffer (newer perls
# copy it on write), and the test wants a string buffer per iteration.
my $PV_LENGTH = 500;

sub one_iteration {
    Unlogged::leak_malloc(100);                                # LINE: malloc
    Unlogged::leak_newx(200);                                  # LINE: newx
    Unlogged::clean_malloc(300);                               # LINE: clean
    Unlogged::leak_realloc_null(40);                           # LINE: realloc_null
    Unlogged::realloc_to_zero(50);                             # LINE: realloc_zero
    Unlogged::leak_realloc_grow(16, 1000);                     # LINE: grow
    push @aligned, Unlogged::leak_posix_memalign(4096, 64);    # LINE: posix_memalign
    push @aligned_alloc, Unlogged::leak_aligned_alloc(64, 128);    # LINE: aligned_alloc
    push @kept, 'y' x $PV_LENGTH;                              # LINE: pv
    pause();
    Unlogged::hold(77);    # made while nothing records
    resume();
    Unlogged::release();                                       # LINE: release
    return;
}

one_iteration();    # warm-up: iteration 0
checkpoint();
for (1 .. $ITERATIONS) {
    one_iteration();
    checkpoint();
}

my $file  = __FILE__;
my $sites = leak_sites();

# site_ok($marker, $c_func, $bytes_each, $name): one malloc site at the
# marked line, in main::one_iteration, one leak per eligible iteration.
sub site_ok {
    my ($marker, $c_func, $bytes_each, $name) = @_;
    my $line = marked_line($marker);
    # (The lines that keep the returned address also leak its IV: kind sv.)
    my @at = sites_at($sites, file => $file, line => $line, kind => 'malloc');
    is(scalar @at, 1, "$name: one malloc leak site at $file line $line") or diag explain \@at;
    my $site = $at[0] or return;
    is($site->{kind}, 'malloc', "$name: ... of kind malloc");
    is($site->{c_func}, $c_func, "$name: ... C site $c_func");
    is($site->{c_file}, '', "$name: ... with no C file");
    is($site->{type}, 'malloc', "$name: ... type malloc");
    is($site->{sub}, 'main::one_iteration', "$name: ... in main::one_iteration");
    is($site->{count}, $eligible, "$name: ... one leak per eligible iteration");
    is($site->{bytes}, $eligible * $bytes_each, "$name: ... of $bytes_each bytes each");
    is($site->{status}, 'steady', "$name: ... steady");
    return $site;
}

site_ok('malloc', 'malloc', 100, 'plain malloc');
site_ok('newx', 'malloc', 200, 'Newx unlogged');
site_ok('realloc_null', 'realloc', 40, 'realloc(NULL, 40)');
site_ok('grow', 'malloc', 1000, 'malloc(16) grown by realloc to 1000');
site_ok('posix_memalign', 'posix_memalign', 64, 'posix_memalign(4096, 64)');
site_ok('aligned_alloc', 'aligned_alloc', 128, 'aligned_alloc(64, 128)');

# With -c_frames too, a malloc leak's C site is the XS function that called
# malloc (or Newx, through perl's safesysmalloc), not the allocator.
{
    my $script = write_script(<<'PERL');
use Unlogged;
use Devel::MemTrace qw(checkpoint leak_sites);
for (1 .. 8) {
    Unlogged::leak_malloc(100);
    Unlogged::leak_newx(200);
    checkpoint();
}
print map { "line $_->{line}: " . join(' ', map { $_->{func} } @{ $_->{c_frames} }[0, 1]) . "\n" }
  sort { $a->{line} <=> $b->{line} } grep { $_->{kind} eq 'malloc' } leak_sites();
print Devel::MemTrace::report() =~ /^ +(C site: Unlogged\.xs:\d+ \w+ \(allocated by \w+\));/mg;
PERL
    my $run = run_perl('-MDevel::MemTrace=-malloc,-c_frames', $script);
    my ($frames, $report) = $run->{stdout} =~ /\A(.*\n)(.*)\z/s;
    # (perl calls an XS sub from pp_entersub, or from 5.41 on through
    # rpp_invoke_xs)
    like($frames, qr/\Aline 4: XS_Unlogged_leak_malloc Perl_(?:pp_entersub|rpp_invoke_xs)\nline 5: Perl_safesysmalloc XS_Unlogged_leak_newx\n\z/,
        '-malloc,-c_frames: the native frames of each lead to the XS function that allocated')
      or diag $run->{stderr};
    like($report, qr/\AC site: Unlogged\.xs:\d+ XS_Unlogged_leak_(newx|malloc) \(allocated by malloc\)C site: Unlogged\.xs:\d+ XS_Unlogged_leak_(?!\1)(newx|malloc) \(allocated by malloc\)\z/,
        '... and the report names that function as the C site of each, the allocator beside it');
}

# Two XSUBs that leak through the same allocator, called on one Perl line:
# their leaks share the Perl site and the C site perl names (malloc), and
# only the culprit among the native frames tells them apart. Two sites,
# each with its own culprit and count, not one named after the commoner.
{
    my $script = write_script(<<'PERL');
use Unlogged;
use Devel::MemTrace qw(checkpoint leak_sites);
for (1 .. 8) {
    Unlogged::leak_malloc(100); Unlogged::leak_newx(200);
    checkpoint();
}
my @at_line = grep { $_->{kind} eq 'malloc' && $_->{line} == 4 } leak_sites();
print map { "$_->{count} $_->{bytes} " . (grep { /^XS_/ } map { $_->{func} } @{ $_->{c_frames} })[0] . "\n" }
  sort { $a->{bytes} <=> $b->{bytes} } @at_line;
print Devel::MemTrace::report() =~ /^ +(C site: Unlogged\.xs:\d+ \w+) \(allocated by malloc\);/mg;
PERL
    my $run = run_perl('-MDevel::MemTrace=-malloc,-c_frames', $script);
    my ($sites, $report) = $run->{stdout} =~ /\A((?:\d+ \d+ \w+\n)*)(.*)\z/s;
    # 8 iterations: 0 is warm-up, and 6 and 7 are too young (-min_age=2).
    is($sites, "5 500 XS_Unlogged_leak_malloc\n5 1000 XS_Unlogged_leak_newx\n",
        'two XSUBs leaking on one line through malloc: two sites, each with its culprit, count and bytes')
      or diag $run->{stdout}, $run->{stderr};
    like($report, qr/\AC site: Unlogged\.xs:\d+ XS_Unlogged_leak_newx(?:C site: Unlogged\.xs:\d+ \w+)*?C site: Unlogged\.xs:\d+ XS_Unlogged_leak_malloc/,
        '... and the report lists both, the one with more bytes first');
}

# sv_grow's string buffer, which perl never logs: a leak beside its SV's,
# at the same line, owned by that SV.
{
    my $line = marked_line('pv');
    my @at = sites_at($sites, file => $file, line => $line, kind => 'malloc');
    is(scalar @at, 1, "the kept strings' buffers: one malloc site at line $line") or diag explain $sites;
    is($at[0] && $at[0]{count}, $eligible, '... one buffer per eligible iteration');
    cmp_ok($at[0] && $at[0]{bytes}, '>=', $eligible * 501, '... of 501 bytes or more each');
    # The latest eligible leak, of iteration 6, is $kept[6] (warm-up: [0]).
    is($at[0] && $at[0]{held_by}[0]{text}, 'the PV it belongs to, held by: my @kept (file level)[6]',
        '... held through the SV that owns it');
}

for my $marker (qw(clean realloc_zero release)) {
    my $line = marked_line($marker);
    is_deeply([ sites_at($sites, file => $file, line => $line) ], [],
        "nothing leaks at line $line ($marker)");
}

# leaks(): each leak, with its address: posix_memalign's are aligned, and
# they are the addresses the XSUB returned.
my $memalign_line = marked_line('posix_memalign');
my @memalign = grep { $_->{file} eq $file && $_->{line} == $memalign_line && $_->{kind} ne 'sv' }
  @{ leaks() };
is(scalar @memalign, $eligible, "leaks(): $eligible leaks at line $memalign_line");
is_deeply([ grep { $_->{kind} ne 'malloc' } @memalign ], [], '... all of kind malloc');
is_deeply([ grep { $_->{size} != 64 } @memalign ], [], '... of 64 bytes');
is_deeply([ grep { $_->{address} % 4096 } @memalign ], [], '... all 4096-aligned');
my %returned = map { $_ => 1 } @aligned;
is_deeply([ grep { !$returned{ $_->{address} } } @memalign ], [],
    '... at the addresses posix_memalign returned');

# The report, in the running process and from a capture.
my $malloc_line = marked_line('malloc');
my $site_line   = qr/^  $eligible leaked malloc buffers \(${\($eligible * 100)} bytes\) at \Q$file\E line $malloc_line, in main::one_iteration\n      C site: malloc; steady; /m;
like(report(), $site_line, 'report(): the malloc site, as "malloc buffers" with C site malloc');

my $capture_dir = File::Temp->newdir('memtrace-malloc-XXXXXX', TMPDIR => 1);
my $capture     = "$capture_dir/malloc.mtc";
Devel::MemTrace::dump($capture);
my $MEMTRACE = $ENV{MEMTRACE_BIN} || "$ROOT/target/release/memtrace";
SKIP: {
    skip "the memtrace program is not built ($MEMTRACE)", 1 unless -x $MEMTRACE;
    my $text = `'$MEMTRACE' report '$capture' 2>&1`;
    like($text, $site_line, 'memtrace report of a capture: the same malloc site');
}

# perl's own log of a block (Newx in Leaky, built with the MemTrace flags)
# is one record, perl's, with its C site; not a second one of kind malloc.
SKIP: {
    my $skip = load_leaky();
    skip $skip, 3 if $skip;
    checkpoint() for 1 .. 2;
    sub leaky_iteration {
        Leaky::leak_buffer(256);    # LINE: leaky_buffer
        return;
    }
    for (1 .. 4) {
        leaky_iteration();
        checkpoint();
    }
    my $line  = marked_line('leaky_buffer');
    my @at    = sites_at(leak_sites(), file => $file, line => $line);
    is(scalar @at, 1, "Leaky's logged Newx at line $line: one site") or diag explain \@at;
    is($at[0] && $at[0]{kind}, 'mem', '... of kind mem (perl logged it)');
    is($at[0] && "$at[0]{c_file}:$at[0]{c_line}", 'Leaky.xs:' . leaky_xs_line('leak_buffer'),
        "... at perl's C site, Leaky.xs's Newx line");
}

# fork: the child records its own blocks, found at its own line.
{
    pipe my $from_child, my $to_parent or die "pipe: $!\n";
    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        close $from_child;
        sub child_iteration {
            Unlogged::leak_malloc(33);    # LINE: child_malloc
            Unlogged::clean_malloc(44);
            return;
        }
        for (1 .. 5) {
            child_iteration();
            checkpoint();
        }
        my $line = marked_line('child_malloc');
        my @at   = sites_at(leak_sites(), file => $file, line => $line);
        print {$to_parent} join(' ', map { "$_->{kind}:$_->{c_func}:$_->{count}:$_->{bytes}" } @at), "\n";
        close $to_parent;
        POSIX::_exit(0);
    }
    close $to_parent;
    my $answer = <$from_child>;
    waitpid $pid, 0;
    is($?, 0, 'the forked child exits cleanly');
    is($answer, "malloc:malloc:3:99\n",
        'a forked child finds its own malloc leak at its line (3 of its 5 iterations are old enough)');
}

# ithreads: a thread's blocks are found at the line of that thread that
# made them, and its clean calls leave nothing.
sub in_a_thread {
    Unlogged::leak_malloc(55);    # LINE: thread_malloc
    Unlogged::clean_malloc(10);
    return 1;
}
SKIP: {
    skip 'this perl has no ithreads (the threaded case needs MEMTRACE_THREADS=1)', 3
      unless $Config{useithreads};
    require threads;
    for (1 .. 5) {
        threads->create(\&in_a_thread)->join;
        checkpoint();
    }
    my $line = marked_line('thread_malloc');
    my @at = sites_at(leak_sites(), file => $file, line => $line, kind => 'malloc');
    is(scalar @at, 1, "a thread's malloc: one site at line $line") or diag explain \@at;
    is($at[0] && $at[0]{count}, 3, '... one leak in each of the 3 iterations old enough');
    is($at[0] && $at[0]{sub}, 'main::in_a_thread', '... in the sub the thread ran');
}

done_testing;
