import { startNginx, launch } from './harness.mjs';
import { readFileSync } from 'node:fs';
const code = readFileSync('/tmp/pixel.dbg.js', 'utf8');
const ng = await startNginx();
const b = await launch();
for (let i = 0; i < 4; i++) {
  const ctx = await b.newContext();
  const page = await ctx.newPage();
  await page.goto(`${ng.base}/fixtures/blank.html?i=Perf${i}xx&utm_source=email`);
  console.log(await page.evaluate(async (code) => {
    localStorage.getItem('x'); document.cookie;
    const t0 = performance.now();
    const s = document.createElement('script'); s.textContent = code; document.head.appendChild(s);
    return (performance.now() - t0).toFixed(1) + ' ' + window.__m.join(' ');
  }, code));
  await ctx.close();
}
await b.close(); await ng.stop(); ng.cleanup();
