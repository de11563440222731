// The dashboard in a real browser (Debian chromium driven by playwright-core): a supervisor
// logs in, sees the figures with their denominators drawn as SVG, the content gap with its
// questions, opens a draft from it, reads a survey comment verbatim, and exports the CSV.
// Run by tests/dashboard.rs, which starts the server and makes the data:
//   node web/tests/dashboard.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR] [EDITOR_USERNAME]
// With an editor (same password), they log in too and "Open a draft" lands in the knowledge
// editor with the gap's draft article open.
import { chromium } from 'playwright-core';

const [base, username, password, shots = '.', editor] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node dashboard.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]');
  process.exit(2);
}
const executablePath = process.env.WARMLINE_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
let page;
let failed = false;
const expect = (cond, what) => { if (!cond) throw new Error('expected ' + what); };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, acceptDownloads: true });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });

  await page.goto(base + '/dashboard');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.press('#password', 'Enter');
  await page.waitForSelector('#app:not([hidden])');

  // Figures with their denominators, and the charts as SVG.
  await page.waitForFunction(() => document.querySelector('#per-day svg rect') !== null);
  const resolution = await page.textContent('#resolution');
  expect(/of 3 conversations where the customer wrote/.test(resolution), `resolution denominators, got ${resolution}`);
  const wait = await page.textContent('#wait');
  expect(/median of 1 accepted handoffs/.test(wait), `wait denominator, got ${wait}`);
  const defs = await page.$$eval('[data-def]', (ps) => ps.map((p) => p.textContent));
  expect(defs.every((d) => d.startsWith('Definition: ') && d.length > 20), 'a definition under every figure');
  expect((await page.textContent('#durable-figure')).includes('within 7 days'), 'the durable window');

  // The survey comment, verbatim (markup shown as text, not run).
  const comments = await page.textContent('#comments');
  expect(comments.includes('<b>Ana</b> fixed it & explained why'), `the comment verbatim, got ${comments}`);
  expect(await page.$('#comments b') === null, 'comment markup is not rendered');

  // The content gap, with its questions; open a draft.
  const gaps = await page.textContent('#gaps');
  expect(/do you accept bitcoin/.test(gaps), `the gap's questions, got ${gaps}`);
  await page.click('#gaps button');
  await page.waitForSelector('#draft:not([hidden])');
  const draft = await page.textContent('#draft-text');
  expect(draft.includes('status: draft') && draft.includes('bitcoin'), `a prefilled draft, got ${draft}`);
  await page.waitForFunction(() => document.getElementById('gaps').textContent.includes('drafting'));

  // CSV export.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const path = await download.path();
  const { readFileSync } = await import('node:fs');
  const csv = readFileSync(path, 'utf8');
  expect(csv.startsWith('metric,key,value,denominator'), 'the CSV header');
  expect(csv.includes('\nhanded_off,,1,3\n'), `handed_off with its denominator in ${csv}`);

  // Another window refreshes the figures.
  await page.selectOption('#since', '1d');
  await page.waitForFunction(() => document.getElementById('resolution').textContent.includes('of 3'));
  expect(external.length === 0, `no request leaves the server: ${external.join(', ')}`);

  if (editor) {
    // An editor's "Open a draft" creates the article in the editor and opens it there.
    page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
    page.setDefaultTimeout(10000);
    await page.goto(base + '/dashboard');
    await page.fill('#username', editor);
    await page.fill('#password', password);
    await page.press('#password', 'Enter');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForFunction(() => /bitcoin/.test(document.getElementById('gaps').textContent));
    await Promise.all([page.waitForURL(/\/editor#gap-\d+$/), page.click('#gaps button')]);
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForFunction(() => /bitcoin/.test(document.getElementById('title').value));
    const body = await page.inputValue('#body');
    expect(body.includes('## Answer') && body.includes('bitcoin'), `the draft's body in the editor, got ${body}`);
  }
  console.log('dashboard ok');
} catch (e) {
  failed = true;
  console.error(e);
  if (page) {
    const file = `${shots}/dashboard-failure.png`;
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error('screenshot: ' + file);
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
