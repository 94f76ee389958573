// The whole visit, end to end: a lead clicks a cold e-mail and lands on the
// example page with ?i=, is greeted by name, scrolls, clicks, submits the
// demo form, watches the video, moves through the SPA, and leaves. Real
// headless Chromium, real nginx with the oie module; the events are read
// back from the module's NDJSON sink and checked field by field, in order.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, launch, watchConsole, SKIP } from './harness.mjs';

const LEAD_ID = 'aB3dE9x';
const UTM = 'utm_source=email&utm_medium=cold-email&utm_campaign=q1';
const TYPED = { name: 'Ada Lovelace-Typed', email: 'ada.typed@analytical.example',
                message: 'secret-message-do-not-send' };

let ng, browser, rows = [], errors = [], landing, finalUrl, personalized;

// Everything the visitor does happens here, once; the tests below read
// what the module wrote.
before(async () => {
    if (SKIP) return;
    ng = await startNginx();
    browser = await launch();
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await ctx.newPage();
    watchConsole(page, errors);
    await page.addInitScript(() => {
        document.addEventListener('oie:personalized', (e) => { window.__personalized = e.detail; });
        // the test stays on the page: mailto and outbound links do not navigate
        addEventListener('click', (e) => {
            const a = e.target.closest('a');
            if (a && /^(mailto:|https:\/\/docs)/.test(a.href)) e.preventDefault();
        }, true);
    });

    landing = `${ng.base}/?i=${LEAD_ID}&${UTM}`;
    await page.goto(landing);
    await page.waitForFunction(() => window.__personalized);
    personalized = await page.evaluate(() => ({
        url: location.href,
        detail: window.__personalized,
        first: document.querySelector('h1 [data-personalize=firstName]').textContent,
        company: document.querySelector('.hero p [data-personalize=company]').textContent,
        hot: !document.querySelector('[data-show-if^="intentLevel"]').hidden,
        known: !document.querySelector('[data-show-if=company]').hidden,
        anonymous: !document.querySelector('[data-show-if="!company"]').hidden,
    }));

    // scroll down the page with the wheel, as a person would
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    for (let y = 0; y < height; y += 400) {
        await page.mouse.wheel(0, 400);
        await page.waitForTimeout(30);
    }
    await page.waitForFunction(() => innerHeight + scrollY >= document.documentElement.scrollHeight - 2);
    await page.waitForTimeout(100);

    await page.click('#plan-growth');
    await page.click('#price-sheet');
    await page.click('#mail-sales');
    await page.click('#docs-link');

    await page.fill('input[name=full_name]', TYPED.name);
    await page.fill('input[name=work_email]', TYPED.email);
    await page.fill('input[name=company]', 'Typed Company Ltd');
    await page.fill('textarea[name=message]', TYPED.message);
    await page.check('input[name=contact_ok]');
    await page.click('#demo-submit');
    await page.waitForSelector('#demo-thanks:not([hidden])');

    // the tour video, played at 4x so it ends in two seconds
    await page.evaluate(() => {
        const v = document.getElementById('product-tour');
        v.playbackRate = 4;
        return v.play();
    });
    await page.waitForFunction(() => document.getElementById('product-tour').ended, null, { timeout: 20000 });

    // the SPA: the nav pushes /?section=pricing, Back pops to the landing URL
    await page.click('header nav a[data-route=pricing]');
    await page.waitForFunction(() => location.search == '?section=pricing');
    await page.waitForTimeout(100);
    await page.goBack();
    await page.waitForFunction(() => location.search != '?section=pricing');
    await page.waitForTimeout(100);
    finalUrl = page.url();

    // leaving: Chromium hides the page (visibilitychange) and fires pagehide
    await page.close({ runBeforeUnload: true });
    // the browser sends the beacon after the page is gone: wait for it
    const mine = (all) => all.filter((r) => r.visitor_id == LEAD_ID);
    await ng.waitFor((all) => mine(all).filter((r) => r.event_type == 'pageview').length >= 3
                              && mine(all).at(-1).event_type == 'engagement');
    rows = mine(await ng.stop());
    await ctx.close();
});

after(async () => {
    await browser?.close();
    ng?.cleanup();
});

const skip = SKIP;
const of = (type, pred = () => true) => rows.filter((r) => r.event_type == type && pred(r));
const custom = (name) => of('custom', (r) => r.custom_name == name)[0];
const idx = (r) => rows.indexOf(r);

test('the lead id leaves the address bar, other parameters stay', { skip }, () => {
    assert.equal(personalized.url, `${ng.base}/?${UTM}`);
});

test('the page is personalized from /p', { skip }, () => {
    assert.deepEqual(personalized.detail, { ok: true, data: { firstName: 'Ada', company: 'Acme', intentLevel: 'hot' } });
    assert.equal(personalized.first, 'Ada');
    assert.equal(personalized.company, 'Acme');
    assert.ok(personalized.hot, 'the hot-intent banner shows');
    assert.ok(personalized.known, 'the known-company block shows');
    assert.ok(!personalized.anonymous, 'the anonymous block hides');
});

test('every event carries identity, session, campaign and the common fields', { skip }, () => {
    assert.ok(rows.length >= 20, `only ${rows.length} events: ${ng.log().slice(-2000)}`);
    const sessions = new Set(rows.map((r) => r.session_id));
    assert.equal(sessions.size, 1, 'one session for the whole visit');
    for (const r of rows) {
        assert.equal(r.lead_id, LEAD_ID, r.event_type);
        assert.equal(r.utm_source, 'email');
        assert.equal(r.utm_medium, 'cold-email');
        assert.equal(r.utm_campaign, 'q1');
        assert.equal(r.webdriver, true);
        assert.match(r.user_agent, /HeadlessChrome/);
        assert.match(r.event_time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
        assert.match(r.event_id, /\S/);
        assert.ok(r.url.startsWith(ng.base + '/'), r.url);
        assert.ok(!/[?&]i=/.test(r.url), 'never the lead id in a URL');
        assert.ok(r.title, 'title');
    }
    const times = rows.map((r) => Date.parse(r.event_time));
    assert.equal(new Set(times).size, times.length, 'timestamps strictly increase within a page');
});

test('the first event is the landing page view', { skip }, () => {
    const pv = rows[0];
    assert.equal(pv.event_type, 'pageview');
    assert.equal(pv.url, `${ng.base}/?${UTM}`);
    assert.equal(pv.title, 'Ledgerline: close your books in 3 days');
    assert.ok(!pv.referrer);
});

test('scroll depth 25, 50, 75, 100: once each, in order, on the landing view', { skip }, () => {
    const firstRoute = of('pageview')[1];
    const depths = of('scroll', (r) => idx(r) < idx(firstRoute)).map((r) => r.scroll_depth);
    assert.deepEqual(depths, [25, 50, 75, 100]);
});

test('clicks: button, download, mailto, outbound, with their text', { skip }, () => {
    const click = (id) => of('click', (r) => r.element_id == id)[0];
    const plan = click('plan-growth');
    assert.equal(plan.element_tag, 'button');
    assert.equal(plan.element_text, 'Start free trial');
    assert.equal(plan.link_type, 'button');
    assert.ok(!plan.link_url);
    const sheet = click('price-sheet');
    assert.equal(sheet.element_tag, 'a');
    assert.equal(sheet.link_type, 'download');
    assert.equal(sheet.link_url, `${ng.base}/pricing-sheet.pdf`);
    assert.equal(sheet.element_text, 'Download the price sheet (PDF)');
    const mail = click('mail-sales');
    assert.equal(mail.link_type, 'mailto');
    assert.equal(mail.link_url, 'mailto:sales@example.com?subject=Ledgerline');
    const docs = click('docs-link');
    assert.equal(docs.link_type, 'outbound');
    assert.equal(docs.link_url, 'https://docs.example.org/ledgerline');
    assert.equal(docs.element_text, 'Documentation');
    const nav = of('click', (r) => r.element_text == 'Pricing')[0];
    assert.equal(nav.link_type, 'internal');
    assert.equal(nav.link_url, `${ng.base}/?section=pricing`);
    // the page's own custom event follows the click that caused it
    const picked = custom('plan_selected');
    assert.equal(JSON.parse(picked.properties).plan, 'growth');
    assert.equal(idx(picked), idx(plan) + 1);
});

test('the form submission names the form and its fields, never a value', { skip }, () => {
    const [f] = of('form_submit');
    assert.ok(f, 'form_submit');
    assert.equal(f.form_id, 'demo-form');
    assert.equal(f.form_name, 'demo-request');
    const fields = typeof f.form_fields == 'string' ? JSON.parse(f.form_fields) : f.form_fields;
    assert.deepEqual(fields, ['full_name', 'work_email', 'company', 'team_size', 'message', 'contact_ok']);
    const all = JSON.stringify(rows);
    for (const v of [...Object.values(TYPED), 'Typed Company']) assert.ok(!all.includes(v), `"${v}" was sent`);
    const submitClick = of('click', (r) => r.element_id == 'demo-submit')[0];
    assert.ok(idx(submitClick) < idx(f) && idx(f) < idx(custom('demo_requested')));
});

test('the video: play, progress 25/50/75, complete, in order', { skip }, () => {
    const v = of('video');
    assert.deepEqual(v.map((r) => [r.video_action, r.video_percent]),
                     [['play', 0], ['progress', 25], ['progress', 50], ['progress', 75], ['complete', 100]]);
    for (const r of v) assert.equal(r.video_src, `${ng.base}/demo.webm`);
    assert.ok(idx(v[0]) > idx(of('form_submit')[0]));
});

test('SPA navigation: pushState and Back are page views, with the page left as referrer', { skip }, () => {
    const views = of('pageview');
    assert.deepEqual(views.map((r) => r.url),
                     [`${ng.base}/?${UTM}`, `${ng.base}/?section=pricing`, `${ng.base}/?${UTM}`]);
    assert.equal(finalUrl, `${ng.base}/?${UTM}`);
    assert.equal(views[1].referrer, views[0].url);
    assert.equal(views[1].title, 'Pricing | Ledgerline', 'the title the app set for the route');
    assert.equal(views[2].referrer, views[1].url);
    assert.ok(idx(views[1]) > idx(of('video').at(-1)));
});

test('engaged time: reported for each page view it belongs to, and on leaving', { skip }, () => {
    const views = of('pageview');
    const eng = of('engagement');
    assert.ok(eng.length >= 2, `${eng.length} engagement events`);
    for (const e of eng) {
        assert.ok(e.engaged_ms > 0 && e.engaged_ms < 120000, String(e.engaged_ms));
        const view = views.filter((v) => idx(v) < idx(e)).at(-1);
        assert.equal(e.url, view.url, 'engagement is about the page it happened on');
    }
    // the page view before each route change gets its engaged time first
    assert.equal(rows[idx(views[1]) - 1].event_type, 'engagement');
    // and leaving sends the last of it (sendBeacon as the page is hidden)
    assert.equal(rows.at(-1).event_type, 'engagement');
    assert.equal(rows.at(-1).url, views[2].url);
});

test('the expected events, in the order they happened', { skip }, () => {
    const seq = rows.map((r) => r.event_type + (r.event_type == 'click' ? ':' + (r.element_id || r.element_text)
        : r.event_type == 'custom' ? ':' + r.custom_name : r.event_type == 'video' ? ':' + r.video_action : ''));
    const want = ['pageview', 'scroll', 'click:plan-growth', 'custom:plan_selected', 'click:price-sheet',
                  'click:mail-sales', 'click:docs-link', 'click:demo-submit', 'form_submit',
                  'custom:demo_requested', 'video:play', 'video:progress', 'video:complete',
                  'click:Pricing', 'pageview', 'pageview', 'engagement'];
    let at = 0;
    for (const s of seq) if (s == want[at]) at++;
    assert.equal(at, want.length, `missing "${want[at]}" in order:\n${seq.join('\n')}`);
    assert.deepEqual([...new Set(rows.map((r) => r.event_type))].sort(),
                     ['click', 'custom', 'engagement', 'form_submit', 'pageview', 'scroll', 'video']);
});

test('no console errors', { skip }, () => {
    assert.deepEqual(errors, []);
});
