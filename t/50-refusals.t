# What cannot serve is refused with one line that says why and what to do:
# a perl built without PERL_MEM_LOG (perl/build/check-perl.sh), and a perl
# whose hooks do not reach the recorder (Devel::MemTrace at load time).
use strict;
use warnings;
use File::Copy ();
use File::Temp ();
use Test::More;
use lib 't/lib';
use MemTraceTest qw(repo_root);

my $root = repo_root();

SKIP: {
    skip 'no /usr/bin/perl to refuse', 3 unless -x '/usr/bin/perl';
    my $out = `bash $root/perl/build/check-perl.sh /usr/bin/perl 2>&1`;
    is($? >> 8, 2, 'check-perl.sh refuses the system perl with exit code 2');
    like($out, qr{\Aerror: /usr/bin/perl was built without -DPERL_MEM_LOG .*; build a MemTrace perl with 'make perl'\n\z},
        '... in one line that says why and what to do');
    my $ok = `bash $root/perl/build/check-perl.sh $^X 2>&1`;
    is($? >> 8, 0, '... and accepts this perl') or diag $ok;
}

SKIP: {
    chomp(my $patchelf = `command -v patchelf 2>/dev/null`);
    skip 'patchelf is not installed', 3 unless $patchelf;
    # A twin of this perl without the recorder in front of libperl.
    my $dir  = File::Temp->newdir;
    my $twin = "$dir/perl";
    File::Copy::copy($^X, $twin) or die "copy $^X: $!";
    chmod 0755, $twin;
    my ($recorder) = grep { m{/auto/Devel/MemTrace/MemTrace\.so$} } `$patchelf --print-needed $twin`;
    ok($recorder, 'this perl loads the recorder ahead of libperl');
    chomp $recorder if $recorder;
    system($patchelf, '--remove-needed', $recorder, $twin) == 0 or die "patchelf failed";
    my $err = `$twin -MDevel::MemTrace -e 1 2>&1`;
    isnt($? >> 8, 0, 'Devel::MemTrace refuses a perl whose hooks are not the recorder');
    like($err, qr{\ADevel::MemTrace: this perl \(\Q$twin\E\) does not route its PERL_MEM_LOG hooks to the recorder; run the program with the MemTrace perl \(`make perl` prints its path\)\n},
        '... in one line that says why and what to do') or diag $err;
}

done_testing;
