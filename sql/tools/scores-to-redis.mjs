#!/usr/bin/env node
// Turns rows of outbound_sales.score_export into Redis commands that put
// the edge's live score counters (hash oie:score:<lead_id>) back on the
// warehouse's.  Reads NDJSON (bq extract --destination_format
// NEWLINE_DELIMITED_JSON) or a JSON array (bq query --format=json); numbers
// may be JSON numbers or the decimal strings bq prints for INT64.
//
//   node sql/tools/scores-to-redis.mjs [--ttl-days N] [--format resp|text] FILE|-
//   ... | redis-cli -h HOST -p PORT --pipe
//
// Per row: DEL, HSET of every field of definition.json redis_fields, and
// PEXPIREAT at last_seen_ms + ttl days (the scoring window: a lead with no
// activity for that long has nothing left to score).  Every row is checked
// before anything is written: a bad file writes nothing and exits 1 naming
// the line.  Exit codes: 0 done, 1 bad input, 2 bad usage.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const definition = JSON.parse(readFileSync(join(here, '..', 'scoring', 'definition.json'), 'utf8'));
export const FIELDS = definition.redis_fields;
const KEY_PREFIX = 'oie:score:';
const LEAD_ID = /^[0-9A-Za-z]{6,8}$/;
const INT = /^-?\d{1,19}$/;

export class InputError extends Error {}

function parseRows(text, name) {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let rows;
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${name}: not valid JSON: ${e.message}`);
    }
    if (!Array.isArray(rows)) throw new InputError(`${name}: expected an array of rows`);
    return rows.map((row, i) => ({ row, where: `${name}: row ${i + 1}` }));
  }
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new InputError(`${name}:${i + 1}: not valid JSON: ${e.message}`);
    }
    out.push({ row, where: `${name}:${i + 1}` });
  });
  return out;
}

function integer(v, field, where) {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INT.test(v)) {
    const b = BigInt(v);
    if (b >= -(2n ** 63n) && b < 2n ** 63n) return b;
  }
  throw new InputError(`${where}: ${field} is ${JSON.stringify(v)}, not a 64-bit integer`);
}

// [{ key, fields: [[name, value]...], expireAtMs }]
export function toCommands(text, { name = 'input', ttlDays = definition.window_days } = {}) {
  const rows = parseRows(text, name);
  if (rows.length === 0) throw new InputError(`${name}: no rows`);
  const seen = new Set();
  return rows.map(({ row, where }) => {
    if (!row || typeof row !== 'object' || Array.isArray(row)) throw new InputError(`${where}: a row is a JSON object`);
    const lead = row.lead_id;
    if (typeof lead !== 'string' || !LEAD_ID.test(lead)) {
      throw new InputError(`${where}: lead_id ${JSON.stringify(lead)} is not 6-8 base62 characters`);
    }
    const key = KEY_PREFIX + lead;
    if (row.redis_key !== undefined && row.redis_key !== key) {
      throw new InputError(`${where}: redis_key ${JSON.stringify(row.redis_key)} is not ${key}`);
    }
    if (seen.has(key)) throw new InputError(`${where}: lead ${lead} appears twice`);
    seen.add(key);
    const fields = FIELDS.map((f) => {
      if (row[f] === undefined || row[f] === null) throw new InputError(`${where}: field ${f} is missing`);
      return [f, integer(row[f], f, where)];
    });
    const lastSeen = fields.find(([f]) => f === 'last_seen_ms')[1];
    return { key, fields, expireAtMs: lastSeen + BigInt(ttlDays) * 86400000n };
  });
}

function resp(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

export function render(commands, format = 'resp') {
  const lines = [];
  for (const c of commands) {
    const cmds = [
      ['DEL', c.key],
      ['HSET', c.key, ...c.fields.flatMap(([f, v]) => [f, v.toString()])],
      ['PEXPIREAT', c.key, c.expireAtMs.toString()],
    ];
    for (const cmd of cmds) lines.push(format === 'resp' ? resp(cmd) : `${cmd.join(' ')}\n`);
  }
  return lines.join('');
}

function usage(msg) {
  if (msg) process.stderr.write(`scores-to-redis: ${msg}\n`);
  process.stderr.write('usage: scores-to-redis.mjs [--ttl-days N] [--format resp|text] FILE|-\n');
  process.exit(2);
}

function main(argv) {
  let ttlDays = definition.window_days;
  let format = 'resp';
  let file = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      process.stdout.write('usage: scores-to-redis.mjs [--ttl-days N] [--format resp|text] FILE|-\n'
        + 'Writes Redis commands (RESP for redis-cli --pipe, or text) that load\n'
        + 'outbound_sales.score_export rows into the hashes oie:score:<lead_id>.\n');
      process.exit(0);
    } else if (a === '--ttl-days') {
      ttlDays = Number(argv[++i]);
      if (!Number.isInteger(ttlDays) || ttlDays < 1) usage('--ttl-days takes a whole number of days');
    } else if (a === '--format') {
      format = argv[++i];
      if (!['resp', 'text'].includes(format)) usage('--format is resp or text');
    } else if (a.startsWith('-') && a !== '-') {
      usage(`unknown option ${a}`);
    } else if (file === null) {
      file = a;
    } else {
      usage('one input file');
    }
  }
  if (file === null) usage('no input file');
  let text;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    process.stderr.write(`scores-to-redis: ${file}: ${e.message}\n`);
    process.exit(1);
  }
  try {
    const commands = toCommands(text, { name: file === '-' ? 'stdin' : file, ttlDays });
    process.stdout.write(render(commands, format));
    process.stderr.write(`scores-to-redis: ${commands.length} leads\n`);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    process.stderr.write(`scores-to-redis: ${e.message}\n`);
    process.exit(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2));
}
