# master_on() and workers(N): a master with two workers, and the master's
# graceful stop seen through shutdown_error_log.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

master_on();
workers(2);

plan tests => 4;

run_tests();

__DATA__

=== TEST 1: two workers under a master
--- config
    location = /pid { return 200 "worker $pid\n"; }
--- request
GET /pid
--- response_body_like: ^worker \d+$
--- grep_error_log eval
qr/start worker process(?= \d)/
--- grep_error_log_out
start worker process
start worker process
--- shutdown_error_log eval
qr/worker process \d+ exited with code 0/
