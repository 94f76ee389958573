# oie_drain_process on: nginx's helper process (the cache manager) drains
# the ring and uploads, the workers only take events.  Against the BigQuery
# stand-in over real HTTP: who talks to BigQuery, a full ring, an outage,
# the helper killed with -9 and respawned, quit and reload mid-upload, the
# file sink, and the directive's errors.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::BQTest qw(send_events stored_once journal_lines spool_file);
use OIE::Events qw(event body sink_rows);

my $bq = OIE::BQStub->start;
my %json = ('Content-Type' => 'application/json');
my $spool_root = tempdir('oie-dp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n_spool = 0;

# under valgrind process titles are not set: the helper cannot be told
# from the workers by its title, which most checks here need
plan skip_all => 'process titles are not set under valgrind'
    if $ENV{TEST_NGINX_USE_VALGRIND};

sub dp_nginx {
    my (%o) = @_;
    my $spool = $o{spool} // ("$spool_root/" . $n_spool++);
    my $timeout = $o{timeout} // '2s';
    my $extra = $o{sink_extra} // '';
    my $zone = $o{zone} // '4m';
    my $ng = OIE::Nginx->new(workers => $o{workers} // 1, http => <<"H");
        oie_zone oie $zone;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=@{[ $bq->key_file ]} endpoint=@{[ $bq->url ]}/bigquery/v2
                 timeout=$timeout $extra;
        oie_spool $spool max_size=64m;
        oie_batch rows=50 interval=20ms;
        oie_drain_process on;
H
    $ng->{oie_spool} = $spool;
    return $ng;
}

# the helper's pid, once the master has started it
sub helper {
    my $ng = shift;
    return $bq->wait_for(sub { my @h = $ng->helper_pids; @h == 1 ? $h[0] : undef }, 10);
}


# how many TCP connections to the stand-in each of @pids holds
sub conns_to_bq {
    my (@pids) = @_;
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        <$fh>;
        while (<$fh>) {
            my @c = split ' ';
            my ($port) = $c[2] =~ /:([0-9A-F]+)$/;
            $inode{$c[9]} = 1 if hex($port) == $bq->port && $c[3] eq '01';
        }
    }
    my %n = map { $_ => 0 } @pids;
    for my $pid (@pids) {
        for my $fd (glob "/proc/$pid/fd/*") {
            my $l = readlink($fd) // next;
            $n{$pid}++ if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return \%n;
}

subtest 'two workers: the helper alone fetches the token and uploads' => sub {
    $bq->reset;
    my $ng = dp_nginx(workers => 2)->start;
    my $helper = helper($ng);
    ok($helper, "the master started its helper (pid @{[ $helper // '?' ]})") or return;
    is(send_events($ng, 'dp', 30), 30, 'thirty events answered 204');
    stored_once($bq, 'dp', 30, 'uploaded by the helper');
    my @workers = $ng->worker_pids;
    is(scalar @workers, 2, 'two workers');
    my $conns = conns_to_bq($helper, @workers);
    ok($conns->{$helper} >= 1, "the helper holds its keep-alive connection to BigQuery ($conns->{$helper})");
    is($conns->{$_}, 0, "worker $_ holds none") for @workers;
    my @tokens = grep { $_->{kind} eq 'token' } @{ $bq->requests };
    is(scalar @tokens, 1, 'one token fetched (by the helper; the workers fetch none)');
    like($ng->error_log, qr/\[notice\] $helper#\d+: oie: the ring is drained in this process/,
         'the helper said so in the error log');
    unlike($ng->error_log, qr/oie: the drain process has not drained/,
           'no worker stood in while the helper started (they give it 5 s)');
    my $st = $ng->status;
    is($st->{sink}{rows_accepted}, 30, 'a worker\'s oie_status counts the helper\'s uploads');
    is($st->{ring}{events}, 0, 'the ring is empty');
    is($st->{drain}{process}, $helper, 'oie_status names the helper');
    ok($st->{drain}{idle_ms} >= 0 && $st->{drain}{idle_ms} < 5000,
       "and when it last drained ($st->{drain}{idle_ms} ms ago; oie_batch interval=20ms)");
    my (undef, undef, $prom) = $ng->request('GET', '/status?format=prometheus');
    like($prom, qr/^oie_drain_idle_seconds \d+\.\d{3}$/m, 'the Prometheus form has oie_drain_idle_seconds');
    $ng->quit;
    ok(!$ng->pid, 'quit');
};

subtest 'a full ring: the workers overflow into the spool, the helper replays it' => sub {
    $bq->reset;
    my $ng = dp_nginx(zone => '1m', timeout => '5s', sink_extra => 'concurrency=1')->start;
    helper($ng);
    # slow uploads (healthy, just slow): the ring fills while they crawl
    $bq->fault(action => 'delay', delay_ms => 1500, count => 3);
    my $ok = 0;
    for my $i (1 .. 60) {
        my ($code) = $ng->request('POST', '/t', headers => \%json,
            body => body(map { event(visitorId => "ov-" . (($i - 1) * 50 + $_), title => 'x' x 400) } 1 .. 50));
        $ok++ if $code == 204;
    }
    is($ok, 60, 'every request answered 204');
    my $st = $ng->status;
    ok($st->{spool}{rows_spooled} > 0, "the ring overflowed into the spool ($st->{spool}{rows_spooled} rows)");
    is($st->{dropped}, 0, 'nothing dropped');
    stored_once($bq, 'ov', 3000, 'ring and spool');
    $ng->quit;
};

subtest 'BigQuery down: the spool grows; back: the helper replays it once' => sub {
    $bq->reset;
    my $ng = dp_nginx(sink_extra => 'concurrency=1')->start;
    helper($ng);
    $bq->fault(status => 503, reason => 'backendError', count => 1000);
    is(send_events($ng, 'down', 100), 100, 'the site keeps answering 204');
    ok($bq->wait_for(sub { $ng->status->{spool}{rows_spooled} >= 100 }, 20), 'rows went to the spool');
    is(scalar @{ $bq->rows('events') }, 0, 'nothing stored while down');
    $bq->clear_faults;
    stored_once($bq, 'down', 100, 'after recovery');
    ok($bq->wait_for(sub { $ng->status->{spool}{files} == 0 }, 10), 'the spool files are gone once replayed');
    $ng->quit;
};

subtest 'kill -9 of the helper with uploads in flight: its successor replays the journal' => sub {
    $bq->reset;
    my $spool = "$spool_root/helper-kill";
    my $ng = dp_nginx(spool => $spool, timeout => '120s', workers => 2)->start;
    my $master = $ng->pid;
    my $helper = helper($ng) or return fail('no helper');
    $bq->fault(action => 'stall', count => 100000);
    is(send_events($ng, 'hk', 20), 20, 'accepted');
    my @lines = journal_lines($bq, $spool, $helper, 20);
    is(scalar @lines, 20, 'the 20 rows in flight are in the helper\'s journal');
    $bq->clear_faults;
    kill 'KILL', $helper;
    my $new = $bq->wait_for(sub { my ($h) = $ng->helper_pids; $h && $h != $helper ? $h : undef }, 20);
    ok($new, 'the master started a new helper');
    is($ng->pid, $master, 'the same master');
    ok($bq->wait_for(sub { ($ng->status->{drain}{process} // 0) == $new }, 10),
       'oie_status names the new helper');
    stored_once($bq, 'hk', 20, 'after the helper was killed');
    like($ng->error_log, qr/upload journal of process $helper returned for replay/,
         'the journal was taken over');
    ok($bq->wait_for(sub { !glob("$spool/*.journal") && !glob("$spool/*.spool*") }, 10),
       'no journal or spool file left');
    is(send_events($ng, 'hk2', 5), 5, 'more events');
    stored_once($bq, 'hk2', 5, 'through the new helper');
    $ng->quit;
};

subtest 'quit during a stalled upload: the helper spools it, restart replays' => sub {
    $bq->reset;
    my $spool = "$spool_root/quit";
    my $ng = dp_nginx(spool => $spool, timeout => '60s')->start;
    my $helper = helper($ng);
    $bq->fault(action => 'stall', count => 100);
    is(send_events($ng, 'q', 20), 20, 'accepted');
    ok($bq->wait_for(sub { my @j = glob "$spool/*-$helper-*.journal"; @j }, 10), 'an upload is in flight');
    my $t0 = time;
    $ng->quit(30);
    my $took = time - $t0;
    ok(!$ng->pid, sprintf('nginx exited in %.1fs despite the stall', $took));
    ok(!kill(0, $helper), 'the helper is gone');
    is(scalar(() = glob "$spool/*.journal"), 0, 'no journal left: the helper spooled its upload');
    my $lines = 0;
    for my $f (glob "$spool/*.spool") { open my $fh, '<', $f or next; $lines++ while <$fh> }
    is($lines, 20, 'the 20 rows are in .spool files');
    $bq->clear_faults;
    $bq->reset;
    $ng->start;
    stored_once($bq, 'q', 20, 'replayed after restart');
    $ng->quit;
};

subtest 'a stopped helper: the workers drain until it drains again' => sub {
    $bq->reset;
    my $ng = dp_nginx(workers => 2)->start;
    my $helper = helper($ng) or return fail('no helper');
    is(send_events($ng, 'st', 10), 10, 'accepted');
    stored_once($bq, 'st', 10, 'through the helper');
    kill 'STOP', $helper;
    is(send_events($ng, 'st', 20, 11), 20, 'accepted while the helper is stopped');
    stored_once($bq, 'st', 30, 'the workers stood in after 5 s');
    like($ng->error_log, qr/\[warn\] \d+#\d+: oie: the drain process has not drained for \d+ ms: this worker drains until it does/,
         'a worker said it stands in');
    my $st = $ng->status;
    ok($st->{drain}{idle_ms} >= 5000, "oie_status shows the helper idle for $st->{drain}{idle_ms} ms");
    kill 'CONT', $helper;
    ok($bq->wait_for(sub { $ng->status->{drain}{idle_ms} < 1000 }, 10), 'the helper drains again');
    is(send_events($ng, 'st', 10, 31), 10, 'more events');
    stored_once($bq, 'st', 40, 'after the helper came back');
    ok($bq->wait_for(sub { $ng->error_log =~ /oie: the drain process $helper drains again: this worker leaves the ring to it/ }, 10),
       'the workers left the ring to it again');
    $ng->quit;
};

subtest 'a worker that stood in leaves the spool to the helper once it is back' => sub {
    $bq->reset;
    my $spool = "$spool_root/aside";
    my $ng = dp_nginx(spool => $spool, sink_extra => 'concurrency=1')->start;
    my $helper = helper($ng) or return fail('no helper');
    my ($worker) = $ng->worker_pids;
    kill 'STOP', $helper;
    ok($bq->wait_for(sub { $ng->error_log =~ / $worker#\d+: oie: the drain process has not drained/ }, 20),
       'the helper stopped: the worker stands in');
    # six spool files left by a process that is gone, and BigQuery slow
    # (700 ms an upload of a file's 10 rows): the worker replays them one
    # by one, and the helper comes back meanwhile
    $bq->fault(action => 'delay', delay_ms => 700, count => 10000);
    spool_file($spool, 'sb', 10, 1 + 10 * $_, 1 + $_) for 0 .. 5;
    my $claim = qr/ $worker#\d+: oie: replaying spool file/;
    ok($bq->wait_for(sub { $ng->error_log =~ $claim }, 20), 'the worker replays the spool');
    kill 'CONT', $helper;
    my $left = scalar(() = glob "$spool/*.spool*");
    my $back = qr/ $worker#\d+: oie: the drain process $helper drains again[^\n]*\n/;
    ok($bq->wait_for(sub { $ng->error_log =~ $back }, 10), 'the worker left the ring to the helper again');
    stored_once($bq, 'sb', 60, 'the spool, by the worker and the helper');
    ok($bq->wait_for(sub { !glob "$spool/*.spool*" }, 20), 'the spool is empty');
    ok($left >= 3, "$left spool files were left when the helper came back");
    my ($after) = $ng->error_log =~ /$back(.*)\z/s;
    ok(defined $after && $after !~ $claim, 'once the helper was back the worker claimed no other spool file');
    $ng->quit;
};

subtest 'reload while events flow: a new helper, nothing lost or twice' => sub {
    $bq->reset;
    my $ng = dp_nginx(workers => 2)->start;
    my $old = helper($ng);
    is(send_events($ng, 'rl', 50), 50, 'before the reload');
    $ng->reload;
    my $new = $bq->wait_for(sub { my @h = grep { $_ != $old } $ng->helper_pids; @h ? $h[0] : undef }, 10);
    ok($new, 'a new helper after the reload');
    is(send_events($ng, 'rl', 50, 51), 50, 'after the reload');
    stored_once($bq, 'rl', 100, 'across the reload');
    ok($bq->wait_for(sub { !kill(0, $old) }, 10), 'the old helper is gone');
    $ng->quit;
};

subtest 'turned on and off by reload' => sub {
    $bq->reset;
    my $ng = dp_nginx(workers => 2);
    my $on = $ng->{http};
    (my $off = $on) =~ s/oie_drain_process on;/oie_drain_process off;/ or die;
    $ng->{http} = $off;
    $ng->write_conf;
    $ng->start;
    is(send_events($ng, 'sw', 20), 20, 'off: accepted');
    is(scalar(() = $ng->helper_pids), 0, 'off: no helper');
    $ng->{http} = $on;
    $ng->write_conf;
    $ng->reload;
    my $helper = helper($ng);
    ok($helper, 'on after a reload: the helper runs');
    is(send_events($ng, 'sw', 20, 21), 20, 'on: accepted');
    stored_once($bq, 'sw', 40, 'off, then on');
    ok($bq->wait_for(sub { ($ng->status->{drain}{process} // 0) == $helper }, 10), 'the helper drains');
    $ng->{http} = $off;
    $ng->write_conf;
    $ng->reload;
    ok($bq->wait_for(sub { !kill(0, $helper) }, 10), 'off again after a reload: the helper is gone');
    is(send_events($ng, 'sw', 20, 41), 20, 'off again: accepted');
    stored_once($bq, 'sw', 60, 'on, then off again');
    $ng->quit;
};

subtest 'file sink: the helper writes the NDJSON files' => sub {
    my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
        oie_sink file $EVENTS;
        oie_batch rows=50 interval=20ms;
        oie_drain_process on;
H
    my $helper = helper($ng);
    ok($helper, 'the helper runs');
    is(send_events($ng, 'fs', 40), 40, 'accepted');
    $bq->wait_for(sub { $ng->status->{ring}{events} == 0 }, 10);
    $ng->quit;
    my %seen;
    $seen{$_->{visitor_id}}++ for sink_rows($ng->events);
    is(scalar(grep { /^fs-\d+$/ } keys %seen), 40, 'all 40 events in the files');
    is(scalar(grep { $_ > 1 } values %seen), 0, 'none twice');
};

subtest 'master_process off: the one process drains' => sub {
    $bq->reset;
    my $ng = dp_nginx(workers => 'auto');
    $ng->{main} = 'master_process off;';
    $ng->write_conf;
    $ng->start;
    is(send_events($ng, 'single', 10), 10, 'accepted');
    stored_once($bq, 'single', 10, 'no helper, no master');
    is(scalar(() = $ng->helper_pids), 0, 'no helper process');
    is($ng->status->{drain}{process}, undef, 'oie_status: no helper');
    $ng->quit;
};

subtest 'oie_drain_process takes on or off' => sub {
    my $ng = OIE::Nginx->new(http => "oie_drain_process yes;");
    my ($rc, $out) = $ng->_run('-t');
    isnt($rc, 0, 'nginx -t fails on "yes"');
    like($out, qr/invalid value "yes" in "oie_drain_process" directive, it must be "on" or "off"/,
         'says why');
    $ng = OIE::Nginx->new(http => "oie_drain_process off;");
    ($rc, $out) = $ng->_run('-t');
    is($rc, 0, 'off is accepted') or diag($out);
    $ng->start;
    ok(!exists $ng->status->{drain}, 'off: oie_status has no drain object');
    is(scalar(() = $ng->helper_pids), 0, 'and nginx starts no helper');
    $ng->quit;
};

$bq->stop;
done_testing();
