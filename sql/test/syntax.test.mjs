// Every statement of sql/ parses as BigQuery SQL (sql-parser-cst, dialect
// "bigquery"; it is strict: the negative cases below must fail), and each
// file holds the kinds of statement its folder is for.  The parse is the
// one the DuckDB translation and the column check start from, so nothing
// is checked on text the parser did not accept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sqlFiles, parseFile, parseBigQuery, rel, SQL_GROUPS } from './lib/bq.mjs';
import { translate } from './lib/duck.mjs';

const KINDS = {
  ddl: ['create_schema_stmt', 'create_table_stmt', 'merge_stmt'],
  udf: ['create_function_stmt'],
  views: ['create_view_stmt'],
  scheduled: ['start_transaction_stmt', 'commit_transaction_stmt', 'merge_stmt', 'insert_stmt', 'delete_stmt', 'create_table_stmt'],
};

test('every SQL file parses as BigQuery, statement by statement', () => {
  let statements = 0;
  for (const group of SQL_GROUPS) {
    const files = sqlFiles(group);
    assert.ok(files.length > 0, `${group}/ has SQL files`);
    for (const f of files) {
      const { statements: st } = parseFile(f);
      assert.ok(st.length > 0, `${rel(f)} has statements`);
      for (const s of st) {
        assert.ok(KINDS[group].includes(s.node.type), `${rel(f)}:${s.line}: ${s.node.type} does not belong in ${group}/`);
        // each statement also parses alone, as bq query receives it
        assert.doesNotThrow(() => parseBigQuery(s.text), `${rel(f)}:${s.line}`);
      }
      statements += st.length;
    }
  }
  assert.ok(statements >= 30, `${statements} statements`);
});

test('the expected objects are all there', () => {
  const made = new Set();
  for (const f of sqlFiles()) {
    for (const s of parseFile(f).statements) {
      const m = /^CREATE\s+(?:OR\s+REPLACE\s+)?(?:SCHEMA|TABLE|VIEW|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.]+)/i.exec(s.text);
      if (m) made.add(m[1]);
    }
  }
  for (const name of [
    'outbound_sales',
    'outbound_sales.events', 'outbound_sales.sessions', 'outbound_sales.lead_profiles',
    'outbound_sales.identity_map', 'outbound_sales.email_clicks',
    'outbound_sales.high_intent_leads', 'outbound_sales.campaign_performance',
    'outbound_sales.recent_sessions', 'outbound_sales.intent_distribution',
    'outbound_sales.intent_url_patterns', 'outbound_sales.score_export',
    'outbound_sales.hot_lead_alerts', 'outbound_sales.lead_imports',
  ]) {
    assert.ok(made.has(name), `${name} is created`);
  }
});

test('clauses stand in the order BigQuery documents (the parser would take others)', () => {
  const order = {
    // CREATE FUNCTION ... [RETURNS t] AS (expr) [OPTIONS (...)]
    create_function_stmt: ['returns_clause', 'as_clause', 'bigquery_options'],
    // CREATE VIEW ... [OPTIONS (...)] AS query
    create_view_stmt: ['bigquery_options', 'as_clause'],
    // CREATE TABLE ... [PARTITION BY] [CLUSTER BY] [OPTIONS] [AS query]
    create_table_stmt: ['partition_by_clause', 'cluster_by_clause', 'bigquery_options', 'as_clause'],
  };
  for (const f of sqlFiles()) {
    for (const s of parseFile(f).statements) {
      const want = order[s.node.type];
      if (!want) continue;
      const got = s.node.clauses.map((c) => c.type).filter((t) => want.includes(t));
      const sorted = [...got].sort((a, b) => want.indexOf(a) - want.indexOf(b));
      assert.deepEqual(got, sorted, `${rel(f)}:${s.line}`);
    }
  }
});

test('scheduled queries take @run_time and no other parameter', () => {
  for (const f of sqlFiles('scheduled')) {
    const src = readFileSync(f, 'utf8').replace(/--.*$/gm, '');
    const params = new Set(src.match(/@\w+/g) || []);
    assert.deepEqual([...params], ['@run_time'], rel(f));
  }
});

test('the parser is strict: broken BigQuery does not parse', () => {
  const bad = [
    'CREATE TABLE outbound_sales.t (a STRNG)',
    'CREATE TABLE outbound_sales.t (a STRING,)',
    'SELECT a FROM WHERE b',
    'SELECT COUNT(a FROM t',
    'MERGE INTO t USING s ON WHEN MATCHED THEN DELETE',
    "CREATE OR REPLACE VIEW v OPTIONS (description = 'x' AS SELECT 1",
    'CREATE FUNCTION f(x INT64) RETURNS AS (x)',
    'SELECT * FROM t QUALIFY',
  ];
  for (const sql of bad) assert.throws(() => parseBigQuery(sql), sql);
  // and a real file, damaged, stops parsing
  const src = readFileSync(sqlFiles('ddl').find((f) => f.endsWith('01_events.sql')), 'utf8');
  assert.throws(() => parseBigQuery(src.replace('PARTITION BY DATE(received_at)', 'PARTITION DATE(received_at)')));
  assert.throws(() => parseBigQuery(src.replace('ARRAY<STRING>', 'ARRAY<STRING')));
});

test('every statement outside the DDL translates for DuckDB', () => {
  for (const group of ['udf', 'views', 'scheduled']) {
    for (const f of sqlFiles(group)) {
      const { src, statements } = parseFile(f);
      for (const s of statements) {
        assert.doesNotThrow(() => translate(s.node, src, { runTime: '2024-11-24 12:00:00' }), `${rel(f)}:${s.line}`);
      }
    }
  }
});

test('the translation refuses what it cannot carry over faithfully', () => {
  const tr = (sql) => {
    const cst = parseBigQuery(sql);
    return translate(cst.statements[0], sql, { runTime: '2024-11-24 12:00:00' });
  };
  assert.throws(() => tr('SELECT APPROX_COUNT_DISTINCT(a) FROM t'), /no DuckDB translation/);
  assert.throws(() => tr('SELECT a FROM t WHERE b = @campaign'), /unknown query parameter/);
  assert.throws(() => tr("SELECT 'a\\\\b'"), /escaped string/);
  assert.match(tr('SELECT GREATEST(a, b) FROM t'), /IS NULL/);
  assert.match(tr('SELECT TIMESTAMP_DIFF(a, b, SECOND) FROM t'), /date_sub\('second', b, a\)/);
  assert.match(tr("SELECT REGEXP_EXTRACT(u, r'^x(y)') FROM t"), /CASE WHEN regexp_matches/);
});
