// The pure helpers: URL clean-up, link types, labels, custom properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cut, stripId, scrub, linkType, label, flat, rid } from '../../src/util.js';

test('stripId removes i= and keeps every other byte of the query', () => {
    const cases = {
        '?i=aB3dE9x': '',
        '?i=aB3dE9x&utm_source=mail': '?utm_source=mail',
        '?utm_source=mail&i=aB3dE9x': '?utm_source=mail',
        '?a=1&i=aB3dE9x&b=%20x+y': '?a=1&b=%20x+y',
        '?i=1&i=2&c=3': '?c=3',
        '?ii=1&xi=2': '?ii=1&xi=2',
        '?a=i%3D1': '?a=i%3D1',
        '': '',
    };
    for (const [from, to] of Object.entries(cases)) assert.equal(stripId(from), to, from);
});

test('scrub drops query values that look like e-mail addresses', () => {
    assert.equal(scrub('https://ex.com/p?email=ada%40ex.com&plan=pro'), 'https://ex.com/p?plan=pro');
    assert.equal(scrub('https://ex.com/p?e=ada@ex.com'), 'https://ex.com/p');
    assert.equal(scrub('https://ex.com/p?a=%20b'), 'https://ex.com/p?a=%20b', 'untouched URLs stay byte for byte');
    assert.equal(scrub(''), undefined);
    assert.equal(scrub('not a url'), 'not a url');
    assert.equal(scrub('https://ex.com/' + 'x'.repeat(3000)).length, 2048);
});

test('linkType tells internal, outbound, download, mailto, tel', () => {
    const h = 'ex.com';
    assert.equal(linkType('https://ex.com/pricing', h), 'internal');
    assert.equal(linkType('https://other.org/', h), 'outbound');
    assert.equal(linkType('https://sub.ex.com/', h), 'outbound');
    assert.equal(linkType('https://ex.com/files/deck.PDF', h), 'download');
    assert.equal(linkType('https://ex.com/report', h, true), 'download');
    assert.equal(linkType('https://cdn.org/a.zip?x=1', h), 'download');
    assert.equal(linkType('mailto:sales@ex.com', h), 'mailto');
    assert.equal(linkType('MAILTO:sales@ex.com', h), 'mailto');
    assert.equal(linkType('tel:+15551234', h), 'tel');
    assert.equal(linkType('javascript:void(0)', h), 'button');
});

test('label folds whitespace and keeps at most 100 characters', () => {
    assert.equal(label('  Book\n   a   demo '), 'Book a demo');
    assert.equal(label('y'.repeat(150)).length, 100);
    assert.equal(label(''), undefined);
    assert.equal(label(null), undefined);
});

test('cut counts bytes as the edge does, and never splits a character', () => {
    assert.equal(cut('a'.repeat(600), 512).length, 512);
    for (const s of ['é'.repeat(600), '日本'.repeat(300), '😀'.repeat(300), 'a😀'.repeat(200)]) {
        const c = cut(s, 512);
        assert.ok(Buffer.byteLength(c) <= 512, s.slice(0, 4));
        assert.ok(!/[\ud800-\udbff]$/.test(c), 'no lone high surrogate at the end');
        assert.ok(s.startsWith(c));
    }
});

test('cut leaves empty values out', () => {
    assert.equal(cut('', 5), undefined);
    assert.equal(cut(null, 5), undefined);
    assert.equal(cut('abcdef', 3), 'abc');
    assert.equal(cut(0, 3), '0');
});

test('flat keeps a flat object of scalars, bounded', () => {
    const fn = () => 1;
    assert.deepEqual(flat({ a: 'x', b: 2, c: true, d: null, e: { x: 1 }, f: [1], g: fn, h: NaN, i: undefined }),
                     { a: 'x', b: 2, c: true, d: null });
    assert.deepEqual(flat(null), {});
    assert.deepEqual(flat('str'), { 0: 's', 1: 't', 2: 'r' });
    const big = Object.fromEntries(Array.from({ length: 80 }, (x, i) => ['k' + i, 'v'.repeat(1200)]));
    const f = flat(big);
    assert.equal(Object.keys(f).length, 50);
    assert.equal(f.k0.length, 1024, 'the edge takes string values of at most 1024 bytes');
    assert.ok(Buffer.byteLength(flat({ a: 'é'.repeat(1000) }).a) <= 1024);
});

test('rid makes distinct ids of about 128 bits', () => {
    const seen = new Set();
    for (let i = 0; i < 1000; i++) seen.add(rid());
    assert.equal(seen.size, 1000);
    for (const id of seen) assert.match(id, /^[0-9a-z]{4,28}$/);
});
