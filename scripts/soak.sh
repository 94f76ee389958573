#!/usr/bin/env bash
# make soak: the module under steady, mixed traffic for a bounded time, all
# on loopback: nginx (2 workers) with the BigQuery sink pointed at the
# stand-in (t/bqstub) and a real redis-server for the identity locations.
#
#   SOAK_SECONDS=600   how long the traffic runs (default 10 minutes)
#   SOAK_RATE=200      requests per second, spread over SOAK_CLIENTS (4)
#   SOAK_SAMPLE=30     seconds between samples
#
# Traffic: /t batches of every event type (POST, and GET d=), malformed
# bodies (400), CORS preflights, /r/ clicks of known and unknown ids, /o/
# opens and /p personalization.  Every SOAK_SAMPLE seconds it prints, per
# worker, its RSS split into private memory (RssAnon: heap, where a leak
# shows) and shared memory (RssShmem: the zone, bounded by oie_zone), and
# its open descriptors; then requests, accepted and delivered so far.
#
# At the end, after nginx quit: every event, click and open that was
# answered 204/200/302 must be stored once; workers' private memory may not
# grow after warm-up by more than SOAK_GROWTH_KB (default 2048) and their
# descriptors by more than 8; exit status 1 otherwise.
set -u
cd "$(dirname "$0")/.."
export OIE_ROOT=$PWD
module=${OIE_MODULE:-${OIE_BUILD_DIR:-$PWD/build}/ngx_http_oie_module.so}
if [ ! -f "$module" ]; then
    echo "soak: $module not built (run make)" >&2
    exit 2
fi
export OIE_MODULE=$module
exec perl -x "$0" "$@"

#!perl
use strict;
use warnings;
use lib "$ENV{OIE_ROOT}/t/lib";
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::BQStub;
use OIE::Redis;

$SIG{PIPE} = 'IGNORE';
$| = 1;

my $SECONDS = $ENV{SOAK_SECONDS} // 600;
my $RATE = $ENV{SOAK_RATE} // 200;
my $CLIENTS = $ENV{SOAK_CLIENTS} // 4;
my $SAMPLE = $ENV{SOAK_SAMPLE} // 30;
my $GROWTH_KB = $ENV{SOAK_GROWTH_KB} // 2048;

my $tmp = tempdir('oie-soak-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# a private copy of the module: a rebuild in the tree must not pull the
# code from under ten minutes of workers
copy($ENV{OIE_MODULE}, "$tmp/ngx_http_oie_module.so") or die "copy: $!";
$ENV{TEST_NGINX_LOAD_MODULES} = "/usr/lib/nginx/modules/ndk_http_module.so "
                                . "$tmp/ngx_http_oie_module.so";
require OIE::Nginx;

my $bq = OIE::BQStub->start;
my $redis = OIE::Redis->new;
my @LEADS = map { sprintf 'sOak%03d', $_ } 1 .. 200;
for my $id (@LEADS) {
    $redis->lead($id, destination => "https://site.example/$id?x=1",
                 firstName => "F$id", company => "C$id");
}

my $key = $bq->key_file;
my $url = $bq->url;
my $P = $redis->port;
my $ng = OIE::Nginx->new(workers => 2, http => <<"H", server => <<"S");
    oie_zone oie 16m;
    oie_sink bigquery project=oie-test dataset=outbound_sales
             credentials=$key endpoint=$url/bigquery/v2 timeout=5s;
    oie_spool $tmp/spool max_size=256m;
    oie_batch rows=500 interval=200ms;
    oie_redis 127.0.0.1:$P timeout=100ms;
H
    location /r/ { oie_redirect fallback=https://fallback.example/; }
    location /o/ { oie_open; }
    location = /p { oie_personalize fields=firstName,company; }
S
$ng->start;

my $json = JSON::PP->new->canonical;
my @TYPES = (
    [pageview => {}],
    [scroll => { depth => 50 }],
    [click => { tag => 'a', href => 'https://x.example/pricing', linkType => 'internal' }],
    [form_submit => { formId => 'f1', fields => ['email', 'company'] }],
    [video => { action => 'complete', src => 'https://v.example/1.mp4', percent => 100 }],
    [focus => { engagedMs => 1500 }],
    [engagement => { engagedMs => 30000 }],
    [custom => { name => 'demo_request', props => { plan => 'pro', seats => 3 } }],
);

sub event {
    my ($id, $i) = @_;
    my ($type, $extra) = @{ $TYPES[$i % @TYPES] };
    return { type => $type, timestamp => 1732406400000 + $i, sessionId => "s$id",
             visitorId => $id, url => "https://site.example/p/$i",
             leadId => $LEADS[$i % @LEADS], %$extra };
}

# one exchange on a fresh connection, bounded: (status, body)
sub req {
    my ($method, $path, $body, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port,
                                  Timeout => 5) or return (0, '');
    $body //= '';
    my $head = "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    $head .= "$_: $h{$_}\r\n" for sort keys %h;
    $head .= 'Content-Length: ' . length($body) . "\r\n" if length $body;
    syswrite($s, "$head\r\n$body");
    my ($resp, $sel) = ('', IO::Select->new($s));
    my $deadline = time + 10;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($code) = $resp =~ m{^HTTP/1\.\d (\d+)};
    return ($code // 0, $resp);
}

# one client: its share of the rate until the end; each line of its log is
# "<kind> <id> <n> <status>" (n: events in the request)
sub client {
    my ($c, $until) = @_;
    open my $log, '>', "$tmp/client-$c" or die $!;
    $log->autoflush(1);
    my $every = $CLIENTS / $RATE;
    my $next = time;
    my $i = 0;
    while (time < $until) {
        $i++;
        my $id = "soak-$c-$i";
        my $r = $i % 20;
        my ($kind, $n, $code) = ('', 0, 0);
        if ($r < 9) {
            my @ev = map { event("$id-$_", $i + $_) } 1 .. 1 + $i % 5;
            ($code) = req('POST', '/t', $json->encode({ events => \@ev }),
                          'Content-Type' => 'application/json');
            ($kind, $n) = ('events', scalar @ev);
        } elsif ($r < 11) {
            my $d = encode_base64($json->encode({ events => [ event("$id-1", $i) ] }), '');
            $d =~ tr{+/}{-_};
            $d =~ s/=+$//;
            ($code) = req('GET', "/t?d=$d");
            ($kind, $n) = ('events', 1);
        } elsif ($r < 12) {
            ($code) = req('POST', '/t', '{"events":[{"type":', 'Content-Type' => 'application/json');
            $kind = 'bad';
        } elsif ($r < 13) {
            ($code) = req('OPTIONS', '/t', undef, Origin => 'http://127.0.0.1',
                          'Access-Control-Request-Method' => 'POST');
            $kind = 'preflight';
        } elsif ($r < 17) {
            my $lead = $i % 7 ? $LEADS[$i % @LEADS] : 'zzZZ999';
            ($code) = req('GET', "/r/$lead", undef, 'User-Agent' => "Mozilla/5.0 $id");
            ($kind, $n) = ('click', 1);
        } elsif ($r < 18) {
            ($code) = req('GET', "/o/$LEADS[$i % @LEADS].gif", undef, 'User-Agent' => "Mozilla/5.0 $id");
            ($kind, $n) = ('open', 1);
        } else {
            ($code) = req('GET', "/p?i=$LEADS[$i % @LEADS]");
            $kind = 'personalize';
        }
        print $log "$kind $id $n $code\n";
        $next += $every;
        my $wait = $next - time;
        sleep $wait if $wait > 0;
    }
    close $log;
}

sub proc_status {
    my ($pid) = @_;
    my %s;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    while (<$fh>) {
        $s{$1} = $2 if /^(RssAnon|RssShmem|RssFile|VmRSS):\s+(\d+) kB/;
    }
    opendir my $d, "/proc/$pid/fd" or return undef;
    $s{fds} = grep { /^\d+$/ } readdir $d;
    return \%s;
}

sub tally {
    my %t = (requests => 0, events => 0, click => 0, open => 0, other => 0, failed => 0);
    for my $c (1 .. $CLIENTS) {
        open my $fh, '<', "$tmp/client-$c" or next;
        while (<$fh>) {
            my ($kind, $id, $n, $code) = split;
            next unless defined $code;
            $t{requests}++;
            if ($kind eq 'events') {
                $code == 204 || $code == 200 ? ($t{events} += $n) : $t{failed}++;
            } elsif ($kind eq 'click' || $kind eq 'open') {
                $code == 302 || $code == 200 ? $t{$kind}++ : $t{failed}++;
            } else {
                $t{other}++;
                $t{failed}++ if $code == 0 || $code >= 500;
            }
        }
    }
    return \%t;
}

# what the stand-in stored, from its counters (cheap at any size); with
# SOAK_CHECK_IDS=1 at the end, every row's id is checked too
sub stored {
    my $stats = $bq->stats;
    my $by = $stats->{rowsByTable} // {};
    return { events => $by->{events} // 0, clicks => $by->{email_clicks} // 0,
             dups => $stats->{duplicatesSkipped} // 0 };
}

sub stored_ids {
    my (%ev, %ck);
    for my $r (@{ $bq->rows('events') }) {
        $ev{ $r->{json}{visitor_id} // '' }++;
    }
    for my $r (@{ $bq->rows('email_clicks') }) {
        my ($id) = ($r->{json}{user_agent} // '') =~ /(soak-\S+)/ or next;
        $ck{$id}++;
    }
    return (\%ev, \%ck);
}

my $start = time;
my $until = $start + $SECONDS;
printf "soak: %ds at %d requests/s over %d clients; nginx on 127.0.0.1:%d, "
       . "BigQuery stand-in %s, redis %s\n", $SECONDS, $RATE, $CLIENTS,
       $ng->port, $bq->url, $redis->addr;

my @pids;
for my $c (1 .. $CLIENTS) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        client($c, $until);
        POSIX::_exit(0);
    }
    push @pids, $pid;
}

my @samples;
my $fmt = "%6s %8s %-24s %-24s %8s %9s %9s %9s\n";
printf $fmt, 'time', 'worker', 'private RSS (RssAnon)', 'shared RSS (RssShmem)',
             'fds', 'requests', 'accepted', 'delivered';
while (1) {
    my $left = $until - time;
    sleep($left < $SAMPLE ? ($left > 0 ? $left : 0) : $SAMPLE);
    my $st = stored();
    my $t = tally();
    my $now = int(time - $start + 0.5);
    for my $w (sort { $a <=> $b } $ng->worker_pids) {
        my $s = proc_status($w) or next;
        push @samples, { t => $now, pid => $w, %$s };
        printf $fmt, "${now}s", $w, "$s->{RssAnon} kB", "$s->{RssShmem} kB",
                     $s->{fds}, $t->{requests},
                     $t->{events} + $t->{click} + $t->{open},
                     $st->{events} + $st->{clicks};
    }
    last if time >= $until;
}

waitpid $_, 0 for @pids;

# everything sent; let the sink catch up, then quit (which drains)
my $t = tally();
my $want = $t->{events} + $t->{click} + $t->{open};
my $st;
for (1 .. 120) {
    $st = stored();
    last if $st->{events} + $st->{clicks} >= $want;
    sleep 0.5;
}
my $nstatus = eval { $ng->status } // {};
$ng->quit(60);
for (1 .. 40) {
    $st = stored();
    last if $st->{events} + $st->{clicks} >= $want;
    sleep 0.5;
}

my $fail = 0;
print "\n";
printf "requests %d (%.0f/s), failed or unanswered %d\n", $t->{requests},
       $t->{requests} / $SECONDS, $t->{failed};
printf "events accepted %d, delivered %d\n", $t->{events}, $st->{events};
printf "clicks and opens accepted %d, delivered %d\n", $t->{click} + $t->{open},
       $st->{clicks};
printf "resent rows BigQuery dropped by insertId %d; status: dropped %s, spool "
       . "bytes %s, ring high water %s of %s bytes\n", $st->{dups},
       $nstatus->{dropped} // '?', $nstatus->{spool}{bytes} // '?',
       $nstatus->{ring}{high_water} // '?', $nstatus->{ring}{size} // '?';

if ($st->{events} != $t->{events}) {
    print "FAIL: events accepted $t->{events}, delivered $st->{events}\n";
    $fail = 1;
}
if ($st->{clicks} != $t->{click} + $t->{open}) {
    print "FAIL: clicks and opens accepted ", $t->{click} + $t->{open},
          ", delivered $st->{clicks}\n";
    $fail = 1;
}
if ($ENV{SOAK_CHECK_IDS}) {
    my ($ev, $ck) = stored_ids();
    my ($missing, $twice) = (0, 0);
    for my $c (1 .. $CLIENTS) {
        open my $fh, '<', "$tmp/client-$c" or next;
        while (<$fh>) {
            my ($kind, $id, $n, $code) = split;
            if ($kind eq 'events' && ($code == 204 || $code == 200)) {
                for my $k (1 .. $n) {
                    my $c = $ev->{"$id-$k"} // 0;
                    $missing++ if !$c;
                    $twice++ if $c > 1;
                }
            } elsif (($kind eq 'click' && $code == 302) || ($kind eq 'open' && $code == 200)) {
                my $c = $ck->{$id} // 0;
                $missing++ if !$c;
                $twice++ if $c > 1;
            }
        }
    }
    print "ids: $missing missing, $twice stored twice\n";
    $fail = 1 if $missing || $twice;
}
if ($t->{failed}) { print "FAIL: $t->{failed} requests failed or unanswered\n"; $fail = 1 }

# growth per worker: the first sample after a fifth of the run (warm-up)
# against the last
my %by;
push @{ $by{$_->{pid}} }, $_ for @samples;
for my $pid (sort keys %by) {
    my @s = @{ $by{$pid} };
    my ($first) = grep { $_->{t} >= $SECONDS / 5 } @s;
    $first //= $s[0];
    my $last = $s[-1];
    my $grow = $last->{RssAnon} - $first->{RssAnon};
    my $fds = $last->{fds} - $first->{fds};
    printf "worker %d: private RSS %d -> %d kB (%+d kB), shared %d -> %d kB, fds %d -> %d\n",
           $pid, $first->{RssAnon}, $last->{RssAnon}, $grow, $first->{RssShmem},
           $last->{RssShmem}, $first->{fds}, $last->{fds};
    if ($grow > $GROWTH_KB) {
        print "FAIL: worker $pid grew $grow kB after warm-up (limit $GROWTH_KB)\n";
        $fail = 1;
    }
    if ($fds > 8) {
        print "FAIL: worker $pid holds $fds more descriptors\n";
        $fail = 1;
    }
    if ($last->{RssShmem} > 16 * 1024 + 2048) {
        print "FAIL: worker $pid maps more shared memory than the zone\n";
        $fail = 1;
    }
}

print $fail ? "soak: FAILED\n" : "soak: passed\n";
$bq->stop;
$redis->stop;
exit $fail;
