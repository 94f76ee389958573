# Past one machine: two edges (two nginx, each with its own ring and spool,
# on different ports) behind a round-robin "load balancer" (the clients
# alternate), sharing one Redis and one BigQuery (the stand-in).  Every
# event and click is stored exactly once, whichever edge took it, through a
# BigQuery outage that both edges spool and replay; both edges resolve the
# same leads; and the live score the two keep in the shared Redis counts
# every pageview of both.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use JSON::PP ();
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::Redis;
use OIE::Events qw(event body);

my $bq = OIE::BQStub->start;
my $redis = OIE::Redis->new;
my $spools = tempdir('oie-scale-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $FALLBACK = 'https://example.com/';
my $UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) '
       . 'Chrome/120.0 Safari/537.36';
my %json = ('Content-Type' => 'application/json', 'User-Agent' => $UA);
my $NOW = int(time * 1000);

# a lead per client: one visitor's batches and clicks go through both edges
my ($clients, $n, $per) = (4, 40, 3);
my @LEADS = map { "sC4le0$_" } 1 .. $clients;
$redis->lead($_, destination => 'https://example.com/pricing',
             firstName => 'Ada', company => 'Acme') for @LEADS;
my $LEAD = $LEADS[0];

my @edges = map {
    OIE::Nginx->new(workers => 2, http => <<"H", server => <<"S")->start
        oie_zone oie 4m;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=@{[ $bq->key_file ]}
                 endpoint=@{[ $bq->url ]}/bigquery/v2 timeout=2s;
        oie_spool $spools/edge$_ max_size=64m;
        oie_batch rows=50 interval=20ms;
        oie_redis @{[ $redis->addr ]} timeout=200ms;
H
        location /r/ { oie_redirect fallback=$FALLBACK; }
S
} 1 .. 2;

isnt($edges[0]->port, $edges[1]->port,
     'two edges on ports ' . join(' and ', map { $_->port } @edges));

# both edges reach Redis before the counting starts
for my $ng (@edges) {
    my $ok = 0;
    for (1 .. 200) {
        my (undef, $h) = $ng->request('GET', "/r/$LEAD");
        $ok = ($h->{location} // '') =~ /pricing/ and last;
        sleep 0.025;
    }
    ok($ok, 'edge on port ' . $ng->port . ' resolves the lead from the shared Redis');
}

# $clients processes, each sending $n requests alternately to the two
# edges, every event tagged "<tag>-<client>-<i>-<k>", a pageview of the
# client's lead.  Returns the number of requests not answered 204 / 302.
sub traffic {
    my ($tag, $clients, $n, $per) = @_;
    my @pids;
    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $bad = 0;
            for my $i (1 .. $n) {
                my $ng = $edges[($c + $i) % 2];
                my @ev = map {
                    event(visitorId => "$tag-$c-$i-$_", timestamp => $NOW + $i,
                          sessionId => "s-$tag-$c", leadId => $LEADS[$c - 1],
                          url => "https://example.com/p/$tag-$c-$i-$_")
                } 1 .. $per;
                my ($code) = $ng->request('POST', '/t', headers => \%json,
                                          body => body(@ev));
                $bad++ unless $code == 204;
                # and a click through the same balancer now and then
                if ($i % 5 == 0) {
                    my ($rc) = $ng->request('GET', "/r/$LEADS[$c - 1]",
                                            headers => { 'User-Agent' => $UA });
                    $bad++ unless $rc == 302;
                }
            }
            POSIX::_exit($bad > 255 ? 255 : $bad);
        }
        push @pids, $pid;
    }
    my $bad = 0;
    for (@pids) { waitpid $_, 0; $bad += $? >> 8 }
    return $bad;
}

# every tagged event stored once, no row twice
sub stored_once {
    my ($tag, $want, $what) = @_;
    my %seen;
    my $rows = $bq->wait_for(sub {
        my $r = $bq->rows('events');
        %seen = ();
        $seen{ $_->{json}{visitor_id} }++ for grep { $_->{json}{visitor_id} =~ /^\Q$tag\E-/ } @$r;
        keys(%seen) >= $want ? $r : undef;
    }, 30) // $bq->rows('events');
    is(scalar keys %seen, $want, "$what: all $want events stored");
    is(scalar(grep { $_ > 1 } values %seen), 0, "$what: none stored twice");
    my %ids;
    $ids{ $_->{insertId} }++ for @$rows;
    is(scalar(grep { $_ > 1 } values %ids), 0, "$what: insertIds unique");
    return $rows;
}

my $sent = 0;
my $clicks = 0;

subtest 'round robin over two edges: every event once' => sub {
    is(traffic('rr', $clients, $n, $per), 0, 'every request answered');
    $sent += $clients * $n * $per;
    $clicks += $clients * int($n / 5);
    stored_once('rr', $clients * $n * $per, 'two edges');
    is($bq->stats->{duplicatesSkipped}, 0,
       'no insertId sent twice, none shared by the two edges');
    my @req = map { $_->status->{requests} } @edges;
    is($req[0], $req[1], "the balancer split the requests evenly (@req)");
    is($req[0] + $req[1], $clients * $n, 'their counts add up to what was sent');
};

subtest 'BigQuery down: both edges spool; back: both replay, still once' => sub {
    $bq->fault(status => 503, reason => 'backendError', count => 100000);
    is(traffic('down', $clients, $n, $per), 0, 'the site keeps answering');
    $sent += $clients * $n * $per;
    $clicks += $clients * int($n / 5);
    for my $ng (@edges) {
        my $st = $bq->wait_for(sub {
            my $s = $ng->status;
            $s->{spool}{rows_spooled} > 0 && $s->{ring}{events} == 0 ? $s : undef
        }, 20);
        ok($st, 'edge ' . $ng->port . ' spooled '
                . ($st ? $st->{spool}{rows_spooled} : 0) . ' rows');
    }
    is(scalar(grep { $_->{json}{visitor_id} =~ /^down-/ } @{ $bq->rows('events') }), 0,
       'nothing stored while down');
    $bq->clear_faults;
    stored_once('down', $clients * $n * $per, 'after the outage');
};

subtest 'clicks through either edge: each stored once' => sub {
    # clicks spooled in the outage may come back after its events (the
    # replay of a sink that paused; slower under the sanitizers)
    # (the table holds the click_confirmed rows of these leads' pageviews
    # too: wait for the clicks themselves, not for a row count)
    my %lead = map { $_ => 1 } @LEADS;
    my $mine = sub {
        grep { $lead{ $_->{json}{lead_id} // '' }
               && $_->{json}{event_type} eq 'email_click' }
             @{ $bq->rows('email_clicks') }
    };
    $bq->wait_for(sub { $mine->() >= $clicks + 2 }, 60);
    my @mine = $mine->();
    # the readiness probes above made one click on each edge
    is(scalar @mine, $clicks + 2, "$clicks clicks (+2 probes) stored")
        or diag join "\n", map {
            my $st = $_->status // {};
            'edge ' . $_->port . ': accepted ' . ($st->{accepted} // '?')
            . ', dropped ' . ($st->{dropped} // '?') . ', spool '
            . JSON::PP->new->canonical->encode($st->{spool} // {}) . "\n"
            . join "\n", grep { /\[(?:warn|error|crit|alert)\].*oie:|oie: BigQuery uploads paused/ }
                          split /\n/, $_->error_log
        } @edges;
    my %ids;
    $ids{ $_->{json}{event_id} }++ for @mine;
    is(scalar keys %ids, scalar @mine, 'event ids unique across edges');
    is(scalar(grep { $_->{json}{outcome} ne 'ok' } @mine), 0, 'every click resolved');
};

subtest 'the live score in the shared Redis counts both edges' => sub {
    my $want = $sent / $clients;    # every event was a pageview of its lead
    for my $lead (@LEADS) {
        my $got = 0;
        for (1 .. 200) {
            $got = $redis->cmd('HGET', "oie:score:$lead", 'pageviews') // 0;
            last if $got >= $want;
            sleep 0.05;
        }
        ok($got <= $want, "$lead: no pageview counted twice ($got of $want)");
        my $hot = $redis->cmd('ZSCORE', 'oie:hot', $lead);
        ok(defined $hot && $hot > 0, "$lead: in oie:hot, score " . ($hot // 'none'));
        # The live score may give an update up when the counters keep
        # changing under it (optimistic retries, a few at most), and says
        # so in the log; then a shortfall is that, else none is allowed.
        # The warnings (an update given up, a full queue) are written once a
        # second at most, for whichever lead came first: one for any lead
        # stands for all of them.
        my $gave_up = grep {
            $_->error_log =~ /oie: live score(?: of "[^"]*" not updated|: \d+ events waiting)/
        } @edges;
        if (!$gave_up) {
            is($got, $want, "$lead: every pageview of both edges counted");
        } else {
            TODO: {
                local $TODO = 'live score gave updates up under contention '
                              . '(src/ngx_http_oie_live.c, OIE_LIVE_MAX_TRIES)';
                is($got, $want, "$lead: every pageview of both edges counted");
            }
        }
    }
};

$_->quit for @edges;
for my $ng (@edges) {
    unlike($ng->error_log, qr/\[(?:alert|crit|emerg)\]/,
           'edge ' . $ng->port . ': no alert, crit or emerg');
}
done_testing;
