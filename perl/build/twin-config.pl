#!/usr/bin/perl
# twin-config.pl PREFIX — run by the perl to be twinned (the LIKE perl):
# prints, NUL-separated, the Configure arguments of its MemTrace twin:
#
#   * its own Configure arguments ($Config{config_args}), re-split into
#     arguments (config_args is joined with spaces, its quoting lost);
#   * minus what must differ: the prefix, the core library directories
#     (privlib, archlib: the twin's own, under PREFIX), man pages (none: the
#     twin must not overwrite the system's), Configure's own mode flags,
#     -Dmksymlinks (the twin builds in its source tree);
#   * plus its site and vendor directories and other library directories
#     given explicitly, so that the twin searches the same directories in
#     the same order (a perlbrew perl's site_perl lies under its prefix);
#   * and -Uinstallusrbinperl: the twin never touches /usr/bin/perl.
# The MemTrace ccflags are added by memtrace-perl.sh, the one place that
# builds them.
use strict;
use warnings;
use Config;

my $prefix = shift or die "usage: $0 PREFIX\n";

# Split config_args into Configure arguments: a word starts a new argument
# when it is a Configure switch (-des, -Dname=..., -Uname, -Aname=...);
# anything else (-DDEBIAN, -O2, -Wl,-z,relro) continues the value before.
my @args;
for my $w (split / /, $Config{config_args} // '') {
    next if $w eq '' && !@args;
    if ($w =~ /^-[desEfhKOrSV]+$/
        || $w =~ /^-[DUA](?:[a-z][a-z0-9_]*|DEBUGGING|[a-z]+:[a-z][a-z0-9_]*)(?:=|$)/) {
        push @args, $w;
    } elsif (@args) {
        $args[-1] .= " $w";
    } else {
        push @args, $w;
    }
}

my %drop = map { $_ => 1 } qw(prefix installprefix privlib archlib privlibexp archlibexp
    installprivlib installarchlib man1dir man3dir siteman1dir siteman3dir
    vendorman1dir vendorman3dir installman1dir installman3dir installsiteman1dir
    installsiteman3dir installvendorman1dir installvendorman3dir mksymlinks
    sitelib sitearch siteprefix sitelibexp sitearchexp installsitelib installsitearch
    vendorlib vendorarch vendorprefix usevendorprefix installvendorlib installvendorarch
    otherlibdirs bin scriptdir installbin installscript installusrbinperl
    sitebin sitescript installsitebin installsitescript);
my @out;
for my $a (@args) {
    next if $a =~ /^-[desEfhKOrSV]+$/;   # Configure's own mode: memtrace-perl.sh says -des
    if ($a =~ /^-[DUA](?:[a-z]+:)?([a-z][a-z0-9_]*)(?:=|$)/ && $drop{$1}) { next }
    push @out, $a;
}

push @out, "-Dprefix=$prefix", "-Dprivlib=$prefix/lib/perl5/$Config{version}",
    "-Darchlib=$prefix/lib/perl5/$Config{version}/$Config{archname}",
    "-Dbin=$prefix/bin", "-Dscriptdir=$prefix/bin",
    '-Dman1dir=none', '-Dman3dir=none', '-Dsiteman1dir=none', '-Dsiteman3dir=none',
    '-Uinstallusrbinperl';
# Where its modules are found: the same directories, explicitly.
push @out, "-Dsiteprefix=$Config{siteprefixexp}", "-Dsitelib=$Config{sitelibexp}",
    "-Dsitearch=$Config{sitearchexp}";
push @out, "-Dsitebin=$prefix/bin", "-Dsitescript=$prefix/bin";
if (($Config{usevendorprefix} // '') eq 'define') {
    push @out, '-Dusevendorprefix', "-Dvendorprefix=$Config{vendorprefixexp}",
        "-Dvendorlib=$Config{vendorlibexp}", "-Dvendorarch=$Config{vendorarchexp}",
        "-Dvendorman1dir=none", "-Dvendorman3dir=none",
        "-Dvendorbin=$prefix/bin", "-Dvendorscript=$prefix/bin";
}
my $other = $Config{otherlibdirs} // '';
$other =~ s/^\s+|\s+$//g;
push @out, "-Dotherlibdirs=$other" if $other ne '';

print join("\0", @out), "\0";
