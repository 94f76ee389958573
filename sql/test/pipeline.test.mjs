// The scheduled queries and views, executed (in DuckDB, see lib/duck.mjs)
// on the shared activity fixture, hour by hour as BigQuery would run them:
// rows arrive, sessionize, profiles and scores, export for Redis, hot-lead
// detection.  The features and scores they reach are the ones
// t/unit/test_score.c reaches from the same activity through the edge's
// oie_score_apply().

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SQL_DIR, sqlFiles } from './lib/bq.mjs';
import { loadActivity, at, sqlTime, replayFixture } from './lib/fixture.mjs';
import { loadDefinition, score } from '../scoring/score.mjs';

const fx = loadActivity();
const def = loadDefinition();
const RUN = new Date(fx.run_time);
const num = (v) => (v === null || v === undefined ? null : Number(v));

let wh;
let hourly;

async function profiles() {
  const out = await wh.query('SELECT * FROM outbound_sales.lead_profiles ORDER BY lead_id');
  return Object.fromEntries(out.map((r) => [r.lead_id, r]));
}

const FEATURE_COLUMNS = def.features.filter((f) => f !== 'seconds_since_last_activity');

before(async () => {
  ({ wh, hourly } = await replayFixture(fx));
  wh.runTime = sqlTime(RUN);
  for (const f of sqlFiles('views')) await wh.runFile(f);
});

after(() => wh?.close());

test('every lead gets the features, components, total and level of the fixture', async () => {
  const p = await profiles();
  assert.deepEqual(Object.keys(p).sort(), Object.keys(fx.expected).sort());
  for (const [lead, want] of Object.entries(fx.expected)) {
    const row = p[lead];
    const features = Object.fromEntries(def.features.map((f) => [f, num(row[f])]));
    assert.deepEqual(features, want.features, `${lead} features`);
    assert.deepEqual({
      recency: num(row.recency_points),
      frequency: num(row.frequency_points),
      engagement: num(row.engagement_points),
      high_intent: num(row.high_intent_points),
      conversions: num(row.conversion_points),
      total: num(row.intent_score),
      level: row.intent_level,
    }, want.score, `${lead} score`);
    // and the definition, read independently, agrees with the SQL
    assert.deepEqual(score(def, want.features), want.score, `${lead} definition`);
    assert.equal(row.campaign, want.campaign, `${lead} campaign`);
    assert.equal(row.scored_at, sqlTime(RUN), `${lead} scored_at`);
  }
});

test('profiles take names from the newest import, and keep the email only hashed', async () => {
  const p = await profiles();
  assert.equal(p.A1iceQ7.title, 'SVP Sales');
  assert.equal(p.A1iceQ7.first_name, 'Alice');
  assert.equal(p.A1iceQ7.attributes, '{"city":"Berlin"}');
  assert.match(p.A1iceQ7.email_sha256, /^[0-9a-f]{64}$/);
  assert.equal(p.Fr4nkZ0.first_name, null, 'never imported');
  assert.equal(p.Fr4nkZ0.created_at, sqlTime(at(fx, 600)), 'created at its first activity');
  for (const r of Object.values(p)) {
    for (const v of Object.values(r)) assert.ok(!String(v).includes('@'), `no email in ${r.lead_id}`);
  }
});

test('history: previous score and level change are kept across runs', async () => {
  const p = await profiles();
  assert.equal(num(p.A1iceQ7.previous_score), 0, 'imported, inactive at the previous run');
  assert.equal(p.A1iceQ7.previous_level, 'cold');
  assert.equal(p.A1iceQ7.level_changed_at, sqlTime(RUN));
  assert.equal(p.Er1nOld.previous_level, 'cold');
  assert.equal(num(p.Er1nOld.previous_score), 28, 'scored by the run after her visit');
});

test('sessions: 30-minute gaps, no bot or webdriver traffic, one row per replayed event', async () => {
  const s = await wh.query(`SELECT * FROM outbound_sales.sessions ORDER BY visitor_id, session_start`);
  const by = (v) => s.filter((r) => r.visitor_id === v);
  assert.equal(by('va').length, 2);
  const [a1, a2] = by('va');
  assert.equal(num(a1.pageviews), 2, 'the replayed pageview counts once');
  assert.equal(num(a1.events), 6);
  assert.equal(num(a1.high_intent_pageviews), 2);
  assert.equal(num(a1.engaged_ms), 60000);
  assert.equal(num(a1.max_scroll_depth), 75);
  assert.equal(a1.entry_url, 'https://acme.test/demo?i=A1iceQ7');
  assert.equal(a1.exit_url, 'https://acme.test/pricing');
  assert.equal(a1.utm_source, 'smartlead');
  assert.equal(a1.traffic_class, 'human');
  assert.deepEqual(a1.pixel_session_ids, ['sa1']);
  assert.equal(a1.session_key, `va.${at(fx, 172785).getTime()}`);
  assert.equal(num(a1.duration_s), 172785 - 172300);
  assert.equal(num(a2.events), 3, 'bot and webdriver pageviews left out');
  assert.equal(num(a2.form_submits), 1);
  const d = by('vd');
  assert.equal(d.length, 2);
  assert.equal(d[0].lead_id, null, 'the anonymous visit was built before the visitor was known');
  assert.equal(d[0].traffic_class, 'unknown');
  assert.equal(d[0].entry_referrer, 'https://www.google.com/');
  assert.equal(d[1].lead_id, 'D4veM22');
  const [c] = by('vc');
  assert.equal(num(c.engaged_ms), 1800000, 'one engagement event counts at most 30 minutes');
  assert.equal(num(c.conversion_events), 1);
  assert.equal(num(c.downloads), 1);
  assert.equal(num(c.contact_clicks), 1);
  assert.equal(num(c.video_completes), 1);
  const [i] = by('vi');
  assert.equal(i.session_start, sqlTime(at(fx, 1000 + 259200)), 'browser clock');
  assert.equal(i.last_received_at, sqlTime(at(fx, 1000)), 'server clock');
  assert.equal(by('ve').length, 1, 'built by the run forty days ago, kept since');
  assert.equal(s.length, 7);
});

test('identity_map learns visitor links from events and confirmed clicks', async () => {
  const links = await wh.query(`SELECT lead_id, visitor_id, source FROM outbound_sales.identity_map
    WHERE visitor_id IS NOT NULL ORDER BY visitor_id`);
  assert.deepEqual(links, [
    { lead_id: 'A1iceQ7', visitor_id: 'va', source: 'click_confirmed' },
    { lead_id: 'C4rolX9', visitor_id: 'vc', source: 'click_confirmed' },
    { lead_id: 'D4veM22', visitor_id: 'vd', source: 'event' },
    { lead_id: 'Er1nOld', visitor_id: 've', source: 'event' },
    { lead_id: 'Ivy5kw2', visitor_id: 'vi', source: 'event' },
  ]);
});

test('score_export holds the Redis hash fields of every lead active in the window', async () => {
  const out = await wh.query('SELECT * FROM outbound_sales.score_export ORDER BY lead_id');
  const cols = Object.keys(out[0]);
  for (const f of def.redis_fields) assert.ok(cols.includes(f), `column ${f}`);
  assert.deepEqual(out.map((r) => r.lead_id), ['A1iceQ7', 'C4rolX9', 'D4veM22', 'Er1nOld', 'Fr4nkZ0', 'Ivy5kw2']);
  for (const r of out) {
    assert.equal(r.redis_key, `oie:score:${r.lead_id}`);
    const want = fx.expected[r.lead_id];
    // The edge scores these counters with the same definition: the live
    // score right after loading them is the warehouse's.
    const features = Object.fromEntries(FEATURE_COLUMNS.map((f) => [f, num(r[f])]));
    features.seconds_since_last_activity = Math.floor((RUN.getTime() - num(r.last_seen_ms)) / 1000);
    assert.deepEqual(score(def, features), want.score, r.lead_id);
    assert.equal(num(r.intent_score), want.score.total);
  }
  const alice = out[0];
  assert.equal(num(alice.last_page_ms), at(fx, 161300).getTime());
  assert.equal(num(alice.last_human_click_ms), at(fx, 172800).getTime());
  assert.equal(num(out[1].last_human_click_ms), 0, 'Carol never clicked as a classified human');
});

test('views: high_intent_leads, campaign_performance, recent_sessions, intent_distribution', async () => {
  wh.runTime = sqlTime(RUN);
  const hil = await wh.query('SELECT lead_id, intent_score, intent_level, hours_since_last_seen FROM outbound_sales.high_intent_leads');
  assert.deepEqual(hil.map((r) => r.lead_id), ['C4rolX9', 'A1iceQ7', 'D4veM22']);
  assert.ok(hil.every((r) => num(r.intent_score) >= 60));

  const cp = await wh.query('SELECT * FROM outbound_sales.campaign_performance ORDER BY campaign');
  assert.deepEqual(cp.map((r) => r.campaign), ['q3-outbound', 'q4-outbound']);
  const q4 = cp[1];
  assert.deepEqual({
    leads: num(q4.leads), email_clicks: num(q4.email_clicks), human_clicks: num(q4.human_clicks),
    machine_clicks: num(q4.machine_clicks), confirmed_clicks: num(q4.confirmed_clicks),
    email_opens: num(q4.email_opens), leads_clicked: num(q4.leads_clicked),
    leads_visited: num(q4.leads_visited), leads_converted: num(q4.leads_converted),
    click_rate_pct: num(q4.click_rate_pct), conversion_rate_pct: num(q4.conversion_rate_pct),
    avg_intent_score: num(q4.avg_intent_score), burning_leads: num(q4.burning_leads),
    hot_leads: num(q4.hot_leads), warm_leads: num(q4.warm_leads), cold_leads: num(q4.cold_leads),
  }, {
    leads: 6, email_clicks: 6, human_clicks: 3, machine_clicks: 2, confirmed_clicks: 2,
    email_opens: 1, leads_clicked: 4, leads_visited: 4, leads_converted: 3,
    click_rate_pct: 66.7, conversion_rate_pct: 50, avg_intent_score: 50.7,
    burning_leads: 2, hot_leads: 1, warm_leads: 1, cold_leads: 2,
  });
  assert.equal(num(cp[0].leads), 1);

  const rs = await wh.query('SELECT session_key, lead_id, first_name FROM outbound_sales.recent_sessions');
  assert.equal(rs.length, 6, 'Erin\'s session is older than 7 days');
  assert.ok(rs.some((r) => r.lead_id === 'C4rolX9' && r.first_name === 'Carol'));

  const dist = await wh.query('SELECT intent_level, leads, pct_of_leads, active_last_7_days FROM outbound_sales.intent_distribution');
  assert.deepEqual(dist.map((r) => [r.intent_level, num(r.leads), num(r.pct_of_leads), num(r.active_last_7_days)]), [
    ['burning', 2, 28.6, 2], ['hot', 1, 14.3, 1], ['warm', 1, 14.3, 1], ['cold', 3, 42.9, 1],
  ]);
});

test('hot-lead detection alerts hot and burning leads once', async () => {
  const q = 'SELECT lead_id, intent_level, intent_score, first_name, detected_at FROM outbound_sales.hot_lead_alerts ORDER BY lead_id, detected_at';
  const first = await wh.query(q);
  assert.deepEqual(first.map((a) => [a.lead_id, a.intent_level, num(a.intent_score)]), [
    ['A1iceQ7', 'burning', 82], ['C4rolX9', 'burning', 82], ['D4veM22', 'hot', 62],
  ]);
  assert.equal(first[0].first_name, 'Alice');
  await hourly(RUN);
  assert.equal((await wh.query(q)).length, 3, 'a rerun of the same hour adds nothing');
  const sessions = await wh.query('SELECT COUNT(*) AS n, COUNT(DISTINCT session_key) AS k FROM outbound_sales.sessions');
  assert.deepEqual(sessions, [{ n: '7', k: '7' }], 'sessions rebuilt, not duplicated');
  await hourly(new Date(RUN.getTime() + 3600 * 1000));
  const again = await wh.query(q);
  assert.equal(again.length, 3, 'no second alert within 7 days at the same level or below');
  const carol = (await profiles()).C4rolX9;
  assert.equal(carol.intent_level, 'hot', 'recency fell from 30 to 25 within the hour');
  assert.equal(num(carol.previous_score), 82);
});

test('a month without activity: recency runs out and the level follows', async () => {
  const later = new Date(RUN.getTime() + 31 * 86400 * 1000);
  wh.runTime = sqlTime(later);
  await wh.runFile(join(SQL_DIR, 'scheduled', '20_update_lead_profiles.sql'));
  const p = await profiles();
  assert.equal(num(p.C4rolX9.recency_points), 0);
  assert.equal(num(p.C4rolX9.intent_score), 52);
  assert.equal(p.C4rolX9.intent_level, 'warm');
  assert.equal(p.C4rolX9.previous_level, 'hot', 'an hour after her visit she was hot (77)');
  assert.equal(p.C4rolX9.level_changed_at, sqlTime(later));
});
