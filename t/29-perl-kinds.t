# Which MemTrace perl 'make perl' builds, and its refusals, one line each,
# before anything is fetched or built: MEMTRACE_PERL_KIND (twin or
# standalone), MEMTRACE_LIKE (the perl to twin), a MEMTRACE_PERL_SRC of
# another version than the perl to twin, MEMTRACE_THREADS for a twin.
use strict;
use warnings;
use Test::More;
use File::Temp ();
use Cwd ();
use lib 't/lib';
use MemTraceTest qw(repo_root slurp);

my $script = repo_root() . '/perl/build/memtrace-perl.sh';
my $home   = File::Temp->newdir('memtrace-kinds-XXXXXX', TMPDIR => 1);
my $like   = -x '/usr/bin/perl' ? '/usr/bin/perl' : $^X;

# A source tree of another perl version (only what the check reads).
my $other = "$home/perl-5.40.1";
mkdir $other or die "cannot mkdir $other: $!\n";
for my $f ('Configure', 'patchlevel.h') {
    open my $fh, '>', "$other/$f" or die "cannot write $other/$f: $!\n";
    print {$fh} $f eq 'patchlevel.h'
      ? "#define PERL_REVISION 5\n#define PERL_VERSION 40\n#define PERL_SUBVERSION 1\n"
      : "#!/bin/sh\nexit 1\n";
    close $fh;
}
my $like_version = `$like -MConfig -e 'print \$Config{version}'`;

# build(%env): run memtrace-perl.sh with these variables (the rest of the
# MEMTRACE_* ones unset); { exit, stderr }.
sub build {
    my (%env) = @_;
    local %ENV = %ENV;
    delete @ENV{ grep { /^MEMTRACE_/ } keys %ENV };
    $ENV{MEMTRACE_HOME} = "$home/cache";
    @ENV{ keys %env } = values %env;
    my $rc = system("$script >$home/out 2>$home/err </dev/null");
    return { exit => $rc >> 8, stderr => slurp("$home/err") };
}

sub refused {
    my ($env, $line, $name) = @_;
    my $run = build(%$env);
    is($run->{exit}, 1, "$name: refused");
    is($run->{stderr}, "$line\n", "$name: in one line");
}

refused({ MEMTRACE_PERL_KIND => 'twins' },
    'error: MEMTRACE_PERL_KIND=twins is not one of twin, standalone', 'an unknown kind');
refused({ MEMTRACE_LIKE => '/no/such/perl' },
    'error: MEMTRACE_LIKE=/no/such/perl is not an executable file; give the path of the perl to twin',
    'MEMTRACE_LIKE of no file');
refused({ MEMTRACE_LIKE => '/bin/true' },
    "error: /usr/bin/true does not report a perl 5 version (got ''); MEMTRACE_LIKE must be a perl binary",
    'MEMTRACE_LIKE of a program that is no perl')
    if -x '/usr/bin/true' && Cwd::realpath('/bin/true') eq '/usr/bin/true';
refused({ MEMTRACE_LIKE => $like, MEMTRACE_PERL_KIND => 'standalone' },
    "error: MEMTRACE_LIKE=$like asks for a twin but MEMTRACE_PERL_KIND=standalone; unset one of them",
    'MEMTRACE_LIKE with the standalone kind');
refused({ MEMTRACE_PERL_KIND => 'twin', MEMTRACE_THREADS => 1 },
    'error: MEMTRACE_THREADS=1 is for the standalone perl (a twin is threaded exactly when the perl it twins is); unset it, or set MEMTRACE_PERL_KIND=standalone',
    'MEMTRACE_THREADS for a twin');
refused({ MEMTRACE_LIKE => $like, MEMTRACE_PERL_SRC => $other },
    "error: MEMTRACE_PERL_SRC=$other is perl 5.40.1 but " . Cwd::realpath($like) . " is perl $like_version; a twin needs the same version's source",
    'a twin from the source of another version');

done_testing;
