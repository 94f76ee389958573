-- Scheduled query: session aggregation.  Every hour (at :05).
--
-- Rebuilds the sessions whose first event reached the edge in the last two
-- days, from the events of the last three (the extra day lets a session
-- that began before the rebuilt range be seen whole, so it is not cut in
-- two).  A new session starts when a visitor's next event comes more than
-- 30 minutes (1,800,000 ms, definition.json session_gap_ms) after the
-- previous one, by the browser clock; the pixel's own session ids are kept
-- but not trusted.  Only page traffic that counts for scores makes
-- sessions (outbound_sales.traffic_counts: no bots, scanners, prefetch or
-- webdriver).  Events replayed from the edge's spool can arrive twice: one
-- row per event_id is kept.
--
-- @run_time is the scheduled time (BigQuery sets it); by hand:
--   bq query --use_legacy_sql=false --parameter=run_time:TIMESTAMP:'2024-11-24 12:05:00' < sql/scheduled/10_sessionize.sql
BEGIN TRANSACTION;

DELETE FROM outbound_sales.sessions
WHERE first_received_at >= TIMESTAMP_SUB(@run_time, INTERVAL 2 DAY)
  AND first_received_at <= @run_time;

INSERT INTO outbound_sales.sessions (
  session_key, visitor_id, lead_id, pixel_session_ids, session_start, session_end,
  first_received_at, last_received_at, duration_s, events, pageviews, engaged_ms,
  max_scroll_depth, high_intent_pageviews, form_submits, video_completes, downloads,
  contact_clicks, conversion_events, entry_url, exit_url, entry_referrer,
  utm_source, utm_medium, utm_campaign, user_agent, traffic_class, updated_at
)
WITH
  recent AS (
    SELECT *
    FROM outbound_sales.events
    WHERE received_at >= TIMESTAMP_SUB(@run_time, INTERVAL 3 DAY)
      AND received_at <= @run_time
      AND outbound_sales.traffic_counts(traffic_class, webdriver)
      AND event_type IN ('pageview', 'scroll', 'click', 'form_submit', 'video', 'focus', 'engagement', 'custom')
    QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at, session_id) = 1
  ),
  high_intent_ids AS (
    SELECT DISTINCT r.event_id
    FROM recent AS r
    CROSS JOIN outbound_sales.intent_url_patterns AS p
    WHERE r.event_type = 'pageview'
      AND p.enabled
      AND outbound_sales.path_matches(outbound_sales.url_path(r.url), p.match_type, p.pattern)
  ),
  flagged AS (
    SELECT
      r.*,
      h.event_id IS NOT NULL AS high_intent,
      r.event_type = 'custom' AND outbound_sales.is_conversion_event(r.custom_name) AS conversion,
      CASE
        WHEN LAG(r.event_time) OVER (PARTITION BY r.visitor_id ORDER BY r.event_time, r.event_id) IS NULL THEN 1
        WHEN TIMESTAMP_DIFF(r.event_time, LAG(r.event_time) OVER (PARTITION BY r.visitor_id ORDER BY r.event_time, r.event_id), MILLISECOND) > 1800000 THEN 1
        ELSE 0
      END AS starts_session
    FROM recent AS r
    LEFT JOIN high_intent_ids AS h ON h.event_id = r.event_id
  ),
  numbered AS (
    SELECT
      f.*,
      SUM(f.starts_session) OVER (PARTITION BY f.visitor_id ORDER BY f.event_time, f.event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no
    FROM flagged AS f
  ),
  ends AS (
    SELECT
      n.*,
      FIRST_VALUE(n.url) OVER w AS first_url,
      LAST_VALUE(n.url) OVER w AS last_url,
      FIRST_VALUE(n.referrer) OVER w AS first_referrer,
      FIRST_VALUE(n.utm_source) OVER w AS first_utm_source,
      FIRST_VALUE(n.utm_medium) OVER w AS first_utm_medium,
      FIRST_VALUE(n.utm_campaign) OVER w AS first_utm_campaign,
      FIRST_VALUE(n.user_agent) OVER w AS first_user_agent
    FROM numbered AS n
    WINDOW w AS (PARTITION BY n.visitor_id, n.session_no ORDER BY n.event_time, n.event_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
  ),
  linked AS (
    SELECT visitor_id, lead_id
    FROM outbound_sales.identity_map
    WHERE visitor_id IS NOT NULL
    QUALIFY ROW_NUMBER() OVER (PARTITION BY visitor_id ORDER BY last_seen DESC, created_at DESC, lead_id) = 1
  ),
  built AS (
    SELECT
      e.visitor_id,
      MAX(e.lead_id) AS event_lead_id,
      ARRAY_AGG(DISTINCT e.session_id ORDER BY e.session_id) AS pixel_session_ids,
      MIN(e.event_time) AS session_start,
      MAX(e.event_time) AS session_end,
      MIN(e.received_at) AS first_received_at,
      MAX(e.received_at) AS last_received_at,
      COUNT(*) AS events,
      COUNTIF(e.event_type = 'pageview') AS pageviews,
      IFNULL(SUM(CASE WHEN e.event_type IN ('focus', 'engagement') AND e.engaged_ms > 0 THEN LEAST(e.engaged_ms, 1800000) ELSE 0 END), 0) AS engaged_ms,
      IFNULL(MAX(CASE WHEN e.event_type = 'scroll' AND e.scroll_depth IS NOT NULL THEN LEAST(GREATEST(e.scroll_depth, 0), 100) ELSE 0 END), 0) AS max_scroll_depth,
      COUNTIF(e.high_intent) AS high_intent_pageviews,
      COUNTIF(e.event_type = 'form_submit') AS form_submits,
      COUNTIF(e.event_type = 'video' AND e.video_action = 'complete') AS video_completes,
      COUNTIF(e.event_type = 'click' AND e.link_type = 'download') AS downloads,
      COUNTIF(e.event_type = 'click' AND e.link_type IN ('mailto', 'tel')) AS contact_clicks,
      COUNTIF(e.conversion) AS conversion_events,
      ANY_VALUE(e.first_url) AS entry_url,
      ANY_VALUE(e.last_url) AS exit_url,
      ANY_VALUE(e.first_referrer) AS entry_referrer,
      ANY_VALUE(e.first_utm_source) AS utm_source,
      ANY_VALUE(e.first_utm_medium) AS utm_medium,
      ANY_VALUE(e.first_utm_campaign) AS utm_campaign,
      ANY_VALUE(e.first_user_agent) AS user_agent,
      IF(COUNTIF(e.traffic_class = 'human') > 0, 'human', 'unknown') AS traffic_class
    FROM ends AS e
    GROUP BY e.visitor_id, e.session_no
  )
SELECT
  b.visitor_id || '.' || CAST(UNIX_MILLIS(b.session_start) AS STRING) AS session_key,
  b.visitor_id,
  COALESCE(b.event_lead_id, l.lead_id) AS lead_id,
  b.pixel_session_ids,
  b.session_start,
  b.session_end,
  b.first_received_at,
  b.last_received_at,
  TIMESTAMP_DIFF(b.session_end, b.session_start, SECOND) AS duration_s,
  b.events,
  b.pageviews,
  b.engaged_ms,
  b.max_scroll_depth,
  b.high_intent_pageviews,
  b.form_submits,
  b.video_completes,
  b.downloads,
  b.contact_clicks,
  b.conversion_events,
  b.entry_url,
  b.exit_url,
  b.entry_referrer,
  b.utm_source,
  b.utm_medium,
  b.utm_campaign,
  b.user_agent,
  b.traffic_class,
  CURRENT_TIMESTAMP() AS updated_at
FROM built AS b
LEFT JOIN linked AS l ON l.visitor_id = b.visitor_id
WHERE b.first_received_at >= TIMESTAMP_SUB(@run_time, INTERVAL 2 DAY);

COMMIT TRANSACTION;
