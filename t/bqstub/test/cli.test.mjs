// make-sa-key and the server's command line: good keys, clear errors, exits.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import {
    existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync,
    writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { MAKE_KEY, SERVER, SQL_SCHEMAS, makeKey, sleep } from './helpers.mjs';

let dir;

before(() => {
    dir = mkdtempSync(join(tmpdir(), 'bqstub-cli-'));
});
after(() => {
    rmSync(dir, { recursive: true, force: true });
});

function run(cmd, args) {
    return spawnSync(process.execPath, [cmd, ...args], { encoding: 'utf8', timeout: 20000 });
}

describe('make-sa-key', () => {
    test('writes a complete service-account key, private to its owner', () => {
        const path = join(dir, 'a.json');
        const key = makeKey(path);
        for (const f of ['type', 'project_id', 'private_key_id', 'private_key',
                         'client_email', 'client_id', 'token_uri']) {
            assert.equal(typeof key[f], 'string', f);
            assert.notEqual(key[f], '', f);
        }
        assert.equal(key.type, 'service_account');
        assert.equal(key.project_id, 'oie-test');
        assert.equal(key.token_uri, 'https://oauth2.googleapis.com/token');
        assert.match(key.client_email, /@oie-test\.iam\.gserviceaccount\.com$/);
        assert.match(key.private_key_id, /^[0-9a-f]{40}$/);
        assert.match(key.client_id, /^\d{21}$/);
        assert.match(key.private_key, /^-----BEGIN PRIVATE KEY-----\n/);
        const pk = createPrivateKey(key.private_key);
        assert.equal(pk.asymmetricKeyType, 'rsa');
        assert.equal(pk.asymmetricKeyDetails.modulusLength, 2048);
        assert.equal(statSync(path).mode & 0o777, 0o600);
    });

    test('each run makes a new key pair', () => {
        const a = makeKey(join(dir, 'b1.json'));
        const b = makeKey(join(dir, 'b2.json'));
        assert.notEqual(a.private_key, b.private_key);
        assert.notEqual(a.private_key_id, b.private_key_id);
    });

    test('options set project, email and token_uri', () => {
        const key = makeKey(join(dir, 'c.json'), [
            '--project', 'acme-prod-1', '--email', 'x@acme-prod-1.iam.gserviceaccount.com',
            '--token-uri', 'http://127.0.0.1:9/token',
        ]);
        assert.equal(key.project_id, 'acme-prod-1');
        assert.equal(key.client_email, 'x@acme-prod-1.iam.gserviceaccount.com');
        assert.equal(key.token_uri, 'http://127.0.0.1:9/token');
    });

    test('bad arguments exit 2 with usage; an unwritable path exits 1', () => {
        let r = run(MAKE_KEY, []);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /usage/);
        r = run(MAKE_KEY, ['a', 'b']);
        assert.equal(r.status, 2);
        r = run(MAKE_KEY, [join(dir, 'd.json'), '--bogus']);
        assert.equal(r.status, 2);
        r = run(MAKE_KEY, [join(dir, 'd.json'), '--project', 'Bad_Project']);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /not a valid project id/);
        r = run(MAKE_KEY, [join(dir, 'no', 'such', 'dir', 'k.json')]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /cannot write/);
    });
});

describe('server command line', () => {
    const key = () => {
        const p = join(dir, 'srv.json');
        if (!existsSync(p)) {
            makeKey(p);
        }
        return p;
    };

    test('--help', () => {
        const r = run(SERVER, ['--help']);
        assert.equal(r.status, 0);
        assert.match(r.stdout, /--port-file/);
    });

    test('missing or unknown options exit 2 with usage', () => {
        let r = run(SERVER, ['--schemas', SQL_SCHEMAS]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /--key SA.json is required/);
        r = run(SERVER, ['--key', key()]);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /--schemas/);
        r = run(SERVER, ['--key', key(), '--schemas', SQL_SCHEMAS, '--frobnicate']);
        assert.equal(r.status, 2);
        r = run(SERVER, ['--key', key(), '--schemas', SQL_SCHEMAS, '--port', 'http']);
        assert.equal(r.status, 2);
        assert.match(r.stderr, /--port must be an integer/);
    });

    test('a bad key exits 1 and says why', () => {
        let r = run(SERVER, ['--key', join(dir, 'none.json'), '--schemas', SQL_SCHEMAS]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /cannot read key/);

        const p = join(dir, 'user.json');
        writeFileSync(p, JSON.stringify({ type: 'authorized_user' }));
        r = run(SERVER, ['--key', p, '--schemas', SQL_SCHEMAS]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /has no "project_id"|not service_account/);

        const k = JSON.parse(readFileSync(key(), 'utf8'));
        k.private_key = 'garbage';
        writeFileSync(p, JSON.stringify(k));
        r = run(SERVER, ['--key', p, '--schemas', SQL_SCHEMAS]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /not a PEM key/);
    });

    test('bad schemas exit 1 and name the file', () => {
        const sd = join(dir, 'schemas-bad');
        mkdirSync(sd, { recursive: true });
        writeFileSync(join(sd, 't.json'), JSON.stringify([{ name: 'a', type: 'VARCHAR' }]));
        let r = run(SERVER, ['--key', key(), '--schemas', sd]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /t\.json.*unknown type "VARCHAR"/);

        writeFileSync(join(sd, 't.json'), '[{"name": "a", "type": "STRING"');
        r = run(SERVER, ['--key', key(), '--schemas', sd]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /t\.json: not JSON/);

        writeFileSync(join(sd, 't.json'), JSON.stringify([{ name: 'r', type: 'RECORD' }]));
        r = run(SERVER, ['--key', key(), '--schemas', sd]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /fields must be an array/);

        r = run(SERVER, ['--key', key(), '--schemas', join(dir, 'missing')]);
        assert.equal(r.status, 1);

        const empty = join(dir, 'schemas-empty');
        mkdirSync(empty, { recursive: true });
        r = run(SERVER, ['--key', key(), '--schemas', empty]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /no \*\.json schema/);
    });

    test('{"fields": [...]} schema files are read too', async () => {
        const sd = join(dir, 'schemas-obj');
        mkdirSync(sd, { recursive: true });
        writeFileSync(join(sd, 'obj.json'),
                      JSON.stringify({ fields: [{ name: 'a', type: 'STRING' }] }));
        const portFile = join(dir, 'obj.port');
        const proc = spawn(process.execPath, [SERVER, '--key', key(), '--schemas', sd,
                                              '--port-file', portFile, '--quiet'],
                           { stdio: 'ignore' });
        const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
        try {
            for (let i = 0; i < 500 && !existsSync(portFile); i++) {
                await sleep(20);
            }
            const port = Number(readFileSync(portFile, 'utf8'));
            const h = await fetch(`http://127.0.0.1:${port}/_stub/health`).then((r) => r.json());
            assert.deepEqual(h.tables, ['obj']);
        } finally {
            proc.kill('SIGTERM');
        }
        assert.equal(await exited, 0);
    });

    test('exits when the --parent-pid process is gone', async () => {
        const parent = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'],
                             { stdio: 'ignore' });
        const portFile = join(dir, 'pp.port');
        const proc = spawn(process.execPath, [SERVER, '--key', key(), '--schemas', SQL_SCHEMAS,
                                              '--port-file', portFile, '--quiet',
                                              '--parent-pid', String(parent.pid)],
                           { stdio: 'ignore' });
        const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
        for (let i = 0; i < 500 && !existsSync(portFile); i++) {
            await sleep(20);
        }
        assert.ok(existsSync(portFile));
        parent.kill('SIGKILL');
        const limit = new Promise((r) => setTimeout(r, 20000, 'still running').unref());
        const code = await Promise.race([exited, limit]);
        if (code === 'still running') {
            proc.kill('SIGKILL');
        }
        assert.equal(code, 0);
    });
});
