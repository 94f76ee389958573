# Test::Base's ONLY: just the marked block runs (the others would fail).
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

plan tests => repeat_each() * 2 * blocks();

run_tests();

__DATA__

=== TEST 1: not this one
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never



=== TEST 2: only this one
--- ONLY
--- config
    location = /t { return 200 "only\n"; }
--- request
GET /t
--- response_body
only



=== TEST 3: nor this one
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never
