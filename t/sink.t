# Events reach the NDJSON files whole: every column the row should carry,
# file naming and atomic completion, rotation by size and by age.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use JSON::PP ();
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Nginx;
use OIE::Events qw(event body sink_rows sink_files part_files);

my $ng = OIE::Nginx->new(http => <<'HTTP', workers => 1)->start;
    oie_zone oie 4m;
    oie_sink file $EVENTS max_age=30s;
    oie_batch rows=100 interval=50ms;
HTTP

my @events = (
    event(type => 'pageview', leadId => 'aB3dE9x', visitorId => 'aB3dE9x',
          referrer => 'https://mail.google.com/', title => "Pricing \x{2014} \"Acme\"",
          utmSource => 'email', utmMedium => 'cold-email',
          utmCampaign => 'q1', utmTerm => 't', utmContent => 'c',
          webdriver => JSON::PP::false),
    event(type => 'scroll', depth => 75),
    event(type => 'click', tag => 'a', elementId => 'cta', text => 'Book a demo',
          href => 'https://example.com/demo', linkType => 'internal'),
    event(type => 'form_submit', formId => 'demo', formName => 'demo-form',
          fields => ['email', 'company']),
    event(type => 'video', action => 'progress', src => 'https://example.com/v.mp4',
          percent => 50),
    event(type => 'focus', engagedMs => 1200),
    event(type => 'engagement', engagedMs => 15000.7),
    event(type => 'custom', name => 'pricing_toggle', props => { plan => 'pro', annual => JSON::PP::true, seats => 5 }),
    # fields of other types are ignored, not stored
    event(type => 'pageview', depth => 50, engagedMs => 5, unknownField => 1),
);

my ($code) = $ng->request('POST', '/t', body => body(@events),
    headers => { 'Content-Type' => 'application/json',
                 'User-Agent' => "Mozilla/5.0 \"quoted\"\ttab" });
is($code, 204, 'batch of every event type accepted');

($code) = $ng->request('POST', '/t', body => body(event(type => 'bogus')),
    headers => { 'Content-Type' => 'application/json' });
is($code, 400, 'a bad batch is refused');

sleep 0.3;
ok(!sink_files($ng->events), 'no completed file before max_age or quit');
ok(part_files($ng->events) == 1, 'rows go to one .part file meanwhile');

$ng->quit;
ok(!part_files($ng->events), 'quit completes the .part file');

my @files = sink_files($ng->events);
is(scalar @files, 1, 'one completed file');
like($files[0], qr{/events/\d{8}T\d{6}Z-\d+-\d+\.ndjson$}, 'file name: time-pid-seq.ndjson');

my @rows = sink_rows($ng->events);
is(scalar @rows, scalar @events, 'one row per accepted event, none of the refused batch');

my %ids;
for my $r (@rows) {
    like($r->{event_id}, qr/^[0-9a-f]{32}$/, "event_id $r->{event_id}");
    $ids{$r->{event_id}}++;
    like($r->{received_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'received_at is ISO-8601 UTC');
    is($r->{event_time}, '2024-11-24T00:00:00.000Z', 'event_time from the timestamp');
    is($r->{sent_at}, '2024-11-24T00:00:00.100Z', 'sent_at from meta.sentAt');
    is($r->{ip}, '127.0.0.1', 'client ip');
    is($r->{user_agent}, "Mozilla/5.0 \"quoted\"\ttab", 'user agent, escaped and back');
    is($r->{session_id}, 's1', 'session_id');
    is($r->{url}, 'https://example.com/pricing', 'url');
}
is(scalar keys %ids, scalar @rows, 'event ids are unique');

my @types = map { $_->{event_type} } @rows;
is_deeply(\@types, [qw(pageview scroll click form_submit video focus engagement custom pageview)],
          'rows keep the order of the batch');

is($rows[0]{visitor_id}, 'aB3dE9x', 'visitor_id');
is($rows[0]{lead_id}, 'aB3dE9x', 'lead_id');
is($rows[0]{referrer}, 'https://mail.google.com/', 'referrer');
is($rows[0]{title}, "Pricing \x{2014} \"Acme\"", 'UTF-8 title kept');
is_deeply([@{$rows[0]}{qw(utm_source utm_medium utm_campaign utm_term utm_content)}],
          [qw(email cold-email q1 t c)], 'utm columns');
ok(JSON::PP::is_bool($rows[0]{webdriver}) && !$rows[0]{webdriver}, 'webdriver is a boolean');
is($rows[1]{scroll_depth}, 75, 'scroll_depth');
is_deeply([@{$rows[2]}{qw(element_tag element_id element_text link_url link_type)}],
          ['a', 'cta', 'Book a demo', 'https://example.com/demo', 'internal'], 'click columns');
is_deeply([@{$rows[3]}{qw(form_id form_name)}], ['demo', 'demo-form'], 'form columns');
is_deeply($rows[3]{form_fields}, ['email', 'company'], 'form_fields is an array of names');
is_deeply([@{$rows[4]}{qw(video_action video_src video_percent)}],
          ['progress', 'https://example.com/v.mp4', 50], 'video columns');
is($rows[5]{engaged_ms}, 1200, 'focus engaged_ms');
is($rows[6]{engaged_ms}, 15000, 'fractional engagedMs stored as an integer');
is($rows[7]{custom_name}, 'pricing_toggle', 'custom_name');
is_deeply(JSON::PP::decode_json($rows[7]{properties}),
          { plan => 'pro', annual => JSON::PP::true, seats => 5 },
          'properties is JSON text of props');
ok(!exists $rows[8]{scroll_depth} && !exists $rows[8]{engaged_ms}
   && !exists $rows[8]{unknownField}, 'fields of other types and unknown fields are not stored');

# every column written is one the events table has, with the right type
my $schema = JSON::PP::decode_json(do {
    local $/; open my $fh, '<', OIE::Nginx::root_dir() . '/sql/schemas/events.json' or die $!; <$fh>
});
my %col = map { $_->{name} => $_ } @$schema;
my @bad;
for my $r (@rows) {
    for my $k (keys %$r) {
        my $c = $col{$k} or do { push @bad, "unknown column $k"; next };
        my $v = $r->{$k};
        push @bad, "$k should be an array" if ($c->{mode} eq 'REPEATED') != (ref $v eq 'ARRAY');
        push @bad, "$k should be an integer" if $c->{type} eq 'INTEGER' && $v !~ /^\d+$/;
    }
    for my $c (grep { $_->{mode} eq 'REQUIRED' } @$schema) {
        push @bad, "missing $c->{name}" unless defined $r->{$c->{name}};
    }
}
is_deeply(\@bad, [], 'rows match sql/schemas/events.json');

# rotation by size: a small max_size completes files as they fill
my $ng2 = OIE::Nginx->new(http => <<'HTTP', workers => 1)->start;
    oie_sink file $EVENTS max_size=4k max_age=1h;
    oie_batch rows=5 interval=20ms;
HTTP
for (1 .. 40) {
    $ng2->request('POST', '/t', body => body(event()),
                  headers => { 'Content-Type' => 'application/json' });
}
sleep 0.5;
ok(sink_files($ng2->events) >= 2, 'max_size completes files while running');
$ng2->quit;
is(scalar(sink_rows($ng2->events)), 40, "all 40 rows across the size-rotated files");

# rotation by age
my $ng3 = OIE::Nginx->new(http => <<'HTTP', workers => 1)->start;
    oie_sink file $EVENTS max_age=200ms;
    oie_batch interval=50ms;
HTTP
$ng3->request('POST', '/t', body => body(event()),
              headers => { 'Content-Type' => 'application/json' });
my $seen = 0;
for (1 .. 40) {
    sleep 0.05;
    $seen = sink_rows($ng3->events) and last;
}
is($seen, 1, 'max_age completes a file while nginx runs');
$ng3->quit;

done_testing();
