-- Scheduled query: hot-lead detection.  Every hour (at :30, after
-- 20_update_lead_profiles.sql).
--
-- Appends an alert to hot_lead_alerts for each lead now hot (60-79) or
-- burning (80-100) that has had no alert at that level or above in the
-- last 7 days: a lead that stays hot alerts once a week, one that goes
-- from hot to burning alerts again at once.  Scores already exclude bot,
-- scanner and prefetch traffic.  The CRM sync polls the table by
-- detected_at; a rerun at the same @run_time finds its own alerts and adds
-- none.
INSERT INTO outbound_sales.hot_lead_alerts (
  alert_id, lead_id, campaign, email_sha256, first_name, last_name, company, title,
  intent_score, intent_level, previous_score, previous_level,
  recency_points, frequency_points, engagement_points, high_intent_points, conversion_points,
  last_seen, detected_at
)
WITH
  recent_alerts AS (
    SELECT lead_id, MAX(IF(intent_level = 'burning', 2, 1)) AS alerted_rank
    FROM outbound_sales.hot_lead_alerts
    WHERE detected_at > TIMESTAMP_SUB(@run_time, INTERVAL 7 DAY)
      AND detected_at <= @run_time
    GROUP BY lead_id
  )
SELECT
  p.lead_id || '.' || p.intent_level || '.' || CAST(UNIX_SECONDS(@run_time) AS STRING) AS alert_id,
  p.lead_id, p.campaign, p.email_sha256, p.first_name, p.last_name, p.company, p.title,
  p.intent_score, p.intent_level, p.previous_score, p.previous_level,
  p.recency_points, p.frequency_points, p.engagement_points, p.high_intent_points, p.conversion_points,
  p.last_seen, @run_time AS detected_at
FROM outbound_sales.lead_profiles AS p
LEFT JOIN recent_alerts AS r ON r.lead_id = p.lead_id
WHERE p.intent_level IN ('hot', 'burning')
  AND p.intent_score IS NOT NULL
  AND (r.lead_id IS NULL OR r.alerted_rank < IF(p.intent_level = 'burning', 2, 1));
