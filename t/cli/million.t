#!/usr/bin/perl
# One million leads: campaign create and export-bq on a 1,000,000-row CSV
# made here, and a push of 200,000 of them into a private Redis.  Prints
# the times (diag); checks counts, uniqueness and a sample of ids against
# the Perl algorithm.  OIE_BIG_PUSH=1 pushes all 1,000,000.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use Test::More;
use Time::HiRes qw(time);

my $N = 1_000_000;
my $dir = tmpdir();
my $csv = "$dir/big.csv";

my $t0 = time;
open my $fh, '>:raw', $csv or die "$csv: $!";
print $fh "Email,First Name,Last Name,Company,Title,Job Level,City\r\n";
for my $i (1 .. $N) {
    my $company = $i % 1000 == 0 ? "\"Company $i, Inc.\"" : "Company \xc3\xa9 $i";
    print $fh "Person.$i\@Company" . ($i % 50000) . ".example,First$i,Last$i,"
        . "$company,Title $i,VP,Berlin\r\n";
}
close $fh or die "$csv: $!";
diag(sprintf "generated %d rows (%.0f MB) in %.1f s", $N, (-s $csv) / 1e6, time - $t0);

$t0 = time;
my ($rc, $out, $err) = oie('campaign', 'create', '--name', 'Million', '--leads', $csv,
                           '--base-url', 'https://t.example.com',
                           '--landing', 'https://example.com/', '--out', $dir,
                           '--progress');
my $create = time - $t0;
is($rc, 0, 'campaign create of 1,000,000 leads') or diag $err;
like($err, qr/campaign million: 1000000 leads/, 'all leads counted');
is_deeply([$err =~ /big\.csv: (\d+) lines read/g], [map { $_ * 100000 } 1 .. 10],
          '--progress: a line every 100,000 lines');
diag(sprintf "campaign create: %d leads in %.2f s (%.0f leads/s)", $N, $create, $N / $create);

# every id distinct, a sample equal to the Perl algorithm
open $fh, '<:raw', "$dir/million-urls.csv" or die $!;
my $header = <$fh>;
like($header, qr/,trackingUrl,openPixelUrl,leadId\r\n$/, 'CSV header');
my (%seen, $rows, $dups, $sample_bad, $samples);
while (my $line = <$fh>) {
    $rows++;
    $line =~ s/\r\n$//;
    my $id = substr($line, rindex($line, ',') + 1);
    $dups++ if $seen{$id}++;
    if ($rows % 9973 == 1) {
        $samples++;
        my $email = "person.$rows\@company" . ($rows % 50000) . '.example';
        my @more = $line =~ /^Person\.(\d+)@/;
        $email = '' unless @more && $more[0] == $rows;
        # moved ids (attempt > 0) are checked by campaign.t; here attempt 0
        $sample_bad++ unless $email && $id eq ref_id($email, 'million', 0, 7);
    }
}
close $fh;
is($rows, $N, 'CSV: 1,000,000 rows');
is($dups // 0, 0, 'no two leads share an id');
is($sample_bad // 0, 0, "$samples sampled ids equal the Perl algorithm");

my $lines = 0;
open $fh, '<:raw', "$dir/million-identities.ndjson" or die $!;
$lines++ while <$fh>;
close $fh;
is($lines, $N, 'identities: 1,000,000 lines');

$t0 = time;
($rc, $out, $err) = oie('leads', 'export-bq', '--out', "$dir/bq",
                        "$dir/million-identities.ndjson");
my $export = time - $t0;
is($rc, 0, 'export-bq of 1,000,000 leads') or diag $err;
diag(sprintf "leads export-bq: %d leads in %.2f s", $N, $export);

# push: all of them with OIE_BIG_PUSH=1, else the first 200,000
my $push_n = $ENV{OIE_BIG_PUSH} ? $N : 200_000;
my $push_file = "$dir/million-identities.ndjson";
if ($push_n < $N) {
    $push_file = "$dir/part.ndjson";
    open my $in, '<:raw', "$dir/million-identities.ndjson" or die $!;
    open my $o, '>:raw', $push_file or die $!;
    for (1 .. $push_n) {
        print $o scalar <$in>;
    }
    close $o;
    close $in;
}

my $redis = OIECli::start_redis();
$t0 = time;
($rc, $out, $err) = oie('leads', 'push', '--redis', $redis->addr, '--progress',
                        $push_file);
my $push = time - $t0;
is($rc, 0, "push of $push_n leads") or diag $err;
is($redis->cmd('DBSIZE'), $push_n, "$push_n keys in Redis");
is_deeply([$err =~ /leads push: (\d+) leads loaded/g],
          [map { $_ * 100000 } 1 .. $push_n / 100000], 'push --progress');
diag(sprintf "leads push: %d leads in %.2f s (%.0f leads/s)", $push_n, $push,
     $push_n / $push);
$redis->stop;

done_testing();
