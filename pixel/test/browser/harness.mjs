// What the browser tests share: a private nginx with the oie module (its
// own prefix, port, logs and sink directory), headless Chromium through
// playwright-core, and readers for the events the module writes.
//
// The module must be built (build/ngx_http_oie_module.so): without it these
// tests fail, unless OIE_SKIP_BROWSER=1 says to skip them.

import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export const PIXEL = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const ROOT = resolve(PIXEL, '..');
export const MODULE = process.env.OIE_MODULE || join(ROOT, 'build/ngx_http_oie_module.so');
export const NDK = process.env.OIE_NDK || '/usr/lib/nginx/modules/ndk_http_module.so';
export const NGINX = process.env.NGINX || '/usr/sbin/nginx';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SKIP = process.env.OIE_SKIP_BROWSER == '1' ? 'OIE_SKIP_BROWSER=1' : false;

// The answer a stand-in /p gives (the module's oie_personalize answers the
// same shape); "NoSuch1" is an unknown lead.
export const LEAD = { firstName: 'Ada', company: 'Acme', intentLevel: 'hot' };

// Fails loudly when something the browser tests need is missing.
export const requireParts = () => {
    for (const [what, path] of [['the oie module (run make)', MODULE], ['ngx_devel_kit', NDK],
                                ['nginx', NGINX], ['chromium (apt-get install chromium)', CHROMIUM],
                                ['the pixel build (run make)', join(PIXEL, 'dist/pixel.min.js')]])
    {
        if (!existsSync(path)) throw new Error(`${what} is missing: ${path}`);
    }
};

const freePort = () => new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => ok(port));
    });
});

const canConnect = (port) => new Promise((ok) => {
    const c = connect(port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); ok(true); });
    c.on('error', () => ok(false));
});

// Starts nginx in the foreground as a child; resolves once it listens.
// With { tls: true } the same site is also served over https (a
// self-signed certificate made for the run) on tlsPort.
export const startNginx = async ({ tls = false, redis = 0, secret = '' } = {}) => {
    requireParts();
    const dir = mkdtempSync(join(tmpdir(), 'oie-pixel-'));
    chmodSync(dir, process.env.OIE_CORE ? 0o777 : 0o755);   // workers run as nobody when we are root
    const port = await freePort();
    const tlsPort = tls ? await freePort() : 0;
    const sink = join(dir, 'sink');
    mkdirSync(join(dir, 'logs'));
    mkdirSync(sink);
    // nginx runs a private copy of the module: a rebuild writes the .so in
    // place, and a running nginx that has it mapped would see its code and
    // data change under it (and its workers crash).
    const module = join(dir, 'ngx_http_oie_module.so');
    copyFileSync(MODULE, module);
    if (tls) {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
                                 '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
                                 '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
                     { stdio: 'ignore' });
    }
    const conf = `
load_module ${NDK};
load_module ${module};
worker_processes 1;
pid ${dir}/nginx.pid;
${process.env.OIE_CORE ? `worker_rlimit_core 1g; working_directory ${dir};` : ''}
error_log ${dir}/logs/error.log info;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;

    ${redis ? `oie_redis 127.0.0.1:${redis} timeout=500ms;` : ''}
    ${secret ? `oie_secret ${secret};` : ''}
    oie_zone oie 8m;
    oie_sink file ${sink} max_age=100ms;
    oie_batch rows=100 interval=50ms;

    server {
        listen 127.0.0.1:${port};
        ${tls ? `listen 127.0.0.1:${tlsPort} ssl;
        ssl_certificate ${dir}/cert.pem;
        ssl_certificate_key ${dir}/key.pem;` : ''}
        server_name localhost;

        location = /t {
            # the tests create this file to make the edge fail (5xx)
            if (-f ${dir}/fail) {
                return 503;
            }
            oie_track;
        }

        # an edge that refuses everything: a 4xx is never retried
        location = /t400 {
            default_type application/json;
            return 400 '{"error":"bad event"}';
        }

        ${redis ? `# the module's own click redirect and personalization, from Redis
        location /r/ {
            oie_redirect fallback=/;
        }
        location = /p {
            oie_personalize fields=firstName,company;
        }` : ''}

        # Otherwise a stand-in for the module's /p with its answers.
        location = ${redis ? '/p-stand-in' : '/p'} {
            default_type application/json;
            if ($arg_i = "NoSuch1") {
                return 404 '{"error":"unknown id"}';
            }
            if ($arg_i = "Down503") {
                return 503 '{"error":"redis unavailable"}';
            }
            if ($arg_i = "Html123") {
                return 200 '{"firstName":"<img src=x onerror=window.__xss=1>","company":"A&B <Co>"}';
            }
            return 200 '${JSON.stringify(LEAD)}';
        }

        location = /pixel.js {
            alias ${PIXEL}/dist/pixel.min.js;
            add_header Cache-Control "public, max-age=3600";
        }

        location /fixtures/ {
            alias ${PIXEL}/test/browser/fixtures/;
        }

        location / {
            root ${PIXEL}/examples;
            index index.html;
        }
    }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    const proc = spawn(NGINX, ['-p', dir + '/', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
                       { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const exited = new Promise((ok) => proc.on('exit', (code, sig) => ok({ code, sig })));
    // a test process that ends early takes its nginx with it
    const reap = () => proc.exitCode === null && proc.kill('SIGKILL');
    process.on('exit', reap);
    // nginx writes its pid file once it holds the port: only then is what
    // answers on the port this nginx (a free port can be taken meanwhile)
    const up = async () => proc.exitCode === null && existsSync(join(dir, 'nginx.pid')) && canConnect(port);
    for (let i = 0; i < 100 && !(await up()); i++) {
        if (proc.exitCode !== null) break;
        await sleep(50);
    }
    if (!(await up())) {
        proc.kill('SIGKILL');
        const why = `nginx did not start: ${stderr}\n${readLog(dir)}`;
        if (!process.env.OIE_KEEP) rmSync(dir, { recursive: true, force: true });
        throw new Error(why);
    }
    const base = `http://127.0.0.1:${port}`;
    return {
        dir, port, base, sink, tlsBase: tls ? `https://127.0.0.1:${tlsPort}` : undefined,
        fail: (on) => (on ? writeFileSync(join(dir, 'fail'), '') : rmSync(join(dir, 'fail'), { force: true })),
        events: () => readRows(join(sink, 'events')),
        clicks: () => readRows(join(sink, 'email_clicks')),
        // Polls the sink (files complete every 100 ms) until `pred` holds
        // for the rows; bounded. Returns the rows either way.
        async waitFor(pred, tries = 300) {
            let rows = [];
            for (let i = 0; i < tries; i++) {
                rows = this.events();
                if (pred(rows)) return rows;
                await sleep(50);
            }
            process.stderr.write(`# waited ${tries / 20} s for the sink; ${await this.health()}\n`);
            return rows;
        },
        // Whether nginx still answers, asked without the browser.
        async health() {
            try {
                const r = await fetch(base + '/fixtures/blank.html', { signal: AbortSignal.timeout(3000) });
                return `nginx answers ${r.status}`;
            } catch (e) {
                let ps = '';
                try {
                    ps = execFileSync('sh', ['-c', `ps -eo pid,ppid,stat,pcpu,wchan:25,cmd | grep -E "${proc.pid}|PID" | grep -v grep;
                        for p in $(pgrep -P ${proc.pid}) ${proc.pid}; do echo "== $p"; gdb -p $p -batch -ex bt 2>/dev/null | grep '^#' | head -20; done;
                        ls -la ${dir} ${dir}/logs; ss -ltnp | grep ${port}`]).toString();
                } catch (x) {
                    ps = String(x);
                }
                return `nginx does not answer (${e.message}); log:\n${readLog(dir).slice(-1500)}\n${ps}`;
            }
        },
        // Rows whose visitor is `vid`, once `pred` holds for them.
        async rowsOf(vid, pred = (r) => r.length > 0) {
            const mine = (all) => all.filter((r) => r.visitor_id == vid);
            return mine(await this.waitFor((all) => pred(mine(all))));
        },
        log: () => readLog(dir),
        // Graceful stop: the module drains everything to files on quit.
        async stop() {
            if (proc.exitCode === null) {
                proc.kill('SIGQUIT');
                const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
                await exited;
                clearTimeout(t);
            }
            return readRows(join(sink, 'events'));
        },
        cleanup() {
            // OIE_KEEP=1 keeps the prefix (config, logs, sink) for a look
            if (process.env.OIE_KEEP) return process.stderr.write(`# kept ${dir}\n`);
            rmSync(dir, { recursive: true, force: true });
        },
    };
};

const readLog = (dir) => {
    try {
        return readFileSync(join(dir, 'logs/error.log'), 'utf8');
    } catch (e) {
        return '';
    }
};

// Every row of every completed *.ndjson file, ordered by event time (the
// pixel keeps its timestamps strictly increasing within a page).
export const readRows = (dir) => {
    let files = [];
    try {
        files = readdirSync(dir).filter((f) => f.endsWith('.ndjson')).sort();
    } catch (e) {
        return [];
    }
    const rows = [];
    for (const f of files) {
        for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
            if (line.trim()) rows.push(JSON.parse(line));
        }
    }
    return rows.sort((a, b) => Date.parse(a.event_time) - Date.parse(b.event_time));
};

let pw;
// Headless Debian Chromium, a fresh profile each launch.
export const launch = async (extra = {}) => {
    pw = pw || await import('playwright-core');
    return pw.chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        ...extra,
        // No name resolves but the loopback's: nothing leaves this machine,
        // whatever a page links to (request interception would do it too,
        // but it drops the beacons a closing page sends).
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
               '--disable-component-update', '--disable-sync', '--disable-quic',
               '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
               ...(extra.args || [])],
    });
};

// Collects console errors and uncaught page errors; `allow` lists messages
// a test causes on purpose (a failed /t or /p request logs one).
export const watchConsole = (page, errors, allow = []) => {
    page.on('console', (m) => {
        if (m.type() == 'error' && !allow.some((re) => re.test(m.text()))) errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
};

// The page really hidden, as when the visitor switches tabs: Chromium's
// own visibility change (a DevTools emulation of focus/visibility).
export const hide = async (page) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    return cdp;
};

// What the pixel stored in this page's origin.
export const stored = (page) => page.evaluate(() => ({
    cookie: (/(?:^|; )_oie_id=([^;]*)/.exec(document.cookie) || [])[1],
    id: JSON.parse(localStorage._oie_id || 'null'),
    session: JSON.parse(localStorage._oie_s || 'null'),
    queue: JSON.parse(localStorage._oie_q || 'null'),
    consent: localStorage._oie_c,
}));

export const flush = (page) => page.evaluate(() => window.oie.flush());

// The tracker has started: it runs a task after the tag, and its first act
// is to store the visitor's id.
export const ready = (page) => page.waitForFunction(() => /(^|; )_oie_id=/.test(document.cookie));

export const CLI = process.env.OIE_CLI || join(ROOT, 'build/oie');

// One CSV line (quoted fields may hold commas; no newlines in this data).
const csvLine = (line) => {
    const out = [];
    for (const m of line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)) {
        out.push(m[1].startsWith('"') ? m[1].slice(1, -1).replace(/""/g, '"') : m[1]);
    }
    return out;
};

// A private Redis (no persistence) on a free port. load(base) turns the
// sample leads into a campaign whose links point at `base` (the oie CLI)
// and pushes them into this Redis; it resolves to the leads, each
// { email, firstName, company, trackingUrl, leadId }.
export const startRedis = async () => {
    for (const [what, path] of [['the oie CLI (run make)', CLI], ['redis-server', '/usr/bin/redis-server']]) {
        if (!existsSync(path)) throw new Error(`${what} is missing: ${path}`);
    }
    const dir = mkdtempSync(join(tmpdir(), 'oie-pixel-redis-'));
    const port = await freePort();
    const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
                                                 '--appendonly', 'no', '--dir', dir],
                       { stdio: 'ignore' });
    process.on('exit', () => proc.exitCode === null && proc.kill('SIGKILL'));
    for (let i = 0; i < 100 && !(await canConnect(port)); i++) await sleep(50);
    writeFileSync(join(dir, 'secret'), 'a test secret of more than sixteen bytes\n');
    return {
        port,
        secret: join(dir, 'secret'),
        // signed: ids are "<id>.<tag>", signed with this.secret
        load(base, { signed = false } = {}) {
            execFileSync(CLI, ['campaign', 'create', '--name', 'Pixel Test', '--quiet',
                               '--leads', join(PIXEL, 'examples/sample-leads.csv'),
                               ...(signed ? ['--secret-file', this.secret] : []),
                               '--base-url', base, '--landing', base + '/', '--out', dir]);
            const files = readdirSync(dir);
            execFileSync(CLI, ['leads', 'push', '--redis', `127.0.0.1:${port}`,
                               join(dir, files.find((f) => f.endsWith('identities.ndjson')))]);
            const [head, ...rows] = readFileSync(join(dir, files.find((f) => f.endsWith('-urls.csv'))), 'utf8')
                .trim().split(/\r?\n/).map(csvLine);
            return rows.map((r) => {
                const o = Object.fromEntries(head.map((h, i) => [h, r[i]]));
                return { email: o.email, firstName: o['first name'], company: o.company,
                         trackingUrl: o.trackingUrl, leadId: o.leadId };
            });
        },
        async stop() {
            if (proc.exitCode === null) {
                proc.kill('SIGTERM');
                await new Promise((ok) => proc.on('exit', ok));
            }
            rmSync(dir, { recursive: true, force: true });
        },
    };
};
