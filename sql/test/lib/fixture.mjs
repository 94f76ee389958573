// The shared activity fixture (sql/test/fixtures/activity.json) as rows of
// the dataset's tables.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQL_DIR } from './bq.mjs';

export function loadActivity() {
  return JSON.parse(readFileSync(join(SQL_DIR, 'test', 'fixtures', 'activity.json'), 'utf8'));
}

export function at(fx, agoS) {
  return new Date(Date.parse(fx.run_time) - agoS * 1000);
}

// Rows per table, each with the server time it reached the warehouse
// (_arrives), so a test can load only what existed at a run time.
export function fixtureRows(fx) {
  const rows = { lead_imports: [], identity_map: [], events: [], email_clicks: [] };
  for (const imp of fx.lead_imports) {
    const { created_ago_s: ago, ...rest } = imp;
    const created = at(fx, ago);
    rows.lead_imports.push({ ...rest, created_at: created, _arrives: created });
    rows.identity_map.push({
      lead_id: imp.lead_id, visitor_id: null, email_sha256: imp.email_sha256,
      campaign: imp.campaign, source: 'campaign', created_at: created, last_seen: null,
      _arrives: created,
    });
  }
  for (const a of fx.activity) {
    const { table, ago_s: ago, event_ago_s: eventAgo, duplicate, ...rest } = a;
    const received = at(fx, ago);
    if (table === 'events') {
      rows.events.push({
        ...rest,
        event_time: at(fx, eventAgo ?? ago),
        received_at: received,
        sent_at: received,
        _arrives: received,
      });
    } else if (table === 'email_clicks') {
      rows.email_clicks.push({ ...rest, event_time: received, received_at: received, _arrives: received });
    } else {
      throw new Error(`fixture: unknown table ${table}`);
    }
  }
  return rows;
}
