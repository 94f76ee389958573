# Test::Base's LAST: the blocks after the marked one do not run.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

plan tests => repeat_each() * 2 * blocks();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: runs
--- config
    location = /t { return 200 "first\n"; }
--- request
GET /t
--- response_body
first



=== TEST 2: runs, and is the last one
--- LAST
--- config
    location = /t { return 200 "last\n"; }
--- request
GET /t
--- response_body
last



=== TEST 3: never runs
--- config
    location = /t { return 500; }
--- request
GET /t
--- response_body
never
