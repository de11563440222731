// Microsoft Web Chat 4.18 (npm botframework-webchat, its self-contained dist/webchat.js) on a
// page served from ANOTHER origin than Warmline, talking to Warmline's Direct Line:
// the page mints a token (cross-origin, CORS), renders Web Chat with
// createDirectLine({ token, domain: BASE + '/v3/directline' }); the customer asks a question
// and sees the cited answer (a link to the article) with Web Chat's feedback thumbs, presses
// "dislike", says hi, clicks a suggested action and sees the journey's next question; no
// message is marked "Send failed".
// Run by tests/webchat.rs, which starts Warmline with the site's origin allowed:
//   node web/tests/webchat.mjs BASE_URL SECRET SITE_PORT [SCREENSHOT_DIR]
// A real site mints the token on its server (the secret never reaches a browser); this test
// page does it itself only because the test is both the site and the browser.
import { chromium } from 'playwright-core';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const [base, secret, sitePort, shots = '.'] = process.argv.slice(2);
if (!base || !secret || !sitePort) {
  console.error('usage: node webchat.mjs BASE_URL SECRET SITE_PORT [SCREENSHOT_DIR]');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const webchatJs = readFileSync(path.join(here, 'node_modules/botframework-webchat/dist/webchat.js'));

const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Juniper Market</title>
<style>html,body{height:100%;margin:0}#webchat{height:100%}</style></head>
<body><div id="webchat" role="main"></div>
<script src="/webchat.js"></script>
<script>
(async () => {
  const domain = ${JSON.stringify(base + '/v3/directline')};
  // Test only: a real site calls tokens/generate from its server.
  const res = await fetch(domain + '/tokens/generate', {
    method: 'POST', headers: { Authorization: 'Bearer ' + ${JSON.stringify(secret)} },
  });
  if (!res.ok) { document.title = 'token failed ' + res.status; return; }
  const { token } = await res.json();
  window.WebChat.renderWebChat(
    { directLine: window.WebChat.createDirectLine({ token, domain }), locale: 'en-US' },
    document.getElementById('webchat'),
  );
})().catch((e) => { document.title = 'failed ' + e; });
</script></body></html>`;

// The site: another origin (its own port), serving the page and Web Chat's bundle.
const site = http.createServer((req, res) => {
  if (req.url === '/webchat.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(webchatJs);
  } else if (req.url === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((resolve) => site.listen(Number(sitePort), '127.0.0.1', resolve));
const siteUrl = `http://127.0.0.1:${sitePort}/`;

const executablePath = process.env.WARMLINE_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
let customer;
let failed = false;
const problems = [];
const trace = [];
try {
  customer = await (await browser.newContext({ viewport: { width: 420, height: 860 } })).newPage();
  customer.setDefaultTimeout(15000);
  customer.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // For the failure report: what the page said and what Direct Line answered.
  customer.on('console', (m) => trace.push(`console.${m.type()}: ${m.text()}`));
  customer.on('requestfailed', (r) => trace.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  customer.on('response', (r) => { if (r.url().includes('/v3/directline')) trace.push(`${r.status()} ${r.request().method()} ${r.url().split('?')[0]}`); });
  const sockets = [];
  customer.on('websocket', (ws) => sockets.push(ws.url()));
  await customer.goto(siteUrl);

  const input = customer.locator('.webchat__send-box-text-box__input');
  await input.waitFor();
  const activities = customer.locator('.webchat__basic-transcript__activity');

  // A question: the answer quotes the article and links to it.
  await input.fill('How long do refunds to my card take?');
  await input.press('Enter');
  const answer = activities.filter({ hasText: '3–5 business days' }).filter({ hasNot: customer.locator('.webchat__bubble--from-user') });
  await answer.first().waitFor();
  const link = answer.first().locator('a[href$="/kb/refund-timing"]');
  await link.first().waitFor();
  console.log('cited: ' + (await link.first().getAttribute('href')));

  // The answer shows Web Chat's own feedback thumbs; "dislike" posts its event to Warmline.
  const thumbs = answer.first().locator('.webchat__thumb-button');
  await thumbs.nth(1).waitFor();
  const rated = customer.waitForResponse((r) => r.request().method() === 'POST'
    && r.url().endsWith('/activities') && (r.request().postData() || '').includes('activity-status/feedback'));
  await thumbs.nth(1).click();
  const ratedStatus = (await rated).status();
  if (ratedStatus !== 200) throw new Error('the thumb was answered ' + ratedStatus);
  console.log('rated: ' + (await thumbs.nth(1).getAttribute('aria-label')));

  // A greeting offers the journeys as suggested actions; clicking one starts it.
  await input.fill('hi');
  await input.press('Enter');
  const track = customer.getByRole('button', { name: 'Track an order' });
  await track.first().waitFor();
  await track.first().click();
  await activities.filter({ hasText: 'order number? It starts with JM-' }).first().waitFor();
  console.log('journey started from a suggested action');

  // Only the answer has thumbs (not the greeting nor the journey's question).
  const allThumbs = await customer.locator('.webchat__thumb-button').count();
  if (allThumbs !== 2) throw new Error('expected thumbs under the answer only, saw ' + allThumbs);

  // Every message the customer sent was echoed back and marked sent.
  const userBubbles = await customer.locator('.webchat__bubble--from-user').count();
  if (userBubbles !== 3) throw new Error('expected 3 customer messages, saw ' + userBubbles);
  await customer.waitForTimeout(500);
  const text = await customer.locator('#webchat').innerText();
  if (text.includes('Send failed')) throw new Error('a message is marked "Send failed"');
  // Until its echo arrives Web Chat marks a message "Sending…" (and "Send failed" after 20 s).
  if (text.includes('Sending')) throw new Error('a message was never confirmed as sent');
  if (!sockets.some((u) => u.includes('/v3/directline/conversations/'))) {
    throw new Error('Web Chat did not use the websocket stream: ' + sockets.join(', '));
  }
  if (problems.length) throw new Error(problems.join('\n'));
  console.log('ok');
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
  console.error(trace.join('\n'));
  if (customer) {
    const file = path.join(shots, 'webchat-failure.png');
    await customer.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error('screenshot: ' + file);
    console.error('page title: ' + (await customer.title().catch(() => '?')));
  }
} finally {
  await browser.close();
  site.close();
}
process.exit(failed ? 1 : 0);
