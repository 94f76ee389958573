// make bench: what pixel.js costs the page.  The evaluation of the exact
// bytes of /pixel.js is timed in the browser with the Performance API
// (performance.now() around an inline script), on fresh pages, beside the
// same measure for an inline script that does nothing and for the one
// browser call the evaluation makes (history.replaceState) alone, so the
// tracker's own figure can be told from what the browser costs the page.  A figure,
// not a test: timings on a shared 2-core machine are noisy (DEVELOPERS.md),
// so this prints them against the 5 ms budget of the original product and
// never fails on them.  Loopback only; BENCH_PIXEL_RUNS pages (default 15).

import { startNginx, launch } from '../test/browser/harness.mjs';

const RUNS = Number(process.env.BENCH_PIXEL_RUNS || 15);
const ng = await startNginx();
const browser = await launch();

// one fresh page: [pixel.js evaluation, its deferred start task, an empty
// script's evaluation], in ms
const measure = async (i) => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    // a lead's first visit: the full path (identity, session, page view,
    // listeners, the /p request)
    await page.goto(`${ng.base}/fixtures/blank.html?i=Bench${i}x&utm_source=email`);
    const ms = await page.evaluate(async () => {
        const run = (code) => {
            const s = document.createElement('script');
            s.dataset.endpoint = '/t';
            s.textContent = code;
            const t0 = performance.now();
            document.head.appendChild(s);   // an inline script runs right here
            return performance.now() - t0;
        };
        const empty = run('/* nothing */');
        const code = await (await fetch('/pixel.js')).text();
        const evaluated = run(code);
        const t1 = performance.now();
        // the tracker's own task (identity, session, page view, listeners)
        // was queued by the script: it runs before ours
        await new Promise((ok) => setTimeout(ok));
        return [evaluated, performance.now() - t1, empty];
    });
    if (!(await page.evaluate(() => typeof window.oie.track == 'function')))
        throw new Error('pixel.js did not run');
    await ctx.close();
    return ms;
};

// another fresh page: what the one browser call that the evaluation makes
// (the lead id out of the address bar, before any other script ran)
// costs alone, as the pixel makes it
const replaceAlone = async (i) => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${ng.base}/fixtures/blank.html?i=Bench${i}x&utm_source=email`);
    const ms = await page.evaluate(() => {
        const t0 = performance.now();
        history.replaceState(history.state, '', location.pathname + '?utm_source=email');
        return performance.now() - t0;
    });
    await ctx.close();
    return ms;
};

await measure(-1);      // warm-up: the first page of a browser pays for more
const cols = [[], [], [], []];
for (let i = 0; i < RUNS; i++) {
    (await measure(i)).forEach((v, k) => cols[k].push(v));
    cols[3].push(await replaceAlone(i));
}
await browser.close();
await ng.stop();
ng.cleanup();

const f = (x) => x.toFixed(2) + ' ms';
const stats = (xs) => {
    xs.sort((a, b) => a - b);
    return `min ${f(xs[0])}, median ${f(xs[xs.length >> 1])}, max ${f(xs.at(-1))}`;
};
console.log(`pixel.js on ${RUNS} fresh pages of headless Chromium (budget 5 ms on the page):`);
console.log(`  evaluation          ${stats(cols[0])}`);
console.log(`  deferred start task ${stats(cols[1])}`);
console.log(`  an empty script     ${stats(cols[2])}`);
console.log(`  replaceState alone  ${stats(cols[3])}`);
