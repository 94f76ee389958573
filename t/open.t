# oie_open on /o/<id>.gif: always a 1x1 transparent GIF nobody caches, and
# an email_open row that says which lead or why not; opens never score.
use strict;
use warnings;
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP ();
use Time::HiRes qw(sleep);
use OIE::Env;
use OIE::Nginx;
use OIE::Redis;

my $redis = OIE::Redis->new;
my $P = $redis->port;
my $dir = tempdir('oie-open-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $SECRET = 'open-secret-0123456789';
open my $sf, '>', "$dir/secret" or die;
print $sf "$SECRET\n";
close $sf;

my $ng = OIE::Nginx->new(workers => 1, http => <<H, server => <<S)->start;
    oie_sink file \$EVENTS max_age=50ms;
    oie_batch interval=10ms;
    oie_redis 127.0.0.1:$P timeout=500ms;
H
    location /o/ { oie_open; }
    location /signed/o/ { oie_secret $dir/secret; oie_open; }
S

sub sink_rows {
    my @files = map { $_->[0] }
                sort { $a->[1] cmp $b->[1] || $a->[2] <=> $b->[2]
                       || $a->[3] <=> $b->[3] }
                map { [ $_, m{/(\d{8}T\d{6}Z)-(\d+)-(\d+)\.ndjson$} ] }
                glob $ng->events . '/email_clicks/*.ndjson';
    my @rows;
    for my $f (@files) {
        open my $fh, '<', $f or die "$f: $!";
        push @rows, map { JSON::PP->new->utf8->decode($_) } <$fh>;
    }
    return @rows;
}

my $seen = 0;
sub new_rows {
    my ($n) = @_;
    my @rows;
    for (1 .. 200) {
        @rows = sink_rows();
        last if @rows >= $seen + $n;
        sleep 0.025;
    }
    my @new = @rows[$seen .. $#rows];
    $seen = @rows;
    return @new;
}

# a 1x1 GIF89a whose one colour is transparent, read field by field
sub gif_ok {
    my ($b) = @_;
    return 'not GIF89a' unless substr($b, 0, 6) eq 'GIF89a';
    my ($w, $h, $flags) = unpack 'v v C', substr($b, 6, 5);
    return "screen ${w}x$h" unless $w == 1 && $h == 1;
    my $p = 13 + (($flags & 0x80) ? 3 * (2 << ($flags & 7)) : 0);
    my $transparent = 0;
    while ($p < length $b) {
        my $c = ord substr($b, $p, 1);
        if ($c == 0x21) {
            my $label = ord substr($b, $p + 1, 1);
            my $q = $p + 2;
            if ($label == 0xf9) {
                $transparent = ord(substr($b, $q + 1, 1)) & 1;
            }
            while (my $len = ord substr($b, $q, 1)) { $q += $len + 1 }
            $p = $q + 1;
        } elsif ($c == 0x2c) {
            my ($x, $y, $iw, $ih, $f) = unpack 'v v v v C', substr($b, $p + 1, 9);
            return "image ${iw}x$ih" unless $iw == 1 && $ih == 1;
            my $q = $p + 11 + (($f & 0x80) ? 3 * (2 << ($f & 7)) : 0);
            while (my $len = ord substr($b, $q, 1)) { $q += $len + 1 }
            $p = $q + 1;
        } elsif ($c == 0x3b) {
            return $p == length($b) - 1
                   ? ($transparent ? 'ok' : 'not transparent')
                   : 'bytes after the trailer';
        } else {
            return sprintf 'unexpected block 0x%02x', $c;
        }
    }
    return 'no trailer';
}

$redis->lead('open001', destination => 'https://ex.com/', campaign => 'q2-opens');
for (1 .. 200) {
    $ng->request('GET', '/o/open001.gif');
    my ($row) = new_rows(1);
    last if $row->{outcome} eq 'ok';
    sleep 0.025;
}

subtest 'a known id: the GIF, its headers, the row' => sub {
    my ($code, $h, $body) = $ng->request('GET', '/o/open001.gif',
        headers => { 'User-Agent' => 'Mail/3.0', Referer => 'https://mail.example/' });
    is($code, 200, 'status 200');
    is($h->{'content-type'}, 'image/gif', 'image/gif');
    is($h->{'content-length'}, length $body, 'Content-Length');
    is(gif_ok($body), 'ok', 'a 1x1 transparent GIF89a');
    is(length $body, 43, '43 bytes');
    like($h->{'cache-control'}, qr/\bno-store\b/, 'Cache-Control: no-store');
    like($h->{'cache-control'}, qr/\bno-cache\b/, 'and no-cache');
    is($h->{expires}, 'Thu, 01 Jan 1970 00:00:00 GMT', 'Expires in the past');
    my ($row) = new_rows(1);
    is($row->{event_type}, 'email_open', 'event_type email_open');
    is($row->{lead_id}, 'open001', 'lead_id');
    is($row->{campaign}, 'q2-opens', 'campaign');
    is($row->{outcome}, 'ok', 'outcome');
    is($row->{method}, 'GET', 'method');
    is($row->{user_agent}, 'Mail/3.0', 'user_agent');
    ok(defined $row->{traffic_class}, "classified ($row->{traffic_class})");
    is($row->{referrer}, 'https://mail.example/', 'referrer');
    ok(!exists $row->{destination}, 'no destination for an open');
    ok(!exists $row->{raw_id}, 'no raw_id');
};

subtest 'without .gif, and with another case' => sub {
    for my $path ('/o/open001', '/o/open001.GIF') {
        my ($code, $h, $body) = $ng->request('GET', $path);
        is($code, 200, "$path: 200");
        is(gif_ok($body), 'ok', "$path: the GIF");
        my ($row) = new_rows(1);
        is($row->{lead_id}, 'open001', "$path: lead");
    }
};

subtest 'unknown and malformed ids: still the GIF, and the reason' => sub {
    my %want = ('/o/zzz9999.gif' => ['unknown_id', 'zzz9999'],
                '/o/no.gif' => ['malformed_id', undef],
                '/o/.gif' => ['malformed_id', undef],
                '/o/open001.png' => ['malformed_id', undef]);
    for my $path (sort keys %want) {
        my ($code, $h, $body) = $ng->request('GET', $path);
        is($code, 200, "$path: 200");
        is(gif_ok($body), 'ok', "$path: the GIF");
        my ($row) = new_rows(1);
        is($row->{outcome}, $want{$path}[0], "$path: outcome");
        is($row->{lead_id}, $want{$path}[1], "$path: lead_id");
    }
};

subtest 'HEAD and other methods' => sub {
    $redis->lead('open002', destination => 'https://ex.com/');
    my ($code, $h, $body) = $ng->request('HEAD', '/o/open002.gif');
    is($code, 200, 'HEAD: 200');
    is($h->{'content-type'}, 'image/gif', 'HEAD: image/gif');
    is($body, '', 'HEAD: no body');
    my ($row) = new_rows(1);
    is($row->{method}, 'HEAD', 'HEAD: row');
    is($row->{traffic_class}, 'bot', 'HEAD: not human');
    ok((grep { $_ eq 'method:head' } @{ $row->{traffic_reasons} }),
       'HEAD: method:head');
    ($code, $h) = $ng->request('POST', '/o/open001.gif', body => 'x');
    is($code, 405, 'POST: 405');
    is($h->{allow}, 'GET, HEAD', 'POST: Allow');
};

subtest 'signed ids where oie_secret is set' => sub {
    my $good = OIE::Redis::sign_id($SECRET, 'open001');
    (my $bad = $good) =~ s/\.(.)/'.' . ($1 eq 'A' ? 'B' : 'A')/e;
    my %want = ("/signed/o/$good.gif" => ['ok', 'open001'],
                '/signed/o/open001.gif' => ['bad_signature', 'open001'],
                "/signed/o/$bad.gif" => ['bad_signature', 'open001']);
    for my $path (sort keys %want) {
        my ($code, $h, $body) = $ng->request('GET', $path);
        is(gif_ok($body), 'ok', "$path: the GIF");
        my ($row) = new_rows(1);
        is($row->{outcome}, $want{$path}[0], "$path: outcome");
        is($row->{lead_id}, $want{$path}[1], "$path: lead_id");
    }
};

subtest 'opens never score' => sub {
    $ng->request('GET', '/o/open001.gif') for 1 .. 3;
    new_rows(3);
    is($redis->cmd('EXISTS', 'oie:score:open001'), 0, 'no score kept');
    is($redis->cmd('ZSCORE', 'oie:hot', 'open001'), undef, 'not in oie:hot');
};

subtest 'Redis down: the GIF at once, and the reason' => sub {
    $redis->stop;
    my $body;
    for (1 .. 100) {
        (undef, undef, $body) = $ng->request('GET', '/o/open001.gif');
        my ($row) = new_rows(1);
        last if $row->{outcome} eq 'redis_error';
        sleep 0.02;
    }
    is(gif_ok($body), 'ok', 'the GIF');
    my ($code, $h);
    ($code, $h, $body) = $ng->request('GET', '/o/open001.gif');
    is($code, 200, 'status 200');
    my ($row) = new_rows(1);
    is($row->{outcome}, 'redis_error', 'outcome redis_error');
    is($row->{raw_id}, 'open001', 'raw_id');
    $redis->start;
};

$ng->quit;
unlike($ng->error_log, qr/\[(alert|emerg|crit)\]/, 'no alert in the log');

done_testing;
