# oie_miss_limit: clients guessing ids on /p and /r/ are refused once
# they missed too many too fast; hits never count; each client address
# (an IPv6 one by its /64) alone; a correctly signed id always passes; the
# state survives a reload; the limit drains at its rate; bad settings fail
# nginx -t.  Client addresses come from X-Forwarded-For through real_ip.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp ();
use JSON::PP ();
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Events qw(sink_rows);
use OIE::Nginx;
use OIE::Redis;

my $redis = OIE::Redis->new;
my $P = $redis->port;
my $FALLBACK = 'https://fallback.example/';
my $SECRET = 'miss-limit-secret-0123456789';
my $secret_file = File::Temp->new;
print $secret_file $SECRET;
close $secret_file;

# 6 misses a minute (one drains in 10 s), 3 at once
my $ng = OIE::Nginx->new(workers => 2, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis 127.0.0.1:$P timeout=1s;
    oie_miss_limit 6r/m burst=3;
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
H
    location = /p { oie_personalize fields=firstName; }
    location /r/ { oie_redirect fallback=$FALLBACK; }
    location /o/ { oie_open; }
    location = /s/p {
        oie_secret @{[ $secret_file->filename ]};
        oie_personalize fields=firstName;
    }
S

$redis->lead('lim0001', firstName => 'Ada', destination => 'https://ex.com/a',
             campaign => 'c1');
$redis->lead('lim0002', firstName => 'Bo', destination => 'https://ex.com/b',
             campaign => 'c1');

sub get {
    my ($path, $ip) = @_;
    return $ng->request('GET', $path,
                        headers => { 'X-Forwarded-For' => $ip });
}

# Redis may take a moment to be reached
for (1 .. 200) {
    my ($code) = get('/p?i=lim0001', '192.0.2.1');
    last if $code == 200;
    sleep 0.025;
}

subtest 'hits never count' => sub {
    my $ip = '198.51.100.1';
    my @codes = map { (get('/p?i=lim0001', $ip))[0] } 1 .. 20;
    is_deeply(\@codes, [ (200) x 20 ], '20 lookups of a known id: all 200');
};

subtest '/p: the burst, then 429 with Retry-After' => sub {
    my $ip = '198.51.100.2';
    my @codes = map { (get("/p?i=zzz000$_", $ip))[0] } 1 .. 4;
    is_deeply(\@codes, [404, 404, 404, 404],
              'four unknown ids: 404 each (the 4th takes it over)');
    my ($code, $h, $body) = get('/p?i=lim0001', $ip);
    is($code, 429, 'then even a known id: 429');
    is_deeply(JSON::PP::decode_json($body),
              { error => 'too many unknown ids from this address' },
              'a JSON error');
    ok(defined $h->{'retry-after'} && $h->{'retry-after'} =~ /^\d+$/
       && $h->{'retry-after'} >= 1 && $h->{'retry-after'} <= 10,
       'Retry-After in seconds, at most one drained miss (10 s): '
       . ($h->{'retry-after'} // 'none'));
    ($code) = get('/p?i=zz', $ip);
    is($code, 429, 'a malformed id too: 429');
    ($code) = get('/p?i=lim0001', '198.51.100.3');
    is($code, 200, 'another client: 200');
    my $log = $ng->error_log;
    my @over = $log =~ /client 198\.51\.100\.2 went over oie_miss_limit/g;
    is(scalar @over, 1, 'one warning, when it went over');
};

subtest 'malformed and badly signed ids are misses too' => sub {
    my $ip = '198.51.100.4';
    my @codes = map { (get("/p?i=no$_", $ip))[0] } 1 .. 4;
    is_deeply(\@codes, [400, 400, 400, 400], 'four malformed ids: 400');
    my ($code) = get('/p?i=lim0001', $ip);
    is($code, 429, 'then 429');

    $ip = '198.51.100.5';
    @codes = map { (get("/s/p?i=lim000${_}.AAAAAAAA", $ip))[0] }
             1 .. 4;
    is_deeply(\@codes, [404, 404, 404, 404], 'four forged signatures: 404');
    ($code) = get('/s/p?i=lim0002.BBBBBBBB', $ip);
    is($code, 429, 'then a forged one: 429');
    my $signed = OIE::Redis::sign_id($SECRET, 'lim0001');
    my ($c2, $h2, $body) = get("/s/p?i=$signed", $ip);
    is($c2, 200, 'a correctly signed id passes even over the limit '
                 . '(it cannot have been guessed)');
    like($body, qr/"firstName":"Ada"/, 'and is answered');
};

subtest 'IPv6: a /64 is one client' => sub {
    my @codes = map { (get("/p?i=zzz100$_", "2001:db8:1:2::$_"))[0] } 1 .. 4;
    is_deeply(\@codes, [404, 404, 404, 404],
              'four misses from four addresses of one /64');
    my ($code) = get('/p?i=lim0001', '2001:db8:1:2:ffff::1');
    is($code, 429, 'the /64 is over the limit');
    ($code) = get('/p?i=lim0001', '2001:db8:1:3::1');
    is($code, 200, 'the next /64 is not');
    ($code) = get('/p?i=lim0001', '::ffff:198.51.100.9');
    is($code, 200, 'an IPv4-mapped address is its IPv4 client');
};

subtest '/r/: over the limit, the fallback without a lookup' => sub {
    my $ip = '203.0.113.7';
    for my $n (1 .. 4) {
        my ($code, $h) = get("/r/zzz200$n", $ip);
        is($h->{location}, $FALLBACK, "unknown id $n: the fallback");
    }
    my ($code, $h) = get('/r/lim0002', $ip);
    is($code, 302, 'a known id: still a 302 (a click never fails)');
    is($h->{location}, $FALLBACK, 'but to the fallback');
    ($code, $h) = get('/r/lim0002', '203.0.113.8');
    like($h->{location}, qr{^https://ex\.com/b\?i=lim0002$},
         'another client: the destination');
    ($code, $h) = get('/o/zzz3001', $ip);
    is($code, 200, '/o/ answers its GIF to anyone');

    my @rows;
    for (1 .. 100) {
        @rows = grep { ($_->{ip} // '') eq $ip }
                sink_rows($ng->events, 'email_clicks');
        last if @rows >= 6;
        sleep 0.05;
    }
    # two workers write their own files: the rows' order is not the clicks'
    my @clicks = grep { $_->{event_type} eq 'email_click' } @rows;
    is_deeply([ sort map { $_->{outcome} } @clicks ],
              [ 'limited', ('unknown_id') x 4 ],
              'the rows: four unknown_id and one limited') or diag explain \@rows;
    my ($limited) = grep { $_->{outcome} eq 'limited' } @clicks;
    is($limited && $limited->{raw_id}, 'lim0002',
       'the limited click is the known id, its raw id kept');
};

subtest 'a reload keeps who is over the limit' => sub {
    $ng->reload;
    my $code;
    for (1 .. 100) {
        ($code) = get('/p?i=lim0001', '198.51.100.2');
        last if $ng->error_log =~ /reconfiguring/;
        sleep 0.05;
    }
    sleep 0.5;
    ($code) = get('/p?i=lim0001', '198.51.100.2');
    is($code, 429, 'still 429 after the reload');
    ($code) = get('/p?i=lim0001', '198.51.100.3');
    is($code, 200, 'and 200 for the others');
};

$ng->quit;

# a fast rate: the limit drains and the client is let in again
my $fast = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS;
    oie_redis 127.0.0.1:$P timeout=1s;
    oie_miss_limit 2r/s burst=1 zone=64k;
H
    location = /p { oie_personalize fields=firstName; }
S

subtest 'the limit drains at its rate' => sub {
    my ($code);
    for (1 .. 200) {
        ($code) = $fast->request('GET', '/p?i=lim0001');
        last if $code == 200;
        sleep 0.025;
    }
    my @codes = map { ($fast->request('GET', "/p?i=zzz400$_"))[0] } 1 .. 2;
    my ($c, $h) = $fast->request('GET', '/p?i=lim0001');
    is($c, 429, 'two misses with burst=1: over');
    ok($h->{'retry-after'} >= 1, "Retry-After $h->{'retry-after'}");
    sleep $h->{'retry-after'} + 0.2;
    ($c) = $fast->request('GET', '/p?i=lim0001');
    is($c, 200, 'after Retry-After: 200 again');
};
$fast->quit;

subtest 'bad settings fail nginx -t' => sub {
    my @cases = (
        [ 'oie_miss_limit 10r/h;', qr/invalid rate "10r\/h"/ ],
        [ 'oie_miss_limit 0r/s;', qr/invalid rate "0r\/s"/ ],
        [ 'oie_miss_limit ten;', qr/invalid rate "ten"/ ],
        [ 'oie_miss_limit 10r/m burst=-1;', qr/invalid burst "burst=-1"/ ],
        [ 'oie_miss_limit 10r/m zone=1k;', qr/invalid zone size "zone=1k"/ ],
        [ 'oie_miss_limit 10r/m every=1;', qr/unknown parameter "every=1"/ ],
        [ "oie_miss_limit 10r/m;\n    oie_miss_limit 5r/m;", qr/is duplicate/ ],
        [ 'oie_miss_limit off burst=1;', qr/no parameters after "off"/ ],
    );
    for my $c (@cases) {
        my $bad = OIE::Nginx->new(http => "    oie_sink file \$EVENTS;\n"
                                          . "    $c->[0]\n");
        my ($rc, $out) = $bad->_run('-t');
        ok($rc != 0, "$c->[0]: nginx -t fails");
        like($out, $c->[1], "$c->[0]: says why") or diag $out;
        like($out, qr/nginx\.conf:\d+/, "$c->[0]: names the line");
    }
    my $off = OIE::Nginx->new(http => "    oie_sink file \$EVENTS;\n"
                                      . "    oie_miss_limit off;\n");
    my ($rc, $out) = $off->_run('-t');
    is($rc, 0, 'oie_miss_limit off: fine') or diag $out;
};

unlike($ng->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert, crit or emerg');
done_testing;
