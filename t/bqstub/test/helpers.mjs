// Shared by the stand-in's own tests: start a stand-in on a free port with a
// fresh key, talk HTTP to it, sign JWTs the way a client library would.

import { spawn, spawnSync } from 'node:child_process';
import { createSign, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
export const STUB_DIR = resolve(HERE, '..');
export const REPO = resolve(STUB_DIR, '..', '..');
export const SERVER = join(STUB_DIR, 'server.mjs');
export const MAKE_KEY = join(STUB_DIR, 'make-sa-key');
export const SQL_SCHEMAS = join(REPO, 'sql', 'schemas');
export const TEST_SCHEMAS = join(HERE, 'schemas');

export const BQ_SCOPE = 'https://www.googleapis.com/auth/bigquery';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

export function makeKey(path, args = []) {
    const r = spawnSync(process.execPath, [MAKE_KEY, path, ...args],
                        { encoding: 'utf8' });
    if (r.status !== 0) {
        throw new Error(`make-sa-key failed: ${r.stderr}`);
    }
    return JSON.parse(readFileSync(path, 'utf8'));
}

// Starts a stand-in; resolves once its port file exists.
export async function startStub({ args = [], schemas = [SQL_SCHEMAS, TEST_SCHEMAS],
                                  setTokenUri = true } = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'bqstub-test-'));
    const keyFile = join(dir, 'sa.json');
    const portFile = join(dir, 'port');
    const stderr = [];

    makeKey(keyFile);
    const argv = [SERVER, '--port', '0', '--port-file', portFile,
                  '--key', keyFile, '--parent-pid', String(process.pid)];
    for (const s of schemas) {
        argv.push('--schemas', s);
    }
    if (setTokenUri) {
        argv.push('--set-token-uri');
    }
    argv.push(...args);

    const proc = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr.on('data', (d) => stderr.push(d));
    let exited = null;
    proc.on('exit', (code) => { exited = code; });

    for (let i = 0; i < 500 && !existsSync(portFile); i++) {
        if (exited !== null) {
            break;
        }
        await sleep(20);
    }
    if (!existsSync(portFile)) {
        proc.kill();
        throw new Error(`stand-in did not start: ${Buffer.concat(stderr)}`);
    }
    const port = Number(readFileSync(portFile, 'utf8'));
    const stub = {
        port,
        dir,
        keyFile,
        key: JSON.parse(readFileSync(keyFile, 'utf8')),
        base: `http://127.0.0.1:${port}`,
        tokenUrl: `http://127.0.0.1:${port}/token`,
        proc,
        log: () => Buffer.concat(stderr).toString(),
        async stop() {
            if (exited === null) {
                const gone = new Promise((r) => proc.on('exit', r));
                proc.kill('SIGTERM');
                await gone;
            }
            rmSync(dir, { recursive: true, force: true });
        },
    };
    return stub;
}

// One HTTP exchange. opts: {method, headers, body (string|Buffer|object),
// agent, timeout}. Resolves {status, headers, text, json}.
export function request(stub, path, opts = {}) {
    let body = opts.body;
    const headers = { ...(opts.headers ?? {}) };

    if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string') {
        body = JSON.stringify(body);
        headers['Content-Type'] ??= 'application/json';
    }
    return new Promise((resolvePromise, reject) => {
        const req = http.request({
            host: '127.0.0.1',
            port: stub.port,
            path,
            method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
            headers,
            agent: opts.agent ?? false,
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString('utf8');
                let json;
                try {
                    json = JSON.parse(text);
                } catch (e) {
                    json = undefined;
                }
                resolvePromise({ status: res.statusCode, headers: res.headers, text, json });
            });
        });
        if (opts.timeout) {
            req.setTimeout(opts.timeout, () => req.destroy(new Error('client timeout')));
        }
        req.on('error', reject);
        req.end(body);
    });
}

export async function ctl(stub, path, body) {
    const r = await request(stub, `/_stub/${path}`,
                            body === undefined ? {} : { body });
    if (r.status !== 200) {
        throw new Error(`control ${path}: ${r.status} ${r.text}`);
    }
    return r.json;
}

function b64url(obj) {
    return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

// Signs a JWT-bearer assertion for `key`; override claims/header/privateKey
// to make bad ones.
export function signJwt(key, { claims = {}, header = {}, privateKey, aud } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const h = { alg: 'RS256', typ: 'JWT', kid: key.private_key_id, ...header };
    const c = {
        iss: key.client_email,
        scope: BQ_SCOPE,
        aud: aud ?? key.token_uri,
        iat: now,
        exp: now + 3600,
        ...claims,
    };
    for (const k of Object.keys(c)) {
        if (c[k] === undefined) {
            delete c[k];
        }
    }
    const input = `${b64url(h)}.${b64url(c)}`;
    const signer = createSign('RSA-SHA256');
    signer.update(input);
    return `${input}.${signer.sign(privateKey ?? key.private_key, 'base64url')}`;
}

export function otherPrivateKey() {
    return generateKeyPairSync('rsa', {
        modulusLength: 2048,
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
        publicKeyEncoding: { type: 'spki', format: 'pem' },
    }).privateKey;
}

export function tokenRequest(stub, assertion, { grantType = JWT_BEARER,
                                                 contentType } = {}) {
    const form = new URLSearchParams();
    if (grantType !== null) {
        form.set('grant_type', grantType);
    }
    if (assertion !== null) {
        form.set('assertion', assertion);
    }
    return request(stub, '/token', {
        method: 'POST',
        headers: { 'Content-Type': contentType ?? 'application/x-www-form-urlencoded' },
        body: form.toString(),
    });
}

export async function getToken(stub) {
    const r = await tokenRequest(stub, signJwt(stub.key));
    if (r.status !== 200) {
        throw new Error(`token: ${r.status} ${r.text}`);
    }
    return r.json.access_token;
}

export function insertPath(table, { project = 'oie-test',
                                    dataset = 'outbound_sales' } = {}) {
    return `/bigquery/v2/projects/${project}/datasets/${dataset}/tables/${table}/insertAll`;
}

export function insertAll(stub, token, table, payload, opts = {}) {
    return request(stub, insertPath(table, opts), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, ...(opts.headers ?? {}) },
        body: payload,
        agent: opts.agent,
        timeout: opts.timeout,
    });
}

let seq = 0;

// A valid `events` row.
export function eventRow(over = {}) {
    seq += 1;
    return {
        event_id: `ev-${process.pid}-${seq}`,
        event_type: 'pageview',
        event_time: '2024-11-24T00:00:00.000Z',
        received_at: '2024-11-24T00:00:00.100Z',
        visitor_id: 'v1',
        session_id: 's1',
        url: 'https://example.com/pricing',
        ...over,
    };
}

export function rowsOf(...jsons) {
    return { rows: jsons.map((j) => ({ insertId: j.event_id, json: j })) };
}
