-- Per campaign: how many leads, how many clicked (people, not link
-- scanners), visited, converted, and how their intent is spread.
CREATE OR REPLACE VIEW outbound_sales.campaign_performance
OPTIONS (description = 'Per campaign: leads, human and machine clicks, visits, conversions, intent levels.')
AS
WITH
  clicks AS (
    SELECT
      campaign,
      COUNTIF(event_type = 'email_click') AS email_clicks,
      COUNTIF(event_type = 'email_click' AND traffic_class = 'human') AS human_clicks,
      COUNTIF(event_type = 'email_click' AND traffic_class IN ('scanner', 'bot', 'prefetch')) AS machine_clicks,
      COUNTIF(event_type = 'click_confirmed') AS confirmed_clicks,
      COUNTIF(event_type = 'email_open') AS email_opens,
      MIN(IF(event_type = 'email_click', event_time, NULL)) AS first_click_at,
      MAX(IF(event_type = 'email_click', event_time, NULL)) AS last_click_at
    FROM outbound_sales.email_clicks
    WHERE outcome = 'ok' AND campaign IS NOT NULL
    GROUP BY campaign
  ),
  leads AS (
    SELECT
      campaign,
      COUNT(*) AS leads,
      COUNTIF(confirmed_clicks > 0) AS leads_clicked,
      COUNTIF(sessions > 0) AS leads_visited,
      COUNTIF(high_intent_pageviews > 0) AS leads_on_high_intent_pages,
      COUNTIF(form_submits > 0 OR conversion_events > 0) AS leads_converted,
      ROUND(AVG(intent_score), 1) AS avg_intent_score,
      COUNTIF(intent_level = 'burning') AS burning_leads,
      COUNTIF(intent_level = 'hot') AS hot_leads,
      COUNTIF(intent_level = 'warm') AS warm_leads,
      COUNTIF(intent_level = 'cold' OR intent_level IS NULL) AS cold_leads
    FROM outbound_sales.lead_profiles
    WHERE campaign IS NOT NULL
    GROUP BY campaign
  )
SELECT
  COALESCE(l.campaign, c.campaign) AS campaign,
  IFNULL(l.leads, 0) AS leads,
  IFNULL(c.email_clicks, 0) AS email_clicks,
  IFNULL(c.human_clicks, 0) AS human_clicks,
  IFNULL(c.machine_clicks, 0) AS machine_clicks,
  IFNULL(c.confirmed_clicks, 0) AS confirmed_clicks,
  IFNULL(c.email_opens, 0) AS email_opens,
  IFNULL(l.leads_clicked, 0) AS leads_clicked,
  IFNULL(l.leads_visited, 0) AS leads_visited,
  IFNULL(l.leads_on_high_intent_pages, 0) AS leads_on_high_intent_pages,
  IFNULL(l.leads_converted, 0) AS leads_converted,
  ROUND(100 * SAFE_DIVIDE(l.leads_clicked, l.leads), 1) AS click_rate_pct,
  ROUND(100 * SAFE_DIVIDE(l.leads_converted, l.leads), 1) AS conversion_rate_pct,
  l.avg_intent_score,
  IFNULL(l.burning_leads, 0) AS burning_leads,
  IFNULL(l.hot_leads, 0) AS hot_leads,
  IFNULL(l.warm_leads, 0) AS warm_leads,
  IFNULL(l.cold_leads, 0) AS cold_leads,
  c.first_click_at,
  c.last_click_at
FROM leads AS l
FULL OUTER JOIN clicks AS c ON c.campaign = l.campaign;
