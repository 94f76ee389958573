# error_log / no_error_log (lines, qr//, arrays), per-block log isolation,
# grep_error_log, log_level, access_log, wait, and shutdown_error_log
# checked after nginx has been stopped gracefully.
use FindBin;
use lib "$FindBin::Bin/../lib";    # always OUR runner, even if a real one
                                   # is installed
# plain Debian nginx: whatever make test loads for the project stays out
BEGIN { delete $ENV{TEST_NGINX_LOAD_MODULES} }
use Test::Nginx::Socket;

plan tests => 23;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: error_log lines are substrings of log lines
--- config
    location = /dummy { return 204; }
--- request
GET /missing.html
--- error_code: 404
--- error_log
open()
missing.html" failed (2: No such file or directory)



=== TEST 2: a new block does not see the previous block's log
--- config
    location = /dummy { return 204; }
--- request
GET /
--- response_body_like: It works!
--- no_error_log
[error]
missing.html



=== TEST 3: error_log eval with a regex and a string, after a wait
--- config
    location = /x { deny all; }
--- request
GET /x
--- error_code: 403
--- wait: 0.1
--- error_log eval
[qr/access forbidden by rule, client: 127\.0\.0\.1/,
 "request: \"GET /x HTTP/1.1\""]



=== TEST 4: grep_error_log
--- config
    location = /x { deny all; }
--- request
GET /x
--- error_code: 403
--- grep_error_log eval
qr/access forbidden by rule/
--- grep_error_log_out
access forbidden by rule



=== TEST 5: per-block log_level
--- config
    location = /t { return 200; }
--- log_level: warn
--- request
GET /t
--- no_error_log
[debug]



=== TEST 6: the default log level is debug
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log
[debug]



=== TEST 7: access_log
--- config
    location = /al { return 200; }
--- request
GET /al?x=1
--- access_log
"GET /al?x=1 HTTP/1.1" 200



=== TEST 8: shutdown_error_log of a block in the middle
--- config
    location = /t { return 200; }
--- request
GET /t
--- shutdown_error_log eval
qr/signal 3 \(SIGQUIT\) received/
--- no_shutdown_error_log
[alert]



=== TEST 9: shutdown_error_log of the last block
--- config
    location = /t { return 200; }
--- request
GET /t
--- shutdown_error_log
exit
