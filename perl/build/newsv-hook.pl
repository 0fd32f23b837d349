#!/usr/bin/perl
# newsv-hook.pl TREE — make perl call its new-SV hook under PERL_MEM_LOG.
#
# From perl 5.41.1 on, Perl_new_sv() (sv_inline.h) calls
# MEM_LOG_NEW_SV(sv, file, line, func) only inside its
# "#ifdef DEBUG_LEAKING_SCALARS" block, so a perl built with -DPERL_MEM_LOG
# alone never tells the recorder that an SV head was made (while it still
# says when one is freed). -DDEBUG_LEAKING_SCALARS would bring the call
# back, but it adds fields to every SV head (and changes the XS ABI); this
# moves the one call out of that block instead, under "#ifdef
# PERL_MEM_LOG", as perl 5.40 and earlier had it. A perl whose hook is
# already called (5.40 and earlier) needs nothing: the script then changes
# nothing. Prints one line: what it did.
use strict;
use warnings;

my $tree = shift or die "usage: $0 PERL-SOURCE-TREE\n";
my $file = "$tree/sv_inline.h";
unless (-f $file) {
    print "no sv_inline.h: the new-SV hook is where perl puts it\n";
    exit 0;
}
open my $in, '<', $file or die "error: cannot read $file: $!\n";
my @lines = <$in>;
close $in;

# Find Perl_new_sv's body and the hook call inside a DEBUG_LEAKING_SCALARS block.
my ($start) = grep { $lines[$_] =~ /^Perl_new_sv\(pTHX_/ } 0 .. $#lines;
unless (defined $start) {
    print "no Perl_new_sv in sv_inline.h: nothing to do\n";
    exit 0;
}
my ($end) = grep { $_ > $start && $lines[$_] =~ /^}/ } 0 .. $#lines;
my ($depth, $in_dls, $call, $return) = (0, 0);
for my $i ($start .. $end) {
    my $l = $lines[$i];
    if ($l =~ /^\s*#\s*if/) {
        $depth++;
        $in_dls = $depth if $l =~ /^\s*#\s*ifdef\s+DEBUG_LEAKING_SCALARS\s*$/;
    }
    elsif ($l =~ /^\s*#\s*endif/) {
        $in_dls = 0 if $in_dls && $depth == $in_dls;
        $depth--;
    }
    elsif ($l =~ /^\s*MEM_LOG_NEW_SV\(sv,/ && $in_dls) {
        $call = $i;
    }
    elsif ($l =~ /^\s*return sv;/ && $depth == 0) {
        $return = $i;
    }
}
unless (defined $call && defined $return) {
    print "the new-SV hook is called outside DEBUG_LEAKING_SCALARS already: nothing to do\n";
    exit 0;
}
my $hook = $lines[$call];
splice @lines, $return, 0, "#ifdef PERL_MEM_LOG\n", $hook, "#endif\n";
splice @lines, $call, 1;   # before $return: indexes after it moved, not this one
open my $out, '>', "$file.tmp" or die "error: cannot write $file.tmp: $!\n";
print {$out} @lines;
close $out or die "error: cannot write $file.tmp: $!\n";
rename "$file.tmp", $file or die "error: cannot rename $file.tmp: $!\n";
print "MEM_LOG_NEW_SV in Perl_new_sv called under PERL_MEM_LOG, not only DEBUG_LEAKING_SCALARS\n";
