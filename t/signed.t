# Signed ids: oie_secret, set_oie_sign / set_oie_verify (ngx_devel_kit
# set_var), and what /r/ and /p make of signed, unsigned and forged ids.
# The expected tags are computed here from the contract in src/oie_id.h.
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use OIE::Env;
use OIE::Redis;
use Test::Nginx::Socket 'no_plan';
use File::Temp qw(tempdir);

our $Redis = OIE::Redis->new;
our $Secret = 'a-secret-of-some-length-42';
our $Old = 'the-previous-secret-0001';

my $dir = tempdir('oie-signed-XXXXXX', TMPDIR => 1, CLEANUP => 1);
for (['secret', "$Secret\n\n"], ['old', $Old], ['short', "0123456789abcde \n"]) {
    open my $fh, '>', "$dir/$_->[0]" or die;
    print $fh $_->[1];
    close $fh;
}

$ENV{TEST_NGINX_REDIS_PORT} = $Redis->port;
$ENV{TEST_NGINX_SECRET} = "$dir/secret";
$ENV{TEST_NGINX_OLD_SECRET} = "$dir/old";
$ENV{TEST_NGINX_SHORT_SECRET} = "$dir/short";
$ENV{TEST_NGINX_NO_SUCH} = "$dir/none";
$ENV{TEST_NGINX_OIE_EVENTS} = tempdir('oie-signed-ev-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);

$Redis->lead('sig0001', destination => 'https://ex.com/welcome?utm=1',
             firstName => 'Grace');

sub sign { OIE::Redis::sign_id($_[1] // $Secret, $_[0]) }
# the same tag with one character changed
sub forge {
    my $s = sign(@_);
    substr($s, -1, 1) = substr($s, -1, 1) eq 'a' ? 'b' : 'a';
    return $s;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: set_oie_sign signs an id with oie_secret
--- http_config
oie_secret $TEST_NGINX_SECRET;
--- config
location = /sign { set_oie_sign $signed $arg_id; return 200 "$signed\n"; }
--- request
GET /sign?id=abc1234
--- response_body eval
main::sign('abc1234') . "\n"
--- no_error_log
[error]



=== TEST 2: trailing whitespace in the secret file is not part of it
--- http_config
oie_secret $TEST_NGINX_SECRET;
--- config
location = /sign { set_oie_sign $signed $arg_id; return 200 "$signed"; }
--- request eval
["GET /sign?id=Z9y8X7", "GET /sign?id=00000000"]
--- response_body eval
[main::sign('Z9y8X7'), main::sign('00000000')]



=== TEST 3: set_oie_sign of something that is not an id is empty
--- http_config
oie_secret $TEST_NGINX_SECRET;
--- config
location = /sign { set_oie_sign $signed $arg_id; return 200 "[$signed]"; }
--- request eval
["GET /sign?id=abc", "GET /sign?id=abc123456", "GET /sign?id=abc-123", "GET /sign?id=", "GET /sign?id=" . main::sign('abc1234')]
--- response_body eval
["[]", "[]", "[]", "[]", "[]"]



=== TEST 4: set_oie_verify gives the bare id of a genuine signed id, else empty
--- http_config
oie_secret $TEST_NGINX_SECRET;
--- config
location = /verify { set_oie_verify $id $arg_i; return 200 "[$id]"; }
--- request eval
["GET /verify?i=" . main::sign('abc1234'),
 "GET /verify?i=" . main::forge('abc1234'),
 "GET /verify?i=abc1234",
 "GET /verify?i=" . main::sign('abc1234', $main::Old),
 "GET /verify?i=" . lc(main::sign('abc1234')),
 "GET /verify?i=nonsense"]
--- response_body eval
["[abc1234]", "[]", "[]", "[]", "[]", "[]"]



=== TEST 5: the previous secret still verifies; signing uses the current one
--- http_config
oie_secret $TEST_NGINX_SECRET previous=$TEST_NGINX_OLD_SECRET;
--- config
location = /verify { set_oie_verify $id $arg_i; return 200 "[$id]"; }
location = /sign { set_oie_sign $s $arg_id; return 200 "$s"; }
--- request eval
["GET /verify?i=" . main::sign('abc1234', $main::Old),
 "GET /verify?i=" . main::sign('abc1234'),
 "GET /sign?id=abc1234"]
--- response_body eval
["[abc1234]", "[abc1234]", main::sign('abc1234')]



=== TEST 6: without oie_secret the variables are empty, and the log says why
--- config
location = /sign { set_oie_sign $s $arg_id; set_oie_verify $v $arg_id; return 200 "[$s][$v]"; }
--- request
GET /sign?id=abc1234
--- response_body: [][]
--- error_log
set_oie_sign: no oie_secret here
set_oie_verify: no oie_secret here



=== TEST 7: set_oie_sign in if blocks and in server context
--- http_config
oie_secret $TEST_NGINX_SECRET;
--- config
set_oie_sign $server_signed "sig0001";
location = /s {
    if ($arg_x) {
        set_oie_sign $signed $arg_x;
    }
    return 200 "$server_signed $signed";
}
--- request
GET /s?x=abc1234
--- response_body eval
main::sign('sig0001') . " " . main::sign('abc1234')



=== TEST 8: /r/ with a signed id: the destination, carrying the signed id
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
oie_secret $TEST_NGINX_SECRET;
--- config
location /r/ { oie_redirect fallback=https://fallback.example/; }
--- request eval
"GET /r/" . main::sign('sig0001')
--- error_code: 302
--- response_headers eval
"Location: https://ex.com/welcome?utm=1&i=" . main::sign('sig0001')



=== TEST 9: /r/ with unsigned, forged, old-secret or foreign-secret ids: the fallback
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
oie_secret $TEST_NGINX_SECRET;
--- config
location /r/ { oie_redirect fallback=https://fallback.example/; }
--- request eval
["GET /r/sig0001", "GET /r/" . main::forge('sig0001'),
 "GET /r/" . main::sign('sig0001', $main::Old),
 "GET /r/" . main::sign('sig0001', 'some-other-secret-123456')]
--- error_code eval
[302, 302, 302, 302]
--- response_headers eval
["Location: https://fallback.example/", "Location: https://fallback.example/",
 "Location: https://fallback.example/", "Location: https://fallback.example/"]



=== TEST 10: previous= keeps links signed with the old secret working
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
oie_secret $TEST_NGINX_SECRET previous=$TEST_NGINX_OLD_SECRET;
--- config
location /r/ { oie_redirect fallback=https://fallback.example/; }
--- request eval
"GET /r/" . main::sign('sig0001', $main::Old)
--- error_code: 302
--- response_headers eval
"Location: https://ex.com/welcome?utm=1&i=" . main::sign('sig0001', $main::Old)



=== TEST 11: oie_secret off in a location: unsigned links there
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
oie_secret $TEST_NGINX_SECRET;
--- config
location /r/ { oie_redirect fallback=https://fallback.example/; }
location /u/ { oie_secret off; oie_redirect fallback=https://fallback.example/; }
--- request eval
["GET /u/sig0001", "GET /r/sig0001"]
--- error_code eval
[302, 302]
--- response_headers eval
["Location: https://ex.com/welcome?utm=1&i=sig0001", "Location: https://fallback.example/"]



=== TEST 12: without oie_secret, a signed id's tag is not checked
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
--- config
location /r/ { oie_redirect fallback=https://fallback.example/; }
--- request eval
"GET /r/" . main::forge('sig0001')
--- error_code: 302
--- response_headers eval
"Location: https://ex.com/welcome?utm=1&i=" . main::forge('sig0001')



=== TEST 13: the id /r/ passes on is the one /p accepts
--- http_config
oie_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT timeout=1s;
oie_sink file $TEST_NGINX_OIE_EVENTS;
oie_secret $TEST_NGINX_SECRET;
--- config
location = /p { oie_personalize fields=firstName; }
--- request eval
["GET /p?i=" . main::sign('sig0001'), "GET /p?i=sig0001", "GET /p?i=" . main::forge('sig0001')]
--- error_code eval
[200, 404, 404]
--- response_body eval
["{\"firstName\":\"Grace\",\"intentLevel\":\"cold\"}\n", "{\"error\":\"unknown id\"}\n", "{\"error\":\"unknown id\"}\n"]



=== TEST 14: a secret shorter than 16 bytes is refused
--- http_config
oie_secret $TEST_NGINX_SHORT_SECRET;
--- config
location = /s { return 204; }
--- must_die
--- error_log
oie_secret: the secret in



=== TEST 15: a secret file that is not there
--- http_config
oie_secret $TEST_NGINX_NO_SUCH;
--- config
location = /s { return 204; }
--- must_die
--- error_log
oie_secret: cannot open



=== TEST 16: oie_secret with an unknown parameter
--- http_config
oie_secret $TEST_NGINX_SECRET old=$TEST_NGINX_OLD_SECRET;
--- config
location = /s { return 204; }
--- must_die
--- error_log
oie_secret: invalid parameter "old=



=== TEST 17: oie_secret twice in one block
--- http_config
oie_secret $TEST_NGINX_SECRET;
oie_secret $TEST_NGINX_OLD_SECRET;
--- config
location = /s { return 204; }
--- must_die
--- error_log
"oie_secret" directive is duplicate



=== TEST 18: set_oie_sign needs a variable and a value
--- config
location = /s { set_oie_sign $x; return 204; }
--- must_die
--- error_log
invalid number of arguments in "set_oie_sign" directive
