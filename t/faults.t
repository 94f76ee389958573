# Fault injection under load, with the production sink (BigQuery, here the
# stand-in) and the spool: Redis killed and restarted, BigQuery failing,
# stalling, dropping connections and recovering, the spool's disk full,
# nginx -s reload every second, a worker killed with SIGKILL, nginx -s quit.
#
# For each fault: the site keeps answering (every request gets its answer;
# only a killed worker's own connections or a quitting server's refused
# ones may go unanswered), and afterwards every event or click that got a
# 204 or 302 is stored exactly once (compared by id), or counted in the
# "dropped" counter when ring and spool were both full.  The table of
# accepted / delivered / lost per fault is printed at the end.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::BQStub;
use OIE::Redis;
use OIE::Events qw(event body);

$SIG{PIPE} = 'IGNORE';

# a private copy of the module: make rewrites build/*.so in place, which
# would pull the code from under these long-running workers
my $tmp = tempdir('oie-faults-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_LOAD_MODULES} = join ' ', map {
    my $m = $_;
    if ($m =~ m{/build[^/]*/[^/]+\.so$}) {
        (my $copy = $m) =~ s{.*/}{$tmp/};
        system('cp', $m, $copy) == 0 or die "cp $m: $?";
        $m = $copy;
    }
    $m;
} OIE::Nginx::modules();

my $bq = OIE::BQStub->start;
my $redis = OIE::Redis->new;
my $FALLBACK = 'https://fallback.example/';
my @LEADS = map { sprintf 'fLt%04d', $_ } 1 .. 20;
my @table;
our $nginx_count = 0;

sub load_leads {
    $redis->lead($_, destination => "https://site.example/$_") for @LEADS;
}
load_leads();

sub nginx {
    my (%o) = @_;
    my $spool = $o{spool} // "$tmp/spool-" . ++$main::nginx_count;
    my $key = $bq->key_file;
    my $url = $bq->url;
    my $P = $redis->port;
    return OIE::Nginx->new(workers => 2, http => <<"H", server => <<"S");
        oie_zone oie $o{zone};
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=$key endpoint=$url/bigquery/v2 timeout=1s;
        oie_spool $spool max_size=$o{spool_max};
        oie_batch rows=200 interval=20ms;
        oie_redis 127.0.0.1:$P timeout=100ms;
H
        location /r/ { oie_redirect fallback=$FALLBACK; }
S
}

# one request on a fresh connection with a bound on the whole exchange
# (a worker that dies holding it must not hang the test): the status, 0
# for no answer
sub req {
    my ($ng, $method, $path, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port,
                                  Timeout => 5) or return 0;
    my $body = $o{body} // '';
    my $h = join '', map { "$_: $o{headers}{$_}\r\n" } sort keys %{ $o{headers} // {} };
    $h .= 'Content-Length: ' . length($body) . "\r\n" if $method eq 'POST';
    syswrite($s, "$method $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n$h\r\n$body");
    my $sel = IO::Select->new($s);
    my $resp = '';
    my $deadline = time + ($o{timeout} // 10);
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    return wantarray ? (($resp =~ m{^HTTP/1\.\d (\d+)}) ? $1 : 0, $resp)
                     : (($resp =~ m{^HTTP/1\.\d (\d+)}) ? $1 : 0);
}

sub status_of {
    my ($ng) = @_;
    my ($code, $resp) = req($ng, 'GET', '/status');
    return undef unless $code == 200;
    my ($body) = $resp =~ /\r\n\r\n(.*)\z/s;
    return eval { JSON::PP::decode_json($body) };
}

# one client: $n requests (or until $stop exists), ids "<tag>-<i>"; each
# line of $out is "<id> <status>" (status 0: no answer)
sub client {
    my ($ng, $tag, $n, $kind, $out, $stop) = @_;
    open my $fh, '>', $out or die "$out: $!";
    $fh->autoflush(1);
    my $title = 't' x ($kind eq 'fat' ? 400 : 10);
    for my $i (1 .. $n) {
        last if $stop && -e $stop;
        my $id = "$tag-$i";
        my ($code);
        if ($kind =~ /^click/) {
            my $lead = $LEADS[$i % @LEADS];
            $code = req($ng, 'GET', "/r/$lead", headers => { 'User-Agent' => $id });
        } else {
            $code = req($ng, 'POST', '/t',
                headers => { 'Content-Type' => 'application/json' },
                body => body(event(visitorId => $id, title => $title)));
        }
        print $fh "$id ", ($code || 0), "\n";
        # the server went away on purpose (quit): stop knocking
        last if !$code && $kind =~ /!$/;
    }
    close $fh;
}

# runs the clients while $inject runs; returns { id => status }
sub under_load {
    my ($ng, $name, $clients, $inject, %o) = @_;
    my $dir = "$tmp/$name";
    mkdir $dir;
    $main::t0 = time;
    my $stop = "$dir/stop";
    my @pids;
    for my $c (@$clients) {
        my ($tag, $n, $kind) = @$c;
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            client($ng, $tag, $n, $kind, "$dir/$tag", $stop);
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    $inject->();
    if (!$o{run_out}) {
        open my $s, '>', $stop;
        close $s;
    }
    waitpid $_, 0 for @pids;
    my %status;
    for my $c (@$clients) {
        open my $fh, '<', "$dir/$c->[0]" or next;
        while (<$fh>) {
            my ($id, $code) = split;
            $status{$id} = $code;
        }
    }
    return \%status;
}

# what the stand-in stored for these ids: { id => times }, and in list
# context also { insertId => times } of those rows (rows without one count
# under "")
sub stored {
    my ($prefix) = @_;
    my (%seen, %by_insert_id);
    for my $t (['events', 'visitor_id'], ['email_clicks', 'user_agent']) {
        for my $r (@{ $bq->rows($t->[0]) }) {
            my $id = $r->{json}{ $t->[1] } // next;
            next unless index($id, $prefix) == 0;
            $seen{$id}++;
            $by_insert_id{ $r->{insertId} // '' }++;
        }
    }
    return wantarray ? (\%seen, \%by_insert_id) : \%seen;
}

# waits until every accepted id is stored (bounded), then judges
sub judge {
    my ($ng, $name, $prefix, $status, %o) = @_;
    my @accepted = grep { $status->{$_} == 204 || $status->{$_} == 302 } keys %$status;
    my @other = grep { $status->{$_} != 204 && $status->{$_} != 302 && $status->{$_} != 0 }
                keys %$status;
    my @unanswered = grep { $status->{$_} == 0 } keys %$status;
    my $dropped = $o{dropped} ? $o{dropped}->() : 0;
    my $seen;
    my $deadline = time + ($o{wait} // 60);
    while (1) {
        $seen = stored($prefix);
        my $missing = grep { !$seen->{$_} } @accepted;
        last if $missing <= $dropped || time > $deadline;
        sleep 0.25;
        $dropped = $o{dropped}->() if $o{dropped};
    }
    my $by_insert_id;
    ($seen, $by_insert_id) = stored($prefix);
    my $delivered = grep { $seen->{$_} } @accepted;
    my $twice = grep { $_ > 1 } values %$seen;
    # an unanswered request (its worker killed, the server quitting) may
    # have been taken before its answer was lost: stored or not, either is
    # right; anything else stored without a 204 or 302 is a stray
    my $strays = grep { !exists $status->{$_}
                        || ($status->{$_} != 204 && $status->{$_} != 302 && $status->{$_} != 0) }
                 keys %$seen;
    my $unanswered_stored = grep { $seen->{$_} } @unanswered;
    my $lost = @accepted - $delivered;

    ok(@accepted > 0, "$name: load was accepted (" . scalar(@accepted) . ')');
    is(scalar @other, 0, "$name: every answer was 204 or 302")
        or diag("other answers: " . join ', ', map { "$_=$status->{$_}" } @other[0 .. ($#other < 9 ? $#other : 9)]);
    ok(@unanswered <= ($o{unanswered} // 0),
       "$name: unanswered requests: " . scalar(@unanswered)
       . ' (at most ' . ($o{unanswered} // 0) . ')');
    is($twice, 0, "$name: nothing stored twice");
    # resent rows (a retry, a replayed journal) are dropped by their
    # insertId, which every row has
    ok(!exists $by_insert_id->{''}, "$name: every stored row has an insertId");
    is(scalar(grep { $_ > 1 } values %$by_insert_id), 0,
       "$name: stored exactly once by insertId");
    note("$name: copies dropped by insertId so far: "
         . ($bq->stats->{duplicatesSkipped} // '?'));
    is($lost, $dropped, "$name: lost ($lost) = counted as dropped ($dropped)");
    is($strays, 0, "$name: nothing stored that was not accepted (with 204/302)")
        unless $o{strays_ok};
    note("$name: of " . scalar(@unanswered) . " unanswered requests, "
         . "$unanswered_stored were stored (taken before the answer was lost)");
    unlike($ng->error_log, qr/exited on signal (?!9\b)/, "$name: no worker crashed");
    push @table, [$name, scalar(@accepted), $delivered, $lost, $dropped, scalar(@unanswered),
                  sprintf('%.1f', time - $main::t0)];
}

our $t0 = time;

# OIE_FAULTS_ONLY=regex runs only the faults whose names match
sub fault {
    my ($name, $code) = @_;
    return if $ENV{OIE_FAULTS_ONLY} && $name !~ /$ENV{OIE_FAULTS_ONLY}/i;
    subtest $name => $code;
}

sub dropped_of {
    my ($ng) = @_;
    return sub { my $st = status_of($ng); $st ? $st->{dropped} : 0 };
}

fault 'Redis killed and restarted during load' => sub {
    $bq->reset;
    my $ng = nginx(zone => '8m', spool_max => '64m')->start;
    my $st = under_load($ng, 'redis', [['RDc1', 1e6, 'click'], ['RDc2', 1e6, 'click'],
                                       ['RDe1', 1e6, 'event']], sub {
        sleep 0.5;
        kill 'KILL', $redis->pid;
        $redis->stop;
        sleep 1;
        $redis->start;
        load_leads();
        sleep 0.5;
    });
    judge($ng, 'redis killed+restarted', 'RD', $st, dropped => dropped_of($ng));
    my @fb = grep { /^redis_/ } map { $_->{json}{outcome} // '' }
             @{ $bq->rows('email_clicks') };
    ok(@fb > 0, scalar(@fb) . ' clicks recorded while Redis was away');
    $ng->quit;
};

fault 'BigQuery failing, stalling, dropping connections, then back, during load' => sub {
    $bq->reset;
    my $ng = nginx(zone => '8m', spool_max => '64m')->start;
    my $st = under_load($ng, 'BQ', [['BQa', 1e6, 'event'], ['BQb', 1e6, 'event'],
                                    ['BQc', 1e6, 'click']], sub {
        for my $f ([status => 503, reason => 'backendError'], [action => 'stall'],
                   [action => 'drop'], [status => 500, body => 'html'])
        {
            sleep 0.4;
            $bq->fault(@$f, count => 1_000_000);
            sleep 0.6;
            $bq->clear_faults;
        }
        sleep 0.3;
    });
    judge($ng, 'bigquery 503/stall/drop/html', 'BQ', $st, dropped => dropped_of($ng));
    my $s = status_of($ng) // {};
    note("retries: " . ($s->{sink}{retries} // '?') . ", rows spooled: "
         . ($s->{spool}{rows_spooled} // '?'));
    $ng->quit;
};

SKIP: {
    my $mnt = "$tmp/tmpfs";
    mkdir $mnt;
    skip 'cannot mount a tmpfs (needs root)', 1
        unless system("mount -t tmpfs -o size=2m tmpfs $mnt 2>/dev/null") == 0;

    fault 'spool disk full while BigQuery is down' => sub {
        $bq->reset;
        my $ng = nginx(zone => '1m', spool_max => '64m', spool => "$mnt/spool")->start;
        $bq->fault(status => 503, reason => 'backendError', count => 1_000_000);
        my $st = under_load($ng, 'DF', [['DFa', 2500, 'fat'], ['DFb', 2500, 'fat']],
                            sub { }, run_out => 1);
        my $s = status_of($ng) // {};
        ok(($s->{dropped} // 0) > 0, "rows dropped once ring and disk were full ($s->{dropped})");
        like($ng->error_log, qr/No space left on device|spool full/, 'the full disk is logged');
        $bq->clear_faults;
        judge($ng, 'spool disk full', 'DF', $st, dropped => dropped_of($ng), wait => 90);
        $ng->quit;
    };
    system("umount $mnt");
}

fault 'nginx -s reload every second during load' => sub {
    $bq->reset;
    my $ng = nginx(zone => '8m', spool_max => '64m')->start;
    my $st = under_load($ng, 'RL', [['RLa', 1e6, 'event'], ['RLb', 1e6, 'event'],
                                    ['RLc', 1e6, 'click']], sub {
        for (1 .. 3) { sleep 1; $ng->reload }
    });
    judge($ng, 'reload every second', 'RL', $st, dropped => dropped_of($ng));
    $ng->quit;
};

fault 'a worker killed with SIGKILL during load' => sub {
    $bq->reset;
    my $ng = nginx(zone => '8m', spool_max => '64m')->start;
    my $st = under_load($ng, 'KW', [['KWa', 1e6, 'event'], ['KWb', 1e6, 'event']], sub {
        sleep 0.7;
        my ($w) = $ng->worker_pids;
        kill 'KILL', $w;
        sleep 1;
    });
    judge($ng, 'worker SIGKILL', 'KW', $st, dropped => dropped_of($ng), unanswered => 4,
          wait => 60);
    $ng->quit;
};

fault 'a worker killed with SIGKILL while its uploads hang' => sub {
    # deterministic form of the case above: BigQuery holds every upload,
    # so the batches the worker popped are in its memory (and journal)
    # when it dies; the master, still the same, starts workers in place of
    # the killed ones, and they replay the journals
    $bq->reset;
    my $spool = "$tmp/spool-ku";
    my $ng = nginx(zone => '8m', spool_max => '64m', spool => $spool)->start;
    my $master = $ng->pid;
    sleep 0.3;
    $bq->fault(action => 'stall', count => 1_000_000);
    my $st = under_load($ng, 'KU', [['KUa', 100, 'event']], sub { }, run_out => 1);
    for (1 .. 100) {
        last if ((status_of($ng) // {})->{ring}{events} // 1) == 0;
        sleep 0.05;
    }
    my @journals = glob "$spool/*.journal";
    ok(@journals > 0, scalar(@journals) . ' upload journals while the uploads hang');
    my @killed = $ng->worker_pids;
    kill 'KILL', $_ for @killed;
    sleep 0.5;
    $bq->clear_faults;
    judge($ng, 'SIGKILL, uploads in flight', 'KU', $st, dropped => dropped_of($ng), wait => 60);
    is($ng->pid, $master, 'the same master (workers respawned, not restarted)');
    my $log = $ng->error_log;
    my %returned = map { $_ => 1 } $log =~ /upload journal of process (\d+) returned for replay/g;
    ok((grep { $returned{$_} } @killed), 'the killed workers\' journals were returned for replay')
        or diag join "\n", grep { /oie:/ } split /\n/, $log;
    my $s = status_of($ng) // {};
    ok(($s->{spool}{rows_replayed} // 0) > 0, "rows replayed ($s->{spool}{rows_replayed})")
        or diag join "\n", "spool: " . join(' ', map { s{.*/}{}r } glob "$spool/*"),
                "status: " . JSON::PP::encode_json($s), grep { /oie|signal/ } split /\n/, $ng->error_log;
    $bq->wait_for(sub { !glob("$spool/*.journal") && !glob("$spool/*.spool*") }, 20);
    is(scalar(() = glob "$spool/*.journal"), 0, 'no journal left once all is stored');
    $s = $bq->wait_for(sub { my $x = status_of($ng); $x && $x->{spool}{bytes} == 0 ? $x : undef }, 20);
    ok($s, 'spool bytes back to 0');
    $ng->quit;
};

fault 'nginx -s quit during load, then started again' => sub {
    $bq->reset;
    my $spool = "$tmp/spool-quit";
    my $ng = nginx(zone => '8m', spool_max => '64m', spool => $spool)->start;
    $bq->fault(action => 'stall', count => 1_000_000);
    my $st = under_load($ng, 'QT', [['QTa', 1e6, 'event!'], ['QTb', 1e6, 'event!']], sub {
        sleep 1;
        $ng->quit(30);
    });
    ok(!$ng->pid, 'nginx is gone');
    $bq->clear_faults;
    $ng->start;
    judge($ng, 'quit during load', 'QT', $st, unanswered => 2);
    $ng->quit;
};

my $fmt = "%-28s %9s %10s %6s %8s %11s %6s\n";
my $out = sprintf $fmt, 'fault', 'accepted', 'delivered', 'lost', 'dropped', 'unanswered', 'secs';
$out .= sprintf $fmt, @$_ for @table;
diag("\n$out");
if (open my $fh, '>', ($ENV{OIE_BUILD_DIR} || "$ENV{OIE_ROOT}/build")
                      . '/faults-table.txt') {
    print $fh $out;
}

$bq->stop;
done_testing();
