package Devel::MAT::Tool::MemTrace;

use strict;
use warnings;

our $VERSION = '0.01';

use base qw( Devel::MAT::Tool );

use File::Spec ();
use File::Temp ();
use JSON::PP   ();
use POSIX      ();
use Scalar::Util ();

use constant CMD      => 'memtrace';
use constant CMD_DESC => 'Where Devel::MemTrace saw SVs made, and whether they leak';
use constant CMD_ARGS => (
    { name => 'sv', help => 'SV addresses (0x55efee189120), symbols ($main::x) or root names',
      slurpy => 1 },
);

# SVs of the dump asked about when a capture is loaded, to see that it is a
# capture of the same process.
use constant SAMPLE => 64;

=encoding UTF-8

=head1 NAME

Devel::MAT::Tool::MemTrace - ask a Devel::MemTrace capture about the SVs in a pmat heap dump

=head1 SYNOPSIS

    $ pmat -I /path/to/Devel-MemTrace/perl/lib leaky.pmat   # or PERL5LIB=...
    pmat> memtrace-load leaky.mtc
    memtrace: capture leaky.mtc (given to memtrace-load), of process 4242 (leaky.pl), as is the dump; 61 of 64 SVs sampled from the dump are live in it
    pmat> identify 0x55efee189120
    UNDEF() at 0x55efee189120 is:
    └─not found
      memtrace: UNDEF SV of 24 bytes made at poller.pl line 88, in main::poll (C site sv.c:5594 Perl_newSV) in iteration 5; a leak: ...
    pmat> memtrace 0x55efee189120 $main::cache
    pmat> memtrace-leaks --unreferenced

=head1 DESCRIPTION

A heap dump (L<Devel::MAT::Dumper>) shows which SVs exist and who refers to
them. It cannot say which line made an SV, so for a leaked SV that nothing
references, pmat's C<identify> ends in "not found". A capture that
L<Devel::MemTrace> wrote in the same run (C<Devel::MemTrace::dump($file)>)
knows, for every SV and C allocation live when it was written, the Perl line
and sub that made it, the C site, the iteration, and whether it counts as a
leak. This tool, loaded into C<pmat>, asks the capture about the dump's SVs.

The capture is read by the C<memtrace> program; see L</What memtrace is
asked>. The tool runs it once per command for all the addresses the command
needs (never once per SV) and keeps the answers, so asking about the same SV
again costs nothing.

pmat finds the tool by its name: put the directory holding
F<Devel/MAT/Tool/MemTrace.pm> into the system perl's C<@INC>, for example
C<< PERL5LIB=/path/to/Devel-MemTrace/perl/lib pmat FILE.pmat >> or
C<< /usr/bin/perl -I/path/to/Devel-MemTrace/perl/lib /usr/bin/pmat FILE.pmat >>.

=head2 Getting a dump and a capture of the same run

Both must come from one process, at about the same moment, so that they
describe the same SVs at the same addresses. For example, at the end of the
program's main loop:

    Devel::MAT::Dumper::dump("$name.pmat");
    Devel::MemTrace::dump("$name.mtc");

The program runs under the MemTrace perl, which needs a
L<Devel::MAT::Dumper> built for it: F<perl/build/devel-mat.sh PERL> builds
one (its last line of output is the blib directory to load it from, as in
C<< -Mblib=DIR >>).

=head2 Which capture

The first of these that exists is used:

=over 4

=item 1. the file given to C<memtrace-load FILE>;

=item 2. the file named by the environment variable C<MEMTRACE_CAPTURE>;

=item 3. the file next to the dump named like it, with F<.mtc> for F<.pmat>:
F<leaky.pmat> goes with F<leaky.mtc> (a dump not named F<*.pmat> goes with
F<DUMP.mtc>).

=back

When 2 or 3 exists as pmat starts, the tool loads itself (pmat's
C<AUTOLOAD_TOOL>) and says so in one line; C<show> and C<identify> then carry
the capture's answers from the first command on.

=head2 Which memtrace

The environment variable C<MEMTRACE_BIN>, if set; else F<target/release/memtrace>
of the Devel::MemTrace source tree this module lives in (F<perl/lib/>'s
grandparent), if built; else C<memtrace> on C<PATH>.

=head2 Is it the same process?

A capture records the process id, the program (C<$0> and its arguments) and
the perl version. A pmat dump records its perl version, and it holds the
process id only as the value of C<$$>, which perl fills in when the program
first reads it (Devel::MemTrace reads it as it loads, so a dump of a traced
program has it). So, as a capture is loaded:

=over 4

=item * when the dump has C<$$> and it differs from the capture's process
id, the capture is refused (one C<memtrace:> line naming both processes);

=item * when the perl versions differ, the capture is refused;

=item * then up to 64 SV addresses spread over the dump are asked about. A
capture and a dump of one process share SV addresses; another process (with
address-space randomisation, even another run of the same program) does
not. If none is live in the capture, the load line ends in a warning that
the capture looks like another process's. (A capture written long after
the dump, or by a recorder started late, also has fewer of the dump's SVs
live.)

=back

=head2 Errors

Every error is one line starting C<memtrace:>, saying what is wrong and what
to do: no capture loaded, the capture missing or not a capture, C<memtrace>
not found or failing, an argument that is not an address. In pmat's shell
the line is printed and the shell goes on, as for pmat's own errors. The
C<show> and C<identify> annotations never stop those commands: a problem
becomes their C<memtrace:> line.

=cut

my $Json = JSON::PP->new->utf8;

# The tool object of the pmat session, for the show/identify hooks (one pmat
# per process; the last one made wins).
my $Active;
my $Hooks_installed;

=head1 COMMANDS

=head2 memtrace

    pmat> memtrace 0x55efee189120 0x55efee1891a0 $main::cache
    UNDEF() at 0x55efee189120: UNDEF SV of 24 bytes made at poller.pl line 88, in main::poll (C site sv.c:5594 Perl_newSV) in iteration 5; a leak: made in iteration 5 and live through 7 later checkpoints

One line per argument: the SV as pmat prints it, then what the capture says
of its address. An argument is an address in hex (as pmat prints it) or
decimal, a symbol (C<$main::x>, C<@Foo::list>, C<%main::h>, C<&main::f>), or a
root name (C<main_cv>, C<defstash>, ...). An address that is not an SV of the
dump is still asked about (it may be a C buffer the capture knows). All the
arguments go to C<memtrace> in one run.

Without arguments it uses the UI's current SV where there is one (pmat's
shell has none, and says so).

=cut

sub run_cmd {
    my ($self, $inv) = @_;
    my @targets;
    while (defined(my $token = $inv->pull_token)) {
        push @targets, $self->_target($token);
    }
    if (!@targets) {
        my $sv = Devel::MAT::UI->can('current_sv') && Devel::MAT::UI->current_sv;
        $sv or die "memtrace: give SV addresses (0x55efee189120), symbols (\$main::x) or root names;"
            . " pmat's shell has no current SV\n";
        push @targets, { addr => $sv->addr, sv => $sv };
    }
    $self->require_capture;
    my %answer = $self->answers(map { $_->{addr} } @targets);
    for my $target (@targets) {
        my $answer = $answer{ $target->{addr} };
        Devel::MAT::Cmd->printf("%s: %s\n", _target_text($target), answer_text($answer));
    }
    return;
}

# _target($token): { addr => INT, sv => SV or undef } for an argument.
sub _target {
    my ($self, $token) = @_;
    my $df = $self->df;
    if ($token =~ /^0x[0-9a-f]+$/i || $token =~ /^[0-9]+$/) {
        my $addr = _parse_address($token);
        return { addr => $addr, sv => $df->sv_at($addr) };
    }
    if ($token =~ /^[\$\@%&]/) {
        my $sv = eval { $self->pmat->find_symbol($token) };
        if (!$sv) {
            my $why = _first_line($@) || 'not in the dump';
            die "memtrace: no symbol $token in this dump ($why)\n";
        }
        return { addr => $sv->addr, sv => $sv };
    }
    if (grep { $_ eq $token } Devel::MAT::Dumpfile->ROOTS) {
        my $sv = $df->$token or die "memtrace: the root $token is empty in this dump\n";
        return { addr => $sv->addr, sv => $sv };
    }
    die "memtrace: '$token' is not an SV address (0x55efee189120 or decimal),"
        . " a symbol (\$main::x) or a root name\n";
}

sub _target_text {
    my ($target) = @_;
    return Devel::MAT::Cmd->format_sv($target->{sv}) if $target->{sv};
    return sprintf '%#x (no SV at this address in the dump)', $target->{addr};
}

=head2 memtrace-load

    pmat> memtrace-load leaky.mtc
    pmat> memtrace-load

Loads the capture FILE (replacing any loaded one and its cached answers),
checks that C<memtrace> reads it and that it looks like a capture of the
dump's process (see L</Is it the same process?>), and prints one line saying
so. Without FILE it prints which capture is in use, how it was found, and
which C<memtrace> reads it, finding one as in L</Which capture> if none is
loaded yet.

=head2 memtrace-leaks

    pmat> memtrace-leaks
    pmat> memtrace-leaks --unreferenced --limit 0

Lists the SVs of the dump that the capture calls leaks (every leak the
capture has, C<memtrace leaks --json>, whose address is an SV of the dump),
grouped by the Perl line and C site that made them, the biggest group
first, with up to C<--limit> SVs each (default 5; 0 lists all). With
C<--unreferenced>, only leaked SVs that no other SV refers to (those
C<identify> says "not found" for) are listed. Ends with one line of totals,
including the capture's leaks that are not SVs of the dump (C allocations,
and SVs freed between the two files).

pmat's C<show> of an C<UNDEF> SV, the type of the SV an XS C<newSV(0)>
leaks, prints its first lines (with the C<memtrace:> line) and then fails
with pmat 0.51's own error C<Can't locate object method "show_UNDEF">; use
C<memtrace ADDR> for those.

=cut

# ---------------------------------------------------------------------------
# The tool object: one capture, one memtrace, the cached answers.

=head1 METHODS

For other tools and tests; pmat users need only the commands.

=head2 AUTOLOAD_TOOL

    $load = Devel::MAT::Tool::MemTrace->AUTOLOAD_TOOL($pmat)

pmat asks each tool this as it starts. True when a capture is found without
being named (C<MEMTRACE_CAPTURE>, or a F<.mtc> next to the dump), so that
C<show> and C<identify> carry its answers at once.

=cut

sub AUTOLOAD_TOOL {
    my ($class, $pmat) = @_;
    my ($path) = eval { _find_capture($pmat) };
    return defined $path ? 1 : 0;
}

=head2 init_tool

Called by pmat when it makes the tool: installs the C<show> and C<identify>
annotations (once per process), and loads a capture found as in
L</Which capture>, printing one line about it. It never dies (pmat calls it
while starting up): a problem is printed as one C<memtrace:> line, and the
commands try again when they need the capture.

=cut

sub init_tool {
    my ($self) = @_;
    $self->{answers} = {};
    $Active = $self;
    _install_hooks();
    my ($path, $how) = eval { _find_capture($self->pmat) };
    if (defined $path) {
        if (eval { $self->load_capture($path, $how); 1 }) {
            Devel::MAT::Cmd->printf("%s\n", $self->{load_line});
        }
        else {
            Devel::MAT::Cmd->printf("%s\n", _first_line($@));
        }
    }
    return;
}

=head2 capture

    $path = $tool->capture

The path of the loaded capture, or undef.

=cut

sub capture { return $_[0]{capture} }

=head2 load_capture

    $tool->load_capture($path, $how)

Makes C<$path> the capture, forgetting earlier answers; C<$how> says how it
was found (for messages). Checks the file, finds C<memtrace>, reads the
capture's process and perl from it, refuses it when the dump is of another
process or perl, and asks about a sample of the dump's SVs (see L</Is it the
same process?>). Dies with one C<memtrace:> line when any of that fails; a
sample with no live SV is a warning in the line it keeps (C<memtrace-load>
prints it).

=cut

sub load_capture {
    my ($self, $path, $how) = @_;
    $how //= 'given to memtrace-load';
    -e $path or die "memtrace: no capture file $path ($how); write one with Devel::MemTrace::dump(\$file)\n";
    -f _ && -r _ or die "memtrace: cannot read the capture $path ($how): not a readable file\n";
    my $abs = File::Spec->rel2abs($path);
    $self->memtrace_bin;    # dies when there is none

    my $header = $self->capture_header($abs);    # dies when it is no capture
    my $process = _process_text($header);
    my $dump = _dump_process($self->pmat);
    if (defined $dump->{pid} && $header->{pid} && $dump->{pid} != $header->{pid}) {
        die "memtrace: $path is a capture of $process, the dump is of process $dump->{pid}"
            . " (\$\$ in the dump): load the capture the dumped process wrote\n";
    }
    if (defined $dump->{perl_version} && length($header->{perl_version} // '')
        && $dump->{perl_version} ne $header->{perl_version}) {
        die "memtrace: $path is a capture of $process under perl $header->{perl_version},"
            . " the dump is of perl $dump->{perl_version}: load the capture the dumped process wrote\n";
    }

    my $old = [ @{$self}{qw(capture capture_how answers leaks load_line)} ];
    @{$self}{qw(capture capture_how answers leaks load_line)} = ($abs, $how, {}, undef, undef);
    my ($live, $asked) = eval { $self->_sample_check };
    if (!defined $live) {
        my $error = $@;
        @{$self}{qw(capture capture_how answers leaks load_line)} = @$old;
        die $error;
    }
    my $line = "memtrace: capture $path ($how), of $process";
    $line .= ', as is the dump' if defined $dump->{pid} && $header->{pid};
    if (!$asked) {
        $line .= '; the dump has no SVs to compare with it';
    }
    elsif ($live) {
        $line .= "; $live of $asked SVs sampled from the dump are live in it";
    }
    else {
        $line .= "; warning: none of $asked SVs sampled from the dump is live in it:"
            . " is it a capture of another process or run? (answers may be about other data)";
    }
    $self->{load_line} = $line;
    return 1;
}

# "process 1234 (poller.pl --once)" from a capture header.
sub _process_text {
    my ($header) = @_;
    my $text = $header->{pid} ? "process $header->{pid}" : 'a process';
    my $program = $header->{program} // '';
    $program = substr($program, 0, 57) . '...' if length $program > 60;
    $text .= " ($program)" if length $program;
    return $text;
}

# What the dump says of its process: pid ($$, when the program read it) and
# perl_version.
sub _dump_process {
    my ($pmat) = @_;
    my %info;
    my $df = eval { $pmat->dumpfile } or return \%info;
    $info{perl_version} = eval { $df->perlversion };
    my $sv = eval { $pmat->find_symbol('$main::$') };
    if ($sv && $sv->type eq 'SCALAR') {
        my $pid = eval { $sv->uv };
        $info{pid} = $pid if defined $pid && $pid =~ /^[1-9][0-9]*$/;
    }
    return \%info;
}

=head2 require_capture

    $path = $tool->require_capture

The loaded capture; if none is loaded, one found as in L</Which capture>.
Dies with one C<memtrace:> line saying how to load one when there is none.

=cut

sub require_capture {
    my ($self) = @_;
    return $self->{capture} if defined $self->{capture};
    my ($path, $how) = _find_capture($self->pmat);
    if (!defined $path) {
        die "memtrace: no capture loaded; load one with 'memtrace-load FILE.mtc',"
            . " or set MEMTRACE_CAPTURE, or put it next to the dump as "
            . (_sibling_capture($self->pmat) // 'DUMP.mtc') . "\n";
    }
    $self->load_capture($path, $how);
    Devel::MAT::Cmd->printf("%s\n", $self->{load_line});
    return $self->{capture};
}

=head2 memtrace_bin

    $path = $tool->memtrace_bin

The C<memtrace> program to run, found as in L</Which memtrace>. Dies with
one C<memtrace:> line when there is none.

=cut

sub memtrace_bin {
    my ($self) = @_;
    return $self->{bin} if defined $self->{bin};
    if (defined $ENV{MEMTRACE_BIN} && length $ENV{MEMTRACE_BIN}) {
        my $bin = $ENV{MEMTRACE_BIN};
        -f $bin && -x _ or die "memtrace: MEMTRACE_BIN is $bin, which is not an executable file\n";
        return $self->{bin} = $bin;
    }
    my $tree = _source_tree_bin();
    return $self->{bin} = $tree if defined $tree && -f $tree && -x _;
    for my $dir (File::Spec->path) {
        my $bin = File::Spec->catfile($dir, 'memtrace');
        return $self->{bin} = $bin if -f $bin && -x _;
    }
    die "memtrace: the memtrace program was not found (not in MEMTRACE_BIN, "
        . (defined $tree ? "$tree, " : '')
        . "or on PATH); build it with 'cargo build --release' in the Devel::MemTrace tree or set MEMTRACE_BIN\n";
}

# target/release/memtrace of the source tree this file is in
# (ROOT/perl/lib/Devel/MAT/Tool/MemTrace.pm), or undef.
sub _source_tree_bin {
    my $file = $INC{'Devel/MAT/Tool/MemTrace.pm'} or return undef;
    my ($volume, $dir) = File::Spec->splitpath(File::Spec->rel2abs($file));
    my @dirs = File::Spec->splitdir($dir);
    pop @dirs while @dirs && $dirs[-1] eq '';
    return undef unless @dirs >= 5 && join('/', @dirs[-5 .. -1]) eq 'perl/lib/Devel/MAT/Tool';
    splice @dirs, -5;
    return File::Spec->catpath($volume, File::Spec->catdir(@dirs),
        File::Spec->catfile('target', 'release', 'memtrace'));
}

=head2 answers

    %answer = $tool->answers(@addresses)

What the capture says of each address (integers): a hash from address to
the object C<memtrace identify --json> prints for it (C<found>, C<record>,
C<owner>, C<text>; see L</What memtrace is asked>). Addresses not asked
before go to one C<memtrace> run, on its standard input; answers are kept.
Dies with one C<memtrace:> line when no capture is loaded or C<memtrace>
fails.

=cut

sub answers {
    my ($self, @addrs) = @_;
    my $capture = $self->require_capture;
    my $answers = $self->{answers};
    my %seen;
    my @ask = grep { !$answers->{$_} && !$seen{$_}++ } @addrs;
    if (@ask) {
        $self->report_progress(sprintf 'memtrace: asking about %d addresses', scalar @ask) if @ask > 1000;
        # Exit 1: none of them is live; the answers say why.
        my $out = $self->_run_memtrace({ stdin => join('', map { sprintf "0x%x\n", $_ } @ask), ok => [0, 1] },
            'identify', '--json', '-', $capture);
        my $list = $self->_json_of('identify --json', $out);
        ref $list eq 'ARRAY'
            or die "memtrace: '" . $self->memtrace_bin . " identify --json' printed no JSON array\n";
        for my $answer (@$list) {
            ref $answer eq 'HASH' && defined $answer->{address} or next;
            my $addr = eval { _parse_address($answer->{address}) };
            $answers->{$addr} = $answer if defined $addr;
        }
        for my $addr (@ask) {
            $answers->{$addr}
                or die sprintf "memtrace: '%s identify' gave no answer for 0x%x\n", $self->memtrace_bin, $addr;
        }
        $self->report_progress() if @ask > 1000;
    }
    return map { $_ => $answers->{$_} } @addrs;
}

=head2 leaks

    $list = $tool->leaks

Every leak in the capture, as C<memtrace leaks --json CAPTURE> lists them
(an arrayref of hashrefs with C<address> in hex, C<kind>, C<type>, C<size>,
C<iteration>, C<file>, C<line>, C<sub>, C<c_file>, C<c_line>, C<c_func>),
asked once and kept.

=cut

sub leaks {
    my ($self) = @_;
    my $capture = $self->require_capture;
    return $self->{leaks} //= do {
        my $list = $self->_json_of('leaks --json', $self->_run_memtrace({}, 'leaks', '--json', $capture));
        ref $list eq 'ARRAY' or die "memtrace: '" . $self->memtrace_bin . " leaks --json' printed no JSON array\n";
        $list;
    };
}

=head2 capture_header

    $header = $tool->capture_header($path)

What the capture says of the process that wrote it: a hashref with C<pid>,
C<program> (C<$0> and the arguments when Devel::MemTrace was loaded) and
C<perl_version>, from C<memtrace report --json>. Dies with one
C<memtrace:> line when C<memtrace> cannot read the file.

=cut

sub capture_header {
    my ($self, $path) = @_;
    my $report = $self->_json_of('report --json',
        $self->_run_memtrace({}, 'report', '--json', '--top', '1', $path));
    my $capture = ref $report eq 'HASH' && ref $report->{captures} eq 'ARRAY' ? $report->{captures}[0] : undef;
    return ref $capture eq 'HASH' ? $capture : {};
}

=head2 answer_text

    $text = Devel::MAT::Tool::MemTrace::answer_text($answer)

The answer's one-line text without the address it starts with:
C<UNDEF SV of 24 bytes made at poller.pl line 88, in main::poll (C site
sv.c:5594 Perl_newSV) in iteration 5; a leak: ...>.

=cut

sub answer_text {
    my ($answer) = @_;
    my $text = $answer->{text} // '';
    $text =~ s/^0x[0-9a-f]+:\s*//i;
    return length $text ? $text : ($answer->{found} // 'no answer');
}

# _run_memtrace(\%how, @args): memtrace's stdout. $how{stdin}: text for its
# standard input (through a file); $how{ok}: exit codes that are answers
# (default 0). Otherwise dies with one line: memtrace's own "memtrace: ..."
# line when it gives one.
sub _run_memtrace {
    my ($self, $how, @args) = @_;
    my $bin = $self->memtrace_bin;
    my $err = File::Temp->new(TEMPLATE => 'pmat-memtrace-XXXXXX', TMPDIR => 1);
    my $in;
    if (defined $how->{stdin}) {
        $in = File::Temp->new(TEMPLATE => 'pmat-memtrace-XXXXXX', TMPDIR => 1);
        print {$in} $how->{stdin};
        close $in or die "memtrace: cannot write a temporary file for $bin: $!\n";
    }
    my $pid = open(my $out, '-|');
    defined $pid or die "memtrace: cannot start $bin: $!\n";
    if (!$pid) {
        open STDIN, '<', ($in ? $in->filename : File::Spec->devnull) or POSIX::_exit(126);
        open STDERR, '>', $err->filename or POSIX::_exit(126);
        { no warnings 'exec'; exec { $bin } $bin, @args; }
        print STDERR "memtrace: cannot run $bin: $!\n";
        POSIX::_exit(127);
    }
    binmode $out;
    my $stdout = do { local $/; <$out> } // '';
    close $out;
    my $status = $?;
    return $stdout if !($status & 127) && grep { ($status >> 8) == $_ } @{ $how->{ok} || [0] };
    my $stderr = do { local $/; open my $fh, '<', $err->filename; <$fh> } // '';
    my ($line) = grep { /\S/ } split /\n/, $stderr;
    $line //= '';
    die "$line\n" if $line =~ /^memtrace: /;
    my $what = $status & 127 ? 'was killed by signal ' . ($status & 127) : 'exited ' . ($status >> 8);
    die "memtrace: '$bin $args[0]' $what" . (length $line ? ": $line" : '') . "\n";
}

# _json_of($what, $text): the decoded JSON, or one line saying whose it is not.
sub _json_of {
    my ($self, $what, $text) = @_;
    my $data = eval { $Json->decode($text) };
    return $data if ref $data;
    die "memtrace: '" . $self->memtrace_bin . " $what' printed no JSON (is it a memtrace of another version?)\n";
}

# _sample_check: ($live, $asked) for up to SAMPLE SVs spread over the dump.
sub _sample_check {
    my ($self) = @_;
    my @addrs = sort { $a <=> $b } map { $_->addr } $self->df->heap;
    return (0, 0) unless @addrs;
    my $step = @addrs / SAMPLE;
    my @sample = $step <= 1 ? @addrs : map { $addrs[ int($_ * $step) ] } 0 .. SAMPLE - 1;
    my %answer = $self->answers(@sample);
    my $live = grep { ($answer{$_}{found} // '') eq 'live' } @sample;
    return ($live, scalar @sample);
}

# _find_capture($pmat): ($path, $how) of a capture found without being named.
sub _find_capture {
    my ($pmat) = @_;
    if (defined $ENV{MEMTRACE_CAPTURE} && length $ENV{MEMTRACE_CAPTURE}) {
        return ($ENV{MEMTRACE_CAPTURE}, 'from MEMTRACE_CAPTURE');
    }
    my $sibling = _sibling_capture($pmat);
    return ($sibling, 'next to the dump') if defined $sibling && -f $sibling;
    return;
}

# _sibling_capture($pmat): X.mtc for the dump X.pmat (DUMP.mtc otherwise),
# or undef when the dump's path is not known.
sub _sibling_capture {
    my ($pmat) = @_;
    my $dump = _dump_path($pmat) // return undef;
    (my $capture = $dump) =~ s/\.pmat\z//;
    return "$capture.mtc";
}

# The dump's path: pmat keeps only its open file handle, whose name Linux
# gives in /proc.
sub _dump_path {
    my ($pmat) = @_;
    my $df = eval { $pmat->dumpfile } or return undef;
    my $fh = Scalar::Util::reftype($df) eq 'HASH' ? $df->{fh} : undef;
    my $fd = $fh ? eval { fileno $fh } : undef;
    return undef unless defined $fd;
    my $path = readlink "/proc/$$/fd/$fd";
    return defined $path && $path =~ m{^/} ? $path : undef;
}

# ---------------------------------------------------------------------------
# show and identify annotations.

# Devel::MAT::Tool::Show->register_extra is Show's hook for other tools (as
# Devel::MAT::Tool::Future uses it). identify has no hook: its "not found"
# line comes from Devel::MAT::Tool::Identify::on_walk_nothing, which is
# wrapped here (the original runs first, unchanged); where a pmat has no such
# method, identify is left alone and 'memtrace ADDR' answers instead.
sub _install_hooks {
    return if $Hooks_installed++;
    if (eval { require Devel::MAT::Tool::Show; 1 } && Devel::MAT::Tool::Show->can('register_extra')) {
        Devel::MAT::Tool::Show->register_extra(sub {
            my ($sv) = @_;
            _annotate($sv->addr, '  ');
            return;
        });
    }
    if (eval { require Devel::MAT::Tool::Identify; 1 }
        and my $orig = Devel::MAT::Tool::Identify->can('on_walk_nothing')) {
        no warnings qw(redefine once);
        *Devel::MAT::Tool::Identify::on_walk_nothing = sub {
            my ($tool, $node, $indent, @rest) = @_;
            $tool->$orig($node, $indent, @rest);
            my $addr = eval { $node->addr };
            _annotate($addr, ($indent // '') . '  ') if defined $addr;
            return;
        };
    }
    return;
}

# _annotate($addr, $indent): one "memtrace: ..." line for the address, when
# a capture is in use; never dies.
sub _annotate {
    my ($addr, $indent) = @_;
    my $self = $Active or return;
    return unless defined $self->{capture} || defined((eval { _find_capture($self->pmat) })[0]);
    my $text = eval {
        my %answer = $self->answers($addr);
        answer_text($answer{$addr});
    };
    $text = _first_line($@) =~ s/^memtrace:\s*//r unless defined $text;
    Devel::MAT::Cmd->printf("%smemtrace: %s\n", $indent, $text);
    return;
}

# ---------------------------------------------------------------------------
# Helpers.

sub _parse_address {
    my ($text) = @_;
    no warnings 'portable';
    return hex $text if $text =~ /^0x[0-9a-f]+$/i;
    return 0 + $text if $text =~ /^[0-9]+$/;
    die "memtrace: '$text' is not an address\n";
}

sub _first_line {
    my ($text) = @_;
    return '' unless defined $text;
    my ($line) = grep { /\S/ } split /\n/, $text;
    $line //= '';
    $line =~ s/ at \S+ line \d+\.?$//;
    return $line;
}

# The tool for the shared state, from a command's tool object.
sub _main {
    my ($tool) = @_;
    return $tool->pmat->load_tool('MemTrace');
}

package Devel::MAT::Tool::MemTrace::load;

use strict;
use warnings;

use base qw( Devel::MAT::Tool );

use constant CMD      => 'memtrace-load';
use constant CMD_DESC => 'Load a Devel::MemTrace capture for the memtrace commands';
use constant CMD_ARGS => (
    { name => 'file', help => 'the capture file (Devel::MemTrace::dump); none: say which is in use' },
);

sub run {
    my ($self, $file) = @_;
    my $main = Devel::MAT::Tool::MemTrace::_main($self);
    if (defined $file) {
        $main->load_capture($file, 'given to memtrace-load');
        Devel::MAT::Cmd->printf("%s\n", $main->{load_line});
        return;
    }
    $main->require_capture;
    Devel::MAT::Cmd->printf("%s\n", $main->{load_line});
    Devel::MAT::Cmd->printf("memtrace: read by %s; %d answers cached\n",
        $main->memtrace_bin, scalar keys %{ $main->{answers} });
    return;
}

package Devel::MAT::Tool::MemTrace::leaks;

use strict;
use warnings;

use base qw( Devel::MAT::Tool );

use constant CMD      => 'memtrace-leaks';
use constant CMD_DESC => "List the dump's SVs that the capture calls leaks, by the line that made them";
use constant CMD_OPTS => (
    unreferenced => { help => 'only leaked SVs that nothing refers to', alias => 'u' },
    limit        => { help => 'SVs listed per site (0: all; default 5)', type => 'i', alias => 'l',
                      default => 5 },
);

sub run {
    my ($self, $opts) = @_;
    my $main  = Devel::MAT::Tool::MemTrace::_main($self);
    my $limit = $opts->{limit};
    $limit =~ /^[0-9]+$/ or die "memtrace: --limit takes a count of 0 or more, not $limit\n";
    $main->require_capture;

    my $df = $self->df;
    my $leaks = $main->leaks;
    if ($opts->{unreferenced}) {
        $self->pmat->load_tool('Inrefs', progress => $self->{progress});
    }
    my (%site, $leaked, $elsewhere, $referenced);
    for my $record (@$leaks) {
        ref $record eq 'HASH' or next;
        my $addr = eval { Devel::MAT::Tool::MemTrace::_parse_address($record->{address} // '') };
        my $sv = defined $addr && ($record->{kind} // 'sv') eq 'sv' ? $df->sv_at($addr) : undef;
        if (!$sv) {
            $elsewhere++;
            next;
        }
        if ($opts->{unreferenced}) {
            my @inrefs = $sv->inrefs;
            if (@inrefs) {
                $referenced++;
                next;
            }
        }
        $leaked++;
        my $key = join "\0", map { $record->{$_} // '' } qw(file line sub c_file c_line c_func);
        my $site = $site{$key} //= { record => $record, svs => [], types => {} };
        push @{ $site->{svs} }, [ $sv, $record ];
        $site->{types}{ $record->{type} // '?' }++;
    }
    for my $site (values %site) {
        $site->{svs} = [ sort { ($a->[1]{iteration} // 0) <=> ($b->[1]{iteration} // 0) || $a->[0]->addr <=> $b->[0]->addr }
            @{ $site->{svs} } ];
    }

    my $which = $opts->{unreferenced} ? 'leaked SVs that nothing refers to' : 'leaked SVs';
    my @sites = sort { @{ $b->{svs} } <=> @{ $a->{svs} } || _site_text($a->{record}) cmp _site_text($b->{record}) }
        values %site;
    for my $site (@sites) {
        my $n = @{ $site->{svs} };
        my @types = sort { $site->{types}{$b} <=> $site->{types}{$a} || $a cmp $b } keys %{ $site->{types} };
        my $what = @types == 1
            ? "$n $types[0] " . ($n == 1 ? 'SV' : 'SVs')
            : "$n SVs (" . join(', ', map { "$site->{types}{$_} $_" } @types) . ')';
        Devel::MAT::Cmd->printf("%s made %s\n", $what, _site_text($site->{record}));
        my @list = @{ $site->{svs} };
        my $more = 0;
        if ($limit && @list > $limit) {
            $more = @list - $limit;
            splice @list, $limit;
        }
        for my $entry (@list) {
            my ($sv, $record) = @$entry;
            Devel::MAT::Cmd->printf("    %s, made in iteration %s\n",
                Devel::MAT::Cmd->format_sv($sv), $record->{iteration} // '?');
        }
        Devel::MAT::Cmd->printf("    ... and %d more (--limit 0 lists all)\n", $more) if $more;
    }
    Devel::MAT::Cmd->printf("memtrace: %d %s in the dump, made at %d %s%s; the capture %s has %d more leaks"
        . " that are not SVs of the dump (C allocations, or SVs freed before the dump)\n",
        $leaked // 0, $which, scalar @sites, @sites == 1 ? 'site' : 'sites',
        ($referenced ? " (and $referenced leaked SVs that other SVs refer to)" : ''),
        $main->capture, $elsewhere // 0);
    return;
}

# "at FILE line N, in SUB (C site FILE:LINE FUNC)"
sub _site_text {
    my ($r) = @_;
    my $perl = length($r->{file} // '')
        ? "at $r->{file} line $r->{line}" . (length($r->{sub} // '') ? ", in $r->{sub}" : '')
        : 'at an unknown Perl line';
    my $c = length($r->{c_file} // '')
        ? " (C site $r->{c_file}:$r->{c_line}" . (length($r->{c_func} // '') ? " $r->{c_func}" : '') . ')'
        : '';
    return $perl . $c;
}

package Devel::MAT::Tool::MemTrace;

=head1 What memtrace is asked

=over 4

=item C<memtrace identify --json - CAPTURE>

with the addresses on standard input, one a line (C<0x55efee189120>), for
C<memtrace>, C<show>, C<identify> and the sample of L</Is it the same
process?>. It prints a JSON array with one object per address:

    address  "0x55efee189120"
    found    "live" or "not live"
    record   null, or { address, kind ("sv"/"mem"), type, size, iteration,
             age, leak (true/false), why, file, line, sub, c_file, c_line,
             c_func }
    owner    null, or a record of the same shape: the SV whose buffer a
             C allocation is
    text     one line for a person, starting with the address

It exits 0, or 1 when none of the addresses is live (the answers say why).

=item C<memtrace leaks --json CAPTURE>

for C<memtrace-leaks>: an array of C<{ address, kind, type, size, iteration,
file, line, sub, c_file, c_line, c_func }>.

=item C<memtrace report --json --top 1 CAPTURE>

when a capture is loaded, for C<captures[0]>'s C<pid>, C<program> and
C<perl_version>.

=back

On bad input C<memtrace> exits 2 with one C<memtrace: ...> line on stderr;
this tool passes that line on as its error.

=head1 SEE ALSO

L<Devel::MemTrace>, L<Devel::MAT>, L<Devel::MAT::Tool>,
L<Devel::MAT::UserGuide::IdentifyingAnSV>.

=cut

1;
