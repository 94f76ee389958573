-- Landing table of the campaign import: oie leads export-bq writes these
-- rows (NDJSON) and `bq load` appends them here; the hourly profile update
-- merges the newest row of each lead into lead_profiles, so loading the
-- same file twice does no harm.
CREATE TABLE IF NOT EXISTS outbound_sales.lead_imports (
  lead_id STRING NOT NULL OPTIONS (description = 'Lead id minted by the oie CLI.'),
  email_sha256 STRING OPTIONS (description = 'SHA-256 (lowercase hex) of the normalized email.'),
  campaign STRING OPTIONS (description = 'Campaign the lead id was minted for.'),
  first_name STRING OPTIONS (description = 'First name from the lead list.'),
  last_name STRING OPTIONS (description = 'Last name from the lead list.'),
  company STRING OPTIONS (description = 'Company from the lead list.'),
  title STRING OPTIONS (description = 'Job title from the lead list.'),
  attributes STRING OPTIONS (description = 'Other columns of the lead list, as a JSON object in text.'),
  created_at TIMESTAMP NOT NULL OPTIONS (description = 'When the CLI wrote the row. Partitioning column.')
)
PARTITION BY DATE(created_at)
CLUSTER BY lead_id
OPTIONS (
  description = 'Campaign import rows from oie leads export-bq, merged hourly into lead_profiles.'
);
