#!/usr/bin/env node
// Creates the dataset outbound_sales in a Google Cloud project with the bq
// CLI: tables, the high-intent URL patterns, the scoring functions, the
// views, and the scheduled queries.  Safe to rerun: tables are created if
// missing, functions and views replaced, the pattern seed only adds.
//
//   node sql/tools/bq-setup.mjs --project P [--location US] [--dry-run]
//        [--schedule "every 1 hours"] [--separate]
//        [--service-account NAME@P.iam.gserviceaccount.com]
//
// The scheduled queries go in as one transfer config running
// sql/scheduled/*.sql in order (sessions, then profiles and scores, then
// the Redis export and hot-lead detection), so each step sees the one
// before it; --separate makes one transfer config per file instead.
// --dry-run prints the bq commands and runs nothing.  Exit codes: 0 done,
// 1 a bq command failed, 2 bad usage.

import { readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';

const SQL_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = (dir) => readdirSync(join(SQL_DIR, dir)).filter((f) => f.endsWith('.sql')).sort().map((f) => join(SQL_DIR, dir, f));

function usage(msg, code = 2) {
  if (msg) process.stderr.write(`bq-setup: ${msg}\n`);
  (code ? process.stderr : process.stdout).write(
    'usage: bq-setup.mjs --project P [--location L] [--dry-run] [--schedule S] [--separate] [--service-account SA]\n');
  process.exit(code);
}

export function plan(opts) {
  const steps = [];
  const global = [`--project_id=${opts.project}`, `--location=${opts.location}`];
  for (const f of [...files('ddl'), ...files('udf'), ...files('views')]) {
    steps.push({
      what: relative(SQL_DIR, f),
      args: [...global, 'query', '--use_legacy_sql=false', '--nouse_cache'],
      stdin: readFileSync(f, 'utf8'),
    });
  }
  const scheduled = files('scheduled');
  const groups = opts.separate
    ? scheduled.map((f) => ({ name: `oie ${relative(join(SQL_DIR, 'scheduled'), f).replace(/\.sql$/, '')}`, files: [f] }))
    : [{ name: 'oie hourly: sessions, scores, Redis export, hot leads', files: scheduled }];
  for (const g of groups) {
    const query = g.files.map((f) => readFileSync(f, 'utf8').trim()).join('\n\n');
    const args = [...global, 'mk', '--transfer_config', '--data_source=scheduled_query',
      `--display_name=${g.name}`, `--schedule=${opts.schedule}`, `--params=${JSON.stringify({ query })}`];
    if (opts.serviceAccount) args.push(`--service_account_name=${opts.serviceAccount}`);
    steps.push({ what: `schedule: ${g.name}`, args, stdin: null });
  }
  return steps;
}

function main(argv) {
  const opts = { location: 'US', schedule: 'every 1 hours', separate: false, dryRun: false, project: null, serviceAccount: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--project') opts.project = value();
    else if (a === '--location') opts.location = value();
    else if (a === '--schedule') opts.schedule = value();
    else if (a === '--service-account') opts.serviceAccount = value();
    else if (a === '--separate') opts.separate = true;
    else if (a === '--dry-run') opts.dryRun = true;
    else if (a === '--help' || a === '-h') usage(null, 0);
    else usage(`unknown argument ${a}`);
  }
  if (!opts.project || !/^[a-z][a-z0-9:.-]{4,62}$/.test(opts.project)) usage('--project takes a Google Cloud project id');
  const bq = process.env.BQ || 'bq';
  for (const step of plan(opts)) {
    if (opts.dryRun) {
      const shown = step.args.map((x) => (/[\s'"{}]/.test(x) ? `'${x.replace(/'/g, "'\\''")}'` : x)).join(' ');
      process.stdout.write(`${bq} ${shown}${step.stdin !== null ? ` < sql/${step.what}` : ''}\n`);
      continue;
    }
    process.stderr.write(`bq-setup: ${step.what}\n`);
    const r = spawnSync(bq, step.args, { input: step.stdin ?? '', stdio: ['pipe', 'inherit', 'inherit'] });
    if (r.error || r.status !== 0) {
      process.stderr.write(`bq-setup: ${step.what}: bq ${r.error ? r.error.message : `exited ${r.status}`}\n`);
      process.exit(1);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2));
}
