# Everything around the requests: must_die on bad configs (error_log
# against nginx's startup output), init, user_files, $TEST_NGINX_*
# substitution in every config section, random ports, SKIP/skip_eval,
# block preprocessors, custom body checks, server_name, env_to_nginx and
# the generated nginx.conf itself. Blocks run shuffled, as by default.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

$ENV{TEST_NGINX_GREETING} = 'howdy';

env_to_nginx('TEST_NGINX_GREETING', 'OIE_RUNNER_TEST=1');

add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->greeting) {
        $block->set_value('more_headers', "X-Greeting: " . $block->greeting);
    }
});

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    if (defined $block->body_length) {
        is(length($body // ''), $block->body_length,
           $block->name . " - body_length (req $req_idx)");
    }
});

plan tests => 29 + 3;

run_tests();

# the nginx.conf of the last block is still there
my $conf = do {
    local $/;
    open my $in, '<', "$Test::Nginx::Util::ConfFile" or die $!;
    <$in>;
};
like $conf, qr/^env TEST_NGINX_GREETING;\nenv OIE_RUNNER_TEST=1;$/m,
    'env_to_nginx lines in nginx.conf';
like $conf, qr/^\s+listen\s+127\.0\.0\.1:$ServerPort;$/m,
    'the server listens on 127.0.0.1 only';
like $conf, qr{^\s+client_body_temp_path \Q$ServRoot\E/client_body_temp;$}m,
    'temp paths live under the server root';

__DATA__

=== TEST 1: must_die: a bad directive; error_log sees nginx's startup output
--- config
    location = /t { return a b c; }
--- must_die
--- error_log
invalid number of arguments in "return" directive
--- no_error_log
[alert]



=== TEST 2: must_die with the expected exit code
--- config
    no_such_directive on;
--- must_die: 1
--- error_log
unknown directive "no_such_directive"



=== TEST 3: nginx comes back after a must_die block
--- config
    location = /t { return 200 "alive\n"; }
--- request
GET /t
--- response_body
alive



=== TEST 4: init runs (once nginx is up) before the requests
--- config
--- init
open my $f, '>', "$ENV{TEST_NGINX_HTML_DIR}/from_init.txt" or die $!;
print $f "init ran\n";
close $f;
--- request
GET /from_init.txt
--- response_body
init ran



=== TEST 5: $TEST_NGINX_ variables in all config sections and user_files
--- main_config
env TEST_NGINX_GREETING;
--- http_config
    map $uri $tn_map { default "$TEST_NGINX_GREETING-map"; }
--- config
    location = /t {
        return 200 "$TEST_NGINX_GREETING $TEST_NGINX_SERVER_PORT\n";
    }
    location = /m { return 200 "$tn_map\n"; }
    location = /h { alias $TEST_NGINX_HTML_DIR/f.txt; }
    location = /r { return 200 "$TEST_NGINX_SERVER_ROOT\n"; }
--- user_files
>>> f.txt
file says $TEST_NGINX_GREETING
--- request eval
["GET /t", "GET /m", "GET /f.txt", "GET /h", "GET /r"]
--- response_body eval
['howdy $ServerPort' . "\n", "howdy-map\n", "file says howdy\n",
 "file says howdy\n", Test::Nginx::Util::server_root() . "\n"]



=== TEST 6: $TEST_NGINX_RAND_PORT_N: the same free port in every section
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend on $server_port\n"; }
    }
--- config
    location = /p { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/; }
--- request
GET /p
--- response_body_like: ^backend on \d+$



=== TEST 7: SKIP: never run, never counted
--- SKIP
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
not this



=== TEST 8: skip_eval skips the given number of tests
--- skip_eval: 2: 1
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
not this either



=== TEST 9: a block preprocessor turns --- greeting into more_headers
--- config
    location = /g { return 200 "$http_x_greeting\n"; }
--- greeting: hi there
--- request
GET /g
--- response_body
hi there



=== TEST 10: add_response_body_check
--- config
    location = /b { return 200 "hello"; }
--- request
GET /b
--- body_length: 5



=== TEST 11: server_name section
--- config
    location = /s { return 200 "$server_name\n"; }
--- server_name: example.test
--- request
GET /s
--- response_body
example.test
