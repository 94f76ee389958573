-- How scored leads spread over the four levels (every level listed, also
-- when empty), with the share of leads and of recently active ones.
CREATE OR REPLACE VIEW outbound_sales.intent_distribution
OPTIONS (description = 'Scored leads per intent level: count, share, score range, active in the last 7 days.')
AS
WITH
  levels AS (
    SELECT 'burning' AS intent_level, 1 AS level_order, 80 AS min_score, 100 AS max_score
    UNION ALL SELECT 'hot', 2, 60, 79
    UNION ALL SELECT 'warm', 3, 40, 59
    UNION ALL SELECT 'cold', 4, 0, 39
  ),
  scored AS (
    SELECT
      intent_level,
      COUNT(*) AS leads,
      ROUND(AVG(intent_score), 1) AS avg_score,
      MIN(intent_score) AS lowest_score,
      MAX(intent_score) AS highest_score,
      COUNTIF(last_seen >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)) AS active_last_7_days
    FROM outbound_sales.lead_profiles
    WHERE intent_score IS NOT NULL
    GROUP BY intent_level
  )
SELECT
  l.intent_level,
  l.min_score,
  l.max_score,
  IFNULL(s.leads, 0) AS leads,
  ROUND(100 * SAFE_DIVIDE(IFNULL(s.leads, 0), SUM(IFNULL(s.leads, 0)) OVER ()), 1) AS pct_of_leads,
  s.avg_score,
  s.lowest_score,
  s.highest_score,
  IFNULL(s.active_last_7_days, 0) AS active_last_7_days
FROM levels AS l
LEFT JOIN scored AS s ON s.intent_level = l.intent_level
ORDER BY l.level_order;
