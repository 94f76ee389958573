import { startNginx, launch } from './harness.mjs';
import { execSync } from 'node:child_process';
const b = await launch();
for (let run = 0; run < 12; run++) {
  const ng = await startNginx();
  const ctx = await b.newContext();
  const page = await ctx.newPage();
  let bad = null;
  try {
    await page.goto(`${ng.base}/fixtures/plain.html?i=Batch10`, { timeout: 5000 });
    await page.waitForFunction(() => window.oie);
    await page.evaluate(() => { for (let i = 0; i < 12; i++) oie.track('n' + i, { i }); });
    const rows = await ng.rowsOf('Batch10', (r) => r.length >= 13, 100);
    if (rows.length != 13) bad = 'rows ' + rows.length;
    const p2 = await ctx.newPage();
    await p2.goto(`${ng.base}/fixtures/plain.html?i=Off1ine`, { timeout: 5000 });
  } catch (e) { bad = e.message.slice(0, 80); }
  if (bad) {
    console.log(run, 'BAD', bad);
    const pids = execSync(`pgrep -f "nginx: worker" -P $(cat ${ng.dir}/nginx.pid)`).toString().trim();
    console.log('workers', pids, execSync(`ps -o pid,stat,pcpu,wchan:30 -p ${pids.split('\n').join(',')}`).toString());
    console.log(execSync(`gdb -p ${pids.split('\n')[0]} -batch -ex bt 2>/dev/null | tail -25`).toString());
    console.log(execSync(`tail -15 ${ng.dir}/logs/error.log; tail -5 ${ng.dir}/logs/access.log`).toString());
    break;
  }
  await ctx.close();
  await ng.stop(); ng.cleanup();
  console.log(run, 'ok');
}
await b.close();
