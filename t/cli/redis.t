#!/usr/bin/perl
# oie leads push and get against a real redis-server started for this test
# on a free loopback port: the hash layout the module reads, TTLs,
# idempotent re-push, conflicts, bad identities and Redis being away.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use JSON::PP;
use Test::More;

my $redis = OIECli::start_redis();
my $addr = $redis->addr;
my $dir = tmpdir();
my @base = ('--base-url', 'https://t.example.com', '--landing', 'https://example.com/demo');

write_file("$dir/leads.csv",
           "Email,First Name,Last Name,Company,Title,Job Level,Seniority Score,Notes\r\n"
           . "jane\@acme.com,Jane,Doe,Acme,VP Sales,VP,7,\"a, \"\"b\"\"\"\r\n"
           . "bob\@example.org,Bob,,Example,,,,\r\n"
           . "zo\xc3\xab\@example.de,Zo\xc3\xab,M\xc3\xbcller,Ex\xc3\xa4mple,,,,\"multi\nline\"\r\n");

my ($rc, $out, $err) = oie('campaign', 'create', '--name', 'Spring', '--leads',
                           "$dir/leads.csv", @base, '--out', $dir);
is($rc, 0, 'campaign created') or diag $err;
my $file = "$dir/spring-identities.ndjson";
my $leads = ndjson_read($file);

($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, $file);
is($rc, 0, 'push exits 0') or diag $err;
like($err, qr/pushed 3 leads to Redis \Q$addr\E \(3 new, 0 replaced, 0 conflicts\), TTL 7776000 s/,
     'push summary');

my $jane = $leads->[0];
my $h = $redis->hgetall("oie:lead:$jane->{id}");
is_deeply($h, {
    id => $jane->{id}, campaign => 'spring',
    destination => 'https://example.com/demo?utm_source=email&utm_medium=cold-email'
                   . '&utm_campaign=spring',
    emailHash => email_hash('jane@acme.com'), firstName => 'Jane', lastName => 'Doe',
    company => 'Acme', title => 'VP Sales', jobLevel => 'VP', seniorityScore => '7',
    notes => 'a, "b"',
}, 'the hash holds the contract fields and the attributes, not the email');

my $bob = $redis->hgetall("oie:lead:$leads->[1]{id}");
ok(!exists $bob->{lastName} && !exists $bob->{title}, 'empty values are left out');
my $zoe = $redis->hgetall("oie:lead:$leads->[2]{id}");
is($zoe->{lastName}, "M\xc3\xbcller", 'UTF-8 stored as UTF-8 bytes');
is($zoe->{notes}, "multi\nline", 'line break stored');

my $ttl = $redis->cmd('TTL', "oie:lead:$jane->{id}");
ok($ttl > 7775990 && $ttl <= 7776000, "TTL is 90 days ($ttl)");
is($redis->cmd('DBSIZE'), 3, 'three keys');
ok(!grep({ /jane\@acme|bob\@example/ } map { values %{ $redis->hgetall($_) } }
         @{ $redis->cmd('KEYS', 'oie:lead:*') }), 'no email anywhere in Redis');

# idempotent: a second push replaces, the state is the same
$redis->cmd('EXPIRE', "oie:lead:$jane->{id}", 100);
$redis->cmd('HSET', "oie:lead:$jane->{id}", 'stale', 'x');
($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, $file);
is($rc, 0, 'second push exits 0');
like($err, qr/\(0 new, 3 replaced, 0 conflicts\)/, 'second push replaces');
is_deeply($redis->hgetall("oie:lead:$jane->{id}"), $h,
          'the re-pushed lead is exactly as pushed (stale field gone)');
ok($redis->cmd('TTL', "oie:lead:$jane->{id}") > 7775990, 'TTL renewed');

# leads get
($rc, $out, $err) = oie('leads', 'get', '--redis', $addr, $jane->{id});
is($rc, 0, 'get exits 0');
my $got = decode_json($out);
is($got->{key}, "oie:lead:$jane->{id}", 'get: key');
is_deeply($got->{fields}, $h, 'get: fields as stored');
ok($got->{ttl} > 7775990, 'get: ttl');

($rc, $out, $err) = oie('leads', 'get', $jane->{id}, { env => { OIE_REDIS => $addr } });
is($rc, 0, 'OIE_REDIS sets the default address');

($rc, $out, $err) = oie('leads', 'get', '--redis', $addr, 'zzzzzzz');
is($rc, 6, 'get of an unknown lead: exit 6');
like($err, qr/no lead zzzzzzz in Redis/, 'unknown lead named');
($rc, $out, $err) = oie('leads', 'get', '--redis', $addr, 'zz-zz');
is($rc, 3, 'get of a malformed id: exit 3');

# signed ids: get takes them, checks the tag with the secret
write_file("$dir/secret", "0123456789abcdef0123456789abcdef\n");
my $sid = ref_sign($jane->{id}, '0123456789abcdef0123456789abcdef');
($rc, $out) = oie('leads', 'get', '--redis', $addr, '--secret-file', "$dir/secret", $sid);
is($rc, 0, 'get of a signed id');
is(decode_json($out)->{fields}{id}, $jane->{id}, 'signed id resolves to the lead');
($rc, $out, $err) = oie('leads', 'get', '--redis', $addr, '--secret-file', "$dir/secret",
                        substr($sid, 0, -1) . (substr($sid, -1) eq 'A' ? 'B' : 'A'));
is($rc, 3, 'forged tag: exit 3');
like($err, qr/signature does not match/, 'forged tag named');

# a lead whose id another lead holds: left alone, exit 7, --force overwrites
my $other = { %$jane, emailHash => email_hash('mallory@evil.example'),
              campaign => 'other', firstName => 'Mallory', attributes => {} };
write_file("$dir/other.ndjson", encode_json($other) . "\n");
($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, "$dir/other.ndjson");
is($rc, 7, 'conflict: exit 7');
like($err, qr/other.ndjson:1: id \Q$jane->{id}\E is held in Redis by another lead \(campaign spring\); not overwritten/,
     'conflict named with its line');
is($redis->hgetall("oie:lead:$jane->{id}")->{firstName}, 'Jane', 'the holder is untouched');

($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, '--force', "$dir/other.ndjson");
is($rc, 0, '--force: exit 0');
is($redis->hgetall("oie:lead:$jane->{id}")->{firstName}, 'Mallory', '--force overwrites');
oie('leads', 'push', '--redis', $addr, '--force', $file);

# TTL options
($rc) = oie('leads', 'push', '--redis', $addr, '--ttl', '0', $file);
is($redis->cmd('TTL', "oie:lead:$jane->{id}"), -1, '--ttl 0: no expiry');
($rc) = oie('leads', 'push', '--redis', $addr, '--ttl', '2h', $file);
my $t2 = $redis->cmd('TTL', "oie:lead:$jane->{id}");
ok($t2 > 7190 && $t2 <= 7200, "--ttl 2h ($t2)");

# many leads, odd batch sizes: every lead lands, grouped or not
my $many = "email,company\n" . join('', map { "p$_\@m.example,C$_\n" } 1 .. 537);
write_file("$dir/many.csv", $many);
oie('campaign', 'create', '--name', 'Many', '--leads', "$dir/many.csv", @base,
    '--out', $dir);
for my $batch (1, 7, 50, 1000) {
    $redis->cmd('FLUSHALL');
    ($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, '--batch', $batch,
                            "$dir/many-identities.ndjson");
    is($rc, 0, "--batch $batch: exit 0");
    is($redis->cmd('DBSIZE'), 537, "--batch $batch: 537 keys");
}
my %want = map { ref_id("p$_\@m.example", 'many') => "C$_" } 1 .. 537;
my %have = map { substr($_, 9) => $redis->cmd('HGET', $_, 'company') }
           @{ $redis->cmd('KEYS', 'oie:lead:*') };
is_deeply(\%have, \%want, 'every key is the Perl-computed id with its company');

# bad identities: named by line and column, nothing loaded
my @bad = (
    ['{"id":"abc1234",', qr/:2:17: invalid JSON: object is never closed/],
    ['{"id":"abc-234","campaign":"c","emailHash":"' . ('a' x 64)
     . '","destination":"https://x.io/"}', qr/:2:1: "id" is missing or not an id/],
    ['{"id":"abc1234","campaign":"c","emailHash":"ABC","destination":"https://x.io/"}',
     qr/:2:1: "emailHash" is missing or not 64 lowercase hex/],
    ['{"id":"abc1234","campaign":"c","emailHash":"' . ('a' x 64)
     . '","destination":"javascript:alert(1)"}', qr/:2:1: "destination" is missing or not an http/],
    ['{"id":"abc1234","id":"abc1235"}', qr/:2:17: invalid JSON: duplicate key/],
    ['{"id":"abc1234","campaign":"c","emailHash":"' . ('a' x 64)
     . '","destination":"https://x.io/","attributes":{"a":[1]}}',
     qr/:2:\d+: invalid JSON: arrays are not supported/],
    ["{\"id\":\"abc1234\",\"x\":\"\xe9\"}", qr/:2:22: invalid JSON: invalid UTF-8/],
    ['[1,2]', qr/:2:1: invalid JSON: a JSON object expected/],
);
my $good = (split /\n/, read_file($file))[0];
for my $b (@bad) {
    my ($line, $re) = @$b;
    $redis->cmd('FLUSHALL');
    write_file("$dir/bad.ndjson", "$good\n$line\n$good\n");
    ($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, "$dir/bad.ndjson");
    is($rc, 3, "bad identity: exit 3 ($line)");
    like($err, qr/bad\.ndjson$re/, 'bad identity: file:line:column and why') or diag $err;
    is($redis->cmd('DBSIZE'), 0, 'bad identity: nothing loaded, not even the good lines');
}

write_file("$dir/empty.ndjson", "\n\n");
($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, "$dir/empty.ndjson");
is($rc, 3, 'an empty identities file: exit 3');

# Redis away: exit 5, a clear message
$redis->stop;
($rc, $out, $err) = oie('leads', 'push', '--redis', $addr, '--timeout', '2', $file);
is($rc, 5, 'Redis down: exit 5');
like($err, qr/Redis \Q$addr\E: cannot connect/, 'Redis down: named');
($rc, $out, $err) = oie('leads', 'get', '--redis', $addr, 'abc1234');
is($rc, 5, 'get with Redis down: exit 5');
($rc, $out, $err) = oie('leads', 'push', '--redis', '127.0.0.1:notaport', $file);
is($rc, 2, 'bad address: exit 2');

# a Redis with a password, and an ACL user
my $locked = OIECli::start_redis(password => 'hunter2hunter2',
                                 args => ['--user', 'loader', 'on', '>loaderpw', '~oie:*',
                                          '+@all']);
($rc, $out, $err) = oie('leads', 'push', '--redis', $locked->addr, $file);
is($rc, 5, 'no password: exit 5');
like($err, qr/NOAUTH|Authentication required/i, 'no password: Redis says why');
($rc, $out, $err) = oie('leads', 'push', '--redis', $locked->addr, $file,
                        { env => { OIE_REDIS_PASSWORD => 'hunter2hunter2' } });
is($rc, 0, 'OIE_REDIS_PASSWORD') or diag $err;
($rc, $out, $err) = oie('leads', 'push', '--redis', $locked->addr, '--db', '2', $file,
                        { env => { OIE_REDIS_PASSWORD => 'loaderpw',
                                   OIE_REDIS_USER => 'loader' } });
is($rc, 0, 'OIE_REDIS_USER and --db') or diag $err;
$locked->cmd('SELECT', 2);
is($locked->cmd('DBSIZE'), 3, '--db 2 holds the leads');
($rc, $out, $err) = oie('leads', 'get', '--redis', $locked->addr, $jane->{id},
                        { env => { OIE_REDIS_PASSWORD => 'wrong' } });
is($rc, 5, 'wrong password: exit 5');
$locked->stop;

done_testing();
