# Hostile input from what the module trusts least after the browser: what
# Redis holds (CR/LF and other bytes in a stored destination, wrong types,
# huge hashes), what a broken or malicious Redis answers (every RESP reply
# shape, errors, replies that never end, protocol garbage, dropped links),
# what is on disk in the spool (corrupt lines, binary, a half-written file),
# and what a broken BigQuery or token endpoint answers.  Each case gets its
# documented answer, no header ever carries a stored CR or LF, every stored
# or dead-lettered row stays valid UTF-8 JSON, and no worker crashes.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use Encode ();
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;
use OIE::BQStub;
use OIE::Events qw(event body);

$SIG{PIPE} = 'IGNORE';

# the fake servers this file forks, gone with it whatever happens
our @Fakes;
our $Owner = $$;
END { kill 'KILL', @Fakes if @Fakes && $$ == $Owner }

my $tmp = tempdir('oie-hostile-up-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $FALLBACK = 'https://fallback.example/home';

# a private copy of the module: make rewrites build/*.so in place
$ENV{TEST_NGINX_LOAD_MODULES} = join ' ', map {
    my $m = $_;
    if ($m =~ m{/build[^/]*/[^/]+\.so$}) {
        (my $copy = $m) =~ s{.*/}{$tmp/};
        system('cp', $m, $copy) == 0 or die "cp $m: $?";
        $m = $copy;
    }
    $m;
} OIE::Nginx::modules();

# one exchange, bounded; (status, {headers, lower-case; repeated ones
# joined by "\n"}, body, raw head)
sub get {
    my ($ng, $path, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port,
                                  Timeout => 5) or return (0, {}, '', '');
    my $head = "GET $path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    $head .= "$_: $h{$_}\r\n" for sort keys %h;
    syswrite($s, "$head\r\n");
    my ($resp, $sel) = ('', IO::Select->new($s));
    my $deadline = time + 10;
    while (time < $deadline && $sel->can_read($deadline - time)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    my ($rhead, $body) = split /\r\n\r\n/, $resp, 2;
    $rhead //= '';
    my ($code) = $rhead =~ m{^HTTP/1\.\d (\d+)};
    my %rh;
    for (split /\r\n/, $rhead) {
        next unless /^([^:]+):\s*(.*)$/;
        $rh{lc $1} = exists $rh{lc $1} ? "$rh{lc $1}\n$2" : $2;
    }
    return ($code // 0, \%rh, $body // '', $rhead);
}

sub utf8_ok {
    my ($bytes) = @_;
    return eval { Encode::decode('UTF-8', $bytes, Encode::FB_CROAK); 1 } ? 1 : 0;
}

# the head of a response has only the lines nginx wrote: no stored CR/LF
# made a line of its own, no byte outside printable ASCII in a value
sub clean_head {
    my ($rhead, $what) = @_;
    my @bad = grep { !/^HTTP\/1\.1 \d{3} / && !/^[A-Za-z0-9-]+: [\x20-\x7e]*$/ }
              split /\r\n/, $rhead;
    is(scalar @bad, 0, "$what: every header line is Name: printable ASCII")
        or diag join "\n", map { s/([^\x20-\x7e])/sprintf '\\x%02x', ord $1/ger } @bad;
    unlike($rhead, qr/^Set-Cookie/mi, "$what: no header was smuggled in");
}

sub workers_of {
    my ($ng) = @_;
    my @p;
    for (1 .. 100) {
        @p = sort $ng->worker_pids;
        last if @p == $ng->{workers};
        sleep 0.05;
    }
    return \@p;
}

sub no_crash {
    my ($ng, $pids, $what) = @_;
    is_deeply([sort $ng->worker_pids], $pids, "$what: no worker crashed");
    unlike($ng->error_log, qr/exited on signal/, "$what: no crash in error.log");
}

# OIE_HOSTILE_ONLY=regex runs only the parts whose names match
sub part {
    my ($name, $code) = @_;
    return if $ENV{OIE_HOSTILE_ONLY} && $name !~ /$ENV{OIE_HOSTILE_ONLY}/i;
    my $t0 = time;
    subtest $name => $code;
    note(sprintf '%s: %.1fs', $name, time - $t0);
}

# --- what Redis holds --------------------------------------------------

part 'hostile data stored in Redis' => sub {
    my $redis = OIE::Redis->new;
    my $P = $redis->port;
    my $ng = OIE::Nginx->new(workers => 2, http => <<H, server => <<S)->start;
        oie_sink file \$EVENTS max_age=50ms;
        oie_batch interval=10ms;
        oie_redis 127.0.0.1:$P timeout=500ms;
H
        location /r/ { oie_redirect fallback=$FALLBACK; }
        location /o/ { oie_open; }
        location = /p { oie_personalize fields=firstName,company; }
S
    my $pids = workers_of($ng);

    my %dest = (
        hCrLf01 => "https://ok.example/a\r\nSet-Cookie: evil=1\r\n\r\n<html>",
        hLf0002 => "https://ok.example/a\nLocation: https://evil.example/",
        hNul003 => "https://ok.example/a\x00b\x7f\xff c\xc3\xa9?q=\x01#f\x0d",
    );
    for my $id (sort keys %dest) {
        $redis->lead($id, destination => $dest{$id});
        my ($code, $h, $b, $head) = get($ng, "/r/$id");
        is($code, 302, "$id: 302");
        like($h->{location} // '', qr{^https://ok\.example/a}, "$id: to the stored destination");
        like($h->{location} // '', qr/[?&]i=\Q$id\E(?:#|$)/, "$id: with i=<id>");
        clean_head($head, $id);
    }
    my ($code, $h) = get($ng, '/r/hCrLf01');
    like($h->{location}, qr/%0D%0ASet-Cookie:%20evil=1%0D%0A%0D%0A/, 'CR/LF percent-encoded');

    my %bad = (
        hJs0001 => 'javascript:alert(1)',
        hRel002 => '//evil.example/x',
        hNoh003 => 'https:///x',
        hEmp004 => 'https://',
        hFtp005 => 'ftp://files.example/',
        hLng006 => 'https://long.example/' . ('x' x 5000),
        hSpc007 => ' https://ok.example/',
    );
    for my $id (sort keys %bad) {
        $redis->lead($id, destination => $bad{$id});
        my ($code, $h, $b, $head) = get($ng, "/r/$id");
        is($code, 302, "$id: 302");
        like($h->{location} // '', qr{^\Q$FALLBACK\E\?i=\Q$id\E$}, "$id: to the fallback");
        clean_head($head, $id);
    }

    $redis->cmd('SET', 'oie:lead:hStr001', 'a string, not a hash');
    ($code, $h) = get($ng, '/r/hStr001');
    is($code, 302, 'a key of the wrong type: 302');
    like($h->{location} // '', qr{^\Q$FALLBACK\E}, 'to the fallback');

    $redis->cmd('HSET', 'oie:lead:hBig001', 'destination', 'https://big.example/',
                map { ("f$_", 'v' x 50) } 1 .. 20000);
    ($code, $h) = get($ng, '/r/hBig001');
    is($code, 302, 'a lead with 20000 fields: 302');
    like($h->{location} // '', qr{^https://big\.example/}, 'to its destination');

    $redis->lead('hHug001', destination => 'https://huge.example/' . ('y' x 1_000_000));
    ($code, $h) = get($ng, '/r/hHug001');
    is($code, 302, 'a 1 MB destination: 302');
    like($h->{location} // '', qr{^\Q$FALLBACK\E}, 'to the fallback');

    for my $path ('/r/' . ('A' x 5000), '/r/%00abc123', '/r/..%2f..%2fetc%2fpasswd',
                  '/r/abc1234%0d%0aSet-Cookie:%20x=1', '/r/abc%20123', '/r/%ff%fe%fd%fc%fb%fa',
                  '/r/aB3dE9x.%00%00%00%00%00%00%00%00', '/r/', '/r/.')
    {
        my ($code, $h, $b, $head) = get($ng, $path);
        my $show = length($path) > 40 ? substr($path, 0, 40) . '...' : $path;
        ok($code == 302 || $code == 400 || $code == 414, "$show: $code");
        like($h->{location} // $FALLBACK, qr{^\Q$FALLBACK\E$}, "$show: the fallback, no id")
            if $code == 302;
        clean_head($head, $show);
    }

    $redis->lead('pHost01', firstName => "A\x00\x01\"<b>\\ \xff\xfe \xed\xa0\x80 \xe2\x82\xac",
                 company => "C\r\nSet-Cookie: x=1", destination => 'https://x.example/');
    my ($c2, $h2, $b2, $head2) = get($ng, '/p?i=pHost01');
    is($c2, 200, '/p of a lead with controls and invalid UTF-8 in its fields: 200');
    ok(utf8_ok($b2), 'the JSON is UTF-8');
    my $doc = eval { JSON::PP->new->utf8->decode($b2) };
    ok($doc, 'and JSON') or diag $b2;
    is($doc->{firstName}, "A\x00\x01\"<b>\\ \x{fffd}\x{fffd} \x{fffd}\x{fffd}\x{fffd} \x{20ac}",
       'controls escaped, invalid bytes made U+FFFD, the rest kept');
    is($doc->{company}, "C\r\nSet-Cookie: x=1", 'CR/LF kept inside the JSON string only');
    clean_head($head2, '/p');

    for my $i ('%00', 'A' x 3000, '%ff%fe', 'aB3dE9x.zzzzzzzz', '', '%0d%0a') {
        my ($c, $hh, $bb, $hd) = get($ng, "/p?i=$i");
        my $show = length($i) > 20 ? substr($i, 0, 20) . '...' : $i;
        ok($c == 400 || $c == 404, "/p?i=$show: $c");
        ok(eval { JSON::PP->new->utf8->decode($bb); 1 }, "/p?i=$show: a JSON error");
    }

    for my $path ('/o/%00.gif', '/o/' . ('B' x 3000) . '.gif', '/o/hCrLf01.gif', '/o/..gif') {
        my ($c, $hh, $bb, $hd) = get($ng, $path);
        my $show = length($path) > 30 ? substr($path, 0, 30) . '...' : $path;
        ok($c == 200 || $c == 400 || $c == 414, "$show: $c");
        clean_head($hd, $show);
    }

    sleep 0.3;
    my @lines;
    for my $f (glob($ng->events . '/email_clicks/*.ndjson')) {
        open my $fh, '<:raw', $f or die;
        push @lines, <$fh>;
    }
    ok(@lines > 10, scalar(@lines) . ' email_clicks rows written');
    my $bad = grep { chomp; !utf8_ok($_) || !eval { JSON::PP->new->utf8->decode($_); 1 } } @lines;
    is($bad, 0, 'every email_clicks row is UTF-8 JSON');
    no_crash($ng, $pids, 'Redis data');
    $ng->quit;
    $redis->stop;
};

# --- what a broken Redis answers ------------------------------------------

# a RESP server that answers HGETALL oie:lead:<id> with the bytes given for
# the id (or a code: "close" drops the link, "slow:<ms>:<reply>" waits),
# other commands with +OK, CLIENT ID with :7, SUBSCRIBE as Redis does
sub fake_redis {
    my (%replies) = @_;
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, ReuseAddr => 1) or die $!;
    my $port = $srv->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid) {
        push @Fakes, $pid;
        return ($pid, $port);
    }

    my $sel = IO::Select->new($srv);
    my %buf;
    my @later;                                  # [time, socket, bytes]
    while (1) {
        my $wait = @later ? 0.01 : 1;
        for my $s ($sel->can_read($wait)) {
            if ($s == $srv) {
                my $c = $srv->accept or next;
                $sel->add($c);
                $buf{$c} = '';
                next;
            }
            my $n = sysread($s, my $b, 65536);
            if (!$n) {
                $sel->remove($s);
                delete $buf{$s};
                close $s;
                next;
            }
            $buf{$s} .= $b;
            while (my $cmd = resp_command(\$buf{$s})) {
                my $out = resp_answer($cmd, \%replies);
                if ($out eq 'close') {
                    $sel->remove($s);
                    delete $buf{$s};
                    close $s;
                    last;
                }
                if ($out =~ /^slow:(\d+):(.*)$/s) {
                    push @later, [time + $1 / 1000, $s, $2];
                    next;
                }
                syswrite($s, $out);
            }
        }
        my $now = time;
        for my $l (grep { $_->[0] <= $now } @later) {
            syswrite($l->[1], $l->[2]) if $sel->exists($l->[1]);
        }
        @later = grep { $_->[0] > $now } @later;
    }
}

# one command off the front of the buffer, as an array ref, or undef
sub resp_command {
    my ($b) = @_;
    return undef unless $$b =~ /^\*(\d+)\r\n/;
    my ($n, $pos) = ($1, length("*$1\r\n"));
    my @args;
    for (1 .. $n) {
        return undef unless substr($$b, $pos) =~ /^\$(\d+)\r\n/;
        my $len = $1;
        $pos += length("\$$len\r\n");
        return undef if length($$b) < $pos + $len + 2;
        push @args, substr($$b, $pos, $len);
        $pos += $len + 2;
    }
    substr($$b, 0, $pos) = '';
    return \@args;
}

sub resp_answer {
    my ($cmd, $replies) = @_;
    my $name = uc($cmd->[0] // '');
    if ($name eq 'HGETALL' && ($cmd->[1] // '') =~ /^oie:lead:(.*)$/s) {
        return $replies->{$1} // "*0\r\n";
    }
    return "*0\r\n" if $name eq 'HGETALL';
    return ":7\r\n" if $name eq 'CLIENT' && uc($cmd->[1] // '') eq 'ID';
    return "*3\r\n\$9\r\nsubscribe\r\n\$" . length($cmd->[1]) . "\r\n$cmd->[1]\r\n:1\r\n"
        if $name eq 'SUBSCRIBE';
    return "+PONG\r\n" if $name eq 'PING';
    return "+OK\r\n";
}

part 'a broken or malicious Redis' => sub {
    my $D = 'https://dest.example/page';
    my %replies = (
        rOk0001 => "*4\r\n\$11\r\ndestination\r\n\$" . length($D) . "\r\n$D\r\n\$8\r\ncampaign\r\n\$2\r\nq1\r\n",
        rCrlf01 => "*2\r\n\$11\r\ndestination\r\n\$38\r\nhttps://dest.example/\r\nSet-Cookie: x=1\r\n",
        rOdd001 => "*3\r\n\$11\r\ndestination\r\n\$" . length($D) . "\r\n$D\r\n\$8\r\ncampaign\r\n",
        rNest01 => "*2\r\n\$11\r\ndestination\r\n*2\r\n\$1\r\nx\r\n:5\r\n",
        rInt001 => ":42\r\n",
        rStr001 => "\$5\r\nhello\r\n",
        rStat01 => "+OK\r\n",
        rErr001 => "-ERR something broke\r\n",
        rWrong1 => "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        rNilA01 => "*-1\r\n",
        rNilB01 => "\$-1\r\n",
        rNilE01 => "*2\r\n\$11\r\ndestination\r\n\$-1\r\n",
        rIntE01 => "*2\r\n:1\r\n:2\r\n",
        rBin001 => "*2\r\n\$11\r\ndestination\r\n\$28\r\nhttps://dest.example/\x00\xff\x01\r\n\x7f\x80\r\n",
        rBig001 => "*" . (2 * 20000 + 2) . "\r\n\$11\r\ndestination\r\n\$" . length($D) . "\r\n$D\r\n"
                   . join('', map { my $k = "f$_"; '$' . length($k) . "\r\n$k\r\n\$3\r\nval\r\n" } 1 .. 20000),
        rSlow01 => "slow:600:*2\r\n\$11\r\ndestination\r\n\$" . length($D) . "\r\n$D\r\n",
        rClose1 => 'close',
        rProto1 => "!not a RESP reply\r\n",
        rNeg001 => "*-5\r\n",
        rBulkNg => "\$-7\r\n",
    );
    my ($pid, $port) = fake_redis(%replies);

    my $ng = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
        oie_sink file \$EVENTS max_age=50ms;
        oie_batch interval=10ms;
        oie_redis 127.0.0.1:$port timeout=200ms cache=off backoff_max=200ms;
H
        location /r/ { oie_redirect fallback=$FALLBACK; }
        location = /p { oie_personalize fields=firstName; }
S
    my $pids = workers_of($ng);

    my ($code, $h);
    for (1 .. 100) {
        ($code, $h) = get($ng, '/r/rOk0001');
        last if ($h->{location} // '') =~ /^\Q$D\E/;
        sleep 0.05;
    }
    like($h->{location} // '', qr{^\Q$D\E\?i=rOk0001$}, 'a good reply: to its destination');

    my %want = (
        rCrlf01 => qr{^https://dest\.example/%0D%0ASet-Cookie:%20x=1\?i=rCrlf01$},
        rBin001 => qr{^https://dest\.example/%00%FF%01%0D%0A%7F%80\?i=rBin001$},
        rBig001 => qr{^\Q$D\E\?i=rBig001$},
    );
    # the link up again (a case before may have dropped it on purpose)
    my $link_up = sub {
        for (1 .. 100) {
            my (undef, $h) = get($ng, '/r/rOk0001');
            return 1 if ($h->{location} // '') =~ /^\Q$D\E/;
            sleep 0.05;
        }
        return 0;
    };

    for my $id (sort grep { $_ ne 'rOk0001' } keys %replies) {
        ok($link_up->(), "$id: Redis link up before");
        my ($code, $h, $b, $head) = get($ng, "/r/$id");
        is($code, 302, "$id: 302");
        like($h->{location} // '', $want{$id} // qr{^\Q$FALLBACK\E(?:\?i=\Q$id\E)?$},
             "$id: " . ($want{$id} ? 'to the destination, encoded' : 'to the fallback'));
        clean_head($head, $id);
        my ($pc, $ph, $pb) = get($ng, "/p?i=$id");
        ok($pc == 200 || $pc == 404 || $pc == 503, "/p?i=$id: $pc");
        ok(eval { JSON::PP->new->utf8->decode($pb); 1 }, "/p?i=$id: JSON");
    }

    # whatever came before, the link comes back: a good reply is used again
    my $back = 0;
    for (1 .. 100) {
        ($code, $h) = get($ng, '/r/rOk0001');
        if (($h->{location} // '') =~ /^\Q$D\E/) { $back = 1; last }
        sleep 0.05;
    }
    ok($back, 'after all that, a good reply is followed again');

    no_crash($ng, $pids, 'broken Redis');
    like($ng->error_log, qr/redis/i, 'the trouble is logged');
    $ng->quit;

    # a reply that never ends (a huge array announced, then nothing): the
    # lookups time out to the fallback, and the link must not stay wedged
    kill 'KILL', $pid;
    waitpid $pid, 0;
    ($pid, $port) = fake_redis(%replies, rHang01 => "*1000000\r\n\$1\r\nx\r\n");
    $ng = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
        oie_sink file \$EVENTS;
        oie_redis 127.0.0.1:$port timeout=100ms cache=off backoff_max=200ms;
H
        location /r/ { oie_redirect fallback=$FALLBACK; }
S
    $pids = workers_of($ng);
    for (1 .. 100) {
        ($code, $h) = get($ng, '/r/rOk0001');
        last if ($h->{location} // '') =~ /^\Q$D\E/;
        sleep 0.05;
    }
    ($code, $h) = get($ng, '/r/rHang01');
    is($code, 302, 'a reply that never ends: 302');
    like($h->{location} // '', qr{^\Q$FALLBACK\E\?i=rHang01$}, 'to the fallback, with the id');
    $back = 0;
    for (1 .. 60) {
        ($code, $h) = get($ng, '/r/rOk0001');
        if (($h->{location} // '') =~ /^\Q$D\E/) { $back = 1; last }
        sleep 0.1;
    }
    ok($back, 'within 6 s, lookups are answered by Redis again');
    no_crash($ng, $pids, 'a reply that never ends');
    $ng->quit;
    kill 'KILL', $pid;
    waitpid $pid, 0;
};

# --- what is on disk in the spool ---------------------------------------

sub ev_row {
    my ($id) = @_;
    return JSON::PP->new->canonical->encode({
        event_id => "ev-$id", event_type => 'pageview',
        event_time => '2024-11-24T00:00:00.000Z', received_at => '2024-11-24T00:00:01.000Z',
        session_id => 's', visitor_id => $id, url => 'https://e.example/' });
}

sub click_row {
    my ($id) = @_;
    return JSON::PP->new->canonical->encode({
        event_id => "ck-$id", event_type => 'email_click', outcome => 'ok',
        event_time => '2024-11-24T00:00:00.000Z', received_at => '2024-11-24T00:00:01.000Z',
        lead_id => 'aB3dE9x', user_agent => $id });
}

sub spit {
    my ($path, $bytes) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $bytes;
    close $fh;
}

part 'corrupt spool files are skipped line by line, never crash' => sub {
    my $bq = OIE::BQStub->start;
    my $spool = "$tmp/spool-corrupt";
    make_path($spool);

    # a file of good rows with every kind of damage between them
    spit("$spool/20200101T000000Z-999999-000000.spool", join '',
         'events ' . ev_row('SP-1') . "\n",
         "\x00\xff\xfe garbage \x01\x02\n",
         "nosuchtable {\"a\":1}\n",
         "eventsNOSPACE\n",
         "events\n",
         "events x\n",
         "\n",
         "\r\n",
         'events ' . ev_row('SP-2') . "\r\n",
         'email_clicks ' . click_row('SP-C1') . "\n",
         'events ' . ev_row('SP-3') . "\n",
         'events ' . ('z' x (2 * 1024 * 1024)) . "\n",
         'events ' . ev_row('SP-4'));
    # an empty one, a binary one, a name that only looks like ours
    spit("$spool/20200101T000001Z-999999-000001.spool", '');
    spit("$spool/20200101T000002Z-999999-000002.spool", join '', map { chr(($_ * 37) % 256) } 1 .. 100_000);
    spit("$spool/notes.spool.txt", "events " . ev_row('SP-NOT') . "\n");
    # a dead writer's unfinished file (its last line cut) and a dead
    # replayer's claim
    spit("$spool/20200101T000003Z-999999-000003.spool.part",
         'events ' . ev_row('SP-5') . "\nevents " . substr(ev_row('SP-CUT'), 0, 30));
    spit("$spool/20200101T000004Z-999999-000004.spool.claim-999998",
         'events ' . ev_row('SP-6') . "\n");

    my $key = $bq->key_file;
    my $url = $bq->url;
    my $ng = OIE::Nginx->new(workers => 1, http => <<H)->start;
        oie_zone oie 4m;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=$key endpoint=$url/bigquery/v2 timeout=2s;
        oie_spool $spool max_size=64m;
        oie_batch rows=50 interval=20ms;
H
    my $pids = workers_of($ng);

    my %want = map { $_ => 1 } qw(SP-1 SP-2 SP-3 SP-4 SP-5 SP-6);
    my %seen;
    # done when every spool file has been replayed and removed
    $bq->wait_for(sub { !grep { !/notes/ } glob "$spool/*.spool*" }, 30);
    sleep 0.3;
    $seen{ $_->{json}{visitor_id} }++ for @{ $bq->rows('events') };
    my @missing = grep { !$seen{$_} } sort keys %want;
    is("@missing", '', 'every good row is stored (a line that is not JSON does not '
       . 'take its batch with it)');
    is(scalar(grep { $_ > 1 } values %seen), 0, 'none twice');
    ok(!$seen{'SP-CUT'}, 'the cut last line of a .part file is not sent');
    ok(!$seen{'SP-NOT'}, 'a file not named like a spool file is left alone');
    ok(-e "$spool/notes.spool.txt", 'and kept');
    my ($click) = grep { ($_->{json}{user_agent} // '') eq 'SP-C1' } @{ $bq->rows('email_clicks') };
    ok($click, 'the email_clicks row among them goes to its table');
    like($ng->error_log, qr/skipping a malformed line at offset \d+/, 'bad lines are logged');

    # the lines of a table that are not JSON are dead letters, alone, as
    # JSON a person can read back: the row as a string, and why
    my $dl = 0;
    my @dead;
    for my $f (glob "$spool/dead-letter/*.ndjson") {
        open my $fh, '<:raw', $f or die;
        while (my $l = <$fh>) {
            chomp $l;
            $dl++;
            my $d = utf8_ok($l) && eval { JSON::PP->new->utf8->decode($l) };
            ok($d, "dead letter $dl is UTF-8 JSON") or diag substr($l, 0, 300);
            push @dead, $d if $d;
        }
    }
    my @rows = map { ref $_->{row} ? 'an object' : $_->{row} // 'none' } @dead;
    is_deeply([sort map { length > 20 ? substr($_, 0, 20) . '...' : $_ } @rows],
              ['x', 'z' x 20 . '...'], 'the two events lines that are not JSON, and only they, '
              . 'are dead letters');
    is(scalar(grep { length == 2 * 1024 * 1024 } @rows), 1, 'kept whole');
    is(scalar(grep { $_->{table} eq 'events' && ref $_->{error} eq 'ARRAY'
                     && ($_->{error}[0]{message} // '') =~ /not a JSON object/ } @dead),
       scalar(@dead), 'each says its line is not a JSON object');
    like($ng->error_log, qr/is not a JSON object: kept as a dead letter/, 'and it is logged');

    my $left = () = glob "$spool/*.spool*";
    $bq->wait_for(sub { $left = () = grep { !/notes/ } glob "$spool/*.spool*"; $left == 0 }, 10);
    is($left, 0, 'every spool file was replayed and removed');
    no_crash($ng, $pids, 'corrupt spool');
    $ng->quit;
    $bq->stop;
};

# --- what the service-account key file holds -----------------------------

part 'hostile service-account key files fail nginx -t, clearly' => sub {
    my $dir = "$tmp/keys";
    make_path($dir);
    my $ec = `openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null`;
    my $sa = sub {
        my (%f) = @_;
        return JSON::PP->new->canonical->encode({
            type => 'service_account', client_email => 'x@y.iam.example',
            private_key_id => 'k1', private_key => 'nope', %f });
    };
    my %cases = (
        'deep.json'     => '[' x 200_000,
        'spaces.json'   => (' ' x (20 * 1024 * 1024)) . '{',
        'latin1.json'   => "{\"type\":\"service_account\",\"client_email\":\"caf\xe9\"}",
        'nul.json'      => "{\"type\":\"service_\x00account\"}",
        'array.json'    => '[{"type":"service_account"}]',
        'typenum.json'  => '{"type":5,"client_email":"a","private_key":"b","private_key_id":"c"}',
        'fields.json'   => '{"type":"service_account","client_email":5,"private_key":[],"private_key_id":{}}',
        'ec.json'       => $sa->(private_key => $ec || "-----BEGIN EC PRIVATE KEY-----\nAA==\n-----END EC PRIVATE KEY-----\n"),
        'pemjunk.json'  => $sa->(private_key => "-----BEGIN PRIVATE KEY-----\n" . ('A' x 5000) . "\n-----END PRIVATE KEY-----\n"),
        'binary.json'   => join('', map { chr(($_ * 131) % 256) } 1 .. 100_000),
        'dupes.json'    => '{"type":"service_account","type":"service_account"}',
    );
    for my $name (sort keys %cases) {
        spit("$dir/$name", $cases{$name});
    }
    my @paths = ((map { "$dir/$_" } sort keys %cases), '/dev/zero', $dir);
    for my $path (@paths) {
        my $ng = OIE::Nginx->new(http => <<H);
            oie_sink bigquery project=p dataset=d credentials=$path;
            oie_spool $tmp/spool-keys;
H
        my $t0 = time;
        my ($rc, $out) = $ng->_run('-t');
        (my $show = $path) =~ s{.*/}{};
        is($rc, 1, "$show: nginx -t exits 1 (not a signal)");
        like($out, qr/\[emerg\].*oie_sink bigquery: .*\Q$show\E/, "$show: names the file")
            or diag $out;
        unlike($out, qr/\A.{2000}/s, "$show: a short message");
    }
};

# --- what a broken BigQuery or token endpoint answers ------------------------

# an HTTP server for the token and insertAll URLs that answers from two
# scripts, one reply each call, then well: a token, and rows stored (their
# visitor ids appended to $dir/stored, as for a scripted answer that says
# they are stored; the ids of every insertAll request, a line each, to
# $dir/requests); "hang" replies hold the connection
sub fake_google {
    my ($dir, $token_script, $insert_script) = @_;
    my $srv = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                    LocalPort => 0, ReuseAddr => 1) or die $!;
    my $port = $srv->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid) {
        push @Fakes, $pid;
        return ($pid, $port);
    }

    my @tok = @$token_script;
    my @ins = @$insert_script;
    while (my $c = $srv->accept) {
        my $req = '';
        my $sel = IO::Select->new($c);
        while ($req !~ /\r\n\r\n/ && $sel->can_read(5)) {
            sysread($c, my $b, 65536) or last;
            $req .= $b;
        }
        my ($len) = $req =~ /^Content-Length:\s*(\d+)/mi;
        my ($head, $body) = split /\r\n\r\n/, $req, 2;
        $body //= '';
        while (defined $len && length($body) < $len && $sel->can_read(5)) {
            sysread($c, my $b, 65536) or last;
            $body .= $b;
        }
        my ($path) = ($head // '') =~ m{^\S+ (\S+)};
        my ($status, $type, $out);
        if (($path // '') =~ /token/) {
            ($status, $type, $out) = @{ shift(@tok) // [200, 'application/json',
                '{"access_token":"good-token","expires_in":3600,"token_type":"Bearer"}'] };
        } else {
            my $r = shift @ins;
            my $doc = eval { JSON::PP->new->utf8->decode($body) } // {};
            if (open my $fh, '>>', "$dir/requests") {
                print $fh join(' ', map { $_->{json}{visitor_id} // '?' }
                                    @{ $doc->{rows} // [] }), "\n";
                close $fh;
            }
            $r //= [200, 'application/json', '{"kind":"bigquery#tableDataInsertAllResponse"}'];
            # a 200 whose body is a JSON object without insertErrors says
            # every row was stored, whatever else it holds
            my $said = $r->[0] eq '200' && eval { JSON::PP->new->utf8->decode($r->[2]) };
            if (ref $said eq 'HASH' && !exists $said->{insertErrors}) {
                open my $fh, '>>', "$dir/stored" or die;
                print $fh "$_->{json}{visitor_id}\n" for @{ $doc->{rows} // [] };
                close $fh;
            }
            ($status, $type, $out) = @$r;
        }
        if ($status eq 'hang') {
            sleep 3;
            close $c;
            next;
        }
        if ($status eq 'cut') {
            syswrite($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         . "Content-Length: 1000\r\n\r\n{\"kind\":");
            close $c;
            next;
        }
        syswrite($c, "HTTP/1.1 $status X\r\nContent-Type: $type\r\nContent-Length: "
                     . length($out) . "\r\nConnection: close\r\n\r\n$out");
        close $c;
    }
    POSIX::_exit(0);
}

# one fake Google and one nginx sending to it; the two halves below run at
# once (their replies are paced by backoffs, not by work)
sub google_setup {
    my ($name, $token, $insert) = @_;
    my $g = { name => $name, dir => "$tmp/google-$name", spool => "$tmp/spool-$name" };
    make_path($g->{dir});
    @$g{qw(pid port)} = fake_google($g->{dir}, $token, $insert);
    my $port = $g->{port};
    $g->{ng} = OIE::Nginx->new(workers => 1, http => <<H)->start;
        oie_zone oie 4m;
        oie_sink bigquery project=oie-test dataset=outbound_sales
                 credentials=$main::key endpoint=http://127.0.0.1:$port/bigquery/v2
                 token_endpoint=http://127.0.0.1:$port/token timeout=1s
                 concurrency=1;
        oie_spool $g->{spool} max_size=64m;
        oie_batch rows=5 interval=20ms;
H
    $g->{pids} = workers_of($g->{ng});
    return $g;
}

# every event stored or a dead letter (or the module done with all of them)
sub google_wait {
    my ($g, $n) = @_;
    my (%stored, %dead);
    my $deadline = time + 90;
    while (time < $deadline) {
        %stored = ();
        if (open my $fh, '<', "$g->{dir}/stored") {
            while (my $id = <$fh>) { chomp $id; $stored{$id}++ }
        }
        %dead = ();
        for my $f (glob "$g->{spool}/dead-letter/*.ndjson") {
            open my $fh, '<:raw', $f or next;
            while (my $l = <$fh>) {
                my ($id) = $l =~ /"visitor_id":"(\w+-\d+)"/;
                $dead{$id}++ if $id;
            }
        }
        last if keys(%stored) + keys(%dead) >= $n;
        my $st = $g->{ng}->status // {};
        last if ($st->{sink}{rows_accepted} // 0) + ($st->{sink}{rows_rejected} // 0) >= $n
                && ($st->{spool}{bytes} // 1) == 0 && ($st->{ring}{events} // 1) == 0;
        sleep 0.25;
    }
    $g->{stored} = \%stored;
    $g->{dead} = \%dead;
}

sub google_dead_letters_ok {
    my ($g) = @_;
    for my $f (glob "$g->{spool}/dead-letter/*.ndjson") {
        open my $fh, '<:raw', $f or next;
        my $n = 0;
        while (my $l = <$fh>) {
            chomp $l;
            $n++;
            my $d = utf8_ok($l) && eval { JSON::PP->new->utf8->decode($l) };
            ok($d, "$g->{name}: dead letter $n is UTF-8 JSON") or diag substr($l, 0, 200);
            push @{ $g->{dead_letters} }, $d if $d;
        }
    }
}

part 'a broken BigQuery and token endpoint' => sub {
    my $J = 'application/json';
    my $bq = OIE::BQStub->start;                # only for a key file
    $main::key = $bq->key_file;

    # tokens: each bad answer is followed by a good one, and each good one
    # by an insertAll answered 401 (a token refused): so the next fetch
    # comes at once, not after the backoff consecutive failures earn
    my $good = [200, $J, '{"access_token":"good-token","expires_in":3600}'];
    my @bad_tokens = (
        [200, 'text/html', '<html>sign in</html>'],
        [200, $J, '{"access_token":' . ('"' . ('t' x 5000) . '"') . ',"expires_in":3600}'],
        [200, $J, '{"access_token":"","expires_in":3600}'],
        [200, $J, '{"access_token":null}'],
        [200, $J, '{"access_token":"a\u0000b","expires_in":3600}'],
        [200, $J, '[]'],
        [500, $J, '{"error":"backendError"}'],
    );
    my @token = ((map { ($_, $good) } @bad_tokens),
                 [200, $J, '{"access_token":"short-lived","expires_in":-5}'],
                 [200, $J, '{"access_token":"odd-life","expires_in":"3600"}'],
                 [200, $J, '{"access_token":"long-life","expires_in":9223372036854775807}']);
    my @refused = map { [401, $J, '{"error":{"code":401,"status":"UNAUTHENTICATED"}}'] }
                  1 .. @bad_tokens + 2;
    my $tk = google_setup('token', \@token, \@refused);

    my @insert = (
        [200, 'text/html', '<html>oops</html>'],
        [200, $J, '{"insertErrors":"not an array"}'],
        [200, $J, '{"insertErrors":[{"index":-1,"errors":[{"reason":"invalid"}]}]}'],
        [200, $J, '{"insertErrors":[{"index":1e20,"errors":[{"reason":"invalid"}]}]}'],
        [200, $J, '{"insertErrors":[{"index":"0","errors":"x"}]}'],
        [200, $J, '{"insertErrors":[{"index":0,"errors":[{"reason":5}, null, 7]}]}'],
        [200, $J, '{"insertErrors":[{}, 1, null, []]}'],
        [200, $J, '{"kind":' . ('[' x 10000) . (']' x 10000) . '}'],
        [200, $J, '{"x":"' . ('y' x (3 * 1024 * 1024)) . '"}'],
        ['cut'],
        [401, $J, '{"error":{"code":401}}'],
        [403, $J, '{"error":{"errors":[{"reason":"rateLimitExceeded"}]}}'],
        [400, 'text/html', "<html>Bad \"Request\"\x00\xff</html>"],
    );
    my $in = google_setup('insert', [], \@insert);

    for my $g ($tk, $in) {
        my $sent = 0;
        for my $i (1 .. 50) {
            my ($code) = $g->{ng}->request('POST', '/t',
                headers => { 'Content-Type' => 'application/json' },
                body => body(event(visitorId => "$g->{name}-$i")));
            $sent++ if $code == 204;
        }
        is($sent, 50, "$g->{name}: every event accepted while the upstream misbehaves");
    }

    for my $g ($tk, $in) {
        google_wait($g, 50);
    }

    my @lost = grep { !$tk->{stored}{"token-$_"} && !$tk->{dead}{"token-$_"} } 1 .. 50;
    is(scalar @lost, 0, 'bad tokens: every event is stored ('
       . scalar(keys %{ $tk->{stored} }) . ')')
        or diag "lost: @lost\n" . $tk->{ng}->error_log;
    my $st = $tk->{ng}->status // {};
    ok($st->{sink}{token_errors} >= 7, "bad token answers counted ($st->{sink}{token_errors})");
    # (a token for 2^63-1 seconds is clamped to a day: make test SAN=1
    # would report the overflow it once caused)

    @lost = grep { !$in->{stored}{"insert-$_"} && !$in->{dead}{"insert-$_"} } 1 .. 50;
    is(scalar @lost, 0, 'bad insertAll answers: every event is stored or a dead letter: '
       . scalar(keys %{ $in->{stored} }) . ' stored, '
       . scalar(keys %{ $in->{dead} }) . ' dead letters')
        or diag "lost: @lost\n" . join "\n", grep { /oie:/ } split /\n/, $in->{ng}->error_log;
    my $twice = grep { $_ > 1 } values %{ $in->{stored} };
    note("$twice events stored twice (an insertAll whose answer was cut is resent; "
         . 'BigQuery drops the copy by its insertId)');
    google_dead_letters_ok($_) for $tk, $in;
    # the 400 with an HTML body: its batch's rows are dead letters whose
    # error is the body as a string (NUL escaped, the byte that is not
    # UTF-8 replaced); the insertErrors entry naming row 0 with odd
    # reasons makes one more, with those reasons as they came
    my @html = grep { !ref $_->{error} && ($_->{error} // '') =~ /^<html>Bad "Request"/ }
               @{ $in->{dead_letters} // [] };
    ok(@html >= 1 && @html <= 5, scalar(@html) . ' dead letters of the 400 with an HTML body');
    is($html[0]{error}, "<html>Bad \"Request\"\x{0}\x{fffd}</html>", 'its body, kept as a string')
        if @html;
    my @odd = grep { ref $_->{error} eq 'ARRAY' } @{ $in->{dead_letters} // [] };
    is(scalar @odd, 1, 'one dead letter from the insertErrors entry that names row 0');
    is(JSON::PP->new->canonical->encode($odd[0]{error}), '[{"reason":5},null,7]',
       'with its errors as they came') if @odd;

    for my $g ($tk, $in) {
        no_crash($g->{ng}, $g->{pids}, "broken Google ($g->{name})");
        $g->{ng}->quit;
        kill 'KILL', $g->{pid};
        waitpid $g->{pid}, 0;
    }
    $bq->stop;
};

part 'insertErrors that name rows badly, or not every row' => sub {
    # skipInvalidRows=false: an answer with insertErrors stored nothing.
    # Rows named invalid are dead letters; every other row, named
    # "stopped" or not named at all, is sent again; an entry whose index
    # is not an integer naming a row of the batch is ignored; an answer
    # that names no invalid row is retried whole
    my $J = 'application/json';
    my $bq = OIE::BQStub->start;                # only for a key file
    $main::key = $bq->key_file;
    my @insert = (
        [200, $J, '{"insertErrors":[{"index":2,"errors":[{"reason":"invalid","message":"no"}]},'
                  . '{"index":-1,"errors":[{"reason":"invalid"}]},'
                  . '{"index":5,"errors":[{"reason":"invalid"}]},'
                  . '{"index":"1","errors":[{"reason":"invalid"}]},'
                  . '{"index":1.0,"errors":[{"reason":"invalid"}]},'
                  . '{"index":1e20,"errors":[{"reason":"invalid"}]},'
                  . '{"errors":[{"reason":"invalid"}]}, 3, null]}'],
        [200, $J, '{"insertErrors":[{"index":-1,"errors":[{"reason":"invalid"}]},'
                  . '{"index":99,"errors":[{"reason":"invalid"}]}]}'],
        [200, $J, '{"insertErrors":[{"index":0,"errors":[{"reason":"stopped"}]}]}'],
    );
    my $g = google_setup('index', [], \@insert);
    my ($code) = $g->{ng}->request('POST', '/t',
        headers => { 'Content-Type' => 'application/json' },
        body => body(map { event(visitorId => "index-$_") } 1 .. 5));
    is($code, 204, 'five events accepted');
    google_wait($g, 5);

    open my $fh, '<', "$g->{dir}/requests" or die "no requests: $!";
    my @reqs = map { chomp; [split / /] } <$fh>;
    close $fh;
    is(scalar @{ $reqs[0] // [] }, 5, 'one batch of five rows');
    my $invalid = $reqs[0][2] // '?';
    my @others = grep { $_ ne $invalid } @{ $reqs[0] // [] };
    is_deeply([sort keys %{ $g->{dead} }], [$invalid], 'the row named invalid, and only it, '
              . 'is a dead letter');
    is_deeply([sort keys %{ $g->{stored} }], [sort @others],
              'the four others (none named, or named by a bad index) are stored');
    is_deeply([map { join ' ', sort @$_ } @reqs[1 .. 3]], [("@{[sort @others]}") x 3],
              'sent again without the invalid row: answered with no row named, then '
              . 'only "stopped", then stored')
        or diag explain \@reqs;
    is(scalar @reqs, 4, 'four requests in all');
    my $st = $g->{ng}->status // {};
    is($st->{sink}{rows_rejected}, 1, 'one row counted as rejected');
    is($st->{sink}{rows_accepted}, 4, 'four as accepted');
    like($g->{ng}->error_log, qr/insertErrors entries name no row of the batch/,
         'the entries naming no row are logged');
    like($g->{ng}->error_log, qr/insertErrors name no invalid row/,
         'an answer naming no invalid row is retried');
    google_dead_letters_ok($g);
    no_crash($g->{ng}, $g->{pids}, 'bad insertErrors');
    $g->{ng}->quit;
    kill 'KILL', $g->{pid};
    waitpid $g->{pid}, 0;
    $bq->stop;
};

done_testing();
