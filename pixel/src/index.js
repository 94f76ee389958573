// pixel.js: the Outbound Intent Engine's browser tracker.
//
//   <script async src="/pixel.js" data-endpoint="/t"></script>
//
// data- attributes of the script tag (all optional):
//   data-endpoint                where events go (default /t, next to the script)
//   data-personalize-endpoint    where lead fields come from (default /p)
//   data-personalization="off"   do not ask /p
//   data-consent="required"      collect, store and send nothing until
//                                oie.consent(true)
//   data-honor="gpc dnt"         treat Global Privacy Control / Do Not Track
//                                as "no consent yet" (oie.consent(true) wins)
//
// It never throws into the page: every entry point is wrapped.

import { cut, rid, validId, stripId, scrub, linkType, label, flat } from './util.js';
import { TTL, resolveId, formatId } from './identity.js';
import { arrival, touch } from './session.js';
import { batcher, retryQueue } from './batch.js';
import { personalize, apply } from './personalize/index.js';

const W = window, D = document, N = navigator, L = location, H = history;
const KI = '_oie_id', KS = '_oie_s', KQ = '_oie_q', KC = '_oie_c';
const on = (t, e, f, o) => t.addEventListener(e, f, o);
const now = () => Date.now();

// Entry points swallow their own errors: a tracker must not break a page.
const safe = (f) => (...a) => {
    try {
        return f(...a);
    } catch (e) {
        // the page goes on without this event
    }
};

const get = (k) => {
    try {
        return JSON.parse(localStorage[k] || 'null');
    } catch (e) {
        return null;
    }
};
const set = (k, v) => {
    try {
        localStorage[k] = JSON.stringify(v);
    } catch (e) {
        // storage full or disabled: the cookie and memory still work
    }
};

const boot = () => {
    if (W.oie?.track) return;                   // loaded twice

    const pre = W.oie,
          S = D.currentScript,                   // set while a classic script runs, async too
          cfg = S?.dataset || {},
          base = S?.src || L.href,
          endpoint = new URL(cfg.endpoint || '/t', base).href,
          honor = cfg.honor || '',
          cookie = '; Path=/; SameSite=Lax' + (L.protocol == 'https:' ? '; Secure' : ''),
          urlId = new URLSearchParams(L.search).get('i');

    // The lead id leaves the address bar at once, consent or not, so it is
    // not bookmarked, shared or passed on as a referrer.
    if (urlId != null) H.replaceState(H.state, '', L.pathname + stripId(L.search) + L.hash);

    // Calls made before the tracker runs wait here (at most 50); 0 once
    // there is no consent to wait for.
    let allowed, started, early = [], flush = () => {}, track = flush;

    const start = () => {
        if (started || !allowed) return;
        started = 1;
        const m = /(^|; )_oie_id=([^;]*)/.exec(D.cookie),
              who = resolveId(m?.[2], get(KI), urlId, now(), rid),
              id = formatId(who),
              lead = who.lead ? who.id : undefined;

        // 90 days in a first-party cookie and in localStorage, renewed on
        // every visit.
        D.cookie = KI + '=' + id + '; Max-Age=' + TTL / 1e3 + cookie;
        set(KI, { v: id, x: now() + TTL });

        // Sessions live in localStorage, so the site's tabs share them.
        let arr = arrival(L.search, validId(urlId) && urlId), sess;
        const session = (t, url) => {
            sess = touch(get(KS) || sess, t, url, arr, rid);
            arr = null;
            set(KS, sess);
            return sess;
        };

        // Transport: batches go out with fetch(keepalive) while the page
        // lives and with sendBeacon as it is hidden. Offline, a network
        // error or a 5xx parks the batch in a bounded localStorage queue for
        // a later retry; a 4xx means the edge refused the data for good.
        const rq = retryQueue(() => get(KQ), (v) => set(KQ, v));
        let retry = 0, gone = 0;
        const park = (b) => {
            rq.add(b);
            retry = retry || setTimeout(replay, 15e3);
        };
        const post = (b, hide) => {
            const body = JSON.stringify({ events: b, meta: { sentAt: now() } });
            if (!allowed) return;
            if (!N.onLine) return park(b);
            if (hide && N.sendBeacon?.(endpoint, body)) return;
            // A string body goes as text/plain;charset=UTF-8: no preflight.
            // A fetch the browser drops as the page unloads is not a
            // failure: keepalive still delivers it, so it is not parked
            // (which would send it twice).
            fetch(endpoint, { method: 'POST', body, keepalive: true })
                .then((r) => (r.status > 499 ? park(b) : r.ok && replay()), () => gone || park(b));
        };
        const q = batcher(safe(post));
        const replay = safe(() => {
            retry = 0;
            // a page on its way out leaves the queue to the next one
            const a = N.onLine && !gone ? rq.take() : [];
            if (a.length) {
                a.forEach(q.push);
                q.flush();
            }
        });
        flush = q.flush;

        // Events. Timestamps strictly increase within a page, so one page's
        // events keep their order in the warehouse.
        let last = 0, pageUrl, marks, vids, data;
        const emit = (type, extra) => {
            if (allowed) {
                const t = last = Math.max(now(), last + 1), s = session(t, pageUrl);
                q.push({ type, timestamp: t, sessionId: s.id, visitorId: who.id, leadId: lead,
                         url: pageUrl, title: cut(D.title, 512), ...s.u,
                         webdriver: !!N.webdriver, ...extra });
            }
        };
        track = (name, props) => {
            if (typeof name == 'string' && name) emit('custom', { name: cut(name, 128), props: flat(props) });
        };

        // Scroll depth: 25/50/75/100, once each per page view.
        const scroll = safe(() => {
            const h = D.documentElement.scrollHeight,
                  p = h > 0 ? (W.scrollY + W.innerHeight) / h * 100 : 100;
            for (const d of [25, 50, 75, 100]) {
                if (p + 1 >= d && !marks[d]) {
                    marks[d] = 1;
                    emit('scroll', { depth: d });
                }
            }
        });

        // Engaged time: the page is visible and focused and the visitor did
        // something in the last minute (a playing video counts). Heartbeats
        // carry the engaged ms since the previous engagement event, so a sum
        // over a page or a session is its engaged time.
        let eng = 0, since = 0, input = now();
        const upd = safe((end) => {
            const t = now();
            // A stretch ends now, a minute after the last input, or after
            // 10 s (a frozen tab or a clock jump must not count as engaged).
            if (since) eng += Math.min(t, input + 6e4, since + 1e4) - since;
            since = !end && !D.hidden && D.hasFocus() && t - input < 6e4 ? t : 0;
        });
        const report = (min, end) => {
            upd(end);
            if (eng >= min) {
                emit('engagement', { engagedMs: eng });
                eng = 0;
            }
        };
        const leave = safe(() => {
            report(1, 1);
            q.flush(1);
        });
        const active = () => {
            input = now();
            since || upd();
        };

        const view = (ref) => {
            pageUrl = scrub(L.href);
            marks = {};
            vids = new WeakMap();
            emit('pageview', { referrer: scrub(ref) });
            if (data) apply(D, data);
        };

        // SPA navigation: a pushState/replaceState/popstate that changes the
        // page (not only its #hash) is a page view. Checked a tick later, so
        // the app has rendered and set its title, and a push+replace pair
        // counts once.
        const route = safe(() => {
            const ref = pageUrl;
            if (scrub(L.href).split('#')[0] != ref.split('#')[0]) {
                report(1);
                view(ref);
            }
        });

        view(D.referrer);
        // A known browser became a lead: lets the warehouse stitch its past.
        if (who.prev) track('identify', { previousVisitorId: who.prev });

        for (const k of ['pushState', 'replaceState']) {
            const orig = H[k];
            H[k] = function () {
                const r = orig.apply(this, arguments);
                setTimeout(route);
                return r;
            };
        }
        on(W, 'popstate', () => setTimeout(route));
        on(W, 'pageshow', safe((e) => {
            if (e.persisted) {                      // back from the bfcache
                gone = 0;
                view(D.referrer);
                active();
            }
        }));
        on(W, 'pagehide', () => {
            gone = 1;
            leave();
        });
        on(D, 'visibilitychange', () => (D.hidden ? leave() : upd()));
        on(W, 'focus', active);                    // coming back to the window is activity
        on(W, 'blur', () => upd(1));
        on(W, 'online', replay);
        for (const e of ['keydown', 'scroll', 'mousemove', 'touchstart']) {
            on(D, e, active, { capture: true, passive: true });
        }
        on(W, 'scroll', scroll, { passive: true });
        on(W, 'load', () => setTimeout(scroll));

        // Clicks on links and buttons. The text is the element's visible
        // text, never the value of an input.
        on(D, 'click', safe((e) => {
            const el = e.target.closest('a,button,[role=button],[type=submit],[type=button]');
            if (el) {
                const a = el.tagName == 'A', h = a && el.href;
                emit('click', {
                    tag: el.tagName.toLowerCase(),
                    elementId: cut(el.id, 128),
                    text: label(el.innerText),      // an <input>'s is empty: its value is never read
                    href: h ? scrub(h) : undefined,
                    linkType: h ? linkType(h, L.host, el.hasAttribute('download')) : 'button',
                });
            }
        }), true);

        // Form submissions: which form and the NAMES of its fields, never a
        // value.
        on(D, 'submit', safe((e) => {
            const f = e.target, fields = [];
            for (const x of f.elements) {
                const n = cut(x.name, 128);
                if (n && fields.length < 50 && !fields.includes(n)) fields.push(n);
            }
            emit('form_submit', { formId: cut(f.getAttribute('id'), 128),
                                  formName: cut(f.getAttribute('name'), 128), fields });
        }), true);

        // HTML5 video: play, progress at 25/50/75 %, complete; once each per
        // video and page view. Media events do not bubble, hence capture. A
        // playing video keeps the visitor engaged.
        const media = safe((e) => {
            // |0 turns the NaN and Infinity of a video without a duration into 0
            const v = e.target, st = vids.get(v) || {}, pct = v.currentTime / v.duration * 100 + 0.5 | 0;
            const send = (action, p, k = action + p) => {
                if (!st[k]) {
                    st[k] = 1;
                    emit('video', { action, src: scrub(v.currentSrc || v.src), percent: p });
                }
            };
            if (v.tagName != 'VIDEO') return;
            vids.set(v, st);
            active();
            if (e.type == 'play') return send('play', pct, 'play');
            for (const p of [25, 50, 75]) if (pct >= p) send('progress', p);
            if (e.type == 'ended') send('complete', 100);
        });
        for (const e of ['play', 'timeupdate', 'ended']) on(D, e, media, true);

        setInterval(safe(() => {
            report(15e3);
            q.flush();
        }), 5e3);

        // Personalization: once per page, re-applied on SPA route changes.
        if (lead && cfg.personalization != 'off') {
            const u = new URL(cfg.personalizeEndpoint || '/p', base);
            u.searchParams.set('i', lead);
            personalize(u.href).then((d) => { data = d; });
        }
        replay();
        early && early.map((a) => track(...a));
    };

    W.oie = {
        track: safe((...a) => (started ? track(...a) : early && early.length < 50 && early.push(a))),
        flush: safe(() => flush()),
        consent: safe((yes) => {
            allowed = !!yes;
            if (yes) {
                set(KC, 1);
                start();
            } else {
                early = 0;
                D.cookie = KI + '=; Max-Age=0' + cookie;
                for (const k of [KI, KS, KQ, KC]) localStorage.removeItem(k);
            }
        }),
    };
    // Calls queued before the script arrived:
    //   window.oie = window.oie || []; oie.push(['track', 'signup', {plan: 'pro'}]);
    if (pre) pre.forEach((c) => W.oie[c[0]](...c.slice(1)));

    // The rest waits for the next task: the page's own work (parsing,
    // rendering, input) is not held up while the tag runs. Consent: until
    // it is given nothing runs, nothing is stored or sent.
    setTimeout(safe(() => {
        if (allowed == null) {
            allowed = get(KC) || !(cfg.consent == 'required'
                || (/gpc/i.test(honor) && N.globalPrivacyControl)
                || (/dnt/i.test(honor) && (N.doNotTrack || W.doNotTrack) == 1));
        }
        allowed ? start() : (early = 0);
    }));
};

safe(boot)();
