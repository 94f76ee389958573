# Live intent scores in Redis after a scripted visit (click, confirmation,
# page events), the sorted set oie:hot, intentLevel in /p, what is not
# scored (unknown leads, forged ids, webdriver), counters kept exact when
# two workers score one lead at once, and the hot-lead alert received once
# by a local stand-in webhook that fails the first time.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(sleep time);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;
use OIE::Events qw(event body);

my $redis = OIE::Redis->new;
my $P = $redis->port;
my $dir = tempdir('oie-live-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $SECRET = 'live-secret-0123456789abc';
open my $sf, '>', "$dir/secret" or die;
print $sf $SECRET;
close $sf;

# the stand-in webhook: answers 500 to the first alert of each lead, 200
# after; keeps every request's body, one JSON line each
my $hook = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                 LocalPort => 0, ReuseAddr => 1) or die $!;
my $HP = $hook->sockport;
my $received = "$dir/hook.ndjson";
my $hook_pid = fork // die;
if (!$hook_pid) {
    my %n;
    while (my $c = $hook->accept) {
        local $/ = "\r\n";
        my ($len, $line) = (0);
        my $first = <$c>;
        while (defined($line = <$c>) && $line ne "\r\n") {
            $len = $1 if $line =~ /^Content-Length:\s*(\d+)/i;
        }
        my $body = '';
        read($c, $body, $len) if $len;
        open my $fh, '>>', $received or die;
        print $fh JSON::PP->new->canonical->encode(
            { request => $first =~ s/\r\n//r, body => $body }), "\n";
        close $fh;
        my ($lead) = $body =~ /"leadId":"([^"]*)"/;
        my $status = $n{$lead // ''}++ ? '200 OK' : '500 Internal Server Error';
        print $c "HTTP/1.1 $status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        close $c;
    }
    POSIX::_exit(0);
}
close $hook;
END { kill 'TERM', $hook_pid if $hook_pid; }

my $ng = OIE::Nginx->new(workers => 2, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis 127.0.0.1:$P timeout=1s;
    oie_alert webhook=http://127.0.0.1:$HP/hook threshold=60 retries=3 pages=5;
H
    location /r/ { oie_redirect fallback=https://fallback.example/; }
    location = /p { oie_personalize fields=firstName; }
    location = /st { oie_secret $dir/secret; oie_track; }
S

# a browser: requests without one are bots (oie_classify), never scored
my $UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';
my %json = ('Content-Type' => 'application/json', 'User-Agent' => $UA);

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

sub track {
    my ($path, @ev) = @_;
    my ($code, $h, $b) = $ng->request('POST', $path, body => body(@ev),
                                      headers => \%json);
    return $code;
}

sub ev {
    my ($lead, %o) = @_;
    return event(leadId => $lead, visitorId => "v-$lead",
                 timestamp => int(time * 1000), %o);
}

# the score in oie:hot once it is $want (or what it is after a while)
sub hot_score {
    my ($lead, $want) = @_;
    my $s;
    for (1 .. 200) {
        $s = $redis->cmd('ZSCORE', 'oie:hot', $lead);
        last if defined $s && defined $want && $s == $want;
        sleep 0.025;
    }
    return $s;
}

# what the webhook received about a lead
sub hook_requests {
    my ($lead) = @_;
    return () unless -e $received;
    open my $fh, '<', $received or die;
    return grep { $_->{body} =~ /"leadId":"$lead"/ }
           map { JSON::PP::decode_json($_) } <$fh>;
}

# a hash field once it is $want (bounded wait)
sub field_is {
    my ($key, $field, $want) = @_;
    my $v;
    for (1 .. 200) {
        $v = $redis->hash($key)->{$field};
        last if defined $v && $v eq $want;
        sleep 0.025;
    }
    return $v;
}

# the click's mark is written after the 302 is answered
sub clicked {
    my ($lead) = @_;
    $ng->request('GET', "/r/$lead", headers => { 'User-Agent' => $UA });
    for (1 .. 100) {
        return 1 if defined mark($lead);
        sleep 0.01;
    }
    return 0;
}

sub click_rows {
    my @rows;
    for my $f (glob $ng->events . '/email_clicks/*.ndjson') {
        open my $fh, '<', $f or die;
        push @rows, map { JSON::PP->new->utf8->decode($_) } <$fh>;
    }
    return @rows;
}

$redis->lead('live001', firstName => 'Lin', destination => 'https://example.com/',
             campaign => 'q3-live');

for (1 .. 200) {
    my ($code, $h) = $ng->request('GET', '/p?i=live001');
    last if $code == 200;
    sleep 0.025;
}

subtest 'a click, then a pageview: confirmed, counted, scored' => sub {
    my ($code, $h) = $ng->request('GET', '/r/live001',
                                  headers => { 'User-Agent' => $UA });
    is($h->{location}, 'https://example.com/?i=live001', 'a click by a person');
    my $pending;
    for (1 .. 100) {
        # written after the answer, at the end of the event loop's turn
        last if defined($pending = mark('live001'));
        sleep 0.01;
    }
    ok(defined $pending, 'a click waits for confirmation in oie:clicks');
    cmp_ok(abs($pending - time * 1000), '<', 600000, 'marked with its time');

    is(track('/t', ev('live001', url => 'https://example.com/pricing')), 204,
       'a pageview of /pricing');

    # recency 30 + sessions 1 (5) + confirmed click 1 (3) + high-intent 1 (10):
    # the human click counted, its confirmation not a second time
    is(hot_score('live001', 48), 48, 'oie:hot: 48');
    my $c = $redis->hash('oie:score:live001');
    is($c->{sessions}, 1, 'sessions 1');
    is($c->{pageviews}, 1, 'pageviews 1');
    is($c->{high_intent_pageviews}, 1, 'high-intent pageviews 1');
    is($c->{confirmed_clicks}, 1, 'confirmed clicks 1');
    cmp_ok(abs($c->{last_seen_ms} - time * 1000), '<', 600000,
           'last seen: now, on the server clock');
    is(scalar(grep { !/^(last_seen_ms|sessions|pageviews|engaged_ms|max_scroll_depth|high_intent_pageviews|form_submits|confirmed_clicks|video_completes|downloads|contact_clicks|conversion_events|last_page_ms|last_human_click_ms)$/ } keys %$c),
       0, 'only the fields of oie_score_input_t');
    my $ttl = $redis->cmd('TTL', 'oie:score:live001');
    cmp_ok($ttl, '>', 89 * 86400, 'the counters expire after 90 days');

    is(mark('live001'), undef,
       'the click was taken');
    my ($conf) = grep { $_->{event_type} eq 'click_confirmed' } click_rows();
    for (1 .. 100) {
        last if $conf;
        sleep 0.025;
        ($conf) = grep { $_->{event_type} eq 'click_confirmed' } click_rows();
    }
    ok($conf, 'a click_confirmed row');
    is($conf->{lead_id}, 'live001', 'its lead');
    is($conf->{visitor_id}, 'v-live001', 'the visitor who confirmed it');
    is($conf->{campaign}, 'q3-live', 'the campaign of the click');
    is($conf->{outcome}, 'ok', 'outcome ok');
    is($conf->{traffic_class}, 'human', "the pageview's class");
    my ($click) = grep { $_->{event_type} eq 'email_click'
                         && $_->{lead_id} eq 'live001' } click_rows();
    is($click->{traffic_class}, 'human', 'the click was a person');

    is(track('/t', ev('live001', url => 'https://example.com/about')), 204,
       'another pageview');
    is(field_is('oie:score:live001', 'pageviews', 2), 2, 'two pageviews');
    is($redis->hash('oie:score:live001')->{sessions}, 1, 'still one session');
    is(hot_score('live001', 48), 48, 'a second page of the same session: 48');
    my @conf = grep { $_->{event_type} eq 'click_confirmed' } click_rows();
    is(scalar @conf, 1, 'one click, one confirmation');
};

subtest 'engagement and a form: the score and intentLevel follow' => sub {
    is(track('/t', ev('live001', type => 'scroll', depth => 100),
                   ev('live001', type => 'engagement', engagedMs => 130000),
                   ev('live001', type => 'click', href => 'https://example.com/a.pdf',
                      linkType => 'download', tag => 'a'),
                   ev('live001', type => 'form_submit', formId => 'demo')),
       204, 'four events in one batch');
    # 30 + 8 + (engaged 8 + scroll 5 + download 3) + 10 + form 15
    is(hot_score('live001', 79), 79, 'oie:hot: 79');
    my $c = $redis->hash('oie:score:live001');
    is($c->{engaged_ms}, 130000, 'engaged_ms');
    is($c->{max_scroll_depth}, 100, 'max scroll depth');
    is($c->{downloads}, 1, 'downloads');
    is($c->{form_submits}, 1, 'form submits');
    my ($code, $h, $b) = $ng->request('GET', '/p?i=live001');
    is($b, qq({"firstName":"Lin","intentLevel":"hot"}\n), '/p: hot');
};

subtest 'a click older than 30 minutes confirms nothing' => sub {
    $redis->lead('old0001', firstName => 'Od');
    my $then = int(time * 1000) - 31 * 60000;
    $redis->cmd('HSET', bucket($then), 'old0001', $then);
    is(track('/t', ev('old0001', url => 'https://example.com/pricing')), 204,
       'a pageview');
    # recency 30 + session 5 + high-intent 10: no click point
    is(hot_score('old0001', 45), 45, 'scored without the click');
    my $left;
    for (1 .. 100) {
        last unless defined($left = mark('old0001'));
        sleep 0.02;
    }
    is($left, undef, 'the stale mark is gone');
    is($redis->hash('oie:score:old0001')->{confirmed_clicks}, 0,
       'no confirmed click');
    my @conf = grep { $_->{event_type} eq 'click_confirmed'
                      && $_->{lead_id} eq 'old0001' } click_rows();
    is(scalar @conf, 0, 'no click_confirmed row');
};

subtest 'not scored: unknown leads, no lead, webdriver, forged ids' => sub {
    is(track('/t', ev('zzz9999')), 204, 'an unknown lead');
    my ($code) = $ng->request('POST', '/t', body => body(ev('live003')),
                              headers => { 'Content-Type' => 'application/json' });
    is($code, 204, 'no user agent: a bot');
    is(track('/t', event()), 204, 'no lead id');
    $redis->lead('live003', firstName => 'Wd');
    is(track('/t', ev('live003', webdriver => JSON::PP::true)), 204,
       'a webdriver pageview');
    is(track('/st', ev('live003')), 204, 'an unsigned id where ids are signed');
    (my $forged = OIE::Redis::sign_id($SECRET, 'live003')) =~ s/\.(.)/'.' . ($1 eq 'Q' ? 'R' : 'Q')/e;
    is(track('/st', ev($forged)), 204, 'a forged one');
    my $good = OIE::Redis::sign_id($SECRET, 'live003');
    is(track('/st', ev($good, url => 'https://example.com/demo')), 204,
       'and, last, a genuine signed one');
    # recency 30 + session 5 + high-intent 10
    is(hot_score('live003', 45), 45, 'only the genuine one counted: 45');
    is($redis->hash('oie:score:live003')->{pageviews}, 1, 'one pageview');
    is($redis->cmd('EXISTS', 'oie:score:zzz9999'), 0, 'no counters for an unknown id');
    is($redis->cmd('ZSCORE', 'oie:hot', 'zzz9999'), undef, 'nor a place in oie:hot');
};

subtest 'two workers scoring one lead at once: no event lost or counted twice' => sub {
    $redis->lead('live002', firstName => 'Con');
    my @pids;
    for my $c (1 .. 4) {
        my $pid = fork // die;
        if (!$pid) {
            my $ok = 0;
            for my $i (1 .. 10) {
                # one visitor each: ten pages in two seconds are a bot
                $ok++ if track('/t', ev('live002', url => "https://example.com/p$c-$i",
                                        visitorId => "v-$c-$i")) == 204;
            }
            POSIX::_exit($ok == 10 ? 0 : 1);
        }
        push @pids, $pid;
    }
    my $fails = 0;
    for (@pids) { waitpid $_, 0; $fails++ if $? }
    is($fails, 0, '40 pageviews accepted');
    my $pv;
    for (1 .. 200) {
        $pv = $redis->hash('oie:score:live002')->{pageviews} // 0;
        last if $pv >= 40;
        sleep 0.025;
    }
    sleep 0.3;
    $pv = $redis->hash('oie:score:live002')->{pageviews};
    is($pv, 40, 'pageviews: exactly 40');
    # recency 30 + 1 session (5) + 40 pageviews (5): the lead's counters,
    # whichever visitor
    is($redis->cmd('ZSCORE', 'oie:hot', 'live002'), 40, 'oie:hot: 40');
};

subtest 'a lead crossing the threshold: one alert, delivered on the retry' => sub {
    $redis->lead('alert01', firstName => 'Al', company => 'Hot Co',
                 title => 'VP Sales', destination => 'https://example.com/');
    ok(clicked('alert01'), 'a click');
    is(track('/t', ev('alert01', url => 'https://example.com/pricing')), 204,
       'a click and /pricing: 48, under 60');
    is(hot_score('alert01', 48), 48, 'score 48');
    is(track('/t', ev('alert01', type => 'form_submit', formId => 'demo')),
       204, 'a form: 63');
    is(hot_score('alert01', 63), 63, 'score 63');

    my @req;
    for (1 .. 400) {
        @req = hook_requests('alert01');
        last if @req >= 2;
        sleep 0.025;
    }
    is(scalar @req, 2, 'the webhook was called twice: a 500, then a 200');
    is($req[0]{request}, 'POST /hook HTTP/1.1', 'a POST');
    is($req[0]{body}, $req[1]{body}, 'the retry sends the same alert');
    my $alert = JSON::PP::decode_json($req[1]{body});
    is($alert->{type}, 'hot_lead', 'type');
    is($alert->{leadId}, 'alert01', 'leadId');
    is($alert->{score}, 63, 'score');
    is($alert->{level}, 'hot', 'level');
    is($alert->{threshold}, 60, 'threshold');
    like($alert->{at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'at');
    is_deeply($alert->{lead}, { id => 'alert01', firstName => 'Al',
                                company => 'Hot Co', title => 'VP Sales',
                                campaign => 'q1-outbound',
                                destination => 'https://example.com/' },
              'the lead, without its email hash');
    is_deeply($alert->{recentPages}, ['https://example.com/pricing'],
              'the pages it saw');
    my @keys = @{ $redis->cmd('KEYS', 'oie:alerted:alert01:*') };
    is(scalar @keys, 1, 'claimed for the day');
    like($keys[0], qr/^oie:alerted:alert01:\d{8}$/, 'by UTC day');

    is(track('/t', ev('alert01', type => 'form_submit', formId => 'again')),
       204, 'another form: 68');
    is(hot_score('alert01', 68), 68, 'score 68');
    is(track('/t', ev('alert01', url => 'https://example.com/plans')), 204,
       'and a page');
    hot_score('alert01', 73);
    sleep 1.5;
    is(scalar(hook_requests('alert01')), 2, 'no second alert the same day');
    my @other = hook_requests('live001');
    is(scalar @other, 2, 'live001 (79) was announced too, once, also retried');
    like($ng->error_log, qr/alert for lead "alert01", attempt 1: refused \(HTTP 500\)/,
         'the failed attempt is logged');
    like($ng->error_log, qr/alert for lead "alert01" \(score 63\) delivered/,
         'the delivery too');
};

subtest 'oie_confirm_window: a shorter window confirms only recent clicks' => sub {
    my $short = OIE::Nginx->new(workers => 1, http => <<H)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis 127.0.0.1:$P timeout=1s;
    oie_confirm_window 2m;
H
    my $post = sub {
        my ($lead) = @_;
        my ($code) = $short->request('POST', '/t', headers => \%json,
            body => body(ev($lead, url => 'https://example.com/about')));
        return $code;
    };
    my $rows = sub {
        my ($lead) = @_;
        my @rows;
        for my $f (glob $short->events . '/email_clicks/*.ndjson') {
            open my $fh, '<', $f or die;
            push @rows, grep { $_->{lead_id} eq $lead
                               && $_->{event_type} eq 'click_confirmed' }
                        map { JSON::PP->new->utf8->decode($_) } <$fh>;
        }
        return @rows;
    };
    # marks as a click 3 minutes and 1 minute ago left them
    my $now = int(time * 1000);
    for ([ 'win0001', $now - 180000 ], [ 'win0002', $now - 60000 ]) {
        $redis->lead($_->[0], firstName => 'W', campaign => 'q-win');
        $redis->cmd('HSET', bucket($_->[1]), $_->[0], $_->[1]);
    }
    for (1 .. 200) {
        last if $post->('win0002') == 204 && $rows->('win0002');
        sleep 0.05;
    }
    is($post->('win0001'), 204, 'a pageview 3 minutes after its click');
    my @c2 = $rows->('win0002');
    is(scalar @c2, 1, 'the click of 1 minute ago is confirmed (window 2m)');
    is($c2[0]{campaign}, 'q-win', 'with its campaign') if @c2;
    my $left;
    for (1 .. 100) {
        last unless defined($left = mark('win0001'));
        sleep 0.02;
    }
    is($left, undef, 'the 3-minute-old mark was taken');
    sleep 0.3;
    is(scalar($rows->('win0001')), 0,
       'but confirms nothing: it is older than the window');
    $short->quit;

    for my $bad ('31m', '30s', 'soon') {
        my $ng2 = OIE::Nginx->new(http => "    oie_sink file \$EVENTS;\n"
            . "    oie_redis 127.0.0.1:$P;\n    oie_confirm_window $bad;\n");
        my ($rc, $out) = $ng2->_run('-t');
        ok($rc != 0, "oie_confirm_window $bad: nginx -t fails");
        like($out, $bad eq 'soon' ? qr/"oie_confirm_window" directive invalid value/
                                  : qr/must be between 1m and 30m/,
             "oie_confirm_window $bad: says why") or diag $out;
    }
};

$ng->quit;
unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in the log');

done_testing;
