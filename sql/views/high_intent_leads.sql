-- Leads to call now: hot (60-79) and burning (80-100), best first, with
-- what earned the score.
CREATE OR REPLACE VIEW outbound_sales.high_intent_leads
OPTIONS (description = 'Hot and burning leads (intent_score >= 60), best first, with the components of the score.')
AS
SELECT
  p.lead_id,
  p.intent_score,
  p.intent_level,
  p.previous_score,
  p.campaign,
  p.first_name,
  p.last_name,
  p.company,
  p.title,
  p.email_sha256,
  p.last_seen,
  TIMESTAMP_DIFF(CURRENT_TIMESTAMP(), p.last_seen, HOUR) AS hours_since_last_seen,
  p.sessions,
  p.pageviews,
  p.high_intent_pageviews,
  p.engaged_ms,
  p.form_submits,
  p.conversion_events,
  p.confirmed_clicks,
  p.recency_points,
  p.frequency_points,
  p.engagement_points,
  p.high_intent_points,
  p.conversion_points,
  p.level_changed_at,
  p.scored_at
FROM outbound_sales.lead_profiles AS p
WHERE p.intent_score >= 60
ORDER BY p.intent_score DESC, p.last_seen DESC, p.lead_id;
