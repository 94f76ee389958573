// Identity: the lead id from ?i=, kept 90 days; anonymous visitors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveId, parseId, formatId, TTL } from '../../src/identity.js';
import { rid, validId } from '../../src/util.js';

const NOW = 1732406400000;
const mint = () => 'anon' + Math.random().toString(36).slice(2, 8);

test('TTL is 90 days', () => {
    assert.equal(TTL, 90 * 24 * 3600 * 1000);
});

test('an anonymous first visit gets a fresh random id', () => {
    const w = resolveId(undefined, null, null, NOW, rid);
    assert.equal(w.lead, false);
    assert.match(w.id, /^[0-9a-z]{16,28}$/);
    assert.notEqual(resolveId(undefined, null, null, NOW, rid).id, w.id);
    assert.equal(formatId(w), w.id);
});

test('a lead id in the URL becomes the visitor id', () => {
    const w = resolveId(undefined, null, 'aB3dE9x', NOW, mint);
    assert.deepEqual(w, { id: 'aB3dE9x', lead: true, prev: undefined });
    assert.equal(formatId(w), 'aB3dE9x.l');
});

test('a returning visit keeps the id from the cookie, or from storage', () => {
    assert.deepEqual(resolveId('aB3dE9x.l', null, null, NOW, mint), { id: 'aB3dE9x', lead: true });
    assert.deepEqual(resolveId('v123', null, null, NOW, mint), { id: 'v123', lead: false });
    assert.deepEqual(resolveId(undefined, { v: 'aB3dE9x.l', x: NOW + 1 }, null, NOW, mint),
                     { id: 'aB3dE9x', lead: true }, 'cookie cleared, localStorage remains');
});

test('a signed link id (<id>.<tag>) is kept whole, as the edge checks it', () => {
    const w = resolveId(undefined, null, 'aB3dE9x.Q2w3E4r5', NOW, mint);
    assert.deepEqual(w, { id: 'aB3dE9x.Q2w3E4r5', lead: true, prev: undefined });
    assert.equal(formatId(w), 'aB3dE9x.Q2w3E4r5.l');
    assert.deepEqual(parseId('aB3dE9x.Q2w3E4r5.l'), { id: 'aB3dE9x.Q2w3E4r5', lead: true });
    assert.deepEqual(parseId('aB3dE9x.l'), { id: 'aB3dE9x', lead: true });
    assert.deepEqual(parseId('aB3dE9x'), { id: 'aB3dE9x', lead: false });
    assert.deepEqual(resolveId('aB3dE9x.Q2w3E4r5.l', null, 'aB3dE9x.Q2w3E4r5', NOW, mint),
                     { id: 'aB3dE9x.Q2w3E4r5', lead: true });
    assert.equal(validId('a.b.c'), false);
});

test('localStorage past its 90 days is not used', () => {
    const w = resolveId(undefined, { v: 'aB3dE9x.l', x: NOW - 1 }, null, NOW, () => 'fresh');
    assert.deepEqual(w, { id: 'fresh', lead: false });
});

test('an anonymous visitor who arrives as a lead keeps a link to the past', () => {
    const w = resolveId('v123', null, 'aB3dE9x', NOW, mint);
    assert.deepEqual(w, { id: 'aB3dE9x', lead: true, prev: 'v123' });
    const same = resolveId('aB3dE9x.l', null, 'aB3dE9x', NOW, mint);
    assert.equal(same.prev, undefined, 'the same lead again is not a new identity');
    const other = resolveId('aB3dE9x.l', null, 'Zz99yy1', NOW, mint);
    assert.deepEqual(other, { id: 'Zz99yy1', lead: true, prev: 'aB3dE9x' });
});

test('what is not an id is ignored, wherever it comes from', () => {
    for (const bad of ['', 'a b', 'ada@example.com', 'x'.repeat(65), '<script>', 'id;x=1']) {
        assert.equal(validId(bad), false, bad);
        const w = resolveId(undefined, null, bad, NOW, () => 'fresh');
        assert.deepEqual(w, { id: 'fresh', lead: false }, bad);
        assert.equal(parseId(bad), null);
    }
    assert.equal(parseId(undefined), null);
    assert.deepEqual(resolveId('bad value', { v: 'a;b', x: NOW + 5 }, null, NOW, () => 'f'),
                     { id: 'f', lead: false });
});
