// The shared activity fixture (sql/test/fixtures/activity.json) as rows of
// the dataset's tables.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SQL_DIR, sqlFiles } from './bq.mjs';
import { openWarehouse } from './duck.mjs';

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

export function sqlTime(d) {
  return d.toISOString().replace('T', ' ').replace('Z', '').replace(/\.000$/, '');
}

// A DuckDB warehouse that has lived through the fixture: the rows arrive
// as their times come, and the scheduled queries run at each history run
// and at run_time.  Returns { wh, hourly(time) } for more runs.
export async function replayFixture(fx) {
  const rows = fixtureRows(fx);
  const loaded = new Set();
  const wh = await openWarehouse(sqlTime(new Date(fx.run_time)));
  async function hourly(time) {
    wh.runTime = sqlTime(time);
    for (const [table, list] of Object.entries(rows)) {
      const batch = list.filter((r) => r._arrives <= time && !loaded.has(r));
      batch.forEach((r) => loaded.add(r));
      await wh.insert(table, batch.map(({ _arrives, ...r }) => r));
    }
    for (const f of sqlFiles('scheduled')) await wh.runFile(f);
  }
  await wh.runFile(join(SQL_DIR, 'udf', 'scoring.sql'));
  await wh.runFile(join(SQL_DIR, 'ddl', '07_intent_url_patterns.sql'));
  for (const ago of fx.history_runs_ago_s) await hourly(at(fx, ago));
  await hourly(new Date(fx.run_time));
  return { wh, hourly };
}
