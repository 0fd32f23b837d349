#!/usr/bin/env perl
# demo.pl - examples/poller.pl driven by Devel::MemTrace's explicit API.
#
# The same polls as
#
#   perl -MDevel::MemTrace=-iteration=main::poll,-report_at_END examples/poller.pl
#
# but with checkpoint() called by hand after each poll and the report
# printed at the end. Run it with the MemTrace perl and Leaky on @INC:
#
#   perl -Ipath/to/Leaky/blib/lib -Ipath/to/Leaky/blib/arch examples/demo.pl [POLLS]
#
# The report names the three planted leaks of poller.pl at their lines
# (with the C site of each, Leaky.xs for the C buffer) and nothing for the
# host cache or the per-poll work.
use strict;
use warnings;

use FindBin ();
use Devel::MemTrace qw(checkpoint report);

# Defines poll() and the rest; poller.pl runs its own loop only as a program.
require "$FindBin::Bin/poller.pl";

my $polls = @ARGV ? $ARGV[0] : 12;
for my $n (1 .. $polls) {
    my $summary = poll($n);
    print "$summary\n";
    checkpoint();    # poll $n was iteration $n - 1
}
print STDERR report();
