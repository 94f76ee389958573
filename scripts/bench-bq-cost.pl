#!/usr/bin/perl
# What uploading costs the edge: nginx worker CPU per event accepted, for
# several module builds or sinks side by side in one run, so that the
# machine's drift hits them alike.  Each variant is its own nginx with one
# worker, pinned to core 0; wrk (10 events a request) and the BigQuery
# stand-in share core 1, so the worker's CPU is what is measured, not how
# the scheduler shares a core.  Rounds go in turns; medians are printed.
#
#   perl scripts/bench-bq-cost.pl [SO:SINK ...]
#
# SO is a module .so (default build/ngx_http_oie_module.so), SINK is bq or
# file; default: the build with bq, then with file.  BENCH_ROUNDS (5),
# BENCH_ROUND_SECONDS (4), BENCH_CONNECTIONS (2).  Loopback only; every load is bounded.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(sleep);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::Bench;

my $root = "$FindBin::Bin/..";
my $so = "$root/build/ngx_http_oie_module.so";
my @variants = @ARGV ? @ARGV : ("$so:bq", "$so:file");
my $rounds = $ENV{BENCH_ROUNDS} || 5;
my $secs = $ENV{BENCH_ROUND_SECONDS} || 4;
# few connections: the stand-in must keep up, or the spool's work is counted too
my $conns = $ENV{BENCH_CONNECTIONS} || 2;
my $dir = tempdir('oie-bench-cost-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $bq = OIE::BQStub->start(args => ['--quiet', '--keep-rows', '1000']);
OIE::Bench::pin(1, $bq->pid);

my @ng;
for my $i (0 .. $#variants) {
    my ($lib, $sink) = split /:/, $variants[$i];
    die "no such module: $lib\n" unless -f $lib;
    $lib = abs_path($lib);
    die "sink must be bq or file: $variants[$i]\n" unless $sink =~ /^(bq|file)$/;
    local $ENV{TEST_NGINX_LOAD_MODULES} =
        "/usr/lib/nginx/modules/ndk_http_module.so $lib";
    my $conf = $sink eq 'file' ? "oie_sink file $dir/events-$i;"
        : "oie_sink bigquery project=oie-test dataset=outbound_sales"
          . " credentials=" . $bq->key_file . " endpoint=" . $bq->url
          . "/bigquery/v2 timeout=10s concurrency=4;";
    $ng[$i] = OIE::Nginx->new(workers => 1, http => <<"H")->start;
        oie_zone oie 128m;
        $conf
        oie_spool $dir/spool-$i max_size=8g;
        oie_batch rows=500 bytes=4m interval=50ms;
H
    OIE::Bench::pin_nginx($ng[$i], 0);
}

my $ten = OIE::Bench::pageview_lua($dir, 'ten', 10);

sub cpu_ticks {
    open my $f, '<', "/proc/$_[0]/stat" or die "/proc/$_[0]/stat: $!";
    my @f = split ' ', scalar <$f>;
    return $f[13] + $f[14];
}

my $hz = `getconf CLK_TCK` || 100;
my (%us, %lost);
for my $r (1 .. $rounds) {
    my @order = $r % 2 ? (0 .. $#variants) : reverse(0 .. $#variants);
    for my $i (@order) {
        my ($w) = $ng[$i]->worker_pids;
        my $a0 = $ng[$i]->status->{accepted};
        my $c0 = cpu_ticks($w);
        `taskset -c 1 wrk -t1 -c$conns -d${secs}s -s $ten http://127.0.0.1:@{[ $ng[$i]->port ]}/t`;
        sleep 1.5;      # the last batches go out and are answered
        my $n = $ng[$i]->status->{accepted} - $a0;
        my $us = $n ? (cpu_ticks($w) - $c0) * 1e6 / $hz / $n : 0;
        push @{ $us{$i} }, $us;
        printf "round %d  %-50s %8d events  %.2f us of worker CPU each\n",
            $r, $variants[$i], $n, $us;
    }
}
printf "median  %-50s %.2f us/event\n", $variants[$_], OIE::Bench::median(@{ $us{$_} })
    for 0 .. $#variants;
for my $i (0 .. $#variants) {
    my $st = $ng[$i]->status;
    printf "        %-50s accepted %d, spooled %d, dropped %d\n", $variants[$i],
        $st->{accepted} // 0, $st->{spool}{rows_spooled} // 0, $st->{dropped} // 0;
    $ng[$i]->quit;
}
$bq->stop;
