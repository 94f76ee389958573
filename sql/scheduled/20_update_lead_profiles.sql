-- Scheduled query: identities, lead profiles and intent scores.  Every hour
-- (at :15, after 10_sessionize.sql).
--
-- 1. identity_map learns the visitor <-> lead links of the last three days
--    of events (a page event that carried the lead id) and confirmed clicks.
-- 2. lead_profiles gets one row per lead, from campaign imports
--    (lead_imports), from existing profiles, and from activity; each row is
--    rescored as of @run_time over the scoring window (90 days,
--    definition.json window_days) with the functions of sql/udf/scoring.sql:
--      sessions and page counters   sessions of the lead (sessions.lead_id,
--                                   else the visitor's latest identity link)
--      confirmed_clicks             email clicks the edge classified human,
--                                   plus click_confirmed rows no human click
--                                   of the lead preceded within 30 minutes
--      last_seen (recency)          latest counted page event or click,
--                                   server clock
--    Scanner, bot and prefetch traffic never counts (sessions hold none;
--    clicks must be human or confirmed).  Leads without activity in the
--    window score 0 and go cold.
--
-- By hand: bq query --use_legacy_sql=false --parameter=run_time:TIMESTAMP:'2024-11-24 12:15:00' < sql/scheduled/20_update_lead_profiles.sql
BEGIN TRANSACTION;

MERGE INTO outbound_sales.identity_map AS t
USING (
  SELECT lead_id, visitor_id, MIN(source) AS source, MAX(campaign) AS campaign,
    MIN(seen_at) AS created_at, MAX(seen_at) AS last_seen
  FROM (
    SELECT lead_id, visitor_id, 'event' AS source, CAST(NULL AS STRING) AS campaign, received_at AS seen_at
    FROM outbound_sales.events
    WHERE received_at >= TIMESTAMP_SUB(@run_time, INTERVAL 3 DAY)
      AND received_at <= @run_time
      AND lead_id IS NOT NULL
      AND outbound_sales.traffic_counts(traffic_class, webdriver)
    UNION ALL
    SELECT lead_id, visitor_id, 'click_confirmed' AS source, campaign, event_time AS seen_at
    FROM outbound_sales.email_clicks
    WHERE event_time >= TIMESTAMP_SUB(@run_time, INTERVAL 3 DAY)
      AND event_time <= @run_time
      AND event_type = 'click_confirmed'
      AND outcome = 'ok'
      AND lead_id IS NOT NULL
      AND visitor_id IS NOT NULL
  ) AS links
  GROUP BY lead_id, visitor_id
) AS s
ON t.lead_id = s.lead_id AND t.visitor_id = s.visitor_id
WHEN MATCHED AND (t.last_seen IS NULL OR s.last_seen > t.last_seen) THEN
  UPDATE SET last_seen = s.last_seen
WHEN NOT MATCHED THEN
  INSERT (lead_id, visitor_id, email_sha256, campaign, source, created_at, last_seen)
  VALUES (s.lead_id, s.visitor_id, NULL, s.campaign, s.source, s.created_at, s.last_seen);

MERGE INTO outbound_sales.lead_profiles AS t
USING (
  WITH
    linked AS (
      SELECT visitor_id, lead_id
      FROM outbound_sales.identity_map
      WHERE visitor_id IS NOT NULL
      QUALIFY ROW_NUMBER() OVER (PARTITION BY visitor_id ORDER BY last_seen DESC, created_at DESC, lead_id) = 1
    ),
    lead_sessions AS (
      SELECT
        COALESCE(ses.lead_id, l.lead_id) AS lead_id,
        ses.pageviews, ses.engaged_ms, ses.max_scroll_depth, ses.high_intent_pageviews, ses.form_submits,
        ses.video_completes, ses.downloads, ses.contact_clicks, ses.conversion_events,
        ses.first_received_at, ses.last_received_at
      FROM outbound_sales.sessions AS ses
      LEFT JOIN linked AS l ON l.visitor_id = ses.visitor_id
      WHERE ses.last_received_at > TIMESTAMP_SUB(@run_time, INTERVAL 90 DAY)
        AND ses.first_received_at <= @run_time
    ),
    page AS (
      SELECT
        lead_id,
        COUNT(*) AS sessions,
        SUM(pageviews) AS pageviews,
        SUM(engaged_ms) AS engaged_ms,
        MAX(max_scroll_depth) AS max_scroll_depth,
        SUM(high_intent_pageviews) AS high_intent_pageviews,
        SUM(form_submits) AS form_submits,
        SUM(video_completes) AS video_completes,
        SUM(downloads) AS downloads,
        SUM(contact_clicks) AS contact_clicks,
        SUM(conversion_events) AS conversion_events,
        MIN(first_received_at) AS first_page_at,
        MAX(last_received_at) AS last_page_at
      FROM lead_sessions
      WHERE lead_id IS NOT NULL
      GROUP BY lead_id
    ),
    clicks AS (
      SELECT event_id, event_type, event_time, lead_id, campaign, traffic_class
      FROM outbound_sales.email_clicks
      WHERE event_time > TIMESTAMP_SUB(@run_time, INTERVAL 90 DAY)
        AND event_time <= @run_time
        AND event_type IN ('email_click', 'click_confirmed')
        AND outcome = 'ok'
        AND lead_id IS NOT NULL
      QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY received_at) = 1
    ),
    human_clicks AS (
      SELECT event_id, lead_id, campaign, event_time
      FROM clicks
      WHERE event_type = 'email_click' AND traffic_class = 'human'
    ),
    confirmations AS (
      SELECT c.event_id, c.lead_id, c.campaign, c.event_time, COUNT(h.event_id) AS preceding_human_clicks
      FROM clicks AS c
      LEFT JOIN human_clicks AS h
        ON h.lead_id = c.lead_id
        AND h.event_time <= c.event_time
        AND TIMESTAMP_DIFF(c.event_time, h.event_time, MILLISECOND) <= 1800000
      WHERE c.event_type = 'click_confirmed'
        AND outbound_sales.traffic_counts(c.traffic_class, NULL)
      GROUP BY c.event_id, c.lead_id, c.campaign, c.event_time
    ),
    counted_clicks AS (
      SELECT lead_id, campaign, event_time, TRUE AS human FROM human_clicks
      UNION ALL
      SELECT lead_id, campaign, event_time, FALSE AS human FROM confirmations WHERE preceding_human_clicks = 0
    ),
    click AS (
      SELECT
        lead_id,
        COUNT(*) AS confirmed_clicks,
        MAX(campaign) AS click_campaign,
        MIN(event_time) AS first_click_at,
        MAX(event_time) AS last_click_at,
        MAX(IF(human, event_time, NULL)) AS last_human_click_at
      FROM counted_clicks
      GROUP BY lead_id
    ),
    imports AS (
      SELECT *
      FROM outbound_sales.lead_imports
      WHERE TRUE
      QUALIFY ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY created_at DESC) = 1
    ),
    campaign_links AS (
      SELECT lead_id, email_sha256, campaign, created_at
      FROM outbound_sales.identity_map
      WHERE source = 'campaign'
      QUALIFY ROW_NUMBER() OVER (PARTITION BY lead_id ORDER BY created_at DESC) = 1
    ),
    leads AS (
      SELECT lead_id FROM outbound_sales.lead_profiles
      UNION DISTINCT SELECT lead_id FROM imports
      UNION DISTINCT SELECT lead_id FROM page
      UNION DISTINCT SELECT lead_id FROM click
    ),
    features AS (
      SELECT
        d.lead_id,
        i.email_sha256 AS import_email_sha256,
        i.campaign AS import_campaign,
        i.first_name, i.last_name, i.company, i.title, i.attributes,
        i.created_at AS import_created_at,
        cl.email_sha256 AS link_email_sha256,
        cl.campaign AS link_campaign,
        cl.created_at AS link_created_at,
        c.click_campaign,
        CASE
          WHEN p.first_page_at IS NULL THEN c.first_click_at
          WHEN c.first_click_at IS NULL OR p.first_page_at <= c.first_click_at THEN p.first_page_at
          ELSE c.first_click_at
        END AS first_seen,
        CASE
          WHEN p.last_page_at IS NULL THEN c.last_click_at
          WHEN c.last_click_at IS NULL OR p.last_page_at >= c.last_click_at THEN p.last_page_at
          ELSE c.last_click_at
        END AS last_seen,
        p.last_page_at,
        c.last_human_click_at,
        IFNULL(p.sessions, 0) AS sessions,
        IFNULL(p.pageviews, 0) AS pageviews,
        IFNULL(p.engaged_ms, 0) AS engaged_ms,
        IFNULL(p.max_scroll_depth, 0) AS max_scroll_depth,
        IFNULL(p.high_intent_pageviews, 0) AS high_intent_pageviews,
        IFNULL(p.form_submits, 0) AS form_submits,
        IFNULL(c.confirmed_clicks, 0) AS confirmed_clicks,
        IFNULL(p.video_completes, 0) AS video_completes,
        IFNULL(p.downloads, 0) AS downloads,
        IFNULL(p.contact_clicks, 0) AS contact_clicks,
        IFNULL(p.conversion_events, 0) AS conversion_events
      FROM leads AS d
      LEFT JOIN imports AS i ON i.lead_id = d.lead_id
      LEFT JOIN campaign_links AS cl ON cl.lead_id = d.lead_id
      LEFT JOIN page AS p ON p.lead_id = d.lead_id
      LEFT JOIN click AS c ON c.lead_id = d.lead_id
    ),
    components AS (
      SELECT
        f.*,
        IF(f.last_seen IS NULL, NULL, GREATEST(0, TIMESTAMP_DIFF(@run_time, f.last_seen, SECOND))) AS seconds_since_last_activity
      FROM features AS f
    ),
    points AS (
      SELECT
        c.*,
        outbound_sales.intent_recency_points(c.seconds_since_last_activity) AS recency_points,
        outbound_sales.intent_frequency_points(c.sessions, c.confirmed_clicks) AS frequency_points,
        outbound_sales.intent_engagement_points(c.engaged_ms, c.max_scroll_depth, c.pageviews, c.video_completes, c.downloads) AS engagement_points,
        outbound_sales.intent_high_intent_points(c.high_intent_pageviews) AS high_intent_points,
        outbound_sales.intent_conversion_points(c.form_submits, c.contact_clicks, c.conversion_events) AS conversion_points
      FROM components AS c
    )
  SELECT
    pt.*,
    LEAST(100, pt.recency_points + pt.frequency_points + pt.engagement_points + pt.high_intent_points + pt.conversion_points) AS intent_score,
    outbound_sales.intent_level(LEAST(100, pt.recency_points + pt.frequency_points + pt.engagement_points + pt.high_intent_points + pt.conversion_points)) AS intent_level
  FROM points AS pt
) AS s
ON t.lead_id = s.lead_id
WHEN MATCHED THEN UPDATE SET
  email_sha256 = COALESCE(s.import_email_sha256, t.email_sha256, s.link_email_sha256),
  campaign = COALESCE(s.import_campaign, t.campaign, s.link_campaign, s.click_campaign),
  first_name = COALESCE(s.first_name, t.first_name),
  last_name = COALESCE(s.last_name, t.last_name),
  company = COALESCE(s.company, t.company),
  title = COALESCE(s.title, t.title),
  attributes = COALESCE(s.attributes, t.attributes),
  first_seen = CASE
    WHEN t.first_seen IS NULL THEN s.first_seen
    WHEN s.first_seen IS NULL OR t.first_seen <= s.first_seen THEN t.first_seen
    ELSE s.first_seen
  END,
  last_seen = COALESCE(s.last_seen, t.last_seen),
  last_page_at = COALESCE(s.last_page_at, t.last_page_at),
  last_human_click_at = COALESCE(s.last_human_click_at, t.last_human_click_at),
  sessions = s.sessions,
  pageviews = s.pageviews,
  engaged_ms = s.engaged_ms,
  max_scroll_depth = s.max_scroll_depth,
  high_intent_pageviews = s.high_intent_pageviews,
  form_submits = s.form_submits,
  confirmed_clicks = s.confirmed_clicks,
  video_completes = s.video_completes,
  downloads = s.downloads,
  contact_clicks = s.contact_clicks,
  conversion_events = s.conversion_events,
  seconds_since_last_activity = s.seconds_since_last_activity,
  recency_points = s.recency_points,
  frequency_points = s.frequency_points,
  engagement_points = s.engagement_points,
  high_intent_points = s.high_intent_points,
  conversion_points = s.conversion_points,
  previous_score = t.intent_score,
  previous_level = t.intent_level,
  intent_score = s.intent_score,
  intent_level = s.intent_level,
  level_changed_at = IF(t.intent_level IS NULL OR t.intent_level != s.intent_level, @run_time, t.level_changed_at),
  scored_at = @run_time,
  updated_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN INSERT (
  lead_id, email_sha256, campaign, first_name, last_name, company, title, attributes,
  created_at, first_seen, last_seen, last_page_at, last_human_click_at,
  sessions, pageviews, engaged_ms, max_scroll_depth, high_intent_pageviews, form_submits,
  confirmed_clicks, video_completes, downloads, contact_clicks, conversion_events,
  seconds_since_last_activity, recency_points, frequency_points, engagement_points,
  high_intent_points, conversion_points, intent_score, intent_level,
  previous_score, previous_level, level_changed_at, scored_at, updated_at
) VALUES (
  s.lead_id, COALESCE(s.import_email_sha256, s.link_email_sha256), COALESCE(s.import_campaign, s.link_campaign, s.click_campaign),
  s.first_name, s.last_name, s.company, s.title, s.attributes,
  COALESCE(s.import_created_at, s.link_created_at, s.first_seen, @run_time), s.first_seen, s.last_seen, s.last_page_at, s.last_human_click_at,
  s.sessions, s.pageviews, s.engaged_ms, s.max_scroll_depth, s.high_intent_pageviews, s.form_submits,
  s.confirmed_clicks, s.video_completes, s.downloads, s.contact_clicks, s.conversion_events,
  s.seconds_since_last_activity, s.recency_points, s.frequency_points, s.engagement_points,
  s.high_intent_points, s.conversion_points, s.intent_score, s.intent_level,
  NULL, NULL, @run_time, @run_time, CURRENT_TIMESTAMP()
);

COMMIT TRANSACTION;
