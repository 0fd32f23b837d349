# pause() and resume(): what is allocated while paused is never reported.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemTraceTest qw(marked_line sites_at);

use Devel::MemTrace qw(checkpoint leak_sites pause resume is_recording);

our (@while_paused, @while_recording);

ok(is_recording(), 'recording');
checkpoint();

pause();
ok(!is_recording(), 'pause() stops recording');
push @while_paused, { n => $_ } for 1 .. 10;       # LINE: paused
resume();
ok(is_recording(), 'resume() starts it again');
push @while_recording, { n => $_ } for 1 .. 10;    # LINE: recording

pause();
pause();
resume();
ok(is_recording(), 'pause() does not nest: one resume() undoes two');

checkpoint() for 1 .. 3;
my $sites = leak_sites();

my @paused = sites_at($sites, file => __FILE__, line => marked_line('paused'), kind => 'sv');
is(scalar @paused, 0, 'no SV made while paused is reported')
    or diag explain \@paused;
{
    my @buffers = sites_at($sites, file => __FILE__, line => marked_line('paused'), kind => 'mem');
    is(scalar @buffers, 0, 'no buffer allocated while paused is reported')
        or diag explain \@buffers;
}

my @recorded = sites_at($sites, file => __FILE__, line => marked_line('recording'), kind => 'sv');
my $hashes = 0;
$hashes += $_->{types}{HASH} || 0 for @recorded;
is($hashes, 10, 'the same code run while recording leaks its 10 hashes')
    or diag explain \@recorded;

done_testing;
