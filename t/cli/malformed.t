#!/usr/bin/perl
# oie campaign create on broken lead lists: each fault is named as
# FILE:LINE:COLUMN, the exit code says what kind it is, and nothing is
# written unless the run succeeds.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use OIECli;
use Test::More;

my $dir = tmpdir();
my @base = ('--name', 'Bad', '--base-url', 'https://t.example.com',
            '--landing', 'https://example.com/');

sub create {
    my ($name, $bytes, @more) = @_;
    my $path = write_file("$dir/$name.csv", $bytes);
    my $out = "$dir/out-$name";
    my ($rc, $stdout, $err) = oie('campaign', 'create', @base, '--leads', $path,
                                  '--out', $out, @more);
    return ($rc, $err, $path, $out);
}

my @cases = (
    # name, content, exit, stderr pattern (FILE is replaced)
    ['unbalanced', "email,first\na\@b.co,Ann\nc\@d.co,\"Carl\nx\@y.co,Xi\n",
     3, qr/FILE:3:8: quoted field is never closed \(unbalanced quotes\)/],
    ['after-quote', "email,first\na\@b.co,\"Ann\"x\n",
     3, qr/FILE:2:13: unexpected 'x' after a closing quote/],
    ['latin1', "email,first\na\@b.co,Ren\xe9e\n",
     3, qr/FILE:2:11: invalid UTF-8 \(byte 0xe9\)/],
    ['overlong', "email,first\na\@b.co,\xc3\xa9\xc0\x80\n",
     3, qr/FILE:2:9: invalid UTF-8 \(byte 0xc0\)/],
    ['utf16', "\xff\xfee\0m\0a\0i\0l\0\n\0",
     3, qr/FILE:1:1: invalid UTF-8 \(byte 0xff\)/],
    ['utf16-nobom', "e\0m\0a\0i\0l\0\n\0",
     3, qr/FILE:1:2: NUL byte \(is this a UTF-16 file\?\)/],
    ['empty', '', 3, qr/FILE:1:1: empty file: expected a header row/],
    ['blank-lines', "\r\n\n\r\n", 3, qr/FILE:1:1: empty file/],
    ['header-only', "email,first name\r\n", 3, qr/FILE: no leads after the header row/],
    ['no-email-column', "name,company\nAnn,Acme\n",
     3, qr/FILE:1:1: no email column in the header/],
    ['duplicate', "email,first\nann\@b.co,Ann\nbob\@b.co,Bob\n ANN\@B.CO ,Ann2\n",
     3, qr/FILE:4:1: duplicate email 'ann\@b.co' \(first on line 2\)/],
    ['bad-email', "first,email\nAnn,ann.b.co\n",
     3, qr/FILE:2:5: no '\@' in the email: 'ann.b.co'/],
    ['email-with-name', "email\n\"Ann <ann\@b.co>\"\n",
     3, qr/FILE:2:1: looks like .Name <address>.: write only the address/],
    ['two-ats', "email\na\@b\@c.co\n", 3, qr/FILE:2:1: more than one '\@'/],
    ['no-domain-dot', "email\na\@localhost\n", 3, qr/FILE:2:1: the email's domain is not a domain name/],
    ['empty-email', "email,first\n,Ann\n", 3, qr/FILE:2:1: empty email/],
    ['too-many-fields', "email,first\na\@b.co,Ann,extra\n",
     3, qr/FILE:2:12: 3 fields, but the header has 2 columns/],
    ['too-many-columns', 'email' . (',c' x 5000) . "\na\@b.co\n",
     3, qr/FILE:1:1: the header has 5001 columns; at most 4096 are read/],
    ['missing-file', undef, 4, qr/cannot open FILE: No such file or directory/],
);

for my $c (@cases) {
    my ($name, $bytes, $exit, $re) = @$c;
    my ($rc, $err, $path, $out);

    if (defined $bytes) {
        ($rc, $err, $path, $out) = create($name, $bytes);
    } else {
        $path = "$dir/nope.csv";
        $out = "$dir/out-$name";
        ($rc, undef, $err) = oie('campaign', 'create', @base, '--leads', $path,
                                 '--out', $out);
    }

    my $want = "$re";
    $want =~ s/FILE/\Q$path\E/g;
    is($rc, $exit, "$name: exit $exit");
    like($err, qr/$want/, "$name: message names the place") or diag $err;
    ok(!-e $out || !glob("$out/*"), "$name: nothing written");
}

# every bad row is reported, up to 20, then counted
my $many = "email\n" . join('', map { "bad$_\n" } 1 .. 25) . "ok\@x.co\n";
my ($rc, $err) = create('many', $many);
is($rc, 3, 'many bad rows: exit 3');
my @lines = grep { /no '\@' in the email/ } split /\n/, $err;
is(scalar @lines, 20, 'the first 20 bad rows are shown');
like($err, qr/5 more bad rows/, 'the rest are counted');
like($err, qr/25 bad rows, nothing written \(fix them, or pass --skip-bad-rows/,
     'what to do is said');

# --skip-bad-rows: bad rows and later duplicates are left out, with warnings
my $mixed = "email,first\nann\@b.co,Ann\nnot-an-email,X\nANN\@b.co,Ann again\n"
          . "bob\@b.co,Bob\n";
my ($out);
($rc, $err, undef, $out) = create('skip', $mixed, '--skip-bad-rows');
is($rc, 0, '--skip-bad-rows: exit 0');
like($err, qr/warning: .*:3:1: no '\@' in the email: 'not-an-email'; row skipped/,
     'skipped row warned');
like($err, qr/warning: .*:4:1: duplicate email 'ann\@b.co' \(first on line 2\); row skipped/,
     'duplicate warned');
my $ids = ndjson_read("$out/bad-identities.ndjson");
is_deeply([map { [$_->{email}, $_->{firstName}, $_->{line}] } @$ids],
          [['ann@b.co', 'Ann', 2], ['bob@b.co', 'Bob', 5]],
          'the first of duplicates is kept');
my $urls = csv_parse(read_file("$out/bad-urls.csv"));
is(scalar @$urls, 3, 'the CSV has the good rows only');

# structural faults are never skipped
($rc, $err) = create('skip-unbalanced', "email\n\"a\@b.co\n", '--skip-bad-rows');
is($rc, 3, '--skip-bad-rows does not skip a broken file');

# an output directory that cannot be made
write_file("$dir/plainfile", "x");
($rc, undef, $err) = oie('campaign', 'create', @base, '--leads',
                         write_file("$dir/ok.csv", "email\na\@b.co\n"),
                         '--out', "$dir/plainfile/sub");
is($rc, 4, 'unwritable output: exit 4');
like($err, qr/cannot create directory \Q$dir\E\/plainfile\/sub/, 'unwritable output named');

# a secret too short, a directory as the lead file
write_file("$dir/short", "abc\n");
($rc, undef, $err) = oie('campaign', 'create', @base, '--leads', "$dir/ok.csv",
                         '--secret-file', "$dir/short", '--out', "$dir/o2");
is($rc, 3, 'short secret: exit 3');
($rc, undef, $err) = oie('campaign', 'create', @base, '--leads', $dir, '--out', "$dir/o3");
is($rc, 4, 'a directory as the lead file: exit 4');
like($err, qr/is a directory/, 'a directory is named as such');

done_testing();
