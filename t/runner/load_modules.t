# TEST_NGINX_LOAD_MODULES: load_module lines come first in nginx.conf, in
# the order given; with Debian's echo module we can also check request
# bodies (plain and chunked) and a large chunked response.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner

my $mods;
BEGIN {
    $mods = '/usr/lib/nginx/modules';
    my $bin = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
    # Debian's modules load in Debian's nginx: the binary is that one, or
    # runs it (make test SAN=1's build-san/nginx-san), when it says the
    # same version with the same configure arguments
    my $debian = sub {
        return 1 if $bin eq '/usr/sbin/nginx';
        return 0 if !-x $bin || !-x '/usr/sbin/nginx';
        my $want = `/usr/sbin/nginx -V 2>&1`;
        return $? == 0 && `'$bin' -V 2>&1` eq $want;
    };
    if (!-e "$mods/ngx_http_echo_module.so"
        || !-e "$mods/ndk_http_module.so" || !$debian->())
    {
        require Test::More;
        Test::More::plan(skip_all => "needs Debian's nginx with "
                         . "libnginx-mod-http-echo and ndk");
    }
    $ENV{TEST_NGINX_LOAD_MODULES} =
        "$mods/ndk_http_module.so $mods/ngx_http_echo_module.so";
}

use Test::Nginx::Socket;

plan tests => repeat_each() * 2 * blocks() + 2;

no_shuffle();
run_tests();

open my $in, '<', $Test::Nginx::Util::ConfFile or die $!;
my @conf = <$in>;
close $in;
is $conf[1], "load_module $mods/ndk_http_module.so;\n",
    'first load_module line: ndk';
is $conf[2], "load_module $mods/ngx_http_echo_module.so;\n",
    'second load_module line: echo';

__DATA__

=== TEST 1: a directive from the loaded module
--- config
    location = /e { echo "hello from echo"; }
--- request
GET /e
--- response_body
hello from echo



=== TEST 2: a request body is trimmed and sent with Content-Length
--- config
    location = /e {
        echo_read_request_body;
        echo "[$request_body] $content_length";
    }
--- request
POST /e
   some body  
--- response_body
[some body] 9



=== TEST 3: a chunked request body is sent as written
--- config
    location = /e {
        echo_read_request_body;
        echo "[$request_body]";
    }
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /e\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
--- response_body
[hello world]



=== TEST 4: a large chunked response
--- config
    location = /big { echo_duplicate 100000 "ab"; }
--- request
GET /big
--- response_body_filters
length
--- response_body chomp
200000
