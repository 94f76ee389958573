-- Sessions of human (and not yet classified) page traffic, rebuilt hourly
-- from events by scheduled/sessionize.sql: a new session starts after more
-- than 30 minutes without an event of the same visitor.
CREATE TABLE IF NOT EXISTS outbound_sales.sessions (
  session_key STRING NOT NULL OPTIONS (description = 'visitor_id, a dot, and the start in Unix milliseconds: stable across rebuilds.'),
  visitor_id STRING NOT NULL OPTIONS (description = 'Visitor id of the pixel.'),
  lead_id STRING OPTIONS (description = 'Lead of the session: the lead id its events carried, else the lead identity_map linked the visitor to when the session was built.'),
  pixel_session_ids ARRAY<STRING> OPTIONS (description = 'Session ids the pixel used for these events.'),
  session_start TIMESTAMP NOT NULL OPTIONS (description = 'event_time of the first event (browser clock). Partitioning column.'),
  session_end TIMESTAMP NOT NULL OPTIONS (description = 'event_time of the last event (browser clock).'),
  first_received_at TIMESTAMP NOT NULL OPTIONS (description = 'received_at of the first event (server clock).'),
  last_received_at TIMESTAMP NOT NULL OPTIONS (description = 'received_at of the last event (server clock); recency is measured from it.'),
  duration_s INT64 NOT NULL OPTIONS (description = 'session_end minus session_start, in whole seconds.'),
  events INT64 NOT NULL OPTIONS (description = 'Events in the session.'),
  pageviews INT64 NOT NULL OPTIONS (description = 'pageview events.'),
  engaged_ms INT64 NOT NULL OPTIONS (description = 'Sum of engaged_ms of focus/engagement events, each clamped to 0..1800000.'),
  max_scroll_depth INT64 NOT NULL OPTIONS (description = 'Deepest scroll_depth reached, 0..100.'),
  high_intent_pageviews INT64 NOT NULL OPTIONS (description = 'pageviews whose URL path matches intent_url_patterns.'),
  form_submits INT64 NOT NULL OPTIONS (description = 'form_submit events.'),
  video_completes INT64 NOT NULL OPTIONS (description = 'video events with video_action complete.'),
  downloads INT64 NOT NULL OPTIONS (description = 'click events with link_type download.'),
  contact_clicks INT64 NOT NULL OPTIONS (description = 'click events with link_type mailto or tel.'),
  conversion_events INT64 NOT NULL OPTIONS (description = 'custom events named in sql/scoring/definition.json conversion_events.'),
  entry_url STRING OPTIONS (description = 'URL of the first event.'),
  exit_url STRING OPTIONS (description = 'URL of the last event.'),
  entry_referrer STRING OPTIONS (description = 'Referrer of the first event.'),
  utm_source STRING OPTIONS (description = 'utm_source of the first event.'),
  utm_medium STRING OPTIONS (description = 'utm_medium of the first event.'),
  utm_campaign STRING OPTIONS (description = 'utm_campaign of the first event.'),
  user_agent STRING OPTIONS (description = 'User-Agent of the first event.'),
  traffic_class STRING NOT NULL OPTIONS (description = 'human when any event was classified human, else unknown (bots, scanners and prefetch never make sessions).'),
  updated_at TIMESTAMP NOT NULL OPTIONS (description = 'When the row was (re)built.')
)
PARTITION BY DATE(session_start)
CLUSTER BY lead_id, visitor_id
OPTIONS (
  description = 'Sessions (30-minute inactivity) of counted page traffic, built hourly from events.'
);
