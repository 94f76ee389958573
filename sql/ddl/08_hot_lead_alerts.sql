-- Leads that became hot or burning, one row per alert, appended by
-- scheduled/detect_hot_leads.sql.  A CRM sync (n8n, Zapier, a cron job)
-- polls it: SELECT * FROM outbound_sales.hot_lead_alerts WHERE detected_at > <last poll>.
CREATE TABLE IF NOT EXISTS outbound_sales.hot_lead_alerts (
  alert_id STRING NOT NULL OPTIONS (description = 'lead_id, level and run time: the same run never alerts twice.'),
  lead_id STRING NOT NULL OPTIONS (description = 'Lead id.'),
  campaign STRING OPTIONS (description = 'Campaign of the lead.'),
  email_sha256 STRING OPTIONS (description = 'SHA-256 of the normalized email, to join with the CRM.'),
  first_name STRING OPTIONS (description = 'First name from the lead list.'),
  last_name STRING OPTIONS (description = 'Last name from the lead list.'),
  company STRING OPTIONS (description = 'Company from the lead list.'),
  title STRING OPTIONS (description = 'Job title from the lead list.'),
  intent_score INT64 NOT NULL OPTIONS (description = 'Score that raised the alert.'),
  intent_level STRING NOT NULL OPTIONS (description = 'hot or burning.'),
  previous_score INT64 OPTIONS (description = 'Score before the run that raised the alert.'),
  previous_level STRING OPTIONS (description = 'Level before the run that raised the alert.'),
  recency_points INT64 OPTIONS (description = 'Component of intent_score.'),
  frequency_points INT64 OPTIONS (description = 'Component of intent_score.'),
  engagement_points INT64 OPTIONS (description = 'Component of intent_score.'),
  high_intent_points INT64 OPTIONS (description = 'Component of intent_score.'),
  conversion_points INT64 OPTIONS (description = 'Component of intent_score.'),
  last_seen TIMESTAMP OPTIONS (description = 'Last counted activity of the lead.'),
  detected_at TIMESTAMP NOT NULL OPTIONS (description = 'Scoring run (@run_time) that raised the alert. Partitioning column.')
)
PARTITION BY DATE(detected_at)
CLUSTER BY lead_id
OPTIONS (
  description = 'Hot and burning leads, one row per alert; polled by the CRM sync.'
);
