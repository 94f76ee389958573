// Row checks per column type, over HTTP against the test table `alltypes`,
// plus the real `events` and `email_clicks` schemas.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ctl, eventRow, getToken, insertAll, startStub } from './helpers.mjs';

let stub, token;

before(async () => {
    stub = await startStub();
    token = await getToken(stub);
});
after(async () => {
    await stub?.stop();
});

let n = 0;

// Sends one alltypes row; returns the row's errors ([] when stored).
async function errorsFor(fields) {
    n += 1;
    const r = await insertAll(stub, token, 'alltypes', {
        rows: [{ insertId: `t${n}`, json: { id: `t${n}`, ...fields } }],
    });
    assert.equal(r.status, 200, r.text);
    const errs = r.json.insertErrors?.[0]?.errors ?? [];
    for (const e of errs) {
        assert.equal(e.reason, 'invalid');
        assert.equal(typeof e.message, 'string');
    }
    return errs;
}

async function accepts(field, value) {
    const errs = await errorsFor({ [field]: value });
    assert.deepEqual(errs, [], `${field}=${JSON.stringify(value)} should be accepted`);
}

async function rejects(field, value, location = field, re = /./) {
    const errs = await errorsFor({ [field]: value });
    assert.equal(errs.length, 1,
                 `${field}=${JSON.stringify(value)} should be rejected: ${JSON.stringify(errs)}`);
    assert.equal(errs[0].location, location);
    assert.match(errs[0].message, re);
}

const CASES = {
    s: {
        good: ['', 'text', 'ü ☃'],
        bad: [12, true, {}],
    },
    i: {
        good: [0, -5, 1732406400000, '42', '-9223372036854775808',
               '9223372036854775807'],
        bad: [1.5, '1.0', 'abc', '9223372036854775808', true, ''],
    },
    i64: { good: [7, '7'], bad: ['seven'] },
    f: {
        good: [0, 1.25, -3e10, '2.5', '1e-3', 'NaN', 'Infinity', '-inf'],
        bad: ['x1', true, '1.2.3'],
    },
    n: {
        good: [1, '123.456789012', '-0.5'],
        bad: ['1.0123456789', 'abc', '1'.repeat(30)],
    },
    b: {
        good: [true, false, 'true', 'FALSE'],
        bad: [1, 0, 'yes', ''],
    },
    ts: {
        good: ['2024-11-24T00:00:00Z', '2024-11-24T00:00:00.123456Z',
               '2024-11-24 00:00:00 UTC', '2024-11-24T01:02:03+05:30',
               '2024-11-24T01:02', '2024-11-24', 1732406400, 1732406400.123, 0,
               '2024-02-29T00:00:00Z'],
        bad: ['yesterday', '2024-13-01T00:00:00Z', '2023-02-29T00:00:00Z',
              '2024-11-24T24:00:00Z', '2024-11-24T00:00:00.1234567Z',
              '2024-11-24T00:00:00+25:00', '1732406400', 1e15, true],
    },
    d: {
        good: ['2024-11-24', '2000-02-29'],
        bad: ['2024-11-24T00:00:00Z', '1900-02-29', '24-11-2024', 20241124],
    },
    dt: {
        good: ['2024-11-24T10:00:00', '2024-11-24 10:00:00.5', '2024-11-24'],
        bad: ['2024-11-24T10:00:00Z', 'noon'],
    },
    t: {
        good: ['10:00:00', '23:59:59.999999'],
        bad: ['24:00:00', '10:00', 36000],
    },
    j: {
        good: ['{"a":1}', '[1,2]', '"text"', { a: [1, { b: 2 }] }, [1], 3, false],
        bad: ['{not json', ''],
    },
    by: {
        good: ['', 'aGVsbG8=', 'aGk='],
        bad: ['not base64!', 'aGk', 5],
    },
};

describe('scalar types', () => {
    for (const [field, { good, bad }] of Object.entries(CASES)) {
        test(`${field}: accepts ${good.length}, rejects ${bad.length}`, async () => {
            for (const v of good) {
                await accepts(field, v);
            }
            for (const v of bad) {
                await rejects(field, v);
            }
        });
    }

    test('NULL is fine in NULLABLE fields', async () => {
        for (const f of Object.keys(CASES)) {
            await accepts(f, null);
        }
        await accepts('rec', null);
    });
});

describe('modes', () => {
    test('REQUIRED: missing or NULL is invalid', async () => {
        n += 1;
        let r = await insertAll(stub, token, 'alltypes', { rows: [{ json: { s: 'x' } }] });
        let e = r.json.insertErrors[0].errors;
        assert.equal(e.length, 1);
        assert.equal(e[0].location, 'id');
        assert.match(e[0].message, /Missing required field: id/);

        r = await insertAll(stub, token, 'alltypes', { rows: [{ json: { id: null } }] });
        e = r.json.insertErrors[0].errors;
        assert.equal(e[0].location, 'id');
        assert.match(e[0].message, /Only optional fields can be set to NULL/);
    });

    test('REPEATED: arrays of the type; NULL means empty; no NULL items', async () => {
        await accepts('tags', ['a', 'b']);
        await accepts('tags', []);
        await accepts('tags', null);
        await accepts('nums', [1, '2']);
        await rejects('tags', 'a', 'tags', /array/);
        await rejects('tags', ['a', 3], 'tags[1]', /string/);
        await rejects('tags', ['a', null], 'tags[1]', /NULL/);
        await rejects('nums', [1, 'x'], 'nums[1]', /integer/);
    });

    test('an array for a non-repeated field is invalid', async () => {
        await rejects('s', ['a'], 's', /non-repeated/);
        await rejects('rec', [{ a: 'x' }], 'rec', /non-repeated/);
    });

    test('RECORD: nested fields are checked', async () => {
        await accepts('rec', { a: 'x', n: 3 });
        await rejects('rec', 'x', 'rec', /not a record/);
        await rejects('rec', { n: 3 }, 'rec.a', /Missing required field: rec.a/);
        await rejects('rec', { a: 'x', n: 'three' }, 'rec.n', /integer/);
        await rejects('rec', { a: 'x', extra: 1 }, 'rec.extra', /no such field/);
    });

    test('REPEATED RECORD', async () => {
        await accepts('recs', [{ k: 'a', v: 1.5 }, { k: 'b' }]);
        await rejects('recs', [{ k: 'a' }, { v: 2 }], 'recs[1].k', /Missing required/);
        await rejects('recs', [{ k: 'a' }, 'x'], 'recs[1]', /not a record/);
    });

    test('field names match case-insensitively and are stored as the schema spells them',
         async () => {
             await ctl(stub, 'reset', {});
             const r = await insertAll(stub, token, 'alltypes', {
                 rows: [{ insertId: 'case1', json: { ID: 'case1', S: 'x' } }],
             });
             assert.equal(r.json.insertErrors, undefined, r.text);
             const rows = (await ctl(stub, 'rows?table=alltypes')).rows;
             assert.deepEqual(rows[0].json, { id: 'case1', s: 'x' });

             const dup = await errorsFor({ s: 'a', S: 'b' });
             assert.equal(dup.length, 1);
             assert.match(dup[0].message, /more than once/);
         });

    test('ignoreUnknownValues also drops unknown nested fields', async () => {
        await ctl(stub, 'reset', {});
        const r = await insertAll(stub, token, 'alltypes', {
            ignoreUnknownValues: true,
            rows: [{ insertId: 'u1', json: { id: 'u1', zz: 1, rec: { a: 'x', zz: 2 } } }],
        });
        assert.equal(r.json.insertErrors, undefined, r.text);
        const rows = (await ctl(stub, 'rows?table=alltypes')).rows;
        assert.deepEqual(rows[0].json, { id: 'u1', rec: { a: 'x' } });
    });
});

describe('the project schemas', () => {
    test('a full pageview row fits events', async () => {
        const row = eventRow({
            sent_at: 1732406400.1, lead_id: 'Ab3dE9', referrer: '', title: 'Pricing',
            utm_source: 'cold', utm_medium: 'email', utm_campaign: 'q4',
            utm_term: null, utm_content: null, webdriver: false, ip: '203.0.113.0',
            user_agent: 'Mozilla/5.0', traffic_class: 'human', traffic_reasons: ['js'],
        });
        const r = await insertAll(stub, token, 'events',
                                  { rows: [{ insertId: row.event_id, json: row }] });
        assert.equal(r.json.insertErrors, undefined, r.text);
    });

    test('a form_submit with field names fits events', async () => {
        const row = eventRow({ event_type: 'form_submit', form_id: 'f',
                               form_fields: ['email', 'company'] });
        const r = await insertAll(stub, token, 'events',
                                  { rows: [{ insertId: row.event_id, json: row }] });
        assert.equal(r.json.insertErrors, undefined, r.text);
    });

    test('email_clicks needs outcome; events needs url', async () => {
        let r = await insertAll(stub, token, 'email_clicks', {
            rows: [{ insertId: 'ec1', json: {
                event_id: 'ec1', event_type: 'email_click',
                event_time: '2024-11-24T00:00:00Z', received_at: '2024-11-24T00:00:00Z',
            } }],
        });
        assert.deepEqual(r.json.insertErrors[0].errors.map((e) => e.location), ['outcome']);

        const row = eventRow();
        delete row.url;
        r = await insertAll(stub, token, 'events', { rows: [{ json: row }] });
        assert.deepEqual(r.json.insertErrors[0].errors.map((e) => e.location), ['url']);
    });
});
