// tabledata.insertAll: auth, routing, envelope, limits, row errors, dedup.

import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
    ctl, eventRow, getToken, insertAll, insertPath, request, rowsOf, startStub,
} from './helpers.mjs';

let stub, token;

before(async () => {
    stub = await startStub();
    token = await getToken(stub);
});
after(async () => {
    await stub?.stop();
});
beforeEach(async () => {
    await ctl(stub, 'reset', {});
});

function googleErrorShape(r, code, reason) {
    assert.equal(r.status, code, r.text);
    assert.match(r.headers['content-type'], /^application\/json/);
    assert.equal(r.json.error.code, code);
    assert.equal(typeof r.json.error.message, 'string');
    assert.equal(typeof r.json.error.status, 'string');
    assert.equal(r.json.error.errors.length, 1);
    assert.equal(r.json.error.errors[0].reason, reason);
    assert.equal(r.json.error.errors[0].domain, 'global');
    assert.equal(r.json.error.errors[0].message, r.json.error.message);
}

async function stored(table) {
    return (await ctl(stub, `rows?table=${table}`)).rows;
}

describe('auth', () => {
    test('no Authorization header: 401 required', async () => {
        const r = await request(stub, insertPath('events'), { body: rowsOf(eventRow()) });
        googleErrorShape(r, 401, 'required');
        assert.equal(r.json.error.status, 'UNAUTHENTICATED');
        assert.equal(r.json.error.errors[0].location, 'Authorization');
        assert.match(r.headers['www-authenticate'], /^Bearer realm=/);
    });

    test('a token it never issued: 401 authError', async () => {
        const r = await insertAll(stub, 'ya29.made-up', 'events', rowsOf(eventRow()));
        googleErrorShape(r, 401, 'authError');
        assert.match(r.json.error.message, /unknown access token/);
    });

    test('not a Bearer credential: 401', async () => {
        const r = await request(stub, insertPath('events'), {
            headers: { Authorization: `Basic ${token}` }, body: rowsOf(eventRow()),
        });
        googleErrorShape(r, 401, 'authError');
    });

    test('nothing is stored on a 401', async () => {
        await insertAll(stub, 'nope', 'events', rowsOf(eventRow()));
        assert.deepEqual(await stored('events'), []);
    });
});

describe('routing', () => {
    test('unknown project, dataset or table: 404 notFound', async () => {
        let r = await insertAll(stub, token, 'events', rowsOf(eventRow()),
                                { project: 'other-project' });
        googleErrorShape(r, 404, 'notFound');
        assert.equal(r.json.error.status, 'NOT_FOUND');
        assert.match(r.json.error.message, /Project other-project/);

        r = await insertAll(stub, token, 'events', rowsOf(eventRow()),
                            { dataset: 'nope' });
        googleErrorShape(r, 404, 'notFound');
        assert.match(r.json.error.message, /Dataset oie-test:nope/);

        r = await insertAll(stub, token, 'sessions_typo', rowsOf(eventRow()));
        googleErrorShape(r, 404, 'notFound');
        assert.match(r.json.error.message, /Table oie-test:outbound_sales.sessions_typo/);
    });

    test('a query string (alt=json, prettyPrint) is fine', async () => {
        const r = await request(stub, insertPath('events') + '?alt=json&prettyPrint=false', {
            headers: { Authorization: `Bearer ${token}` }, body: rowsOf(eventRow()),
        });
        assert.equal(r.status, 200, r.text);
    });

    test('other paths and GET insertAll: 404', async () => {
        let r = await request(stub, '/bigquery/v2/projects/oie-test/queries');
        googleErrorShape(r, 404, 'notFound');
        r = await request(stub, insertPath('events'), {
            headers: { Authorization: `Bearer ${token}` },
        });
        googleErrorShape(r, 404, 'notFound');
    });
});

describe('envelope', () => {
    const bad = async (payload, re, opts = {}) => {
        const r = await insertAll(stub, token, 'events', payload, opts);
        googleErrorShape(r, 400, opts.reason ?? 'badRequest');
        assert.equal(r.json.error.status, 'INVALID_ARGUMENT');
        assert.match(r.json.error.message, re);
        return r;
    };

    test('Content-Type must be application/json', async () => {
        await bad(JSON.stringify(rowsOf(eventRow())), /Content-Type/,
                  { headers: { 'Content-Type': 'text/plain' } });
        await bad(JSON.stringify(rowsOf(eventRow())), /Content-Type/,
                  { headers: { 'Content-Type': 'application/x-ndjson' } });
        const r = await insertAll(stub, token, 'events', JSON.stringify(rowsOf(eventRow())), {
            headers: { 'Content-Type': 'application/json; charset=utf-8' },
        });
        assert.equal(r.status, 200, r.text);
    });

    test('a body that is not JSON', async () => {
        await bad('{"rows": [', /Invalid JSON payload/,
                  { headers: { 'Content-Type': 'application/json' } });
        await bad('[]', /JSON object/, { headers: { 'Content-Type': 'application/json' } });
    });

    test('unknown names are refused, top level and in rows', async () => {
        await bad({ rows: [{ json: eventRow() }], skipInvalidRow: true },
                  /Unknown name "skipInvalidRow"/);
        await bad({ rows: [{ insertID: 'x', json: eventRow() }] },
                  /Unknown name "insertID" at 'rows\[0\]'/);
    });

    test('field types of the envelope', async () => {
        await bad({ rows: [{ json: eventRow() }], skipInvalidRows: 'yes' },
                  /skipInvalidRows/);
        await bad({ rows: { json: eventRow() } }, /'rows'/);
        await bad({ rows: [{ insertId: 7, json: eventRow() }] }, /insert_id/);
        await bad({ rows: [{ insertId: 'a' }] }, /rows\[0\]\.json/);
        await bad({ rows: [{ insertId: 'a', json: [] }] }, /rows\[0\]\.json/);
        await bad({ rows: ['x'] }, /rows\[0\]/);
    });

    test('kind and traceId are accepted', async () => {
        const r = await insertAll(stub, token, 'events', {
            kind: 'bigquery#tableDataInsertAllRequest',
            traceId: 'abc',
            rows: [{ insertId: 'k1', json: eventRow() }],
        });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json, { kind: 'bigquery#tableDataInsertAllResponse' });
    });

    test('no rows: 400 invalid', async () => {
        await bad({ rows: [] }, /No rows present/, { reason: 'invalid' });
        await bad({}, /No rows present/, { reason: 'invalid' });
    });

    test('more than 50000 rows: 400 invalid; exactly 50000 is fine', async () => {
        const rows = Array.from({ length: 50001 }, (_, i) => ({
            json: { id: `r${i}` },
        }));
        let r = await insertAll(stub, token, 'alltypes', { rows });
        googleErrorShape(r, 400, 'invalid');
        assert.match(r.json.error.message, /limit: 50000 row count: 50001/);

        r = await insertAll(stub, token, 'alltypes', { rows: rows.slice(1) });
        assert.equal(r.status, 200, r.text.slice(0, 200));
        assert.equal((await ctl(stub, 'stats')).rowsStored, 50000);
    });

    test('over 10 MB: 400 payload size; far over: 413', async () => {
        const big = 'x'.repeat(10 * 1024 * 1024);
        let r = await insertAll(stub, token, 'events',
                                rowsOf(eventRow({ title: big })));
        googleErrorShape(r, 400, 'badRequest');
        assert.match(r.json.error.message,
                     /Request payload size exceeds the limit: 10485760 bytes/);

        r = await insertAll(stub, token, 'events',
                            rowsOf(eventRow({ title: big + big + 'y' })));
        assert.equal(r.status, 413);
        assert.equal(r.json.error.errors[0].reason, 'requestTooLarge');
        assert.deepEqual(await stored('events'), []);
    });

    test('a gzip-encoded body is accepted', async () => {
        const row = eventRow();
        const r = await insertAll(stub, token, 'events', gzipSync(JSON.stringify(rowsOf(row))), {
            headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        });
        assert.equal(r.status, 200, r.text);
        assert.equal((await stored('events'))[0].insertId, row.event_id);
    });

    test('a broken gzip body or an unknown encoding is a clear 400', async () => {
        let r = await insertAll(stub, token, 'events', 'not gzip', {
            headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
        });
        googleErrorShape(r, 400, 'badRequest');
        r = await insertAll(stub, token, 'events', 'x', {
            headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'br' },
        });
        googleErrorShape(r, 400, 'badRequest');
        assert.match(r.json.error.message, /Content-Encoding br/);
    });
});

describe('storing and dedup', () => {
    test('stores rows in arrival order with their insertIds', async () => {
        const a = eventRow(), b = eventRow(), c = eventRow({ event_type: 'scroll',
                                                              scroll_depth: 50 });
        let r = await insertAll(stub, token, 'events', rowsOf(a, b));
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, { kind: 'bigquery#tableDataInsertAllResponse' });
        r = await insertAll(stub, token, 'events', rowsOf(c));
        assert.equal(r.status, 200);

        const rows = await stored('events');
        assert.deepEqual(rows.map((x) => x.insertId), [a.event_id, b.event_id, c.event_id]);
        assert.deepEqual(rows[2].json, c);
        assert.equal(rows[0].table, 'events');
        assert.equal(rows[0].dataset, 'outbound_sales');
        assert.deepEqual(rows.map((x) => x.seq), [1, 2, 3]);
    });

    test('tables are kept apart', async () => {
        const click = {
            event_id: 'c1', event_type: 'email_click', event_time: 1732406400,
            received_at: 1732406400, outcome: 'ok', lead_id: 'Ab3dE9',
            traffic_reasons: [],
        };
        const r = await insertAll(stub, token, 'email_clicks',
                                  { rows: [{ insertId: 'c1', json: click }] });
        assert.equal(r.status, 200, r.text);
        assert.equal((await stored('email_clicks')).length, 1);
        assert.equal((await stored('events')).length, 0);
        assert.equal((await ctl(stub, 'rows')).rows.length, 1);
        const s = await ctl(stub, 'stats');
        assert.deepEqual(s.rowsByTable, { email_clicks: 1 });
    });

    test('a row with a known insertId is not stored again', async () => {
        const a = eventRow(), b = eventRow();
        await insertAll(stub, token, 'events', rowsOf(a));
        const r = await insertAll(stub, token, 'events', rowsOf(a, b));
        assert.equal(r.status, 200);
        assert.equal(r.json.insertErrors, undefined);
        assert.deepEqual((await stored('events')).map((x) => x.insertId),
                         [a.event_id, b.event_id]);
        const s = await ctl(stub, 'stats');
        assert.equal(s.rowsStored, 2);
        assert.equal(s.duplicatesSkipped, 1);
    });

    test('duplicates inside one request are stored once', async () => {
        const a = eventRow();
        await insertAll(stub, token, 'events', rowsOf(a, a, a));
        assert.equal((await stored('events')).length, 1);
        assert.equal((await ctl(stub, 'stats')).duplicatesSkipped, 2);
    });

    test('rows without insertId are always stored', async () => {
        const a = eventRow();
        await insertAll(stub, token, 'events', { rows: [{ json: a }, { json: a }] });
        const rows = await stored('events');
        assert.equal(rows.length, 2);
        assert.equal(rows[0].insertId, null);
    });

    test('large bodies, several at once, are each read whole', async () => {
        // bodies over 64 KB are put together in reused buffers: one request's
        // rows must never show up in, or be cut by, another's
        const batches = [1, 2, 3, 4, 5, 6].map((k) => {
            const rows = [];
            for (let i = 0; i < 400; i++) {
                rows.push(eventRow({ title: `batch ${k} row ${i} ${'é'.repeat(k * 20)}` }));
            }
            return rows;
        });
        const replies = await Promise.all(batches.map(
            (rows) => insertAll(stub, token, 'events', rowsOf(...rows))));
        for (const r of replies) {
            assert.equal(r.status, 200, r.text);
            assert.equal(r.json.insertErrors, undefined, r.text);
        }
        const byId = new Map((await stored('events')).map((x) => [x.insertId, x.json]));
        assert.equal(byId.size, 2400);
        for (const rows of batches) {
            for (const row of rows) {
                assert.deepEqual(byId.get(row.event_id), row);
            }
        }
        // and again, now that the buffers are reused
        const again = batches.map((rows) => rows.map((row) => eventRow({ title: row.title })));
        for (const rows of again) {
            assert.equal((await insertAll(stub, token, 'events', rowsOf(...rows))).status, 200);
        }
        const all = new Map((await stored('events')).map((x) => [x.insertId, x.json]));
        assert.equal(all.size, 4800);
        assert.deepEqual(all.get(again[5][399].event_id), again[5][399]);
    });

    test('reset forgets rows, insertIds and stats', async () => {
        const a = eventRow();
        await insertAll(stub, token, 'events', rowsOf(a));
        await ctl(stub, 'reset', {});
        assert.deepEqual(await stored('events'), []);
        assert.equal((await ctl(stub, 'stats')).requestsTotal, 0);
        await insertAll(stub, token, 'events', rowsOf(a));
        assert.equal((await stored('events')).length, 1);
    });
});

describe('row errors', () => {
    test('an invalid row stops the others; nothing is stored', async () => {
        const good1 = eventRow(), bad = eventRow({ scroll_depth: 'deep' }), good2 = eventRow();
        const r = await insertAll(stub, token, 'events', rowsOf(good1, bad, good2));
        assert.equal(r.status, 200);
        assert.equal(r.json.kind, 'bigquery#tableDataInsertAllResponse');
        assert.deepEqual(r.json.insertErrors, [
            { index: 0, errors: [{ reason: 'stopped', location: '', debugInfo: '',
                                   message: '' }] },
            { index: 1, errors: [{ reason: 'invalid', location: 'scroll_depth',
                                   debugInfo: '',
                                   message: r.json.insertErrors[1].errors[0].message }] },
            { index: 2, errors: [{ reason: 'stopped', location: '', debugInfo: '',
                                   message: '' }] },
        ]);
        assert.match(r.json.insertErrors[1].errors[0].message, /integer.*deep/);
        assert.deepEqual(await stored('events'), []);
        const s = await ctl(stub, 'stats');
        assert.equal(s.rowsInvalid, 1);
        assert.equal(s.rowsStopped, 2);

        // The stopped rows were not stored, so resending them stores them.
        const again = await insertAll(stub, token, 'events', rowsOf(good1, good2));
        assert.equal(again.json.insertErrors, undefined);
        assert.equal((await stored('events')).length, 2);
    });

    test('skipInvalidRows stores the good rows and reports the bad', async () => {
        const good = eventRow(), bad = eventRow({ url: null });
        const r = await insertAll(stub, token, 'events',
                                  { skipInvalidRows: true, ...rowsOf(bad, good) });
        assert.deepEqual(r.json.insertErrors.map((e) => e.index), [0]);
        assert.equal(r.json.insertErrors[0].errors[0].location, 'url');
        assert.match(r.json.insertErrors[0].errors[0].message, /NULL/);
        assert.deepEqual((await stored('events')).map((x) => x.insertId), [good.event_id]);
    });

    test('unknown fields: invalid, unless ignoreUnknownValues (then dropped)', async () => {
        const row = eventRow({ colour: 'red' });
        let r = await insertAll(stub, token, 'events', rowsOf(row));
        assert.equal(r.json.insertErrors[0].errors[0].location, 'colour');
        assert.match(r.json.insertErrors[0].errors[0].message, /no such field: colour/);

        r = await insertAll(stub, token, 'events',
                            { ignoreUnknownValues: true, ...rowsOf(row) });
        assert.equal(r.json.insertErrors, undefined);
        const [got] = await stored('events');
        assert.equal(got.json.colour, undefined);
        assert.equal(got.json.url, row.url);
    });

    test('every error of a row is listed', async () => {
        const row = eventRow({ webdriver: 'maybe', engaged_ms: 1.5 });
        delete row.session_id;
        const r = await insertAll(stub, token, 'events', rowsOf(row));
        const locs = r.json.insertErrors[0].errors.map((e) => e.location).sort();
        assert.deepEqual(locs, ['engaged_ms', 'session_id', 'webdriver']);
        assert.ok(r.json.insertErrors[0].errors.every((e) => e.reason === 'invalid'));
    });
});

describe('--keep-rows', () => {
    let small, smallToken;

    before(async () => {
        small = await startStub({ args: ['--keep-rows', '3'] });
        smallToken = await getToken(small);
    });
    after(async () => {
        await small?.stop();
    });

    test('keeps the newest rows only, but checks, counts and de-duplicates all', async () => {
        const rows = [1, 2, 3, 4, 5].map(() => eventRow());
        let r = await insertAll(small, smallToken, 'events', rowsOf(...rows.slice(0, 4)));
        assert.equal(r.status, 200, r.text);
        r = await insertAll(small, smallToken, 'events', rowsOf(rows[0], rows[4]));
        assert.equal(r.status, 200, r.text);
        const kept = (await ctl(small, 'rows?table=events')).rows;
        assert.deepEqual(kept.map((x) => x.insertId), rows.slice(2).map((x) => x.event_id));
        assert.deepEqual(kept.map((x) => x.seq), [3, 4, 5]);
        const s = await ctl(small, 'stats');
        assert.equal(s.rowsStored, 5);
        assert.equal(s.duplicatesSkipped, 1);
        r = await insertAll(small, smallToken, 'events', rowsOf(eventRow({ url: 7 })));
        assert.equal(r.json.insertErrors.length, 1, r.text);
    });
});
