-- The intent score in SQL: persistent functions of the dataset, used by the
-- scheduled queries and views.  They transcribe sql/scoring/definition.json
-- (the same numbers as src/oie_score.c); sql/test/scoring.test.mjs runs
-- them on the shared vectors and on every tier boundary of the definition.
-- Change the definition, these functions and the C together.

-- Lowercased path of a URL: scheme and host dropped, query and fragment
-- cut, '/' when empty.  Same rule as oie_score_url_path() in C.
CREATE OR REPLACE FUNCTION outbound_sales.url_path(url STRING)
RETURNS STRING
AS (
  CASE
    WHEN url IS NULL THEN NULL
    WHEN REGEXP_EXTRACT(LOWER(url), r'^(?:[a-z][a-z0-9+.-]*://[^/?#]*)?([^?#]*)') = '' THEN '/'
    ELSE REGEXP_EXTRACT(LOWER(url), r'^(?:[a-z][a-z0-9+.-]*://[^/?#]*)?([^?#]*)')
  END
)
OPTIONS (description = 'Lowercased path of a URL (scheme and host dropped, query and fragment cut, / when empty).');

-- One row of intent_url_patterns against a path from url_path().
CREATE OR REPLACE FUNCTION outbound_sales.path_matches(path STRING, match_type STRING, pattern STRING)
RETURNS BOOL
AS (
  CASE
    WHEN path IS NULL OR pattern IS NULL OR pattern = '' THEN FALSE
    WHEN match_type = 'exact' THEN path = pattern
    WHEN match_type = 'prefix' THEN STARTS_WITH(path, pattern)
    WHEN match_type = 'segment' THEN STRPOS(path || '/', pattern || '/') > 0
    WHEN match_type = 'contains' THEN STRPOS(path, pattern) > 0
    ELSE FALSE
  END
)
OPTIONS (description = 'TRUE when path matches the pattern: exact, prefix, segment or contains.');

-- Page traffic that counts for scores: human or not classified, and not a
-- browser under automation.  Bots, scanners and link prefetchers never do.
CREATE OR REPLACE FUNCTION outbound_sales.traffic_counts(traffic_class STRING, webdriver BOOL)
RETURNS BOOL
AS (
  (traffic_class IS NULL OR traffic_class IN ('', 'human', 'unknown'))
  AND (webdriver IS NULL OR webdriver = FALSE)
)
OPTIONS (description = 'TRUE for page traffic that counts for scores: human, unknown or unclassified, and not webdriver.');

-- Custom events that are conversions (definition.json conversion_events).
CREATE OR REPLACE FUNCTION outbound_sales.is_conversion_event(custom_name STRING)
RETURNS BOOL
AS (
  IFNULL(custom_name IN ('demo_booked', 'meeting_booked', 'trial_started', 'signup_completed', 'quote_requested'), FALSE)
)
OPTIONS (description = 'TRUE for the names of custom events that count as conversions.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_recency_points(seconds_since_last_activity INT64)
RETURNS INT64
AS (
  CASE
    WHEN seconds_since_last_activity IS NULL OR seconds_since_last_activity < 0 THEN 0
    WHEN seconds_since_last_activity <= 3600 THEN 30
    WHEN seconds_since_last_activity <= 86400 THEN 25
    WHEN seconds_since_last_activity <= 259200 THEN 20
    WHEN seconds_since_last_activity <= 604800 THEN 15
    WHEN seconds_since_last_activity <= 1209600 THEN 10
    WHEN seconds_since_last_activity <= 2592000 THEN 5
    ELSE 0
  END
)
OPTIONS (description = 'Recency component, 0..30: seconds since the last counted activity; null or negative means never active.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_frequency_points(sessions INT64, confirmed_clicks INT64)
RETURNS INT64
AS (
  LEAST(20,
    CASE
      WHEN sessions >= 5 THEN 17
      WHEN sessions >= 3 THEN 14
      WHEN sessions >= 2 THEN 10
      WHEN sessions >= 1 THEN 5
      ELSE 0
    END
    + CASE
      WHEN confirmed_clicks >= 2 THEN 5
      WHEN confirmed_clicks >= 1 THEN 3
      ELSE 0
    END)
)
OPTIONS (description = 'Frequency component, 0..20: sessions and email clicks made by a person.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_engagement_points(engaged_ms INT64, max_scroll_depth INT64, pageviews INT64, video_completes INT64, downloads INT64)
RETURNS INT64
AS (
  LEAST(25,
    CASE
      WHEN engaged_ms >= 300000 THEN 12
      WHEN engaged_ms >= 120000 THEN 8
      WHEN engaged_ms >= 30000 THEN 4
      ELSE 0
    END
    + CASE
      WHEN max_scroll_depth >= 100 THEN 5
      WHEN max_scroll_depth >= 75 THEN 4
      WHEN max_scroll_depth >= 50 THEN 2
      ELSE 0
    END
    + CASE
      WHEN pageviews >= 10 THEN 5
      WHEN pageviews >= 5 THEN 4
      WHEN pageviews >= 3 THEN 2
      ELSE 0
    END
    + CASE WHEN video_completes >= 1 THEN 4 ELSE 0 END
    + CASE WHEN downloads >= 1 THEN 3 ELSE 0 END)
)
OPTIONS (description = 'Engagement component, 0..25: engaged time, scroll depth, pageviews, videos watched, downloads.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_high_intent_points(high_intent_pageviews INT64)
RETURNS INT64
AS (
  CASE
    WHEN high_intent_pageviews >= 5 THEN 25
    WHEN high_intent_pageviews >= 3 THEN 20
    WHEN high_intent_pageviews >= 2 THEN 15
    WHEN high_intent_pageviews >= 1 THEN 10
    ELSE 0
  END
)
OPTIONS (description = 'High-intent pages component, 0..25: pageviews of intent_url_patterns.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_conversion_points(form_submits INT64, contact_clicks INT64, conversion_events INT64)
RETURNS INT64
AS (
  LEAST(20,
    CASE
      WHEN form_submits >= 2 THEN 20
      WHEN form_submits >= 1 THEN 15
      ELSE 0
    END
    + CASE WHEN contact_clicks >= 1 THEN 5 ELSE 0 END
    + CASE WHEN conversion_events >= 1 THEN 20 ELSE 0 END)
)
OPTIONS (description = 'Conversions component, 0..20: form submits, mailto/tel clicks, conversion custom events.');

CREATE OR REPLACE FUNCTION outbound_sales.intent_level(intent_score INT64)
RETURNS STRING
AS (
  CASE
    WHEN intent_score >= 80 THEN 'burning'
    WHEN intent_score >= 60 THEN 'hot'
    WHEN intent_score >= 40 THEN 'warm'
    ELSE 'cold'
  END
)
OPTIONS (description = 'burning (80-100), hot (60-79), warm (40-59), cold (0-39).');
