#!/usr/bin/env perl
# poller.pl - a long-running poller that leaks, for Devel::MemTrace.
#
# Each poll fetches a batch of access-log lines, parses them, aggregates
# them per host and prints a one-line summary. Three leaks are planted in
# poll(), each on its own line marked "PLANTED LEAK":
#
#   1. an UNDEF SV made in XS and referenced by nothing (Leaky::leak_sv)
#   2. 256 bytes of C memory that are never freed (Leaky::leak_buffer)
#   3. a Perl reference cycle
#
# Everything else is meant to be clean: the parsed records and aggregates
# are freed at the end of each poll, and the host cache (%Host_info) fills
# during the first three polls, while hosts come online, and then stops
# growing (one-time retention, which the report leaves out by default).
#
# The program knows nothing of Devel::MemTrace. Run it unchanged with the
# MemTrace perl, every return from poll() ending an iteration:
#
#   perl -Ipath/to/Leaky/blib/lib -Ipath/to/Leaky/blib/arch \
#       -MDevel::MemTrace=-iteration=main::poll,-report_at_END \
#       examples/poller.pl
#
# examples/demo.pl does the same with the explicit API (checkpoint(),
# report()), loading this file for its poll() without running its main loop.
#
# Usage: poller.pl [POLLS]   (default 12; POLL_INTERVAL=seconds to sleep)
use strict;
use warnings;

use Leaky;

my @HOSTS      = map { sprintf 'web%02d', $_ } 1 .. 8;
my @METHODS    = qw(GET GET GET POST);
my @PATHS      = qw(/api/items /api/users /api/orders /login /static/app.js /health);
my @STATUSES   = ((200) x 14, 301, 404, 404, 500);
my $BATCH_SIZE = 200;

# The cache: host name => what we know about the host. Filled as hosts come
# online (four in the first poll, six in the second, all eight from the
# third on), then it stops growing.
my %Host_info;

# A batch of log lines, as an arrayref. Deterministic: a small linear
# congruential generator seeded with the poll number.
sub fetch_batch {
    my ($poll) = @_;
    my $online = $poll < 3 ? 2 + 2 * $poll : scalar @HOSTS;
    my $seed   = $poll;
    my $next   = sub { $seed = ($seed * 1103515245 + 12345) % 2**31; $seed >> 8 };

    my @lines;
    for my $i (1 .. $BATCH_SIZE) {
        my $host   = $HOSTS[ $next->() % $online ];
        my $method = $METHODS[ $next->() % @METHODS ];
        my $path   = $PATHS[ $next->() % @PATHS ];
        $path .= '/' . ($next->() % 1000) if $path =~ m{^/api/};
        push @lines, sprintf '2024-05-01T12:%02d:%02dZ %s %s %s %d %d %dms',
          $poll % 60, $i % 60, $host, $method, $path,
          $STATUSES[ $next->() % @STATUSES ], 200 + $next->() % 20_000,
          1 + $next->() % 250;
    }
    return \@lines;
}

# One log line as a hashref, or undef if it does not parse.
sub parse_line {
    my ($line) = @_;
    my ($time, $host, $method, $path, $status, $bytes, $latency) = $line =~
      m{\A(\S+) (\S+) ([A-Z]+) (\S+) (\d{3}) (\d+) (\d+)ms\z}
      or return;
    return {
        time    => $time,
        host    => $host,
        method  => $method,
        path    => $path,
        status  => $status,
        bytes   => $bytes,
        latency => $latency,
    };
}

# What we know about a host, memoized in %Host_info.
sub host_info {
    my ($host) = @_;
    return $Host_info{$host} //= do {
        my ($number) = $host =~ /(\d+)\z/;
        {
            name       => $host,
            datacenter => ($number % 2 ? 'fra1' : 'ams3'),
            role       => ($number <= 4 ? 'frontend' : 'api'),
        };
    };
}

# Per-host totals of a batch of records.
sub aggregate {
    my ($records) = @_;
    my $by_host = {};
    for my $record (@$records) {
        my $stats = $by_host->{ $record->{host} } //=
          { requests => 0, bytes => 0, errors => 0, latencies => [] };
        $stats->{requests}++;
        $stats->{bytes} += $record->{bytes};
        $stats->{errors}++ if $record->{status} >= 500;
        push @{ $stats->{latencies} }, $record->{latency};
    }
    return $by_host;
}

sub p95 {
    my @sorted = sort { $a <=> $b } @_;
    return $sorted[ int(0.95 * $#sorted) ];
}

# One poll: fetch, parse, aggregate, summarize. Returns the summary line.
sub poll {
    my ($n) = @_;
    my $lines   = fetch_batch($n);
    my $records = [ grep {defined} map { parse_line($_) } @$lines ];
    my $by_host = aggregate($records);

    my ($slowest, $slowest_p95, $errors) = ('', -1, 0);
    for my $host (sort keys %$by_host) {
        my $stats = $by_host->{$host};
        my $p95   = p95(@{ $stats->{latencies} });
        ($slowest, $slowest_p95) = ($host, $p95) if $p95 > $slowest_p95;
        $errors += $stats->{errors};
    }
    my $info = host_info($slowest);
    host_info($_) for keys %$by_host;

    Leaky::leak_sv();          # PLANTED LEAK 1: an UNDEF SV nothing references
    Leaky::leak_buffer(256);   # PLANTED LEAK 2: 256 bytes of C memory, never freed
    my $batch = { poll => $n, records => scalar @$records }; $batch->{self} = $batch;  # PLANTED LEAK 3: a reference cycle

    return sprintf 'poll %2d: %d requests from %d hosts, %.1f%% errors,'
      . ' slowest %s (%s, %s) p95 %d ms',
      $n, scalar @$records, scalar keys %$by_host,
      100 * $errors / (@$records || 1),
      $slowest, $info->{datacenter}, $info->{role}, $slowest_p95;
}

sub main {
    my $polls    = @ARGV ? $ARGV[0] : 12;
    my $interval = $ENV{POLL_INTERVAL} || 0;
    for my $n (1 .. $polls) {
        print poll($n), "\n";
        sleep $interval if $interval;
    }
    return;
}

# Run the main loop only as a program, not when loaded by examples/demo.pl.
main() unless caller;

1;
