// The OAuth2 token endpoint (JWT bearer grant) and the metadata token.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
    BQ_SCOPE, ctl, getToken, insertAll, otherPrivateKey, request, rowsOf,
    eventRow, signJwt, startStub, tokenRequest,
} from './helpers.mjs';

let stub;

before(async () => {
    stub = await startStub();
});
after(async () => {
    await stub?.stop();
});

function now() {
    return Math.floor(Date.now() / 1000);
}

async function rejected(assertion, error = 'invalid_grant', descRe = /./) {
    const r = await tokenRequest(stub, assertion);
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, error, r.text);
    assert.match(r.json.error_description, descRe);
    assert.equal(r.json.access_token, undefined);
    return r;
}

describe('token endpoint', () => {
    test('the key file points at the stand-in after --set-token-uri', () => {
        assert.equal(stub.key.token_uri, stub.tokenUrl);
        assert.equal(stub.key.type, 'service_account');
    });

    test('a good JWT gets a bearer token that insertAll accepts', async () => {
        const before = (await ctl(stub, 'stats')).tokensIssued;
        const r = await tokenRequest(stub, signJwt(stub.key));
        assert.equal(r.status, 200, r.text);
        assert.match(r.headers['content-type'], /^application\/json/);
        assert.match(r.headers['cache-control'], /no-store/);
        assert.equal(r.json.token_type, 'Bearer');
        assert.equal(r.json.expires_in, 3599);
        assert.match(r.json.access_token, /^ya29\.[A-Za-z0-9_.-]+$/);
        assert.deepEqual(Object.keys(r.json).sort(),
                         ['access_token', 'expires_in', 'token_type']);
        assert.equal((await ctl(stub, 'stats')).tokensIssued, before + 1);

        const ins = await insertAll(stub, r.json.access_token, 'events',
                                    rowsOf(eventRow()));
        assert.equal(ins.status, 200, ins.text);
    });

    test('two grants give two different tokens', async () => {
        assert.notEqual(await getToken(stub), await getToken(stub));
    });

    test('aud may name the stand-in as localhost too', async () => {
        const r = await tokenRequest(stub, signJwt(stub.key, {
            aud: `http://localhost:${stub.port}/token`,
        }));
        assert.equal(r.status, 200, r.text);
    });

    test('several scopes, one of them BigQuery, are fine', async () => {
        for (const scope of [
            `https://www.googleapis.com/auth/devstorage.read_only ${BQ_SCOPE}`,
            'https://www.googleapis.com/auth/cloud-platform',
            'https://www.googleapis.com/auth/bigquery.insertdata',
        ]) {
            const r = await tokenRequest(stub, signJwt(stub.key, { claims: { scope } }));
            assert.equal(r.status, 200, `${scope}: ${r.text}`);
        }
    });

    test('a JWT signed by another key is rejected', async () => {
        await rejected(signJwt(stub.key, { privateKey: otherPrivateKey() }),
                       'invalid_grant', /Invalid JWT Signature/);
    });

    test('a tampered claim set breaks the signature', async () => {
        const jwt = signJwt(stub.key).split('.');
        const claims = JSON.parse(Buffer.from(jwt[1], 'base64url'));
        claims.exp += 60;
        jwt[1] = Buffer.from(JSON.stringify(claims)).toString('base64url');
        await rejected(jwt.join('.'), 'invalid_grant', /Signature/);
    });

    test('a wrong aud is rejected', async () => {
        await rejected(signJwt(stub.key, { aud: 'https://oauth2.googleapis.com/token' }),
                       'invalid_grant', /audience/);
        await rejected(signJwt(stub.key, { aud: `http://127.0.0.1:${stub.port}/tok` }),
                       'invalid_grant', /audience/);
        await rejected(signJwt(stub.key, { claims: { aud: undefined } }),
                       'invalid_grant', /audience/);
    });

    test('an expired JWT is rejected', async () => {
        await rejected(signJwt(stub.key, { claims: { iat: now() - 3700, exp: now() - 100 } }),
                       'invalid_grant', /short-lived/);
    });

    test('iat far from now is rejected', async () => {
        await rejected(signJwt(stub.key, { claims: { iat: now() + 900, exp: now() + 1800 } }),
                       'invalid_grant', /iat/);
        await rejected(signJwt(stub.key, { claims: { iat: now() - 1200, exp: now() + 600 } }),
                       'invalid_grant', /iat/);
    });

    test('a lifetime over an hour is rejected', async () => {
        await rejected(signJwt(stub.key, { claims: { exp: now() + 3601 } }),
                       'invalid_grant', /exp - iat/);
    });

    test('non-integer times are rejected', async () => {
        await rejected(signJwt(stub.key, { claims: { exp: String(now() + 60) } }),
                       'invalid_grant', /integer/);
    });

    test('header: alg, typ and kid are checked', async () => {
        await rejected(signJwt(stub.key, { header: { alg: 'HS256' } }),
                       'invalid_grant', /RS256/);
        await rejected(signJwt(stub.key, { header: { alg: 'none' } }),
                       'invalid_grant', /RS256/);
        await rejected(signJwt(stub.key, { header: { typ: 'JWS' } }),
                       'invalid_grant', /typ/);
        await rejected(signJwt(stub.key, { header: { kid: 'deadbeef' } }),
                       'invalid_grant', /kid/);
        await rejected(signJwt(stub.key, { header: { kid: undefined } }),
                       'invalid_grant', /kid/);
    });

    test('iss must be the key\'s client_email', async () => {
        await rejected(signJwt(stub.key, { claims: { iss: 'someone@else.example' } }),
                       'invalid_grant', /iss/);
    });

    test('a scope without BigQuery is an invalid_scope', async () => {
        await rejected(signJwt(stub.key, {
            claims: { scope: 'https://www.googleapis.com/auth/devstorage.read_only' },
        }), 'invalid_scope', /BigQuery/);
        await rejected(signJwt(stub.key, { claims: { scope: undefined } }),
                       'invalid_scope', /no scope/);
    });

    test('domain-wide delegation (sub) is not granted', async () => {
        await rejected(signJwt(stub.key, { claims: { sub: 'boss@example.com' } }),
                       'unauthorized_client');
    });

    test('malformed assertions are invalid_grant, not a crash', async () => {
        for (const a of ['x', 'a.b', 'a.b.c.d', '!!!.e30.sig', 'e30.e30.',
                         'bnVsbA.e30.c2ln']) {
            await rejected(a, 'invalid_grant');
        }
    });

    test('grant_type, assertion and Content-Type are checked', async () => {
        let r = await tokenRequest(stub, signJwt(stub.key), { grantType: 'client_credentials' });
        assert.equal(r.status, 400);
        assert.equal(r.json.error, 'unsupported_grant_type');

        r = await tokenRequest(stub, signJwt(stub.key), { grantType: null });
        assert.equal(r.json.error, 'unsupported_grant_type');

        r = await tokenRequest(stub, null);
        assert.equal(r.status, 400);
        assert.equal(r.json.error, 'invalid_request');
        assert.match(r.json.error_description, /assertion/);

        r = await tokenRequest(stub, signJwt(stub.key), { contentType: 'application/json' });
        assert.equal(r.status, 400);
        assert.equal(r.json.error, 'invalid_request');
        assert.match(r.json.error_description, /x-www-form-urlencoded/);
    });

    test('GET /token is 405', async () => {
        const r = await request(stub, '/token');
        assert.equal(r.status, 405);
        assert.equal(r.headers.allow, 'POST');
    });

    test('rejections are counted', async () => {
        const s0 = await ctl(stub, 'stats');
        await rejected(signJwt(stub.key, { aud: 'https://nowhere.example/token' }));
        const s1 = await ctl(stub, 'stats');
        assert.equal(s1.tokensRejected, s0.tokensRejected + 1);
        assert.equal(s1.requests.token['400'], (s0.requests.token['400'] ?? 0) + 1);
    });
});

describe('metadata token', () => {
    const path = '/computeMetadata/v1/instance/service-accounts/default/token';

    test('needs Metadata-Flavor: Google', async () => {
        let r = await request(stub, path);
        assert.equal(r.status, 403);
        assert.match(r.text, /Metadata-Flavor/);

        r = await request(stub, path, { headers: { 'Metadata-Flavor': 'google-ish' } });
        assert.equal(r.status, 403);
    });

    test('a proxied request (X-Forwarded-For) is refused', async () => {
        const r = await request(stub, path, {
            headers: { 'Metadata-Flavor': 'Google', 'X-Forwarded-For': '10.0.0.1' },
        });
        assert.equal(r.status, 403);
    });

    test('answers a token that insertAll accepts', async () => {
        const r = await request(stub, path, { headers: { 'Metadata-Flavor': 'Google' } });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.headers['metadata-flavor'], 'Google');
        assert.equal(r.json.token_type, 'Bearer');
        assert.ok(r.json.expires_in > 0);
        const ins = await insertAll(stub, r.json.access_token, 'events',
                                    rowsOf(eventRow()));
        assert.equal(ins.status, 200, ins.text);
    });

    test('POST is not allowed', async () => {
        const r = await request(stub, path, {
            method: 'POST', headers: { 'Metadata-Flavor': 'Google' }, body: '',
        });
        assert.equal(r.status, 405);
    });
});

describe('token lifetime and expiry', () => {
    test('token_lifetime sets expires_in; 0 gives a token already expired', async () => {
        await ctl(stub, 'config', { token_lifetime: 120 });
        let r = await tokenRequest(stub, signJwt(stub.key));
        assert.equal(r.json.expires_in, 120);

        await ctl(stub, 'config', { token_lifetime: 0 });
        r = await tokenRequest(stub, signJwt(stub.key));
        assert.equal(r.json.expires_in, 0);
        const ins = await insertAll(stub, r.json.access_token, 'events',
                                    rowsOf(eventRow()));
        assert.equal(ins.status, 401);
        assert.match(ins.json.error.message, /expired/);
        await ctl(stub, 'config', { token_lifetime: 3599 });
    });

    test('expire-tokens makes every issued token fail with 401', async () => {
        const a = await getToken(stub);
        const b = await getToken(stub);
        const r = await ctl(stub, 'expire-tokens', {});
        assert.ok(r.expired >= 2);
        for (const t of [a, b]) {
            const ins = await insertAll(stub, t, 'events', rowsOf(eventRow()));
            assert.equal(ins.status, 401);
            assert.equal(ins.json.error.errors[0].reason, 'authError');
            assert.match(ins.headers['www-authenticate'], /invalid_token/);
        }
        const c = await getToken(stub);
        const ins = await insertAll(stub, c, 'events', rowsOf(eventRow()));
        assert.equal(ins.status, 200, ins.text);
    });

    test('reset keeps tokens unless asked', async () => {
        const t = await getToken(stub);
        await ctl(stub, 'reset', {});
        assert.equal((await insertAll(stub, t, 'events', rowsOf(eventRow()))).status, 200);
        await ctl(stub, 'reset', { tokens: true });
        assert.equal((await insertAll(stub, t, 'events', rowsOf(eventRow()))).status, 401);
    });
});
