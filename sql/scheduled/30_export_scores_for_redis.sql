-- Scheduled query: export of scores for Redis.  Every hour (at :25, after
-- 20_update_lead_profiles.sql).
--
-- Rewrites outbound_sales.score_export: one row per lead active in the
-- scoring window, holding exactly the counters the edge keeps in the Redis
-- hash oie:score:<lead_id> (field names = the members of oie_score_input_t
-- in src/oie_score.h, definition.json redis_fields), times in Unix ms.
-- Loading these rows into Redis (sql/tools/scores-to-redis.mjs, see
-- sql/scoring/README.md) puts the edge's live counters back on the
-- warehouse's, so the live score and the warehouse score agree again:
-- the edge scores the same counters with the same definition.
-- intent_score and intent_level are the warehouse's score, for checking;
-- they are not hash fields.
CREATE OR REPLACE TABLE outbound_sales.score_export
OPTIONS (
  description = 'Per-lead score counters for the Redis hashes oie:score:<lead_id>, rewritten hourly.',
  expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)
)
AS
SELECT
  'oie:score:' || lead_id AS redis_key,
  lead_id,
  UNIX_MILLIS(last_seen) AS last_seen_ms,
  sessions,
  pageviews,
  engaged_ms,
  max_scroll_depth,
  high_intent_pageviews,
  form_submits,
  confirmed_clicks,
  video_completes,
  downloads,
  contact_clicks,
  conversion_events,
  IFNULL(UNIX_MILLIS(last_page_at), 0) AS last_page_ms,
  IFNULL(UNIX_MILLIS(last_human_click_at), 0) AS last_human_click_ms,
  intent_score,
  intent_level,
  UNIX_MILLIS(scored_at) AS scored_at_ms
FROM outbound_sales.lead_profiles
WHERE scored_at IS NOT NULL
  AND last_seen IS NOT NULL
  AND last_seen > TIMESTAMP_SUB(@run_time, INTERVAL 90 DAY)
  AND last_seen <= @run_time;
