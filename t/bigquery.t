# The BigQuery sink against the stand-in over real HTTP: rows stored field by
# field, tokens, every retryable error, dead letters, an outage with the spool
# growing and draining, kill -9 while spooled, and quit during a stalled upload.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use JSON::PP ();
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::BQTest qw(send_events stored_once journal_lines dead_pid spool_lines spool_file);
use OIE::Gdb;
use OIE::Events qw(event body);

my $bq = OIE::BQStub->start;
my %json = ('Content-Type' => 'application/json');
my $spool_root = tempdir('oie-spool-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n_spool = 0;

sub bq_nginx {
    my (%o) = @_;
    my $spool = $o{spool} // ("$spool_root/" . $n_spool++);
    my $key = $o{key} // $bq->key_file;
    my $extra = $o{sink_extra} // '';
    my $timeout = $o{timeout} // '2s';
    my $ng = OIE::Nginx->new(workers => $o{workers} // 1, http => <<"H");
        oie_zone oie 4m;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=$key endpoint=@{[ $bq->url ]}/bigquery/v2
                 timeout=$timeout $extra;
        oie_spool $spool max_size=64m;
        oie_batch rows=50 interval=20ms;
H
    $ng->{oie_spool} = $spool;
    return $ng;
}


subtest 'happy path: rows stored field by field, insertId = event_id' => sub {
    $bq->reset;
    my $ng = bq_nginx()->start;
    my ($code) = $ng->request('POST', '/t', headers => { %json, 'User-Agent' => 'UA/1' },
        body => body(event(visitorId => 'hp-1', type => 'scroll', depth => 50, leadId => 'aB3dE9x'),
                     event(visitorId => 'hp-2', type => 'custom', name => 'x', props => { a => 1 })));
    is($code, 204, 'accepted');
    my $rows = $bq->wait_rows('events', 2);
    is(scalar @$rows, 2, 'two rows stored');
    my ($r) = grep { $_->{json}{visitor_id} eq 'hp-1' } @$rows;
    is($r->{insertId}, $r->{json}{event_id}, 'insertId is the event_id');
    is($r->{json}{scroll_depth}, 50, 'scroll_depth');
    is($r->{json}{lead_id}, 'aB3dE9x', 'lead_id');
    is($r->{json}{user_agent}, 'UA/1', 'user_agent');
    is($r->{json}{event_time}, '2024-11-24T00:00:00.000Z', 'event_time');
    like($r->{json}{received_at}, qr/Z$/, 'received_at');
    my $st = $ng->status;
    is($st->{sink}{type}, 'bigquery', 'status: sink type');
    is($st->{sink}{rows_accepted}, 2, 'status: rows accepted by BigQuery');
    ok($st->{sink}{token_refreshes} >= 1, 'status: a token was fetched');
    is($st->{sink}{last_error}, undef, 'status: no error');
    is(scalar(() = glob "$ng->{oie_spool}/*.journal"), 0, 'no upload journal left');
    $ng->quit;
};

subtest 'batches reuse one keep-alive connection' => sub {
    $bq->reset;
    my $ng = bq_nginx()->start;
    for (1 .. 5) { send_events($ng, "ka$_", 3); sleep 0.15 }
    stored_once($bq, 'ka1', 3, 'keep-alive');
    my $reqs = [ grep { $_->{kind} eq 'insertAll' } @{ $bq->requests } ];
    my %conns = map { $_->{connection} => 1 } @$reqs;
    ok(@$reqs >= 3, scalar(@$reqs) . ' insertAll requests');
    ok(keys(%conns) < @$reqs, scalar(keys %conns) . ' connections for them');
    $ng->quit;
};

subtest 'expired token: 401, refreshed, nothing lost' => sub {
    $bq->reset;
    my $ng = bq_nginx()->start;
    send_events($ng, 'tok-a', 5);
    stored_once($bq, 'tok-a', 5, 'before expiry');
    my $before = $ng->status->{sink}{token_refreshes};
    $bq->expire_tokens;
    send_events($ng, 'tok-b', 5);
    stored_once($bq, 'tok-b', 5, 'after expiry');
    ok($ng->status->{sink}{token_refreshes} > $before, 'a new token was fetched');
    $ng->quit;
};

for my $f ([status => 429, reason => 'rateLimitExceeded'],
           [status => 500, reason => 'backendError'],
           [status => 502], [status => 503, reason => 'backendError'], [status => 504],
           [status => 403, reason => 'rateLimitExceeded'],
           [action => 'drop'], [action => 'drop', phase => 'after'],
           [action => 'stall'])
{
    my %f = @$f;
    my $name = join ' ', map { "$_=$f{$_}" } sort keys %f;
    subtest "retry after $name" => sub {
        $bq->reset;
        my $ng = bq_nginx()->start;
        $bq->fault(%f, count => 2);
        (my $tag = "r-$name") =~ s/\W/_/g;
        is(send_events($ng, $tag, 10), 10, 'every request answered 204');
        stored_once($bq, $tag, 10, $name);
        my $st = $ng->status;
        ok($st->{sink}{retries} >= 1, "retried ($st->{sink}{retries})");
        like($st->{sink}{last_error}{message} // '', qr/insertAll/, 'last_error says what failed');
        $ng->quit;
    };
}

subtest 'invalid rows go to the dead-letter file, stopped rows are resent' => sub {
    $bq->reset;
    my $spool = "$spool_root/dead";
    my $ng = bq_nginx(spool => $spool)->start;
    $bq->reject(field => 'visitor_id', equals => 'dl-3');
    my ($code) = $ng->request('POST', '/t', headers => \%json,
                              body => body(map { event(visitorId => "dl-$_") } 1 .. 6));
    is($code, 204, 'accepted');
    my $rows = $bq->wait_rows('events', 5);
    my @v = sort map { $_->{json}{visitor_id} } grep { $_->{json}{visitor_id} =~ /^dl-/ } @$rows;
    is_deeply(\@v, [qw(dl-1 dl-2 dl-4 dl-5 dl-6)], 'the 5 valid rows stored once (after "stopped")');
    my $file = "$spool/dead-letter/events.ndjson";
    $bq->wait_for(sub { -s $file }, 5);
    open my $fh, '<', $file or die "no dead-letter file: $!";
    my @dead = map { JSON::PP::decode_json($_) } <$fh>;
    is(scalar @dead, 1, 'one dead letter');
    is($dead[0]{row}{visitor_id}, 'dl-3', 'the invalid row, whole');
    is($dead[0]{table}, 'events', 'its table');
    is($dead[0]{error}[0]{reason}, 'invalid', "BigQuery's reason kept");
    is($ng->status->{sink}{rows_rejected}, 1, 'counted as rejected');
    $ng->quit;
};

subtest 'BigQuery down: spool grows; back: spool drains in order, once' => sub {
    $bq->reset;
    # one upload at a time, so batches keep their order on the way to the
    # spool (with more, uploads in flight when BigQuery fails may swap)
    my $ng = bq_nginx(sink_extra => 'concurrency=1')->start;
    $bq->fault(status => 503, reason => 'backendError', count => 1000);
    is(send_events($ng, 'down', 200), 200, 'the site keeps answering 204');
    my $st = $bq->wait_for(sub { my $s = $ng->status; $s->{spool}{rows_spooled} >= 200 ? $s : undef }, 20);
    ok($st, 'rows went to the spool');
    ok($st->{spool}{files} >= 1 && $st->{spool}{bytes} > 0,
       "spool on disk: $st->{spool}{files} files, $st->{spool}{bytes} bytes");
    is(scalar @{ $bq->rows('events') }, 0, 'nothing stored while down');
    $bq->clear_faults;
    stored_once($bq, 'down', 200, 'after recovery');
    my $rows = $bq->rows('events');
    my @order = map { $_->{json}{visitor_id} =~ /^down-(\d+)$/ ? $1 : () } @$rows;
    is_deeply(\@order, [sort { $a <=> $b } @order], 'replayed in the order they came');
    $st = $bq->wait_for(sub { my $s = $ng->status; $s->{spool}{files} == 0 ? $s : undef }, 10);
    ok($st && $st->{spool}{rows_replayed} >= 1, 'spool files deleted once replayed');
    $ng->quit;
};

subtest 'uploads in flight when BigQuery fails pause the sink once, not once each' => sub {
    $bq->reset;
    # four uploads of 50 rows out at once (the default concurrency=4)
    my $ng = bq_nginx()->start;
    $bq->fault(status => 503, reason => 'backendError', count => 100000);
    my $ok = 0;
    for my $r (1 .. 2) {
        my ($code) = $ng->request('POST', '/t', headers => \%json,
            body => body(map { event(visitorId => "once-" . ($r * 100 + $_)) } 1 .. 100));
        $ok++ if $code == 204;
    }
    is($ok, 2, 'both batches answered 204');
    # every upload failed its four attempts: all 200 rows are spooled
    my $st = $bq->wait_for(sub { my $s = $ng->status; $s->{spool}{rows_spooled} >= 200 ? $s : undef }, 30);
    ok($st, 'the rows of all four uploads went to the spool');
    # BigQuery is back; a probe still retrying succeeds on its next try
    $bq->clear_faults;
    # The four uploads failed within 3.5 s of each other, each after its
    # own backoffs.  Had each failure doubled the pause, the log would say
    # 2000 4000 8000 16000 by now.  Only the probe sent 2 s after the first
    # pause may have doubled it once (it fails 1.75 s after it starts at
    # the soonest, so on a slow machine it may have by now).
    my @pauses = $ng->error_log =~ /BigQuery uploads paused for (\d+) ms/g;
    like("@pauses", qr/^2000(?: 4000)?$/,
         'paused 2 s once (and doubled by a failed probe at most): the other uploads in flight did not lengthen it');
    stored_once($bq, 'once', 200, 'after the pause')
        or diag(JSON::PP->new->canonical->encode($ng->status) . "\n"
                . join "\n", grep { /oie:/ } split /\n/, $ng->error_log);
    $ng->quit;
};

subtest 'full ring overflows into the spool, nothing dropped' => sub {
    $bq->reset;
    my $ng = OIE::Nginx->new(workers => 1, http => <<"H")->start;
        oie_zone oie 1m;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=@{[ $bq->key_file ]} endpoint=@{[ $bq->url ]}/bigquery/v2
                 timeout=5s concurrency=1;
        oie_spool $spool_root/overflow;
        oie_batch rows=50 interval=20ms;
H
    # slow uploads (healthy, just slow): the ring fills while they crawl
    $bq->fault(action => 'delay', delay_ms => 1500, count => 3);
    my $ok = 0;
    for my $i (1 .. 60) {
        my ($code) = $ng->request('POST', '/t', headers => \%json,
            body => body(map { event(visitorId => "of-$i-$_", title => 'x' x 400) } 1 .. 50));
        $ok++ if $code == 204;
    }
    is($ok, 60, 'every request answered 204');
    my $st = $ng->status;
    ok($st->{spool}{rows_spooled} > 0, "ring overflowed into the spool ($st->{spool}{rows_spooled} rows)");
    is($st->{dropped}, 0, 'nothing dropped');
    my $rows = $bq->wait_for(sub { my $r = $bq->rows('events'); @$r >= 3000 ? $r : undef }, 60);
    my %seen;
    $seen{$_->{json}{visitor_id}}++ for @{ $rows || [] };
    is(scalar keys %seen, 3000, 'all 3000 events stored');
    is(scalar(grep { $_ > 1 } values %seen), 0, 'none twice');
    $ng->quit;
};

subtest 'kill -9 while spooled: restart replays' => sub {
    $bq->reset;
    my $spool = "$spool_root/kill";
    my $ng = bq_nginx(spool => $spool, workers => 2)->start;
    $bq->fault(status => 503, count => 100000);
    send_events($ng, 'kill', 50);
    $bq->wait_for(sub { $ng->status->{spool}{rows_spooled} >= 50 }, 20);
    $ng->kill9;
    $bq->clear_faults;
    $ng->start;
    stored_once($bq, 'kill', 50, 'after kill -9 and restart');
    $ng->quit;
};

subtest 'kill -9 of a worker with uploads in flight: its journal is replayed' => sub {
    $bq->reset;
    my $spool = "$spool_root/journal-kill";
    # uploads that hang longer than the test: the rows stay in flight
    my $ng = bq_nginx(spool => $spool, timeout => '120s')->start;
    my $master = $ng->pid;
    my $worker = $bq->wait_for(sub { ($ng->worker_pids)[0] }, 10);
    $bq->fault(action => 'stall', count => 100000);
    is(send_events($ng, 'jk', 20), 20, 'accepted');
    # the rows left the ring for an upload that hangs: they are in the
    # worker's journal, one "<table> <row>" line each
    my @lines = journal_lines($bq, $spool, $worker, 20);
    is(scalar(grep { /^events \{"event_id":"[^"]+".*"visitor_id":"jk-\d+"/ } @lines), 20,
       'the 20 rows in flight are in the journal');
    my $st = $ng->status;
    is($st->{ring}{events}, 0, 'and no longer in the ring');
    is($st->{spool}{rows_spooled}, 0, 'nor in the spool');
    # (the uploads already sent stay held: the fault is taken on arrival)
    $bq->clear_faults;
    kill 'KILL', $worker;
    my $new = $bq->wait_for(sub { my ($w) = $ng->worker_pids; $w && $w != $worker ? $w : undef }, 20);
    ok($new, 'the master started a worker in its place');
    is($ng->pid, $master, 'the same master');
    stored_once($bq, 'jk', 20, 'after the worker was killed');
    like($ng->error_log, qr/upload journal of process $worker returned for replay/,
         'the new worker took over the journal');
    $bq->wait_for(sub { !glob("$spool/*.journal") && !glob("$spool/*.spool*") }, 10);
    is(scalar(() = glob "$spool/*.journal"), 0, 'no journal left');
    is(scalar(() = glob "$spool/*.spool*"), 0, 'and no spool file');
    $ng->quit;
};

subtest 'kill -9 of a worker that took a batch but had not written its journal: taken again' => sub {
    $bq->reset;
    my $spool = "$spool_root/take-kill";
    my $ng = bq_nginx(spool => $spool)->start;
    my $worker = $bq->wait_for(sub { ($ng->worker_pids)[0] }, 10);
    my $gdb = OIE::Gdb->stop_at($worker, 'ngx_http_oie_bq_take', $ng->prefix);
    ok($gdb, 'gdb (scripts/install-deps.sh) attached to the worker, breakpoint where the sink takes a batch')
        or return;
    # one request: its 20 events enter the ring at once, one batch takes them
    my ($code) = $ng->request('POST', '/t', headers => \%json,
                              body => body(map { event(visitorId => "gk-$_") } 1 .. 20));
    is($code, 204, 'a request of 20 events answered');
    ok($gdb->wait_stopped(30), 'the worker stopped with the batch out of the ring, no journal yet')
        or diag($gdb->log);
    is(scalar(() = glob "$spool/*.journal"), 0, 'no journal written');
    $gdb->kill;
    stored_once($bq, 'gk', 20, 'after the worker was killed');
    like($ng->error_log,
         qr/oie: 20 rows taken from the ring by process $worker, which ended before they were delivered or on disk, are taken again/,
         'the new worker took the 20 held rows again');
    $ng->quit;
};

subtest 'a running worker takes over the journal of a process that is gone' => sub {
    # a worker killed while it exits after a reload is not respawned: the
    # workers that run find its journal in their periodic look
    $bq->reset;
    my $spool = "$spool_root/journal-adopt";
    my $ng = bq_nginx(spool => $spool, workers => 2)->start;
    send_events($ng, 'ja-warm', 1);
    stored_once($bq, 'ja-warm', 1, 'warm-up');
    my $dead = dead_pid();
    my @rows = spool_lines('ja', $dead, 7);
    my $journal = "$spool/20240101T000000Z-$dead-000001.journal";
    open my $fh, '>', $journal or die "$journal: $!";
    # the last line was being written when the process died
    print $fh @rows, 'events {"event_id":"ja-cut","visitor_';
    close $fh;
    ok(!$ng->status->{spool}{files}, 'a journal is not counted as a spool file');
    stored_once($bq, 'ja', 7, 'the journal of a process that is gone');
    ok(!-e $journal, 'the journal is gone');
    like($ng->error_log, qr/upload journal of process $dead returned for replay/, 'logged');
    ok(!grep({ ($_->{json}{event_id} // '') eq 'ja-cut' } @{ $bq->rows('events') }),
       'its cut last line is not sent');
    my $st = $bq->wait_for(sub { my $x = $ng->status; $x->{spool}{files} == 0 ? $x : undef }, 10);
    ok($st && $st->{spool}{rows_replayed} >= 7, 'replayed from the spool');
    $ng->quit;
};

subtest 'a spool file the count missed is replayed all the same' => sub {
    # the spool's byte count is shared and kept by adding; a file that came
    # without being counted (here: put there by hand, as a process racing a
    # respawned worker's count could leave it) must not wait for traffic
    $bq->reset;
    my $spool = "$spool_root/uncounted";
    my $ng = bq_nginx(spool => $spool, workers => 2)->start;
    send_events($ng, 'uc-warm', 1);
    stored_once($bq, 'uc-warm', 1, 'warm-up');
    spool_file($spool, 'uc', 5);
    stored_once($bq, 'uc', 5, 'an uncounted spool file, with no traffic');
    like($ng->error_log, qr/the spool holds \d+ bytes, counted 0/, 'logged');
    my $st = $bq->wait_for(sub { my $x = $ng->status; $x->{spool}{files} == 0 ? $x : undef }, 10);
    ok($st && $st->{spool}{rows_replayed} >= 5, 'replayed from the spool');
    $ng->quit;
};

subtest 'quit during a stalled upload: spooled, then replayed at start' => sub {
    $bq->reset;
    my $spool = "$spool_root/stall";
    my $ng = bq_nginx(spool => $spool)->start;
    $bq->fault(action => 'stall', count => 100);
    send_events($ng, 'stall', 20);
    sleep 0.3;
    my $t0 = time;
    $ng->quit(30);
    my $took = time - $t0;
    ok(!$ng->pid, sprintf('nginx exited in %.1fs despite the stall', $took));
    ok($took < 15, 'bounded by the upload timeout');
    $bq->clear_faults;
    $bq->reset;
    $ng->start;
    stored_once($bq, 'stall', 20, 'replayed after restart');
    $ng->quit;
};

subtest 'worker_shutdown_timeout cuts a long stalled upload short' => sub {
    $bq->reset;
    my $spool = "$spool_root/wst";
    my $ng = OIE::Nginx->new(workers => 1, main => 'worker_shutdown_timeout 1s;', http => <<"H")->start;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=@{[ $bq->key_file ]} endpoint=@{[ $bq->url ]}/bigquery/v2
                 timeout=60s;
        oie_spool $spool;
        oie_batch rows=50 interval=20ms;
H
    $bq->fault(action => 'stall', count => 100);
    send_events($ng, 'wst', 10);
    sleep 0.5;
    my $t0 = time;
    $ng->quit(30);
    my $took = time - $t0;
    ok(!$ng->pid, sprintf('nginx exited in %.1fs', $took));
    ok($took < 10, 'well before the 60s upload timeout');
    $bq->clear_faults;
    $bq->reset;
    $ng->start;
    stored_once($bq, 'wst', 10, 'spooled at exit, replayed after restart');
    $ng->quit;
};

subtest 'credentials=metadata takes the token from the metadata server' => sub {
    $bq->reset;
    my $ng = OIE::Nginx->new(workers => 1, http => <<"H")->start;
        oie_sink bigquery project=oie-test dataset=outbound_sales credentials=metadata
                 endpoint=@{[ $bq->url ]}/bigquery/v2
                 token_endpoint=@{[ $bq->url ]}/computeMetadata/v1/instance/service-accounts/default/token;
        oie_spool $spool_root/meta;
        oie_batch interval=20ms;
H
    send_events($ng, 'meta', 3);
    stored_once($bq, 'meta', 3, 'metadata token');
    $ng->quit;
};

subtest 'bad credentials fail nginx -t with a clear message' => sub {
    my $dir = tempdir(CLEANUP => 1);
    my %cases = (
        'missing.json'  => [undef, qr/cannot read credentials .*missing\.json/],
        'bad.json'      => ['{not json', qr/cannot read credentials .*bad\.json/],
        'user.json'     => ['{"type":"authorized_user"}', qr/is not a service-account key/],
        'nofields.json' => ['{"type":"service_account"}', qr/lacks client_email, private_key or private_key_id/],
        'nokey.json'    => ['{"type":"service_account","client_email":"a@b","private_key_id":"k","private_key":"nope"}',
                            qr/not an RSA key in PEM form/],
    );
    for my $name (sort keys %cases) {
        my ($text, $re) = @{ $cases{$name} };
        if (defined $text) { open my $fh, '>', "$dir/$name" or die; print $fh $text; close $fh }
        my $ng = bq_nginx(key => "$dir/$name");
        my ($rc, $out) = $ng->_run('-t');
        isnt($rc, 0, "$name: nginx -t fails");
        like($out, $re, "$name: says why");
    }
    my $ng = OIE::Nginx->new(http => "oie_sink bigquery project=p dataset=d;");
    my ($rc, $out) = $ng->_run('-t');
    like($out, qr/needs project=, dataset= and credentials=/, 'missing parameters named');
};

$bq->stop;
done_testing();
