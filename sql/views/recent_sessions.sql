-- The last 7 days of sessions, newest first, with who the visitor is when
-- known.
CREATE OR REPLACE VIEW outbound_sales.recent_sessions
OPTIONS (description = 'Sessions started in the last 7 days, newest first, with the lead when known.')
AS
SELECT
  s.session_key,
  s.session_start,
  s.session_end,
  s.duration_s,
  s.visitor_id,
  s.lead_id,
  p.first_name,
  p.last_name,
  p.company,
  p.campaign,
  p.intent_score,
  p.intent_level,
  s.pageviews,
  s.high_intent_pageviews,
  s.engaged_ms,
  s.max_scroll_depth,
  s.form_submits,
  s.conversion_events,
  s.entry_url,
  s.exit_url,
  s.entry_referrer,
  s.utm_source,
  s.utm_medium,
  s.utm_campaign,
  s.traffic_class
FROM outbound_sales.sessions AS s
LEFT JOIN outbound_sales.lead_profiles AS p ON p.lead_id = s.lead_id
WHERE s.session_start >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)
ORDER BY s.session_start DESC, s.session_key;
