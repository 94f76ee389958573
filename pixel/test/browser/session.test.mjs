// Sessions and engaged time under a mocked clock (Playwright's page.clock
// replaces Date and the timers in the page): 30 minutes of inactivity end a
// session, a new campaign arrival starts one, heartbeats are sent while the
// visitor is engaged and stop when they are idle.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, stored, flush, ready, SKIP } from './harness.mjs';

const skip = SKIP;
const T0 = new Date('2026-03-02T09:00:00Z').getTime();
const MIN = 60e3;
let ng, browser, rows, errors = [], sessions = {};

before(async () => {
    if (SKIP) return;
    ng = await startNginx();
    browser = await launch();
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    watchConsole(page, errors);
    await page.clock.install({ time: T0 });
    await page.goto(`${ng.base}/fixtures/plain.html?i=Se55ion`);
    await ready(page);
    sessions.a = (await stored(page)).session;
    await page.mouse.move(50, 50);

    // 29 minutes idle: the same session
    await page.clock.fastForward(29 * MIN);
    await page.evaluate(() => oie.track('after_29_min'));
    // 31 more minutes idle: a new one
    await page.clock.fastForward(31 * MIN);
    await page.evaluate(() => oie.track('after_60_min'));
    sessions.b = (await stored(page)).session;

    // engaged for 20 s: input every 5 s, the 5 s tick reports at 15 s
    for (let i = 0; i < 4; i++) {
        await page.mouse.move(60 + i * 10, 60);
        await page.clock.runFor(5000);
    }
    await page.evaluate(() => oie.track('after_engaged'));
    // idle for 5 minutes: at most the last minute counts, then nothing
    await page.clock.runFor(5 * MIN);
    await page.evaluate(() => oie.track('after_idle'));
    await flush(page);

    // a new campaign arrival in the same tab starts a session; reloading
    // the same campaign link does not
    await page.goto(`${ng.base}/fixtures/plain.html?utm_source=news&utm_campaign=spring`);
    await ready(page);
    sessions.c = (await stored(page)).session;
    await page.goto(`${ng.base}/fixtures/plain.html?utm_source=news&utm_campaign=spring`);
    await ready(page);
    sessions.c2 = (await stored(page)).session;
    await page.goto(`${ng.base}/fixtures/plain.html?from=inside`);
    await ready(page);
    sessions.c3 = (await stored(page)).session;
    await flush(page);
    rows = await ng.rowsOf('Se55ion', (r) => r.filter((x) => x.event_type == 'pageview').length >= 4);
    await ctx.close();
});

after(async () => {
    await browser?.close();
    await ng?.stop();
    ng?.cleanup();
});

const named = (n) => rows.find((r) => r.custom_name == n);

test('the clock the page sees is the mocked one', { skip }, () => {
    assert.equal(Date.parse(rows[0].event_time), sessions.a.s);
    assert.ok(Math.abs(sessions.a.s - T0) < 5000, `${new Date(sessions.a.s).toISOString()}`);
});

test('activity within 30 minutes keeps the session', { skip }, () => {
    assert.equal(rows[0].event_type, 'pageview');
    assert.equal(named('after_29_min').session_id, rows[0].session_id);
    assert.equal(rows[0].session_id, sessions.a.id);
});

test('30 minutes without activity start a new session', { skip }, () => {
    const b = named('after_60_min');
    assert.notEqual(b.session_id, sessions.a.id);
    assert.equal(b.session_id, sessions.b.id);
    assert.equal(sessions.b.e, b.url, 'the new session enters on the page it starts on');
    for (const r of rows.filter((x) => Date.parse(x.event_time) >= Date.parse(b.event_time))
                        .filter((x) => Date.parse(x.event_time) < sessions.c.s)) {
        assert.equal(r.session_id, sessions.b.id, `${r.event_type} ${r.custom_name || ''}`);
    }
});

test('heartbeats while engaged, none while idle', { skip }, () => {
    const between = (a, b) => rows.filter((r) => r.event_type == 'engagement'
        && Date.parse(r.event_time) > Date.parse(named(a).event_time)
        && Date.parse(r.event_time) < Date.parse(named(b).event_time));
    const beats = between('after_60_min', 'after_engaged');
    assert.equal(beats.length, 1, 'one heartbeat after 15 s engaged');
    assert.ok(beats[0].engaged_ms >= 15000 && beats[0].engaged_ms <= 25000, String(beats[0].engaged_ms));
    const idle = between('after_engaged', 'after_idle');
    const idleMs = idle.reduce((n, r) => n + r.engaged_ms, 0);
    assert.ok(idleMs <= 75000, `idle time counted as engaged: ${idleMs} ms`);
    // the clock jumps earlier were not counted as engaged time
    const jumps = between('after_29_min', 'after_60_min').reduce((n, r) => n + r.engaged_ms, 0);
    assert.ok(jumps <= 10000, `a clock jump counted ${jumps} ms`);
});

test('a new campaign arrival starts a session; the same campaign again does not', { skip }, () => {
    assert.notEqual(sessions.c.id, sessions.b.id);
    assert.equal(sessions.c2.id, sessions.c.id);
    assert.equal(sessions.c3.id, sessions.c.id, 'a link without campaign keeps it');
    const views = rows.filter((r) => r.session_id == sessions.c.id && r.event_type == 'pageview');
    assert.equal(views.length, 3);
    for (const v of views) {
        assert.equal(v.utm_source, 'news', 'the session keeps its attribution');
        assert.equal(v.utm_campaign, 'spring');
    }
    assert.equal(sessions.c3.e, views[0].url, 'entry page');
    assert.equal(sessions.c3.x, views[2].url, 'exit page (so far)');
});

test('every event has a session id; no console errors', { skip }, () => {
    assert.ok(rows.every((r) => r.session_id));
    assert.deepEqual(errors, []);
});
