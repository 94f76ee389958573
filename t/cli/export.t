#!/usr/bin/perl
# oie leads export-bq: rows for identity_map and lead_imports, checked
# against sql/schemas/*.json with the BigQuery stand-in's row validator;
# emails only as SHA-256.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use JSON::PP;
use Test::More;

my $root = root();
my $dir = tmpdir();

for my $t (qw(identity_map lead_imports)) {
    BAIL_OUT("sql/schemas/$t.json is missing") unless -f "$root/sql/schemas/$t.json";
}

write_file("$dir/leads.csv",
           "Email,First Name,Last Name,Company,Title,Job Level,Notes\n"
           . "jane\@acme.com,Jane,Doe,Acme,VP Sales,VP,\"x \"\"y\"\"\"\n"
           . "bob\@example.org,,,,,,\n"
           . "zo\xc3\xab\@example.de,Zo\xc3\xab,M\xc3\xbcller,,,,\"a\\b\"\n");

my ($rc, $out, $err) = oie('campaign', 'create', '--name', 'Export', '--leads',
                           "$dir/leads.csv", '--base-url', 'https://t.example.com',
                           '--landing', 'https://example.com/', '--out', $dir,
                           { env => { SOURCE_DATE_EPOCH => 1735689600 } });
is($rc, 0, 'campaign created') or diag $err;
my $file = "$dir/export-identities.ndjson";
my $leads = ndjson_read($file);

($rc, $out, $err) = oie('leads', 'export-bq', '--out', "$dir/bq", $file,
                        { env => { SOURCE_DATE_EPOCH => 1767225600 } });
is($rc, 0, 'export exits 0') or diag $err;
like($err, qr/exported 3 leads/, 'export summary');

for my $t (qw(identity_map lead_imports)) {
    my $res = decode_json(`node $FindBin::Bin/lib/check-rows.mjs $root/sql/schemas/$t.json $dir/bq/$t.ndjson`);
    is($res->{rows}, 3, "$t: 3 rows");
    is_deeply($res->{errors}, [], "$t: every row fits sql/schemas/$t.json");
}

my $map = ndjson_read("$dir/bq/identity_map.ndjson");
my $imp = ndjson_read("$dir/bq/lead_imports.ndjson");

for my $i (0 .. 2) {
    my $l = $leads->[$i];
    is_deeply($map->[$i], {
        lead_id => $l->{id}, visitor_id => undef, email_sha256 => email_hash($l->{email}),
        campaign => 'export', source => 'campaign', created_at => '2025-01-01T00:00:00Z',
    }, "identity_map row $i");
    is($imp->[$i]{lead_id}, $l->{id}, "lead_imports row $i: lead_id");
    is($imp->[$i]{email_sha256}, email_hash($l->{email}), "lead_imports row $i: hash");
    is($imp->[$i]{created_at}, '2026-01-01T00:00:00Z',
       "lead_imports row $i: created_at is the export time");
}

is_deeply([@{ $imp->[0] }{qw(first_name last_name company title)}],
          ['Jane', 'Doe', 'Acme', 'VP Sales'], 'lead_imports: known columns');
is_deeply(decode_json($imp->[0]{attributes}), { jobLevel => 'VP', notes => 'x "y"' },
          'lead_imports: attributes as JSON text');
is_deeply([@{ $imp->[1] }{qw(first_name last_name company title)}],
          [undef, undef, undef, undef], 'empty values are NULL');
is($imp->[2]{last_name}, "M\x{fc}ller", 'UTF-8 kept');
is(decode_json($imp->[2]{attributes})->{notes}, 'a\\b', 'backslash kept');

my $all = read_file("$dir/bq/identity_map.ndjson") . read_file("$dir/bq/lead_imports.ndjson");
ok($all !~ /\@/, 'no email address in the rows');

# one table to stdout
($rc, $out, $err) = oie('leads', 'export-bq', '--table', 'identity_map', $file);
is($rc, 0, '--table to stdout');
is($out, read_file("$dir/bq/identity_map.ndjson"), '--table writes the same rows');

# bad input: named, and no files left behind
my $good = (split /\n/, read_file($file))[0];
my $bad = decode_json($good);
$bad->{createdAt} = 'yesterday';
write_file("$dir/bad.ndjson", "$good\n" . encode_json($bad) . "\n");
($rc, $out, $err) = oie('leads', 'export-bq', '--out', "$dir/badout", "$dir/bad.ndjson");
is($rc, 3, 'bad createdAt: exit 3');
like($err, qr/bad\.ndjson:2:1: "createdAt" must be a UTC time/, 'bad createdAt named');
ok(!glob("$dir/badout/*"), 'nothing written on error');

write_file("$dir/broken.ndjson", "$good\n{\"id\":\n");
($rc, $out, $err) = oie('leads', 'export-bq', '--out', "$dir/badout", "$dir/broken.ndjson");
is($rc, 3, 'broken JSON: exit 3');
like($err, qr/broken\.ndjson:2:7: invalid JSON/, 'broken JSON named');

done_testing();
