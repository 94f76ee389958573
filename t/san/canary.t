# The memory checkers catch what they are there for: a module with a heap
# overflow and a signed overflow on request
# (t/san/ngx_http_oie_canary_module.c), compiled like the real one against
# the nginx tree of the build under test, fails the test file that made it
# misbehave, with the report; asked for nothing wrong, it passes.
#
#   make test SAN=1   ASan and UBSan, through build-san/nginx-san: nginx as
#                     one process, and a worker running as nobody
#   make test         valgrind's memcheck (TEST_NGINX_USE_VALGRIND=1)
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);

my $lib = "$FindBin::Bin/../lib";
my $root = $ENV{OIE_ROOT} || "$FindBin::Bin/../..";
my $build = $ENV{OIE_BUILD_DIR} || "$root/build";
my $ngx = "$build/nginx";

sub makefile_var {
    my ($text, $name) = @_;
    $text =~ s/\\\n/ /g;
    return $text =~ /^\Q$name\E\s*=\s*(.*)$/m ? $1 : undef;
}

my $mk = -f "$ngx/objs/Makefile"
         ? do { local (@ARGV, $/) = "$ngx/objs/Makefile"; <> } : '';
my $cflags = makefile_var($mk, 'CFLAGS') // '';
my $san = $cflags =~ /-fsanitize=address/;

plan skip_all => "no configured nginx tree in $ngx: run make first"
    if !$mk;
plan skip_all => 'SAN=1 build, but not run by make test SAN=1 (no '
                 . 'TEST_NGINX_REPORT_DIR, no nginx-san)'
    if $san && (!$ENV{TEST_NGINX_REPORT_DIR}
                || ($ENV{TEST_NGINX_BINARY} // '') !~ /nginx-san$/);
plan skip_all => 'no valgrind (scripts/install-deps.sh installs it)'
    if !$san && system('valgrind --version >/dev/null 2>&1') != 0;

my $tmp = tempdir('oie-canary-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;       # a worker running as nobody reports in there

# the canary module, built as the real one is (its nginx tree's flags)
my $incs = makefile_var($mk, 'ALL_INCS') // '';
my $cmd = "cd $ngx && cc $cflags -fPIC -shared $incs -o $tmp/canary.so "
          . "$FindBin::Bin/ngx_http_oie_canary_module.c 2>&1";
my $out = `$cmd`;
is($?, 0, "the canary module builds against $ngx")
    or BAIL_OUT("$cmd\n$out");
if ($san) {
    like(`ldd $tmp/canary.so`, qr/libasan/, 'instrumented');
}

# a block test asking /canary?$args, in a child perl with a report
# directory of its own (writable by all, as make test SAN=1 makes its
# own); nginx as one process, or (nobody => 1) a master and a worker
# running as nobody; under valgrind if asked: returns (exit status, TAP
# and diagnostics)
sub child {
    my ($args, %o) = @_;
    my $dir = tempdir(DIR => $tmp);
    chmod 0755, $dir;
    mkdir "$dir/reports" or die $!;
    chmod 01777, "$dir/reports";
    my $master = $o{nobody} ? 'master_on(); workers(1);' : '';
    open my $fh, '>', "$dir/child.pl" or die $!;
    print $fh <<"T";
use lib '$lib';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
$master
run_tests();
__DATA__

=== TEST 1: the canary, asked for "$args"
--- config
    location = /canary { oie_canary; }
--- request
GET /canary?$args
--- ignore_response

=== TEST 2: nginx still answers
--- config
    location = /canary { oie_canary; }
--- request
GET /canary
--- error_code: 204
T
    close $fh;
    local $ENV{TEST_NGINX_REPORT_DIR} = "$dir/reports";
    local $ENV{TEST_NGINX_SERVROOT} = "$dir/servroot";
    local $ENV{TEST_NGINX_LOAD_MODULES} = "$tmp/canary.so";
    local $ENV{TEST_NGINX_USE_VALGRIND} = $o{valgrind} ? 1 : 0;
    # (Debian's nobody is in nogroup; there is no group nobody)
    local $ENV{TEST_NGINX_WORKER_USER} =
        'nobody ' . (getgrnam('nogroup') ? 'nogroup' : 'nobody')
        if $o{nobody};
    delete local @ENV{qw(TEST_NGINX_PORT TEST_NGINX_SERVER_PORT
                         TEST_NGINX_NO_CLEAN)};
    my $res = `timeout 300 $^X $dir/child.pl 2>&1`;
    return ($? >> 8, $res);
}

my $REPORTED = qr/^not ok \d+ - no memory error reported by nginx/m;

my ($rc, $res) = child('fine', valgrind => !$san);
is($rc, 0, 'nothing wrong asked: the file passes') or diag $res;
unlike($res, qr/^not ok/m, '... no failing test');

if (!$san) {
    ($rc, $res) = child('heap', valgrind => 1);
    isnt($rc, 0, 'valgrind: a heap overflow fails the file');
    like($res, qr/$REPORTED \(\S*valgrind\.\d+\)/,
         '... as a test naming the valgrind report') or diag $res;
    like($res, qr/Invalid read of size 1/, '... with the report')
        or diag $res;
    like($res, qr/^ok \d+ - .*TEST 2: nginx still answers/m,
         '... and the file went on') or diag $res;
    done_testing();
    exit;
}

for my $nobody (0, 1) {
    my $how = $nobody ? 'a worker running as nobody'
                      : 'a single nginx process';

    ($rc, $res) = child('heap', nobody => $nobody);
    isnt($rc, 0, "$how: a heap overflow fails the file");
    like($res, qr/$REPORTED \(\S*asan\.\d+\)/,
         '... as a test naming the ASan report') or diag $res;
    like($res, qr/ERROR: AddressSanitizer: heap-buffer-overflow/,
         '... with the report') or diag $res;
    like($res, qr/^ok \d+ - .*TEST 2: nginx still answers/m,
         '... and the file went on') or diag $res;

    ($rc, $res) = child('ubsan', nobody => $nobody);
    isnt($rc, 0, "$how: a signed overflow fails the file");
    like($res, qr/$REPORTED \(\S*error\.log \(line \d+\)\)/,
         '... as a test naming the error.log UBSan wrote to') or diag $res;
    like($res, qr/runtime error: signed integer overflow/,
         '... with the report') or diag $res;
}

done_testing();
