// Privacy: with data-consent="required" nothing is collected, stored or
// sent until oie.consent(true); Global Privacy Control and Do Not Track are
// honoured the same way when data-honor asks for it; oie.consent(false)
// forgets the visitor. Requests are watched in the browser, and the sink is
// checked for anything that slipped through.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, stored, flush, ready, SKIP } from './harness.mjs';

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

// A page whose requests to /t and /p are counted.
const open = async (ctx, path, init) => {
    const page = await ctx.newPage();
    const seen = { t: 0, p: 0 };
    const errors = [];
    watchConsole(page, errors);
    page.on('request', (r) => {
        const u = new URL(r.url());
        if (u.pathname == '/t') seen.t++;
        if (u.pathname == '/p') seen.p++;
    });
    if (init) await page.addInitScript(init);
    await page.goto(ng.base + path);
    await page.waitForFunction(() => window.oie);
    return { page, seen, errors };
};

// Everything a visitor does that the tracker would otherwise record.
const behave = async (page) => {
    await page.mouse.wheel(0, 2500);
    await page.click('#go, #link');
    await page.evaluate(() => { oie.track('should_not_be_sent'); oie.flush(); });
    await page.waitForTimeout(300);
};

const nothingStored = async (page, ctx) => {
    const s = await stored(page);
    assert.equal(s.cookie, undefined);
    assert.equal(s.id, null);
    assert.equal(s.session, null);
    assert.equal(s.queue, null);
    assert.deepEqual((await ctx.cookies()).filter((c) => c.name.startsWith('_oie')), []);
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('_oie'))), []);
};

test('consent required: nothing is stored or sent until oie.consent(true)', { skip }, async () => {
    const ctx = await browser.newContext();
    const { page, seen, errors } = await open(ctx, '/fixtures/consent.html?i=Cons3nt');
    assert.equal(page.url(), `${ng.base}/fixtures/consent.html`, 'the id still leaves the URL');
    await page.click('#link');
    await page.mouse.wheel(0, 2500);
    await page.evaluate(() => { oie.track('before_consent'); oie.flush(); });
    await page.waitForTimeout(300);
    assert.deepEqual(seen, { t: 0, p: 0 });
    await nothingStored(page, ctx);
    assert.equal(await page.textContent('[data-personalize]'), 'there', 'no /p before consent');

    await page.click('#accept');
    await page.waitForFunction(() => document.querySelector('[data-personalize]').textContent == 'Ada');
    await flush(page);
    const s = await stored(page);
    assert.equal(s.cookie, 'Cons3nt.l');
    assert.equal(s.consent, '1', 'the choice is remembered');
    const rows = await ng.rowsOf('Cons3nt');
    assert.equal(rows[0].event_type, 'pageview', 'tracking starts with the page view at consent');
    assert.ok(!rows.some((r) => r.custom_name == 'before_consent'));
    assert.equal(seen.p, 1);

    // a later page of the same site needs no new consent
    await page.reload();
    await ready(page);
    await flush(page);
    const again = await ng.rowsOf('Cons3nt', (r) => r.filter((x) => x.event_type == 'pageview').length >= 2);
    assert.equal(again.filter((x) => x.event_type == 'pageview').length, 2);
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('consent withdrawn: the visitor is forgotten and nothing more is sent', { skip }, async () => {
    const ctx = await browser.newContext();
    const { page, seen } = await open(ctx, '/fixtures/consent.html?i=W1thdrw');
    await page.click('#accept');
    await flush(page);
    await ng.rowsOf('W1thdrw');
    const before = seen.t;
    await page.click('#decline');
    await nothingStored(page, ctx);
    await page.evaluate(() => { oie.track('after_withdrawal'); oie.flush(); });
    await page.mouse.wheel(0, 2500);
    await page.waitForTimeout(300);
    await page.reload();
    await page.waitForFunction(() => window.oie);
    await behave(page);
    assert.equal(seen.t, before, 'no request after the withdrawal');
    await nothingStored(page, ctx);
    await ctx.close();
});

const gpc = () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
const dnt = () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' });

for (const [name, init] of [['Global Privacy Control', gpc], ['Do Not Track', dnt]]) {
    test(`${name}, when honoured: nothing until an explicit consent`, { skip }, async () => {
        const ctx = await browser.newContext();
        const id = name[0] == 'G' ? 'Gpc1sOn' : 'Dnt1sOn';
        const { page, seen, errors } = await open(ctx, `/fixtures/honor.html?i=${id}`, init);
        await behave(page);
        assert.deepEqual(seen, { t: 0, p: 0 });
        await nothingStored(page, ctx);
        await page.evaluate(() => oie.consent(true));
        await flush(page);
        const rows = await ng.rowsOf(id);
        assert.equal(rows[0].event_type, 'pageview');
        assert.ok(!rows.some((r) => r.custom_name == 'should_not_be_sent'));
        assert.deepEqual(errors, []);
        await ctx.close();
    });
}

test('GPC and DNT are not honoured where the site did not ask for it', { skip }, async () => {
    const ctx = await browser.newContext();
    const { page } = await open(ctx, '/fixtures/plain.html?i=NotAsk1', () => {
        Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true });
        Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' });
    });
    await ready(page);
    await flush(page);
    const rows = await ng.rowsOf('NotAsk1');
    assert.equal(rows[0].event_type, 'pageview');
    await ctx.close();
});

test('no PII: e-mail addresses in URLs and form values never leave the browser', { skip }, async () => {
    const ctx = await browser.newContext();
    const { page } = await open(ctx, '/?i=NoPii11&email=ada%40example.com&plan=pro');
    await ready(page);
    await page.fill('input[name=work_email]', 'typed@example.org');
    await page.fill('input[name=full_name]', 'Typed Name');
    await page.click('#demo-submit');
    await page.evaluate(() => history.pushState({}, '', '/?section=demo&contact=bob@example.net'));
    await page.waitForTimeout(100);
    await flush(page);
    const rows = await ng.rowsOf('NoPii11', (r) => r.filter((x) => x.event_type == 'pageview').length >= 2);
    const all = JSON.stringify(rows);
    for (const pii of ['ada', 'typed@example.org', 'Typed Name', 'bob@example.net', '%40']) {
        assert.ok(!all.includes(pii), `"${pii}" was sent`);
    }
    assert.equal(rows[0].url, `${ng.base}/?plan=pro`);
    await ctx.close();
});
