// Views and scheduled queries name only columns, tables and functions that
// exist (lib/columns.mjs, on the BigQuery parse, against the JSON schemas).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sqlFiles, parseFile, parseBigQuery, loadSchema, schemaFiles, rel } from './lib/bq.mjs';
import { columnProblems } from './lib/columns.mjs';

const tables = new Map(schemaFiles().map((t) => [t, new Set(loadSchema(t).map((c) => c.name))]));
const functions = new Set();
for (const f of sqlFiles('udf')) {
  for (const s of parseFile(f).statements) functions.add(s.node.name.property.name);
}
// tables the scheduled queries create with CREATE TABLE ... AS SELECT
for (const f of sqlFiles('scheduled')) {
  for (const s of parseFile(f).statements) {
    if (s.node.type === 'create_table_stmt') tables.set(s.node.name.property.name, null);
  }
}
const ctx = { tables, functions };

test('every statement references existing tables, columns and functions', () => {
  let checked = 0;
  for (const f of sqlFiles()) {
    for (const s of parseFile(f).statements) {
      assert.deepEqual(columnProblems(s.node, ctx), [], `${rel(f)}:${s.line}`);
      checked++;
    }
  }
  assert.ok(checked >= 30);
});

test('the check finds a misspelt column, table, alias or function', () => {
  const problems = (sql) => columnProblems(parseBigQuery(sql).statements[0], ctx);
  assert.deepEqual(problems('SELECT p.intent_score FROM outbound_sales.lead_profiles AS p'), []);
  assert.deepEqual(problems('SELECT p.intent_scor FROM outbound_sales.lead_profiles AS p'),
    ['p.intent_scor: lead_profiles has no column intent_scor']);
  assert.deepEqual(problems('SELECT pagevews FROM outbound_sales.sessions'), ['unknown name pagevews']);
  assert.deepEqual(problems('SELECT 1 FROM outbound_sales.session'), ['unknown table outbound_sales.session']);
  assert.deepEqual(problems('SELECT q.lead_id FROM outbound_sales.sessions AS s'), ['unknown alias q in q.lead_id']);
  assert.deepEqual(problems('SELECT outbound_sales.intent_lvl(1)'), ['unknown function outbound_sales.intent_lvl']);
  assert.deepEqual(problems('INSERT INTO outbound_sales.sessions (session_key, visitors) SELECT 1, 2'),
    ['INSERT: sessions has no column visitors']);
  assert.deepEqual(problems(`MERGE INTO outbound_sales.lead_profiles AS t USING (SELECT 'x' AS lead_id) AS s
    ON t.lead_id = s.lead_id WHEN MATCHED THEN UPDATE SET score = 1`), ['UPDATE SET: lead_profiles has no column score']);
  // every real file, with one column misspelt, is caught
  for (const f of [...sqlFiles('views'), ...sqlFiles('scheduled')]) {
    const { statements } = parseFile(f);
    const alias = /\b([a-z]{1,3})\.([a-z_]+)\b/;
    const bare = /(?<![.\w'<])lead_id\b/;
    const s = statements.find((x) => alias.test(x.text)) || statements.find((x) => bare.test(x.text));
    const broken = alias.test(s.text) ? s.text.replace(alias, '$1.$2_x') : s.text.replace(bare, 'lead_idd');
    assert.notDeepEqual(columnProblems(parseBigQuery(broken).statements[0], ctx), [], rel(f));
  }
});
