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

# --- what Redis holds --------------------------------------------------

subtest 'hostile data stored in Redis' => sub {
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
    return ($pid, $port) if $pid;

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

subtest 'a broken or malicious Redis' => sub {
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

done_testing();
