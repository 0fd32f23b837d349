# Small things a user tripped over: leaks() and leak_sites() give a list in
# list context ("for my $s (leak_sites())") and an arrayref in scalar
# context; a program that dies before its first checkpoint gets one line
# at END, not an empty report; perldoc Devel::MemTrace works.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(load_leaky marked_line run_perl write_script);

use Devel::MemTrace qw(checkpoint leaks leak_sites);

our @Kept;
checkpoint();
for my $i (1 .. 5) {
    push @Kept, { i => $i };   # LINE: kept
    checkpoint();
}
my $line = marked_line('kept');

my @sites = grep { $_->{line} == $line } leak_sites();
ok(@sites, 'for/grep over leak_sites() in list context sees the sites');
is($sites[0]{file}, __FILE__, '... each a hashref with its file')
    or diag explain \@sites;
my $sites = leak_sites();
is(ref $sites, 'ARRAY', 'leak_sites() in scalar context is an arrayref');
is(scalar(grep { $_->{line} == $line } @$sites), scalar @sites, '... of the same sites');
my @ongoing = leak_sites(status => 'ongoing');
is(scalar(grep { $_->{line} == $line } @ongoing), scalar @sites, "leak_sites(status => 'ongoing') in list context too");

my @leaks = grep { $_->{line} == $line && $_->{type} eq 'HASH' } leaks();
is(scalar @leaks, 3, 'for/grep over leaks() in list context sees the 3 judged HASH leaks');
my $leaks = leaks();
is(ref $leaks, 'ARRAY', 'leaks() in scalar context is an arrayref');
is(scalar @$leaks, scalar(my @all = leaks()), '... of as many leaks as the list');

# A program that dies before its first checkpoint.
my $script = write_script(<<'PERL');
use strict;
use warnings;
sub poll { return 1 }
die "cannot connect to the database\n";
poll();
PERL
my $run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', $script);
is($run->{exit}, 255, 'the program died as it would without the module');
is($run->{stderr},
    "cannot connect to the database\nDevel::MemTrace: no report: the program exited with status 255 before its first checkpoint\n",
    'its death, then one line instead of an empty report');

# Exiting normally before any checkpoint still reports (iteration 0 only).
$run = run_perl('-MDevel::MemTrace=-iteration=main::poll,-report_at_END', '-e', 'print "ok\n"');
is($run->{exit}, 0, 'a program that ends normally with no checkpoint exits 0');
like($run->{stderr}, qr/^Devel::MemTrace report: 0 iterations closed;/m, '... and gets its report');

# XS modules the MemTrace perl built (Leaky, with PERL_MEM_LOG; its own
# POSIX) are never named as unrecorded C code.
{
    require POSIX;
    my $leaky = Devel::MemTrace::report() =~ /^C allocations not recorded: (.*)$/m ? $1 : '';
    unlike($leaky, qr/\b(?:POSIX|Fcntl|List::Util)\b/, "the report does not name the MemTrace perl's own XS modules as unrecorded");
    my @names = map { $_->{module} } Devel::MemTrace::unrecorded_xs_modules();
    ok(!grep({ /^(?:POSIX|Fcntl|List::Util|Devel::MemTrace)$/ } @names), '... nor does unrecorded_xs_modules()')
        or diag "@names";
    SKIP: {
        my $why = load_leaky();
        skip $why, 1 if $why;
        my @after = map { $_->{module} } Devel::MemTrace::unrecorded_xs_modules();
        ok(!grep({ $_ eq 'Leaky' } @after), 'Leaky, built for the MemTrace perl with PERL_MEM_LOG, is not named')
            or diag "@after";
    }
}

# perldoc Devel::MemTrace with the MemTrace perl's perldoc (as root too:
# perldoc would switch to the user nobody, who cannot read a perl under
# /root/.cache).
{
    require File::Basename;
    my $perldoc = File::Basename::dirname($^X) . '/perldoc';
    local $ENV{PAGER} = 'cat';
    my $doc = `$^X $perldoc -T Devel::MemTrace 2>&1`;
    like($doc, qr/^NAME\n    Devel::MemTrace - find the Perl line behind every leaked SV/m,
        'perldoc Devel::MemTrace shows its documentation' . ($> == 0 ? ' (as root)' : ''))
        or diag $doc;
}

done_testing;
