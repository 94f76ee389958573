# oie_status: JSON and Prometheus text, counting what /t saw.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use JSON::PP ();
use OIE::Env;
use OIE::Nginx;
use OIE::Events qw(event body);

my $ng = OIE::Nginx->new(workers => 2, http => <<'H')->start;
    oie_zone oie 2m;
    oie_sink file $EVENTS;
    oie_batch interval=20ms;
H
my %json = ('Content-Type' => 'application/json');

$ng->request('POST', '/t', body => body(event(), event()), headers => \%json);
$ng->request('POST', '/t', body => body(event()), headers => { 'Content-Type' => 'text/plain' });
$ng->request('POST', '/t', body => '{', headers => \%json);
$ng->request('POST', '/t', body => body(event(type => 'x')), headers => \%json);
$ng->request('POST', '/t', body => '{"events":[]}', headers => \%json);
$ng->request('POST', '/t', body => body(event()), headers => { 'Content-Type' => 'image/png' });
$ng->request('PUT', '/t', body => 'x');
$ng->request('POST', '/t', body => body(event()),
             headers => { %json, Origin => 'https://evil.example' });
$ng->request('POST', '/t', body => 'x' x 70000, headers => \%json);
select undef, undef, undef, 0.3;

my ($code, $h, $text) = $ng->request('GET', '/status');
is($code, 200, 'status answers 200');
is($h->{'content-type'}, 'application/json', 'as JSON');
is($h->{'cache-control'}, 'no-store', 'not cached');
my $st = JSON::PP::decode_json($text);
is($st->{requests}, 9, 'requests to /t');
is($st->{accepted}, 3, 'events accepted');
is($st->{dropped}, 0, 'none dropped');
is_deeply($st->{rejected}, { method => 1, origin => 1, content_type => 1,
                             too_large => 1, json => 1, batch => 1, event => 1 },
          'each rejection counted under its reason');
is($st->{sink}{rows}, 3, 'rows delivered to the sink');
ok($st->{sink}{batches} >= 1, 'batches counted');
is($st->{ring}{events}, 0, 'ring empty once drained');
ok($st->{ring}{size} > 1_900_000 && $st->{ring}{size} < 2 * 1024 * 1024, 'ring size fills the zone');
like($st->{version}, qr/^\d+\.\d+\.\d+$/, 'version');

($code, $h, $text) = $ng->request('GET', '/status?format=prometheus');
is($code, 200, 'prometheus format');
like($h->{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'Prometheus content type');
like($text, qr/^oie_events_accepted_total 3$/m, 'accepted counter');
like($text, qr/^oie_requests_rejected_total\{reason="origin"\} 1$/m, 'labelled rejections');
like($text, qr/^oie_sink_rows_total 3$/m, 'rows counter');
like($text, qr/^# TYPE oie_ring_used_bytes gauge$/m, 'TYPE lines');
my @bad = grep { !/^#/ && !/^[a-z_]+(\{[a-z]+="[a-z_]+"\})? \d+$/ } split /\n/, $text;
is_deeply(\@bad, [], 'every sample line is well-formed');

($code) = $ng->request('POST', '/status', body => 'x');
is($code, 405, 'status is read-only');

$ng->quit;
done_testing();
