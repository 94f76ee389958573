// Human confirmation, end to end: a cold-email click on /r/<id> that lands
// on the page where pixel.js runs ends human_confirmed (a click_confirmed
// row for the lead, from the visitor whose pageview proved a browser ran
// JavaScript); a scanner's click before it stays a scanner's; a browser that
// says it is automated (navigator.webdriver) confirms nothing.  Real
// headless Chromium, real nginx with the module, real Redis.
//
// The "person" is headless Chromium with an ordinary user agent and without
// the automation flag, as a person's browser is; the automated one keeps
// both as Playwright leaves them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNginx, startRedis, launch, watchConsole, ready, flush, SKIP } from './harness.mjs';

const skip = SKIP;
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
         + '(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
let ng, redis, person, robot, leads, errors = [];

// the click rows of a lead once pred holds for them (bounded wait)
const clicksOf = async (lead, pred) => {
    let rows = [];
    for (let i = 0; i < 200; i++) {
        rows = ng.clicks().filter((r) => r.lead_id == lead || r.raw_id == lead);
        if (pred(rows)) break;
        await new Promise((r) => setTimeout(r, 50));
    }
    return rows;
};

// a visit from the e-mail: the click, the landing page, the pixel's pageview
const visit = async (browser, lead, options = {}) => {
    const ctx = await browser.newContext(options);
    const page = await ctx.newPage();
    watchConsole(page, errors);
    await page.goto(lead.trackingUrl);
    await ready(page);
    await flush(page);
    const seen = await page.evaluate(() => ({ webdriver: navigator.webdriver }));
    await ctx.close();
    // the visitor id its pageview carried
    let views = [];
    for (let i = 0; i < 200 && !views.length; i++) {
        views = ng.events().filter((e) => e.lead_id == lead.leadId && e.event_type == 'pageview');
        if (!views.length) await new Promise((r) => setTimeout(r, 50));
    }
    seen.visitor = views.length ? views[views.length - 1].visitor_id : undefined;
    seen.pageview = views[views.length - 1];
    return seen;
};

before(async () => {
    if (SKIP) return;
    redis = await startRedis();
    ng = await startNginx({ redis: redis.port });
    leads = redis.load(ng.base);
    person = await launch({ args: ['--disable-blink-features=AutomationControlled'] });
    robot = await launch();
});

after(async () => {
    await person?.close();
    await robot?.close();
    await ng?.stop();
    ng?.cleanup();
    await redis?.stop();
});

test('a person: click, landing page, pixel -> human_confirmed', { skip }, async () => {
    const lead = leads[0];
    const seen = await visit(person, lead, { userAgent: UA });
    assert.equal(seen.webdriver, false, 'a browser that does not say it is automated');
    const rows = await clicksOf(lead.leadId, (r) => r.some((x) => x.event_type == 'click_confirmed'));
    const click = rows.find((x) => x.event_type == 'email_click');
    const confirmed = rows.find((x) => x.event_type == 'click_confirmed');
    assert.ok(click, 'the email_click row');
    assert.ok(['human', 'unknown'].includes(click.traffic_class),
              `the click may be a person's: ${click.traffic_class} ${JSON.stringify(click.traffic_reasons)}`);
    assert.ok(confirmed, `a click_confirmed row: ${JSON.stringify(rows)}`);
    assert.equal(confirmed.outcome, 'ok');
    assert.equal(confirmed.campaign, click.campaign, 'the campaign of the click');
    assert.equal(confirmed.visitor_id, seen.visitor, 'the visitor whose pageview confirmed it');
    assert.equal(confirmed.traffic_class, 'human', "the pageview was a person's");
    assert.ok(Date.parse(confirmed.event_time) >= Date.parse(click.event_time),
              'confirmed after the click');
    assert.equal(rows.filter((x) => x.event_type == 'click_confirmed').length, 1, 'once');
});

test('a scanner first, then the person: both kept, each labelled', { skip }, async () => {
    const lead = leads[1];
    // an e-mail gateway checks the link with a headless browser's user agent
    const res = await fetch(lead.trackingUrl, {
        redirect: 'manual',
        headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
                                 + '(KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36' },
    });
    assert.equal(res.status, 302, 'the scanner gets its 302');
    // the person reads the mail a little later (a click within 2 s of the
    // first one of a message is a scanner's sweep: oie_classify_timing)
    await new Promise((r) => setTimeout(r, 2500));
    await visit(person, lead, { userAgent: UA });
    const rows = await clicksOf(lead.leadId, (r) => r.some((x) => x.event_type == 'click_confirmed'));
    const clicks = rows.filter((x) => x.event_type == 'email_click');
    assert.equal(clicks.length, 2, 'two clicks');
    assert.notEqual(clicks[0].traffic_class, 'human', `the scanner's: ${clicks[0].traffic_class}`);
    assert.ok(['bot', 'scanner'].includes(clicks[0].traffic_class), 'labelled a machine');
    assert.ok(['human', 'unknown'].includes(clicks[1].traffic_class),
              `the person's: ${clicks[1].traffic_class} ${JSON.stringify(clicks[1].traffic_reasons)}`);
    assert.equal(rows.filter((x) => x.event_type == 'click_confirmed').length, 1,
                 "one confirmation: the person's click");
});

test('an automated browser (navigator.webdriver) confirms nothing', { skip }, async () => {
    const lead = leads[2];
    const seen = await visit(robot, lead, { userAgent: UA });
    assert.equal(seen.webdriver, true, 'Playwright says it drives the browser');
    const rows = await clicksOf(lead.leadId, (r) => r.some((x) => x.event_type == 'email_click'));
    assert.ok(rows.some((x) => x.event_type == 'email_click'), 'the click is recorded');
    assert.ok(seen.pageview, 'its pageview is in the sink');
    assert.equal(seen.pageview.traffic_class, 'bot', 'marked, not dropped');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(ng.clicks().filter((x) => x.lead_id == lead.leadId
                                       && x.event_type == 'click_confirmed').length, 0,
                 'no click_confirmed');
});

test('no page errors', { skip }, () => {
    assert.deepEqual(errors, []);
});
