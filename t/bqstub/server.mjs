#!/usr/bin/env node
// BigQuery stand-in for tests: tabledata.insertAll, the OAuth2 token endpoint
// (service-account JWT bearer grant) and the GCE metadata token endpoint,
// checked the way Google checks them, plus a control API under /_stub/ that
// lets a test queue faults and read back what was stored.
//
//   node t/bqstub/server.mjs --port 0 --port-file F --key SA.json \
//       --schemas sql/schemas [--project P] [--dataset D] [--set-token-uri]
//
// See t/bqstub/README.md for the control API.

import { randomBytes } from 'node:crypto';
import {
    chmodSync, readFileSync, renameSync, statSync, writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync, inflateSync } from 'node:zlib';

import { JWT_BEARER, KeyError, loadKey, verifyAssertion } from './lib/oauth.mjs';
import {
    defaultReason, googleError, htmlError, jsonReply, oauthError,
    reasonMessage,
} from './lib/replies.mjs';
import { SchemaError, loadSchemaDirs, validateRow } from './lib/schema.mjs';

const MB = 1024 * 1024;

// Documented streaming-insert limits.
const MAX_REQUEST_BYTES = 10 * MB;
const MAX_ROWS = 50000;

const KINDS = ['insertAll', 'token', 'metadata'];
const ACTIONS = ['error', 'stall', 'delay', 'drop', 'truncate'];
const DROP_PHASES = ['headers', 'body', 'after'];

const INSERT_ALL_RE =
    /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)\/insertAll$/;
const METADATA_TOKEN_PATH =
    '/computeMetadata/v1/instance/service-accounts/default/token';

const REQUEST_KEYS = new Set(['kind', 'skipInvalidRows', 'ignoreUnknownValues',
                              'templateSuffix', 'rows', 'traceId']);
const ROW_KEYS = new Set(['insertId', 'json']);

const RECORD_LIMIT = 10000;

class UsageError extends Error {}

let quiet = false;

function log(...args) {
    if (!quiet) {
        process.stderr.write(`bqstub ${new Date().toISOString()} ${args.join(' ')}\n`);
    }
}

function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function intOption(value, name, min, max) {
    const n = Number(value);

    if (!/^-?\d+$/.test(String(value)) || n < min || n > max) {
        throw new UsageError(`--${name} must be an integer in ${min}..${max},`
                             + ` not ${JSON.stringify(value)}`);
    }
    return n;
}

function parseCommandLine(argv) {
    const { values } = parseArgs({
        args: argv,
        strict: true,
        allowPositionals: false,
        options: {
            port: { type: 'string', default: '0' },
            host: { type: 'string', default: '127.0.0.1' },
            'port-file': { type: 'string' },
            key: { type: 'string' },
            schemas: { type: 'string', multiple: true },
            project: { type: 'string' },
            dataset: { type: 'string', multiple: true },
            aud: { type: 'string', multiple: true },
            'set-token-uri': { type: 'boolean', default: false },
            'token-lifetime': { type: 'string', default: '3599' },
            'clock-skew': { type: 'string', default: '300' },
            'max-rows': { type: 'string', default: String(MAX_ROWS) },
            'max-bytes': { type: 'string', default: String(MAX_REQUEST_BYTES) },
            'keep-alive-timeout': { type: 'string', default: '60' },
            'keep-rows': { type: 'string' },
            'parent-pid': { type: 'string' },
            quiet: { type: 'boolean', default: false },
            help: { type: 'boolean', default: false },
        },
    });

    if (values.help) {
        return { help: true };
    }
    if (!values.key) {
        throw new UsageError('--key SA.json is required');
    }
    if (!values.schemas || values.schemas.length === 0) {
        throw new UsageError('--schemas DIR is required');
    }
    return {
        port: intOption(values.port, 'port', 0, 65535),
        host: values.host,
        portFile: values['port-file'],
        keyFile: values.key,
        schemaDirs: values.schemas,
        project: values.project,
        datasets: values.dataset ?? ['outbound_sales'],
        extraAudiences: values.aud ?? [],
        setTokenUri: values['set-token-uri'],
        tokenLifetime: intOption(values['token-lifetime'], 'token-lifetime', 0, 86400),
        clockSkew: intOption(values['clock-skew'], 'clock-skew', 0, 86400),
        maxRows: intOption(values['max-rows'], 'max-rows', 1, 10000000),
        maxBytes: intOption(values['max-bytes'], 'max-bytes', 1024, 1024 * MB),
        keepAliveTimeout: intOption(values['keep-alive-timeout'],
                                    'keep-alive-timeout', 1, 3600),
        keepRows: values['keep-rows'] === undefined ? Infinity
            : intOption(values['keep-rows'], 'keep-rows', 0, 2 ** 31),
        parentPid: values['parent-pid'] === undefined ? undefined
            : intOption(values['parent-pid'], 'parent-pid', 1, 2 ** 31),
        quiet: values.quiet,
    };
}

const USAGE = `usage: node t/bqstub/server.mjs --key SA.json --schemas DIR [options]
  --port N            listen port (0 = any free port; default 0)
  --host H            listen address (default 127.0.0.1)
  --port-file F       write the chosen port to F once listening
  --key F             service-account JSON key whose public key checks JWTs
  --schemas DIR       table schemas (*.json, table = file name); repeatable
  --project P         project id (default: the key's project_id)
  --dataset D         dataset id; repeatable (default: outbound_sales)
  --aud URL           also accept this JWT aud; repeatable
  --set-token-uri     once listening, rewrite the key's token_uri to our /token
  --token-lifetime S  access token lifetime in seconds (default 3599)
  --clock-skew S      tolerated |iat - now| in seconds (default 300)
  --max-rows N        rows per insertAll request (default ${MAX_ROWS})
  --max-bytes N       insertAll request size limit (default ${MAX_REQUEST_BYTES})
  --keep-alive-timeout S  idle keep-alive connection timeout (default 60)
  --keep-rows N           keep only the newest N stored rows (default: all)
  --parent-pid PID    exit when this process is gone
  --quiet             no request log on stderr
`;

// Reads a request body, keeping at most `limit` bytes; the rest is read and
// dropped so that the client can finish sending and then read our answer
// (Node closes a connection whose request body is unread). tooLarge is
// 'soft' past `limit` and 'hard' past `hardLimit`. Past DRAIN_CAP the
// connection is cut: nothing legitimate sends that much.
const DRAIN_CAP = 256 * MB;

// A large body is put together in a buffer kept for the next one: on some
// machines (this project's CI among them) a fresh 300 KB allocation costs a
// page fault per 4 KB, which was a millisecond per insertAll request.  The
// buffer goes back with release() once the request has been answered.
const POOL_MIN = 64 * 1024;
const POOL_KEEP = 8;
const bodyPool = [];

function pooledBuffer(size) {
    let i, buf;

    for (i = bodyPool.length - 1; i >= 0; i--) {
        if (bodyPool[i].length >= size) {
            buf = bodyPool[i];
            bodyPool.splice(i, 1);
            return buf;
        }
    }
    return Buffer.allocUnsafeSlow(Math.max(size, 1024 * 1024));
}

function joinChunks(chunks, size) {
    let buf, off = 0;

    if (size < POOL_MIN) {
        return { size, buf: Buffer.concat(chunks, size), release() {} };
    }
    buf = pooledBuffer(size);
    for (const c of chunks) {
        c.copy(buf, off);
        off += c.length;
    }
    return {
        size,
        buf: buf.subarray(0, size),
        release() {
            if (buf !== null && bodyPool.length < POOL_KEEP) {
                bodyPool.push(buf);
            }
            buf = null;
        },
    };
}

function readBody(req, limit, hardLimit) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        let size = 0;
        let done = false;

        const finish = (err, value) => {
            if (!done) {
                done = true;
                if (err) {
                    reject(err);
                } else {
                    resolve(value);
                }
            }
        };
        req.on('data', (chunk) => {
            size += chunk.length;
            if (size <= limit) {
                chunks.push(chunk);
            } else {
                chunks.length = 0;
            }
            if (size > DRAIN_CAP) {
                req.socket.destroy();
                finish(new Error(`request body over ${DRAIN_CAP} bytes`));
            }
        });
        req.on('end', () => {
            if (size > hardLimit) {
                finish(null, { size, tooLarge: 'hard' });
            } else if (size > limit) {
                finish(null, { size, tooLarge: 'soft' });
            } else {
                finish(null, joinChunks(chunks, size));
            }
        });
        req.on('error', (e) => finish(e));
        req.on('aborted', () => finish(new Error('client aborted the request')));
        req.on('close', () => finish(new Error('connection closed mid-request')));
    });
}

function writeFileAtomic(path, text, mode) {
    const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);

    writeFileSync(tmp, text, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, path);
}

class Stub {
    constructor(opts) {
        this.opts = opts;
        this.key = loadKey(opts.keyFile);
        this.tables = loadSchemaDirs(opts.schemaDirs);
        this.project = opts.project ?? this.key.projectId;
        this.datasets = new Set(opts.datasets);
        this.port = 0;
        this.tokens = new Map();
        this.sockets = new Set();
        this.connSeq = 0;
        this.reset({ tokens: true });
    }

    // Clears what tests observe. Issued tokens survive unless asked, so a
    // client holding a token is not forced to fetch another.
    reset({ tokens = false } = {}) {
        for (const [t, sock] of this.timers ?? []) {
            clearTimeout(t);
            sock.destroy();
        }
        for (const s of this.stalled ?? []) {
            s.destroy();
        }
        if (tokens) {
            this.tokens.clear();
        }
        this.generation = (this.generation ?? 0) + 1;
        this.timers = new Map();
        this.stalled = new Set();
        this.rows = [];
        this.rowSeq = 0;
        this.seen = new Map();
        this.faults = { insertAll: [], token: [], metadata: [] };
        this.rejects = [];
        this.tokenLifetime = this.opts.tokenLifetime;
        this.recordHeaders = false;
        this.requestLog = [];
        this.requestSeq = 0;
        this.stats = {
            requests: { insertAll: {}, token: {}, metadata: {}, other: {} },
            requestsTotal: 0,
            connections: 0,
            rowsStored: 0,
            rowsByTable: {},
            duplicatesSkipped: 0,
            rowsInvalid: 0,
            rowsStopped: 0,
            tokensIssued: 0,
            tokensRejected: 0,
            faultsApplied: 0,
        };
    }

    audiences(req) {
        const set = new Set([this.key.tokenUri, this.tokenUrl(),
                             ...this.opts.extraAudiences]);

        for (const host of [`127.0.0.1:${this.port}`, `localhost:${this.port}`,
                            `[::1]:${this.port}`, req.headers.host])
        {
            if (host) {
                set.add(`http://${host}/token`);
            }
        }
        return set;
    }

    tokenUrl() {
        return `http://127.0.0.1:${this.port}/token`;
    }

    // ---- faults and rules -------------------------------------------------

    takeFault(kind) {
        const queue = this.faults[kind];
        const f = queue[0];

        if (!f) {
            return null;
        }
        f.remaining -= 1;
        if (f.remaining <= 0) {
            queue.shift();
        }
        this.stats.faultsApplied += 1;
        return f;
    }

    faultReply(kind, f) {
        const reason = f.reason ?? (kind === 'token'
            ? (f.status >= 500 ? 'internal_failure' : 'invalid_grant')
            : defaultReason(f.status));
        const message = f.message ?? (kind === 'token'
            ? `stand-in fault: HTTP ${f.status}`
            : reasonMessage(reason, f.status));
        const headers = {};
        const body = f.body ?? (f.status === 502 ? 'html' : 'json');
        let reply;

        if (f.retry_after !== undefined) {
            headers['Retry-After'] = String(f.retry_after);
        }
        if (body === 'html') {
            reply = htmlError(f.status, message);
            Object.assign(reply.headers, headers);
        } else if (body === 'empty') {
            reply = { status: f.status, headers, body: '' };
        } else if (kind === 'token') {
            reply = oauthError(f.status, reason, message, headers);
        } else {
            reply = googleError(f.status, reason, message, {}, headers);
        }
        return reply;
    }

    rejection(table, row) {
        for (const rule of this.rejects) {
            let hit;

            if (rule.remaining === 0 || (rule.table && rule.table !== table)) {
                continue;
            }
            if (rule.insert_ids) {
                hit = rule.insert_ids.includes(row.insertId);
            } else {
                hit = Object.prototype.hasOwnProperty.call(row.json, rule.field)
                    && JSON.stringify(row.json[rule.field]) === JSON.stringify(rule.equals);
            }
            if (hit) {
                if (rule.remaining !== undefined) {
                    rule.remaining -= 1;
                }
                return {
                    location: rule.field ?? '',
                    message: rule.message ?? (rule.field
                        ? `Invalid value for field ${rule.field}: ${JSON.stringify(rule.equals)}`
                          + ' (rejected by a stand-in rule)'
                        : `Row ${row.insertId} rejected by a stand-in rule`),
                };
            }
        }
        return null;
    }

    // ---- tokens -----------------------------------------------------------

    issueToken(via, scopes) {
        const token = 'ya29.stub-' + randomBytes(24).toString('base64url');

        this.tokens.set(token, {
            expiresAt: Date.now() + this.tokenLifetime * 1000,
            scopes,
            via,
        });
        this.stats.tokensIssued += 1;
        return jsonReply(200, {
            access_token: token,
            expires_in: this.tokenLifetime,
            token_type: 'Bearer',
        }, { 'Cache-Control': 'no-cache, no-store, max-age=0, must-revalidate',
             Pragma: 'no-cache' });
    }

    handleToken(req, body) {
        const ctype = String(req.headers['content-type'] ?? '').toLowerCase();
        let form, res;

        if (req.method !== 'POST') {
            return oauthError(405, 'invalid_request',
                              `${req.method} is not allowed; POST the grant`,
                              { Allow: 'POST' });
        }
        if (!ctype.startsWith('application/x-www-form-urlencoded')) {
            this.stats.tokensRejected += 1;
            return oauthError(400, 'invalid_request',
                              'Content-Type must be application/x-www-form-urlencoded'
                              + ` (got ${JSON.stringify(ctype)})`);
        }
        form = new URLSearchParams(body.toString('utf8'));
        if (form.get('grant_type') !== JWT_BEARER) {
            this.stats.tokensRejected += 1;
            return oauthError(400, 'unsupported_grant_type',
                              `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
        }
        if (!form.get('assertion')) {
            this.stats.tokensRejected += 1;
            return oauthError(400, 'invalid_request',
                              'Missing required parameter: assertion');
        }
        res = verifyAssertion(form.get('assertion'), {
            key: this.key,
            audiences: this.audiences(req),
            tokenUrl: this.tokenUrl(),
            now: Math.floor(Date.now() / 1000),
            skew: this.opts.clockSkew,
        });
        if (res.error) {
            this.stats.tokensRejected += 1;
            log(`token rejected: ${res.error}: ${res.error_description}`);
            return oauthError(400, res.error, res.error_description);
        }
        return this.issueToken('jwt', res.scopes);
    }

    handleMetadata(req) {
        if (req.method !== 'GET') {
            return { status: 405, headers: { Allow: 'GET', 'Content-Type': 'text/plain' },
                     body: 'Method not allowed\n' };
        }
        if (req.headers['metadata-flavor'] !== 'Google'
            || req.headers['x-forwarded-for'] !== undefined)
        {
            return htmlError(403, 'Your client does not have permission to get'
                             + ' URL from this server. Missing Metadata-Flavor:Google'
                             + ' header (or the request carried X-Forwarded-For).');
        }
        const reply = this.issueToken('metadata',
                                      ['https://www.googleapis.com/auth/cloud-platform']);
        reply.headers['Metadata-Flavor'] = 'Google';
        return reply;
    }

    // ---- insertAll --------------------------------------------------------

    checkAuth(req) {
        const auth = req.headers.authorization;
        const www = 'Bearer realm="https://accounts.google.com/"';
        let m, tok;

        if (auth === undefined) {
            return googleError(401, 'required',
                'Request is missing required authentication credential.'
                + ' Expected OAuth 2 access token, login cookie or other valid'
                + ' authentication credential.',
                { location: 'Authorization', locationType: 'header' },
                { 'WWW-Authenticate': www });
        }
        m = /^Bearer +(\S+)\s*$/i.exec(auth);
        tok = m ? this.tokens.get(m[1]) : undefined;
        if (!tok || Date.now() >= tok.expiresAt) {
            return googleError(401, 'authError',
                'Request had invalid authentication credentials. Expected OAuth'
                + ' 2 access token, login cookie or other valid authentication'
                + ` credential. (${!m ? 'not a Bearer token'
                    : !tok ? 'unknown access token' : 'access token expired'})`,
                { location: 'Authorization', locationType: 'header' },
                { 'WWW-Authenticate': `${www}, error="invalid_token"` });
        }
        return null;
    }

    decodeBody(req, buf) {
        const enc = String(req.headers['content-encoding'] ?? 'identity')
            .toLowerCase().trim();
        const max = this.opts.maxBytes + 1;

        if (enc === 'identity' || enc === '') {
            return buf;
        }
        if (enc === 'gzip') {
            return gunzipSync(buf, { maxOutputLength: max });
        }
        if (enc === 'deflate') {
            return inflateSync(buf, { maxOutputLength: max });
        }
        throw new Error(`unsupported Content-Encoding ${enc}`);
    }

    // Checks the request envelope; returns a reply on error, else null.
    checkEnvelope(doc) {
        const bad = (msg) => googleError(400, 'badRequest',
                                         `Invalid JSON payload received. ${msg}`);

        if (!isObject(doc)) {
            return bad('The request body must be a JSON object.');
        }
        for (const k of Object.keys(doc)) {
            if (!REQUEST_KEYS.has(k)) {
                return bad(`Unknown name "${k}": Cannot find field.`);
            }
        }
        for (const k of ['kind', 'templateSuffix', 'traceId']) {
            if (doc[k] !== undefined && typeof doc[k] !== 'string') {
                return bad(`Invalid value at '${k}': expected a string.`);
            }
        }
        for (const k of ['skipInvalidRows', 'ignoreUnknownValues']) {
            if (doc[k] !== undefined && typeof doc[k] !== 'boolean') {
                return bad(`Invalid value at '${k}' (TYPE_BOOL),`
                           + ` ${JSON.stringify(doc[k])}`);
            }
        }
        if (doc.templateSuffix) {
            return googleError(400, 'invalid',
                               'templateSuffix is not supported by the stand-in.');
        }
        if (doc.rows !== undefined && !Array.isArray(doc.rows)) {
            return bad("Invalid value at 'rows': expected a list.");
        }
        for (const [i, row] of (doc.rows ?? []).entries()) {
            if (!isObject(row)) {
                return bad(`Invalid value at 'rows[${i}]': expected an object.`);
            }
            for (const k of Object.keys(row)) {
                if (!ROW_KEYS.has(k)) {
                    return bad(`Unknown name "${k}" at 'rows[${i}]': Cannot find field.`);
                }
            }
            if (row.insertId !== undefined && typeof row.insertId !== 'string') {
                return bad(`Invalid value at 'rows[${i}].insert_id' (TYPE_STRING),`
                           + ` ${JSON.stringify(row.insertId)}`);
            }
            if (!isObject(row.json)) {
                return bad(`Invalid value at 'rows[${i}].json'`
                           + ' (type.googleapis.com/google.protobuf.Struct):'
                           + ' a row needs a "json" object.');
            }
        }
        return null;
    }

    handleInsertAll(req, match, body) {
        const ctype = String(req.headers['content-type'] ?? '').toLowerCase();
        let project, dataset, table, doc, reply, fields, n;

        reply = this.checkAuth(req);
        if (reply) {
            return reply;
        }
        try {
            [project, dataset, table] = match.slice(1, 4).map(decodeURIComponent);
        } catch (e) {
            return googleError(400, 'invalid', 'Bad percent-encoding in the URL path.');
        }
        if (project !== this.project) {
            return googleError(404, 'notFound', `Not found: Project ${project}`);
        }
        if (!this.datasets.has(dataset)) {
            return googleError(404, 'notFound', `Not found: Dataset ${project}:${dataset}`);
        }
        fields = this.tables.get(table);
        if (!fields) {
            return googleError(404, 'notFound',
                               `Not found: Table ${project}:${dataset}.${table}`);
        }

        if (!/^application\/json\s*(;|$)/.test(ctype)) {
            return googleError(400, 'badRequest',
                'Invalid JSON payload received. Content-Type must be'
                + ` application/json (got ${JSON.stringify(ctype)}).`);
        }
        try {
            body = this.decodeBody(req, body);
        } catch (e) {
            if (e.code === 'ERR_BUFFER_TOO_LARGE') {
                return googleError(400, 'badRequest',
                    `Request payload size exceeds the limit: ${this.opts.maxBytes} bytes.`);
            }
            return googleError(400, 'badRequest',
                               `Cannot decode the request body: ${e.message}`);
        }
        if (body.length > this.opts.maxBytes) {
            return googleError(400, 'badRequest',
                `Request payload size exceeds the limit: ${this.opts.maxBytes} bytes.`);
        }
        try {
            doc = JSON.parse(body.toString('utf8'));
        } catch (e) {
            return googleError(400, 'badRequest',
                               `Invalid JSON payload received. ${e.message}`);
        }
        reply = this.checkEnvelope(doc);
        if (reply) {
            return reply;
        }
        n = doc.rows?.length ?? 0;
        if (n === 0) {
            return googleError(400, 'invalid', 'No rows present in the request.');
        }
        if (n > this.opts.maxRows) {
            return googleError(400, 'invalid',
                `too many rows present in the request, limit: ${this.opts.maxRows}`
                + ` row count: ${n}.`);
        }
        return this.insertRows(dataset, table, fields, doc);
    }

    insertRows(dataset, table, fields, doc) {
        const checked = [];
        const insertErrors = [];
        let stored = 0, dups = 0;

        for (const [index, row] of doc.rows.entries()) {
            const res = validateRow(fields, row.json, {
                ignoreUnknownValues: doc.ignoreUnknownValues,
            });
            const rule = res.errors.length === 0 ? this.rejection(table, row) : null;
            const errors = rule ? [rule] : res.errors;

            if (errors.length > 0) {
                insertErrors.push({
                    index,
                    errors: errors.map((e) => ({
                        reason: 'invalid', location: e.location, debugInfo: '',
                        message: e.message,
                    })),
                });
            }
            checked.push({ row, value: res.value, ok: errors.length === 0 });
        }
        this.stats.rowsInvalid += insertErrors.length;

        if (insertErrors.length > 0 && !doc.skipInvalidRows) {
            for (const [index, c] of checked.entries()) {
                if (c.ok) {
                    insertErrors.push({
                        index,
                        errors: [{ reason: 'stopped', location: '', debugInfo: '',
                                   message: '' }],
                    });
                    this.stats.rowsStopped += 1;
                }
            }
            insertErrors.sort((a, b) => a.index - b.index);
        } else {
            const key = `${dataset}.${table}`;
            if (!this.seen.has(key)) {
                this.seen.set(key, new Set());
            }
            const seen = this.seen.get(key);
            for (const c of checked) {
                const id = c.row.insertId || null;
                if (!c.ok) {
                    continue;
                }
                if (id !== null && seen.has(id)) {
                    dups += 1;
                    continue;
                }
                if (id !== null) {
                    seen.add(id);
                }
                this.rows.push({
                    seq: ++this.rowSeq,
                    table,
                    dataset,
                    insertId: id,
                    json: c.value,
                });
                stored += 1;
            }
            if (this.rows.length > this.opts.keepRows) {
                // --keep-rows: only the newest are kept, for long benches
                this.rows.splice(0, this.rows.length - this.opts.keepRows);
            }
            this.stats.rowsStored += stored;
            this.stats.duplicatesSkipped += dups;
            this.stats.rowsByTable[table] = (this.stats.rowsByTable[table] ?? 0) + stored;
        }

        const out = { kind: 'bigquery#tableDataInsertAllResponse' };
        if (insertErrors.length > 0) {
            out.insertErrors = insertErrors;
        }
        const reply = jsonReply(200, out);
        reply.note = `rows=${doc.rows.length} stored=${stored} dup=${dups}`
            + ` errors=${insertErrors.length}`;
        return reply;
    }

    // ---- request plumbing -------------------------------------------------

    route(req, url) {
        let m;

        if (url.pathname.startsWith('/_stub/')) {
            return { kind: 'control' };
        }
        if (url.pathname === '/token') {
            return { kind: 'token', limit: 64 * 1024 };
        }
        if (url.pathname === METADATA_TOKEN_PATH) {
            return { kind: 'metadata', limit: 64 * 1024 };
        }
        m = INSERT_ALL_RE.exec(url.pathname);
        if (m && req.method === 'POST') {
            return { kind: 'insertAll', match: m, limit: this.opts.maxBytes };
        }
        return { kind: 'other', limit: 64 * 1024 };
    }

    noteRequest(req, kind) {
        const sock = req.socket;
        const entry = {
            seq: ++this.requestSeq,
            kind,
            method: req.method,
            path: req.url,
            connection: sock.oieId,
        };

        this.stats.requestsTotal += 1;
        if (sock.oieGeneration !== this.generation) {
            sock.oieGeneration = this.generation;
            this.stats.connections += 1;
        }
        if (this.recordHeaders) {
            entry.httpVersion = req.httpVersion;
            entry.headers = req.headers;
        }
        if (this.requestLog.length >= RECORD_LIMIT) {
            this.requestLog.shift();
        }
        this.requestLog.push(entry);
        return entry;
    }

    count(kind, status, entry) {
        const by = this.stats.requests[kind];

        by[status] = (by[status] ?? 0) + 1;
        entry.status = status;
    }

    send(res, reply) {
        res.writeHead(reply.status, {
            ...reply.headers,
            'Content-Length': Buffer.byteLength(reply.body),
        });
        res.end(reply.body);
    }

    async handle(req, res) {
        const url = new URL(req.url, 'http://stub.invalid');
        const route = this.route(req, url);
        const gen = this.generation;
        let entry, fault, got, reply, body;

        if (route.kind === 'control') {
            return this.control(req, res, url);
        }
        entry = this.noteRequest(req, route.kind);
        fault = KINDS.includes(route.kind) ? this.takeFault(route.kind) : null;

        if (fault?.action === 'drop' && fault.phase === 'headers') {
            this.count(route.kind, 'dropped', entry);
            log(`${req.method} ${url.pathname} fault: drop at headers`);
            req.socket.destroy();
            return;
        }

        try {
            got = await readBody(req, route.limit, route.limit * 2);
        } catch (e) {
            this.count(route.kind, 'aborted', entry);
            log(`${req.method} ${url.pathname} not answered: ${e.message}`);
            req.socket.destroy();
            return;
        }
        if (got.tooLarge === 'hard') {
            // Like Google's front end: far too large is refused before the
            // API sees it.
            reply = googleError(413, 'requestTooLarge', 'Request Too Large');
            this.count(route.kind, 413, entry);
            log(`${req.method} ${url.pathname} 413 request too large`);
            this.send(res, reply);
            return;
        }

        if (fault?.action === 'drop' && fault.phase === 'body') {
            this.count(route.kind, 'dropped', entry);
            log(`${req.method} ${url.pathname} fault: drop after body`);
            req.socket.destroy();
            return;
        }
        if (fault?.action === 'stall') {
            this.count(route.kind, 'stalled', entry);
            log(`${req.method} ${url.pathname} fault: stall`);
            this.stalled.add(req.socket);
            req.socket.on('close', () => this.stalled.delete(req.socket));
            return;
        }

        if (fault?.action === 'error') {
            reply = this.faultReply(route.kind, fault);
        } else if (got.tooLarge) {
            reply = route.kind === 'insertAll'
                ? googleError(400, 'badRequest',
                    `Request payload size exceeds the limit: ${route.limit} bytes.`)
                : googleError(413, 'requestTooLarge', 'Request Too Large');
        } else {
            body = got.buf;
            if (route.kind === 'insertAll') {
                reply = this.handleInsertAll(req, route.match, body);
            } else if (route.kind === 'token') {
                reply = this.handleToken(req, body);
            } else if (route.kind === 'metadata') {
                reply = this.handleMetadata(req);
            } else {
                reply = googleError(404, 'notFound',
                    `Not found: ${req.method} ${url.pathname} is not an API of the stand-in.`);
            }
        }
        got.release?.();
        body = undefined;

        const line = `${req.method} ${url.pathname} ${reply.status}`
            + (reply.note ? ` ${reply.note}` : '')
            + (fault ? ` fault=${fault.action}` : '');

        if (fault?.action === 'drop') {
            this.count(route.kind, 'dropped', entry);
            log(`${line} (dropped before answering)`);
            req.socket.destroy();
            return;
        }
        if (fault?.action === 'truncate') {
            this.count(route.kind, 'truncated', entry);
            log(`${line} (truncated)`);
            res.writeHead(reply.status, {
                ...reply.headers,
                'Content-Length': Buffer.byteLength(reply.body) + 64,
            });
            res.write(reply.body.slice(0, Math.ceil(reply.body.length / 2)));
            setImmediate(() => req.socket.destroy());
            return;
        }
        this.count(route.kind, reply.status, entry);
        if (fault?.action === 'delay') {
            const t = setTimeout(() => {
                this.timers.delete(t);
                if (this.generation === gen && !req.socket.destroyed) {
                    log(`${line} (after ${fault.delay_ms} ms)`);
                    this.send(res, reply);
                }
            }, fault.delay_ms);
            this.timers.set(t, req.socket);
            return;
        }
        log(line);
        this.send(res, reply);
    }

    // ---- control API ------------------------------------------------------

    async control(req, res, url) {
        let body = {}, reply;

        if (req.method === 'POST' || req.method === 'PUT') {
            const got = await readBody(req, MB, 2 * MB);
            if (got.tooLarge) {
                this.send(res, this.controlError(413, 'control body too large'));
                return;
            }
            if (got.buf.length > 0) {
                try {
                    body = JSON.parse(got.buf.toString('utf8'));
                } catch (e) {
                    this.send(res, this.controlError(400, `body is not JSON: ${e.message}`));
                    return;
                }
                if (!isObject(body)) {
                    this.send(res, this.controlError(400, 'body must be a JSON object'));
                    return;
                }
            }
        } else {
            req.resume();
        }
        try {
            reply = this.controlRoute(req.method, url, body);
        } catch (e) {
            if (!(e instanceof UsageError)) {
                throw e;
            }
            reply = this.controlError(400, e.message);
        }
        this.send(res, reply);
    }

    controlError(code, message) {
        return jsonReply(code, { error: { code, message } });
    }

    controlRoute(method, url, body) {
        const path = url.pathname;
        const want = (m) => {
            if (method !== m) {
                throw new UsageError(`${path} wants ${m}, not ${method}`);
            }
        };

        switch (path) {
        case '/_stub/health':
            return jsonReply(200, {
                ok: true, port: this.port, project: this.project,
                datasets: [...this.datasets], tables: [...this.tables.keys()],
                tokenUrl: this.tokenUrl(),
            });
        case '/_stub/fault':
            want('POST');
            return jsonReply(200, { queued: this.addFault(body), pending: this.pendingFaults() });
        case '/_stub/faults':
            if (method === 'DELETE') {
                this.faults = { insertAll: [], token: [], metadata: [] };
            }
            return jsonReply(200, { pending: this.pendingFaults() });
        case '/_stub/reject':
            want('POST');
            this.addReject(body);
            return jsonReply(200, { rules: this.rejects });
        case '/_stub/rejects':
            if (method === 'DELETE') {
                this.rejects = [];
            }
            return jsonReply(200, { rules: this.rejects });
        case '/_stub/expire-tokens': {
            want('POST');
            let n = 0;
            for (const t of this.tokens.values()) {
                t.expiresAt = 0;
                n += 1;
            }
            return jsonReply(200, { expired: n });
        }
        case '/_stub/config':
            if (method === 'POST') {
                this.configure(body);
            }
            return jsonReply(200, this.config());
        case '/_stub/rows':
            return jsonReply(200, { rows: this.selectRows(url.searchParams) });
        case '/_stub/stats':
            return jsonReply(200, { ...this.stats, stalled: this.stalled.size,
                                    tokensLive: this.liveTokens() });
        case '/_stub/requests':
            return jsonReply(200, { requests: this.requestLog });
        case '/_stub/reset':
            want('POST');
            checkKeys(body, ['tokens'], 'reset');
            if (body.tokens !== undefined && typeof body.tokens !== 'boolean') {
                throw new UsageError('reset tokens must be true or false');
            }
            this.reset({ tokens: body.tokens === true });
            return jsonReply(200, { ok: true });
        default:
            return this.controlError(404, `no control endpoint ${path}`);
        }
    }

    liveTokens() {
        const now = Date.now();
        let n = 0;

        for (const t of this.tokens.values()) {
            n += now < t.expiresAt ? 1 : 0;
        }
        return n;
    }

    pendingFaults() {
        return Object.fromEntries(KINDS.map((k) => [k, this.faults[k]]));
    }

    addFault(b) {
        checkKeys(b, ['kind', 'action', 'count', 'status', 'reason', 'message',
                      'delay_ms', 'phase', 'body', 'retry_after'], 'fault');
        const f = {
            kind: b.kind,
            action: b.action ?? 'error',
            remaining: b.count ?? 1,
        };

        if (!KINDS.includes(f.kind)) {
            throw new UsageError(`fault kind must be one of ${KINDS.join(', ')}`);
        }
        if (!ACTIONS.includes(f.action)) {
            throw new UsageError(`fault action must be one of ${ACTIONS.join(', ')}`);
        }
        if (!Number.isInteger(f.remaining) || f.remaining < 1 || f.remaining > 1e6) {
            throw new UsageError('fault count must be an integer in 1..1000000');
        }
        if (f.action === 'error') {
            if (!Number.isInteger(b.status) || b.status < 400 || b.status > 599) {
                throw new UsageError('an error fault needs status, an integer in 400..599');
            }
            f.status = b.status;
            for (const k of ['reason', 'message']) {
                if (b[k] !== undefined) {
                    if (typeof b[k] !== 'string') {
                        throw new UsageError(`fault ${k} must be a string`);
                    }
                    f[k] = b[k];
                }
            }
            if (b.body !== undefined) {
                if (!['json', 'html', 'empty'].includes(b.body)) {
                    throw new UsageError('fault body must be json, html or empty');
                }
                f.body = b.body;
            }
            if (b.retry_after !== undefined) {
                if (!Number.isInteger(b.retry_after) || b.retry_after < 0) {
                    throw new UsageError('fault retry_after must be a non-negative integer');
                }
                f.retry_after = b.retry_after;
            }
        } else {
            for (const k of ['status', 'reason', 'message', 'body', 'retry_after']) {
                if (b[k] !== undefined) {
                    throw new UsageError(`fault ${k} only goes with action error`);
                }
            }
        }
        if (f.action === 'delay') {
            if (!Number.isInteger(b.delay_ms) || b.delay_ms < 0 || b.delay_ms > 600000) {
                throw new UsageError('a delay fault needs delay_ms, an integer in 0..600000');
            }
            f.delay_ms = b.delay_ms;
        } else if (b.delay_ms !== undefined) {
            throw new UsageError('delay_ms only goes with action delay');
        }
        if (f.action === 'drop') {
            f.phase = b.phase ?? 'headers';
            if (!DROP_PHASES.includes(f.phase)) {
                throw new UsageError(`drop phase must be one of ${DROP_PHASES.join(', ')}`);
            }
        } else if (b.phase !== undefined) {
            throw new UsageError('phase only goes with action drop');
        }
        this.faults[f.kind].push(f);
        return f;
    }

    addReject(b) {
        checkKeys(b, ['insert_ids', 'field', 'equals', 'table', 'message', 'count'],
                  'reject');
        const rule = {};

        if (b.insert_ids !== undefined) {
            if (!Array.isArray(b.insert_ids) || b.insert_ids.length === 0
                || !b.insert_ids.every((s) => typeof s === 'string'))
            {
                throw new UsageError('insert_ids must be a non-empty array of strings');
            }
            if (b.field !== undefined || b.equals !== undefined) {
                throw new UsageError('give insert_ids or field+equals, not both');
            }
            rule.insert_ids = b.insert_ids;
        } else {
            if (typeof b.field !== 'string' || b.field === '' || !('equals' in b)) {
                throw new UsageError('a reject rule needs insert_ids, or field and equals');
            }
            rule.field = b.field;
            rule.equals = b.equals;
        }
        if (b.table !== undefined) {
            if (!this.tables.has(b.table)) {
                throw new UsageError(`no table ${JSON.stringify(b.table)}`);
            }
            rule.table = b.table;
        }
        if (b.message !== undefined) {
            if (typeof b.message !== 'string') {
                throw new UsageError('reject message must be a string');
            }
            rule.message = b.message;
        }
        if (b.count !== undefined) {
            if (!Number.isInteger(b.count) || b.count < 1) {
                throw new UsageError('reject count must be a positive integer');
            }
            rule.remaining = b.count;
        }
        this.rejects.push(rule);
    }

    configure(b) {
        checkKeys(b, ['token_lifetime', 'record_headers'], 'config');
        if (b.token_lifetime !== undefined) {
            if (!Number.isInteger(b.token_lifetime) || b.token_lifetime < 0
                || b.token_lifetime > 86400)
            {
                throw new UsageError('token_lifetime must be an integer in 0..86400');
            }
            this.tokenLifetime = b.token_lifetime;
        }
        if (b.record_headers !== undefined) {
            if (typeof b.record_headers !== 'boolean') {
                throw new UsageError('record_headers must be true or false');
            }
            this.recordHeaders = b.record_headers;
        }
    }

    config() {
        return {
            token_lifetime: this.tokenLifetime,
            record_headers: this.recordHeaders,
            max_rows: this.opts.maxRows,
            max_bytes: this.opts.maxBytes,
            clock_skew: this.opts.clockSkew,
        };
    }

    selectRows(params) {
        const table = params.get('table');
        const dataset = params.get('dataset');

        if (table !== null && !this.tables.has(table)) {
            throw new UsageError(`no table ${JSON.stringify(table)}`);
        }
        return this.rows.filter((r) => (table === null || r.table === table)
                                && (dataset === null || r.dataset === dataset));
    }
}

function checkKeys(obj, allowed, what) {
    for (const k of Object.keys(obj)) {
        if (!allowed.includes(k)) {
            throw new UsageError(`unknown ${what} key ${JSON.stringify(k)};`
                                 + ` known: ${allowed.join(', ')}`);
        }
    }
}

function rewriteTokenUri(keyFile, uri) {
    const key = JSON.parse(readFileSync(keyFile, 'utf8'));
    const mode = statSync(keyFile).mode & 0o777;

    key.token_uri = uri;
    writeFileAtomic(keyFile, JSON.stringify(key, null, 2) + '\n', mode);
}

function main() {
    let opts, stub;

    try {
        opts = parseCommandLine(process.argv.slice(2));
    } catch (e) {
        process.stderr.write(`bqstub: ${e.message}\n${USAGE}`);
        process.exit(2);
    }
    if (opts.help) {
        process.stdout.write(USAGE);
        return;
    }
    quiet = opts.quiet;
    try {
        stub = new Stub(opts);
    } catch (e) {
        if (e instanceof KeyError || e instanceof SchemaError) {
            process.stderr.write(`bqstub: ${e.message}\n`);
            process.exit(1);
        }
        throw e;
    }

    const server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeout * 1000 });
    server.headersTimeout = 60000;
    server.requestTimeout = 120000;

    server.on('connection', (sock) => {
        sock.oieId = ++stub.connSeq;
        stub.sockets.add(sock);
        sock.on('close', () => stub.sockets.delete(sock));
    });
    server.on('request', (req, res) => {
        stub.handle(req, res).catch((e) => {
            log(`internal error on ${req.method} ${req.url}: ${e.stack}`);
            if (!res.headersSent && !req.socket.destroyed) {
                stub.send(res, googleError(500, 'internalError',
                                           `stand-in internal error: ${e.message}`));
            } else {
                req.socket.destroy();
            }
        });
    });
    server.on('clientError', (err, sock) => {
        if (sock.writable) {
            sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n'
                     + 'Content-Length: 0\r\n\r\n');
        }
        sock.destroy();
    });
    server.on('error', (e) => {
        process.stderr.write(`bqstub: cannot listen on ${opts.host}:${opts.port}:`
                             + ` ${e.message}\n`);
        process.exit(1);
    });

    const shutdown = (why) => {
        log(`stopping (${why})`);
        server.close();
        for (const s of stub.sockets) {
            s.destroy();
        }
        process.exit(0);
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', () => shutdown('SIGHUP'));
    if (opts.parentPid !== undefined) {
        setInterval(() => {
            try {
                process.kill(opts.parentPid, 0);
            } catch (e) {
                shutdown(`parent ${opts.parentPid} is gone`);
            }
        }, 500).unref();
    }

    server.listen(opts.port, opts.host, () => {
        stub.port = server.address().port;
        try {
            if (opts.setTokenUri) {
                rewriteTokenUri(opts.keyFile, stub.tokenUrl());
                stub.key.tokenUri = stub.tokenUrl();
            }
            if (opts.portFile) {
                writeFileAtomic(opts.portFile, `${stub.port}\n`, 0o644);
            }
        } catch (e) {
            process.stderr.write(`bqstub: ${e.message}\n`);
            process.exit(1);
        }
        log(`listening on http://${opts.host}:${stub.port} project=${stub.project}`
            + ` datasets=${[...stub.datasets].join(',')}`
            + ` tables=${[...stub.tables.keys()].join(',')}`);
    });
}

main();
