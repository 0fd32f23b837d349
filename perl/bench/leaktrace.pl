# leaktrace.pl [--leaktrace] WORKLOAD [ARGS...] — run the workload script
# WORKLOAD (with ARGS as its @ARGV) inside Test::LeakTrace's
# `leaked_info { ... }` with --leaktrace, or the same way without it (the
# baseline). Either way a warm-up run with size 1 comes first, outside the
# block, so that loading the modules the workload uses is not traced.
# The workload's STDOUT is its own; one line on STDERR counts the leaks.
use strict;
use warnings;

my $trace = @ARGV && $ARGV[0] eq '--leaktrace' ? shift : 0;
my $file  = shift // die "usage: $0 [--leaktrace] WORKLOAD [ARGS...]\n";
my @args  = @ARGV;
$file =~ m{^/} && -r $file or die "leaktrace.pl: $file is not a readable absolute path\n";
require Test::LeakTrace if $trace;

sub workload {
    local @ARGV = @_;
    do $file;
    die "leaktrace.pl: $file: $@" if $@;
}

workload(1);
if ($trace) {
    my @leaks = Test::LeakTrace::leaked_info(sub { workload(@args) });
    print STDERR "leaktrace: ", scalar(@leaks), " leaked SVs\n";
}
else {
    workload(@args);
}
