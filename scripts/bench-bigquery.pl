#!/usr/bin/perl
# make bench, BigQuery part: sustained end-to-end throughput from /t into the
# BigQuery stand-in (rows stored per second), with 1 and 2 workers, and /t
# against a plain "return 204" in the same nginx while it runs (the same
# POST, as in bench.sh; a GET's figure beside it).  Loopback
# only; every load is bounded by BENCH_SECONDS.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(time sleep);
use File::Temp qw(tempdir);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::Bench;

my $secs = $ENV{BENCH_SECONDS} || 10;
my $rounds = $ENV{BENCH_ROUNDS} || 7;
my $round_secs = $ENV{BENCH_ROUND_SECONDS} || 3;
my $batch_rows = $ENV{BENCH_BQ_ROWS} || 500;     # oie_batch rows=
my $conns = $ENV{BENCH_CONNECTIONS} || 32;
my $per = $ENV{BENCH_EVENTS_PER_REQUEST} || 10;
# BENCH_SINK=file: the same /t : return 204 rounds with the NDJSON file sink
# instead (no upload; no throughput part), to tell the upload's share
my $sink = $ENV{BENCH_SINK} || 'bigquery';
die "BENCH_SINK must be bigquery or file\n" unless $sink =~ /^(bigquery|file)$/;
# BENCH_DRAIN=process: oie_drain_process on (the helper process drains and
# uploads; with 1 worker it is pinned to core 1, beside the stand-in)
my $drain = $ENV{BENCH_DRAIN} || 'workers';
die "BENCH_DRAIN must be workers or process\n" unless $drain =~ /^(workers|process)$/;
my $dir = tempdir('oie-bench-bq-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the stand-in checks and de-duplicates every row but keeps only the newest
# for /_stub/rows: millions of kept rows would make its garbage collector,
# not the module, what the bench measures
my $bq = OIE::BQStub->start(args => ['--quiet', '--keep-rows', '1000']);

# With one worker, the edge (nginx and wrk) runs on core 0 and the stand-in
# on core 1, so /t and return 204 are measured on the same CPU and the
# stand-in's own work (it parses and checks every row, in JavaScript) does
# not count against /t.  With two workers nothing is pinned.
my $pin = '';
OIE::Bench::pin(1, $bq->pid);

sub wrk {
    my ($url, $script, $t) = @_;
    $t //= $secs;
    my $out = `$pin wrk -t1 -c$conns -d${t}s --latency @{[ $script ? "-s $script" : '' ]} $url 2>&1`;
    my ($rps) = $out =~ /^Requests\/sec:\s+([\d.]+)/m;
    my ($p99) = $out =~ /^\s+99%\s+(\S+)/m;
    my ($non) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    return ($rps // 0, $p99 // '?', $non // 0);
}

my $one = OIE::Bench::pageview_lua($dir, 'one', 1);
my $many = OIE::Bench::pageview_lua($dir, 'many', $per);

printf "%s: wrk 1 thread x %d connections; /t against return 204 in %d rounds\n"
     . "of %ds runs in turns; throughput: %ds of %d events per request, until all are stored\n"
     . "(1 worker: nginx and wrk pinned to core 0, the stand-in to core 1)\n",
    $sink eq 'file' ? 'file sink (BENCH_SINK=file; no upload, no throughput part)'
                    : 'BigQuery sink into the stand-in',
    $conns, $rounds, $round_secs, $secs, $per;
print "oie_batch rows=$batch_rows (BENCH_BQ_ROWS)\n";
print "oie_drain_process on (BENCH_DRAIN=process): the helper drains; 1 worker: it is pinned to core 1\n"
    if $drain eq 'process';

for my $workers (1, 2) {
    $bq->reset;
    my $stored0 = $bq->stats->{rowsStored} // 0;
    my $ng = OIE::Nginx->new(workers => $workers, http => <<"H", server => "location = /plain { return 204; }")->start;
        oie_zone oie 128m;
        @{[ $sink eq 'file' ? "oie_sink file $dir/events-$workers;" : '' ]}
        @{[ $sink eq 'file' ? '' : "oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=@{[ $bq->key_file ]} endpoint=@{[ $bq->url ]}/bigquery/v2
                 timeout=10s concurrency=4;" ]}
        oie_spool $dir/spool-$workers max_size=8g;
        oie_batch rows=$batch_rows bytes=4m interval=50ms;
        @{[ $drain eq 'process' ? 'oie_drain_process on;' : '' ]}
H
    $pin = '';
    if ($workers == 1) {
        OIE::Bench::pin_nginx($ng, 0);
        OIE::Bench::pin_helper($ng, 1) if $drain eq 'process';
        $pin = 'taskset -c 0';
    }
    sleep 0.5;
    # /t with one event against return 204 (the same POST; and a GET),
    # while uploads run: short runs in turns, a round each, and the median
    # of the rounds' own ratios (this machine drifts by more than the
    # difference measured)
    my (@ratios, @gratios, %rps, %cpu);
    my @workers = $ng->worker_pids;
    my @helpers = $ng->helper_pids;
    for my $r (1 .. $rounds) {
        my @order = (['post', 'plain', $one], ['track', 't', $one], ['get', 'plain', undef]);
        push @order, shift @order for 1 .. ($r - 1) % 3;
        my %got;
        for my $run (@order) {
            my ($key, $loc, $script) = @$run;
            my ($w0, $h0, $b0, $t0) = (OIE::Bench::cpu_seconds(@workers),
                OIE::Bench::cpu_seconds(@helpers), OIE::Bench::cpu_seconds($bq->pid), time);
            my ($rps) = wrk("http://127.0.0.1:@{[ $ng->port ]}/$loc", $script, $round_secs);
            if ($key eq 'post') {
                $cpu{post_workers} += OIE::Bench::cpu_seconds(@workers) - $w0;
                $cpu{post_requests} += $rps * $round_secs;
            }
            if ($key eq 'track') {
                # what nginx and the stand-in used of the two cores meanwhile
                $cpu{secs} += time - $t0;
                $cpu{workers} += OIE::Bench::cpu_seconds(@workers) - $w0;
                $cpu{helper} += OIE::Bench::cpu_seconds(@helpers) - $h0;
                $cpu{requests} += $rps * $round_secs;
                $cpu{bq} += OIE::Bench::cpu_seconds($bq->pid) - $b0;
            }
            $got{$key} = $rps;
            push @{ $rps{$key} }, $rps;
        }
        push @ratios, $got{post} ? $got{track} / $got{post} : 0;
        push @gratios, $got{get} ? $got{track} / $got{get} : 0;
    }
    @ratios = sort { $a <=> $b } @ratios;
    printf "  %d worker%s: return 204 (POST) %7.0f req/s, /t (1 event) %7.0f req/s (medians of %d rounds of %ds)"
         . "; ratio %.2f (rounds %.2f to %.2f; against return 204 by GET, %.0f req/s: %.2f)\n",
        $workers, $workers > 1 ? 's' : ' ', OIE::Bench::median(@{ $rps{post} }), OIE::Bench::median(@{ $rps{track} }),
        $rounds, $round_secs, OIE::Bench::median(@ratios), $ratios[0], $ratios[-1],
        OIE::Bench::median(@{ $rps{get} }), OIE::Bench::median(@gratios);
    printf "             during the /t runs: nginx's workers used %.2f cores (%.1f us a request; %.1f us a return 204 POST)%s, the stand-in %.2f cores\n",
        $cpu{workers} / $cpu{secs}, $cpu{requests} ? 1e6 * $cpu{workers} / $cpu{requests} : 0,
        $cpu{post_requests} ? 1e6 * $cpu{post_workers} / $cpu{post_requests} : 0,
        $drain eq 'process'
            ? sprintf(', the helper %.2f cores (%.1f us a row)', $cpu{helper} / $cpu{secs},
                      $cpu{requests} ? 1e6 * $cpu{helper} / $cpu{requests} : 0)
            : '',
        $cpu{bq} / $cpu{secs};
    if ($sink eq 'file') {
        $ng->quit;
        next;
    }
    # then sustained throughput: batches of events, until all are stored
    my $st = $ng->status;
    my $accepted0 = $st->{accepted};
    my $stored0b = ($bq->stats->{rowsStored} // 0) - $stored0;
    my $t0 = time;
    my ($trps, $tp99, $non) = wrk("http://127.0.0.1:@{[ $ng->port ]}/t", $many);
    # wrk is gone, but a worker may still be answering requests it had read
    # (the status answer comes from one worker, the other may be behind):
    # "accepted" is read again until stored rows catch up with it and it
    # holds still, else rows stored after the first read show as "lost -N"
    my ($accepted, $stored);
    my $deadline = time + 120;
    my $last = time;
    while (time < $deadline) {
        $stored = ($bq->stats->{rowsStored} // 0) - $stored0;
        $last = time;
        my $now = $ng->status->{accepted};
        last if defined $accepted && $now == $accepted && $stored >= $accepted;
        $accepted = $now;
        sleep 0.1;
    }
    my $elapsed = $last - $t0;
    $st = $ng->status;
    printf "             /t (%d events) %.0f req/s p99 %s: %d events accepted, stored in %.1fs = %.0f rows/s; spooled %d, dropped %d, lost %d\n",
        $per, $trps, $tp99, $accepted - $accepted0, $elapsed,
        $elapsed ? ($stored - $stored0b) / $elapsed : 0,
        $st->{spool}{rows_spooled}, $st->{dropped}, $accepted - $stored;
    $ng->quit;
}
$bq->stop;
