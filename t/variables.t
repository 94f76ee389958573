# $oie_* variables in access-log formats.
use FindBin;
BEGIN { push @INC, "$FindBin::Bin/lib" }
use OIE::Env;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: accepted events: count, visitor and lead of the first
--- http_config
log_format oie '$status events=$oie_events visitor=$oie_visitor_id lead=$oie_lead_id reject=$oie_reject';
--- config
location = /t { access_log logs/access.log oie; oie_track; }
--- more_headers
Content-Type: application/json
--- request
POST /t
{"events":[{"type":"pageview","timestamp":1,"sessionId":"s","visitorId":"vis-1","leadId":"aB3dE9x","url":"u"},{"type":"pageview","timestamp":1,"sessionId":"s","visitorId":"vis-2","url":"u"}]}
--- error_code: 204
--- access_log
204 events=2 visitor=vis-1 lead=aB3dE9x reject=-



=== TEST 2: a refused request names the reason
--- http_config
log_format oie '$status events=$oie_events reject=$oie_reject';
--- config
location = /t { access_log logs/access.log oie; oie_track; }
--- more_headers
Content-Type: application/json
--- request
POST /t
{"events":[]}
--- error_code: 400
--- access_log
400 events=0 reject=batch



=== TEST 3: outside oie locations the variables are empty
--- http_config
log_format oie '$status events=$oie_events visitor=$oie_visitor_id';
--- config
location = /x { access_log logs/access.log oie; return 204; }
--- request
GET /x
--- error_code: 204
--- access_log
204 events=- visitor=-
