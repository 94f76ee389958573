// Personalization rules (data-show-if) and filling (data-personalize).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matches, apply, personalize } from '../../src/personalize/index.js';

const lead = { firstName: 'Ada', company: 'Acme', intentLevel: 'hot', seats: 0 };

test('data-show-if expressions', () => {
    const t = (e) => matches(e, lead);
    assert.equal(t('company'), true);
    assert.equal(t('title'), false);
    assert.equal(t('!company'), false);
    assert.equal(t('!title'), true);
    assert.equal(t('intentLevel=hot'), true);
    assert.equal(t('intentLevel = hot'), true);
    assert.equal(t('intentLevel=warm'), false);
    assert.equal(t('intentLevel=warm|hot|burning'), true);
    assert.equal(t('!intentLevel=hot'), false);
    assert.equal(t('title=x'), false);
    assert.equal(t('seats'), true, 'zero is a known value');
    assert.equal(t('seats=0'), true);
    assert.equal(t(''), false);
    assert.equal(t(null), false);
});

// The smallest DOM apply() needs: querySelectorAll over attributes.
const el = (attrs) => ({ attrs, hidden: !!attrs.hidden, textContent: attrs.text,
                         getAttribute: (n) => attrs[n] });
const root = (els) => ({
    querySelectorAll: (sel) => els.filter((e) => e.attrs[/\[([\w-]+)\]/.exec(sel)[1]] != null),
});

test('apply fills text and shows or hides blocks', () => {
    const name = el({ 'data-personalize': 'firstName', text: 'there' });
    const unknown = el({ 'data-personalize': 'nickname', text: 'friend' });
    const hot = el({ 'data-show-if': 'intentLevel=hot', hidden: true });
    const cold = el({ 'data-show-if': 'intentLevel=cold' });
    const anon = el({ 'data-show-if': '!company' });
    apply(root([name, unknown, hot, cold, anon]), lead);
    assert.equal(name.textContent, 'Ada');
    assert.equal(unknown.textContent, 'friend', 'a field the answer lacks keeps its default');
    assert.equal(hot.hidden, false);
    assert.equal(cold.hidden, true);
    assert.equal(anon.hidden, true);
});

test('a value is set as text, so markup stays text', () => {
    const name = el({ 'data-personalize': 'firstName', text: 'there' });
    apply(root([name]), { firstName: '<img src=x onerror=alert(1)>' });
    assert.equal(name.textContent, '<img src=x onerror=alert(1)>');
});

test('personalize: a failed /p leaves the page alone and still tells it', async () => {
    const events = [];
    const doc = { ...root([]), dispatchEvent: (e) => events.push(e) };
    const orig = globalThis.fetch;
    try {
        for (const f of [() => Promise.reject(new Error('down')),
                         () => Promise.resolve({ ok: false, status: 503 }),
                         () => Promise.resolve({ ok: true, json: () => Promise.reject(new SyntaxError('x')) }),
                         () => Promise.resolve({ ok: true, json: () => Promise.resolve('text') })])
        {
            globalThis.fetch = f;
            assert.equal(await personalize('/p?i=x', doc), null);
        }
        globalThis.fetch = (u) => Promise.resolve({ ok: true, json: () => Promise.resolve({ firstName: 'Ada', u }) });
        const d = await personalize('/p?i=x', doc);
        assert.equal(d.firstName, 'Ada');
    } finally {
        globalThis.fetch = orig;
    }
    assert.equal(events.length, 5);
    assert.deepEqual(events.map((e) => [e.type, e.detail.ok]),
                     [['oie:personalized', false], ['oie:personalized', false], ['oie:personalized', false],
                      ['oie:personalized', false], ['oie:personalized', true]]);
});
