// The web widget in a real browser (Debian chromium driven by playwright-core), on a phone-sized
// screen and with the keyboard only: the demo page at / embeds it with one script tag; the
// customer opens it (Tab, Enter), asks, gets a cited answer with a link, clicks a quick reply,
// closes it with Escape, reloads and sees the history. Then the socket is dropped: the widget
// says so, reconnects by itself, and a message sent meanwhile arrives once.
// Run by tests/widget.rs, which starts the server:
// Then the customer asks for a person: an agent (over the agent API, with AGENT_TOKEN) accepts,
// writes (the widget shows it live), and closes the conversation; the customer rates it in the
// survey.
//   node web/tests/widget.mjs BASE_URL AGENT_TOKEN [SCREENSHOT_DIR]
// Prints `conversation ID` for the Rust side to check the store. On failure the page is saved
// as a PNG in SCREENSHOT_DIR (default: the working directory).
import { chromium } from 'playwright-core';

const [base, agentToken, shots = '.'] = process.argv.slice(2);
if (!base || !agentToken) {
  console.error('usage: node widget.mjs BASE_URL AGENT_TOKEN [SCREENSHOT_DIR]');
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

// Inside the widget's shadow root (page functions cannot see through it otherwise).
const inWidget = (sel) => `document.querySelector('#warmline-widget').shadowRoot.querySelectorAll(${JSON.stringify(sel)})`;
const count = (sel) => page.evaluate(`${inWidget(sel)}.length`);
const waitCount = (sel, n, timeout = 10000) => page.waitForFunction(`${inWidget(sel)}.length >= ${n}`, null, { timeout });
const focused = () => page.evaluate(() => {
  const r = document.querySelector('#warmline-widget').shadowRoot.activeElement;
  return r ? (r.id || r.className) : null;
});

try {
  const context = await browser.newContext({ viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true });
  page = await context.newPage();
  page.setDefaultTimeout(10000);
  const sockets = [];
  await page.routeWebSocket(/\/ws(\?.*)?$/, (ws) => { ws.connectToServer(); sockets.push(ws); });

  await page.goto(base + '/');
  if (!(await page.textContent('h1')).includes('Fresh food')) throw new Error('the demo page is not the sample site');
  await page.locator('.launcher').waitFor();
  // The site's CSS does not reach into the widget; the widget's does not leak out.
  const siteFont = await page.evaluate(() => getComputedStyle(document.body).fontFamily);
  if (!siteFont.includes('Georgia')) throw new Error('the widget changed the site\'s styles: ' + siteFont);

  // Keyboard only: Tab to the launcher, Enter opens the panel with the focus in the text box.
  let found = false;
  for (let i = 0; i < 60 && !found; i += 1) {
    await page.keyboard.press('Tab');
    found = (await focused()) === 'launcher';
  }
  if (!found) throw new Error('the launcher cannot be reached with Tab');
  await page.keyboard.press('Enter');
  await page.locator('.panel').waitFor();
  if ((await focused()) !== 'wl-text') throw new Error('opening does not focus the text box: ' + (await focused()));
  if ((await page.getAttribute('.launcher', 'aria-expanded')) !== 'true') throw new Error('aria-expanded not set');

  // Phone-sized: the panel fills the screen and nothing overflows sideways.
  const box = await page.locator('.panel').boundingBox();
  if (box.x < 0 || box.x + box.width > 375.5 || box.height > 667.5) throw new Error('the panel overflows the phone: ' + JSON.stringify(box));

  // Ask: a cited answer with a link to the article.
  await page.keyboard.type('How long do refunds to my card take?');
  await page.keyboard.press('Enter');
  await waitCount('.msg.bot .citations a', 1);
  const href = await page.locator('.msg.bot .citations a').first().getAttribute('href');
  if (!href.includes('/kb/refund-timing')) throw new Error('the citation links elsewhere: ' + href);
  const answer = await page.locator('.msg.bot').first().textContent();
  if (!answer.includes('3–5 business days')) throw new Error('unexpected answer: ' + answer);
  // Rate the answer: the button is pressed once the server has stored the rating.
  await page.locator('.feedback').first().getByRole('button', { name: 'Helpful', exact: true }).click();
  await page.waitForFunction(`[...${inWidget('.feedback button[aria-pressed="true"]')}].length === 1`);
  await page.locator('#wl-text').focus();

  // Quick replies: a greeting offers the tasks; clicking one starts it.
  await page.keyboard.type('hi');
  await page.keyboard.press('Enter');
  const quick = page.locator('.quick').getByRole('button', { name: 'Track an order' });
  await quick.waitFor();
  await quick.click();
  await waitCount('.msg.customer', 3);
  await waitCount('.msg.bot', 3);
  const asked = await page.locator('.msg.bot').nth(2).textContent();
  if (!/order/i.test(asked)) throw new Error('the quick reply did not start the task: ' + asked);
  if ((await count('.quick button')) && !(await page.locator('.quick').last().isVisible())) throw new Error('stale quick replies');

  // Escape closes the panel and gives the focus back to the launcher.
  await page.locator('#wl-text').focus();
  await page.keyboard.press('Escape');
  await page.locator('.panel').waitFor({ state: 'hidden' });
  if ((await focused()) !== 'launcher') throw new Error('Escape does not return the focus to the launcher');

  // The socket drops: the widget says so, reconnects by itself, and a message written
  // meanwhile is delivered once.
  await page.keyboard.press('Enter');
  await page.locator('.panel').waitFor();
  const before = sockets.length;
  await page.evaluate(() => {
    const status = document.querySelector('#warmline-widget').shadowRoot.querySelector('.status');
    window.sawStatus = '';
    new MutationObserver(() => { if (!status.hidden) window.sawStatus = status.textContent; })
      .observe(status, { attributes: true, childList: true, characterData: true, subtree: true });
  });
  await sockets[sockets.length - 1].close({ code: 1011, reason: 'dropped by the test' });
  await page.waitForFunction(() => window.sawStatus.includes('Reconnecting'));
  await page.keyboard.type('what are your store hours?');
  await page.keyboard.press('Enter');
  await waitCount('.msg.bot', 4, 15000);
  if (sockets.length <= before) throw new Error('the widget did not reconnect');
  await page.locator('.status').waitFor({ state: 'hidden' });

  // Reload: the same conversation, its whole history, nothing twice.
  const conversation = await page.evaluate(() => JSON.parse(localStorage.getItem(Object.keys(localStorage).find((k) => k.startsWith('warmline.widget:')))).id);
  await page.reload();
  await page.locator('.launcher').click();
  await waitCount('.msg.bot', 4);
  await page.waitForTimeout(500);
  const customerSaid = await page.evaluate(`[...${inWidget('.msg.customer')}].map((m) => m.textContent)`);
  const expected = ['How long do refunds to my card take?', 'hi', 'Track an order', 'what are your store hours?'];
  if (JSON.stringify(customerSaid) !== JSON.stringify(expected)) throw new Error('history after reload: ' + JSON.stringify(customerSaid));
  if ((await count('.msg.bot .citations a')) < 1) throw new Error('the history lost the citation');
  if (!(await page.getByRole('button', { name: 'Talk to a person' }).isVisible())) throw new Error('no "Talk to a person" button');
  console.log('conversation ' + conversation);

  // A person: the button asks, an agent accepts and writes, the widget shows it live.
  await page.getByRole('button', { name: 'Talk to a person' }).click();
  await page.getByRole('button', { name: 'Talk to a person' }).waitFor({ state: 'hidden' });
  const agent = async (path, body) => {
    const res = await fetch(base + path, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: 'Bearer ' + agentToken, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(path + ': ' + res.status + ' ' + (await res.text()));
    return res.json();
  };
  let handoff;
  for (let i = 0; i < 50 && !handoff; i += 1) {
    handoff = (await agent('/v1/agent/queue')).find((h) => h.conversation_id === conversation);
    if (!handoff) await page.waitForTimeout(100);
  }
  if (!handoff) throw new Error('the request for a person did not reach the queue');
  await agent(`/v1/agent/handoffs/${handoff.id}/accept`, {});
  await agent(`/v1/agent/handoffs/${handoff.id}/messages`, { text: 'Hi, this is Ana. I can help with that.' });
  await page.waitForFunction(`[...${inWidget('.msg.agent')}].some((m) => m.textContent.includes('this is Ana'))`);

  // The agent closes the conversation: the survey, 1-5 and a comment, with the keyboard.
  await agent(`/v1/agent/handoffs/${handoff.id}/close`, { disposition: 'resolved' });
  const four = page.locator('.survey').getByRole('radio', { name: '4' });
  await four.waitFor();
  await four.focus();
  await page.keyboard.press('Enter');
  await page.locator('.survey textarea').fill('Quick and kind.');
  await page.locator('.survey').getByRole('button', { name: 'Send rating' }).click();
  await page.waitForFunction(`${inWidget('.survey')}[0].textContent.includes('Thank you')`);
  if (!(await page.locator('#wl-text').isDisabled())) throw new Error('a closed conversation still takes messages');
  await page.getByRole('button', { name: 'Start a new conversation' }).waitFor();
  console.log('widget ok');
} catch (err) {
  failed = true;
  if (page) {
    const path = `${shots}/widget-customer.png`;
    try { await page.screenshot({ path, fullPage: true }); console.error('screenshot: ' + path); } catch (_) { /* closed */ }
  }
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
