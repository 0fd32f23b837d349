# -iteration=Pkg::sub is invisible to the program: the sub keeps its
# identity, name, prototype and :lvalue-ness, runs in its caller's context,
# caller() and Carp see the program's lines, goto &sub works into and out
# of it, @_ still aliases, local $_ is the sub's own; and each outermost
# return (or die) ends exactly one iteration.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line run_perl write_script);

use B ();
use Carp ();
use Scalar::Util ();
use Sub::Util ();

use Devel::MemTrace ();

my $FILE = __FILE__;
our ($Context, $Lv_store, @Seen);

sub ctx {
    $Context = wantarray ? 'list' : defined wantarray ? 'scalar' : 'void';
    return wantarray ? (1, 2, 3) : 'one';
}

sub lv :lvalue { $Lv_store }

sub who {
    my @here = caller(0);
    my @up   = caller(1);
    return join '|', @here[0 .. 4], (@up ? @up[1 .. 3] : 'none');
}
sub calls_who { return who() }                                  # LINE: who in sub

# Carp reports at the first caller outside the package that croaks.
package Other {
    sub croaker   { Carp::croak('croaked') }
    sub carper    { Carp::carp('carped'); return 'carped' }
    sub confessor { Carp::confess('confessed') }
}

sub target { return (scalar(@_), "target of $_[0]", (caller(0))[2], Devel::MemTrace::current_iteration()) }
sub goes_into_target { goto &target }                          # not watched itself

sub helper { return ("helped $_[0]", (caller(0))[2], (caller(0))[3], Devel::MemTrace::current_iteration()) }
sub goes_out { $_[0] .= '!'; goto &helper }
sub goes_out_to_xsub { goto &Scalar::Util::reftype }
sub goes_to_self {
    my ($n) = @_;
    push @Seen, $n;
    return "landed at $n" if $n == 0;
    @_ = ($n - 1);
    goto &goes_to_self;
}

sub proto(\@$) { my ($array, $n) = @_; return scalar(@$array) . " and $n" }

sub alias { $_[0] .= '+'; $_[1] = 'set'; return }

sub rec { my ($n) = @_; push @Seen, Devel::MemTrace::current_iteration(); rec($n - 1) if $n > 0; return $n }

sub dies { die "died in dies\n" }
sub dies_deep { my $r = eval { dies(); 1 }; die "again: $@" }

sub nested_return {
    my ($want) = @_;
    for my $i (1 .. 5) {
        if ($i == $want) {
            {
                do { return wantarray ? ("from $i", 'list') : "from $i" };
            }
        }
    }
    return 'fell through';
}

sub local_underscore { my @got = ($_); local $_ = 'inner'; push @got, $_; s/inner/changed/; push @got, $_; return join ',', @got }

sub method_call { my ($class, $x) = @_; return "$class->method_call($x)" }

my $who_ref_before = \&who;
my @WATCHED = qw(ctx lv who target goes_out goes_out_to_xsub goes_to_self proto alias rec
  dies dies_deep nested_return local_underscore method_call);
Devel::MemTrace->import((map {"-iteration=main::$_"} @WATCHED),
    map {"-iteration=Other::$_"} qw(croaker carper confessor));

my $iteration = Devel::MemTrace::current_iteration();
# Runs the block; checks that exactly $n iterations ended in it.
sub ends {
    my ($n, $name, $code) = @_;
    my $before = Devel::MemTrace::current_iteration();
    $code->();                                                   # LINE: ends calls
    is(Devel::MemTrace::current_iteration() - $before, $n, "$name: $n iteration" . ($n == 1 ? '' : 's') . ' ended');
}

# --- identity, name, prototype ------------------------------------------
is(\&who, $who_ref_before, 'the sub is the same sub (\&who is unchanged)');
is(B::svref_2object(\&who)->GV->NAME, 'who', "B: the sub's GV is still its own");
is(Sub::Util::subname(\&who), 'main::who', "Sub::Util::subname: main::who");
is(prototype(\&proto), '\@$', 'the prototype is kept');
is(prototype(\&ctx), undef, '... and no prototype is added');
is(B::svref_2object(\&calls_who)->START->line, marked_line('who in sub'),
    "B: the sub's first op is read as a COP of its first line, as code reading CvSTART expects");
is_deeply([ sort grep { $_ eq 'lvalue' } attributes::get(\&lv) ], ['lvalue'], 'attributes: lv is still :lvalue')
    if eval { require attributes; 1 };

# --- context and wantarray -------------------------------------------------
ends(3, 'list, scalar and void context', sub {
    my @list = ctx();
    is_deeply(\@list, [ 1, 2, 3 ], 'list context reaches the sub');
    is($Context, 'list', '... wantarray is true');
    my $scalar = ctx();
    is($scalar, 'one', 'scalar context reaches the sub');
    is($Context, 'scalar', '... wantarray is false');
    ctx();
    is($Context, 'void', 'void context: wantarray is undef');
});

# --- :lvalue ------------------------------------------------------------
ends(5, ':lvalue', sub {
    lv() = 5;
    is($Lv_store, 5, 'lv() = 5 assigns through the :lvalue sub');
    (lv()) = (7, 8);
    is($Lv_store, 7, '(lv()) = (7, 8) too');
    lv()++;
    is($Lv_store, 8, 'lv()++ too');
    for (lv()) { $_ = 'aliased' }
    is($Lv_store, 'aliased', 'foreach aliases the returned lvalue');
    is(lv(), 'aliased', 'and lv() still reads');
});

# --- caller -------------------------------------------------------------
ends(1, 'caller', sub {
    my $line = __LINE__ + 1;
    my $got = who();
    is($got, "main|$FILE|$line|main::who|1|$FILE|" . marked_line('ends calls') . '|main::__ANON__',
        "caller(0) is the caller's package, file, line and the sub's own name; caller(1) the caller's caller");
});
ends(1, 'caller from a sub', sub {
    my $got = calls_who();                                       # LINE: calls_who
    is($got, "main|$FILE|" . marked_line('who in sub') . "|main::who|1|$FILE|" . marked_line('calls_who') . '|main::calls_who',
        'caller(1) inside names the calling sub and its call site');
});
ends(1, 'caller in a do block', sub {
    my @r = (1,
        do { 1; who() },                                             # LINE: who in do
        2);
    like($r[1], qr/^main\|\Q$FILE\E\|${\ marked_line('who in do')}\|main::who\|/,
        'caller(0) inside a do block of a longer statement gives the line perl gives');
});

# --- Carp ---------------------------------------------------------------
ends(1, 'croak', sub {
    my $line = __LINE__ + 1;
    my $ok = eval { Other::croaker(); 1 };
    is($@, "croaked at $FILE line $line.\n", "croak inside the sub reports the program's line");
});
ends(1, 'carp', sub {
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, @_ };
    my $line = __LINE__ + 1;
    is(Other::carper(), 'carped', 'carp: the sub returns');
    is_deeply(\@warnings, ["carped at $FILE line $line.\n"], "carp inside the sub reports the program's line");
});
ends(1, 'confess', sub {
    my $line = __LINE__ + 1;
    eval { Other::confessor() };
    my @trace = split /\n/, $@;
    like($trace[1], qr/^\tOther::confessor\(\) called at \Q$FILE\E line $line$/,
        "confess: the stack trace has the sub called from the program's line, no frame of the tool's");
    unlike($@, qr/MemTrace/, '... and nothing of Devel::MemTrace');
});

# --- goto &sub ---------------------------------------------------------------
ends(1, 'goto into the sub', sub {
    my $line = __LINE__ + 1;
    my @got = goes_into_target('x', 'y');
    is_deeply([ @got[0 .. 2] ], [ 2, 'target of x', $line ],
        'goto &target from another sub: @_ passed on, caller(0) is the original call site');
});
ends(1, 'goto out of the sub', sub {
    my $before = Devel::MemTrace::current_iteration();
    my $arg = 'arg';
    my $line = __LINE__ + 1;
    my @got = goes_out($arg);
    is_deeply(\@got, [ 'helped arg!', $line, 'main::helper', $before ],
        'goto &helper out of the sub: helper gets @_, sees the caller, and runs in the same iteration');
    is($arg, 'arg!', '... @_ aliasing survives the goto');
});
ends(1, 'goto out of the sub to an XSUB', sub {
    is(goes_out_to_xsub([]), 'ARRAY', 'goto &Scalar::Util::reftype out of the sub returns its value');
});
ends(1, 'goto &self (tail recursion)', sub {
    @Seen = ();
    is(goes_to_self(3), 'landed at 0', 'goto &itself three times');
    is_deeply(\@Seen, [ 3, 2, 1, 0 ], '... each pass ran');
});

# --- prototypes -----------------------------------------------------------
ends(2, 'prototype', sub {
    my @array = (1, 2, 3);
    is(proto(@array, 4), '3 and 4', 'a call compiled before: \@ passes the array');
    is(eval 'proto @array, 5', '3 and 5', 'a call compiled after -iteration: the prototype still applies');
});

# --- @_ aliasing -------------------------------------------------------------
ends(2, '@_ aliasing', sub {
    my ($x, $y) = ('x', 'y');
    alias($x, $y);
    is("$x $y", 'x+ set', '@_ aliases the caller\'s variables');
    my %h;
    alias($h{new} = 'v', $h{other});
    is_deeply(\%h, { new => 'v+', other => 'set' }, '... hash elements too (autovivified through @_)');
});

# --- &name; (shared @_) and method calls -------------------------------------
ends(2, '&sub; and methods', sub {
    my $r = sub { &alias; \@_ }->(my $s = 's', my $t = 't');
    is("$s $t", 's+ set', '&alias; shares the caller\'s @_');
    is(main->method_call('m'), 'main->method_call(m)', 'a method call');
});

# --- recursion: one iteration per outermost return --------------------------
ends(1, 'recursion', sub {
    @Seen = ();
    is(rec(3), 3, 'the recursive sub returns');
    is(scalar(keys %{ { map { $_ => 1 } @Seen } }), 1, '... every level ran in one iteration');
});

# --- die ---------------------------------------------------------------------
ends(1, 'die', sub {
    my $ok = eval { dies(); 1 };
    is($@, "died in dies\n", 'die propagates its own error');
});
ends(2, 'die caught inside another watched sub, then die again', sub {
    my $ok = eval { dies_deep(); 1 };
    is($@, "again: died in dies\n", 'the error of the outer sub');
});
{
    local $@ = 'kept';
    my $line = __LINE__ + 1;
    ctx();
    is($@, 'kept', 'ending an iteration leaves $@ alone');
}
{
    local $! = 2;
    ctx();
    is($! + 0, 2, '... and $!');
}

# --- return from nested blocks -----------------------------------------
ends(3, 'return from nested blocks', sub {
    is(scalar nested_return(2), 'from 2', 'scalar return from a block in an if in a loop');
    is_deeply([ nested_return(3) ], [ 'from 3', 'list' ], 'list return from there');
    is(scalar nested_return(9), 'fell through', 'the plain return');
});

# --- local $_ ----------------------------------------------------------------
ends(2, 'local $_', sub {
    my @got;
    for (qw(outer second)) {
        push @got, local_underscore();
        push @got, $_;
    }
    is_deeply(\@got, [ 'outer,inner,changed', 'outer', 'second,inner,changed', 'second' ],
        "the sub sees the caller's \$_, its local \$_ is its own");
});

is(Devel::MemTrace::current_iteration() - $iteration, 35, 'every watched return above ended one iteration, and nothing else did');

# --- in an ithread: its own copy of each sub, watched the same way ---------
SKIP: {
    require Config;
    skip 'this perl has no ithreads', 4 unless $Config::Config{useithreads};
    require threads;
    my $result = threads->create(sub {
        my $before = Devel::MemTrace::current_iteration();
        my @list = ctx();
        lv() = 'set in the thread';
        my $arg = 't';
        my @helped = goes_out($arg);
        @Seen = ();
        rec(2);
        return [ "@list", $Lv_store, "$helped[0] $helped[2]", Devel::MemTrace::current_iteration() - $before ];
    })->join;
    is($result->[0], '1 2 3', 'in a thread: list context reaches the sub');
    is($result->[1], 'set in the thread', '... lv() = ... assigns');
    is($result->[2], 'helped t! main::helper', '... goto &helper out of the sub works');
    is($result->[3], 4, '... and each outermost return ended one iteration');
}

# --- a whole program: the same output with and without -iteration ----------
my $program = write_script(<<'PERL');
use strict;
use warnings;
use Carp ();
our $Store = 'start';
sub poll :lvalue {
    my ($n) = @_;
    my @c = caller(0);
    print "poll $n: ", (wantarray ? 'list' : defined wantarray ? 'scalar' : 'void'),
        " from line $c[2] as $c[3]\n";
    Carp::carp("poll $n carps") if $n == 2;
    die "poll $n dies\n" if $n == 3;
    goto &other if $n == 4;
    $Store;
}
sub other :lvalue { my @c = caller(0); print "other: from line $c[2] as $c[3]\n"; $Store }
$SIG{__WARN__} = sub { print "warning: $_[0]" };
poll(1) = 'one';
print "store: $Store\n";
my @l = poll(2);
eval { poll(3) }; print "error: $@";
poll(4) = 'four';
print "store: $Store\n";
my $s = poll(5);
print "s: $s\n";
PERL
my $plain = run_perl($program);
is($plain->{exit}, 0, 'the program runs') or diag $plain->{stderr};
my $traced = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $program);
is($traced->{stdout}, $plain->{stdout}, 'the program prints the same under -iteration=main::poll')
    or diag "without:\n$plain->{stdout}\nwith:\n$traced->{stdout}";
like($traced->{stderr}, qr/^Devel::MemTrace report: 5 iterations closed;/m, '... and its 5 calls of poll were 5 iterations');
unlike($traced->{stderr}, qr/^(?!Devel::MemTrace report|iteration |no leaks|leak sites|  |\d+ sites? stopped)/m,
    '... and nothing else was written to STDERR')
    or diag $traced->{stderr};

# --- an XSUB as the -iteration sub --------------------------------------
# (dualvar: reftype is builtin::reftype from perl 5.42 on, an op when
# called by name, so no sub call.)
my $xsub_program = write_script(<<'PERL');
use strict;
use warnings;
use Scalar::Util ();
print Scalar::Util::dualvar(1, "ARRAY"), "\n";
print Scalar::Util::dualvar(2, "HASH"), "\n";
my $sub = \&Scalar::Util::dualvar;
print $sub->(3, "SCALAR"), "\n";
eval { &Scalar::Util::dualvar() };
print "error: $@";
PERL
$plain = run_perl($xsub_program);
$traced = run_perl('-MDevel::MemTrace=-iteration=Scalar::Util::dualvar,-report_at_END', $xsub_program);
is($traced->{stdout}, $plain->{stdout}, 'an XSUB as the -iteration sub: the program prints the same')
    or diag "without:\n$plain->{stdout}\nwith:\n$traced->{stdout}";
like($plain->{stdout}, qr/^error: Usage: Scalar::Util::dualvar\(num, str\) at \Q$xsub_program\E line 8\.$/m,
    "... including the XSUB's own usage error, at the program's line");
like($traced->{stderr}, qr/^Devel::MemTrace report: 4 iterations closed;/m,
    '... and each of its 4 calls ended an iteration (the one that croaked too)');

done_testing;
