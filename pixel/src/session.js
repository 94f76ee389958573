// Sessions: a session ends after 30 minutes without activity, and a new one
// starts when the visitor arrives through a different campaign (other UTM
// values or another tracked link). The state lives in localStorage so every
// tab of the site shares it:
//   { id, s: start ms, t: last activity ms, e: entry page, x: exit page
//     (the latest page), k: campaign key, u: UTM fields }

import { cut } from './util.js';

export const TIMEOUT = 30 * 60e3;

const UTM = ['Source', 'Medium', 'Campaign', 'Term', 'Content'];

// The campaign a page load arrives with: key '' when the URL names none.
export const arrival = (search, leadId) => {
    const p = new URLSearchParams(search), u = {};
    let k = leadId ? 'i=' + leadId : '';
    for (const n of UTM) {
        const v = p.get('utm_' + n.toLowerCase());
        if (v) k += '&' + n + '=' + (u['utm' + n] = cut(v, 256));
    }
    return { k, u };
};

// The session an event at `now` on page `url` belongs to. `arr` is the
// page's arrival (only on its first event; null afterwards). Returns the new
// state (a new id when this call started a new session).
export const touch = (s, now, url, arr, mint) => {
    if (!(s?.id && now - s.t <= TIMEOUT) || (arr?.k && arr.k != s.k)) {
        return { id: mint(), s: now, t: now, e: url, x: url, k: '', u: {}, ...arr };
    }
    return { ...s, t: now, x: url };
};
