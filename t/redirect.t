# oie_redirect on /r/<id> against a real redis-server: known, unknown,
# malformed ids; the destination's query and fragment; no open redirect;
# HEAD; the email_click rows; Redis stopped, slow, and back; the lead cache
# following changes of leads.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp ();
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;

my $redis = OIE::Redis->new;
my $P = $redis->port;
my $FALLBACK = 'https://fallback.example/home?src=oie';
my $SECRET = 'redirect-secret-0123456789';
my $secret_file = File::Temp->new;
print $secret_file $SECRET;
close $secret_file;

# one worker: its rows come in the order of the requests
my $ng = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis 127.0.0.1:$P timeout=500ms;
H
    location /r/ { oie_redirect fallback=$FALLBACK; }
    location /plain/r/ { oie_redirect; }
    location /s/r/ {
        oie_secret @{[ $secret_file->filename ]};
        oie_redirect fallback=$FALLBACK;
    }
S

my %schema = map { $_->{name} => 1 } @{ JSON::PP::decode_json(do {
    local $/;
    open my $fh, '<', "$FindBin::Bin/../sql/schemas/email_clicks.json" or die;
    <$fh>;
}) };

# every email_clicks row, in the order written: files by time, worker and
# sequence number (numerically: "-10" comes after "-9")
# the click marks: one hash per 10 minutes of click time
sub bucket { 'oie:clicks:' . int(($_[0] // time * 1000) / 600000) }
sub mark {
    my ($lead) = @_;
    my $now = time * 1000;
    for my $b (0 .. 3) {
        my $v = $redis->cmd('HGET', bucket($now - $b * 600000), $lead);
        return $v if defined $v;
    }
    return undef;
}

sub sink_rows {
    my ($dir) = @_;
    my @files = map { $_->[0] }
                sort { $a->[1] cmp $b->[1] || $a->[2] <=> $b->[2]
                       || $a->[3] <=> $b->[3] }
                map { [ $_, m{/(\d{8}T\d{6}Z)-(\d+)-(\d+)\.ndjson$} ] }
                glob "$dir/email_clicks/*.ndjson";
    my @rows;
    for my $f (@files) {
        open my $fh, '<', $f or die "$f: $!";
        push @rows, map { JSON::PP->new->utf8->decode($_) } <$fh>;
    }
    return @rows;
}

# rows of email_clicks, once at least $n are there (bounded wait)
my $seen = 0;
sub new_rows {
    my ($n) = @_;
    my @rows;
    for (1 .. 200) {
        @rows = sink_rows($ng->events);
        last if @rows >= $seen + $n;
        sleep 0.025;
    }
    my @new = @rows[$seen .. $#rows];
    $seen = @rows;
    return @new;
}

sub get {
    my ($path, %h) = @_;
    my ($code, $hdr, $body) = $ng->request('GET', $path, headers => \%h);
    return ($code, $hdr, $body);
}

sub location { (get(@_))[1]{location} // '' }

# waits until no more rows come, and takes them all as seen
sub settle {
    my $n = -1;
    for (1 .. 50) {
        sleep 0.15;
        my $m = sink_rows($ng->events);
        last if $m == $n;
        $n = $m;
    }
    $seen = $n;
}

# the lead is known at the first try after Redis links are up
sub wait_ready {
    my ($id) = @_;
    my $ok = 0;
    for (1 .. 200) {
        my ($code, $h) = get("/r/$id");
        $ok = ($h->{location} // '') !~ /^\Q$FALLBACK\E/;
        last if $ok;
        sleep 0.025;
    }
    settle();
    return $ok;
}

$redis->lead('abc1234', destination => 'https://example.com/landing',
             firstName => 'Ada', company => 'Acme');
ok(wait_ready('abc1234'), 'nginx reaches Redis');

my $UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';

subtest 'a known id: 302 to its destination with i=, headers, the row' => sub {
    # a campaign of its own: many clicks of one campaign at once look like
    # a scanner's sweep (oie_classify_timing)
    $redis->lead('ada0001', destination => 'https://example.com/landing',
                 firstName => 'Ada', campaign => 'c-ada');
    my ($code, $h, $body) = get('/r/ada0001',
                                Referer => 'https://mail.example/inbox',
                                'User-Agent' => $UA);
    is($code, 302, 'status 302');
    is($h->{location}, 'https://example.com/landing?i=ada0001', 'Location');
    is($h->{'cache-control'}, 'no-store', 'Cache-Control: no-store');
    is($h->{'referrer-policy'}, 'no-referrer', 'Referrer-Policy');
    is($h->{'content-length'}, 0, 'no body');
    my ($row) = new_rows(1);
    is($row->{event_type}, 'email_click', 'event_type');
    is($row->{lead_id}, 'ada0001', 'lead_id');
    is($row->{campaign}, 'c-ada', 'campaign from the lead');
    is($row->{destination}, 'https://example.com/landing?i=ada0001',
       'destination as redirected');
    is($row->{outcome}, 'ok', 'outcome ok');
    is($row->{method}, 'GET', 'method');
    is($row->{ip}, '127.0.0.1', 'ip');
    is($row->{user_agent}, $UA, 'user_agent');
    is($row->{referrer}, 'https://mail.example/inbox', 'referrer');
    ok(!exists $row->{raw_id}, 'no raw_id for a known lead');
    is($row->{traffic_class}, 'human', 'a browser, first click: human');
    is_deeply($row->{traffic_reasons}, [], 'for no reason against');
    like($row->{event_id}, qr/^[0-9a-f]{32}$/, 'event_id');
    like($row->{event_time}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
         'event_time');
    is($row->{received_at}, $row->{event_time}, 'received_at, same clock');
    is_deeply([grep { !$schema{$_} } sort keys %$row], [],
              'every column is in sql/schemas/email_clicks.json');
};

subtest "the destination's own query and fragment are kept" => sub {
    my @cases = (
        [ 'https://ex.com/a?x=1', 'https://ex.com/a?x=1&i=ID' ],
        [ 'https://ex.com/a?i=old&x=1&i=older', 'https://ex.com/a?x=1&i=ID' ],
        [ 'https://ex.com/a#pricing', 'https://ex.com/a?i=ID#pricing' ],
        [ 'https://ex.com/a?x=1#frag?i=7', 'https://ex.com/a?x=1&i=ID#frag?i=7' ],
        [ 'https://ex.com/a?xi=1&i2=2&i&=3', 'https://ex.com/a?xi=1&i2=2&=3&i=ID' ],
        [ 'https://ex.com/a?', 'https://ex.com/a?i=ID' ],
        [ 'https://ex.com/a?&&x=1', 'https://ex.com/a?x=1&i=ID' ],
        [ 'HTTP://EX.COM', 'HTTP://EX.COM?i=ID' ],
        [ "https://ex.com/a b\x{c3}\x{a9}?q=\"<x>\"",
          'https://ex.com/a%20b%C3%A9?q="<x>"&i=ID' ],
        [ "https://ex.com/a\r\nSet-Cookie: x=1",
          'https://ex.com/a%0D%0ASet-Cookie:%20x=1?i=ID' ],
    );
    my $n = 0;
    for my $c (@cases) {
        my $id = sprintf 'q%06d', $n++;
        $redis->lead($id, destination => $c->[0]);
        (my $want = $c->[1]) =~ s/ID/$id/;
        (my $name = $c->[0]) =~ s/([\x00-\x1f])/sprintf '\\x%02x', ord $1/ge;
        is(location("/r/$id"), $want, $name);
    }
    new_rows($n);
};

subtest 'unknown, malformed and empty ids go to the fallback, and say why' => sub {
    my %want = (
        '/r/zzz9999'                => [ 'unknown_id', 'zzz9999', 'zzz9999' ],
        '/r/ab12'                   => [ 'malformed_id', undef, 'ab12' ],
        '/r/abc!def'                => [ 'malformed_id', undef, 'abc!def' ],
        '/r/abcdefghi'              => [ 'malformed_id', undef, 'abcdefghi' ],
        '/r/'                       => [ 'malformed_id', undef, undef ],
        '/r/abc1234.shorttg'        => [ 'malformed_id', undef, 'abc1234.shorttg' ],
        '/r/' . ('x' x 100)         => [ 'malformed_id', undef, 'x' x 64 ],
        '/r/%C3%A9%FFabc'           => [ 'malformed_id', undef, "\x{e9}\x{fffd}abc" ],
    );
    for my $path (sort keys %want) {
        my ($code, $h) = get($path);
        is($code, 302, "$path: 302");
        is($h->{location}, $FALLBACK, "$path: to the fallback, no i=");
        my ($row) = new_rows(1);
        is($row->{outcome}, $want{$path}[0], "$path: outcome");
        is($row->{lead_id}, $want{$path}[1], "$path: lead_id");
        is($row->{raw_id}, $want{$path}[2], "$path: raw_id");
        is($row->{destination}, $FALLBACK, "$path: destination");
    }
};

subtest 'no open redirect: only stored destinations or the fallback' => sub {
    for my $path ('/r/abc1234?u=https://evil.example/',
                  '/r/abc1234?i=evil&destination=https://evil.example/',
                  '/r/https:%2F%2Fevil.example',
                  '/r//evil.example/abc1234x',
                  '/r/abc1234%3Fu=https:%2F%2Fevil.example') {
        my $loc = location($path, Host => 'evil.example');
        unlike($loc, qr/evil/, "$path: $loc");
    }
    settle();

    # stored, but not a web address: the fallback, with the id
    for my $dest ('javascript:alert(1)', '//evil.example/x', 'ftp://x/',
                  '/relative', 'https:///nohost', '') {
        $redis->lead('bad0001', destination => $dest);
        is(location('/r/bad0001'), "$FALLBACK&i=bad0001",
           "destination '$dest': fallback with i=");
        my ($row) = new_rows(1);
        is($row->{outcome}, 'ok', "destination '$dest': still the lead's click");
    }
    $redis->lead('bad0002', destination => undef);
    is(location('/r/bad0002'), "$FALLBACK&i=bad0002", 'no destination at all');
    new_rows(1);
    like($ng->error_log, qr/lead "bad0001" has no usable destination/,
         'a lead without a usable destination is logged');
};

subtest 'HEAD: the same redirect, recorded as not human' => sub {
    $redis->lead('head001', destination => 'https://example.com/h',
                 campaign => 'c-head');
    my ($code, $h, $body) = $ng->request('HEAD', '/r/head001',
                                         headers => { 'User-Agent' => $UA });
    is($code, 302, 'status 302');
    is($h->{location}, 'https://example.com/h?i=head001', 'Location');
    is($body, '', 'no body');
    my ($row) = new_rows(1);
    is($row->{method}, 'HEAD', 'method HEAD');
    is($row->{outcome}, 'ok', 'outcome ok');
    is($row->{traffic_class}, 'bot', 'traffic_class bot');
    ok((grep { $_ eq 'method:head' } @{ $row->{traffic_reasons} }),
       'reason: method:head');
    is(mark('head001'), undef, 'a HEAD leaves no click to confirm');

    $redis->lead('get0001', destination => 'https://example.com/g',
                 campaign => 'c-get');
    get('/r/get0001', 'User-Agent' => $UA);
    ($row) = new_rows(1);
    is($row->{traffic_class}, 'human', 'a browser GET: human');
    my $m;
    for (1 .. 100) {
        last if defined($m = mark('get0001'));
        sleep 0.01;
    }
    ok(defined $m, 'it leaves a click to confirm');

    $redis->lead('bot0001', destination => 'https://example.com/b',
                 campaign => 'c-bot');
    get('/r/bot0001', 'User-Agent' => 'curl/8.0');
    ($row) = new_rows(1);
    is($row->{traffic_class}, 'bot', 'curl: bot');
    get('/r/zzz0002', 'User-Agent' => $UA);
    new_rows(1);
    is(mark('bot0001'), undef, "a bot's click awaits no confirmation");
};

subtest 'other methods: 405 with Allow, no row' => sub {
    for my $m (qw(POST PUT DELETE)) {
        my ($code, $h, $body) = $ng->request($m, '/r/abc1234', body => 'x=1');
        is($code, 405, "$m: 405");
        is($h->{allow}, 'GET, HEAD', "$m: Allow");
        is($body, qq({"error":"method not allowed"}\n), "$m: JSON error");
    }
    $ng->request('GET', '/r/zzz0000');
    my ($row) = new_rows(1);
    is($row->{lead_id}, 'zzz0000', 'the next row is the next GET');
};

subtest 'signed links: genuine, unsigned and forged ids, and their rows' => sub {
    my $good = OIE::Redis::sign_id($SECRET, 'abc1234');
    (my $forged = $good) =~ s/.$/$& eq 'a' ? 'b' : 'a'/e;
    is(location("/s/r/$good"), "https://example.com/landing?i=$good",
       'genuine: the destination, with the signed id');
    my ($row) = new_rows(1);
    is($row->{outcome}, 'ok', 'genuine: ok');
    is($row->{lead_id}, 'abc1234', 'genuine: the bare id');
    for my $id ('abc1234', $forged) {
        is(location("/s/r/$id"), $FALLBACK, "$id: the fallback, no id");
        ($row) = new_rows(1);
        is($row->{outcome}, 'bad_signature', "$id: bad_signature");
        is($row->{lead_id}, 'abc1234', "$id: the id it claims");
        is($row->{raw_id}, $id, "$id: raw_id as requested");
        is($row->{campaign}, undef, "$id: nothing of the lead");
    }
};

subtest 'without fallback=, the site root' => sub {
    my $port = $ng->port;
    is(location('/plain/r/zzz9999'), "http://127.0.0.1:$port/",
       'unknown: /');
    is(location('/plain/r/abc1234'), 'https://example.com/landing?i=abc1234',
       'known: its destination');
    new_rows(2);
};

subtest 'the cache: repeated clicks do not ask Redis, changes are seen' => sub {
    $redis->lead('cache01', destination => 'https://ex.com/one');
    is(location('/r/cache01'), 'https://ex.com/one?i=cache01', 'first');
    $redis->cmd('CONFIG', 'RESETSTAT');
    location('/r/cache01') for 1 .. 20;
    my $stats = $redis->cmd('INFO', 'commandstats');
    my ($calls) = $stats =~ /cmdstat_hgetall:calls=(\d+)/;
    $calls //= 0;
    cmp_ok($calls, '<=', 2, "20 clicks, $calls lookups (one per worker at most)");

    $redis->cmd('HSET', 'oie:lead:cache01', 'destination', 'https://ex.com/two');
    my $loc;
    for (1 .. 100) {
        $loc = location('/r/cache01');
        last if $loc =~ m{/two};
        sleep 0.02;
    }
    is($loc, 'https://ex.com/two?i=cache01', 'a changed destination is followed');
    for (1 .. 10) {
        is(location('/r/cache01'), 'https://ex.com/two?i=cache01',
           "and stays ($_)");
    }

    $redis->cmd('DEL', 'oie:lead:cache01');
    for (1 .. 100) {
        $loc = location('/r/cache01');
        last if $loc eq $FALLBACK;
        sleep 0.02;
    }
    is($loc, $FALLBACK, 'a deleted lead is unknown');

    is(location('/r/new0001'), $FALLBACK, 'unknown before it exists');
    $redis->lead('new0001', destination => 'https://ex.com/new');
    for (1 .. 100) {
        $loc = location('/r/new0001');
        last if $loc ne $FALLBACK;
        sleep 0.02;
    }
    is($loc, 'https://ex.com/new?i=new0001', 'a lead created later is known');

    $redis->cmd('FLUSHALL');
    for (1 .. 100) {
        $loc = location('/r/new0001');
        last if $loc eq $FALLBACK;
        sleep 0.02;
    }
    is($loc, $FALLBACK, 'FLUSHALL empties the cache');
    settle();
};

subtest 'Redis slow (DEBUG SLEEP): the fallback, without waiting for it' => sub {
    $redis->lead('slow001', destination => 'https://ex.com/slow');
    # not in the cache: a miss must ask Redis
    my $s = $redis->sleep_async(2);
    sleep 0.1;
    my ($code, $h) = get('/r/slow001');
    my $still_asleep = IO::Select->new($s)->can_read(0) ? 0 : 1;
    is($code, 302, 'status 302');
    is($h->{location}, "$FALLBACK&i=slow001",
       'fallback, with the id (the link was good)');
    ok($still_asleep, 'answered while Redis was still asleep');
    my ($row) = new_rows(1);
    is($row->{outcome}, 'redis_timeout', 'outcome redis_timeout');
    is($row->{raw_id}, 'slow001', 'raw_id');
    my $line = <$s>;
    is($line, "+OK\r\n", 'Redis woke up');
    close $s;
    my $loc;
    for (1 .. 100) {
        $loc = location('/r/slow001');
        last if $loc =~ m{ex.com/slow};
        sleep 0.02;
    }
    is($loc, 'https://ex.com/slow?i=slow001', 'and answers again after');
    settle();
};

subtest 'Redis stopped mid-suite: fallback and a row that says so; back again' => sub {
    $redis->stop;
    # the workers learn it as soon as they read the end of the stream
    for (1 .. 100) {
        last if location('/r/abc1234') ne 'https://example.com/landing?i=abc1234';
        sleep 0.02;
    }
    settle();
    for my $i (1 .. 3) {
        my ($code, $h) = get('/r/abc1234');
        is($code, 302, "down $i: 302");
        is($h->{location}, "$FALLBACK&i=abc1234", "down $i: fallback with i=");
    }
    my @rows = new_rows(3);
    is_deeply([map { $_->{outcome} } @rows], [('redis_error') x 3],
              'outcome redis_error');
    is(location('/r/bad!id'), $FALLBACK, 'a malformed id: plain fallback');
    new_rows(1);

    $redis->start;
    $redis->lead('abc1234', destination => 'https://example.com/landing');
    my $loc = '';
    for (1 .. 200) {
        $loc = location('/r/abc1234');
        last if $loc eq 'https://example.com/landing?i=abc1234';
        sleep 0.025;
    }
    is($loc, 'https://example.com/landing?i=abc1234', 'recovered');
    like($ng->error_log, qr/oie: redis 127\.0\.0\.1:$P \(main link\): connection lost/,
         'the loss is logged');
    like($ng->error_log, qr/oie: redis 127\.0\.0\.1:$P \(main link\): connected/,
         'so is the reconnection');
};

$ng->quit;
unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in the log');

done_testing;
