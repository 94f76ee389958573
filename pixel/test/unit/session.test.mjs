// Sessions: 30-minute inactivity timeout, new session on a new campaign.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrival, touch, TIMEOUT } from '../../src/session.js';

let n = 0;
const mint = () => 's' + ++n;
const T0 = 1732406400000;

test('the first event starts a session with entry and exit page', () => {
    const s = touch(null, T0, 'https://ex.com/a', arrival('', ''), mint);
    assert.match(s.id, /^s\d+$/);
    assert.equal(s.s, T0);
    assert.equal(s.t, T0);
    assert.equal(s.e, 'https://ex.com/a');
    assert.equal(s.x, 'https://ex.com/a');
    assert.deepEqual(s.u, {});
});

test('activity within 30 minutes keeps the session; the exit page follows', () => {
    const a = touch(null, T0, '/a', null, mint);
    const b = touch(a, T0 + TIMEOUT - 1, '/b', null, mint);
    const c = touch(b, T0 + 2 * TIMEOUT - 2, '/c', null, mint);
    assert.equal(b.id, a.id);
    assert.equal(c.id, a.id, 'the timeout counts from the last activity, not the start');
    assert.equal(c.e, '/a');
    assert.equal(c.x, '/c');
    assert.equal(c.s, T0);
    assert.equal(c.t, T0 + 2 * TIMEOUT - 2);
});

test('exactly 30 minutes of inactivity still counts, one ms more does not', () => {
    const a = touch(null, T0, '/a', null, mint);
    assert.equal(touch(a, T0 + TIMEOUT, '/b', null, mint).id, a.id);
    const c = touch(a, T0 + TIMEOUT + 1, '/b', null, mint);
    assert.notEqual(c.id, a.id);
    assert.equal(c.e, '/b', 'the new session enters on the page it starts on');
    assert.equal(c.s, T0 + TIMEOUT + 1);
});

test('a new campaign arrival starts a new session, the same one does not', () => {
    const arr1 = arrival('?utm_source=mail&utm_campaign=q1', '');
    const a = touch(null, T0, '/a', arr1, mint);
    assert.deepEqual(a.u, { utmSource: 'mail', utmCampaign: 'q1' });
    const same = touch(a, T0 + 1000, '/a', arrival('?utm_campaign=q1&utm_source=mail', ''), mint);
    assert.equal(same.id, a.id, 'reloading the same campaign link');
    const other = touch(same, T0 + 2000, '/a', arrival('?utm_source=mail&utm_campaign=q2', ''), mint);
    assert.notEqual(other.id, a.id);
    assert.deepEqual(other.u, { utmSource: 'mail', utmCampaign: 'q2' });
    const plain = touch(other, T0 + 3000, '/b', arrival('?x=1', ''), mint);
    assert.equal(plain.id, other.id, 'a URL without campaign keeps the session');
    assert.deepEqual(plain.u, other.u, 'and keeps its attribution');
});

test('a tracked link (i=) is a campaign arrival too', () => {
    const a = touch(null, T0, '/', arrival('', ''), mint);
    const b = touch(a, T0 + 1000, '/', arrival('?i=aB3dE9x', 'aB3dE9x'), mint);
    assert.notEqual(b.id, a.id);
    const c = touch(b, T0 + 2000, '/', arrival('?i=aB3dE9x', 'aB3dE9x'), mint);
    assert.equal(c.id, b.id);
});

test('arrival reads all five UTM fields, cut to 256 characters', () => {
    const long = 'x'.repeat(300);
    const { k, u } = arrival('?utm_source=a&utm_medium=b&utm_campaign=c&utm_term=d&utm_content=' + long, 'L1');
    assert.deepEqual(u, { utmSource: 'a', utmMedium: 'b', utmCampaign: 'c', utmTerm: 'd',
                          utmContent: 'x'.repeat(256) });
    assert.match(k, /^i=L1&/);
    assert.equal(arrival('?a=1', '').k, '');
});

test('a broken or foreign stored state is replaced, not trusted', () => {
    for (const bad of [{}, { id: 's' }, { id: 's', t: 'x' }, { t: T0 }]) {
        const s = touch(bad, T0, '/a', null, mint);
        assert.ok(s.id && s.id !== 's', JSON.stringify(bad));
        assert.equal(s.s, T0);
    }
});
