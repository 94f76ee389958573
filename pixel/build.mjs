// Builds dist/pixel.min.js (and a content-hashed copy for immutable caching)
// from src/index.js with esbuild, then terser.
import { build } from 'esbuild';
import { minify } from 'terser';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');
const pkg = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));

const out = await build({
    entryPoints: [join(here, 'src/index.js')],
    bundle: true,
    minify: process.env.RAW != '1',
    format: 'iife',
    target: ['es2020'],
    legalComments: 'none',
    define: { __VERSION__: JSON.stringify(pkg.version) },
    write: false,
    logLevel: 'warning',
});
// esbuild bundles and minifies; terser's extra passes take off what is left.
const min = await minify(out.outputFiles[0].text, {
    ecma: 2020,
    compress: { passes: 3, unsafe_arrows: true, pure_getters: true, hoist_props: true },
    format: { comments: false },
});
const code = Buffer.from(min.code);
const hash = createHash('sha256').update(code).digest('hex').slice(0, 10);

mkdirSync(dist, { recursive: true });
for (const f of readdirSync(dist)) {
    if (/^pixel\.[0-9a-f]{10}\.min\.js$/.test(f)) unlinkSync(join(dist, f));
}
const versioned = `pixel.${hash}.min.js`;
writeFileSync(join(dist, versioned), code);
writeFileSync(join(dist, 'pixel.min.js'), code);
writeFileSync(join(dist, 'manifest.json'), JSON.stringify({
    'pixel.js': versioned,
    version: pkg.version,
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
}, null, 2) + '\n');
console.log(`pixel: dist/pixel.min.js ${code.length} B, gzip ${gzipSync(code, { level: 9 }).length} B (${versioned})`);
