package Test::MemTrace;

use strict;
use warnings;

our $VERSION = '0.01';

use Carp         ();
use Scalar::Util ();
use overload     ();

# ---------------------------------------------------------------------------
# Settings: package variables, so a test can `local`ise them for one block;
# `use Test::MemTrace -sv_only, -runs => N, -warmup => N` sets them for all.

our $SV_ONLY = 0;    # count SVs only, not C (Newx/Renew) allocations
our $RUNS    = 5;    # measured runs of the growth assertions
our $WARMUP  = 1;    # unmeasured runs before them

# Test::LeakTrace's exports and tags, then the growth functions.
my %TAGS = (
    test   => [qw(no_leaks_ok leaks_cmp_ok no_growth_ok)],
    util   => [qw(leaktrace leaked_refs leaked_info leaked_count count_sv
                  growth_count growth_info)],
);
$TAGS{all} = [ map { @$_ } @TAGS{qw(test util)} ];
our @EXPORT = @{ $TAGS{all} };
my %EXPORTABLE = map { $_ => 1 } @EXPORT;

my @IMPORT_OPTIONS = ('-sv_only', '-runs => N', '-warmup => N');

my @MODES = qw(-simple -lines -sv_dump -verbose -sites);
my %MODE  = map { $_ => 1 } @MODES;

# leaks_cmp_ok compares counts, so only the numeric operators make sense.
my @CMP_OPS = qw(< <= == != >= >);
my %CMP_OP  = map { $_ => 1 } @CMP_OPS;

# ---------------------------------------------------------------------------
# The recorder. On a perl that is not a MemTrace perl, Devel::MemTrace dies
# with one line saying so; the assertions then skip with that reason.

my $Unavailable;
{
    my $already_loaded = $INC{'Devel/MemTrace.pm'};
    local $@;
    if (eval { require Devel::MemTrace; 1 }) {
        # Loading Devel::MemTrace starts recording; a test suite only needs
        # it inside the blocks under test, and runs at full speed without
        # it. Off, not paused: paused still follows every free. What the
        # blocks recorded and is freed while off stays in the table, but
        # only the iterations of the block being measured are ever read.
        Devel::MemTrace::_disable() unless $already_loaded;
    }
    else {
        ($Unavailable) = split /\n/, $@;
        $Unavailable =~ s/\A\s+|\s+\z//g;
        $Unavailable ||= 'Devel::MemTrace did not load';
    }
}

=head1 NAME

Test::MemTrace - Test::LeakTrace's assertions, backed by the MemTrace recorder

=head1 SYNOPSIS

    use Test::More;
    use Test::MemTrace;      # instead of: use Test::LeakTrace;

    no_leaks_ok { My::Parser->new->parse($input) } 'parse does not leak';

    leaks_cmp_ok { $client->request } '<', 2, 'at most one leak per request';

    my $count = leaked_count { frobnicate() };
    my @info  = leaked_info  { frobnicate() };   # [$ref_or_undef, $file, $line]
    leaktrace { frobnicate() } -lines;           # or -simple, -sv_dump, -verbose

    # Beyond Test::LeakTrace: warm up, run five times, fail only on what
    # grew in every run (caches filled once never fail).
    no_growth_ok { $app->handle($request) } 'handle() does not grow';

    {
        local $Test::MemTrace::SV_ONLY = 1;      # SVs only, as Test::LeakTrace
        no_leaks_ok { ... } 'no SV leaks';
    }

    done_testing;

=head1 DESCRIPTION

Test::MemTrace exports the functions of L<Test::LeakTrace> with the same
call shapes and meaning, so that a test switches by changing its C<use>
line. It runs on the MemTrace perl (C<make perl> builds it) and takes its
data from the Devel::MemTrace recorder, which knows every SV head and every
C<Newx>/C<Renew> allocation that is live, with the Perl file, line and sub
and the C site that made it. So:

=over 4

=item *

C memory that XS code allocates and never frees is a leak, with its C site
(C<Leaky.xs:37 XS_Leaky_leak_buffer>) and the Perl line that called the
XSUB. Set C<$Test::MemTrace::SV_ONLY> (or C<use Test::MemTrace -sv_only>)
to count SVs only, as Test::LeakTrace does.

=item *

An SV that nothing references, made by C code, is found and named by the
Perl line that was running.

=item *

The block runs at the recorder's speed, not re-walking the SV arenas at
every statement; and it does not use perl's runops loop, which
L<Devel::Cover> replaces (Test::LeakTrace's C<leaks_cmp_ok> then passes
without testing anything). Devel::Cover itself has not been tried.

=back

On a perl that is not a MemTrace perl, the assertions skip with the reason
(the way a test skips when an optional module is missing): they never pass
silently. The functions that return data (C<leaked_*>, C<growth_*>) die
with that reason instead; see L</unavailable_reason>.

=head2 What is a leak

Each measurement is done with the recorder's iterations (see
L<Devel::MemTrace/What is a leak>): the block runs in an iteration of its
own, and what it allocated (SV heads, and C memory unless C<SV_ONLY>) and
is still live after it returned, and after its temporaries were freed, is
leaked. A buffer that perl grows (a stack, a hash's bucket array) keeps its
first allocation's iteration, so growing something made before the block
is not a leak of the block; something made in the block and kept on
purpose (a cache entry, a global) is.

A C buffer goes with the SV that owns it: the memory perl allocated for an
SV's value and frees with it (a string, an array's elements, a hash's
buckets, magic, a sub's pad list, a regexp's compiled program, capture
offsets and literal substrings, a handle's layers and I/O buffer). So:

=over 4

=item *

a buffer of a B<leaked> SV is a leak of its own, as L<Devel::MemTrace>'s
report counts it: a leaked self-referencing hash with one key is three SVs
(the HASH, the REF in it and the value) and one C buffer (the bucket
array), four leaks; a leaked C<qr//> copy is the REGEXP and its capture
offsets and literal substrings;

=item *

a buffer of a live SV that is B<not> a leak of the block (a variable made
before it, or a C<my> variable out of scope, see below) is that
variable's storage, kept for its next use, and not a leak;

=item *

a buffer that no live SV owns (an XS module's C<Newx> it forgot, a shared
hash key kept by a leaked hash) is a leak.

=back

With C<SV_ONLY>, the count is the leaked SVs alone, as Test::LeakTrace
counts. Every leaked buffer's details (see L</leaked_info>) name its owner.

Recording is off outside the blocks under test (the rest of the test file
runs at full speed), unless Devel::MemTrace was loaded before
Test::MemTrace: then its recording state is left as it is.

=head2 How the block runs

The block is a sub (the functions have C<&> prototypes), and each
function runs it exactly as many times as it says (L</leaked_info> once,
L</leaks_cmp_ok> three times, L</no_growth_ok> C<WARMUP + RUNS> times),
in void context, each measured run in a recorder iteration of its own,
however the block leaves:

=over 4

=item *

C<return>, anywhere in the block, ends the run, as in any sub.

=item *

C<die> ends the run and the call: the recorder is put back as it was and
the exception propagates unchanged, with no result.

=item *

Loop control for a loop outside the block (C<next>, C<last>, C<redo>,
with or without a label, such as the loop the test is written in) and
C<goto> a label outside the block end the run there, as a C<return>
would; the function then does its remaining runs and gives its result as
for any other block, so a block that grows fails L</no_growth_ok> whether
it ends with C<next> or not. No loop outside the block is reached: the
block cannot leave the function's own runs. The function warns once per
call, in the category C<exiting>, at the line that called it:

    Test::MemTrace::no_growth_ok: the block was left by "next" in all 6 runs: each such run ended there, as at a return; no loop outside the block is reached from it at t/cache.t line 12.

(perl also warns C<Exiting subroutine via next> at the line of the
C<next>, as for any sub it leaves by loop control, and, for a label
outside the block, C<Exiting pseudo-block via next>: the pseudo-block is
where Test::MemTrace stops it.) A label that names no loop at all is taken
the same way (outside Test::MemTrace, perl would die C<Label not found>).
C<no warnings 'exiting'> silences both. Loop control for a loop inside the
block works as usual.

=back

=head1 FUNCTIONS

All are exported by default; the tags of Test::LeakTrace select some:
C<:test> (the assertions), C<:util> (the rest), C<:all>. A block argument
must be a code block or a code reference; anything else dies with one line.
The blocks do not nest: a block under test that runs another check dies.
The functions that return data warn C<Useless use of NAME() in void
context> (category C<void>) when their result is thrown away.

=cut

# ---------------------------------------------------------------------------
# import: exports, and the -options that set the package variables.

sub import {
    my ($class, @args) = @_;
    my $caller = caller;
    my @names;
    while (@args) {
        my $arg = shift @args;
        if (!defined $arg) {
            _import_error('undef given to import');
        }
        elsif ($arg eq '-sv_only') {
            $SV_ONLY = 1;
        }
        elsif ($arg =~ /\A-(runs|warmup)\z/) {
            my $name  = $1;
            my $value   = shift @args;
            my $problem = _count_problem("-$name", $value, $name eq 'runs' ? 1 : 0);
            _import_error($problem) if defined $problem;
            if   ($name eq 'runs') { $RUNS   = 0 + $value }
            else                   { $WARMUP = 0 + $value }
        }
        elsif ($arg =~ /\A-/) {
            _import_error("unknown option '$arg'");
        }
        elsif ($arg =~ /\A:(\w+)\z/ && $TAGS{$1}) {
            push @names, @{ $TAGS{$1} };
        }
        else {
            push @names, $arg;
        }
    }
    @names = @EXPORT unless @names;
    for my $name (@names) {
        $EXPORTABLE{$name}
          or _import_error("'$name' is not exported; exported: @EXPORT;"
            . ' tags: ' . join(' ', map {":$_"} sort keys %TAGS));
        no strict 'refs';
        *{"${caller}::$name"} = \&{$name};
    }
    return;
}

sub _import_error {
    my ($what) = @_;
    Carp::croak("Test::MemTrace: $what; options: " . join(', ', @IMPORT_OPTIONS));
}

# What is wrong with $value as the count $name, or undef if it is fine.
sub _count_problem {
    my ($name, $value, $min) = @_;
    return undef
      if defined $value && !ref $value && $value =~ /\A[0-9]+\z/
      && $value >= $min && $value <= 1_000_000;
    return "$name must be an integer from $min to 1000000, not " . _describe($value);
}

# The settings as they are for this call; a bad `local` value dies here.
sub _settings {
    my ($function) = @_;
    for ([ '$Test::MemTrace::RUNS', $RUNS, 1 ], [ '$Test::MemTrace::WARMUP', $WARMUP, 0 ]) {
        my $problem = _count_problem(@$_);
        Carp::croak("Test::MemTrace::$function: $problem") if defined $problem;
    }
    return { sv_only => $SV_ONLY ? 1 : 0, runs => 0 + $RUNS, warmup => 0 + $WARMUP };
}

=head2 unavailable_reason

    plan skip_all => $why if my $why = Test::MemTrace::unavailable_reason();

Why the recorder cannot be used in this perl (one line), or undef when it
can. Not exported.

=cut

sub unavailable_reason { return $Unavailable }

# ---------------------------------------------------------------------------
# Measuring.

sub _check_block {
    my ($function, $block) = @_;
    return if ref $block eq 'CODE';
    return if Scalar::Util::blessed($block) && overload::Method($block, '&{}');
    Carp::croak("Test::MemTrace::$function: the first argument must be a code"
        . " block or code reference, not " . _describe($block));
}

sub _describe {
    my ($value) = @_;
    return 'undef' unless defined $value;
    return ref($value) . ' reference' if ref $value;
    return "'$value'";
}

sub _require_recorder {
    my ($function) = @_;
    return unless defined $Unavailable;
    Carp::croak("Test::MemTrace::$function cannot measure: $Unavailable"
        . " (skip such tests when Test::MemTrace::unavailable_reason() is true)");
}

# Closes the recorder's current iteration; returns its number. In void
# context, so the checkpoint does not walk the SV arenas for counts by type.
sub _close_iteration {
    Devel::MemTrace::_checkpoint(0, 0);
    return Devel::MemTrace::_current_iteration() - 1;
}

# Runs $block $warmup times in one iteration, then $runs times in one
# iteration each, then $flush times in one more, recording; returns the
# first and last measured iteration. Each run of the block is a statement
# of its own (see _run_once), and the next statement frees its temporaries
# before the iteration is closed. Warns once if runs of the block left it
# by loop control or goto (see _run_once, and "How the block runs" in the POD).
our $Measuring = 0;    # true while a block is under test (they do not nest)

sub _measure {
    my ($function, $block, $warmup, $runs, $flush) = @_;
    Carp::croak('Test::MemTrace: a block under test cannot itself run a'
        . ' Test::MemTrace check (they do not nest)') if $Measuring;
    local $Measuring = 1;
    my $state_before = Devel::MemTrace::_state();    # off, paused, recording
    Devel::MemTrace::_enable();
    my ($first, $ok, $error, %left, @left_order);
    my $run = sub {
        my $how = _run_once($block);
        return unless length $how;
        # Test::MemTrace's own bookkeeping: not the block's, not recorded.
        Devel::MemTrace::_pause();
        push @left_order, $how unless $left{$how}++;
        Devel::MemTrace::_enable();
        return;
    };
    {
        local $@;
        local $SIG{__DIE__} = 'DEFAULT';
        $ok = eval {
            _run_once(\&_nothing);    # perl's sort stack, once, before recording counts
            _close_iteration();    # what ran before is not the block's
            for my $i (1 .. $warmup) {
                $run->();
            }
            $first = _close_iteration() + 1;
            for my $i (1 .. $runs) {
                $run->();
                _close_iteration();
            }
            if ($flush) {
                for my $i (1 .. $flush) {
                    $run->();
                }
                _close_iteration();
            }
            1;
        };
        $error = $@;
    }
    if    ($state_before eq 'off')    { Devel::MemTrace::_disable() }
    elsif ($state_before eq 'paused') { Devel::MemTrace::_pause() }
    die $error unless $ok;
    if (@left_order) {
        my $total = $warmup + $runs + $flush;
        warnings::warnif(exiting => "Test::MemTrace::$function: " . _left_text($total, \%left, @left_order));
    }
    return ($first, $first + $runs - 1);
}

sub _nothing { return }

# The warning's text: how the block was left, in how many of its runs.
sub _left_text {
    my ($total, $left, @order) = @_;
    if ($total == 1) {
        return qq{the block was left by "$order[0]": its run ended there, as at a return;}
          . ' no loop outside the block is reached from it';
    }
    my @how = map {
        sprintf '"%s" in %s', $_, $left->{$_} == $total ? "all $total runs" : "$left->{$_} of $total runs"
    } @order;
    return 'the block was left by ' . join(', ', @how)
      . ': each such run ended there, as at a return; no loop outside the block is reached from it';
}

# perl's messages when loop control or goto looks for its target outside
# the sort block of _run_once.
my $LABEL_NOT_FOUND = qr/\ALabel not found for "((?:next|last|redo) [^"\n]*)" at .* line \d+\.\n\z/s;
my $GOTO_OUT        = qr/\ACan't "goto" out of a pseudo block at .* line \d+\.\n\z/s;

# Runs $block once, in void context. Returns '' if it returned, or how it
# left otherwise: "next", "last" or "redo", "next LABEL" (and so on) for a
# loop outside it, or "goto" to a label outside it; an exception from the
# block propagates unchanged.
#
# The block is a sub: `return` ends it. Loop control in it looks for its
# loop in the callers (perl warns "Exiting subroutine via next"), which
# would be Test::MemTrace's own loops: the block would run fewer times, or
# not at all, and the runs and the recorder's iterations would no longer
# line up. So the block runs in a bare block, which is the loop that
# `next`, `last` and `redo` find; and that inside a sort block, which perl
# runs on a stack of its own that loop control and goto cannot leave (perl
# dies "Label not found for ..." or "Can't \"goto\" out of a pseudo
# block", caught here).
sub _run_once {
    my ($block) = @_;
    my $left;
    my $ok = eval {
        my $count = () = sort {
            my $entered = 0;
            {
                if ($entered++) {    # redo starts the bare block again
                    $left = 'redo';
                    last;
                }
                $block->();
                $left = '';
            }
            continue {
                $left = 'next' unless defined $left;
            }
            $left = 'last' unless defined $left;
            0;
        } 0, 1;
        1;
    };
    return $left if $ok;
    my $error = $@;
    Devel::MemTrace::_pause();    # matching is Test::MemTrace's work, not the block's
    my $how = ref $error                  ? undef
      : $error =~ $LABEL_NOT_FOUND ? $1
      : $error =~ $GOTO_OUT        ? 'goto'
      :                              undef;
    Devel::MemTrace::_enable();
    return $how if defined $how;
    die $error;
}

# The leaks made in iterations $first..$last (closed), as
# Devel::MemTrace::leaks returns them, SVs first; what is not a leak of its
# own is left out (see _without_parts_of_others). Each C buffer gets an
# `owner`: the leaked SV it belongs to, or undef.
sub _leaks_of {
    my ($first, $last, $settings) = @_;
    my $leaks = Devel::MemTrace::_leaks($first - 1, 0);
    return _without_parts_of_others(grep {
        $_->{iteration} >= $first && $_->{iteration} <= $last && _counted($_, $settings)
    } @$leaks);
}

# What the block made and is still live, but is part of something that is
# not a leak, as Test::LeakTrace counts:
#  - a `my` variable out of scope (SvPADSTALE): the fresh SV perl puts in a
#    sub's pad when the old one is still referenced (a closure, a returned
#    \@array), waiting for the next call;
#  - a C buffer of a live SV that is not itself a leak of the block (the
#    string, elements, buckets, magic, pad or I/O buffer of a variable made
#    before it, or of a pad-stale one): that variable's storage, kept for
#    its next use.
# One rule for every C buffer: it goes with the SV that owns it (arena.c's
# body_buffers says which). A buffer of a leaked SV is a leak of its own,
# as Devel::MemTrace's report counts it (a leaked hash is the HASH and its
# bucket array); a buffer no live SV owns is a leak too.
sub _without_parts_of_others {
    my @leaks = @_;
    my @sv = grep { $_->{kind} eq 'sv' } @leaks;
    my %stale;
    if (@sv) {
        my $states = Devel::MemTrace::_sv_states([ map { $_->{address} } @sv ]);
        $stale{ $sv[$_]{address} } = 1 for grep { $states->[$_] == 2 } 0 .. $#sv;
    }
    my %leaked_sv = map { $_->{address} => 1 } grep { !$stale{ $_->{address} } } @sv;
    my @mem = grep { $_->{kind} ne 'sv' } @leaks;    # mem, and malloc (-malloc)
    my %not_a_leak;
    if (@mem) {
        my $owners = Devel::MemTrace::_buffer_owners([ map { $_->{address} } @mem ]);
        for my $i (0 .. $#mem) {
            my $owner = $owners->[$i] || undef;
            $mem[$i]{owner} = $owner;
            $not_a_leak{ $mem[$i]{address} } = 1 if $owner && !$leaked_sv{$owner};
        }
    }
    return grep {
        $_->{kind} eq 'sv' ? !$stale{ $_->{address} } : !$not_a_leak{ $_->{address} }
    } @leaks;
}

sub _counted {
    my ($leak, $settings) = @_;
    return 0 if $leak->{kind} eq 'sv' && $leak->{type} eq 'OTHER_THREAD';
    return $leak->{kind} eq 'sv' || !$settings->{sv_only};
}

# References to the leaked SVs (undef for C memory), in the order of @leaks.
sub _refs_of {
    my @leaks = @_;
    my @sv = map { $_->{kind} eq 'sv' ? $_->{address} : -1 } @leaks;
    return @{ Devel::MemTrace::_sv_refs(\@sv) };
}

# One leak as leaked_info returns it.
sub _info_of {
    my ($leak, $ref) = @_;
    my %details = %$leak;
    return [ $ref, $leak->{file}, $leak->{line}, \%details ];
}

# One run of the block (after $warmup unmeasured ones); its leaks.
sub _single_run_leaks {
    my ($function, $block, $warmup, $want) = @_;
    warnings::warnif(void => "Useless use of $function() in void context")
      if !defined $want && ($function eq 'leaked_info' || $function eq 'leaked_refs');
    _check_block($function, $block);
    _require_recorder($function);
    my $settings = _settings($function);
    my ($first, $last) = _measure($function, $block, $warmup, 1, 0);
    return _leaks_of($first, $last, $settings);
}

=head2 leaked_info

    my @info = leaked_info { BLOCK };

Runs the block once and returns one entry per leak, as Test::LeakTrace
does: C<[$ref, $file, $line]>, where C<$ref> is a reference to the leaked
SV (undef for C memory, which has none) and C<$file>, C<$line> the Perl
statement that made it. A fourth element, beyond Test::LeakTrace, is a
hashref with all that is known: C<kind> (C<sv> or C<mem>), C<type> (the SV
type now, or the C type of the C<Newx>), C<size>, C<sub>, C<c_file>,
C<c_line>, C<c_func>, C<address>, C<iteration>, and for C memory
C<owner>: the address of the leaked SV whose value the buffer holds (one
of the other entries), or undef when no live SV owns it (see L</What is a
leak>).

=cut

sub leaked_info(&) {
    my ($block) = @_;
    my @leaks = _single_run_leaks('leaked_info', $block, 0, wantarray);
    my @refs  = _refs_of(@leaks);
    return map { _info_of($leaks[$_], $refs[$_]) } 0 .. $#leaks;
}

=head2 leaked_refs

    my @refs = leaked_refs { BLOCK };

Runs the block once and returns references to the SVs it leaked. C memory
has no reference, so a block that leaks only C memory returns an empty
list here while L</leaked_count> counts it.

=cut

sub leaked_refs(&) {
    my ($block) = @_;
    my @leaks = grep { $_->{kind} eq 'sv' } _single_run_leaks('leaked_refs', $block, 0, wantarray);
    return grep {defined} _refs_of(@leaks);
}

=head2 leaked_count

    my $count = leaked_count { BLOCK };

Runs the block once and returns how many allocations it leaked: SVs, and C
allocations unless C<SV_ONLY>.

=cut

sub leaked_count(&) {
    my ($block) = @_;
    return scalar(my @leaks = _single_run_leaks('leaked_count', $block, 0, 0));
}

=head2 leaktrace

    leaktrace { BLOCK };                  # -simple
    leaktrace { BLOCK } -lines;
    leaktrace { BLOCK } sub { my ($ref, $file, $line, $details) = @_; ... };

Runs the block once and reports each leak to STDERR, in one of these modes:

    -simple   one line per leak: what, where
    -lines    and the source line that made it, with the lines around it
    -sv_dump  and perl's sv_dump of the leaked SV
    -verbose  both
    -sites    one entry per site (Perl line and C site), with counts and bytes

or calls the code reference once per leak with the arguments of a
L</leaked_info> entry. Any other mode dies with one line, before the block
runs.

=cut

sub leaktrace(&;$) {
    my ($block, $mode) = @_;
    $mode = -simple unless defined $mode;
    _check_block('leaktrace', $block);
    unless (ref $mode eq 'CODE' || (!ref $mode && $MODE{$mode})) {
        Carp::croak("Test::MemTrace::leaktrace: unknown mode " . _describe($mode)
            . "; use one of " . join(', ', @MODES) . ' or a code reference');
    }
    my @leaks = _single_run_leaks('leaktrace', $block, 0);
    my @refs  = _refs_of(@leaks);
    if (ref $mode eq 'CODE') {
        $mode->(@{ _info_of($leaks[$_], $refs[$_]) }) for 0 .. $#leaks;
        return;
    }
    _print_leaks($mode, \@leaks);
    return;
}

=head2 count_sv

    my $live = count_sv();

The number of live SVs (walking the SV arenas), as Test::LeakTrace's
C<count_sv>.

=cut

sub count_sv {
    _require_recorder('count_sv');
    return Devel::MemTrace::_arena_total();
}

# ---------------------------------------------------------------------------
# The assertions.

=head2 leaks_cmp_ok

    leaks_cmp_ok { BLOCK } $op, $count, $description;

Runs the block once to warm up (fill caches, load modules), then once more,
measured, then once more again, and compares the number of leaks of the
measured run with C<$count> using C<$op>, one of C<< < <= == != >= > >>.
A leak of the measured run is what it allocated and is still live after
the third run: what a run keeps only until the next one replaces it (an
object's last response, a global set on every call, a regexp's capture
buffer) is not a leak, as in Test::LeakTrace, which counts the change in
live SVs. So the block runs three times, where Test::LeakTrace runs it
twice. The test's name gets
C<(leaks GOT OP COUNT)> appended. On failure, C<diag> lists each leak site:
what leaked (SV type or C type), how many and how many bytes, the Perl
C<at FILE line N> and sub, the C site, and the source line.

An operator outside that list, or a count that is not a non-negative
integer, dies with one line, before the block runs.

=cut

sub leaks_cmp_ok(&$$;$) {
    my ($block, $op, $expected, $description) = @_;
    return _leaks_cmp('leaks_cmp_ok', $block, $op, $expected, $description);
}

=head2 no_leaks_ok

    no_leaks_ok { BLOCK } $description;

C<leaks_cmp_ok { BLOCK } '<=', 0, $description>.

=cut

sub no_leaks_ok(&;$) {
    my ($block, $description) = @_;
    return _leaks_cmp('no_leaks_ok', $block, '<=', 0, $description);
}

sub _leaks_cmp {
    my ($function, $block, $op, $expected, $description) = @_;
    _check_block($function, $block);
    unless (defined $op && !ref $op && $CMP_OP{$op}) {
        Carp::croak("Test::MemTrace::$function: invalid comparison operator "
            . _describe($op) . '; use one of ' . join(' ', @CMP_OPS));
    }
    unless (defined $expected && !ref $expected && $expected =~ /\A[0-9]+\z/) {
        Carp::croak("Test::MemTrace::$function: the expected count must be a"
            . " non-negative integer, not " . _describe($expected));
    }
    my $tb = _builder();    # loads Test::Builder, which sets its $Level
    # (Raised only around the test itself: not for the block's own tests.)
    # One more frame than the public function: this one.
    if (defined $Unavailable) {
        local $Test::Builder::Level = $Test::Builder::Level + 1;
        return _skip($tb, $description);
    }

    # Warm up; measure one run; then one more run, which replaces what the
    # measured run only kept until the next call (the last response, a
    # regexp's capture buffer): what is still live after it leaked.
    my $settings = _settings($function);
    my ($first, $last) = _measure($function, $block, 1, 1, 1);
    my @leaks = _leaks_of($first, $last, $settings);
    my $got = @leaks;

    my $summary = sprintf 'leaks %d %-2s %d', $got, $op, $expected;
    my $name = defined $description ? "$description ($summary)" : $summary;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = $tb->cmp_ok($got, $op, $expected, $name);
    $tb->diag(join "\n", _site_lines(_group(\@leaks), 1)) unless $ok;
    return $ok;
}

# Test::Builder (and Test2 under it) load on first use: a program traced by
# Test::MemTrace::Script should not have them unless it uses them itself.
sub _builder {
    require Test::Builder;
    return Test::Builder->new;
}

sub _skip {
    my ($tb, $description) = @_;
    my $why = "Test::MemTrace: $Unavailable";
    $tb->skip($why);
    return 1;
}

=head2 no_growth_ok

    no_growth_ok { BLOCK } $description;

The warm-up method. Runs the block C<$Test::MemTrace::WARMUP> times (default
1), unmeasured, then C<$Test::MemTrace::RUNS> times (default 5), and fails
only if some site leaked in B<every> measured run: a lazily built cache, a
connection opened once or anything else initialised on first use never
fails it, while a leak that grows with each call always does. The
diagnostics list each growing site with its leaks per run.

=head2 growth_count

    my $per_run = growth_count { BLOCK };

Runs the block as L</no_growth_ok> does and returns how many allocations
it leaks per run: for each site that leaked in every measured run, the
fewest it leaked in one run, summed.

=head2 growth_info

    my @sites = growth_info { BLOCK };

Runs the block as L</no_growth_ok> does and returns the sites that leaked in
every measured run, most leaked first, as hashrefs in the form of
L<Devel::MemTrace/leak_sites> (C<kind>, C<type>, C<types>, C<file>,
C<line>, C<sub>, C<c_file>, C<c_line>, C<c_func>, C<count>, C<bytes>),
where C<per_iteration> has one entry per measured run, and C<per_run> is
the fewest leaks of one run.

=cut

sub no_growth_ok(&;$) {
    my ($block, $description) = @_;
    _check_block('no_growth_ok', $block);
    my $tb = _builder();
    return _skip($tb, $description) if defined $Unavailable;
    my ($sites, $settings) = _growth('no_growth_ok', $block);
    my $name = defined $description ? $description : 'no growth';
    my $ok = $tb->ok(!@$sites, $name);
    unless ($ok) {
        my $per_run = 0;
        $per_run += $_->{per_run} for @$sites;
        $tb->diag(join "\n",
            sprintf('%s leaked in every one of %d runs (after %s), at least %d per run:',
                _plural(scalar @$sites, 'site'), $settings->{runs},
                _plural($settings->{warmup}, 'warm-up run'), $per_run),
            _site_lines($sites, 1));
    }
    return $ok;
}

sub growth_count(&) {
    my ($block) = @_;
    _check_block('growth_count', $block);
    _require_recorder('growth_count');
    my ($sites) = _growth('growth_count', $block);
    my $count = 0;
    $count += $_->{per_run} for @$sites;
    return $count;
}

sub growth_info(&) {
    my ($block) = @_;
    _check_block('growth_info', $block);
    _require_recorder('growth_info');
    my ($sites) = _growth('growth_info', $block);
    return @$sites;
}

# The sites that leaked in every measured run.
sub _growth {
    my ($function, $block) = @_;
    my $settings = _settings($function);
    my ($first, $last) = _measure($function, $block, $settings->{warmup}, $settings->{runs}, 0);
    my @growing;
    for my $site (@{ Devel::MemTrace::_leak_sites($first - 1, 0) }) {
        next if $settings->{sv_only} && $site->{kind} ne 'sv';
        next if $site->{kind} eq 'sv' && ($site->{type} // '') eq 'OTHER_THREAD';
        my @runs = map { $_ // 0 } @{ $site->{per_iteration} }[ 0 .. $last - $first ];
        next if grep { !$_ } @runs;
        my ($fewest) = sort { $a <=> $b } @runs;
        $site->{per_iteration} = \@runs;
        $site->{per_run}       = $fewest;
        push @growing, $site;
    }
    return (\@growing, $settings);
}

# ---------------------------------------------------------------------------
# Describing leaks: diag of the assertions, leaktrace's modes.

# Leaks grouped into sites as Devel::MemTrace's leak_sites groups them (the
# analysis's one grouping: kind, Perl site and C site, types counted).
sub _group {
    my ($leaks) = @_;
    return [] unless @$leaks;
    my ($first, $last) = (sort { $a <=> $b } map { $_->{iteration} } @$leaks)[ 0, -1 ];
    return Devel::MemTrace::_group_leaks(
        [ map { $_->{address} } grep { $_->{kind} eq 'sv' } @$leaks ],
        [ map { $_->{address} } grep { $_->{kind} ne 'sv' } @$leaks ],
        $first, $last);
}

# The lines describing each site; with the source line if $with_source.
sub _site_lines {
    my ($sites, $with_source) = @_;
    my @lines;
    for my $site (@$sites) {
        # Worded as Devel::MemTrace's report words them.
        my $what = $site->{kind} eq 'sv'
          ? _types_phrase($site, 'SV', 'SVs')
          : _types_phrase($site, 'C buffer', 'C buffers');
        push @lines, sprintf '  leaked %d %s (%d bytes) %s',
          $site->{count}, $what, $site->{bytes},
          _perl_site_text($site);
        my $detail = 'C site: ' . _c_site_text($site);
        $detail .= '; per run: ' . join ' ', @{ $site->{per_iteration} }
          if $site->{per_run};
        push @lines, "      $detail";
        if ($with_source) {
            my $source = _source_line($site->{file}, $site->{line});
            push @lines, sprintf '      %5d: %s', $site->{line}, $source if defined $source;
        }
    }
    return @lines;
}

# "UNDEF SVs", "char C buffers", or "SVs (12 HASH, 12 IV)" for a mixed site.
sub _types_phrase {
    my ($site, $one, $many) = @_;
    my $noun  = $site->{count} == 1 ? $one : $many;
    my %types = %{ $site->{types} || {} };
    if (keys %types > 1) {
        my @by_count = sort { $types{$b} <=> $types{$a} || $a cmp $b } keys %types;
        return "$noun (" . join(', ', map {"$types{$_} $_"} @by_count) . ')';
    }
    return defined $site->{type} && length $site->{type} ? "$site->{type} $noun" : $noun;
}

# "at FILE line N, in SUB", as perl words its warnings.
sub _perl_site_text {
    my ($site) = @_;
    return 'at an unknown Perl site' unless defined $site->{file} && length $site->{file};
    my $text = "at $site->{file} line $site->{line}";
    my $sub  = $site->{sub};
    $text .= ", in $sub" if defined $sub && length $sub && $sub !~ /::RUNTIME\z/;
    return $text;
}

sub _c_site_text {
    my ($leak) = @_;
    return 'unknown' unless defined $leak->{c_file} && length $leak->{c_file};
    return "$leak->{c_file}:$leak->{c_line}"
      . (defined $leak->{c_func} && length $leak->{c_func} ? " $leak->{c_func}" : '');
}

# leaktrace's output for @$leaks in $mode, to STDERR.
sub _print_leaks {
    my ($mode, $leaks) = @_;
    if ($mode eq '-sites') {
        my $sites = _group($leaks);
        print STDERR sprintf("%s at %s:\n", _plural(scalar @$leaks, 'leak'),
            _plural(scalar @$sites, 'site')), map {"$_\n"} _site_lines($sites, 1);
        return;
    }
    my $lines   = $mode eq '-lines'   || $mode eq '-verbose';
    my $sv_dump = $mode eq '-sv_dump' || $mode eq '-verbose';
    for my $leak (@$leaks) {
        my $where = defined $leak->{file} && length $leak->{file}
          ? "from $leak->{file} line $leak->{line}" : 'from an unknown Perl site';
        if ($leak->{kind} eq 'sv') {
            printf STDERR "leaked %s(0x%x) %s.\n", $leak->{type}, $leak->{address}, $where;
        }
        else {
            printf STDERR "leaked %d bytes of %s(0x%x) %s (C site %s).\n", $leak->{size},
              $leak->{type}, $leak->{address}, $where, _c_site_text($leak);
        }
        if ($lines) {
            for my $n ($leak->{line} - 1 .. $leak->{line} + 1) {
                my $source = _source_line($leak->{file}, $n);
                printf STDERR "%4d:%s\n", $n, $source if defined $source;
            }
        }
        if ($sv_dump && $leak->{kind} eq 'sv') {
            Devel::MemTrace::_sv_dump($leak->{address});
        }
    }
    return;
}

# Source lines, read once per file; undef where there is no file to read
# (-e, eval, a file gone since).
my %Source;

sub _source_line {
    my ($file, $line) = @_;
    return undef unless defined $file && length $file && $line;
    my $lines = $Source{$file} ||= do {
        my @lines;
        if ($file !~ /\A\(eval[ )]/ && -f $file && open my $fh, '<', $file) {
            @lines = <$fh>;
            close $fh;
        }
        \@lines;
    };
    my $text = $lines->[ $line - 1 ];
    return undef unless defined $text;
    chomp $text;
    return $text;
}

sub _plural {
    my ($n, $word) = @_;
    return "$n $word" . ($n == 1 ? '' : 's');
}

1;

__END__

=head1 SETTINGS

Package variables; C<local>ise them around a test, or set them for the whole
file with import options:

    use Test::MemTrace -sv_only, -runs => 10, -warmup => 2;

=over 4

=item $Test::MemTrace::SV_ONLY

True: count SVs only (as Test::LeakTrace), not C memory. Default false.

=item $Test::MemTrace::RUNS

The measured runs of the growth functions, 1 or more. Default 5.

=item $Test::MemTrace::WARMUP

The unmeasured runs before them, 0 or more. Default 1.

=back

A bad value dies with one line naming the variable, when it is used; an
unknown import option or a bad value at import dies at compile time.

=head1 TEST::BUILDER

The assertions are L<Test::Builder> tests: they count for C<done_testing>
and plans, report failures at the caller's line (they honour
C<$Test::Builder::Level>, so a helper that wraps them raises it as usual),
and work inside C<subtest> and in L<Test2>-based suites (Test::Builder is
built on Test2).

=head1 COMPARED WITH TEST::LEAKTRACE

The same functions with the same prototypes, arguments and return values;
C<leaks_cmp_ok> and C<no_leaks_ok> warm up with one unmeasured run, as
Test::LeakTrace does. The differences:

=over 4

=item *

C memory counts, unless C<SV_ONLY>; L</leaked_refs> returns SVs only.

=item *

L</leaked_count> counts the allocations the block leaked. Test::LeakTrace's
is the change in the number of live SVs, which can be negative.

=item *

What leaked is what was made and is still live, not the change in the
number of live SVs; C<leaks_cmp_ok> runs the block a third time so that
what one run replaces of the previous one's is not counted (see
L</leaks_cmp_ok>). As in Test::LeakTrace, a C<my> variable out of scope
(C<SvPADSTALE>) is not a leak; nor is a C buffer of a live SV that is not
a leak (a variable's kept string buffer is the variable's). A C buffer of
a leaked SV is a leak, as Devel::MemTrace's report counts it (a leaked
hash's bucket array), unless C<SV_ONLY>: see L</What is a leak>.

=item *

Only the numeric operators C<< < <= == != >= > >> and integer counts are
accepted by C<leaks_cmp_ok>; Test::Builder's C<cmp_ok> takes any.

=item *

C<leaktrace> names perl's SV type (C<UNDEF>, C<IV>, C<PV>, C<HASH>, ...)
where Test::LeakTrace names the C<ref> type (C<SCALAR>, C<HASH>, ...).

=item *

L</leaked_info> entries have a fourth element with the details.

=item *

C<leaktrace>'s modes print the SV type and address, the C site of C
memory, and the mode C<-sites> groups leaks by site.

=item *

On a perl without the recorder the assertions skip; they never pass.

=item *

Loop control or C<goto> out of the block ends that run and never leaves
the function (see L</How the block runs>); each function runs the block
exactly as often as it says.

=back

=head1 LIMITS

=over 4

=item *

Recording is off between the blocks, so what a block recorded and the
program frees later stays in the recorder's table (only the blocks'
own iterations are ever read, so no count is wrong; a test file with many
large leaky blocks keeps that memory).

=item *

A block running in another thread at the same time has its allocations
counted with this one's; SVs of other threads' interpreters are not.

=item *

The growth functions count only sites that leaked in every measured run:
a leak every other run does not fail them (the single-run functions see
it).

=back

=head1 SEE ALSO

L<Devel::MemTrace>, L<Test::MemTrace::Script>, L<Test::LeakTrace>.

=cut
