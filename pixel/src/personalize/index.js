// Personalization: the page asks /p?i=<lead id> once and fills
//   <span data-personalize="firstName">there</span>   (as text, never HTML)
//   <div data-show-if="intentLevel=hot|burning" hidden>…</div>
//   <div data-show-if="company">…</div>       shown when the field is known
//   <div data-show-if="!company">…</div>      shown when it is not
// The HTML carries the defaults (text, hidden attributes), so a page whose
// /p call fails, or an anonymous visitor, sees a complete page.

// Does `expr` hold for the lead's fields? "key", "!key", "key=a|b".
export const matches = (expr, data) => {
    const [, neg, k, v] = /^\s*(!?)\s*([^=]*?)\s*(?:=(.*))?$/.exec(expr || '');
    const val = data[k];
    return !neg == (v == null ? !!val || val === 0
                              : val != null && v.split('|').some((x) => x.trim() == val));
};

// Fills and shows/hides every marked element under `root`.
export const apply = (root, data) => {
    for (const el of root.querySelectorAll('[data-personalize]')) {
        const v = data[el.getAttribute('data-personalize')];
        if (v || v === 0) el.textContent = v;
    }
    for (const el of root.querySelectorAll('[data-show-if]')) {
        el.hidden = !matches(el.getAttribute('data-show-if'), data);
    }
};

// Asks `url` (/p?i=...) once, applies the answer, then tells the page with
// an `oie:personalized` event on document (detail: { ok, data }). Resolves
// to the lead's fields, or null when there was no usable answer.
export const personalize = (url, doc = document) => {
    const done = (data) => {
        doc.dispatchEvent(new CustomEvent('oie:personalized', { detail: { ok: !!data, data } }));
        return data;
    };
    return fetch(url)
        .then((r) => (r.ok ? r.json() : null))
        .then((d) => {
            d = d && typeof d == 'object' ? d : null;
            if (d) apply(doc, d);
            return done(d);
        })
        .catch(() => done(null));
};
