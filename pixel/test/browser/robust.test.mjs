// The tracker never breaks the page: storage that throws, no sendBeacon,
// the script included twice, calls queued before it loaded, odd arguments,
// and text the edge would refuse if it were not cut to size.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, flush, ready, SKIP } from './harness.mjs';

const skip = SKIP;
let ng, browser;

before(async () => {
    if (SKIP) return;
    ng = await startNginx();
    browser = await launch();
});

after(async () => {
    await browser?.close();
    await ng?.stop();
    ng?.cleanup();
});

const open = async (path, init) => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    watchConsole(page, errors);
    if (init) await page.addInitScript(init);
    await page.goto(ng.base + path);
    await ready(page);
    return { ctx, page, errors };
};

test('localStorage that throws: the cookie carries the identity, events still go', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=NoStor1', () => {
        Object.defineProperty(window, 'localStorage', {
            get() { throw new DOMException('denied', 'SecurityError'); },
        });
    });
    await page.evaluate(() => { oie.track('works'); oie.consent(false); oie.consent(true); });
    await page.mouse.wheel(0, 500);
    await flush(page);
    const rows = await ng.rowsOf('NoStor1', (r) => r.length >= 2);
    assert.deepEqual(rows.slice(0, 2).map((r) => r.custom_name || r.event_type), ['pageview', 'works']);
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('no sendBeacon: leaving the page still delivers, with fetch(keepalive)', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=NoBeac1', () => {
        delete Navigator.prototype.sendBeacon;
    });
    await page.evaluate(() => oie.track('last_words'));
    await page.goto(`${ng.base}/fixtures/blank.html`);
    const rows = await ng.rowsOf('NoBeac1', (r) => r.some((x) => x.custom_name == 'last_words'));
    assert.deepEqual(rows.slice(0, 2).map((r) => r.custom_name || r.event_type), ['pageview', 'last_words']);
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('included twice: one tracker, one page view', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=Twice11');
    await page.evaluate(() => new Promise((ok) => {
        const s = document.createElement('script');
        s.src = '/pixel.js';
        s.onload = ok;
        document.head.appendChild(s);
    }));
    await flush(page);
    const rows = await ng.rowsOf('Twice11');
    await page.waitForTimeout(300);
    assert.equal((await ng.rowsOf('Twice11')).filter((r) => r.event_type == 'pageview').length, 1);
    assert.ok(rows.length >= 1);
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('calls queued before the script loaded are played in order', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=Queue11', () => {
        window.oie = [['track', 'early_one', { n: 1 }], ['track', 'early_two']];
    });
    await flush(page);
    const rows = await ng.rowsOf('Queue11', (r) => r.length >= 3);
    assert.deepEqual(rows.map((r) => r.custom_name || r.event_type), ['pageview', 'early_one', 'early_two']);
    assert.deepEqual(JSON.parse(rows[1].properties), { n: 1 });
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('odd arguments to the public API do not throw', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=OddArg1');
    const threw = await page.evaluate(() => {
        try {
            const cyclic = {};
            cyclic.self = cyclic;
            oie.track();
            oie.track(42);
            oie.track('');
            oie.track('props', { ok: 'yes', n: 1.5, b: false, z: null, nested: { a: 1 }, list: [1], fn() {},
                                 inf: Infinity, cyclic, undef: undefined });
            oie.track('not_an_object', 'text');
            oie.consent();
            oie.consent(true);
            oie.flush(1, 2, 3);
            return false;
        } catch (e) {
            return e.message;
        }
    });
    assert.equal(threw, false);
    await flush(page);
    const rows = await ng.rowsOf('OddArg1', (r) => r.length >= 3);
    const props = rows.find((r) => r.custom_name == 'props');
    assert.deepEqual(JSON.parse(props.properties), { ok: 'yes', n: 1.5, b: false, z: null });
    assert.equal(rows.filter((r) => r.event_type == 'custom').length, 2, 'no event without a name');
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('long and non-Latin text is cut to what the edge accepts, so nothing is refused', { skip }, async () => {
    const { ctx, page, errors } = await open('/fixtures/plain.html?i=Unic0de');
    const refused = [];
    page.on('response', (r) => { if (r.url().endsWith('/t') && r.status() != 204) refused.push(r.status()); });
    await page.evaluate(() => {
        document.title = '日本語のタイトル😀'.repeat(100);
        oie.track('名前😀'.repeat(60), { text: 'é😀'.repeat(900), key: 'x'.repeat(2000) });
        const b = document.createElement('button');
        b.id = 'b'.repeat(300);
        b.textContent = '😀'.repeat(150);
        document.body.prepend(b);
        b.click();
    });
    await flush(page);
    const rows = await ng.rowsOf('Unic0de', (r) => r.length >= 3);
    assert.deepEqual(refused, []);
    assert.deepEqual(rows.map((r) => r.event_type), ['pageview', 'custom', 'click']);
    const custom = rows[1];
    assert.ok(Buffer.byteLength(custom.title) <= 512);
    assert.ok(Buffer.byteLength(custom.custom_name) <= 128);
    assert.ok(custom.custom_name.startsWith('名前😀'));
    assert.ok(!/\ufffd/.test(custom.custom_name + custom.title), 'no broken characters');
    const props = JSON.parse(custom.properties);
    assert.ok(Buffer.byteLength(props.text) <= 1024 && props.text.startsWith('é😀'));
    assert.equal(props.key.length, 1024);
    assert.ok(Buffer.byteLength(rows[2].element_text) <= 400);
    assert.ok(rows[2].element_id.length <= 128);
    assert.deepEqual(errors, []);
    await ctx.close();
});
