// The DDL and the bq JSON schemas (sql/schemas/*.json) describe the same
// tables: same columns in the same order, types, modes and descriptions;
// partitioning and clustering as the design asks; the column contract of
// the edge's rows and of the CLI's import rows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableDefinitions, loadSchema, schemaFiles, ddlColumnAsJson, DATASET } from './lib/bq.mjs';

const tables = tableDefinitions();
const short = (name) => name.slice(DATASET.length + 1);

test('one JSON schema per DDL table, and one table per JSON schema', () => {
  assert.deepEqual([...tables.keys()].map(short).sort(), schemaFiles());
  for (const t of ['events', 'sessions', 'lead_profiles', 'identity_map', 'email_clicks']) {
    assert.ok(tables.has(`${DATASET}.${t}`), t);
  }
});

test('DDL columns equal the JSON schema fields: name, type, mode, description, order', () => {
  for (const [name, t] of tables) {
    assert.deepEqual(t.columns.map(ddlColumnAsJson), loadSchema(short(name)), `${t.file} vs schemas/${short(name)}.json`);
  }
});

test('JSON schemas are well-formed bq schema files', () => {
  const TYPES = new Set(['STRING', 'INTEGER', 'FLOAT', 'BOOLEAN', 'TIMESTAMP', 'DATE', 'DATETIME', 'NUMERIC', 'BYTES', 'JSON', 'TIME']);
  for (const table of schemaFiles()) {
    const fields = loadSchema(table);
    const names = new Set();
    for (const f of fields) {
      assert.deepEqual(Object.keys(f), ['name', 'type', 'mode', 'description'], `${table}.${f.name}`);
      assert.match(f.name, /^[a-z][a-z0-9_]*$/, `${table}.${f.name}`);
      assert.ok(TYPES.has(f.type), `${table}.${f.name}: ${f.type}`);
      assert.ok(['NULLABLE', 'REQUIRED', 'REPEATED'].includes(f.mode), `${table}.${f.name}: ${f.mode}`);
      assert.ok(f.description.length > 3, `${table}.${f.name} has a description`);
      assert.ok(!names.has(f.name), `${table}.${f.name} once`);
      names.add(f.name);
    }
  }
});

test('the comparison catches a drifted schema', () => {
  const t = tables.get(`${DATASET}.events`);
  const json = loadSchema('events');
  const drifted = structuredClone(json);
  drifted[6].mode = 'REQUIRED';
  assert.notDeepEqual(t.columns.map(ddlColumnAsJson), drifted);
  assert.throws(() => ddlColumnAsJson({ name: 'x', type: 'GEOGRAPHY', notNull: false }), /no JSON schema type/);
});

test('event tables are partitioned by day on a required timestamp and clustered by their ids', () => {
  const want = {
    events: ['received_at', ['lead_id', 'visitor_id', 'event_type']],
    email_clicks: ['event_time', ['lead_id', 'event_type']],
    sessions: ['session_start', ['lead_id', 'visitor_id']],
    lead_profiles: ['created_at', ['lead_id', 'campaign']],
    identity_map: ['created_at', ['lead_id', 'visitor_id']],
    lead_imports: ['created_at', ['lead_id']],
    hot_lead_alerts: ['detected_at', ['lead_id']],
  };
  for (const [table, [col, cluster]] of Object.entries(want)) {
    const t = tables.get(`${DATASET}.${table}`);
    assert.equal(t.partitionBy.length, 1, table);
    const p = t.partitionBy[0];
    assert.equal(p.type, 'func_call', table);
    assert.equal(p.name.name.toUpperCase(), 'DATE', `${table}: by day`);
    assert.equal(p.args.expr.args.items[0].name, col, `${table}: partition column`);
    const c = t.columns.find((x) => x.name === col);
    assert.equal(c.type, 'TIMESTAMP', `${table}.${col}`);
    assert.ok(c.notNull, `${table}.${col} is required`);
    assert.deepEqual(t.clusterBy, cluster, `${table}: clustering`);
    for (const k of t.clusterBy) assert.ok(t.columns.some((x) => x.name === k), `${table}: cluster column ${k}`);
    assert.ok(t.options.description, `${table} has a description`);
  }
});

test('the edge rows keep the columns the module writes', () => {
  // sql/schemas/events.json and email_clicks.json are the module's row
  // format: names, types and modes may not change under it.
  const events = loadSchema('events').map((f) => `${f.name}:${f.type}:${f.mode}`);
  assert.deepEqual(events.slice(0, 9), [
    'event_id:STRING:REQUIRED', 'event_type:STRING:REQUIRED', 'event_time:TIMESTAMP:REQUIRED',
    'received_at:TIMESTAMP:REQUIRED', 'sent_at:TIMESTAMP:NULLABLE', 'visitor_id:STRING:REQUIRED',
    'lead_id:STRING:NULLABLE', 'session_id:STRING:REQUIRED', 'url:STRING:REQUIRED',
  ]);
  for (const c of ['scroll_depth:INTEGER:NULLABLE', 'engaged_ms:INTEGER:NULLABLE', 'link_type:STRING:NULLABLE',
    'form_fields:STRING:REPEATED', 'video_action:STRING:NULLABLE', 'custom_name:STRING:NULLABLE',
    'properties:STRING:NULLABLE', 'webdriver:BOOLEAN:NULLABLE', 'traffic_class:STRING:NULLABLE',
    'traffic_reasons:STRING:REPEATED']) {
    assert.ok(events.includes(c), c);
  }
  assert.equal(events.length, 36);
  const clicks = loadSchema('email_clicks').map((f) => `${f.name}:${f.type}:${f.mode}`);
  for (const c of ['event_id:STRING:REQUIRED', 'event_type:STRING:REQUIRED', 'event_time:TIMESTAMP:REQUIRED',
    'lead_id:STRING:NULLABLE', 'campaign:STRING:NULLABLE', 'outcome:STRING:REQUIRED', 'visitor_id:STRING:NULLABLE',
    'traffic_class:STRING:NULLABLE', 'traffic_reasons:STRING:REPEATED']) {
    assert.ok(clicks.includes(c), c);
  }
  assert.equal(clicks.length, 16);
});

test('the CLI import rows load into lead_imports and into lead_profiles alike', () => {
  const imports = loadSchema('lead_imports');
  const profiles = new Map(loadSchema('lead_profiles').map((f) => [f.name, f]));
  assert.deepEqual(imports.map((f) => f.name), [
    'lead_id', 'email_sha256', 'campaign', 'first_name', 'last_name', 'company', 'title', 'attributes', 'created_at',
  ]);
  for (const f of imports) {
    const p = profiles.get(f.name);
    assert.ok(p, `lead_profiles.${f.name}`);
    assert.equal(p.type, f.type, f.name);
  }
  // every other profile column may be absent from a row
  for (const [name, f] of profiles) {
    if (!imports.some((i) => i.name === name)) assert.equal(f.mode, 'NULLABLE', `lead_profiles.${name}`);
  }
  const identity = loadSchema('identity_map').map((f) => `${f.name}:${f.mode}`);
  assert.deepEqual(identity, [
    'lead_id:REQUIRED', 'visitor_id:NULLABLE', 'email_sha256:NULLABLE', 'campaign:NULLABLE',
    'source:REQUIRED', 'created_at:REQUIRED', 'last_seen:NULLABLE',
  ]);
  for (const t of ['lead_profiles', 'identity_map', 'lead_imports', 'hot_lead_alerts']) {
    assert.ok(!loadSchema(t).some((f) => /^email$/.test(f.name)), `${t} holds no plain email`);
  }
});
