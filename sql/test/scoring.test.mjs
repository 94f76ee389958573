// The intent score: definition.json is sound, the shared vectors follow
// from it, and the SQL functions (sql/udf/scoring.sql, executed in DuckDB)
// agree with both -- on the vectors, on every tier boundary of the
// definition, and on the URL cases.  The C side runs the same vectors in
// t/unit/test_score.c.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadDefinition, loadVectors, score, validateDefinition, urlPath, isHighIntent,
  pathMatches, rulePoints,
} from '../scoring/score.mjs';
import { openWarehouse } from './lib/duck.mjs';
import { SQL_DIR } from './lib/bq.mjs';

const def = loadDefinition();
const { vectors } = loadVectors();
const urlCases = JSON.parse(readFileSync(join(SQL_DIR, 'scoring', 'url-cases.json'), 'utf8')).cases;

let wh;

before(async () => {
  wh = await openWarehouse('2024-11-24 12:00:00');
  await wh.runFile(join(SQL_DIR, 'udf', 'scoring.sql'));
  await wh.runFile(join(SQL_DIR, 'ddl', '07_intent_url_patterns.sql'));
});

after(() => wh?.close());

// The SQL expression that scores one row of features named as in the
// definition: the same calls the profile update makes.
const SQL_SCORE = `
  SELECT *,
    LEAST(100, recency + frequency + engagement + high_intent + conversions) AS total,
    outbound_sales.intent_level(LEAST(100, recency + frequency + engagement + high_intent + conversions)) AS level
  FROM (
    SELECT id,
      outbound_sales.intent_recency_points(seconds_since_last_activity) AS recency,
      outbound_sales.intent_frequency_points(sessions, confirmed_clicks) AS frequency,
      outbound_sales.intent_engagement_points(engaged_ms, max_scroll_depth, pageviews, video_completes, downloads) AS engagement,
      outbound_sales.intent_high_intent_points(high_intent_pageviews) AS high_intent,
      outbound_sales.intent_conversion_points(form_submits, contact_clicks, conversion_events) AS conversions
    FROM features)`;

async function sqlScores(rows) {
  const cols = def.features;
  const values = rows.map((f, i) => `(${i}, ${cols.map((c) => (f[c] === null || f[c] === undefined ? 'NULL' : `CAST(${f[c]} AS BIGINT)`)).join(', ')})`);
  const sql = `WITH features AS (SELECT * FROM (VALUES ${values.join(',\n')}) AS v(id, ${cols.join(', ')})) ${SQL_SCORE} ORDER BY id`;
  const out = await wh.query(sql);
  return out.map((r) => ({
    recency: Number(r.recency),
    frequency: Number(r.frequency),
    engagement: Number(r.engagement),
    high_intent: Number(r.high_intent),
    conversions: Number(r.conversions),
    total: Number(r.total),
    level: r.level,
  }));
}

test('definition.json is sound', () => {
  assert.deepEqual(validateDefinition(def), []);
  const names = def.components.map((c) => c.name);
  assert.deepEqual(names, ['recency', 'frequency', 'engagement', 'high_intent', 'conversions']);
  assert.deepEqual(def.components.map((c) => c.max), [30, 20, 25, 25, 20], 'the maxima of DESIGN.md');
  assert.deepEqual(def.levels.map((l) => [l.name, l.min]), [['burning', 80], ['hot', 60], ['warm', 40], ['cold', 0]]);
  assert.equal(def.max_score, 100);
});

test('the validator rejects a broken definition', () => {
  const bad = structuredClone(def);
  bad.components[1].rules[0].tiers[1].points = 1; // falls while the value rises
  bad.high_intent_patterns.push({ match: 'segment', pattern: 'Pricing/' });
  const problems = validateDefinition(bad);
  assert.ok(problems.some((p) => p.includes('points must rise')), problems.join('; '));
  assert.ok(problems.some((p) => p.includes('lowercase')), problems.join('; '));
  assert.ok(problems.some((p) => p.includes('start with /')), problems.join('; '));
});

test('every vector follows from the definition', () => {
  assert.ok(vectors.length >= 20);
  for (const v of vectors) {
    assert.deepEqual(Object.keys(v.features).sort(), [...def.features].sort(), v.name);
    assert.deepEqual(score(def, v.features), v.expected, v.name);
  }
});

test('the vectors cover every level and the caps', () => {
  const levels = new Set(vectors.map((v) => v.expected.level));
  assert.deepEqual([...levels].sort(), ['burning', 'cold', 'hot', 'warm']);
  for (const min of [80, 60, 40]) {
    assert.ok(vectors.some((v) => v.expected.total === min), `a vector at ${min}`);
    assert.ok(vectors.some((v) => v.expected.total === min - 1), `a vector at ${min - 1}`);
  }
  // a total that the cap of 100 cuts, and each component at its own cap
  // while its rules add up to more
  assert.ok(vectors.some((v) => {
    const raw = def.components.reduce((s, c) => s + c.rules.reduce((t, r) => t + rulePoints(r, v.features[r.feature]), 0), 0);
    return raw > 100 && v.expected.total === 100;
  }));
  for (const c of def.components.filter((c) => c.rules.length > 1)) {
    assert.ok(vectors.some((v) => c.rules.reduce((t, r) => t + rulePoints(r, v.features[r.feature]), 0) > c.max
      && v.expected[c.name] === c.max), `a vector over the cap of ${c.name}`);
  }
});

test('SQL functions give the expected components, total and level of every vector', async () => {
  const got = await sqlScores(vectors.map((v) => v.features));
  vectors.forEach((v, i) => assert.deepEqual(got[i], v.expected, v.name));
});

// Every threshold of every rule, one below, at and one above, alone and in
// a deterministic spread of combinations.
function probes() {
  const perFeature = Object.fromEntries(def.features.map((f) => [f, new Set([null, -1, 0, 1, 1e12])]));
  for (const c of def.components) {
    for (const r of c.rules) {
      for (const t of r.tiers) for (const d of [-1, 0, 1]) perFeature[r.feature].add(t.value + d);
    }
  }
  const zero = Object.fromEntries(def.features.map((f) => [f, 0]));
  const rows = [];
  for (const f of def.features) {
    for (const v of perFeature[f]) rows.push({ ...zero, [f]: v });
  }
  let seed = 20241124;
  const rand = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let i = 0; i < 400; i++) {
    const row = {};
    for (const f of def.features) {
      const vals = [...perFeature[f]];
      row[f] = vals[rand(vals.length)];
    }
    rows.push(row);
  }
  return rows;
}

test('SQL functions agree with the definition at every tier boundary', async () => {
  const rows = probes();
  const got = await sqlScores(rows);
  rows.forEach((f, i) => assert.deepEqual(got[i], score(def, f), JSON.stringify(f)));
});

test('intent_level agrees with the definition for 0..100', async () => {
  const out = await wh.query('SELECT s, outbound_sales.intent_level(s) AS level FROM range(0, 101) AS r(s) ORDER BY s');
  assert.equal(out.length, 101);
  for (const r of out) {
    const s = Number(r.s);
    assert.equal(r.level, def.levels.find((l) => s >= l.min).name, `score ${s}`);
  }
});

test('URL paths and high-intent matches: cases, the JS reading and SQL agree', async () => {
  const values = urlCases.map((c, i) => `(${i}, '${c.url.replace(/'/g, "''")}')`).join(', ');
  const out = await wh.query(`
    SELECT id, outbound_sales.url_path(url) AS path,
      EXISTS (SELECT 1 FROM outbound_sales.intent_url_patterns p
              WHERE p.enabled AND outbound_sales.path_matches(outbound_sales.url_path(url), p.match_type, p.pattern)) AS hi
    FROM (VALUES ${values}) AS v(id, url) ORDER BY id`);
  urlCases.forEach((c, i) => {
    assert.equal(urlPath(c.url), c.path, `JS path of ${c.url}`);
    assert.equal(isHighIntent(def, c.url), c.high_intent, `JS high intent of ${c.url}`);
    assert.equal(out[i].path, c.path, `SQL path of ${c.url}`);
    assert.equal(out[i].hi, c.high_intent, `SQL high intent of ${c.url}`);
  });
  assert.ok(urlCases.some((c) => c.high_intent) && urlCases.some((c) => !c.high_intent));
});

test('path_matches: each match type in SQL as in the definition', async () => {
  const cases = [
    ['exact', '/pricing', '/pricing'], ['exact', '/pricing', '/pricing/'],
    ['prefix', '/compar', '/comparison'], ['prefix', '/compar', '/x/compare'],
    ['segment', '/pricing', '/en/pricing'], ['segment', '/pricing', '/pricing-old'],
    ['segment', '/a/b', '/x/a/b/c'], ['segment', '/a/b', '/a/bc'],
    ['contains', '-vs-', '/a-vs-b'], ['contains', '-vs-', '/versus'],
    ['bogus', '/pricing', '/pricing'],
  ];
  const values = cases.map(([m, p, path], i) => `(${i}, '${m}', '${p}', '${path}')`).join(', ');
  const out = await wh.query(`SELECT id, outbound_sales.path_matches(path, m, p) AS hit
    FROM (VALUES ${values}) AS v(id, m, p, path) ORDER BY id`);
  cases.forEach(([m, p, path], i) => {
    const expect = m === 'bogus' ? false : pathMatches(m, p, path);
    assert.equal(out[i].hit, expect, `${m} ${p} ${path}`);
  });
  assert.deepEqual(out.map((r) => r.hit), [true, false, true, false, true, false, true, false, true, false, false]);
});

test('the seeded intent_url_patterns are the definition\'s, and reseeding keeps edits', async () => {
  const rows = await wh.query('SELECT match_type, pattern, description, enabled FROM outbound_sales.intent_url_patterns ORDER BY pattern, match_type');
  const want = def.high_intent_patterns
    .map((p) => ({ match_type: p.match, pattern: p.pattern, description: p.description, enabled: true }))
    .sort((a, b) => (a.pattern < b.pattern ? -1 : a.pattern > b.pattern ? 1 : (a.match_type < b.match_type ? -1 : 1)));
  assert.deepEqual(rows, want);
  await wh.query("UPDATE outbound_sales.intent_url_patterns SET enabled = FALSE WHERE pattern = '/demo'");
  await wh.runFile(join(SQL_DIR, 'ddl', '07_intent_url_patterns.sql'));
  const after = await wh.query("SELECT pattern, enabled FROM outbound_sales.intent_url_patterns WHERE pattern = '/demo'");
  assert.deepEqual(after, [{ pattern: '/demo', enabled: false }]);
  await wh.query("UPDATE outbound_sales.intent_url_patterns SET enabled = TRUE WHERE pattern = '/demo'");
});

test('traffic_counts: human, unknown and unclassified page traffic only', async () => {
  const out = await wh.query(`SELECT c, w, outbound_sales.traffic_counts(c, w) AS counts FROM (VALUES
    ('human', FALSE), ('unknown', NULL), (NULL, NULL), ('', FALSE), ('bot', FALSE), ('scanner', NULL),
    ('prefetch', FALSE), ('human', TRUE)) AS v(c, w)`);
  assert.deepEqual(out.map((r) => r.counts), [true, true, true, true, false, false, false, false]);
  for (const cls of def.counted_traffic_classes) {
    assert.ok(out.some((r) => r.c === cls && r.counts), cls);
  }
});

test('is_conversion_event: exactly the conversion_events of the definition', async () => {
  const names = [...def.conversion_events, 'newsletter_signup', 'Demo_Booked', 'demo_booked ', '', null];
  const values = names.map((n, i) => `(${i}, ${n === null ? 'NULL' : `'${n}'`})`).join(', ');
  const out = await wh.query(`SELECT id, outbound_sales.is_conversion_event(name) AS conv
    FROM (VALUES ${values}) AS v(id, name) ORDER BY id`);
  names.forEach((n, i) => assert.equal(out[i].conv, def.conversion_events.includes(n), `${n}`));
});
