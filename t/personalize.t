# oie_personalize on /p?i=<id>: only the configured fields, intentLevel
# from the live counters, CORS like /t, and clear errors (404 unknown,
# 400 malformed, 503 when Redis is away or late).
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use IO::Select;
use JSON::PP ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;

my $redis = OIE::Redis->new;
my $P = $redis->port;
my $dir = tempdir('oie-p-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $SECRET = 'personal-secret-0123456789';
open my $sf, '>', "$dir/secret" or die;
print $sf $SECRET;
close $sf;

my $ng = OIE::Nginx->new(workers => 2, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS;
    oie_redis 127.0.0.1:$P timeout=500ms;
H
    location = /p { oie_personalize fields=firstName,company,title,plan; }
    location = /default/p { oie_personalize; }
    location = /cors/p {
        oie_allowed_origins https://www.example.com https://example.com;
        oie_personalize fields=firstName;
    }
    location = /signed/p { oie_secret $dir/secret; oie_personalize; }
S

sub p {
    my ($path, %h) = @_;
    my ($code, $hdr, $body) = $ng->request('GET', $path, headers => \%h);
    my $json = eval { JSON::PP->new->utf8->decode($body) };
    return ($code, $hdr, $json, $body);
}

$redis->lead('per0001', firstName => 'Ada', lastName => 'Lovelace',
             company => "Analytical \x{c3}\x{a9}ngines \"Ltd\"", title => 'CTO',
             email => 'ada@example.com', plan => 'enterprise',
             destination => 'https://ex.com/');

my ($code, $h, $json);
for (1 .. 200) {
    ($code) = p('/p?i=per0001');
    last if $code == 200;
    sleep 0.025;
}

subtest 'a known lead: only the listed fields, and intentLevel' => sub {
    my ($code, $h, $json, $body) = p('/p?i=per0001');
    is($code, 200, 'status 200');
    is($h->{'content-type'}, 'application/json', 'JSON');
    is($h->{'cache-control'}, 'private', 'Cache-Control: private');
    is_deeply($json, { firstName => 'Ada', title => 'CTO', plan => 'enterprise',
                       company => "Analytical \x{e9}ngines \"Ltd\"",
                       intentLevel => 'cold' },
              'the fields, escaped, and a cold lead') or diag $body;
    unlike($body, qr/ada\@example|emailHash|e3b0c442|Lovelace|destination|campaign/,
           'nothing else: no email, hash, other fields');
    like($body, qr/^\{"firstName":"Ada","company":/, 'in the configured order');
};

subtest 'the default fields: firstName, company' => sub {
    my ($code, $h, $json) = p('/default/p?i=per0001');
    is_deeply([sort keys %$json], [qw(company firstName intentLevel)],
              'firstName, company, intentLevel');
};

subtest 'a field the lead lacks is left out' => sub {
    $redis->lead('per0002', firstName => 'Bo');
    my ($code, $h, $json) = p('/p?i=per0002');
    is_deeply($json, { firstName => 'Bo', intentLevel => 'cold' }, 'only what it has');
};

subtest 'intentLevel follows the live counters' => sub {
    my $now = int(time * 1000);
    my @cases = (
        # recency 30 + sessions 1 (5) + high-intent 1 (10) = 45
        [ { last_seen_ms => $now, sessions => 1, pageviews => 1,
            high_intent_pageviews => 1 }, 'warm' ],
        # 30 + 10 + 15 + 15 (one form) = 70
        [ { last_seen_ms => $now, sessions => 2, pageviews => 2,
            high_intent_pageviews => 2, form_submits => 1 }, 'hot' ],
        # 30 + 20 + 25 + 25 + 20 = 100
        [ { last_seen_ms => $now, sessions => 5, confirmed_clicks => 2,
            pageviews => 10, engaged_ms => 400000, max_scroll_depth => 100,
            video_completes => 1, high_intent_pageviews => 5,
            form_submits => 2 }, 'burning' ],
        # the same, last seen 40 days ago: no recency, 70... still hot
        [ { last_seen_ms => $now - 40 * 86400000, sessions => 5,
            confirmed_clicks => 2, pageviews => 10, engaged_ms => 400000,
            max_scroll_depth => 100, video_completes => 1,
            high_intent_pageviews => 5, form_submits => 2 }, 'burning' ],
        [ { sessions => 'garbage', pageviews => 1 }, 'cold' ],
    );
    # 40 days: recency 0, frequency 20, engagement 25, high 25, conv 20 = 90
    for my $c (@cases) {
        $redis->cmd('DEL', 'oie:score:per0001');
        $redis->cmd('HSET', 'oie:score:per0001', %{ $c->[0] });
        my ($code, $h, $json) = p('/p?i=per0001');
        is($json->{intentLevel}, $c->[1], join(',', map { "$_=$c->[0]{$_}" }
                                                    sort keys %{ $c->[0] }));
    }
    $redis->cmd('DEL', 'oie:score:per0001');
};

subtest 'errors: 400, 404, 405, with CORS still answered' => sub {
    my @cases = (
        [ '/p', 400, 'missing "i" argument' ],
        [ '/p?i=', 400, 'missing "i" argument' ],
        [ '/p?x=per0001', 400, 'missing "i" argument' ],
        [ '/p?i=no', 400, 'malformed id' ],
        [ '/p?i=per0001%00', 400, 'malformed id' ],
        [ '/p?i=zzz9999', 404, 'unknown id' ],
    );
    for my $c (@cases) {
        my ($code, $h, $json) = p($c->[0]);
        is($code, $c->[1], "$c->[0]: $c->[1]");
        is_deeply($json, { error => $c->[2] }, "$c->[0]: JSON error");
    }
    my ($code, $h, $body) = $ng->request('POST', '/p?i=per0001', body => '{}');
    is($code, 405, 'POST: 405');
    is($h->{allow}, 'GET, HEAD, OPTIONS', 'POST: Allow');
};

subtest 'CORS: like /t' => sub {
    my ($code, $h, $json) = p('/cors/p?i=per0001', Origin => 'https://example.com');
    is($code, 200, 'an allowed origin: 200');
    is($h->{'access-control-allow-origin'}, 'https://example.com', 'echoed');
    is($h->{'access-control-allow-credentials'}, 'true', 'credentials');
    is($h->{vary}, 'Origin', 'Vary: Origin');

    ($code, $h, $json) = p('/cors/p?i=per0001', Origin => 'https://evil.example');
    is($code, 403, 'another origin: 403');
    is_deeply($json, { error => 'origin not allowed' }, 'JSON error');
    ok(!exists $h->{'access-control-allow-origin'}, 'no CORS header for it');

    ($code, $h, $json) = p('/cors/p?i=zzz9999', Origin => 'https://www.example.com');
    is($code, 404, 'an allowed origin, unknown id: 404');
    is($h->{'access-control-allow-origin'}, 'https://www.example.com',
       'the page can read the 404');

    ($code, $h, $json) = p('/cors/p?i=per0001');
    is($code, 200, 'no Origin (same origin): 200');

    my $body;
    ($code, $h, $body) = $ng->request('OPTIONS', '/cors/p?i=per0001',
        headers => { Origin => 'https://example.com',
                     'Access-Control-Request-Method' => 'GET' });
    is($code, 204, 'preflight: 204');
    like($h->{'access-control-allow-methods'}, qr/GET/, 'preflight: methods');

    # the request's Host is "127.0.0.1"
    ($code) = p('/p?i=per0001', Origin => 'http://127.0.0.1');
    is($code, 200, 'no oie_allowed_origins: the same host is allowed');
    ($code) = p('/p?i=per0001', Origin => 'https://example.com');
    is($code, 403, 'no oie_allowed_origins: another is not');
};

subtest 'signed ids: unsigned and forged ones are unknown' => sub {
    my $good = OIE::Redis::sign_id($SECRET, 'per0001');
    (my $bad = $good) =~ s/\.(.)/'.' . ($1 eq 'x' ? 'y' : 'x')/e;
    my ($code, $h, $json) = p("/signed/p?i=$good");
    is($code, 200, 'signed: 200');
    is($json->{firstName}, 'Ada', 'signed: the lead');
    for my $id ('per0001', $bad, OIE::Redis::sign_id('another-secret-0123456', 'per0001')) {
        ($code, $h, $json) = p("/signed/p?i=$id");
        is($code, 404, "$id: 404");
        is_deeply($json, { error => 'unknown id' }, "$id: as if unknown");
    }
    ($code) = p('/signed/p?i=' . OIE::Redis::sign_id($SECRET, 'zzz9999'));
    is($code, 404, 'a genuine id of no lead: 404 too');
    ($code) = p("/signed/p?i=" . join('%2E', split /\./, $good));
    is($code, 200, 'the dot percent-encoded: 200');
};

subtest 'Redis slow: 503 within the timeout; the cache answers leads it has' => sub {
    $redis->lead('slow002', firstName => 'Cy');
    my $s = $redis->sleep_async(2);
    sleep 0.1;
    my ($code, $h, $json) = p('/p?i=slow002');
    my $asleep = !IO::Select->new($s)->can_read(0);
    is($code, 503, 'a lead not cached: 503');
    is_deeply($json, { error => 'lead store timed out' }, 'timed out');
    ok($asleep, 'answered while Redis slept');
    my $line = <$s>;
    close $s;
};

subtest 'Redis stopped: 503 JSON' => sub {
    $redis->stop;
    my ($code, $h, $json);
    for (1 .. 100) {
        ($code, $h, $json) = p('/p?i=zzz9999');
        last if $code == 503;
        sleep 0.02;
    }
    is($code, 503, 'status 503');
    is_deeply($json, { error => 'lead store unavailable' }, 'unavailable');
    $redis->start;
    $redis->lead('per0001', firstName => 'Ada');
    for (1 .. 200) {
        ($code) = p('/p?i=per0001');
        last if $code == 200;
        sleep 0.025;
    }
    is($code, 200, 'back after Redis is');
};

$ng->quit;
unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in the log');

subtest 'fields that may never be answered are refused at start' => sub {
    for my $f ('email', 'firstName,email', 'emailHash', 'phoneHash',
               'EMAIL', 'first name', 'a,,b', '') {
        my $bad = OIE::Nginx->new(workers => 1, http => <<H, server => <<S);
    oie_redis 127.0.0.1:$P;
H
    location = /p { oie_personalize "fields=$f"; }
S
        my $out = `$OIE::Nginx::Binary -t -p @{[ $bad->prefix ]}/ -c conf/nginx.conf 2>&1`;
        isnt($? >> 8, 0, "fields=$f: nginx -t fails");
        like($out, qr/oie_personalize: /, "fields=$f: says why");
    }
    my $nore = OIE::Nginx->new(workers => 1, server => <<S);
    location = /p { oie_personalize; }
S
    my $out = `$OIE::Nginx::Binary -t -p @{[ $nore->prefix ]}/ -c conf/nginx.conf 2>&1`;
    like($out, qr/need "oie_redis"/, 'no oie_redis: nginx -t says so');
};

done_testing;
