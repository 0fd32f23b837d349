package Test::MemTrace::Script;

use strict;
use warnings;

our $VERSION = '0.01';

use Test::MemTrace ();

=head1 NAME

Test::MemTrace::Script - report what a whole program run leaked, at END

=head1 SYNOPSIS

    # An unchanged program; the report goes to STDERR at exit.
    $ /path/to/memtrace/perl -MTest::MemTrace::Script prog.pl
    $ /path/to/memtrace/perl -MTest::MemTrace::Script=-lines,-sv_only prog.pl

    # A whole test suite, without touching it (the switches reach the
    # test scripts, not prove itself):
    $ HARNESS_PERL_SWITCHES=-MTest::MemTrace::Script TEST_MEMTRACE_SCRIPT=-sites prove -r t/

=head1 DESCRIPTION

Recording starts when the program's main phase starts (C<INIT>, after the
program has been compiled; at once if the module is loaded later) and the
run ends when the C<END> blocks start. After the program's own C<END>
blocks, every allocation made during the run and still live is reported to
STDERR: SVs and C memory (C<Newx>/C<Renew>), each with the Perl line and
the C site that made it. What the C<END> blocks themselves allocate is not
reported; what they free is not reported either. A C buffer that holds the
value of a variable made before the run started (a global array's
elements) is that variable's, and is not reported; the SVs in it are. A
C buffer of an SV made during the run is reported with that SV (a hash
made during the run and still live is the HASH and its bucket array), as
L<Test::MemTrace/What is a leak> says.

That is Test::LeakTrace::Script's notion of a leak: at the end of a run it
includes what the program keeps in globals on purpose. For leaks that grow
while the program runs, see L<Devel::MemTrace> and its C<-iteration>
option.

=head1 OPTIONS

Given as C<-MTest::MemTrace::Script=OPTION,...>, or, when there are none,
taken from the environment variable C<TEST_MEMTRACE_SCRIPT> (same syntax,
comma-separated):

=over 4

=item -simple, -lines, -sv_dump, -verbose, -sites

The report's form, as for L<Test::MemTrace/leaktrace>. Default C<-sites>:
one entry per Perl line and C site, with counts and bytes, most first.

=item -sv_only

Report SVs only, not C memory.

=back

Anything else dies with one line listing these. The report is made in the
process that loaded the module only, not in forked children.

=cut

my @MODES   = qw(-simple -lines -sv_dump -verbose -sites);
my %MODE    = map { $_ => 1 } @MODES;
my $Mode    = '-sites';
my $SV_only = 0;
my $First_iteration;          # the first iteration of the run being traced
my $Last_iteration;           # its last: closed when the END phase starts
my $Loaded_in_pid = $$;

sub import {
    my ($class, @args) = @_;
    my $from = 'import';
    if (!@args && defined $ENV{TEST_MEMTRACE_SCRIPT} && length $ENV{TEST_MEMTRACE_SCRIPT}) {
        @args = split /\s*,\s*/, $ENV{TEST_MEMTRACE_SCRIPT};
        $from = 'TEST_MEMTRACE_SCRIPT';
    }
    for my $arg (@args) {
        if (defined $arg && $MODE{$arg}) {
            $Mode = $arg;
        }
        elsif (defined $arg && $arg eq '-sv_only') {
            $SV_only = 1;
        }
        else {
            die "Test::MemTrace::Script: unknown option "
              . (defined $arg ? "'$arg'" : 'undef') . " (from $from); options: "
              . join(', ', @MODES, '-sv_only') . "\n";
        }
    }
    return;
}

# The start of the traced run.
sub _start {
    return if defined $First_iteration || defined Test::MemTrace::unavailable_reason();
    # An END block defined now runs before every END block compiled so
    # far (the program's, Test2's): what they allocate is not the run's.
    eval 'END { Test::MemTrace::Script::_end_phase_starts() } 1'
      or die "Test::MemTrace::Script: cannot install its END block: $@";
    Devel::MemTrace::_enable();
    $First_iteration = Test::MemTrace::_close_iteration() + 1;
    return;
}

sub _end_phase_starts {
    return if defined $Last_iteration || !defined $First_iteration;
    $Last_iteration = Test::MemTrace::_close_iteration();
    return;
}

{
    # Loaded with -M or use, the program has not been compiled yet: start
    # when it starts running. Loaded at run time, INIT is too late: start now.
    no warnings 'void';
    INIT { _start() }
}
_start() unless ${^GLOBAL_PHASE} eq 'START';

# END blocks run last-defined first: loaded with -M, this one runs after the
# program's own.
END { _report() if $$ == $Loaded_in_pid }

sub _report {
    # First of all, apply what the END blocks freed: what the report itself
    # allocates comes after that, in an iteration of its own.
    my $closed = defined $First_iteration && eval {
        my $just_closed = Test::MemTrace::_close_iteration();
        $Last_iteration = $just_closed unless defined $Last_iteration;
        1;
    };
    local ($@, $!, $?);
    if (defined(my $why = Test::MemTrace::unavailable_reason())) {
        print STDERR "Test::MemTrace::Script: no report: $why\n";
        return;
    }
    return unless defined $First_iteration;
    Devel::MemTrace::_pause();
    my $ok = $closed && eval {
        my @leaks = Test::MemTrace::_leaks_of($First_iteration, $Last_iteration,
            { sv_only => $SV_only });
        my $what = $SV_only ? (@leaks == 1 ? 'SV' : 'SVs')
          : (@leaks == 1 ? 'allocation' : 'allocations') . ' (SVs and C memory)';
        print STDERR "Test::MemTrace::Script: "
          . (@leaks ? scalar(@leaks) : 'no')
          . " $what made after the program started and still live at its end\n";
        Test::MemTrace::_print_leaks($Mode, \@leaks) if @leaks;
        1;
    };
    unless ($ok) {
        my ($why) = split /\n/, $@ || 'the recorder could not close the run';
        print STDERR "Test::MemTrace::Script: the report failed: $why\n";
    }
    return;
}

1;
