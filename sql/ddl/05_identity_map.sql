-- Links between lead ids, visitors of the pixel and hashed emails.  Rows
-- come from the campaign import (oie leads export-bq: source campaign,
-- visitor_id null) and from the edge's events (source event or
-- click_confirmed), added hourly by scheduled/update_lead_profiles.sql.
CREATE TABLE IF NOT EXISTS outbound_sales.identity_map (
  lead_id STRING NOT NULL OPTIONS (description = 'Lead id minted by the oie CLI.'),
  visitor_id STRING OPTIONS (description = 'Visitor id of the pixel linked to the lead; null on campaign import rows.'),
  email_sha256 STRING OPTIONS (description = 'SHA-256 (lowercase hex) of the normalized email.'),
  campaign STRING OPTIONS (description = 'Campaign of the lead id.'),
  source STRING NOT NULL OPTIONS (description = 'campaign (oie leads export-bq), event (a page event carried the lead id) or click_confirmed.'),
  created_at TIMESTAMP NOT NULL OPTIONS (description = 'When the link was first made. Partitioning column.'),
  last_seen TIMESTAMP OPTIONS (description = 'Last event that showed the link.')
)
PARTITION BY DATE(created_at)
CLUSTER BY lead_id, visitor_id
OPTIONS (
  description = 'Links between lead ids, pixel visitors and hashed emails.'
);
