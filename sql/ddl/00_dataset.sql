-- The dataset.  Location is chosen when it is created (bq --location=EU
-- query ...); everything else in sql/ refers to it as outbound_sales.
CREATE SCHEMA IF NOT EXISTS outbound_sales
OPTIONS (
  description = 'Outbound Intent Engine: page and email events from the nginx edge, sessions, identities and intent scores.'
);
