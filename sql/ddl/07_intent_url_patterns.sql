-- The configurable table of high-intent URL patterns the scoring reads.
-- A pageview is high-intent when the lowercased path of its URL
-- (outbound_sales.url_path) matches an enabled row (outbound_sales.path_matches):
--   exact     path = pattern
--   prefix    path starts with pattern
--   segment   pattern is a whole run of path segments: /pricing matches
--             /pricing, /en/pricing and /pricing/teams, not /pricing-old
--   contains  pattern occurs anywhere in the path
-- Edit the rows to fit your site (set enabled = FALSE rather than deleting a
-- seeded row, or the seed below brings it back).  The edge scores live with
-- the defaults of sql/scoring/definition.json; the hourly export to Redis
-- brings its counters back in line with this table.
CREATE TABLE IF NOT EXISTS outbound_sales.intent_url_patterns (
  match_type STRING NOT NULL OPTIONS (description = 'exact, prefix, segment or contains.'),
  pattern STRING NOT NULL OPTIONS (description = 'Lowercase path fragment; exact, prefix and segment patterns start with a slash.'),
  description STRING OPTIONS (description = 'What the pages are.'),
  enabled BOOL NOT NULL OPTIONS (description = 'FALSE to stop counting the pattern without losing it.'),
  updated_at TIMESTAMP NOT NULL OPTIONS (description = 'When the row was added or last changed.')
)
OPTIONS (
  description = 'High-intent URL patterns read by the intent scoring.'
);

-- The defaults of sql/scoring/definition.json (high_intent_patterns); adds
-- the missing ones, leaves edited rows alone.
MERGE INTO outbound_sales.intent_url_patterns AS t
USING (
  SELECT 'segment' AS match_type, '/pricing' AS pattern, 'Pricing pages' AS description
  UNION ALL SELECT 'segment', '/plans', 'Plan comparison'
  UNION ALL SELECT 'segment', '/demo', 'Demo request or recording'
  UNION ALL SELECT 'segment', '/book-a-demo', 'Demo booking'
  UNION ALL SELECT 'segment', '/contact', 'Contact sales'
  UNION ALL SELECT 'segment', '/contact-sales', 'Contact sales'
  UNION ALL SELECT 'segment', '/trial', 'Free trial'
  UNION ALL SELECT 'segment', '/signup', 'Sign-up'
  UNION ALL SELECT 'segment', '/get-started', 'Get started'
  UNION ALL SELECT 'segment', '/case-studies', 'Case studies'
  UNION ALL SELECT 'segment', '/customers', 'Customer stories'
  UNION ALL SELECT 'prefix', '/compar', 'Comparison pages: /compare, /compare-x, /comparison'
  UNION ALL SELECT 'contains', '-vs-', 'Head-to-head pages such as /acme-vs-rival'
  UNION ALL SELECT 'segment', '/security', 'Security review (late-stage buyers)'
  UNION ALL SELECT 'segment', '/integrations', 'Integrations'
) AS s
ON t.match_type = s.match_type AND t.pattern = s.pattern
WHEN NOT MATCHED THEN
  INSERT (match_type, pattern, description, enabled, updated_at)
  VALUES (s.match_type, s.pattern, s.description, TRUE, CURRENT_TIMESTAMP());
