// make bench, part: what the BigQuery stand-in spends on a row, without
// HTTP: JSON.parse of an insertAll body of 500 events rows shaped as the
// module writes them, then the row checks against sql/schemas (the same
// validateRow the server runs).  The best of BENCH_STUB_REPS repetitions of
// 100 bodies.  On a 2-core machine the stand-in's CPU is taken from nginx's
// when nothing can be pinned apart (2 workers): this says how much.
//
//   node scripts/bench-stub.mjs

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSchemaDirs, validateRow } from '../t/bqstub/lib/schema.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const reps = Number(process.env.BENCH_STUB_REPS ?? 8);
const fields = loadSchemaDirs([join(root, 'sql/schemas')]).get('events');

function row(i) {
    const id = i.toString(16).padStart(32, '0');

    return {
        insertId: id,
        json: {
            event_id: id,
            event_type: 'pageview',
            event_time: '2024-11-24T00:00:00.000Z',
            received_at: '2026-12-07T03:17:04.959Z',
            sent_at: '2024-11-24T00:00:00.100Z',
            session_id: 's_8f2k1m',
            visitor_id: 'aB3dE9x',
            url: `https://example.com/pricing?p=${i}`,
            lead_id: 'aB3dE9x',
            referrer: 'https://mail.google.com/',
            title: 'Pricing - Example',
            utm_source: 'email',
            utm_medium: 'cold-email',
            utm_campaign: 'q1-outbound',
            ip: '127.0.0.1',
            traffic_class: 'human',
            traffic_reasons: ['ua:browser'],
        },
    };
}

const rows = Array.from({ length: 500 }, (_, i) => row(i));
const body = Buffer.from(JSON.stringify({ rows }));
let best = Infinity, bestParse = 0, errors = 0;

for (let rep = 0; rep < reps; rep++) {
    let parse = 0n, n = 0;
    const t0 = process.hrtime.bigint();

    for (let k = 0; k < 100; k++) {
        const a = process.hrtime.bigint();
        const doc = JSON.parse(body.toString('utf8'));

        parse += process.hrtime.bigint() - a;
        for (const r of doc.rows) {
            errors += validateRow(fields, r.json).errors.length;
            n++;
        }
    }
    const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;

    if (us < best) {
        best = us;
        bestParse = Number(parse) / 1e3 / n;
    }
}

if (errors > 0) {
    // the rows no longer match sql/schemas: the figure would be of the
    // error path, not of rows being stored
    console.error(`bench-stub: ${errors} row errors: the bench's rows do not fit sql/schemas/events.json`);
    process.exit(1);
}
console.log(`stand-in, without HTTP: ${best.toFixed(2)} us a row (JSON.parse ${bestParse.toFixed(2)},`
            + ` row checks ${(best - bestParse).toFixed(2)}); insertAll body of 500 rows,`
            + ` ${Math.round(body.length / 500)} B a row, best of ${reps} x 100 bodies`);
