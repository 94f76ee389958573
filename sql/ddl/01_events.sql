-- Page events from the pixel, as the edge (oie_track) writes them: one row
-- per event, streamed with insertAll or loaded from the NDJSON sink.
--
-- Partitioned on the server clock (received_at), not on the browser clock
-- (event_time): browser clocks can be hours or years off, and a partition
-- filter on received_at always finds the rows of a load window.
CREATE TABLE IF NOT EXISTS outbound_sales.events (
  event_id STRING NOT NULL OPTIONS (description = 'Unique event id minted by the edge; also the insertAll insertId.'),
  event_type STRING NOT NULL OPTIONS (description = 'pageview, scroll, click, form_submit, video, focus, engagement or custom.'),
  event_time TIMESTAMP NOT NULL OPTIONS (description = 'When the event happened, by the browser clock.'),
  received_at TIMESTAMP NOT NULL OPTIONS (description = 'When the edge received the event (server clock). Partitioning column.'),
  sent_at TIMESTAMP OPTIONS (description = 'When the browser sent the batch (meta.sentAt).'),
  visitor_id STRING NOT NULL OPTIONS (description = 'Visitor id kept 90 days by the pixel (the lead id when known).'),
  lead_id STRING OPTIONS (description = 'Lead id from a tracked link (i=), when known.'),
  session_id STRING NOT NULL OPTIONS (description = 'Session id (30-minute inactivity timeout).'),
  url STRING NOT NULL OPTIONS (description = 'Page URL.'),
  referrer STRING OPTIONS (description = 'document.referrer.'),
  title STRING OPTIONS (description = 'Page title.'),
  utm_source STRING OPTIONS (description = 'utm_source of the page URL.'),
  utm_medium STRING OPTIONS (description = 'utm_medium of the page URL.'),
  utm_campaign STRING OPTIONS (description = 'utm_campaign of the page URL.'),
  utm_term STRING OPTIONS (description = 'utm_term of the page URL.'),
  utm_content STRING OPTIONS (description = 'utm_content of the page URL.'),
  scroll_depth INT64 OPTIONS (description = 'scroll: 25, 50, 75 or 100.'),
  engaged_ms INT64 OPTIONS (description = 'focus/engagement: engaged time on page in milliseconds.'),
  element_tag STRING OPTIONS (description = 'click: tag name of the clicked element.'),
  element_id STRING OPTIONS (description = 'click: id attribute of the clicked element.'),
  element_text STRING OPTIONS (description = 'click: visible text, at most 100 characters.'),
  link_url STRING OPTIONS (description = 'click: link target.'),
  link_type STRING OPTIONS (description = 'click: internal, outbound, download, mailto, tel or button.'),
  form_id STRING OPTIONS (description = 'form_submit: form id.'),
  form_name STRING OPTIONS (description = 'form_submit: form name.'),
  form_fields ARRAY<STRING> OPTIONS (description = 'form_submit: field names (never values).'),
  video_action STRING OPTIONS (description = 'video: play, progress or complete.'),
  video_src STRING OPTIONS (description = 'video: source URL.'),
  video_percent INT64 OPTIONS (description = 'video: percent watched.'),
  custom_name STRING OPTIONS (description = 'custom: event name.'),
  properties STRING OPTIONS (description = 'custom: properties as JSON text.'),
  webdriver BOOL OPTIONS (description = 'navigator.webdriver as reported by the pixel.'),
  ip STRING OPTIONS (description = 'Client IP (after real_ip; anonymized when oie_ip_anonymize is on).'),
  user_agent STRING OPTIONS (description = 'User-Agent request header.'),
  traffic_class STRING OPTIONS (description = 'human, scanner, bot, prefetch or unknown.'),
  traffic_reasons ARRAY<STRING> OPTIONS (description = 'Why the traffic class was chosen.')
)
PARTITION BY DATE(received_at)
CLUSTER BY lead_id, visitor_id, event_type
OPTIONS (
  description = 'Page events from the pixel, one row per event, written by the nginx edge (oie_track).'
);
