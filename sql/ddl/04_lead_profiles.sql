-- One row per lead: who it is (from the campaign import) and how it
-- behaves (counters over the scoring window, the intent score and level),
-- kept by scheduled/update_lead_profiles.sql.
CREATE TABLE IF NOT EXISTS outbound_sales.lead_profiles (
  lead_id STRING NOT NULL OPTIONS (description = 'Lead id (6-8 base62 characters) minted by the oie CLI.'),
  email_sha256 STRING OPTIONS (description = 'SHA-256 (lowercase hex) of the normalized email; the email itself is never stored.'),
  campaign STRING OPTIONS (description = 'Campaign the lead id was minted for.'),
  first_name STRING OPTIONS (description = 'First name from the lead list.'),
  last_name STRING OPTIONS (description = 'Last name from the lead list.'),
  company STRING OPTIONS (description = 'Company from the lead list.'),
  title STRING OPTIONS (description = 'Job title from the lead list.'),
  attributes STRING OPTIONS (description = 'Other columns of the lead list, as a JSON object in text.'),
  created_at TIMESTAMP NOT NULL OPTIONS (description = 'When the lead was imported (or first seen, when it never was). Partitioning column.'),
  first_seen TIMESTAMP OPTIONS (description = 'First counted activity (server clock).'),
  last_seen TIMESTAMP OPTIONS (description = 'Last counted activity (server clock): a counted page event or email click.'),
  last_page_at TIMESTAMP OPTIONS (description = 'Last counted page event (server clock).'),
  last_human_click_at TIMESTAMP OPTIONS (description = 'Last email click the edge classified human.'),
  sessions INT64 OPTIONS (description = 'Counted sessions in the scoring window.'),
  pageviews INT64 OPTIONS (description = 'Counted pageviews in the scoring window.'),
  engaged_ms INT64 OPTIONS (description = 'Engaged time in the scoring window, milliseconds.'),
  max_scroll_depth INT64 OPTIONS (description = 'Deepest scroll in the scoring window, 0..100.'),
  high_intent_pageviews INT64 OPTIONS (description = 'Pageviews of high-intent URLs in the scoring window.'),
  form_submits INT64 OPTIONS (description = 'Form submits in the scoring window.'),
  confirmed_clicks INT64 OPTIONS (description = 'Email clicks made by a person (human-classified or confirmed by a pageview) in the scoring window.'),
  video_completes INT64 OPTIONS (description = 'Videos watched to the end in the scoring window.'),
  downloads INT64 OPTIONS (description = 'Download links clicked in the scoring window.'),
  contact_clicks INT64 OPTIONS (description = 'mailto: and tel: links clicked in the scoring window.'),
  conversion_events INT64 OPTIONS (description = 'Conversion custom events (demo_booked, ...) in the scoring window.'),
  seconds_since_last_activity INT64 OPTIONS (description = 'scored_at minus last_seen, whole seconds; null when never active in the window.'),
  recency_points INT64 OPTIONS (description = 'Intent score component, 0..30.'),
  frequency_points INT64 OPTIONS (description = 'Intent score component, 0..20.'),
  engagement_points INT64 OPTIONS (description = 'Intent score component, 0..25.'),
  high_intent_points INT64 OPTIONS (description = 'Intent score component, 0..25.'),
  conversion_points INT64 OPTIONS (description = 'Intent score component, 0..20.'),
  intent_score INT64 OPTIONS (description = 'Sum of the components, at most 100 (sql/scoring/README.md).'),
  intent_level STRING OPTIONS (description = 'burning (80-100), hot (60-79), warm (40-59) or cold (0-39).'),
  previous_score INT64 OPTIONS (description = 'intent_score before the last scoring run.'),
  previous_level STRING OPTIONS (description = 'intent_level before the last scoring run.'),
  level_changed_at TIMESTAMP OPTIONS (description = 'Scoring run at which intent_level last changed.'),
  scored_at TIMESTAMP OPTIONS (description = 'Scoring run (@run_time) that computed the score.'),
  updated_at TIMESTAMP OPTIONS (description = 'When the row was last written.')
)
PARTITION BY DATE(created_at)
CLUSTER BY lead_id, campaign
OPTIONS (
  description = 'One row per lead: identity from the campaign import, activity counters and the intent score.'
);
