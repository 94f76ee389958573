# Several requests per block (eval arrays for requests, more_headers and
# every expectation), packets, pipelining, and repeat_each. The plan is
# written the way real Test::Nginx::Socket files write it.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

repeat_each(2);

plan tests => repeat_each() * (10 + 9 + 3 + 2 + 4);

run_tests();

__DATA__

=== TEST 1: two requests; error_log checked per request
--- config
    location = /a { return 200 "A\n"; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body eval
["A\n", qr/404 Not Found/]
--- error_log eval
[qr/request line: "GET \/[ab] HTTP/]
--- no_error_log
[alert]
[crit]



=== TEST 2: more_headers and response_headers per request
--- config
    location = /h {
        add_header X-Echo $http_x_n;
        return 200 "$http_x_n\n";
    }
--- request eval
["GET /h", "GET /h", "GET /h"]
--- more_headers eval
["X-N: 1", "X-N: 2", ""]
--- response_headers eval
["X-Echo: 1", "X-Echo: 2", "!X-Echo"]
--- response_body eval
["1\n", "2\n", "\n"]



=== TEST 3: error_code array
--- config
    location = /ok { return 200 "ok\n"; }
    location = /gone { return 410; }
    location = /teapot { return 418; }
--- request eval
["GET /ok", "GET /gone", "GET /teapot"]
--- error_code eval
[200, 410, 418]



=== TEST 4: a request sent as two packets
--- config
    location = /p { return 200 "$content_length\n"; }
--- request eval
[["POST /p\nhel", { value => "lo", delay_before => 0.01 }]]
--- response_body
5



=== TEST 5: pipelined requests on one connection
--- config
    location = /a { return 200 "A\n"; }
    location = /b { return 200 "B $http_connection\n"; }
--- pipelined_requests eval
["GET /a", "GET /b"]
--- response_body eval
["A\n", "B close\n"]
