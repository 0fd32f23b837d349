package MemTraceTest;

# Helpers shared by Devel::MemTrace's tests: marked lines, finding leak
# sites, loading the example XS module Leaky, running a perl subprocess.

use strict;
use warnings;

use Cwd        ();
use File::Spec ();
use File::Temp ();
use Exporter 'import';

our @EXPORT_OK = qw(
  marked_line sites_at load_leaky leaky_xs_line run_perl write_script
  repo_root slurp why_no_test_memtrace
);

=head1 NAME

MemTraceTest - helpers for Devel::MemTrace's tests

=head1 FUNCTIONS

=head2 repo_root

The repository's top directory (the parent of F<t/>).

=cut

sub repo_root {
    my $here = File::Spec->rel2abs(__FILE__);
    my ($volume, $dir) = File::Spec->splitpath($here);
    return Cwd::abs_path(File::Spec->catdir($dir, File::Spec->updir, File::Spec->updir));
}

=head2 slurp($path)

The file's content.

=cut

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "cannot read $path: $!\n";
    local $/;
    return scalar <$fh>;
}

=head2 marked_line($marker, [$file])

The number of the one line of C<$file> (default: the caller's file) that
carries the comment C<# LINE: $marker> (or C</* LEAK: $marker */> in C).
Dies unless exactly one line does.

=cut

sub marked_line {
    my ($marker, $file) = @_;
    $file = (caller)[1] unless defined $file;
    open my $fh, '<', $file or die "cannot read $file: $!\n";
    my @found;
    while (my $line = <$fh>) {
        push @found, $. if $line =~ m{(?:\#\s*LINE|/\*\s*LEAK):\s*\Q$marker\E\b};
    }
    @found == 1
      or die "marker '$marker' found on " . scalar(@found) . " lines of $file\n";
    return $found[0];
}

=head2 sites_at($sites, %where)

The leak sites (from C<leak_sites>, an arrayref or the list itself) whose
fields equal all of C<%where>, e.g. C<< sites_at($sites, file => __FILE__,
line => 12, kind => 'sv') >> or C<< sites_at(leak_sites(), line => 12) >>.
A C<line> may also be an arrayref C<[FIRST, LAST]>.

=cut

sub sites_at {
    # leak_sites() in list context gives the sites themselves: take the
    # leading hashrefs as the list, the rest as %where.
    my @args = @_;
    my $sites = ref $args[0] eq 'ARRAY' ? shift @args : [];
    push @$sites, shift @args while @args && ref $args[0] eq 'HASH';
    my %where = @args;
    my @match;
  SITE: for my $site (@$sites) {
        for my $field (keys %where) {
            my ($want, $got) = ($where{$field}, $site->{$field});
            next SITE unless defined $got;
            if (ref $want eq 'ARRAY') {
                next SITE unless $got >= $want->[0] && $got <= $want->[1];
            }
            else {
                next SITE unless $got eq $want;
            }
        }
        push @match, $site;
    }
    return @match;
}

=head2 load_leaky

Loads the example XS module Leaky, adding C<$ENV{MEMTRACE_LEAKY_BLIB}>'s
F<lib> and F<arch> to C<@INC> (or those of a Leaky built under
F<target/xs/>). Returns an empty string on success, else the reason to skip.

=cut

my $Leaky_blib;

sub load_leaky {
    return '' if $INC{'Leaky.pm'};
    my @candidates = grep { defined && length } $ENV{MEMTRACE_LEAKY_BLIB};
    push @candidates, sort glob(repo_root() . '/target/xs/Leaky*/blib')
      unless @candidates;
    for my $blib (@candidates) {
        next unless -d "$blib/arch";
        $Leaky_blib = $blib;
        unshift @INC, "$blib/lib", "$blib/arch";
        last;
    }
    local $@;
    return '' if eval { require Leaky; 1 };
    my ($why) = split /\n/, $@;
    return "the example XS module Leaky cannot be loaded (build it with"
      . " 'make perl', or set MEMTRACE_LEAKY_BLIB): $why";
}

=head2 why_no_test_memtrace

Why Test::MemTrace's tests cannot run here (Test::MemTrace cannot measure
in this perl, or Leaky does not load), or an empty string; call it after
loading Test::MemTrace.

=cut

sub why_no_test_memtrace {
    my $why = Test::MemTrace::unavailable_reason();
    return $why if defined $why;
    return load_leaky();
}

=head2 leaky_xs_line($marker)

The line of F<Leaky.xs> marked C</* LEAK: $marker */>.

=cut

sub leaky_xs_line {
    my ($marker) = @_;
    my $xs = $Leaky_blib && -f "$Leaky_blib/../Leaky.xs"
      ? "$Leaky_blib/../Leaky.xs"
      : repo_root() . '/examples/Leaky/Leaky.xs';
    return marked_line($marker, $xs);
}

=head2 write_script($text)

Writes C<$text> into a new file in a temporary directory (removed at exit);
returns its path.

=cut

my @Temp_dirs;

sub write_script {
    my ($text) = @_;
    my $dir = File::Temp->newdir('memtrace-t-XXXXXX', TMPDIR => 1);
    push @Temp_dirs, $dir;
    my $path = "$dir/script.pl";
    open my $fh, '>', $path or die "cannot write $path: $!\n";
    print {$fh} $text;
    close $fh or die "cannot write $path: $!\n";
    return $path;
}

=head2 run_perl(@args)

Runs this perl (C<$^X>) with C<@args> and this process's C<@INC> (through
C<PERL5LIB>), no standard input. Returns a hashref
C<< { exit => CODE, stdout => TEXT, stderr => TEXT } >>.

=cut

sub run_perl {
    my (@args) = @_;
    my $dir = File::Temp->newdir('memtrace-run-XXXXXX', TMPDIR => 1);
    my ($out, $err) = ("$dir/stdout", "$dir/stderr");
    local $ENV{PERL5LIB} = join ':',
      map { File::Spec->rel2abs($_) } grep { !ref } @INC;

    my $pid = fork;
    die "cannot fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open STDIN,  '<', File::Spec->devnull or die;
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec { $^X } $^X, @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $status = $?;
    return {
        exit   => $status >> 8,
        signal => $status & 127,
        stdout => slurp($out),
        stderr => slurp($err),
    };
}

require POSIX;

1;
