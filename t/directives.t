# Every directive: accepted forms, defaults, and clear errors at nginx -t.
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use OIE::Env;
use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);

$ENV{TEST_NGINX_OIE_EVENTS} = tempdir('oie-dir-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: every directive in its documented form
--- http_config
oie_zone oie_test 2m;
oie_sink file $TEST_NGINX_OIE_EVENTS max_size=1m max_age=10s;
oie_batch rows=100 bytes=1m interval=250ms;
oie_allowed_origins https://example.com http://localhost:8080;
oie_max_body 32k;
--- config
location = /t { oie_track; }
location = /s { oie_status; }
--- request
GET /s
--- error_code: 200
--- response_body_like: "ring":\{"size":\d+
--- no_error_log
[error]



=== TEST 2: defaults: no oie_zone, oie_sink or oie_batch needed
--- config
location = /t { oie_track; }
location = /s { oie_status; }
--- request
GET /s
--- error_code: 200
--- response_body_like: "sink":\{"type":"file"



=== TEST 3: oie_zone below 1m
--- http_config
oie_zone oie 64k;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
oie_zone size "64k" is invalid: at least 1m



=== TEST 4: oie_zone twice
--- http_config
oie_zone a 2m;
oie_zone b 2m;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
"oie_zone" directive is duplicate



=== TEST 5: an unknown sink type
--- http_config
oie_sink kafka localhost:9092;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
unknown oie_sink type "kafka"



=== TEST 6: a bad sink parameter
--- http_config
oie_sink file /tmp/x max_age=soon;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
invalid oie_sink parameter "max_age=soon"



=== TEST 7: oie_batch rows out of range
--- http_config
oie_batch rows=0;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
invalid oie_batch parameter "rows=0"



=== TEST 8: oie_batch bytes over the insertAll limit
--- http_config
oie_batch bytes=20m;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
invalid oie_batch parameter "bytes=20m"



=== TEST 9: oie_batch unknown parameter
--- http_config
oie_batch size=5;
--- config
location = /t { oie_track; }
--- must_die
--- error_log
invalid oie_batch parameter "size=5"



=== TEST 10: an origin with a path
--- config
location = /t { oie_allowed_origins https://example.com/; oie_track; }
--- must_die
--- error_log
oie_allowed_origins: "https://example.com/" has a trailing slash



=== TEST 11: an origin without a scheme
--- config
location = /t { oie_allowed_origins example.com; oie_track; }
--- must_die
--- error_log
oie_allowed_origins: "example.com" is not an origin



=== TEST 12: oie_track where a handler is already set
--- config
location = /t { oie_track; oie_status; }
--- must_die
--- error_log
"oie_status" directive is duplicate: the location already has a content handler



=== TEST 13: oie_max_body that is not a size
--- config
location = /t { oie_max_body lots; oie_track; }
--- must_die
--- error_log
"oie_max_body" directive invalid value



=== TEST 14: oie_zone is only for http{}
--- config
location = /t { oie_zone x 2m; oie_track; }
--- must_die
--- error_log
"oie_zone" directive is not allowed here



=== TEST 15: the module loaded but unused creates no zone and no files
--- config
location = /x { return 204; }
--- request
GET /x
--- error_code: 204
--- no_error_log
oie: ngx_http_oie_module
