// Page views of a single-page app (pushState, replaceState, popstate) and
// of a page restored from the back/forward cache.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, flush, ready, SKIP } from './harness.mjs';

const skip = SKIP;
let ng, browser;

before(async () => {
    if (SKIP) return;
    ng = await startNginx();
    // Playwright turns the back/forward cache off; a visitor's browser has it
    browser = await launch({ ignoreDefaultArgs: ['--disable-back-forward-cache'] });
});

after(async () => {
    await browser?.close();
    await ng?.stop();
    ng?.cleanup();
});

const spa = (q = '') => `${ng.base}/fixtures/spa.html${q}`;

test('pushState, replaceState and popstate that change the page are page views', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    watchConsole(page, errors);
    await page.goto(spa('?i=SpaNav1'));
    await ready(page);
    const step = async (f) => {
        await page.evaluate(f);
        await page.waitForTimeout(50);
    };
    await step(() => go('/fixtures/spa.html?view=a'));                 // push: a view
    await step(() => go('/fixtures/spa.html?view=b', true));           // replace to a new URL: a view
    await step(() => history.replaceState({ n: 1 }, ''));              // state only: not a view
    await step(() => history.pushState({}, '', '#details'));           // hash only: not a view
    await step(() => { go('/fixtures/spa.html?view=b&tab=2'); go('/fixtures/spa.html?view=a', true); });
    await step(() => history.back());                                  // popstate to ?view=b#details
    await page.waitForFunction(() => location.hash == '#details');
    await step(() => history.back());                                  // popstate to ?view=b: hash only
    await page.waitForFunction(() => location.search == '?view=b' && !location.hash);
    await step(() => history.back());                                  // popstate to the entry page
    await page.waitForFunction(() => location.search == '');
    await flush(page);
    const rows = await ng.rowsOf('SpaNav1', (r) => r.filter((x) => x.event_type == 'pageview').length >= 6);
    const views = rows.filter((r) => r.event_type == 'pageview');
    assert.deepEqual(views.map((v) => v.url.replace(ng.base, '')), [
        '/fixtures/spa.html',
        '/fixtures/spa.html?view=a',
        '/fixtures/spa.html?view=b',
        '/fixtures/spa.html?view=a',              // a push and a replace in one task: one view
        '/fixtures/spa.html?view=b#details',
        '/fixtures/spa.html',
    ]);
    assert.deepEqual(views.map((v) => v.title), ['SPA home', 'SPA a', 'SPA b', 'SPA a', 'SPA b', 'SPA home']);
    for (let i = 1; i < views.length; i++) assert.equal(views[i].referrer, views[i - 1].url);
    assert.equal(new Set(rows.map((r) => r.session_id)).size, 1);
    assert.deepEqual(errors, []);
    await ctx.close();
});

test('a page restored from the back/forward cache is a new page view', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.addInitScript(() => addEventListener('pageshow', (e) => {
        if (e.persisted) sessionStorage.restored = '1';
    }));
    await page.goto(spa('?i=Bfc4che'));
    await ready(page);
    await page.click('#to-blank');
    await page.waitForURL(/blank\.html/);
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForFunction(() => sessionStorage.restored == '1');
    await page.evaluate(() => oie.track('after_restore'));
    await flush(page);
    const rows = await ng.rowsOf('Bfc4che', (r) => r.some((x) => x.custom_name == 'after_restore'));
    const seq = rows.map((r) => r.custom_name || r.event_type);
    assert.deepEqual(seq.filter((s) => !/^(engagement|scroll)$/.test(s)), ['pageview', 'click', 'pageview', 'after_restore']);
    assert.equal(rows.filter((r) => r.event_type == 'pageview')[1].url, spa());
    await ctx.close();
});
