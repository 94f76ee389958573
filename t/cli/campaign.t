#!/usr/bin/perl
# oie campaign create on real-world lead lists: what goes into the CSV for
# email tools and into the identities file, ids checked against the
# algorithm written out in Perl, stable across runs and row orders.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use Test::More;

my $dir = tmpdir();
my $env = { env => { SOURCE_DATE_EPOCH => 1735689600 } };    # 2025-01-01
my @base = ('--base-url', 'https://track.example.com/',
            '--landing', 'https://example.com/demo?ref=q1#book');

# A file as CRM exports make them: byte order mark, CRLF, header names of
# every style, quotes, a line break inside a field, UTF-8, a short row, a
# row with trailing empty fields, blank and empty rows.
my $csv = "\xef\xbb\xbf"
    . "Email Address,First Name,last_name,Company Name,Job Title,Job Level,"
    . "LinkedIn URL,Personal Email,Campaign,\r\n"
    . "jane\@acme.com,Jane,Doe,\"Acme, Inc.\",VP Sales,VP,"
    . "https://linkedin.com/in/jane,jane.doe\@gmail.com,spring,x\r\n"
    . "  BOB\@Example.ORG ,Bob,\"O'Neil \"\"Bobby\"\"\",Example,CTO\r\n"
    . "\r\n"
    . "\"zo\xc3\xab\@ex\xc3\xa4mple.de\",Zo\xc3\xab,M\xc3\xbcller,"
    . "\"Ex\xc3\xa4mple\r\nGmbH\",Leiterin,,,,,\r\n"
    . ",,,,,,,,,\r\n"
    . "li\@wei.cn,\xe4\xbc\x9f,\xe6\x9d\x8e,\xe5\x8d\x8e\xe4\xb8\xba,,,,,,,,\r\n";

write_file("$dir/leads.csv", $csv);

my ($rc, $out, $err) = oie('campaign', 'create', '--name', 'Q1 2025: Outbound!',
                           '--leads', "$dir/leads.csv", @base, '--out', "$dir/a/b",
                           $env);
is($rc, 0, 'campaign create exits 0') or diag $err;
like($err, qr/campaign q1-2025-outbound: 4 leads, 0 ids moved off a collision, 1 rows skipped/,
     'summary on stderr');
like($err, qr/column 'Personal Email' holds email addresses/,
     'email-holding column reported');

my $slug = 'q1-2025-outbound';
is(ref_slug('Q1 2025: Outbound!'), $slug, 'slug');

my $urls = csv_parse(read_file("$dir/a/b/$slug-urls.csv"));
my $in = csv_parse(substr($csv, 3));
my $ids = ndjson_read("$dir/a/b/$slug-identities.ndjson");

is_deeply($urls->[0], [@{ $in->[0] }, qw(trackingUrl openPixelUrl leadId)],
          'CSV header: the original columns, then the links');
is(scalar @$urls, 5, 'CSV: header and 4 leads');
is(scalar @$ids, 4, 'identities: 4 leads');

my @leads = grep { grep { length } @$_ } @{$in}[1 .. $#$in];
for my $i (0 .. 3) {
    my $row = $urls->[$i + 1];
    my @orig = @{ $leads[$i] };
    $#orig = 9;
    $_ //= '' for @orig;
    is_deeply([@{$row}[0 .. 9]], \@orig, "CSV row $i keeps the original cells");

    my $email = $orig[0];
    my $id = ref_id($email, $slug, 0, 7);
    is($row->[12], $id, "CSV row $i: leadId is the Perl-computed id");
    is($row->[10], "https://track.example.com/r/$id", "CSV row $i: trackingUrl");
    is($row->[11], "https://track.example.com/o/$id.gif", "CSV row $i: openPixelUrl");

    my $l = $ids->[$i];
    is($l->{id}, $id, "identity $i: id");
    is($l->{emailHash}, email_hash($email), "identity $i: emailHash");
    is($l->{campaign}, $slug, "identity $i: campaign slug");
    is($l->{campaignName}, 'Q1 2025: Outbound!', "identity $i: campaign name");
    is($l->{destination},
       'https://example.com/demo?ref=q1&utm_source=email&utm_medium=cold-email'
       . "&utm_campaign=$slug#book", "identity $i: destination");
    is($l->{trackingUrl}, $row->[10], "identity $i: same trackingUrl");
    is($l->{createdAt}, '2025-01-01T00:00:00Z', "identity $i: createdAt");
}

my %by = map { $_->{email} => $_ } @$ids;
is_deeply([sort keys %by],
          ['bob@example.org', 'jane@acme.com', "li\@wei.cn",
           "zo\x{eb}\@ex\x{e4}mple.de"], 'emails normalized');

my $jane = $by{'jane@acme.com'};
is_deeply([@{$jane}{qw(firstName lastName company title line)}],
          ['Jane', 'Doe', 'Acme, Inc.', 'VP Sales', 2], 'known columns of Jane');
is_deeply($jane->{attributes},
          { jobLevel => 'VP', linkedInUrl => 'https://linkedin.com/in/jane',
            csvCampaign => 'spring', column10 => 'x' },
          'attributes: camelCase names, reserved name prefixed, unnamed column numbered, '
          . 'the email column left out');
is($by{'bob@example.org'}{lastName}, q{O'Neil "Bobby"}, 'doubled quotes');
is_deeply($by{'bob@example.org'}{attributes}, {}, 'short row: no attributes');
my $zoe = $by{"zo\x{eb}\@ex\x{e4}mple.de"};
is($zoe->{company}, "Ex\x{e4}mple\r\nGmbH", 'line break inside quotes kept');
is($zoe->{line}, 5, 'line numbers count physical lines');
is($by{"li\@wei.cn"}{line}, 8, 'line after a multi-line field and an empty row');
is($by{"li\@wei.cn"}{lastName}, "\x{674e}", 'CJK text');

# the same file again: byte-identical output
oie('campaign', 'create', '--name', 'Q1 2025: Outbound!', '--leads', "$dir/leads.csv",
    @base, '--out', "$dir/again", $env);
is(read_file("$dir/again/$slug-identities.ndjson"),
   read_file("$dir/a/b/$slug-identities.ndjson"), 'identities identical on a second run');
is(read_file("$dir/again/$slug-urls.csv"), read_file("$dir/a/b/$slug-urls.csv"),
   'CSV identical on a second run');

# its own output as input: the link columns are replaced, not doubled
($rc, $out, $err) = oie('campaign', 'create', '--name', 'Q1 2025: Outbound!',
                        '--leads', "$dir/a/b/$slug-urls.csv", @base,
                        '--out', "$dir/rerun", '--quiet', $env);
is($rc, 0, 'its own CSV is valid input');
is(read_file("$dir/rerun/$slug-urls.csv"), read_file("$dir/a/b/$slug-urls.csv"),
   'its own CSV gives the same CSV back');
is($err, '', '--quiet prints nothing');

# stdin, another row order: ids depend on the set of leads, not the order
my @rows = split /\r\n/, "Email\r\n" . join("\r\n", map { "p$_\@o.io" } 1 .. 50);
my $hdr = shift @rows;
my $shuffled = join("\r\n", $hdr, reverse @rows) . "\r\n";
($rc, $out, $err) = oie('campaign', 'create', '--name', 'Order', '--leads', '-',
                        @base, '--out', "$dir/stdin", { stdin => $shuffled });
is($rc, 0, 'leads from stdin');
my %got = map { $_->{email} => $_->{id} } @{ ndjson_read("$dir/stdin/order-identities.ndjson") };
is_deeply(\%got, { map { ("p$_\@o.io" => ref_id("p$_\@o.io", 'order')) } 1 .. 50 },
          'ids of reversed rows');

# collisions: lead118793 and lead386716 share IDsIua at 6 characters in
# campaign "collide"; the smaller email keeps it, whatever the order
for my $order ([qw(118793 386716)], [qw(386716 118793)]) {
    write_file("$dir/collide.csv", "email\n"
               . join('', map { "lead$_\@collide.example\n" } @$order));
    ($rc, $out, $err) = oie('campaign', 'create', '--name', 'Collide', '--leads',
                            "$dir/collide.csv", '--id-length', '6', @base,
                            '--out', "$dir/collide");
    like($err, qr/2 leads, 1 ids moved off a collision/, "collision reported (@$order)");
    my %c = map { $_->{email} => $_->{id} }
            @{ ndjson_read("$dir/collide/collide-identities.ndjson") };
    is(ref_id('lead386716@collide.example', 'collide', 0, 6), 'IDsIua',
       'the pair does collide at attempt 0');
    is_deeply(\%c, { 'lead118793@collide.example' => 'IDsIua',
                     'lead386716@collide.example'
                         => ref_id('lead386716@collide.example', 'collide', 1, 6) },
              "smaller email keeps the id, the other takes attempt 1 (@$order)");
}

# signed ids
write_file("$dir/secret", "0123456789abcdef0123456789abcdef\n");
($rc, $out, $err) = oie('campaign', 'create', '--name', 'Signed', '--leads',
                        "$dir/leads.csv", @base, '--secret-file', "$dir/secret",
                        '--out', "$dir/signed");
is($rc, 0, 'signed campaign');
for my $l (@{ ndjson_read("$dir/signed/signed-identities.ndjson") }) {
    my $sid = ref_sign($l->{id}, '0123456789abcdef0123456789abcdef');
    is($l->{signedId}, $sid, "signed id of $l->{id} matches the Perl HMAC");
    is($l->{trackingUrl}, "https://track.example.com/r/$sid", 'tracking link signed');
    is($l->{openPixelUrl}, "https://track.example.com/o/$sid.gif",
       'pixel link signed too (oie_open checks it)');
}

# destinations
my %dest = (
    'https://example.com/' =>
        'https://example.com/?utm_source=email&utm_medium=cold-email&utm_campaign=d',
    'https://example.com/p?utm_source=li&x=1' =>
        'https://example.com/p?utm_source=li&x=1&utm_medium=cold-email&utm_campaign=d',
    'https://example.com/p?' =>
        'https://example.com/p?utm_source=email&utm_medium=cold-email&utm_campaign=d',
    'http://example.com/p?utm_source=a&utm_medium=b&utm_campaign=c#f' =>
        'http://example.com/p?utm_source=a&utm_medium=b&utm_campaign=c#f',
);
write_file("$dir/one.csv", "email\na\@b.co\n");
for my $landing (sort keys %dest) {
    oie('campaign', 'create', '--name', 'D', '--leads', "$dir/one.csv", '--base-url',
        'https://t.example.com', '--landing', $landing, '--out', "$dir/dest");
    is(ndjson_read("$dir/dest/d-identities.ndjson")->[0]{destination}, $dest{$landing},
       "destination of $landing");
}
oie('campaign', 'create', '--name', 'D', '--leads', "$dir/one.csv", '--base-url',
    'https://t.example.com', '--landing', 'https://example.com/x', '--no-utm',
    '--out', "$dir/dest");
is(ndjson_read("$dir/dest/d-identities.ndjson")->[0]{destination}, 'https://example.com/x',
   '--no-utm');

# a list with the email column only: the other fields are empty
my $only = ndjson_read("$dir/dest/d-identities.ndjson")->[0];
is_deeply([@{$only}{qw(firstName lastName company title)}, $only->{attributes}],
          ['', '', '', '', {}], 'missing columns: empty fields, no attributes');

# --slug and --id-length
oie('campaign', 'create', '--name', 'Whatever', '--slug', 'my_camp-1', '--id-length', '8',
    '--leads', "$dir/one.csv", @base, '--out', "$dir/slug");
my $l = ndjson_read("$dir/slug/my_camp-1-identities.ndjson")->[0];
is($l->{id}, ref_id('a@b.co', 'my_camp-1', 0, 8), '--slug and --id-length 8');

done_testing();
