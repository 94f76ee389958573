// Batching (10 events or a flush) and the bounded retry queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batcher, retryQueue, MAX } from '../../src/batch.js';

const ev = (i) => ({ type: 'custom', timestamp: i });

test('events wait until ten are queued', () => {
    const sent = [];
    const b = batcher((events, hide) => sent.push({ events, hide }));
    for (let i = 0; i < MAX - 1; i++) b.push(ev(i));
    assert.equal(sent.length, 0);
    b.push(ev(MAX - 1));
    assert.equal(sent.length, 1);
    assert.equal(sent[0].events.length, MAX);
    assert.deepEqual(sent[0].events.map((e) => e.timestamp), [...Array(MAX).keys()]);
    assert.ok(!sent[0].hide);
});

test('flush sends what is queued, in order, at most ten per request', () => {
    const sent = [];
    const b = batcher((events, hide) => sent.push({ events, hide }));
    b.flush(true);
    assert.equal(sent.length, 0, 'nothing queued, nothing sent');
    const q = [];
    for (let i = 0; i < 9; i++) b.push(ev(i));
    b.flush(true);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].hide, true, 'the hide flag reaches the sender (sendBeacon)');
    sent.length = 0;
    // a sender that is slow to be called back must not see events twice
    const b2 = batcher((events) => q.push(...events.map((e) => e.timestamp)));
    for (let i = 0; i < 25; i++) b2.push(ev(i));
    b2.flush();
    assert.deepEqual(q, [...Array(25).keys()]);
});

test('a sender that queues more while sending does not lose or repeat events', () => {
    const got = [];
    let b;
    b = batcher((events) => {
        got.push(...events.map((e) => e.timestamp));
        if (got.length == 10) b.push(ev(100));    // e.g. an error handler
    });
    for (let i = 0; i < 10; i++) b.push(ev(i));
    b.flush();
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 100]);
});

const store = (init) => {
    let v = init;
    return { get: () => (v === undefined ? null : JSON.parse(JSON.stringify(v))),
             set: (x) => { v = x; }, peek: () => v };
};

test('the retry queue keeps batches in order and take() empties it', () => {
    const s = store();
    const r = retryQueue(s.get, s.set);
    r.add([ev(1), ev(2)]);
    r.add([ev(3)]);
    assert.deepEqual(r.take().map((e) => e.timestamp), [1, 2, 3]);
    assert.deepEqual(r.take(), []);
    assert.deepEqual(s.peek(), []);
});

test('the retry queue is bounded: the oldest events go first', () => {
    const s = store();
    const r = retryQueue(s.get, s.set, 200);
    for (let i = 0; i < 50; i++) r.add([ev(4 * i), ev(4 * i + 1), ev(4 * i + 2), ev(4 * i + 3)]);
    const all = r.take();
    assert.equal(all.length, 200);
    assert.equal(all[0].timestamp, 0);
    for (let i = 0; i < 10; i++) r.add([ev(1000 + 10 * i), ev(1000 + 10 * i + 1)].concat(
        Array.from({ length: 28 }, (x, j) => ev(2000 + 100 * i + j))));
    const kept = r.take();
    assert.equal(kept.length, 200);
    assert.equal(kept.at(-1).timestamp, 2000 + 900 + 27, 'the newest survive');
    assert.equal(JSON.stringify(s.peek()), '[]');
});

test('a corrupt stored queue is not fatal', () => {
    for (const junk of [42, 'text', { a: 1 }, null]) {
        const s = store(junk);
        const r = retryQueue(s.get, s.set);
        r.add([ev(7)]);
        const got = r.take();
        assert.equal(got.at(-1).timestamp, 7, JSON.stringify(junk));
    }
});
