# Our t/lib Test::Nginx::Socket against plain Debian nginx: status codes,
# bodies, headers and the forms a request can take. The plan is the count
# the real Test::Nginx::Socket would make for these blocks.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

plan tests => 43;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: plain GET: status 200 by default, body, headers, absent header
--- config
    location = /t {
        add_header X-Hello "world";
        return 200 "hello\n";
    }
--- request
GET /t
--- response_body
hello
--- response_headers
X-Hello: world
Content-Type: text/plain
Content-Length: 6
!X-Absent
--- no_error_log
[error]



=== TEST 2: error_code and response_body_like
--- config
    location = /t { return 403; }
--- request
    GET /t
--- error_code: 403
--- response_body_like: 403 Forbidden



=== TEST 3: chomp filter
--- config
    location = /t { return 200 "no newline"; }
--- request
GET /t
--- response_body chomp
no newline



=== TEST 4: a block without config talks to the running nginx
--- request
GET /t
--- response_body chomp
no newline



=== TEST 5: response_headers_like
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- response_headers_like
Server: nginx/[\d.]+
Content-Type: text/.*



=== TEST 6: response_body eval with control characters
--- config
    location = /t { return 200 "a\tb\r\n"; }
--- request
GET /t
--- response_body eval
"a\tb\r\n"



=== TEST 7: more_headers, Host, Connection and a trimmed POST body
--- config
    location = /t {
        set $a "$http_x_foo|$http_host|$http_connection";
        return 200 "$a|$content_length|$request_method|$server_protocol\n";
    }
--- more_headers
X-Foo: bar
--- request
POST /t
  hello  
--- response_body
bar|localhost|close|5|POST|HTTP/1.1



=== TEST 8: leading comment lines and an explicit HTTP/1.0
--- config
    location = /p { return 200 "$server_protocol $request_uri\n"; }
--- request
# first a comment
# then another
    GET /p?a=1 HTTP/1.0
--- response_body
HTTP/1.0 /p?a=1



=== TEST 9: HEAD: headers but no body
--- config
    location = /t { return 200 "hello"; }
--- request
HEAD /t
--- response_headers
Content-Length: 5
--- response_body



=== TEST 10: a chunked response is decoded
--- config
    location = /c {
        sub_filter 'a' 'b';
        sub_filter_once off;
        sub_filter_types text/plain;
        return 200 "aaa\n";
    }
--- request
GET /c
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
bbb



=== TEST 11: user_files under html_dir, served by the default location /
--- config
--- user_files
>>> hello.txt
Hello, world
>>> sub/dir/x.html
<b>x</b>
--- request eval
["GET /hello.txt", "GET /sub/dir/x.html"]
--- response_body eval
["Hello, world\n", "<b>x</b>\n"]



=== TEST 12: raw_request is sent as it is
--- config
    location = /t { return 200 "raw $server_protocol\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\n\r\n"
--- response_body
raw HTTP/1.0



=== TEST 13: timeout with a unit
--- config
    location = /t { return 200 "quick\n"; }
--- request
GET /t
--- timeout: 500ms
--- response_body
quick



=== TEST 14: $ServerPort in expected bodies and headers
--- config
    location = /t {
        add_header X-Port $server_port;
        return 200 "port=$server_port\n";
    }
--- request
GET /t
--- response_headers
X-Port: $ServerPort
--- response_body
port=$ServerPort



=== TEST 15: redirect
--- config
    location = /r { return 302 /foo; }
--- request
GET /r
--- error_code: 302
--- response_headers
Location: http://localhost:$ServerPort/foo
--- raw_response_headers_like: Location: http://localhost:\d+/foo\r\n
