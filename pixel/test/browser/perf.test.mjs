// Cost on the page, without timing it: the tag is async, so the page does
// not wait for it, and its evaluation only starts it (the rest runs in the
// next task).  What the evaluation takes in milliseconds is a figure, not
// a test (timings here are noisy): make bench prints it, from
// pixel/bench/eval.mjs.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, SKIP } from './harness.mjs';

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

test('the evaluation defers the tracker\'s work to a task of its own', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${ng.base}/fixtures/blank.html?i=Perf1xx&utm_source=email`);
    const seen = await page.evaluate(async () => {
        const code = await (await fetch('/pixel.js')).text();
        const s = document.createElement('script');
        s.dataset.endpoint = '/t';
        s.textContent = code;
        document.head.appendChild(s);           // an inline script runs right here
        // right after it: the API is there, the id already out of the
        // address bar, but no identity stored yet
        const during = { api: typeof window.oie?.track, search: location.search,
                         cookie: /_oie_id=/.test(document.cookie) };
        await new Promise((ok) => setTimeout(ok));
        return { during, after: /_oie_id=Perf1xx/.test(document.cookie) };
    });
    assert.deepEqual(seen, {
        during: { api: 'function', search: '?utm_source=email', cookie: false },
        after: true,
    });
    await ctx.close();
});

test('the tag is async: the page does not wait for it', { skip }, async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // /pixel.js held back: the page must still finish parsing and load
    let release;
    const held = new Promise((ok) => { release = ok; });
    await page.route('**/pixel.js', async (route) => {
        await held;
        await route.continue();
    });
    await page.goto(`${ng.base}/?i=Async11`, { waitUntil: 'domcontentloaded' });
    assert.equal(await page.evaluate(() => typeof window.oie), 'undefined', 'the script is still held back');
    assert.equal(await page.evaluate(() => document.readyState != 'loading'), true);
    assert.equal(await page.textContent('h1 [data-personalize]'), 'there', 'the page shows its defaults meanwhile');
    release();
    await page.waitForFunction(() => window.oie);
    await ctx.close();
});
