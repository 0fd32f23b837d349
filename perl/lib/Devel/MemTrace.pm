package Devel::MemTrace;

# Invisible to the debugger (perl -d) and to profilers that use its hooks.
# Compiled with $^P off, this file's statements have no DB::DB stops, its
# lines are not kept in @{"_<file"}, and its sub calls never go through
# DB::sub. While it compiles, while it runs (loading its XS part) and in
# import, the debugger's single-step and trace flags are off too, so that
# the code of other modules it calls (warnings, XSLoader, DynaLoader) is
# not stepped through or traced either. All three are back as they were at
# the end of the file's compilation (the last BEGIN) and when the require
# or import returns (the `local`s). The first BEGIN is in package DB: perl
# runs a block of the debugger's own package directly, not through DB::sub.
{
    package DB;
    BEGIN {
        $Devel::MemTrace::_Debugger_was = [ $^P, $DB::single, $DB::trace ];
        ($^P, $DB::single, $DB::trace) = (0, 0, 0);
    }
}

use strict;
use warnings;

our $VERSION = '0.01';

# Loading the module leaves the program's $!, $@ and $? as they were (the
# search for the XS part fails stat() calls, which set $!): a program that
# dies right after loading it exits with the status it would have had.
# (`local` at file level lasts until the require of this file ends.)
local ($!, $@, $?);
local ($^P, $DB::single, $DB::trace) = (0, 0, 0);

# Carp and Scalar::Util are loaded where they are needed, on rare paths:
# compiling them took longer than everything else `use Devel::MemTrace`
# does, and every traced program paid for it at start-up.

# ---------------------------------------------------------------------------
# Loading the XS part.  Both failures below are one line: what is wrong and
# what to do about it.

my $USE_MEMTRACE_PERL =
    "run the program with the MemTrace perl (`make perl` prints its path)";

{
    # An XS part built for another perl would not just fail to load: perl's
    # handshake exits the process. So look at this perl first, through the
    # compile-time options perl itself reports (what `perl -V` lists):
    # %Config's ccflags would load Config_heavy.pl, which cost more than the
    # rest of loading this module. A PERL_MEM_LOG perl whose hooks do not
    # reach the recorder (a static libperl, say) is refused after loading,
    # by _is_memtrace_perl below.
    my $options = defined &Internals::V
      ? (Internals::V())[1]
      : do { require Config; $Config::Config{ccflags} };
    unless (($options // '') =~ /\bPERL_MEM_LOG\b/) {
        die "Devel::MemTrace: this perl ($^X) is not a MemTrace perl (it was"
          . " built without -DPERL_MEM_LOG); $USE_MEMTRACE_PERL\n";
    }
    require XSLoader;
    local $@;
    unless (eval { XSLoader::load('Devel::MemTrace', $VERSION); 1 }) {
        my ($why) = split /\n/, $@;
        $why =~ s/ at \S+ line \d+\.?\z//;
        $why =~ s/\s*\(\@INC contains:.*//;
        die "Devel::MemTrace: cannot load its XS part into this perl ($^X):"
          . " $why; $USE_MEMTRACE_PERL\n";
    }
}

_is_memtrace_perl()
  or die "Devel::MemTrace: this perl ($^X) does not route its PERL_MEM_LOG"
  . " hooks to the recorder; $USE_MEMTRACE_PERL\n";

# ---------------------------------------------------------------------------
# Module-level settings, changed by the import options.

my %Setting = (
    skip    => 0,     # iterations after iteration 0 that are warm-up too
    min_age => 2,     # later checkpoints a leak must have stayed live through
    all     => 0,     # report() lists the stopped sites too
);
my $Report_at_END = 0;
my $Dump_at_END;                # -dump_at_END[=FILE]: the file name, if asked
my $Dump_every = 0;             # -dump_every=N: dump after every Nth checkpoint
my $Dump_every_file = 'memtrace.%p.%n.mtc';
my @Iteration_subs;             # -iteration=Pkg::sub names not wrapped yet
my %Wrapped;                    # Pkg::sub => 1 once wrapped
my $Recording_malloc = 0;       # -malloc given: the malloc family is recorded
my $Loaded_in_pid = $$;         # -report_at_END reports in this process only

my @EXPORTABLE = qw(
  checkpoint leaks leak_sites report arena_counts identify
  pause resume is_recording history current_iteration stats
);
my %EXPORTABLE = map { $_ => 1 } @EXPORTABLE;

my @KNOWN_IMPORT_OPTIONS = (
    '-iteration=Pkg::sub', '-iteration_every=SECONDS', '-report_at_END',
    '-dump_at_END[=FILE]', '-dump_on=SIGNAL[:FILE]', '-dump_every=N[:FILE]',
    '-skip=N', '-min_age=N', '-all', '-malloc', '-stack=N', '-c_frames[=N]',
);

# How much of the call stacks each record keeps (see -stack and -c_frames).
my $DEFAULT_STACK    = 8;     # Perl frames, the running statement included
my $DEFAULT_C_FRAMES = 6;     # native frames, once -c_frames turns them on
my %Depth = (stack => $DEFAULT_STACK, c_frames => 0);

# What a capture says about the program that wrote it: the arguments as
# they were when the module was loaded (the program may shift them away).
my $Program = join ' ', $0, @ARGV;

# The default capture file names: the pid and the iteration, so that forked
# children and successive dumps each write their own.
my $DEFAULT_DUMP_FILE = 'memtrace.%p.mtc';

my @STATUSES = qw(steady intermittent stopped);

# Recording starts as soon as the module is loaded.
_set_depths($Depth{stack}, $Depth{c_frames});
_enable();

# ---------------------------------------------------------------------------
# import: exports on request, and the -OPTIONS of perl -MDevel::MemTrace=...

sub import {
    my ($class, @args) = @_;
    local ($!, $?);
    local ($^P, $DB::single, $DB::trace) = (0, 0, 0);    # see the top of the file
    my $caller = caller;
    my @exports;

    for my $arg (@args) {
        if ($arg =~ /\A-/) {
            _apply_import_option($arg);
        }
        else {
            push @exports, $arg;
        }
    }

    for my $name (@exports) {
        $EXPORTABLE{$name}
          or die "Devel::MemTrace: " . _shown($name) . " is not exported; exportable:"
          . " @EXPORTABLE; options: @KNOWN_IMPORT_OPTIONS\n";
        no strict 'refs';
        *{"${caller}::$name"} = \&{"Devel::MemTrace::$name"};
    }
    return;
}

sub _apply_import_option {
    my ($arg) = @_;
    my $bad = sub {
        my ($what) = @_;
        die "Devel::MemTrace: $what " . _shown($arg) . "; known options: "
          . join(', ', @KNOWN_IMPORT_OPTIONS) . "\n";
    };

    if ($arg eq '-report_at_END') {
        $Report_at_END = 1;
    }
    elsif ($arg eq '-all') {
        $Setting{all} = 1;
    }
    elsif ($arg eq '-malloc') {
        _record_malloc(1);
        $Recording_malloc = 1;
    }
    elsif ($arg =~ /\A-(skip|min_age)(?:=(.*))?\z/s) {
        my ($name, $value) = ($1, $2);
        _is_count($value)
          or $bad->("option needs an integer from 0 to 4294967295:");
        $Setting{$name} = 0 + $value;
    }
    elsif ($arg =~ /\A-stack(?:=(.*))?\z/s) {
        my $n = $1;
        defined $n && $n =~ /\A[0-9]{1,2}\z/ && $n >= 1 && $n <= 64
          or $bad->('option needs a number of Perl frames from 1 to 64 such as -stack=16:');
        $Depth{stack} = 0 + $n;
        _set_depths($Depth{stack}, $Depth{c_frames});
    }
    elsif ($arg =~ /\A-c_frames(?:=(.*))?\z/s) {
        my $n = $1;
        !defined $n || $n =~ /\A[0-9]{1,2}\z/ && $n <= 32
          or $bad->('option needs a number of native frames from 0 (off) to 32, or none (6):');
        $Depth{c_frames} = defined $n ? 0 + $n : $DEFAULT_C_FRAMES;
        _set_depths($Depth{stack}, $Depth{c_frames});
    }
    elsif ($arg =~ /\A-dump_at_END(?:=(.*))?\z/s) {
        my $file = $1;
        !defined $file || length $file
          or $bad->('option needs a file name after =, or none:');
        $Dump_at_END = defined $file ? $file : $DEFAULT_DUMP_FILE;
    }
    elsif ($arg =~ /\A-dump_on(?:=(.*))?\z/s) {
        my ($signal, $file) = split /:/, ($1 // ''), 2;
        defined $signal && $signal =~ /\A(?:SIG)?([A-Z][A-Z0-9]*)\z/
          or $bad->('option needs a signal name such as -dump_on=USR2:');
        $signal = $1;
        _signal_exists($signal)
          or $bad->("option names no signal this system has ($signal):");
        $signal !~ /\A(?:KILL|STOP|ALRM|CHLD|CLD|PIPE|INT|TERM|HUP|QUIT)\z/
          or $bad->("option takes a signal the program does not use itself (USR1, USR2, ...), not $signal:");
        _dump_on_signal($signal, defined $file && length $file ? $file : 'memtrace.%p.%n.mtc');
    }
    elsif ($arg =~ /\A-dump_every(?:=(.*))?\z/s) {
        my ($n, $file) = split /:/, ($1 // ''), 2;
        defined $n && $n =~ /\A[1-9][0-9]{0,8}\z/
          or $bad->('option needs a whole number of iterations from 1 such as -dump_every=10:');
        $Dump_every = 0 + $n;
        $Dump_every_file = $file if defined $file && length $file;
    }
    elsif ($arg =~ /\A-iteration_every(?:=(.*))?\z/s) {
        my $seconds = $1;
        defined $seconds && $seconds =~ /\A(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\z/
          && $seconds >= 0.001 && $seconds <= 86400
          or $bad->('option needs a number of seconds from 0.001 to 86400 such as -iteration_every=10:');
        _iteration_every(0 + $seconds);
    }
    elsif ($arg =~ /\A-iteration(?:=(.*))?\z/s) {
        my $sub = $1;
        defined $sub && $sub =~ /\A(?:\w+::)*\w+\z/ && $sub !~ /\A\d/
          or $bad->("option needs a sub name such as -iteration=main::poll:");
        $sub = "main::$sub" unless $sub =~ /::/;
        _end_iteration_at_return_of($sub);
    }
    else {
        $bad->('unknown option');
    }
    return;
}

# ---------------------------------------------------------------------------
# -iteration=Pkg::sub: every return from the sub (normal or by die) ends the
# current iteration.  The sub usually does not exist yet when -M runs, so
# wrapping waits for INIT, after the program has been compiled.

sub _end_iteration_at_return_of {
    my ($name) = @_;
    return if $Wrapped{$name};
    if (_sub_is_defined($name)) {
        _wrap_iteration_sub($name);
    }
    else {
        push @Iteration_subs, $name unless grep { $_ eq $name } @Iteration_subs;
    }
    return;
}

sub _sub_is_defined {
    my ($name) = @_;
    no strict 'refs';
    return defined &{$name};
}

{
    # Loaded at run time (require), this INIT block is too late to run; the
    # -iteration subs it would wrap can only come from -M or use, which load
    # at compile time, so nothing is lost. Compiled in package DB: perl
    # calls a block of the debugger's own package directly, never through
    # DB::sub, so the debugger does not step into it.
    package DB;
    no warnings 'void';
    INIT {
        local ($!, $@, $?);
        Devel::MemTrace::_wrap_pending_iteration_subs();
    }
}

sub _wrap_pending_iteration_subs {
    while (defined(my $name = shift @Iteration_subs)) {
        if (_sub_is_defined($name)) {
            _wrap_iteration_sub($name);
        }
        else {
            warn "Devel::MemTrace: -iteration=$name: there is no sub $name when"
              . " the program starts, so no call ends an iteration"
              . " (call Devel::MemTrace::checkpoint() yourself instead)\n";
        }
    }
    return;
}

# The sub is not replaced by another: the XS layer (src/xs/iteration_wrapper.c)
# gives the sub itself a first op that watches each call, so the sub keeps
# its name, prototype, attributes and identity, and runs in its caller's
# context, with no frame in between that caller, croak or goto could see.
sub _wrap_iteration_sub {
    my ($name) = @_;
    no strict 'refs';
    _iteration_sub(\&{$name});
    $Wrapped{$name} = 1;
    return;
}

# Called by the XS layer when a watched call of an -iteration sub returns or
# dies (on a stack of its own): ends the iteration, invisibly to the program.
sub _iteration_end {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    local ($@, $!, $?);
    local $SIG{__DIE__};
    unless (eval { checkpoint(); 1 }) {
        my ($why) = split /\n/, $@;
        warn "Devel::MemTrace: -iteration: $why\n";
    }
    return;
}

# The program is over: report if asked, then stop recording, so that global
# destruction is not recorded. In package DB, as INIT above (and so
# CORE::warn: the debugger defines a DB::warn).
package DB;

END {
    Devel::MemTrace::_own_allocations(my $own) if defined &Devel::MemTrace::_own_allocations;
    my $exit = $?;
    local ($@, $!, $?);
    if (defined $Dump_at_END && defined &Devel::MemTrace::_dump) {
        Devel::MemTrace::_pause();
        my $file = $Dump_at_END;
        # A forked child writes its own file, whatever the name says.
        if ($$ != $Loaded_in_pid && $file !~ /%p/) {
            my $extension = $file =~ s/(\.mtc)\z// ? $1 : '';
            $file .= ".%p$extension";
        }
        my $done = eval { Devel::MemTrace::dump($file); 1 };
        unless ($done) {
            my ($why) = split /\n/, $@;
            CORE::warn "Devel::MemTrace: -dump_at_END: $why\n";
        }
    }
    if ($Report_at_END && $$ == $Loaded_in_pid && $exit != 0
        && defined &Devel::MemTrace::_current_iteration && Devel::MemTrace::_current_iteration() == 0) {
        # It died (or exited with an error) before its first checkpoint: a
        # report of no iterations would say nothing but "no leaks".
        Devel::MemTrace::_pause();
        print STDERR "Devel::MemTrace: no report: the program exited with status $exit before its first checkpoint\n";
    }
    elsif ($Report_at_END && $$ == $Loaded_in_pid) {
        Devel::MemTrace::_pause();
        my $text = eval { Devel::MemTrace::report() };
        if (defined $text) {
            print STDERR $text;
        }
        else {
            my ($why) = split /\n/, $@;
            CORE::warn "Devel::MemTrace: -report_at_END: the report failed: $why\n";
        }
    }
    # Not there when loading the XS part failed (the module died above).
    Devel::MemTrace::_disable() if defined &Devel::MemTrace::_disable;
}

package Devel::MemTrace;

# ---------------------------------------------------------------------------
# Option checking shared by the functions that take NAME => VALUE pairs.

my %OPTION_CHECK = (
    skip    => \&_is_count,
    min_age => \&_is_count,
    top     => \&_is_count,
    all     => \&_is_flag,
    status  => sub {
        _is_plain($_[0]) && defined $_[0] && grep { $_ eq $_[0] } @STATUSES, 'ongoing', 'all';
    },
    by      => sub { _is_plain($_[0]) && defined $_[0] && $_[0] =~ /\A(?:site|stack)\z/ },
    library => sub {
        ref $_[0] eq 'ARRAY' && !grep { !defined || ref || /\n/ } @{ $_[0] };
    },
);
my %OPTION_MEANS = (
    skip    => 'an integer from 0 to 4294967295',
    min_age => 'an integer from 0 to 4294967295',
    top     => 'an integer from 0 to 4294967295',
    all     => 'a true or false value (such as 1 or 0)',
    status  => join(', ', map {"'$_'"} @STATUSES, 'ongoing', 'all'),
    by      => "'site' or 'stack'",
    library => 'an array reference of paths (directories or files)',
);

# A plain scalar: a string, a number or undef; not a reference, nor a glob.
sub _is_plain { return ref \$_[0] eq 'SCALAR' }

# A flag: any plain scalar (undef: the module-wide setting).
sub _is_flag { return _is_plain($_[0]) }

# The recorder counts iterations in 32 bits.
# The paths of the installed libraries: every @INC directory but the
# current one, as absolute paths and as given (a program's own files are
# outside them).
sub _library_paths {
    require Cwd;
    my %seen;
    return [ grep { length && !$seen{$_}++ }
          map { ($_, Cwd::abs_path($_) // '') }
          grep { !ref && $_ ne '.' && -d } @INC ];
}

sub _is_count {
    _is_plain($_[0]) && defined $_[0] && $_[0] =~ /\A[0-9]+\z/ && $_[0] <= 4294967295;
}

# A value as a message shows it, on one line: quoted, with control and
# non-ASCII characters escaped ("1\n" is '1\x0a'), or what it is if it is
# not a plain scalar ("an ARRAY reference", "a My::Class object").
sub _shown {
    my ($value) = @_;
    return 'undef' unless defined $value;
    if (ref $value) {
        require Scalar::Util;
        return 'a ' . _escaped(ref $value) . ' object' if Scalar::Util::blessed($value);
        my $type = ref $value;
        return ($type =~ /\A[AEIOU]/ ? 'an ' : 'a ') . "$type reference";
    }
    return 'a glob (' . _escaped("$value") . ')' unless _is_plain($value);
    return "'" . _escaped("$value") . "'";
}

sub _escaped {
    my ($text) = @_;
    $text =~ s/([^\x20-\x7e])/ord $1 > 0xff ? sprintf('\\x{%x}', ord $1) : sprintf('\\x%02x', ord $1)/ge;
    return $text;
}

# The functions that take no arguments refuse any, rather than ignore them.
sub _no_arguments {
    my ($function, $count) = @_;
    _croak("Devel::MemTrace::$function: takes no arguments, not $count"
        . ($count == 1 ? ' argument' : ' arguments'));
}

# Carp's croak, loading Carp first (see the top of the file).
sub _croak {
    require Carp;
    goto &Carp::croak;
}

# _options(FUNCTION, [VALID NAMES], @ARGS) -> hashref with defaults applied
sub _options {
    my ($function, $valid, @args) = @_;
    my $valid_list = join ', ', @$valid;
    @args % 2 == 0
      or _croak("Devel::MemTrace::$function: options come in NAME => VALUE"
        . " pairs (odd number of arguments); valid options: $valid_list");
    my %opts = @args;
    for my $name (sort keys %opts) {
        grep { $_ eq $name } @$valid
          or _croak("Devel::MemTrace::$function: unknown option " . _shown($name) . ";"
            . " valid options: $valid_list");
        my $value = $opts{$name};
        $OPTION_CHECK{$name}->($value)
          or _croak("Devel::MemTrace::$function: option '$name' must be"
            . " $OPTION_MEANS{$name}, not " . _shown($value)
            . "; valid options: $valid_list");
    }
    for my $name (qw(skip min_age all)) {
        $opts{$name} = $Setting{$name} unless defined $opts{$name};
    }
    $opts{status} = 'all' unless defined $opts{status};
    $opts{top}    = 0     unless defined $opts{top};
    return \%opts;
}

# ---------------------------------------------------------------------------
# The public functions.

=head1 NAME

Devel::MemTrace - find the Perl line behind every leaked SV and C allocation

=head1 SYNOPSIS

    # No change to the program: each return from main::poll ends an
    # iteration, and the leak report goes to STDERR at exit.
    $ /path/to/memtrace/perl \
        -MDevel::MemTrace=-iteration=main::poll,-report_at_END poller.pl

    # Or drive it yourself:
    use Devel::MemTrace qw(checkpoint leak_sites report);

    for (1 .. 12) {
        poll();
        checkpoint();          # ends an iteration
    }
    print STDERR report();     # per-iteration counts and the leak sites

    for my $site (@{ leak_sites(status => 'steady') }) {
        printf "%d %s at %s line %d\n",
            $site->{count}, $site->{type}, $site->{file}, $site->{line};
    }

=head1 DESCRIPTION

A long-running Perl process grows, and the usual tools run out. Counting SVs
per iteration (L<Devel::Gladiator>) says that something grows, not where.
Heap dumps (L<Devel::MAT>) find the SVs that survive, but a leaked SV that
nothing references is "not found" by C<identify>, and C memory allocated by
an XS module (a C<Newx> that is never freed) shows in no SV count at all.

Devel::MemTrace runs inside a perl built with C<-DPERL_MEM_LOG> (the
"MemTrace perl": C<make perl> builds it and prints its path). A recorder
written in Rust receives every logged allocation (C<Newx>, C<Renew>,
C<Safefree>: kind C<mem>) and every SV head created or freed (kind C<sv>),
and remembers each live one with two sites: the B<C site> perl passes (file,
line and function, e.g. C<sv.c:10123 Perl_newSV> or
C<Leaky.xs:26 XS_Leaky_leak_buffer>) and the B<Perl site>, the file, line
and fully qualified sub that were running at the time. File-level code runs
in the sub C<main::RUNTIME>, C<BEGIN> blocks in C<Pkg::BEGIN>, anonymous
subs in C<Pkg::__ANON__>. An SV made inside an XSUB has the Perl line that
called the XSUB as its Perl site.

You tell it where one iteration of your program ends (a request served, a
poll done) by calling L</checkpoint>, or with C<-iteration=Pkg::sub>. It then
knows, for every live allocation, in which iteration it was made and how
many checkpoints it has survived.

Loading the module (C<use> or C<require>) starts recording. Loading it into
a perl that is not the MemTrace perl dies with one line that says so.

=head2 What is a leak

Iteration 0 is everything before the first checkpoint; each checkpoint
closes the current iteration and starts the next. A B<leak> is an
allocation that is still live, was made in iteration I<i> E<gt>= 1 + C<skip>,
and has stayed live through at least C<min_age> checkpoints after the one
that closed iteration I<i>.

C<skip> (default 0) treats more iterations as warm-up; C<min_age> (default
2) is how long something must survive before it counts. Both are options of
every function below, and module-wide defaults through the import options.

Leaks are grouped into B<sites>: the same kind, Perl site (file, line, sub)
and C site. Each site has a B<status>:

=over 4

=item steady

it leaked in every eligible iteration since its first leak, and in each of
the last three (or all, if fewer are eligible): the classic leak that grows
for ever;

=item intermittent

it leaked in at least one of the last three eligible iterations, but with
gaps, or only just started (something retained once, in the latest
iteration, is not called steady yet);

=item stopped

nothing leaked there in the last three eligible iterations, nor for longer
than the longest pause the site ever made between two leaks: one-time
retention, such as a cache filled during the first iterations. Not a leak
that grows, so L</report> leaves these out unless asked. (A leak every 5th
iteration is quiet for 4 iterations at a time: it is intermittent, and the
report says C<intermittent, every 5 iterations>.)

=back

Perl's own permanent pools (the SV and body arenas, C<Perl_more_sv>,
C<Perl_more_bodies>) are never reported.

=head1 FUNCTIONS

All functions live in package C<Devel::MemTrace>; all of those below can be
imported on request:

    use Devel::MemTrace qw(checkpoint leaks leak_sites report arena_counts
                           pause resume is_recording history
                           current_iteration stats);

Functions that take options take C<< NAME => VALUE >> pairs. An unknown
option, or a value of the wrong kind (a reference where a flag or a number
is wanted, say), croaks with one line naming the option and listing the
valid ones; a value with control characters is shown with them escaped
(C<'1\x0a'>). The functions that take no arguments (C<pause>, C<resume>,
C<is_recording>, C<history>, C<current_iteration>, C<stats>,
C<arena_counts>) croak with one line if given any.

=head2 checkpoint

    my $cp = Devel::MemTrace::checkpoint();
    my $cp = Devel::MemTrace::checkpoint(skip => 1, min_age => 3);

Closes the current iteration and returns a hashref:

    iteration        the iteration just closed (0 for the first call)
    svs              live SVs, counted by walking the SV arenas
    svs_delta        change since the previous checkpoint
    by_type          live SVs by type or class, as arena_counts() returns
    mem_live         live logged (Newx/Renew) allocations
    mem_bytes        their bytes
    mem_live_delta   change since the previous checkpoint
    mem_bytes_delta  change since the previous checkpoint
    sv_live          live SVs the recorder saw created
    rss              the process's resident set in bytes (0: unknown)
    new_leaks        allocations that became leaks at this checkpoint
                     (whatever their site's status: a cache filling during
                     warm-up counts here too)

C<new_leaks> uses the options C<skip> and C<min_age>, by default the
module-wide settings.

=cut

sub checkpoint {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    my $opts = _options('checkpoint', [qw(skip min_age)], @_);
    # _checkpoint walks the arenas for by_type only if a result is wanted.
    return _checkpoint($opts->{skip}, $opts->{min_age}) unless $Dump_every;
    my $result = defined wantarray ? _checkpoint($opts->{skip}, $opts->{min_age})
      : do { _checkpoint($opts->{skip}, $opts->{min_age}); undef };
    _dump_if_due();
    return $result;
}

# -dump_every=N: a capture after every Nth checkpoint.
sub _dump_if_due {
    return unless _current_iteration() % $Dump_every == 0;
    local ($@, $!, $?);
    unless (eval { Devel::MemTrace::dump($Dump_every_file); 1 }) {
        my ($why) = split /\n/, $@;
        warn "Devel::MemTrace: -dump_every: $why\n";
    }
    return;
}

# -dump_on=SIGNAL: a capture whenever the signal comes, at perl's next safe
# point (perl's deferred signals), so a running daemon can be asked for
# one without a restart. A handler the program had already set still runs.
sub _dump_on_signal {
    my ($signal, $file) = @_;
    my $before = $SIG{$signal};
    $SIG{$signal} = sub {
        _own_allocations(my $own);    # until goto hands over to the program's handler
        {
            local ($@, $!, $?);
            unless (eval { Devel::MemTrace::dump($file); 1 }) {
                my ($why) = split /\n/, $@;
                warn "Devel::MemTrace: -dump_on=$signal: $why\n";
            }
        }
        goto &$before if ref $before eq 'CODE';
        return;
    };
    return;
}

sub _signal_exists { return exists $SIG{ $_[0] } }

# -iteration_every=SECONDS: called by the timer at perl's next safe point
# (see src/xs/iteration_timer.c); invisible to the program.
sub _timer_checkpoint {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    local ($@, $!, $?);
    unless (eval { checkpoint(); 1 }) {
        my ($why) = split /\n/, $@;
        warn "Devel::MemTrace: -iteration_every: $why\n";
    }
    return;
}

# %p: the pid; %n: the iteration now open (checkpoints so far); %%: a %.
sub _capture_file_name {
    my ($template) = @_;
    my %fill = (p => $$, n => _current_iteration(), '%' => '%');
    (my $file = $template) =~ s/%([pn%])/$fill{$1}/g;
    return $file;
}

=head2 arena_counts

    my $counts = Devel::MemTrace::arena_counts();
    # { HASH => 1234, ARRAY => 567, CODE => 890, 'My::Class' => 3, ... }

Live SVs counted by walking the arenas, in the style of
L<Devel::Gladiator>'s C<arena_ref_counts>: the key is the class name for
blessed objects, otherwise the SV type (C<UNDEF IV NV PV INVLIST PVIV PVNV
PVMG REGEXP GLOB LVALUE ARRAY HASH CODE FORMAT IO OBJECT>, and C<REF> for a
scalar holding a reference); the value is the count.

=cut

sub arena_counts {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    @_ and _no_arguments('arena_counts', scalar @_);
    return _arena_counts();
}

=head2 leaks

    my $leaks = Devel::MemTrace::leaks(skip => 0, min_age => 2);
    for my $leak (Devel::MemTrace::leaks()) { ... }

Every live leak, as hashrefs ordered by iteration, then kind (C<sv>
first), then address: a list in list context, an arrayref in scalar
context. Each has:

    address      the address (an integer)
    kind         'sv', 'mem', or 'malloc' (a block perl never logged, seen
                 with -malloc)
    type         for sv: the SV type now (UNDEF, HASH, ...);
                 for mem: the C type of the Newx (char, HE*, ...);
                 for malloc: 'malloc'
    size         bytes
    iteration    the iteration it was made in
    file, line, sub          the Perl site
    c_file, c_line, c_func   the C site
    held_by      what holds it, { kind, path, text } as in leak_sites'
                 held_by (for the first 1000 leaks: one search each)
    stack        its Perl call stack, innermost first:
                 [ { file, line, sub }, ... ] (see -stack)
    c_frames     its native frames, innermost first:
                 [ { func, file, line }, ... ] (empty unless -c_frames)

Options: C<skip>, C<min_age>.

=cut

sub leaks {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    my $opts = _options('leaks', [qw(skip min_age)], @_);
    my $leaks = _leaks($opts->{skip}, $opts->{min_age});
    return wantarray ? @$leaks : $leaks;
}

=head2 leak_sites

    my $sites = Devel::MemTrace::leak_sites(status => 'ongoing');
    for my $site (Devel::MemTrace::leak_sites()) { ... }

Leaks grouped by site, most leaked first, as hashrefs (a list in list
context, an arrayref in scalar context):

    kind             'sv', 'mem' or 'malloc' (see leaks)
    type             the most common type at this site
    types            { TYPE => count, ... }
    file, line, sub  the Perl site
    c_file, c_line, c_func  the C site
    count, bytes     how many leaks there are, and their bytes
    first_iteration  the first eligible iteration (1 + skip), the one
                     per_iteration->[0] counts; the same for every site
    per_iteration    arrayref: leaks made in each iteration from
                     first_iteration to the last eligible one
    status           'steady', 'intermittent' or 'stopped' (see above)
    period           iterations between leaks when the site leaks at a
                     regular rhythm (3 or more leaks, gaps within one
                     iteration of each other), else undef
    sample_address   one leaked address of the site, of its latest
                     eligible iteration (the report prints it in hex)
    stack            the Perl call stack of most of its leaks, innermost
                     first: [ { file, line, sub }, ... ] (as deep as
                     -stack says; the first frame is the Perl site)
    stacks           every stack its leaks were made with, most leaked
                     first: [ { count, frames => [ { file, line, sub } ] } ]
    c_frames         the native frames of most of its leaks, innermost
                     first, inlined functions as frames of their own:
                     [ { func, file, line }, ... ]; empty unless
                     -c_frames is on (then every leak of a site has the
                     same culprit: leaks made at one line by different
                     C functions are different sites)
    held_by          what holds up to three of the site's latest leaks:
                     [ { address, kind, path, length, refcount, unseen,
                     text } ], kind one of 'unreferenced' (no SV refers to
                     it: C code holds it), 'weak only', 'cycle', 'root',
                     'unreferenced holder', 'other thread'; path written the
                     Perl way (@main::Log[1041], {self} for a cycle)

Options: C<skip>, C<min_age>, and C<status>, which keeps only the sites of
one status: C<'steady'>, C<'intermittent'>, C<'stopped'>, C<'ongoing'>
(steady and intermittent) or C<'all'> (the default).

C<< by => 'stack' >> groups the leaks by the first frame of their Perl call
stack whose file is under none of the C<library> paths (an arrayref of
directories or files; by default every directory of C<@INC> but C<.>), so
that a leak inside a module is found at the program's own line that
called into it, one site per calling line: C<file>, C<line> and C<sub>
are that frame's. The default, C<< by => 'site' >>, groups by the
innermost frame.

=cut

sub leak_sites {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    my $opts = _options('leak_sites', [qw(skip min_age status by library)], @_);
    my $sites =
      ($opts->{by} // 'site') eq 'stack'
      ? _leak_sites($opts->{skip}, $opts->{min_age}, 1,
        join("\n", @{ $opts->{library} // _library_paths() }))
      : _leak_sites($opts->{skip}, $opts->{min_age});
    if ($opts->{status} ne 'all') {
        my %keep =
            $opts->{status} eq 'ongoing'
          ? (steady => 1, intermittent => 1)
          : ($opts->{status} => 1);
        $sites = [ grep { $keep{ $_->{status} } } @$sites ];
    }
    return wantarray ? @$sites : $sites;
}

=head2 report

    print STDERR Devel::MemTrace::report();
    print STDERR Devel::MemTrace::report(all => 1);

The report as text. First a heading with the leak rule in force, then one
line per closed iteration:

    iteration 3: SVs 59655 (+3), allocations 12345 (+7), 1234567 bytes (+2048), new leaks 4

(SVs counted in the arenas, live logged allocations and their bytes, the
process's RSS, each with its change since the previous checkpoint, and the
leaks that checkpoint found; iteration 0 has no changes to show. Past 40
iterations, the first 5 and last 30 are shown.) A C<growth:> line then
compares the median growth of RSS per judged iteration with what the
ongoing leaks hold, and says when the rest is memory the recorder does not
see. Then the leak sites, most leaked first, two lines
each, the Perl site written as perl writes its warnings (the sub is left out
for file-level code):

      12 leaked UNDEF SVs at examples/poller.pl line 42, in main::poll
          C site: sv.c:10123 Perl_newSV; steady; per iteration: 1 1 1 1 1 1; 576 bytes
      12 leaked char buffers (3072 bytes) at examples/poller.pl line 44, in main::poll
          C site: Leaky.xs:26 XS_Leaky_leak_buffer; steady; per iteration: 1 1 1 1 1 1

A site with SVs of several types says so: C<24 leaked SVs (12 HASH, 12 IV)>.
Under the two lines, where the site's leaks were called from, most leaked
first (up to 5 stacks, the rest counted; see L</-stack=N>):

          8 called from app.pl line 31, in main::handle <- app.pl line 50

With L</-c_frames[=N]> the C site is the first native frame outside perl's
allocation functions, the allocator beside it:
C<C site: pp_ctl.c:5031 S_do_smartmatch (allocated by sv_inline.h:369
Perl_newSV_type)>; leaks made at one line by different C functions are
sites of their own.
By default only the ongoing sites (steady and intermittent) are listed,
followed by a line counting the stopped ones (one-time retention) that were
left out. When there is nothing to list the report says
C<no leaks: nothing allocated after warm-up (iteration 0) stayed live
through 2 later checkpoints>. When XS modules compiled without
C<PERL_MEM_LOG> are loaded (see L</unrecorded_xs_modules>), a last line
names them: their C allocations are invisible.

The C<new leaks> of each iteration line were counted by that checkpoint,
with the options it was called with.

Options: C<skip>, C<min_age>, C<all> (true: list the stopped sites too),
C<top> (list at most this many sites; 0, the default, lists all).

=cut

sub report {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    my $opts = _options('report', [qw(skip min_age all top)], @_);
    # Written by the analysis, the same code `memtrace report` runs on a
    # capture, so the two never differ.
    my $text = _report($opts->{skip}, $opts->{min_age}, $opts->{all} ? 1 : 0, $opts->{top});
    return $text . _unrecorded_xs_line();
}

# The report's last line when XS modules are loaded whose C allocations the
# recorder cannot see; '' when there are none.
sub _unrecorded_xs_line {
    # With -malloc their C allocations are recorded, as malloc blocks.
    return '' if $Recording_malloc;
    my @modules = map { $_->{module} } unrecorded_xs_modules();
    return '' unless @modules;
    my $names = @modules == 1 ? $modules[0] : join(', ', @modules[0 .. $#modules - 1]) . " and $modules[-1]";
    my ($verb, $its) = @modules == 1 ? ('was', 'its') : ('were', 'their');
    return "C allocations not recorded: $names $verb built without PERL_MEM_LOG, so $its"
      . " Newx/Renew/Safefree calls are invisible ($its SVs are recorded); no leak listed"
      . " does not mean none in $its C code (-malloc records it)\n";
}

=head2 unrecorded_xs_modules

    for my $m (Devel::MemTrace::unrecorded_xs_modules()) {
        print "$m->{module} ($m->{file})\n";
    }

The loaded XS modules whose C allocations the recorder cannot see: those
compiled without C<PERL_MEM_LOG>, whose shared object does not reference
C<Perl_mem_log_alloc> (every XS module built for a perl other than the
MemTrace perl, such as Debian's own in the twin of the system perl). The
modules under the MemTrace perl's own directories were built by it, with
C<PERL_MEM_LOG>, and are never named. Their
C<Newx>, C<Renew> and C<Safefree> calls are not logged; the SVs they make
are. Hashrefs C<< { module => 'JSON::XS', file => '/usr/lib/.../XS.so' } >>,
sorted by module name (a list; an arrayref in scalar context).
L</report> ends with a line naming them, unless C<-malloc> records the C
library's malloc family, and so their C allocations too (as C<malloc>
blocks, at the Perl line that was running).

=cut

my %Mem_log_reference;    # .so path => whether it references Perl_mem_log_alloc
# Read now, while the module loads: %Config is tied, and a report at END
# under perl -d must not step through Config::FETCH.
my $Own_prefix = do { require Config; "$Config::Config{prefixexp}/" };
sub unrecorded_xs_modules {
    @_ and _no_arguments('unrecorded_xs_modules', scalar @_);
    my @found;
    my @files   = @DynaLoader::dl_shared_objects;
    my @modules = @DynaLoader::dl_modules;
    for my $i (0 .. $#files) {
        my ($file, $module) = ($files[$i], $modules[$i]);
        next if !defined $file || !defined $module || $module eq __PACKAGE__;
        # Built by this perl, with its PERL_MEM_LOG (those that never call
        # Newx reference no hook, and hide nothing).
        next if index($file, $Own_prefix) == 0;
        $Mem_log_reference{$file} //= _references_mem_log($file);
        next if $Mem_log_reference{$file};
        push @found, { module => $module, file => $file };
    }
    my %seen;
    @found = sort { $a->{module} cmp $b->{module} } grep { !$seen{ $_->{module} }++ } @found;
    return wantarray ? @found : \@found;
}

# Whether the shared object names Perl_mem_log_alloc (an undefined dynamic
# symbol of a module built with PERL_MEM_LOG). Unreadable: assume it does,
# so that nothing is named on a guess.
sub _references_mem_log {
    my ($file) = @_;
    open my $fh, '<:raw', $file or return 1;
    local $/ = \(1 << 20);
    my $tail = '';
    while (defined(my $chunk = <$fh>)) {
        my $text = $tail . $chunk;
        return 1 if index($text, "Perl_mem_log_alloc\0") >= 0;
        $tail = substr($text, -32);
    }
    return 0;
}

=head2 identify

    my @answers = Devel::MemTrace::identify(0x55efee189120, '0x55efee1891c8');
    print "$_->{text}\n" for @answers;

What the recorder knows of each address (an integer, or a hex string as
L<Devel::MAT>'s C<pmat> prints it): for a live record of any age, even one
made in iteration 0 or in the iteration still open, its kind, type, size,
the iteration it was made in, its age (later checkpoints it has stayed live
through), whether it counts as a leak now and why, and its Perl and C
sites; for a C buffer also the live SV whose value it holds. For an address
with no live record, why not: an empty SV slot (freed), a live SV that was
never recorded (made before recording started, or while paused), or no
allocation at all. One hashref per address, in order (in scalar context,
the first):

    address   the address, in hex
    found     'live' or 'not live'
    record    undef, or { address kind type size iteration age leak why
                          file line sub c_file c_line c_func
                          stack c_frames }
              (stack and c_frames as in leaks(): the Perl call stack and,
              with -c_frames, the native frames it was made in)
    owner     for a buffer: the SV that owns it, as record
    held_by   for a live record: what keeps it alive, as leak_sites'
              held_by entries
    text      one line for a person: "0x55efee189120: UNDEF SV of 24
              bytes made at poller.pl line 133, in main::poll (C site
              sv.c:5594 Perl_newSV) in iteration 5, called from
              poller.pl line 148, in main::main; a leak: ..." (with
              -c_frames the C site is the culprit, as in report())

Leaks are judged with the module-wide C<skip> and C<min_age>.
C<memtrace identify ADDR... FILE> answers the same from a capture.

=cut

sub identify {
    # The addresses are looked up before this sub allocates anything: an SV
    # freed just before the call leaves its slot first in perl's free list,
    # and a new SV here would take it.
    my $answers = _identify($Setting{skip}, $Setting{min_age}, @_);
    _own_allocations(my $own);    # what the tool allocates is not the program's
    @_ or _croak('Devel::MemTrace::identify: give it one or more addresses'
        . ' (integers, or hex as pmat prints them: 0x55efee189120)');
    unless (ref $answers) {
        my $bad = $_[$answers];
        my $text = defined $bad ? "$bad" : 'undef';
        $text =~ s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ge;
        _croak("Devel::MemTrace::identify: '$text' is not an address: give an"
            . ' integer, or hex as pmat prints it (0x55efee189120)');
    }
    return wantarray ? @$answers : $answers->[0];
}

=head2 dump

    Devel::MemTrace::dump('poller.%p.mtc');
    my $written = Devel::MemTrace::dump();    # memtrace.PID.mtc

Writes a capture: everything the recorder knows now (every live record
with its sites, SV type and size, the per-iteration history, the program
and perl that made it) to a file that the C<memtrace> command reads later,
elsewhere (C<memtrace report FILE>, C<leaks>, C<sites>, C<diff>,
C<identify>, C<flamegraph>, C<plot>). In the file name, C<%p> is the
process id, C<%n> the iteration now open (the checkpoints so far) and
C<%%> a C<%>. The file is written to a temporary name beside it and
renamed, so a reader never sees half a capture. Returns a hashref: C<file>,
C<records>, C<iterations>, C<bytes> and C<seconds> (C<copy_seconds> of them
with the recorder held). Croaks with one line if the file cannot be
written. The format is described in F<doc/format.md>.

Always call it by its full name: C<dump> alone is perl's own C<CORE::dump>.
See also the import options C<-dump_at_END>, C<-dump_on> and
C<-dump_every>.

=cut

sub dump {    ## no critic (ProhibitBuiltinHomonyms): named by the issue's interface
    _own_allocations(my $own);    # what the tool allocates is not the program's
    my @args = @_;
    @args <= 1
      or _croak('Devel::MemTrace::dump: takes one file name (or none, for'
        . " $DEFAULT_DUMP_FILE), not " . @args . ' arguments');
    my $template = @args ? $args[0] : $DEFAULT_DUMP_FILE;
    defined $template && !ref $template && length $template && $template !~ /\0/
      or _croak('Devel::MemTrace::dump: the file name must be a non-empty string,'
        . " such as $DEFAULT_DUMP_FILE");
    my $file = _capture_file_name($template);
    my $options = defined &Internals::V ? (Internals::V())[1] : '';
    $options =~ s/\s+/ /g;
    $options =~ s/\A //;
    $options =~ s/ \z//;
    my $about = {
        # From $], not $^V: stringifying $^V calls an overloaded method,
        # which the debugger would see.
        perl_version => sprintf('%d.%d.%d', $] =~ /\A(\d+)\.(\d{3})(\d{3})/),
        perl_config  => $options,
        program      => $Program,
        skip         => $Setting{skip},
        min_age      => $Setting{min_age},
        tool_version => $VERSION,
    };
    my $written = eval { _dump($file, $about) };
    unless ($written) {
        (my $why = $@) =~ s/\n\z//;
        _croak($why);    # at the caller's line
    }
    return $written;
}

=head2 pause, resume, is_recording

    Devel::MemTrace::pause();
    build_the_big_lookup_table();    # not recorded
    Devel::MemTrace::resume();

C<pause> stops recording new allocations (frees of the recorded ones still
count), C<resume> starts it again (they do not nest: one C<resume> undoes
any number of C<pause>s), C<is_recording> says whether it is on.
Allocations made while paused are never reported. Loading the module
starts recording; it stops at C<END>.

=cut

sub pause        { @_ and _no_arguments('pause', scalar @_);        _pause();  return }
sub resume       { @_ and _no_arguments('resume', scalar @_);       _enable(); return }
sub is_recording { @_ and _no_arguments('is_recording', scalar @_); return _is_recording() ? 1 : 0 }

=head2 history

    for my $cp (@{ Devel::MemTrace::history() }) { ... }

The hashrefs every checkpoint so far returned, in order, without
C<by_type>.

=head2 current_iteration

The number of the iteration now running (the number of checkpoints so far).

=head2 stats

The recorder's own counters:

    events             events that reached the live table
    allocs reallocs frees new_svs del_svs   ... of each kind
    nursery_cancelled  allocations freed while still in the nursery, so
                       never published (most of perl's transient SVs)
    unknown_frees      frees of addresses never seen allocated: normal, perl
                       frees PV buffers whose allocation is not logged
    overwritten        records replaced by a new allocation of their address
                       with no logged free in between
    live_records mem_live mem_bytes sv_live   what is live now
    sites perl_sites   interned allocation sites and Perl sites
    stacks c_frame_lists  interned Perl call stacks and native frame lists
    table_bytes        the live table's memory; bytes_per_record per record
    site_table_bytes   the site table's memory
    iteration          the open iteration

=cut

sub history {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    @_ and _no_arguments('history', scalar @_);
    return _history();
}

sub current_iteration {
    @_ and _no_arguments('current_iteration', scalar @_);
    return _current_iteration();
}

sub stats {
    _own_allocations(my $own);    # what the tool allocates is not the program's
    @_ and _no_arguments('stats', scalar @_);
    return _stats();
}

1;

BEGIN { ($^P, $DB::single, $DB::trace) = @$Devel::MemTrace::_Debugger_was }

__END__

=head1 IMPORT OPTIONS

Given to C<use Devel::MemTrace> or, more usually, on the command line as
C<perl -MDevel::MemTrace=OPTION,OPTION prog.pl>:

=over 4

=item -iteration=Pkg::sub

Each return from this sub ends an iteration (calls L</checkpoint>), also
when it returns by C<die> or leaves by C<exit>. The sub is watched from the
C<INIT> phase, after the program has been compiled (or at once if it
already exists). It is not replaced by a wrapper: it stays the same sub
(C<\&Pkg::sub> is unchanged, and so are its name, its prototype and its
attributes such as C<:lvalue>), and it runs in its caller's context with no
frame in between, so C<wantarray>, C<caller>, L<Carp>'s messages, C<@_>
aliasing, C<local> and C<goto &sub> behave exactly as without
Devel::MemTrace. The iteration ends as the sub's frame is left, once its
lexicals are gone and its return values are on the stack (temporaries of
its last statement are freed by perl, as always, at the caller's next
statement). A C<goto &other> out of the sub hands the call over to
C<other>: the iteration ends when C<other> returns. A recursive sub ends one
iteration, when its outermost call returns. Calls that perl makes through
its MULTICALL interface, which reuses one frame for many calls (the sub as
C<sort>'s comparator, or as the block of List::Util's C<first> and
friends), end no iteration. An XSUB may be given too: each call of it ends
one. A name without C<::> is taken to be in C<main>. If the sub does not
exist when the program starts, one warning says so. May be given more than
once.

=item -report_at_END

Prints L</report> to STDERR at exit (in the process that loaded the
module, not in forked children). END blocks run last-defined first, so this
comes after the program's own C<END> blocks when the module was loaded
before the program was compiled, as with C<-M>.
Recording pauses first, so the report does not report itself.

=item -dump_at_END[=FILE]

Writes a capture (see L</dump>) at exit, after the program's own C<END>
blocks, in every process: default file C<memtrace.%p.mtc>. A forked child
whose file name has no C<%p> writes its own file all the same, with its pid
added before C<.mtc> (C<fixed.mtc> becomes C<fixed.PID.mtc>).

=item -dump_every=N[:FILE]

Writes a capture after every Nth checkpoint (1 or more): default file
C<memtrace.%p.%n.mtc>, C<%n> the iteration then open.

=item -dump_on=SIGNAL[:FILE]

Writes a capture whenever the process receives SIGNAL (C<USR1>, C<USR2>,
...; C<SIGUSR2> works too), so a running daemon can be asked for one
without a restart: default file C<memtrace.%p.%n.mtc>. It is a C<%SIG>
handler, so perl runs it at its next safe point. A handler the program had
set before the module was loaded still runs after it; one the program sets
later replaces it. The signals programs use themselves (C<INT TERM HUP QUIT
ALRM CHLD PIPE>, and C<KILL STOP>) are refused.

=item -iteration_every=SECONDS

Ends an iteration every SECONDS (0.001 to 86400; fractions allowed), for
event-loop daemons that have no sub to wrap. No signal is sent, so nothing
the program waits in (C<sleep>, C<select>, a socket read) is cut short: a
thread raises perl's "signal pending" flag, and the iteration ends at
perl's next safe point (between two ops). An idle process, blocked in a
system call, ends no iteration until it wakes. After C<fork> the child has
its own timer.

=item -skip=N, -min_age=N

The module-wide defaults of the options C<skip> and C<min_age>.

=item -all

L</report> lists the stopped sites too.

=item -malloc

Records the C library's C<malloc> family too (C<malloc>, C<calloc>,
C<realloc>, C<free>, C<posix_memalign>, C<aligned_alloc>, C<memalign>,
C<valloc>, C<pvalloc>, C<reallocarray>): the memory perl never logs. That is
the string buffers C<sv_grow> makes, every C<Newx> of an XS module compiled
without C<-DPERL_MEM_LOG> (every module a distribution ships), and what C
libraries allocate themselves (libyaml, OpenSSL, libxml2). Such a block is a
leak like any other, of kind C<malloc> (in L</leaks>, L</leak_sites> and
captures): its site is the Perl line that was running and, as its C site,
the function called (C<C site: malloc>); the report calls it a C<malloc
buffer>. A block perl logs itself (C<Newx> calls C<malloc>) is one record,
perl's, with perl's C site. The recorder defines these functions in every
MemTrace perl; without C<-malloc> they pass each call on after reading one
flag. It is an option, not the default, because of its cost: measured with
C<make bench>, a workload takes 1.25 to 1.59 times as long as with recording
off (the default mode: 1.16 to 1.36), see "What it costs" in the README.
Only threads that perl runs in are recorded.

=item -stack=N

Each record keeps N frames of the Perl call stack (1 to 64), innermost
first: the running statement, the line that called its sub, and so on.
The default, 8, reaches the program's own line from inside a module or a
framework a few calls deep at a cost the benchmarks measure (see the
README). C<-stack=1> keeps the running statement only, the cheapest.
Stacks are interned: a record holds one number whatever the depth.

=item -c_frames[=N]

Each record also keeps N native return addresses (0 to 32; 6 without a
value; 0, the default, takes none), walked through the frame pointers of
the MemTrace perl. They are named (function, file, line, inlined functions
included) from perl's debug information only when a report, L</leaks>,
L</leak_sites> or a capture asks. The report's C site is then the first
frame outside perl's allocation functions (C<Perl_newSV_type>,
C<Perl_newSV>, C<Perl_safesys*>, ...): the C function that made the leak,
such as C<pp_ctl.c:4203 S_do_smartmatch>, where perl only says
C<sv_inline.h:369 Perl_newSV_type>. Set both options when the module is
loaded: threads started before keep the earlier depths.

=back

Any other option, or one of these malformed (C<-iteration> without a sub
name, C<-skip=x>), dies with one line naming it and listing these.

=head1 REPORT FORMAT

See L</report>. The leak records and sites themselves are plain hashrefs
(L</leaks>, L</leak_sites>), for tests and tools.

=head1 LIMITS

=over 4

=item *

It needs the MemTrace perl: a perl built with C<-DPERL_MEM_LOG> and a
shared libperl, with the recorder loaded ahead of libperl. With any other
perl C<use Devel::MemTrace> dies.

=item *

Only what perl logs is seen: SV heads, and C<Newx>/C<Renew>/C<Safefree>.
String buffers grown by C<sv_grow>, and memory an XS module or C library
gets from C<malloc> directly, are not seen (their frees may be: the
recorder counts these as C<unknown_frees>).

=item *

An SV made inside an XSUB has perl's C site (e.g. C<sv.c Perl_newSV>), not
the XSUB's: the Perl line that called the XSUB is what names it.

=item *

Something allocated in one iteration and kept on purpose (a cache, a
connection pool, a lexical's buffer reused by the next call) counts as a
leak until its site stops: it then shows as C<stopped>. A warm-up
(iteration 0, or more with C<skip>) that fills such things avoids them.

=item *

From perl 5.41.1 on, perl logs new SVs only when built with
C<-DDEBUG_LEAKING_SCALARS> too.

=item *

Recording is global to the process: C<pause> affects every thread.

=item *

Under the debugger (C<perl -d>) the module is invisible: no stop, trace
line or C<DB::sub> call comes from it or from the modules it loads. A
C<-M> line still shows its own C<use> and C<import> calls, as any module's.

=back

=head1 SEE ALSO

L<Devel::Gladiator>, L<Test::LeakTrace>, L<Devel::MAT>, perl's
F<perlhacktips> on C<PERL_MEM_LOG>.

=cut
