#!/usr/bin/perl
# oie: version, help on every command, usage errors and their exit codes,
# and `oie id` against the algorithm written out in Perl.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use Test::More;

my ($rc, $out, $err);

# --version comes from the VERSION file
(my $version = read_file(root() . '/VERSION')) =~ s/\s+$//;
($rc, $out) = oie('--version');
is($rc, 0, '--version exits 0');
is($out, "oie $version\n", '--version prints VERSION');

# --help everywhere
for my $cmd (['--help'], ['campaign', '--help'], ['campaign', 'create', '--help'],
             ['leads', '--help'], ['leads', 'push', '--help'],
             ['leads', 'get', '--help'], ['leads', 'export-bq', '--help'],
             ['id', '--help'], ['id', 'make', '--help'],
             ['spool', '--help'], ['spool', 'ls', '--help'],
             ['spool', 'replay', '--help'])
{
    ($rc, $out, $err) = oie(@$cmd);
    is($rc, 0, "oie @$cmd exits 0");
    like($out, qr/^usage: oie /, "oie @$cmd prints usage on stdout");
}

($rc, $out) = oie('--help');
like($out, qr/exit codes:.*\b3\b.*bad input data.*\b7\b/s,
     'exit codes are documented in --help');

# usage errors: exit 2 and a message naming the problem
my @usage = (
    [[], qr/usage: oie/, 'no command'],
    [['frobnicate'], qr/unknown command 'frobnicate'/, 'unknown command'],
    [['campaign', 'delete'], qr/unknown command 'campaign delete'/,
     'unknown subcommand'],
    [['campaign', 'create', '--name', 'x'], qr/needs --name, --leads, --base-url and --landing/,
     'missing required options'],
    [['campaign', 'create', '--bogus'], qr/unknown option '--bogus'/,
     'unknown option'],
    [['campaign', 'create', '--name'], qr/option --name needs a value/,
     'option without its value'],
    [['campaign', 'create', qw(--name N --leads x.csv --base-url ftp://x
                               --landing https://e.com/)],
     qr/--base-url 'ftp:\/\/x': must start with https:\/\/ or http:\/\//, 'bad base url scheme'],
    [['campaign', 'create', qw(--name N --leads x.csv --base-url https://t.e.com/?a=1
                               --landing https://e.com/)],
     qr/must not have a query/, 'base url with a query'],
    [['campaign', 'create', '--name', 'N', '--leads', 'x.csv',
      '--base-url', 'https://t.e.com', '--landing', 'https://e.com/a b'],
     qr/percent-encode/, 'landing url with a space'],
    [['campaign', 'create', qw(--name N --leads x.csv --base-url https://t.e.com
                               --landing https://e.com/?i=abc)],
     qr/must not have an 'i' parameter/, 'landing url with i='],
    [['campaign', 'create', qw(--name !!! --leads x.csv --base-url https://t.e.com
                               --landing https://e.com/)],
     qr/no ASCII letter or digit.*--slug/, 'name without a slug'],
    [['campaign', 'create', '--name', "Caf\xe9", qw(--leads x.csv
                               --base-url https://t.e.com --landing https://e.com/)],
     qr/--name must be 1-256 bytes of UTF-8/, 'name not UTF-8'],
    [['campaign', 'create', qw(--name N --slug Bad! --leads x.csv
                               --base-url https://t.e.com --landing https://e.com/)],
     qr/--slug 'Bad!' must be/, 'bad slug'],
    [['campaign', 'create', qw(--name N --id-length 9 --leads x.csv
                               --base-url https://t.e.com --landing https://e.com/)],
     qr/--id-length must be 6, 7 or 8/, 'id length out of range'],
    [['leads', 'push'], qr/needs an identities file/, 'push without a file'],
    [['leads', 'push', '--ttl', '3x', 'f'], qr/--ttl must be a duration/, 'bad ttl'],
    [['leads', 'push', '--redis', 'nohost', 'f'], qr/./, 'push of a missing file'],
    [['leads', 'get'], qr/needs one ID/, 'get without an id'],
    [['leads', 'export-bq', '--table', 'events', 'f'],
     qr/--table must be identity_map or lead_imports/, 'export of a wrong table'],
    [['spool', 'ls'], qr/spool ls needs one DIR/, 'spool ls without a directory'],
    [['id', 'make', 'a@b.co'], qr/needs --campaign/, 'id make without campaign'],
);

for my $u (@usage) {
    my ($args, $re, $name) = @$u;
    ($rc, $out, $err) = oie(@$args);
    if ($name eq 'push of a missing file') {
        is($rc, 4, "$name: exit 4");
        like($err, qr/cannot open f:/, "$name: names the file");
        next;
    }
    is($rc, 2, "$name: exit 2");
    like($err, $re, "$name: message");
}

# ids: pinned values (the same as t/unit/test_id.c) and the Perl algorithm
($rc, $out) = oie(qw(id make --campaign q1-2024-outbound jane@acme.com),
                  ' Jane@ACME.com ');
is($rc, 0, 'id make exits 0');
is($out, "mNAfL0d\nmNAfL0d\n", 'pinned id, normalization');

($rc, $out) = oie(qw(id make --campaign q1-2024-outbound --attempt 1
                     jane@acme.com));
is($out, "R8q6NU5\n", 'pinned id, attempt 1');
($rc, $out) = oie(qw(id make --campaign q1-2024-outbound --attempt 1 --length 8
                     jane@acme.com));
is($out, ref_id('jane@acme.com', 'q1-2024-outbound', 1, 8) . "\n",
   'attempt and length options');
is(ref_id('jane@acme.com', 'q1-2024-outbound', 0, 7), 'mNAfL0d',
   'the Perl algorithm gives the pinned id');

my @emails = map { "user$_.x" . ($_ * 7919 % 1000) . "\@Example$_.COM" } 1 .. 300;
($rc, $out) = oie(qw(id make --campaign spring-25 --length 6), @emails);
is_deeply([split /\n/, $out], [map { ref_id($_, 'spring-25', 0, 6) } @emails],
          '300 ids agree with the Perl algorithm');

($rc, $out) = oie('id', 'hash', ' Jane@Acme.com');
is($out, email_hash('jane@acme.com') . "\n", 'id hash is SHA-256 of the normalized email');

# signing
my $dir = tmpdir();
write_file("$dir/secret", "0123456789abcdef-secret\n");
write_file("$dir/short", "tooshort\n");

($rc, $out) = oie('id', 'sign', '--secret-file', "$dir/secret", 'abc1234');
is($out, "abc1234.8t38Dn6I\n", 'pinned signed id (secret file newline ignored)');
is(ref_sign('abc1234', '0123456789abcdef-secret'), 'abc1234.8t38Dn6I',
   'the Perl HMAC gives the pinned tag');

($rc, $out, $err) = oie('id', 'verify', '--secret-file', "$dir/secret",
                        'abc1234.8t38Dn6I', 'abc1234.8t38Dn6J', 'abc1234', 'x');
is($rc, 3, 'verify with a bad id exits 3');
is($out, "abc1234\n", 'verify prints the good id only');
like($err, qr/'abc1234.8t38Dn6J': wrong signature/, 'wrong tag reported');
like($err, qr/'abc1234': no signature/, 'missing tag reported');
like($err, qr/'x': not an id/, 'malformed id reported');

($rc, $out, $err) = oie('id', 'sign', '--secret-file', "$dir/short", 'abc1234');
is($rc, 3, 'short secret exits 3');
like($err, qr/the secret is 8 bytes; at least 16/, 'short secret explained');

done_testing();
