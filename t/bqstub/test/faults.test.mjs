// Fault injection, reject rules, keep-alive accounting and the control API.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
    ctl, eventRow, getToken, insertAll, request, rowsOf, signJwt, sleep,
    startStub, tokenRequest,
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

const fault = (spec) => ctl(stub, 'fault', spec);
const stats = () => ctl(stub, 'stats');
const stored = async (table = 'events') =>
    (await ctl(stub, `rows?table=${table}`)).rows;

async function waitFor(what, pred) {
    for (let i = 0; i < 250; i++) {
        if (await pred()) {
            return;
        }
        await sleep(20);
    }
    assert.fail(`gave up waiting for ${what}`);
}

describe('error faults', () => {
    test('503 backendError for the next N insertAll calls, then normal', async () => {
        await fault({ kind: 'insertAll', status: 503, count: 2 });
        const row = eventRow();
        for (let i = 0; i < 2; i++) {
            const r = await insertAll(stub, token, 'events', rowsOf(row));
            assert.equal(r.status, 503);
            assert.deepEqual(Object.keys(r.json.error).sort(),
                             ['code', 'errors', 'message', 'status']);
            assert.equal(r.json.error.code, 503);
            assert.equal(r.json.error.status, 'UNAVAILABLE');
            assert.equal(r.json.error.errors[0].reason, 'backendError');
            assert.equal(r.json.error.errors[0].domain, 'global');
        }
        assert.deepEqual(await stored(), []);
        const r = await insertAll(stub, token, 'events', rowsOf(row));
        assert.equal(r.status, 200);
        assert.equal((await stored()).length, 1);
        const s = await stats();
        assert.equal(s.requests.insertAll['503'], 2);
        assert.equal(s.requests.insertAll['200'], 1);
        assert.equal(s.faultsApplied, 2);
    });

    test('each documented status and reason', async () => {
        const want = [
            [{ status: 403 }, 403, 'rateLimitExceeded', 'PERMISSION_DENIED'],
            [{ status: 403, reason: 'quotaExceeded' }, 403, 'quotaExceeded',
             'PERMISSION_DENIED'],
            [{ status: 429 }, 429, 'rateLimitExceeded', 'RESOURCE_EXHAUSTED'],
            [{ status: 500 }, 500, 'backendError', 'INTERNAL'],
            [{ status: 503, reason: 'backendError' }, 503, 'backendError', 'UNAVAILABLE'],
            [{ status: 504 }, 504, 'backendError', 'DEADLINE_EXCEEDED'],
            [{ status: 400, reason: 'invalid', message: 'custom words' }, 400, 'invalid',
             'INVALID_ARGUMENT'],
        ];
        for (const [spec] of want) {
            await fault({ kind: 'insertAll', ...spec });
        }
        for (const [spec, code, reason, status] of want) {
            const r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
            assert.equal(r.status, code, JSON.stringify(spec));
            assert.equal(r.json.error.errors[0].reason, reason);
            assert.equal(r.json.error.status, status);
            if (spec.message) {
                assert.equal(r.json.error.message, spec.message);
            }
        }
        assert.equal((await stats()).rowsStored, 0);
    });

    test('quotaExceeded message names the quota', async () => {
        await fault({ kind: 'insertAll', status: 403, reason: 'quotaExceeded' });
        const r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.match(r.json.error.message, /Quota exceeded/);
    });

    test('429 may carry Retry-After', async () => {
        await fault({ kind: 'insertAll', status: 429, retry_after: 7 });
        const r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 429);
        assert.equal(r.headers['retry-after'], '7');
    });

    test('502 answers an HTML page like a Google front end; body is selectable', async () => {
        await fault({ kind: 'insertAll', status: 502 });
        await fault({ kind: 'insertAll', status: 502, body: 'json' });
        await fault({ kind: 'insertAll', status: 500, body: 'empty' });
        let r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 502);
        assert.match(r.headers['content-type'], /^text\/html/);
        assert.equal(r.json, undefined);
        assert.match(r.text, /502/);
        r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 502);
        assert.equal(r.json.error.code, 502);
        r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 500);
        assert.equal(r.text, '');
    });

    test('faults are per kind: a token fault leaves insertAll alone', async () => {
        await fault({ kind: 'token', status: 503 });
        let r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 200);

        r = await tokenRequest(stub, signJwt(stub.key));
        assert.equal(r.status, 503);
        assert.equal(r.json.error, 'internal_failure');
        assert.equal(typeof r.json.error_description, 'string');
        r = await tokenRequest(stub, signJwt(stub.key));
        assert.equal(r.status, 200);
    });

    test('token 400 fault is an OAuth error; metadata faults too', async () => {
        await fault({ kind: 'token', status: 400, reason: 'invalid_grant',
                      message: 'account disabled' });
        let r = await tokenRequest(stub, signJwt(stub.key));
        assert.deepEqual(r.json, { error: 'invalid_grant', error_description: 'account disabled' });

        await fault({ kind: 'metadata', status: 500 });
        r = await request(stub, '/computeMetadata/v1/instance/service-accounts/default/token',
                          { headers: { 'Metadata-Flavor': 'Google' } });
        assert.equal(r.status, 500);
    });

    test('the fault queue is first in, first out, and can be listed and cleared', async () => {
        await fault({ kind: 'insertAll', status: 500, count: 2 });
        await fault({ kind: 'insertAll', status: 429 });
        let p = (await ctl(stub, 'faults')).pending.insertAll;
        assert.deepEqual(p.map((f) => [f.status, f.remaining]), [[500, 2], [429, 1]]);
        const codes = [];
        for (let i = 0; i < 4; i++) {
            codes.push((await insertAll(stub, token, 'events', rowsOf(eventRow()))).status);
        }
        assert.deepEqual(codes, [500, 500, 429, 200]);

        await fault({ kind: 'insertAll', status: 500 });
        const r = await request(stub, '/_stub/faults', { method: 'DELETE' });
        assert.deepEqual(r.json.pending.insertAll, []);
        p = (await ctl(stub, 'faults')).pending.insertAll;
        assert.deepEqual(p, []);
    });
});

describe('connection faults', () => {
    test('stall: no answer; reset cuts the stalled connection', async () => {
        await fault({ kind: 'insertAll', action: 'stall' });
        const pending = insertAll(stub, token, 'events', rowsOf(eventRow()))
            .then(() => 'answered', (e) => e.code ?? e.message);
        await waitFor('the stall', async () => (await stats()).stalled === 1);
        assert.equal((await stats()).requests.insertAll.stalled, 1);
        await ctl(stub, 'reset', {});
        assert.match(await pending, /ECONNRESET|socket hang up/);
        assert.equal((await stats()).stalled, 0);
        assert.deepEqual(await stored(), []);
    });

    test('stall: a client timeout fires; the next request is served', async () => {
        await fault({ kind: 'insertAll', action: 'stall' });
        await assert.rejects(insertAll(stub, token, 'events', rowsOf(eventRow()),
                                       { timeout: 200 }), /client timeout/);
        const r = await insertAll(stub, token, 'events', rowsOf(eventRow()));
        assert.equal(r.status, 200);
    });

    test('stall on the token endpoint', async () => {
        await fault({ kind: 'token', action: 'stall' });
        const form = new URLSearchParams({
            grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
            assertion: signJwt(stub.key),
        }).toString();
        await assert.rejects(request(stub, '/token', {
            method: 'POST', timeout: 200, body: form,
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        }), /client timeout/);
        assert.equal((await stats()).requests.token.stalled, 1);
    });

    test('delay: a normal answer, no sooner than delay_ms', async () => {
        await fault({ kind: 'insertAll', action: 'delay', delay_ms: 300 });
        const row = eventRow();
        const t0 = process.hrtime.bigint();
        const r = await insertAll(stub, token, 'events', rowsOf(row));
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        assert.equal(r.status, 200);
        assert.ok(ms >= 290, `answered after ${ms} ms`);
        assert.equal((await stored())[0].insertId, row.event_id);
    });

    test('reset cuts a connection whose delayed answer is pending', async () => {
        await fault({ kind: 'insertAll', action: 'delay', delay_ms: 600000 });
        const pending = insertAll(stub, token, 'events', rowsOf(eventRow()))
            .then(() => 'answered', (e) => e.code ?? e.message);
        // The row is stored in the same step that arms the delay timer.
        await waitFor('the stored row', async () => (await stored()).length === 1);
        await ctl(stub, 'reset', {});
        assert.match(await pending, /ECONNRESET|socket hang up/);
    });

    test('drop at headers or after the body: connection cut, nothing stored', async () => {
        for (const phase of ['headers', 'body']) {
            await fault({ kind: 'insertAll', action: 'drop', phase });
            await assert.rejects(insertAll(stub, token, 'events', rowsOf(eventRow())),
                                 /ECONNRESET|socket hang up|EPIPE/, phase);
        }
        assert.deepEqual(await stored(), []);
        assert.equal((await stats()).requests.insertAll.dropped, 2);
    });

    test('drop after the insert: rows stored, and a resend is deduplicated', async () => {
        await fault({ kind: 'insertAll', action: 'drop', phase: 'after' });
        const a = eventRow(), b = eventRow();
        await assert.rejects(insertAll(stub, token, 'events', rowsOf(a, b)),
                             /ECONNRESET|socket hang up/);
        assert.equal((await stored()).length, 2);
        const r = await insertAll(stub, token, 'events', rowsOf(a, b));
        assert.equal(r.status, 200);
        assert.equal((await stored()).length, 2);
        assert.equal((await stats()).duplicatesSkipped, 2);
    });

    test('truncate: headers and half a body, then the connection closes', async () => {
        await fault({ kind: 'insertAll', action: 'truncate' });
        await assert.rejects(insertAll(stub, token, 'events', rowsOf(eventRow())),
                             /aborted|ECONNRESET|socket hang up/);
        assert.equal((await stats()).requests.insertAll.truncated, 1);
    });
});

describe('reject rules', () => {
    test('by insertId: the row is invalid and the rest stopped', async () => {
        const a = eventRow(), b = eventRow(), c = eventRow();
        await ctl(stub, 'reject', { insert_ids: [b.event_id] });
        let r = await insertAll(stub, token, 'events', rowsOf(a, b, c));
        assert.deepEqual(r.json.insertErrors.map((e) => [e.index, e.errors[0].reason]),
                         [[0, 'stopped'], [1, 'invalid'], [2, 'stopped']]);
        assert.match(r.json.insertErrors[1].errors[0].message, new RegExp(b.event_id));
        assert.deepEqual(await stored(), []);

        r = await insertAll(stub, token, 'events',
                            { skipInvalidRows: true, ...rowsOf(a, b, c) });
        assert.deepEqual(r.json.insertErrors.map((e) => e.index), [1]);
        assert.deepEqual((await stored()).map((x) => x.insertId), [a.event_id, c.event_id]);
    });

    test('by field value, with a table, message and count', async () => {
        await ctl(stub, 'reject', { field: 'event_type', equals: 'scroll', table: 'events',
                                    message: 'bad scroll', count: 1 });
        const s1 = eventRow({ event_type: 'scroll' }), s2 = eventRow({ event_type: 'scroll' });
        let r = await insertAll(stub, token, 'events',
                                { skipInvalidRows: true, ...rowsOf(s1, s2, eventRow()) });
        assert.equal(r.json.insertErrors.length, 1);
        assert.equal(r.json.insertErrors[0].index, 0);
        assert.deepEqual(r.json.insertErrors[0].errors[0],
                         { reason: 'invalid', location: 'event_type', debugInfo: '',
                           message: 'bad scroll' });
        r = await insertAll(stub, token, 'events', rowsOf(eventRow({ event_type: 'scroll' })));
        assert.equal(r.json.insertErrors, undefined);
    });

    test('rules are listed and cleared; reset clears them too', async () => {
        await ctl(stub, 'reject', { insert_ids: ['x'] });
        assert.equal((await ctl(stub, 'rejects')).rules.length, 1);
        const r = await request(stub, '/_stub/rejects', { method: 'DELETE' });
        assert.deepEqual(r.json.rules, []);
        await ctl(stub, 'reject', { insert_ids: ['x'] });
        await ctl(stub, 'reset', {});
        assert.deepEqual((await ctl(stub, 'rejects')).rules, []);
    });
});

describe('keep-alive accounting', () => {
    test('one keep-alive connection carries many requests', async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            for (let i = 0; i < 5; i++) {
                const r = await insertAll(stub, token, 'events', rowsOf(eventRow()), { agent });
                assert.equal(r.status, 200);
            }
        } finally {
            agent.destroy();
        }
        const s = await stats();
        assert.equal(s.requestsTotal, 5);
        assert.equal(s.connections, 1);
    });

    test('a new connection per request shows as such', async () => {
        for (let i = 0; i < 3; i++) {
            await insertAll(stub, token, 'events', rowsOf(eventRow()));
        }
        const s = await stats();
        assert.equal(s.requestsTotal, 3);
        assert.equal(s.connections, 3);
    });

    test('record_headers keeps each request\'s headers and connection', async () => {
        await ctl(stub, 'config', { record_headers: true });
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        try {
            await insertAll(stub, token, 'events', rowsOf(eventRow()), { agent });
            await insertAll(stub, token, 'events', rowsOf(eventRow()),
                            { agent, headers: { 'User-Agent': 'oie-test/1' } });
        } finally {
            agent.destroy();
        }
        const { requests } = await ctl(stub, 'requests');
        assert.equal(requests.length, 2);
        assert.equal(requests[0].connection, requests[1].connection);
        assert.equal(requests[1].headers['user-agent'], 'oie-test/1');
        assert.equal(requests[0].headers.authorization, `Bearer ${token}`);
        assert.equal(requests[0].headers.connection, 'keep-alive');
        assert.equal(requests[0].status, 200);
        assert.equal(requests[0].kind, 'insertAll');

        await ctl(stub, 'config', { record_headers: false });
        await insertAll(stub, token, 'events', rowsOf(eventRow()));
        const again = (await ctl(stub, 'requests')).requests;
        assert.equal(again[2].headers, undefined);
    });
});

describe('control API errors are clear', () => {
    const bad = async (path, body, re, method) => {
        const r = await request(stub, `/_stub/${path}`,
                                method ? { method, body } : { body });
        assert.equal(r.status, 400, r.text);
        assert.match(r.json.error.message, re);
    };

    test('fault specs', async () => {
        await bad('fault', { kind: 'query', status: 500 }, /kind must be one of/);
        await bad('fault', { kind: 'insertAll' }, /needs status/);
        await bad('fault', { kind: 'insertAll', status: 200 }, /400\.\.599/);
        await bad('fault', { kind: 'insertAll', action: 'explode' }, /action must be/);
        await bad('fault', { kind: 'insertAll', status: 500, count: 0 }, /count/);
        await bad('fault', { kind: 'insertAll', status: 500, colour: 1 }, /unknown fault key/);
        await bad('fault', { kind: 'insertAll', action: 'delay' }, /delay_ms/);
        await bad('fault', { kind: 'insertAll', action: 'stall', phase: 'body' }, /phase/);
        await bad('fault', { kind: 'insertAll', action: 'drop', phase: 'later' }, /phase/);
        await bad('fault', { kind: 'insertAll', action: 'stall', status: 500 }, /action error/);
        await bad('fault', '{oops', /not JSON/);
        await bad('fault', '[1]', /JSON object/);
        assert.deepEqual((await ctl(stub, 'faults')).pending.insertAll, []);
    });

    test('reject, config, rows and methods', async () => {
        await bad('reject', {}, /insert_ids, or field and equals/);
        await bad('reject', { insert_ids: [] }, /non-empty/);
        await bad('reject', { field: 'x', equals: 1, table: 'nope' }, /no table/);
        await bad('config', { token_lifetime: -1 }, /token_lifetime/);
        await bad('config', { record_headers: 'yes' }, /record_headers/);
        await bad('config', { speed: 1 }, /unknown config key/);
        await bad('fault', undefined, /wants POST/, 'GET');
        const r = await request(stub, '/_stub/rows?table=nope');
        assert.equal(r.status, 400);
        assert.match(r.json.error.message, /no table/);
        const nf = await request(stub, '/_stub/nothing');
        assert.equal(nf.status, 404);
    });

    test('health names the tables and the token URL', async () => {
        const h = await ctl(stub, 'health');
        assert.equal(h.ok, true);
        assert.equal(h.port, stub.port);
        assert.equal(h.tokenUrl, stub.tokenUrl);
        assert.ok(h.tables.includes('events') && h.tables.includes('email_clicks'));
    });

    test('control requests are not counted as API traffic', async () => {
        await ctl(stub, 'stats');
        await ctl(stub, 'health');
        const s = await stats();
        assert.equal(s.requestsTotal, 0);
        assert.equal(s.connections, 0);
    });
});
