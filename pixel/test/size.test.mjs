// The size budget: pixel.min.js at most 8 KB minified and 3.5 KB gzipped,
// with every feature in. Prints the sizes; fails over budget or when the
// build is missing or older than the source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, 'dist/pixel.min.js');
const MIN_BUDGET = 8 * 1024, GZ_BUDGET = 3.5 * 1024;

const sources = (dir) => readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? sources(join(dir, d.name)) : [join(dir, d.name)]);

test('pixel.min.js is built from the current source', () => {
    let built;
    try {
        built = statSync(file).mtimeMs;
    } catch (e) {
        assert.fail('pixel/dist/pixel.min.js is missing: run make (or npm run build in pixel/)');
    }
    for (const f of [...sources(join(root, 'src')), join(root, 'build.mjs')]) {
        assert.ok(statSync(f).mtimeMs <= built, `${f} is newer than the build: run make`);
    }
});

test('pixel.min.js is within the size budget', (t) => {
    const code = readFileSync(file);
    const gz = gzipSync(code, { level: 9 }).length;
    const msg = `pixel.min.js: ${code.length} B minified (budget ${MIN_BUDGET}), `
                + `${gz} B gzipped (budget ${GZ_BUDGET})`;
    t.diagnostic(msg);
    process.stderr.write(msg + '\n');
    assert.ok(code.length <= MIN_BUDGET, `minified ${code.length} B > ${MIN_BUDGET} B`);
    assert.ok(gz <= GZ_BUDGET, `gzipped ${gz} B > ${GZ_BUDGET} B`);
});

test('the versioned copy is the same file', () => {
    const m = JSON.parse(readFileSync(join(root, 'dist/manifest.json'), 'utf8'));
    assert.match(m['pixel.js'], /^pixel\.[0-9a-f]{10}\.min\.js$/);
    assert.ok(readFileSync(join(root, 'dist', m['pixel.js'])).equals(readFileSync(file)));
});
