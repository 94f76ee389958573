# make test SAN=1 catches what it is there for: a module with a heap
# overflow and a signed overflow (t/san/ngx_http_oie_canary_module.c),
# compiled like the real one against build-san/nginx and run by the same
# build-san/nginx-san, fails the test file that made it misbehave, with the
# sanitizer's report; the same module asked for nothing wrong passes.
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);

my $lib = "$FindBin::Bin/../lib";
my $build = $ENV{OIE_BUILD_DIR} || '';
my $ngx = "$build/nginx";
my $bin = $ENV{TEST_NGINX_BINARY} || '';

sub makefile_var {
    my ($text, $name) = @_;
    $text =~ s/\\\n/ /g;
    return $text =~ /^\Q$name\E\s*=\s*(.*)$/m ? $1 : undef;
}

my $mk = -f "$ngx/objs/Makefile"
         ? do { local (@ARGV, $/) = "$ngx/objs/Makefile"; <> } : '';
my $cflags = makefile_var($mk, 'CFLAGS') // '';
if (!$ENV{TEST_NGINX_REPORT_DIR} || $cflags !~ /-fsanitize=address/
    || !-x $bin)
{
    plan skip_all => 'make test SAN=1 only: it needs the instrumented nginx '
                     . 'tree build-san/nginx and the nginx-san wrapper';
}

my $tmp = tempdir('oie-canary-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;       # a worker running as nobody reports in there

# the canary module, built as the real one is (its nginx tree's flags)
my $incs = makefile_var($mk, 'ALL_INCS') // '';
my $cmd = "cd $ngx && cc $cflags -fPIC -shared $incs -o $tmp/canary.so "
          . "$FindBin::Bin/ngx_http_oie_canary_module.c 2>&1";
my $out = `$cmd`;
is($?, 0, 'the canary module builds against build-san/nginx')
    or BAIL_OUT("$cmd\n$out");
like(`ldd $tmp/canary.so`, qr/libasan/, 'instrumented');

# a block test asking /canary?$args, in a child perl with a report
# directory of its own (writable by all, as make test SAN=1 makes its
# own); nginx as one process, or (nobody => 1) a master and a worker
# running as nobody: returns (exit status, TAP and diagnostics)
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

=== TEST 2: nginx still answers (a new worker)
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
    # (Debian's nobody is in nogroup; there is no group nobody)
    local $ENV{TEST_NGINX_WORKER_USER} =
        'nobody ' . (getgrnam('nogroup') ? 'nogroup' : 'nobody')
        if $o{nobody};
    delete local @ENV{qw(TEST_NGINX_PORT TEST_NGINX_SERVER_PORT
                         TEST_NGINX_NO_CLEAN)};
    my $res = `timeout 300 $^X $dir/child.pl 2>&1`;
    return ($? >> 8, $res);
}

my ($rc, $res) = child('fine');
is($rc, 0, 'nothing wrong asked: the file passes') or diag $res;
unlike($res, qr/^not ok/m, '... no failing test');

for my $nobody (0, 1) {
    my $how = $nobody ? 'a worker running as nobody' : 'a single nginx process';

    ($rc, $res) = child('heap', nobody => $nobody);
    isnt($rc, 0, "$how: a heap overflow fails the file");
    like($res, qr/^not ok \d+ - no memory error reported by nginx \(\S*asan\.\d+\)/m,
         '... as a test naming the ASan report') or diag $res;
    like($res, qr/ERROR: AddressSanitizer: heap-buffer-overflow/,
         '... with the report') or diag $res;
    like($res, qr/^ok \d+ - .*TEST 2: nginx still answers/m,
         '... and the file went on') or diag $res;

    ($rc, $res) = child('ubsan', nobody => $nobody);
    isnt($rc, 0, "$how: a signed overflow fails the file");
    like($res, qr/^not ok \d+ - no memory error reported by nginx \(\S*error\.log \(line \d+\)\)/m,
         '... as a test naming the error.log UBSan wrote to') or diag $res;
    like($res, qr/runtime error: signed integer overflow/, '... with the report')
        or diag $res;
}

done_testing();
