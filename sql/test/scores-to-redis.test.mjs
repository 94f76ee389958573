// sql/tools/scores-to-redis.mjs: score_export rows (made by the export
// query from the activity fixture) become Redis commands; loaded into a
// real redis-server they give the hashes the edge reads back.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { SQL_DIR } from './lib/bq.mjs';
import { loadActivity, replayFixture } from './lib/fixture.mjs';
import { toCommands, render, FIELDS, InputError } from '../tools/scores-to-redis.mjs';

const TOOL = join(SQL_DIR, 'tools', 'scores-to-redis.mjs');
const fx = loadActivity();
let rows;
let dir;

before(async () => {
  const { wh } = await replayFixture(fx);
  rows = await wh.query('SELECT * FROM outbound_sales.score_export ORDER BY lead_id');
  wh.close();
  dir = mkdtempSync(join(tmpdir(), 'oie-scores-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

const run = (args, input) => spawnSync(process.execPath, [TOOL, ...args], { input, encoding: 'utf8' });

// RESP arrays back into argument lists
function parseResp(text) {
  const out = [];
  let i = 0;
  const line = () => {
    const j = text.indexOf('\r\n', i);
    const l = text.slice(i, j);
    i = j + 2;
    return l;
  };
  while (i < text.length) {
    const head = line();
    assert.match(head, /^\*\d+$/);
    const args = [];
    for (let n = Number(head.slice(1)); n > 0; n--) {
      const len = Number(line().slice(1));
      args.push(text.slice(i, i + len));
      i += len + 2;
    }
    out.push(args);
  }
  return out;
}

test('export rows (bq NDJSON, INT64 as strings) become DEL, HSET and PEXPIREAT per lead', () => {
  const ndjson = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const file = join(dir, 'export.ndjson');
  writeFileSync(file, ndjson);
  const r = run([file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${rows.length} leads`));
  const cmds = parseResp(r.stdout);
  assert.equal(cmds.length, rows.length * 3);
  rows.forEach((row, n) => {
    const [del, hset, exp] = cmds.slice(n * 3, n * 3 + 3);
    assert.deepEqual(del, ['DEL', `oie:score:${row.lead_id}`]);
    assert.equal(hset[0], 'HSET');
    const fields = Object.fromEntries(hset.slice(2).reduce((acc, v, k, a) => (k % 2 ? acc : [...acc, [v, a[k + 1]]]), []));
    assert.deepEqual(Object.keys(fields), FIELDS);
    for (const f of FIELDS) assert.equal(fields[f], String(row[f]), `${row.lead_id}.${f}`);
    assert.deepEqual(exp, ['PEXPIREAT', `oie:score:${row.lead_id}`, String(BigInt(row.last_seen_ms) + 90n * 86400000n)]);
  });
});

test('a JSON array (bq query --format=json) and numbers work too; text format reads plainly', () => {
  const arr = JSON.stringify(rows.slice(0, 2).map((r) => ({ ...r, sessions: Number(r.sessions) })));
  const r = run(['--format', 'text', '--ttl-days', '30', '-'], arr);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 6);
  assert.match(lines[1], new RegExp(`^HSET oie:score:${rows[0].lead_id} last_seen_ms \\d+ sessions ${rows[0].sessions} `));
  assert.equal(lines[2], `PEXPIREAT oie:score:${rows[0].lead_id} ${BigInt(rows[0].last_seen_ms) + 30n * 86400000n}`);
});

test('bad input writes nothing, exits 1 and names the line', () => {
  const good = JSON.stringify(rows[0]);
  const cases = [
    [`${good}\n{"lead_id": "A1iceQ7",\n`, /:2: not valid JSON/],
    [`${good}\n${JSON.stringify({ ...rows[1], sessions: '1.5' })}\n`, /:2: sessions is "1.5", not a 64-bit integer/],
    [`${good}\n${JSON.stringify({ ...rows[1], sessions: '9223372036854775808' })}\n`, /:2: sessions .* not a 64-bit integer/],
    [`${JSON.stringify({ ...rows[0], lead_id: 'x y' })}\n`, /:1: lead_id "x y" is not 6-8 base62/],
    [`${JSON.stringify({ ...rows[0], redis_key: 'oie:lead:A1iceQ7' })}\n`, /:1: redis_key/],
    [`${good}\n\n${good}\n`, /:3: lead A1iceQ7 appears twice/],
    [`${JSON.stringify({ ...rows[0], pageviews: null })}\n`, /:1: field pageviews is missing/],
    ['', /no rows/],
    ['[1, 2]', /row 1: a row is a JSON object/],
    ['[{"lead_id"', /not valid JSON/],
  ];
  for (const [input, err] of cases) {
    const r = run(['-'], input);
    assert.equal(r.status, 1, input);
    assert.equal(r.stdout, '', 'nothing written');
    assert.match(r.stderr, err);
  }
  assert.throws(() => toCommands('{}', {}), InputError);
});

test('usage errors exit 2; --help exits 0', () => {
  assert.equal(run([]).status, 2);
  assert.equal(run(['--format', 'xml', '-']).status, 2);
  assert.equal(run(['--ttl-days', '0', '-']).status, 2);
  assert.equal(run(['--bogus', '-']).status, 2);
  assert.equal(run(['a', 'b']).status, 2);
  const h = run(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage/);
  assert.equal(run([join(dir, 'missing.ndjson')]).status, 1);
});

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

test('loaded with redis-cli --pipe into a real redis-server, the hashes hold the counters',
  { skip: !(have('redis-server') && have('redis-cli')) && 'redis-server or redis-cli not installed' },
  async () => {
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    try {
      let up = false;
      for (let i = 0; i < 100 && !up && server.exitCode === null; i++) {
        up = spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8' }).stdout.trim() === 'PONG';
        if (!up) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(up && server.exitCode === null, 'our redis-server answers');
      // a stale field and a stale counter the load must replace
      spawnSync('redis-cli', ['-p', String(port), 'HSET', `oie:score:${rows[0].lead_id}`, 'sessions', '999', 'stale', '1']);
      // the fixture lives in 2024: move its times to now, or every key
      // would be loaded already expired (which is what a stale lead gets)
      const shift = BigInt(Date.now()) - BigInt(Date.parse(fx.run_time));
      const fresh = rows.map((r) => ({
        ...r,
        last_seen_ms: String(BigInt(r.last_seen_ms) + shift),
        last_page_ms: r.last_page_ms === '0' ? '0' : String(BigInt(r.last_page_ms) + shift),
        last_human_click_ms: r.last_human_click_ms === '0' ? '0' : String(BigInt(r.last_human_click_ms) + shift),
      }));
      const stale = { ...rows[0], lead_id: 'St4le00', redis_key: 'oie:score:St4le00' };
      const cmds = render(toCommands([...fresh, stale].map((r) => JSON.stringify(r)).join('\n'), { name: 'export' }));
      const pipe = spawnSync('redis-cli', ['-p', String(port), '--pipe'], { input: cmds, encoding: 'utf8' });
      assert.equal(pipe.status, 0, pipe.stderr + pipe.stdout);
      assert.match(pipe.stdout, /errors: 0, replies: \d+/);
      const gone = spawnSync('redis-cli', ['-p', String(port), 'EXISTS', 'oie:score:St4le00'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(gone, '0', 'a lead last seen more than 90 days ago is not kept');
      for (const row of fresh) {
        const out = spawnSync('redis-cli', ['-p', String(port), '--no-raw', 'HGETALL', `oie:score:${row.lead_id}`], { encoding: 'utf8' }).stdout;
        const vals = [...out.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
        const h = Object.fromEntries(vals.reduce((acc, v, k, a) => (k % 2 ? acc : [...acc, [v, a[k + 1]]]), []));
        assert.deepEqual(Object.keys(h).sort(), [...FIELDS].sort(), row.lead_id);
        for (const f of FIELDS) assert.equal(h[f], String(row[f]), `${row.lead_id}.${f}`);
        const ttl = Number(spawnSync('redis-cli', ['-p', String(port), 'PEXPIRETIME', `oie:score:${row.lead_id}`], { encoding: 'utf8' }).stdout);
        assert.equal(ttl, Number(row.last_seen_ms) + 90 * 86400000, `${row.lead_id} expiry`);
      }
    } finally {
      server.kill('SIGTERM');
    }
  });
