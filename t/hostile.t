# Hostile input, end to end through real nginx: what strangers can send to
# /t (huge headers and bodies, slowloris, deep nesting, invalid UTF-8, NUL
# and control bytes, lying lengths, smuggling shapes), what a compromised or
# broken Redis can hold or answer (CR/LF in destinations, wrong types,
# replies that never end), what the disk can hold (corrupt spool files) and
# what a broken BigQuery or token endpoint can answer.  Every case must get
# its documented answer, the stored rows must stay valid UTF-8 JSON, and the
# workers must never crash: the same worker pids serve before and after.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Encode ();
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);
use POSIX ();
use OIE::Env;
use OIE::Nginx;
use OIE::Events qw(event body);

$SIG{PIPE} = 'IGNORE';

# a private copy of the module: make rewrites build/*.so in place, which
# would pull the code from under running workers
my $modtmp = tempdir('oie-hostile-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_LOAD_MODULES} = join ' ', map {
    my $m = $_;
    if ($m =~ m{/build[^/]*/[^/]+\.so$}) {
        (my $copy = $m) =~ s{.*/}{$modtmp/};
        system('cp', $m, $copy) == 0 or die "cp $m: $?";
        $m = $copy;
    }
    $m;
} OIE::Nginx::modules();

my $json = JSON::PP->new->canonical;

# one connection, raw bytes out, everything the server says until it closes
# (or until $wait seconds of silence)
sub raw {
    my ($ng, $bytes, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ng->port, Timeout => 5)
        or return "connect: $!";
    $s->autoflush(1);
    syswrite($s, $bytes) if length $bytes;
    shutdown($s, 1) if $o{half_close};
    return read_all($s, $o{wait} // 10);
}

sub read_all {
    my ($s, $wait) = @_;
    my $sel = IO::Select->new($s);
    my $out = '';
    while ($sel->can_read($wait)) {
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $out .= $buf;
    }
    close $s;
    return $out;
}

sub code_of { ($_[0] // '') =~ m{^HTTP/1\.[01] (\d{3})} ? $1 : 0 }
sub codes_of { (($_[0] // '') =~ m{(?:^|\n)HTTP/1\.[01] (\d{3})}g) }

sub post {
    my ($ng, $body, %h) = @_;
    my %head = ('Content-Type' => 'application/json', %h);
    return $ng->request('POST', '/t', body => $body, headers => \%head);
}

sub utf8_ok {
    my ($bytes) = @_;
    return eval { Encode::decode('UTF-8', $bytes, Encode::FB_CROAK); 1 } ? 1 : 0;
}

# every line of every sink file of a table: valid UTF-8, one JSON object
sub sink_lines {
    my ($dir, $table) = @_;
    my @lines;
    for my $f (sort glob "$dir/$table/*.ndjson") {
        open my $fh, '<:raw', $f or die "$f: $!";
        push @lines, <$fh>;
    }
    return @lines;
}

sub rows_ok {
    my ($dir, $table, $what) = @_;
    my @lines = sink_lines($dir, $table);
    my $bad = 0;
    for my $l (@lines) {
        chomp $l;
        my $doc = utf8_ok($l) ? eval { JSON::PP->new->utf8->decode($l) } : undef;
        if (ref $doc ne 'HASH') {
            $bad++;
            diag("not a UTF-8 JSON object: " . substr($l, 0, 200));
        }
    }
    is($bad, 0, "$what: all " . scalar(@lines) . " stored $table lines are UTF-8 JSON objects");
    return map { chomp; JSON::PP->new->utf8->decode($_) } @lines;
}

sub wait_rows {
    my ($ng, $table, $pred, $n) = @_;
    my @rows;
    for (1 .. 200) {
        @rows = grep { $pred->($_) }
                map { chomp; my $d = eval { JSON::PP->new->utf8->decode($_) }; $d ? $d : () }
                sink_lines($ng->events, $table);
        last if @rows >= $n;
        sleep 0.05;
    }
    return @rows;
}

# the site answers, and no worker died: the same worker processes as at
# the start (a crash would be respawned with a new pid)
sub still_serving {
    my ($ng, $pids, $what) = @_;
    my ($code) = post($ng, body(event(visitorId => 'alive')));
    is($code, 204, "$what: a good event is still accepted");
    is_deeply([sort $ng->worker_pids], $pids, "$what: no worker crashed");
    unlike($ng->error_log, qr/exited on signal|segmentation|\[alert\].*core/i,
           "$what: no crash in error.log");
}

my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
    client_header_timeout 1s;
    client_body_timeout 1s;
    send_timeout 2s;
    oie_zone oie 4m;
    oie_sink file $EVENTS max_age=50ms;
    oie_batch interval=10ms;
H
my @pids;
for (1 .. 100) {
    @pids = sort $ng->worker_pids;
    last if @pids == 2;
    sleep 0.05;
}
is(scalar @pids, 2, 'two workers up');

my $ev = $json->encode(event(visitorId => 'h'));

subtest 'huge request line and headers' => sub {
    my $r = raw($ng, "POST /t?" . ('a' x 100_000) . " HTTP/1.1\r\nHost: x\r\n\r\n");
    is(code_of($r), 414, '100 KB request line: 414');

    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nX-Big: " . ('b' x 100_000)
                  . "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    is(code_of($r), 400, '100 KB header: 400');
    like($r, qr/Request Header Or Cookie Too Large/, "nginx's own reason");

    my $many = join '', map { "X-H$_: v\r\n" } 1 .. 5000;
    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\n$many\r\n");
    is(code_of($r), 400, '5000 headers: 400');

    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  . (';x=' x 2000) . "\r\nContent-Length: " . length($ev) . "\r\n\r\n$ev");
    ok(code_of($r) == 400 || code_of($r) == 415, 'a 6 KB Content-Type: refused ('
       . code_of($r) . ')');
    still_serving($ng, \@pids, 'huge headers');
};

subtest 'slowloris: slow headers and slow bodies are cut, others served' => sub {
    my @slow;
    for my $i (1 .. 30) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port)
            or die "connect: $!";
        $s->autoflush(1);
        if ($i % 2) {
            # headers that never end
            syswrite($s, "POST /t HTTP/1.1\r\nHost: x\r\nX-Slow: 1");
        } else {
            # a body that never comes
            syswrite($s, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         . "Content-Length: 5000\r\n\r\n{\"events\":[");
        }
        push @slow, $s;
    }
    my $ok = 0;
    $ok += (post($ng, body(event(visitorId => "while-slow-$_"))))[0] == 204 for 1 .. 20;
    is($ok, 20, 'good requests answered while 30 slow connections hang');

    # every slow connection is closed by nginx (client_*_timeout 1s); the
    # bound is generous, this is not a timing test
    my $sel = IO::Select->new(@slow);
    my %closed;
    my $deadline = time + 30;
    while (keys %closed < @slow && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread($s, my $buf, 4096);
            if (!$n) {
                $closed{"$s"} = 1;
                $sel->remove($s);
            }
        }
    }
    is(scalar keys %closed, 30, 'nginx closed all 30 slow connections');
    my @rows = wait_rows($ng, 'events', sub { $_[0]{visitor_id} =~ /^while-slow-/ }, 20);
    is(scalar @rows, 20, 'the 20 good events are stored');
    still_serving($ng, \@pids, 'slowloris');
};

subtest '100 MB bodies are refused without being read' => sub {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port)
        or die $!;
    syswrite($s, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 . "Content-Length: 104857600\r\n\r\n" . ('x' x 65536));
    my $r = read_all($s, 10);
    is(code_of($r), 413, 'Content-Length of 100 MB: 413 at once');

    # past oie_max_body but within nginx's client_max_body_size: ours
    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: 500000\r\n\r\n" . ('x' x 1000));
    is(code_of($r), 413, 'Content-Length of 500 KB: 413 at once');
    like($r, qr/"error":"body too large"/, 'with a JSON reason');

    # chunked: no length up front; nginx stops at client_max_body_size
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ng->port)
        or die $!;
    $s->blocking(0);
    my $head = "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               . "Transfer-Encoding: chunked\r\n\r\n";
    my $chunk = sprintf("%x\r\n", 65536) . ('y' x 65536) . "\r\n";
    my ($sent, $buf, $answer) = (0, $head, '');
    my $sel = IO::Select->new($s);
    my $deadline = time + 60;
    while ($sent < 100 * 1024 * 1024 && time < $deadline) {
        if ($sel->can_read(0)) {
            my $n = sysread($s, my $in, 65536);
            $answer .= $in if $n;
            last;
        }
        $buf = $chunk if $buf eq '';
        my $w = syswrite($s, $buf);
        if (!defined $w) {
            last unless $!{EAGAIN};
            IO::Select->new($s)->can_write(0.05) or $sel->can_read(0.05);
            next;
        }
        $sent += $w;
        substr($buf, 0, $w) = '';
    }
    $s->blocking(1);
    $answer .= read_all($s, 5);
    is(code_of($answer), 413, 'chunked stream of up to 100 MB: 413');
    ok($sent < 20 * 1024 * 1024, sprintf('answered after %.1f MB, not 100', $sent / 1048576));
    still_serving($ng, \@pids, '100 MB');
};

subtest 'deep nesting' => sub {
    my $deep = '{"events":[' . ('[' x 30000) . (']' x 30000) . ']}';
    my ($code, undef, $b) = post($ng, $deep);
    is($code, 400, '30000 nested arrays: 400');
    like($b, qr/nesting too deep/, 'says why');

    my $props = '{"a":' x 10000 . '1' . '}' x 10000;
    my $e = $json->encode(event(type => 'custom', name => 'x'));
    $e =~ s/\}$/,"props":$props}/;
    ($code, undef, $b) = post($ng, '{"events":[' . $e . ']}');
    is($code, 400, '10000 nested objects in props: 400');

    my $d = encode_base64('{"events":[' . ('{"a":' x 100) . '1' . ('}' x 100) . ']}', '');
    $d =~ tr{+/}{-_};
    ($code) = $ng->request('GET', "/t?d=$d");
    is($code, 400, 'deep nesting in GET d=: 400');
    still_serving($ng, \@pids, 'deep nesting');
};

subtest 'invalid UTF-8, NUL and control bytes' => sub {
    my %bad = (
        'lone continuation byte' => "v\x80",
        'overlong slash'         => "v\xc0\xaf",
        'UTF-16 surrogate'       => "v\xed\xa0\x80",
        'past U+10FFFF'          => "v\xf4\x90\x80\x80",
        'truncated sequence'     => "v\xe2\x82",
        'Latin-1 byte'           => "caf\xe9",
    );
    for my $what (sort keys %bad) {
        my $b = '{"events":[{"type":"pageview","timestamp":1,"sessionId":"s",'
              . '"visitorId":"' . $bad{$what} . '","url":"u"}]}';
        my ($code, undef, $resp) = post($ng, $b);
        is($code, 400, "$what: 400");
        like($resp, qr/invalid UTF-8/, "$what: says invalid UTF-8");
        ok(utf8_ok($resp), "$what: the error reply is UTF-8 itself");
    }

    my ($code, undef, $resp) = post($ng, '{"events":[{"type":"pageview","timestamp":1,'
        . "\"sessionId\":\"s\x00x\",\"visitorId\":\"v\",\"url\":\"u\"}]}");
    is($code, 400, 'raw NUL in a string: 400');
    like($resp, qr/control character/, 'says control character');

    ($code) = post($ng, "{\"events\":[\x00]}");
    is($code, 400, 'raw NUL between tokens: 400');

    ($code, undef, $resp) = post($ng, '{"events":[{"type":"pageview","timestamp":1,'
        . '"sessionId":"s\\u0000","visitorId":"v","url":"u"}]}');
    is($code, 400, '\\u0000: 400');

    ($code, undef, $resp) = post($ng, "{\"events\":[{\"type\":\"page\x01view\"}]}");
    is($code, 400, 'raw control byte in the type: 400');

    ($code, undef, $resp) = post($ng, '{"events":[{"type":"\\u0001\\"<script>","timestamp":1,'
        . '"sessionId":"s","visitorId":"v","url":"u"}]}');
    is($code, 400, 'unknown type with controls and quotes: 400');
    my $err = eval { JSON::PP->new->utf8->decode($resp) };
    ok($err && $err->{error} =~ /unknown type/, 'the reply is JSON that names the problem')
        or diag $resp;

    my $r = raw($ng, "GET /t\x00x HTTP/1.1\r\nHost: x\r\n\r\n");
    is(code_of($r), 400, 'NUL in the request line: 400');
    ($code) = $ng->request('GET', '/t?d=%00%00');
    is($code, 400, 'NUL in d=: 400');
    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n");
    is(code_of($r), 400, 'NUL in a header: 400');
    still_serving($ng, \@pids, 'bad bytes');
};

subtest 'escaped controls in ids and raw bytes in headers are stored safely' => sub {
    my $tag = 'ctl-' . int(rand(1e9));
    my $b = '{"events":[{"type":"pageview","timestamp":1732406400000,'
          . '"sessionId":"a\\u0001b\\r\\n{\\"x\\":1}\\u2028","visitorId":"' . $tag . '",'
          . '"url":"https://e.com/\\u0000x"}]}';
    my ($code) = post($ng, $b);
    is($code, 400, '\\u0000 in the url: 400');
    $b =~ s/\\u0000x/x/;
    ($code) = post($ng, $b, 'User-Agent' => "UA \xff\xfe \x01\x7f \"q\" \\ \xc3\xa9 \xe2\x82");
    is($code, 204, 'escaped controls in sessionId and raw bytes in User-Agent: 204');

    my @rows = wait_rows($ng, 'events', sub { $_[0]{visitor_id} eq $tag }, 1);
    is(scalar @rows, 1, 'stored once');
    is($rows[0]{session_id}, "a\x01b\r\n{\"x\":1}\x{2028}", 'session_id decodes to what was sent');
    is($rows[0]{user_agent}, "UA \x{fffd}\x{fffd} \x01\x7f \"q\" \\ \x{e9} \x{fffd}\x{fffd}",
       'user_agent: invalid bytes became U+FFFD, the rest kept');
    rows_ok($ng->events, 'events', 'after raw bytes');
    still_serving($ng, \@pids, 'controls');
};

subtest 'lying lengths, bad chunking, smuggling shapes' => sub {
    my $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     . "Content-Length: 1000\r\n\r\n{\"events\":", half_close => 1);
    ok(code_of($r) == 0 || code_of($r) == 400,
       'a body shorter than its Content-Length, then EOF: nothing or 400 ('
       . code_of($r) . ')');

    for my $cl ('-1', '18446744073709551617', '1e3', ' 5x') {
        $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      . "Content-Length: $cl\r\n\r\n{}");
        is(code_of($r), 400, "Content-Length \"$cl\": 400");
    }

    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
    is(code_of($r), 400, 'two Content-Length headers: 400');

    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
    is(code_of($r), 400, 'a chunk size that is not hex: 400');

    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}\r\n0\r\n\r\n");
    is(code_of($r), 400, 'a chunk size past 64 bits: 400');

    # a request hidden in a body: what is answered is one request's worth
    my $tag = 'smug-' . int(rand(1e9));
    my $inner = $json->encode({ events => [ event(visitorId => "$tag-inner") ] });
    my $outer = $json->encode({ events => [ event(visitorId => "$tag-outer") ] });
    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: " . length($outer) . "\r\nTransfer-Encoding: chunked\r\n\r\n"
                  . sprintf("%x\r\n", length $outer) . "$outer\r\n0\r\n\r\n"
                  . "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: " . length($inner) . "\r\nConnection: close\r\n\r\n$inner");
    my @c = codes_of($r);
    ok(@c >= 1 && (grep { $_ == 204 || $_ == 400 } @c) == @c,
       "Content-Length with chunked: answered @c");

    my $two = $json->encode({ events => [ event(visitorId => "$tag-pipe") ] });
    $r = raw($ng, "POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  . "Content-Length: " . length($two) . "\r\n\r\n$two"
                  . "GARBAGE \x01\x02\r\n\r\n");
    is_deeply([codes_of($r)], [204, 400], 'a good request then garbage on the same connection: 204, 400');

    my @rows = wait_rows($ng, 'events', sub { $_[0]{visitor_id} eq "$tag-pipe" }, 1);
    is(scalar @rows, 1, 'the pipelined good event is stored once');
    still_serving($ng, \@pids, 'smuggling');
};

subtest 'GET d= decoding' => sub {
    my %cases = (
        'not base64'           => ['!!!!', 400],
        'base64 of not JSON'   => [encode_base64('hello', ''), 400],
        'base64 of one quote'  => [encode_base64('"', ''), 400],
        'empty'                => ['', 400],
        'padding only'         => ['====', 400],
    );
    for my $what (sort keys %cases) {
        my ($d, $want) = @{ $cases{$what} };
        my ($code, $h, $b) = $ng->request('GET', "/t?d=$d");
        is($code, $want, "$what: $want");
    }
    my ($code) = $ng->request('GET', '/t?d=' . ('A' x 200_000));
    ok($code == 414 || $code == 400, "a 200 KB d=: $code");
    my $d = encode_base64($json->encode({ events => [ event(visitorId => 'get-ok') ] }), '');
    $d =~ tr{+/}{-_};
    $d =~ s/=+$//;
    my ($c2, $h2) = $ng->request('GET', "/t?d=$d");
    is($c2, 200, 'a good d= (unpadded base64url): 200');
    like($h2->{'content-type'} // '', qr{image/gif}, 'the 1x1 GIF');
    still_serving($ng, \@pids, 'GET d=');
};

subtest 'batch and field limits' => sub {
    my ($code) = post($ng, body(map { event(visitorId => "lim-$_") } 1 .. 101));
    is($code, 400, '101 events: 400');
    ($code) = post($ng, body(event(url => 'u' x 2049)));
    is($code, 400, 'a 2049-byte url: 400');
    ($code) = post($ng, body(event(visitorId => 'x' x 129)));
    is($code, 400, 'a 129-byte visitorId: 400');
    ($code) = post($ng, body(event(timestamp => 1e300)));
    is($code, 400, 'timestamp 1e300: 400');
    ($code) = post($ng, body(event(timestamp => -1)));
    is($code, 400, 'a negative timestamp: 400');
    ($code) = post($ng, '{"events":[{"type":"scroll","timestamp":1,"sessionId":"s",'
                        . '"visitorId":"v","url":"u","depth":1e400}]}');
    is($code, 400, 'depth 1e400: 400');
    ($code) = post($ng, '{"events":[{"type":"pageview","timestamp":1' . ('0' x 400)
                        . ',"sessionId":"s","visitorId":"v","url":"u"}]}');
    is($code, 400, 'a 400-digit timestamp: 400');
    my $b = body(map { event(visitorId => "big-$_", url => 'https://e.com/' . ('p' x 2000),
                              title => 't' x 512, referrer => 'r' x 2048) } 1 .. 14);
    ok(length($b) > 64 * 1024, 'a body just past 64 KB');
    ($code) = post($ng, $b);
    is($code, 413, 'past oie_max_body: 413');
    still_serving($ng, \@pids, 'limits');
};

rows_ok($ng->events, 'events', 'all /t cases');
is($ng->status->{dropped}, 0, 'nothing dropped');
$ng->quit;
ok(!$ng->pid, 'nginx quit');
unlike($ng->error_log, qr/exited on signal|\[alert\]|\[emerg\]/, 'no crash, alert or emerg in error.log');

done_testing();
