-- Email events as the edge writes them: email_click on /r/<id>,
-- email_open on /o/<id>, click_confirmed when a pageview of the pixel
-- proves a person followed the click.
CREATE TABLE IF NOT EXISTS outbound_sales.email_clicks (
  event_id STRING NOT NULL OPTIONS (description = 'Unique event id minted by the edge; also the insertAll insertId.'),
  event_type STRING NOT NULL OPTIONS (description = 'email_click, email_open or click_confirmed.'),
  event_time TIMESTAMP NOT NULL OPTIONS (description = 'When the edge saw the request. Partitioning column.'),
  received_at TIMESTAMP NOT NULL OPTIONS (description = 'When the edge received the request (same clock as event_time).'),
  lead_id STRING OPTIONS (description = 'Lead id from the link; null when the id was malformed.'),
  raw_id STRING OPTIONS (description = 'The id exactly as requested, at most 64 characters, when it was not a known lead.'),
  campaign STRING OPTIONS (description = 'Campaign of the lead.'),
  destination STRING OPTIONS (description = 'Where the click was redirected.'),
  outcome STRING NOT NULL OPTIONS (description = 'ok, unknown_id, malformed_id, bad_signature, limited (oie_miss_limit), redis_error or redis_timeout.'),
  method STRING OPTIONS (description = 'HTTP method.'),
  visitor_id STRING OPTIONS (description = 'click_confirmed: the visitor whose pageview confirmed the click.'),
  ip STRING OPTIONS (description = 'Client IP (after real_ip; anonymized when oie_ip_anonymize is on).'),
  user_agent STRING OPTIONS (description = 'User-Agent request header.'),
  referrer STRING OPTIONS (description = 'Referer request header.'),
  traffic_class STRING OPTIONS (description = 'human, scanner, bot, prefetch or unknown.'),
  traffic_reasons ARRAY<STRING> OPTIONS (description = 'Why the traffic class was chosen.')
)
PARTITION BY DATE(event_time)
CLUSTER BY lead_id, event_type
OPTIONS (
  description = 'Email clicks, opens and confirmed clicks seen by the nginx edge (oie_redirect).'
);
