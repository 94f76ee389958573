# /t rows carry traffic_class and traffic_reasons: page bots are marked,
# not dropped; oie_classify off leaves the columns out; oie_ip_anonymize.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use OIE::Env;
use OIE::Nginx;
use JSON::PP ();
use OIE::Events qw(event body sink_rows);

my $chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
my $headless = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36';

sub post {
    my ($ng, $ua, @ev) = @_;
    my ($code) = $ng->request('POST', '/t', body => body(@ev),
        headers => { 'Content-Type' => 'application/json', 'User-Agent' => $ua });
    return $code;
}

my $ng = OIE::Nginx->new(workers => 1, http => <<'H')->start;
    oie_sink file $EVENTS;
    oie_batch interval=20ms;
H
is(post($ng, $chrome, event(visitorId => 'person')), 204, 'a browser');
is(post($ng, $headless, event(visitorId => 'headless')), 204, 'a headless browser, still 204');
is(post($ng, $chrome, event(visitorId => 'driven', webdriver => JSON::PP::true),
        event(visitorId => 'driven', webdriver => JSON::PP::false)), 204,
   'navigator.webdriver on one event of two');
$ng->quit;

my %by = map { ($_->{visitor_id} . ($_->{webdriver} ? '+wd' : '')) => $_ } sink_rows($ng->events);
like($by{person}{traffic_class}, qr/^(human|unknown)$/, "a browser is $by{person}{traffic_class}");
is($by{headless}{traffic_class}, 'bot', 'a headless browser is a bot');
ok((grep { /headless/i } @{ $by{headless}{traffic_reasons} }), "reasons: @{ $by{headless}{traffic_reasons} }");
is($by{'driven+wd'}{traffic_class}, 'bot', 'the webdriver event is a bot');
ok((grep { /webdriver/ } @{ $by{'driven+wd'}{traffic_reasons} }), 'reason: webdriver');
like($by{driven}{traffic_class}, qr/^(human|unknown)$/, 'its sibling without the flag is not');

my $off = OIE::Nginx->new(workers => 1, http => <<'H')->start;
    oie_sink file $EVENTS;
    oie_batch interval=20ms;
    oie_classify off;
    oie_ip_anonymize on;
H
post($off, $headless, event(visitorId => 'x'));
$off->quit;
my ($row) = sink_rows($off->events);
ok(!exists $row->{traffic_class} && !exists $row->{traffic_reasons}, 'oie_classify off: no columns');
is($row->{ip}, '127.0.0.0', 'oie_ip_anonymize: the last octet zeroed');

done_testing();
