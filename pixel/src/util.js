// Small helpers shared by the tracker. Everything here is pure (no DOM), so
// node's test runner exercises it directly.

// Strings are cut to the sizes the edge accepts, so no batch is refused:
// the edge counts UTF-8 bytes, so a string with any non-ASCII character is
// cut to n / 3 UTF-16 units (at most 3 bytes each), and never inside a
// surrogate pair. Empty values are left out of the event altogether.
export const cut = (s, n) => (s || s === 0
    ? String(s).slice(0, /[^\0-\x7f]/.test(s) ? n / 3 : n).replace(/[\ud800-\udbff]$/, '')
    : undefined);

// A random id: 128 bits from crypto, in base 36 (about 25 characters).
export const rid = () => {
    let s = '';
    for (const x of crypto.getRandomValues(new Uint32Array(4))) s += x.toString(36);
    return s;
};

// Ids in the URL come from our own links: base62 (plus - and _ for ids
// minted elsewhere), at most 64 characters, and a signed link's ".<tag>"
// (kept: the edge checks it). Anything else, an e-mail address pasted into
// ?i= for instance, is not an id: it is neither stored nor sent.
export const validId = (s) => typeof s == 'string' && /^[\w-]{1,64}(\.[\w-]{1,64})?$/.test(s);

// Removes every `i=...` pair from a query string ("?a=1&i=x&b=2") and
// keeps the others byte for byte.
export const stripId = (search) => search.replace(/[?&]i=[^&]*/g, '').replace(/^&/, '?');

// URLs are data, not PII: a query value that looks like an e-mail address
// (newsletter links often carry one) is dropped before anything is sent.
export const scrub = (u, n = 2048) => {
    try {
        const x = new URL(u), drop = [];
        x.searchParams.forEach((v, k) => { /@/.test(v) && drop.push(k); });
        if (drop.length) {
            drop.forEach((k) => x.searchParams.delete(k));
            u = x.href;
        }
    } catch (e) {
        // not a URL: sent as it is, cut to size
    }
    return cut(u, n);
};

const DL = /\.(pdf|zip|t?gz|dmg|exe|msi|csv|xlsx?|docx?|pptx?|mp[34])$/i;

// What following a link means: mailto, tel, download, outbound, internal;
// a javascript: (or other non-web) link behaves like a button. `href` is
// absolute (an anchor's .href).
export const linkType = (href, host, download) => {
    const m = /^(mailto|tel):/i.exec(href), x = new URL(href);
    return m ? m[1].toLowerCase()
        : !/^https?:$/.test(x.protocol) ? 'button'
        : download || DL.test(x.pathname) ? 'download'
        : x.host == host ? 'internal' : 'outbound';
};

// Visible text of a clicked element: whitespace folded, at most 100 chars.
export const label = (s) => cut(String(s || '').replace(/\s+/g, ' ').trim(), 100);

// Custom event properties: a flat object of strings, finite numbers,
// booleans and nulls (at most 50, strings at most 1024 bytes); anything
// nested or callable is left out.
export const flat = (p) => {
    const o = {};
    for (const k of Object.keys(Object(p)).slice(0, 50)) {
        const v = p[k], t = typeof v;
        if (v === null || t == 'boolean' || t == 'string' || (t == 'number' && isFinite(v))) {
            o[k.slice(0, 64)] = t == 'string' ? cut(v, 1024) || '' : v;
        }
    }
    return o;
};
