// Who the visitor is. A lead id arrives once in the URL (?i=, from a tracked
// e-mail link) and is kept 90 days in a first-party cookie and in
// localStorage, so either one survives the other being cleared. A visitor
// without one gets a random id, kept the same way.
//
// Stored value: "<id>" for an anonymous visitor, "<id>.l" for a known lead
// (a lead's visitor id is its lead id; a signed one is "<id>.<tag>.l").
// localStorage also keeps the expiry.

import { validId } from './util.js';

export const TTL = 90 * 864e5;

// Parses a stored value; malformed values count as absent.
export const parseId = (v) => {
    const m = /^([\w-]{1,64}(?:\.[\w-]{1,64})??)(\.l)?$/.exec(v || '');
    return m && { id: m[1], lead: !!m[2] };
};

export const formatId = (who) => who.id + (who.lead ? '.l' : '');

// cookie: the cookie's value; stored: localStorage's { v, x: expiry };
// urlId: ?i=. Returns { id, lead, prev }: prev is the visitor id this
// browser had before a (new) lead id arrived, so the warehouse can stitch
// the earlier visits.
export const resolveId = (cookie, stored, urlId, now, mint) => {
    const had = parseId(cookie) || (stored?.x > now && parseId(stored.v));
    if (validId(urlId) && !(had && had.lead && had.id == urlId)) {
        return { id: urlId, lead: true, prev: had?.id };
    }
    return had || { id: mint(), lead: false };
};
