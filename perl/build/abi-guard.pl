#!/usr/bin/perl
# abi-guard.pl TREE — make a perl source tree's interpreter struct under
# -DPERL_MEM_LOG -DPERL_MEM_LOG_NOIMPL identical to the same perl's without
# PERL_MEM_LOG, so that XS modules built for that perl (Debian's, a
# perlbrew perl's CPAN modules) pass the XS handshake in the MemTrace twin.
#
# perl 5.36 and later add PL_mem_log[] to the interpreter struct under
# "#ifdef PERL_MEM_LOG" (intrpvar.h); it only serves perl's own logger,
# which PERL_MEM_LOG_NOIMPL turns off. Every "#ifdef PERL_MEM_LOG" block
# that mentions PL_mem_log/mem_log in intrpvar.h, inline.h and sv.c
# becomes "#if defined(PERL_MEM_LOG) && !defined(PERL_MEM_LOG_NOIMPL)", and
# makedef.pl stops exporting PL_mem_log under NOIMPL. A perl without
# PL_mem_log (older than 5.36) needs nothing: the script then changes
# nothing. Prints one line: what it changed.
use strict;
use warnings;

my $tree = shift or die "usage: $0 PERL-SOURCE-TREE\n";
-f "$tree/intrpvar.h" or die "error: $tree has no intrpvar.h; is it a perl source tree?\n";

my $GUARD = '#if defined(PERL_MEM_LOG) && !defined(PERL_MEM_LOG_NOIMPL)';
my $changed = 0;
my @files;

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "error: cannot read $f: $!\n"; local $/; return <$fh> }
sub spew {
    my ($f, $text) = @_;
    open my $fh, '>', "$f.tmp" or die "error: cannot write $f.tmp: $!\n";
    print {$fh} $text;
    close $fh or die "error: cannot write $f.tmp: $!\n";
    rename "$f.tmp", $f or die "error: cannot rename $f.tmp: $!\n";
}

for my $name (qw(intrpvar.h inline.h sv.c)) {
    my $file = "$tree/$name";
    next unless -f $file;
    my @lines = split /^/, slurp($file);
    my $n = 0;
    for my $i (0 .. $#lines) {
        next unless $lines[$i] =~ /^(\s*)#(\s*)ifdef\s+PERL_MEM_LOG\s*$/;
        # The block up to its matching #endif (nested #if counted).
        my $depth = 0;
        my $uses = 0;
        for my $j ($i + 1 .. $#lines) {
            my $l = $lines[$j];
            if ($l =~ /^\s*#\s*if/) { $depth++ }
            elsif ($l =~ /^\s*#\s*endif/) { last if $depth-- == 0 }
            $uses = 1 if $l =~ /\bPL_mem_log\b|\bPERLVARA?\(I,\s*mem_log\b/;
        }
        next unless $uses;
        $lines[$i] = "$1#$2if defined(PERL_MEM_LOG) && !defined(PERL_MEM_LOG_NOIMPL)\n";
        $n++;
    }
    next unless $n;
    spew($file, join '', @lines);
    $changed += $n;
    push @files, "$name ($n)";
}

my $makedef = "$tree/makedef.pl";
if (-f $makedef) {
    my $text = slurp($makedef);
    if ($text =~ s/unless \(\$define\{'PERL_MEM_LOG'\}\) \{(\s*\+\+\$skip\{PL_mem_log\};)/unless (\$define{'PERL_MEM_LOG'} && !\$define{'PERL_MEM_LOG_NOIMPL'}) {$1/) {
        spew($makedef, $text);
        $changed++;
        push @files, 'makedef.pl (1)';
    }
}

if ($changed) {
    print "PL_mem_log guarded by !PERL_MEM_LOG_NOIMPL in ", join(', ', @files), "\n";
} else {
    print "no PL_mem_log in this perl: no ABI guard needed\n";
}
