# oie_track: statuses, errors and CORS for every kind of request the pixel
# (or anyone else) can send to /t.
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use OIE::Env;
use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);
use JSON::PP ();

$ENV{TEST_NGINX_OIE_EVENTS} = tempdir('oie-track-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);

our $Ev = '{"type":"pageview","timestamp":1732406400000,"sessionId":"s1",'
        . '"visitorId":"v1","url":"https://example.com/"}';

sub batch { '{"events":[' . join(',', @_) . ']}' }
# the base event with some fields replaced, each given as raw JSON text
sub ev {
    my %o = @_;
    my $j = JSON::PP->new->canonical->allow_nonref;
    my $e = $j->decode($Ev);
    $e->{$_} = $j->decode($o{$_}) for keys %o;
    return $j->encode($e);
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a pageview as application/json is accepted with 204
--- http_config
oie_sink file $TEST_NGINX_OIE_EVENTS;
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
"POST /t\n" . main::batch($main::Ev)
--- error_code: 204
--- response_body
--- no_error_log
[error]



=== TEST 2: sendBeacon's text/plain with a charset is accepted
--- http_config
oie_sink file $TEST_NGINX_OIE_EVENTS;
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: text/plain;charset=UTF-8
--- request eval
"POST /t\n" . main::batch($main::Ev, $main::Ev)
--- error_code: 204
--- response_body



=== TEST 3: no Content-Type is 415
--- config
location = /t { oie_track; }
--- request eval
"POST /t\n" . main::batch($main::Ev)
--- error_code: 415
--- response_headers
Content-Type: application/json
--- response_body
{"error":"content type must be application/json or text/plain"}



=== TEST 4: a form content type is 415
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- request
POST /t
a=1
--- error_code: 415



=== TEST 5: PUT and DELETE are 405 with Allow
--- config
location = /t { oie_track; }
--- request eval
["PUT /t\nx", "DELETE /t"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: GET, HEAD, POST, OPTIONS", "Allow: GET, HEAD, POST, OPTIONS"]
--- response_body eval
["{\"error\":\"method not allowed\"}\n", "{\"error\":\"method not allowed\"}\n"]



=== TEST 6: malformed, truncated and non-JSON bodies are 400
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
["POST /t\n{\"events\":[", "POST /t\nnot json at all", "POST /t\n" . substr(main::batch($main::Ev), 0, 40), "POST /t\n[1,2,3]", "POST /t\n\"events\""]
--- error_code eval
[400, 400, 400, 400, 400]
--- response_body_like eval
[qr/^\{"error":"malformed JSON at line 1 column \d+: [^"]+"\}$/, qr/malformed JSON/, qr/malformed JSON/, qr/^\{"error":"the body must be a JSON object"\}$/, qr/malformed JSON|must be a JSON object/]



=== TEST 7: events must be an array of 1 to 100
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
["POST /t\n{}", "POST /t\n{\"events\":{}}", "POST /t\n{\"events\":[]}", "POST /t\n" . main::batch(($main::Ev) x 101), "POST /t\n" . main::batch(($main::Ev) x 100)]
--- error_code eval
[400, 400, 400, 400, 204]
--- response_body eval
["{\"error\":\"\\\"events\\\" must be an array\"}\n", "{\"error\":\"\\\"events\\\" must be an array\"}\n", "{\"error\":\"\\\"events\\\" must hold 1 to 100 events\"}\n", "{\"error\":\"\\\"events\\\" must hold 1 to 100 events\"}\n", ""]



=== TEST 8: each bad event is named with its index and reason
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
[
"POST /t\n" . main::batch($main::Ev, main::ev(type => '"nope"')),
"POST /t\n" . main::batch(main::ev(type => 42)),
"POST /t\n" . main::batch('{"type":"pageview","timestamp":1,"visitorId":"v","url":"u"}'),
"POST /t\n" . main::batch(main::ev(timestamp => '"yesterday"')),
"POST /t\n" . main::batch(main::ev(timestamp => -5)),
"POST /t\n" . main::batch(main::ev(url => '"' . ('a' x 2049) . '"')),
"POST /t\n" . main::batch(main::ev(type => '"scroll"')),
"POST /t\n" . main::batch(main::ev(type => '"scroll"', depth => 33)),
"POST /t\n" . main::batch(main::ev(type => '"video"', action => '"rewind"')),
"POST /t\n" . main::batch(main::ev(type => '"engagement"')),
"POST /t\n" . main::batch(main::ev(type => '"custom"')),
"POST /t\n" . main::batch(main::ev(type => '"custom"', name => '"x"', props => '{"a":{"b":1}}')),
"POST /t\n" . main::batch(main::ev(type => '"form_submit"', fields => '["a",2]')),
"POST /t\n" . main::batch(main::ev(webdriver => '"yes"')),
"POST /t\n" . main::batch('[]'),
]
--- error_code eval
[(400) x 15]
--- response_body eval
[
"{\"error\":\"event 1: unknown type \\\"nope\\\"\"}\n",
"{\"error\":\"event 0: \\\"type\\\" must be a string\"}\n",
"{\"error\":\"event 0: \\\"sessionId\\\" must be a string of 1 to 128 bytes\"}\n",
"{\"error\":\"event 0: \\\"timestamp\\\" must be a time in milliseconds\"}\n",
"{\"error\":\"event 0: \\\"timestamp\\\" must be a time in milliseconds\"}\n",
"{\"error\":\"event 0: \\\"url\\\" must be a string of 1 to 2048 bytes\"}\n",
"{\"error\":\"event 0: needs \\\"depth\\\"\"}\n",
"{\"error\":\"event 0: \\\"depth\\\" must be 25, 50, 75 or 100\"}\n",
"{\"error\":\"event 0: \\\"action\\\" must be play, progress or complete\"}\n",
"{\"error\":\"event 0: needs \\\"engagedMs\\\"\"}\n",
"{\"error\":\"event 0: needs \\\"name\\\"\"}\n",
"{\"error\":\"event 0: \\\"props\\\" must be a flat object of at most 50 keys\"}\n",
"{\"error\":\"event 0: \\\"fields\\\" must be an array of at most 100 strings of at most 128 bytes\"}\n",
"{\"error\":\"event 0: \\\"webdriver\\\" must be true or false\"}\n",
"{\"error\":\"event 0: is not an object\"}\n",
]



=== TEST 9: hostile text: NUL, invalid UTF-8, deep nesting, duplicate keys
--- config
location = /t { oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
[
"POST /t\n" . main::batch(main::ev(title => '"a\\u0000b"')),
"POST /t\n" . main::batch(main::ev(title => "\"\xff\xfe\"")),
"POST /t\n" . ('{"events":' . ('[' x 5000) . (']' x 5000) . '}'),
"POST /t\n" . main::batch('{"type":"pageview","type":"click","timestamp":1,"sessionId":"s","visitorId":"v","url":"u"}'),
]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[qr/malformed JSON/, qr/malformed JSON/, qr/malformed JSON|too large|must/, qr/malformed JSON.*duplicate/]



=== TEST 10: a body over oie_max_body is 413, with or without Content-Length
--- config
location = /t { oie_max_body 1k; oie_track; }
--- more_headers
Content-Type: application/json
--- request eval
["POST /t\n" . main::batch(($main::Ev) x 20), "POST /t\n" . main::batch(($main::Ev) x 5)]
--- error_code eval
[413, 204]
--- response_body eval
["{\"error\":\"body too large\"}\n", ""]



=== TEST 11: a chunked body over oie_max_body is 413
--- config
location = /t { oie_max_body 1k; oie_track; }
--- raw_request eval
my $b = main::batch(($main::Ev) x 20);
"POST /t HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" . sprintf("%x", length $b) . "\r\n$b\r\n0\r\n\r\n"
--- error_code: 413
--- response_body
{"error":"body too large"}



=== TEST 12: GET /t?d=<base64url> answers a GIF and records the events
--- http_config
oie_sink file $TEST_NGINX_OIE_EVENTS;
--- config
location = /t { oie_track; }
--- request eval
use MIME::Base64 ();
my $d = MIME::Base64::encode_base64(main::batch(main::ev(title => '"from gif"')), '');
$d =~ tr{+/}{-_}; $d =~ s/=+$//;
"GET /t?d=$d"
--- error_code: 200
--- response_headers
Content-Type: image/gif
Content-Length: 43
Cache-Control: no-store, no-cache, must-revalidate
--- response_body_like: ^GIF89a



=== TEST 13: GET /t with a bad or missing d is 400
--- config
location = /t { oie_track; }
--- request eval
["GET /t", "GET /t?d=", "GET /t?d=!!!*", "GET /t?d=bm90IGpzb24"]
--- error_code eval
[400, 400, 400, 400]
--- response_body_like eval
[qr/missing/, qr/missing/, qr/base64url/, qr/malformed JSON/]



=== TEST 14: preflight from an allowed origin
--- config
location = /t { oie_allowed_origins https://example.com https://www.example.com; oie_track; }
--- more_headers
Origin: https://www.example.com
Access-Control-Request-Method: POST
--- request
OPTIONS /t
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://www.example.com
Access-Control-Allow-Methods: POST, GET, OPTIONS
Access-Control-Allow-Headers: Content-Type
Access-Control-Allow-Credentials: true
Vary: Origin
--- response_body



=== TEST 15: preflight and POST from another origin are 403
--- config
location = /t { oie_allowed_origins https://example.com; oie_track; }
--- more_headers eval
["Origin: https://evil.example\r\nAccess-Control-Request-Method: POST", "Origin: https://evil.example\r\nContent-Type: application/json", "Origin: https://example.com.evil.example\r\nContent-Type: application/json"]
--- request eval
["OPTIONS /t", "POST /t\n" . main::batch($main::Ev), "POST /t\n" . main::batch($main::Ev)]
--- error_code eval
[403, 403, 403]
--- response_headers eval
["!Access-Control-Allow-Origin", "!Access-Control-Allow-Origin", "!Access-Control-Allow-Origin"]
--- response_body eval
["{\"error\":\"origin not allowed\"}\n", "{\"error\":\"origin not allowed\"}\n", "{\"error\":\"origin not allowed\"}\n"]



=== TEST 16: POST from an allowed origin gets the CORS headers
--- config
location = /t { oie_allowed_origins https://example.com; oie_track; }
--- more_headers
Origin: https://example.com
Content-Type: text/plain
--- request eval
"POST /t\n" . main::batch($main::Ev)
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://example.com
Access-Control-Allow-Credentials: true



=== TEST 17: with no oie_allowed_origins only the same origin may post
--- config
location = /t { oie_track; }
--- more_headers eval
["Origin: http://localhost\r\nContent-Type: application/json", "Origin: https://elsewhere.example\r\nContent-Type: application/json"]
--- request eval
["POST /t\n" . main::batch($main::Ev), "POST /t\n" . main::batch($main::Ev)]
--- error_code eval
[204, 403]



=== TEST 18: "*" allows any origin, echoed back
--- config
location = /t { oie_allowed_origins *; oie_track; }
--- more_headers
Origin: https://anything.example
Content-Type: application/json
--- request eval
"POST /t\n" . main::batch($main::Ev)
--- error_code: 204
--- response_headers
Access-Control-Allow-Origin: https://anything.example
