// Identity: the lead id from ?i= is kept 90 days (first-party cookie,
// SameSite=Lax, Secure on https, and localStorage), leaves the address bar,
// and survives reloads, new tabs and either store being cleared. Anonymous
// visitors get a random id; when one later arrives as a lead, the warehouse
// is told which id came before.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, stored, flush, ready, SKIP } from './harness.mjs';

const skip = SKIP;
const DAY = 864e5;
let ng, browser;

before(async () => {
    if (SKIP) return;
    ng = await startNginx({ tls: true });
    browser = await launch();
});

after(async () => {
    await browser?.close();
    await ng?.stop();
    ng?.cleanup();
});

const plain = (q = '') => `${ng.base}/fixtures/plain.html${q}`;

test('a lead id is stored 90 days and stripped from the URL', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    watchConsole(page, errors);
    const t0 = Date.now();
    const other = await ctx.newPage();
    await other.goto(plain('?x=1'));
    const entries = await other.evaluate(() => history.length);
    await page.goto(plain('?x=1&i=aB3dE9x&y=a%20b#part-2'));
    await ready(page);
    assert.equal(page.url(), plain('?x=1&y=a%20b#part-2'), 'only i= is gone, byte for byte');
    assert.equal(await page.evaluate(() => history.length), entries, 'replaced, not pushed');

    const [c] = (await ctx.cookies()).filter((x) => x.name == '_oie_id');
    assert.equal(c.value, 'aB3dE9x.l');
    assert.equal(c.sameSite, 'Lax');
    assert.equal(c.secure, false, 'plain http: no Secure flag');
    assert.equal(c.httpOnly, false);
    assert.equal(c.path, '/');
    const days = (c.expires * 1000 - t0) / DAY;
    assert.ok(days > 89.9 && days < 90.1, `cookie lives ${days} days`);
    const s = await stored(page);
    assert.equal(s.id.v, 'aB3dE9x.l');
    assert.ok(Math.abs(s.id.x - (t0 + 90 * DAY)) < 60e3, 'localStorage keeps the same expiry');

    await flush(page);
    const rows = await ng.rowsOf('aB3dE9x');
    assert.equal(rows[0].event_type, 'pageview');
    assert.equal(rows[0].lead_id, 'aB3dE9x');
    assert.equal(rows[0].url, plain('?x=1&y=a%20b#part-2'));
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('the identity is kept across a reload, a new tab and cleared storage', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(plain('?i=Kp7mQ2z'));
    await ready(page);
    const first = await stored(page);
    await flush(page);

    await page.reload();
    await ready(page);
    await flush(page);
    const tab = await ctx.newPage();
    await tab.goto(plain('?from=tab'));
    await ready(tab);
    await flush(tab);
    assert.equal(tab.url(), plain('?from=tab'));

    // cookie gone: localStorage brings it back (and the cookie with it)
    await ctx.clearCookies();
    await tab.reload();
    await ready(tab);
    await flush(tab);
    assert.equal((await stored(tab)).cookie, 'Kp7mQ2z.l');
    // localStorage gone: the cookie is enough
    await tab.evaluate(() => localStorage.removeItem('_oie_id'));
    await tab.reload();
    await ready(tab);
    await flush(tab);
    assert.equal((await stored(tab)).id.v, 'Kp7mQ2z.l');

    const rows = await ng.rowsOf('Kp7mQ2z', (r) => r.filter((x) => x.event_type == 'pageview').length >= 5);
    const views = rows.filter((r) => r.event_type == 'pageview');
    assert.equal(views.length, 5, JSON.stringify(views.map((v) => [v.event_time, v.received_at, v.sent_at, v.url]), null, 1));
    for (const v of views) {
        assert.equal(v.visitor_id, 'Kp7mQ2z');
        assert.equal(v.lead_id, 'Kp7mQ2z');
        assert.equal(v.session_id, first.session.id, 'one session across reloads and tabs');
    }
    assert.deepEqual(views.map((v) => new URL(v.url).search),
                     ['', '', '?from=tab', '?from=tab', '?from=tab']);
    await ctx.close();
});

test('an anonymous visitor gets a random id, kept on return', { skip }, async () => {
    const ids = [];
    for (let i = 0; i < 2; i++) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        await page.goto(plain());
        await ready(page);
        const s = await stored(page);
        assert.match(s.cookie, /^[0-9a-z]{16,28}$/, 'no ".l": not a lead');
        await page.reload();
        await ready(page);
        assert.equal((await stored(page)).cookie, s.cookie);
        await flush(page);
        const rows = await ng.rowsOf(s.cookie, (r) => r.length >= 2);
        assert.ok(rows.every((r) => r.lead_id == null && r.visitor_id == s.cookie));
        ids.push(s.cookie);
        await ctx.close();
    }
    assert.notEqual(ids[0], ids[1], 'two browsers, two visitors');
});

test('an anonymous visitor who arrives through a tracked link becomes the lead', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(plain());
    await ready(page);
    const anon = await stored(page);
    await flush(page);
    await page.goto(plain('?i=Zz99yy1&utm_source=email'));
    await ready(page);
    const lead = await stored(page);
    assert.equal(lead.cookie, 'Zz99yy1.l');
    assert.notEqual(lead.session.id, anon.session.id, 'a campaign arrival starts a session');
    await flush(page);
    const rows = await ng.rowsOf('Zz99yy1', (r) => r.length >= 2);
    assert.deepEqual(rows.map((r) => r.event_type), ['pageview', 'custom']);
    assert.equal(rows[1].custom_name, 'identify');
    assert.deepEqual(JSON.parse(rows[1].properties), { previousVisitorId: anon.cookie });
    const before = await ng.rowsOf(anon.cookie);
    assert.equal(before.length, 1);
    assert.equal(before[0].lead_id, undefined);
    await ctx.close();
});

test('what is not an id in ?i= is neither stored nor sent, but still leaves the URL', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(plain('?i=ada%40example.com&k=2'));
    await ready(page);
    assert.equal(page.url(), plain('?k=2'));
    const s = await stored(page);
    assert.match(s.cookie, /^[0-9a-z]{16,28}$/);
    await flush(page);
    const rows = await ng.rowsOf(s.cookie);
    assert.ok(!JSON.stringify(rows).includes('example.com'));
    await ctx.close();
});

test('on https the cookie is Secure', { skip }, async () => {
    const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await ctx.newPage();
    await page.goto(`${ng.tlsBase}/fixtures/plain.html?i=Sec9ure`);
    await ready(page);
    const [c] = (await ctx.cookies()).filter((x) => x.name == '_oie_id');
    assert.equal(c.value, 'Sec9ure.l');
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, 'Lax');
    await flush(page);
    const rows = await ng.rowsOf('Sec9ure');
    assert.ok(rows[0].url.startsWith('https://127.0.0.1:'));
    await ctx.close();
});
