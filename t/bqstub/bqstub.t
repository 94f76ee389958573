#!/usr/bin/perl
# OIE::BQStub drives the BigQuery stand-in: start, token grants (metadata and
# a JWT signed with the openssl command), insertAll, faults, reject rules,
# rows, stats, reset, stop.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use Test::More;

use OIE::BQStub;

my $JSON = JSON::PP->new->utf8->canonical;
my $http = HTTP::Tiny->new(timeout => 30);

my $bq = OIE::BQStub->start;

ok($bq->port > 0, 'listening on a port');
like($bq->url, qr{^http://127\.0\.0\.1:\d+$}, 'url');
is($bq->key->{token_uri}, $bq->token_url, 'the key names the stand-in token URL');
is($bq->key->{type}, 'service_account', 'key type');
is($bq->key->{project_id}, 'oie-test', 'key project');
is((stat $bq->key_file)[2] & 0777, 0600, 'key file is private');
my $env = $bq->export_env;
is($ENV{TEST_NGINX_BQ_URL}, $bq->url, 'export_env: URL');
is($ENV{TEST_NGINX_BQ_KEY}, $bq->key_file, 'export_env: key file');
is($env->{TEST_NGINX_BQ_DATASET}, 'outbound_sales', 'export_env: dataset');

my %tables = map { $_ => 1 } $bq->tables;
ok($tables{events} && $tables{email_clicks}, 'tables from sql/schemas');

my $n = 0;
sub row {
    $n++;
    return { event_id => "pl-$n", event_type => 'pageview',
             event_time => '2024-11-24T00:00:00Z', received_at => 1732406400,
             visitor_id => 'v', session_id => 's',
             url => 'https://example.com/', @_ };
}

sub insert {
    my ($token, $table, @rows) = @_;
    my $res = $http->post($bq->insert_url($table), {
        headers => { Authorization => "Bearer $token",
                     'Content-Type' => 'application/json' },
        content => $JSON->encode({
            rows => [ map { { insertId => $_->{event_id}, json => $_ } } @rows ],
        }),
    });
    return ($res->{status}, eval { $JSON->decode($res->{content}) } // {});
}

# -- metadata token and a plain insert ---------------------------------------

my $token = $bq->access_token;
like($token, qr/^ya29\./, 'metadata token');

my @two = (row(), row());
my ($status, $doc) = insert($token, 'events', @two);
is($status, 200, 'insertAll 200');
ok(!$doc->{insertErrors}, 'no insert errors');
my $rows = $bq->rows('events');
is_deeply([ map { $_->{insertId} } @$rows ], [ map { $_->{event_id} } @two ],
          'rows stored in order with insertIds');
is_deeply($rows->[0]{json}, $two[0], 'row json as sent');
is_deeply($bq->rows('email_clicks'), [], 'other table empty');

# -- a JWT grant, signed by the openssl command ------------------------------

SKIP: {
    my ($openssl) = grep { -x "$_/openssl" } split /:/, $ENV{PATH} // '';
    skip 'no openssl command', 3 unless $openssl;

    my $tmp = tempdir(CLEANUP => 1);
    my $key = $bq->key;
    open my $pem, '>', "$tmp/key.pem" or die $!;
    print $pem $key->{private_key};
    close $pem;

    my $now = time;
    my $input = join '.',
        encode_base64url($JSON->encode({ alg => 'RS256', typ => 'JWT',
                                         kid => $key->{private_key_id} })),
        encode_base64url($JSON->encode({
            iss => $key->{client_email},
            scope => 'https://www.googleapis.com/auth/bigquery',
            aud => $key->{token_uri}, iat => $now, exp => $now + 3600 }));
    open my $in, '>', "$tmp/input" or die $!;
    print $in $input;
    close $in;
    my $sig = `$openssl/openssl dgst -sha256 -sign $tmp/key.pem $tmp/input`;
    is($?, 0, 'openssl signed the JWT');

    my $res = $http->post_form($bq->token_url, {
        grant_type => 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion => "$input." . encode_base64url($sig),
    });
    is($res->{status}, 200, 'token endpoint accepts the JWT')
        or diag $res->{content};
    my $jwt_token = eval { $JSON->decode($res->{content})->{access_token} };
    ($status) = insert($jwt_token // 'none', 'events', row());
    is($status, 200, 'insertAll with the JWT-granted token');
}

# -- faults -------------------------------------------------------------------

$bq->reset;
is_deeply($bq->rows('events'), [], 'reset forgets rows');

my $queued = $bq->fault(status => '503', count => 2);
is($queued->{status}, 503, 'fault queued (a string status is sent as a number)');
is(scalar @{ $bq->faults->{insertAll} }, 1, 'one pending fault entry');
my $r = row();
($status, $doc) = insert($token, 'events', $r);
is($status, 503, 'first call fails');
is($doc->{error}{errors}[0]{reason}, 'backendError', 'backendError reason');
is($doc->{error}{status}, 'UNAVAILABLE', 'UNAVAILABLE status');
($status) = insert($token, 'events', $r);
is($status, 503, 'second call fails');
($status) = insert($token, 'events', $r);
is($status, 200, 'third call passes');

$bq->fault(status => 403, reason => 'quotaExceeded');
($status, $doc) = insert($token, 'events', row());
is($doc->{error}{errors}[0]{reason}, 'quotaExceeded', 'quotaExceeded');

$bq->fault(action => 'drop', phase => 'after');
my $d = row();
($status) = insert($token, 'events', $d);
is($status, 599, 'dropped connection (HTTP::Tiny reports 599)');
($status) = insert($token, 'events', $d);
is($status, 200, 'resend after a drop');
my $st = $bq->stats;
is($st->{duplicatesSkipped}, 1, 'the resend was deduplicated');
is($st->{requests}{insertAll}{dropped}, 1, 'drop counted');
is($st->{rowsStored}, 2, 'rows stored counted');

# -- reject rules ---------------------------------------------------------------

my $bad = row(event_type => 'scroll');
$bq->reject(field => 'event_type', equals => 'scroll', message => 'no scrolls');
($status, $doc) = insert($token, 'events', row(), $bad);
is($status, 200, 'row errors come with 200');
is_deeply([ map { $_->{errors}[0]{reason} } @{ $doc->{insertErrors} } ],
          [qw(stopped invalid)], 'invalid row and the stopped one');
is($doc->{insertErrors}[1]{errors}[0]{message}, 'no scrolls', 'rule message');
$bq->clear_rejects;

# -- tokens --------------------------------------------------------------------

ok($bq->expire_tokens >= 1, 'tokens expired');
($status, $doc) = insert($token, 'events', row());
is($status, 401, 'expired token: 401');
is($doc->{error}{errors}[0]{reason}, 'authError', 'authError');
$token = $bq->access_token;
is($bq->token_lifetime(60)->{token_lifetime}, 60, 'token lifetime set');

# -- keep-alive accounting and waiting ----------------------------------------

$bq->reset;
$bq->record_headers(1);
my $ka = HTTP::Tiny->new(keep_alive => 1);
for (1 .. 3) {
    my $x = row();
    $ka->post($bq->insert_url('events'), {
        headers => { Authorization => "Bearer $token",
                     'Content-Type' => 'application/json' },
        content => $JSON->encode({ rows => [{ insertId => $x->{event_id},
                                              json => $x }] }),
    });
}
$st = $bq->stats;
is($st->{requestsTotal}, 3, 'three API requests');
is($st->{connections}, 1, 'over one kept-alive connection');
my $reqs = $bq->requests;
is(scalar @$reqs, 3, 'requests recorded');
is($reqs->[0]{headers}{authorization}, "Bearer $token", 'headers recorded');
is(scalar @{ $bq->wait_rows('events', 3, 5) }, 3, 'wait_rows');

# -- errors are clear ------------------------------------------------------------

eval { $bq->fault(kind => 'query', status => 500) };
like($@, qr/400 fault kind must be one of/, 'bad fault spec croaks with the reason');
eval { $bq->rows('nope') };
like($@, qr/no table "nope"/, 'unknown table croaks');

my $bad_dir = tempdir(CLEANUP => 1);
eval { OIE::BQStub->start(schemas => "$bad_dir/none", timeout => 10) };
like($@, qr/exited \(1\) before it was ready:.*nope|none/s,
     'a stand-in that cannot start croaks with its log');

# -- stop ------------------------------------------------------------------------

my $pid = $bq->pid;
ok($bq->running, 'running before stop');
$bq->stop;
ok(!kill(0, $pid), 'process gone after stop');
ok(!$bq->running, 'not running after stop');
$bq->stop;
pass('stop twice is harmless');
eval { $bq->stats };
like($@, qr/not running/, 'calls after stop croak');

done_testing;
