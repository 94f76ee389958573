// sql/tools/bq-setup.mjs drives a stand-in bq that records its calls: every
// file is sent once, in order, and the scheduled query it registers is the
// scheduled files in order and parses as BigQuery.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQL_DIR, sqlFiles, rel, parseBigQuery } from './lib/bq.mjs';

const TOOL = join(SQL_DIR, 'tools', 'bq-setup.mjs');

function withFakeBq(args, { fail } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'oie-bq-'));
  try {
    const log = join(dir, 'calls.jsonl');
    const fake = join(dir, 'bq');
    writeFileSync(fake, `#!/usr/bin/env node
const fs = require('fs');
const stdin = fs.readFileSync(0, 'utf8');
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ argv: process.argv.slice(2), stdin }) + '\\n');
process.exit(${fail ? `process.argv.includes('mk') ? 3 : 0` : 0});
`);
    chmodSync(fake, 0o755);
    const r = spawnSync(process.execPath, [TOOL, ...args], { encoding: 'utf8', env: { ...process.env, BQ: fake } });
    let calls = [];
    try {
      calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    } catch { /* no calls */ }
    return { ...r, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('creates tables, functions and views in order, then one hourly transfer', () => {
  const r = withFakeBq(['--project', 'acme-sales', '--location', 'EU']);
  assert.equal(r.status, 0, r.stderr);
  const creates = [...sqlFiles('ddl'), ...sqlFiles('udf'), ...sqlFiles('views')];
  assert.equal(r.calls.length, creates.length + 1);
  creates.forEach((f, i) => {
    assert.deepEqual(r.calls[i].argv, ['--project_id=acme-sales', '--location=EU', 'query', '--use_legacy_sql=false', '--nouse_cache'], rel(f));
    assert.equal(r.calls[i].stdin, readFileSync(f, 'utf8'), rel(f));
  });
  const mk = r.calls.at(-1).argv;
  assert.deepEqual(mk.slice(0, 5), ['--project_id=acme-sales', '--location=EU', 'mk', '--transfer_config', '--data_source=scheduled_query']);
  assert.ok(mk.includes('--schedule=every 1 hours'));
  const params = JSON.parse(mk.find((a) => a.startsWith('--params=')).slice('--params='.length));
  const want = sqlFiles('scheduled').map((f) => readFileSync(f, 'utf8').trim()).join('\n\n');
  assert.equal(params.query, want);
  const stmts = parseBigQuery(params.query).statements.filter((s) => s.type !== 'empty');
  assert.ok(stmts.length >= 9, 'the whole hourly script parses as one BigQuery script');
});

test('--separate registers one transfer per scheduled file; --service-account is passed on', () => {
  const r = withFakeBq(['--project', 'acme-sales', '--separate', '--service-account', 'oie@acme-sales.iam.gserviceaccount.com']);
  assert.equal(r.status, 0, r.stderr);
  const mks = r.calls.filter((c) => c.argv.includes('mk'));
  assert.equal(mks.length, sqlFiles('scheduled').length);
  for (const m of mks) {
    assert.ok(m.argv.includes('--location=US'));
    assert.ok(m.argv.includes('--service_account_name=oie@acme-sales.iam.gserviceaccount.com'));
  }
});

test('a failing bq stops the setup with exit 1', () => {
  const r = withFakeBq(['--project', 'acme-sales'], { fail: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bq exited 3/);
});

test('--dry-run runs nothing; bad usage exits 2', () => {
  const dry = withFakeBq(['--project', 'acme-sales', '--dry-run']);
  assert.equal(dry.status, 0);
  assert.equal(dry.calls.length, 0);
  assert.match(dry.stdout, /query --use_legacy_sql=false --nouse_cache < sql\/ddl\/01_events.sql/);
  assert.match(dry.stdout, /mk --transfer_config/);
  assert.equal(withFakeBq([]).status, 2);
  assert.equal(withFakeBq(['--project', 'Bad Project']).status, 2);
  assert.equal(withFakeBq(['--project']).status, 2);
  assert.equal(withFakeBq(['--project', 'acme-sales', '--frobnicate']).status, 2);
});
