// The warm handoff in real browsers (Debian chromium driven by playwright-core), both sides:
// a customer in the web widget (on the demo page, over its websocket) gets angry; the agent, logged into the console, sees the packet
// arrive live, accepts, and they write to each other (the console over its websocket, which
// reconnects by itself after the test drops it); the
// agent inserts a suggested reply, returns the conversation to the bot with a note, and the
// bot answers the customer's next question. Then a second customer leaves a message instead of
// waiting, and the agent closes the ticket. Run by tests/console.rs, which starts the server:
//   node web/tests/console.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]
// On failure both pages are saved as PNGs in SCREENSHOT_DIR (default: the working directory).
import { chromium } from 'playwright-core';

const [base, username, password, shots = '.'] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node console.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]');
  process.exit(2);
}
const executablePath = process.env.WARMLINE_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
// The widget lives in a shadow root: page functions look inside it with this.
const widget = (sel) => `[...document.querySelector('#warmline-widget').shadowRoot.querySelectorAll(${JSON.stringify(sel)})]`;
const pages = {};
let failed = false;
try {
  // Separate contexts: the customer and the agent share nothing (no storage, no cookies).
  const agent = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const customer = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage(); // a phone
  Object.assign(pages, { agent, customer });
  agent.setDefaultTimeout(10000);
  customer.setDefaultTimeout(10000);

  // The console's websocket passes through the test, which can drop it.
  const sockets = [];
  await agent.routeWebSocket(/\/v1\/agent\/ws$/, (ws) => { ws.connectToServer(); sockets.push(ws); });

  // The agent logs in (a wrong password is refused on the page) and the feed goes live.
  await agent.goto(base + '/agent');
  await agent.fill('#username', username);
  await agent.fill('#password', 'not the password');
  await agent.click('#login button[type=submit]');
  await agent.waitForFunction(() => document.getElementById('login-error').textContent.includes('wrong'));
  await agent.fill('#password', password);
  await agent.press('#password', 'Enter'); // keyboard only
  await agent.waitForFunction(() => document.getElementById('live').textContent === 'live');

  // The socket drops: the console says so, polls meanwhile, and reconnects by itself.
  await sockets[0].close({ code: 1011, reason: 'dropped by the test' });
  await agent.waitForFunction(() => document.getElementById('live').textContent.startsWith('reconnecting'));
  await agent.waitForFunction(() => document.getElementById('live').textContent === 'live');
  if (sockets.length !== 2) throw new Error('expected one reconnection, saw ' + (sockets.length - 1));

  // The customer asks, is answered, then gets angry and asks for a person.
  await customer.goto(base + '/');
  await customer.locator('.launcher').click();
  await customer.fill('#wl-text', 'how do I dispute a charge on my card?');
  await customer.press('#wl-text', 'Enter');
  await customer.locator('.log .msg.bot').first().waitFor();
  await customer.fill('#wl-text', 'This is useless!! I already told you twice. Let me talk to a real person NOW');
  await customer.press('#wl-text', 'Enter');
  await customer.waitForFunction(`${widget('.msg.bot')}.length >= 2`);

  // The packet arrives in the console by itself (no reload, no click).
  const waiting = agent.locator('#queue .card');
  await waiting.first().waitFor();
  const card = await waiting.first().textContent();
  if (!card.includes('explicit_request') || !card.includes('real person')) {
    throw new Error('the queue card lacks the reason or the summary: ' + card);
  }
  const accepting = agent.waitForResponse((r) => r.url().endsWith('/accept'));
  await waiting.first().getByRole('button', { name: 'Accept' }).click();
  console.log('handoff ' + (await (await accepting).json()).id);
  await agent.locator('#open').waitFor();
  await agent.waitForFunction(() => document.getElementById('packet').textContent.includes('assigned'));
  // The customer's earlier words are there, so they never repeat themselves.
  const log = await agent.locator('#log').textContent();
  if (!log.includes('dispute a charge')) throw new Error('the transcript lacks the customer messages');

  // Agent → customer (the chat page shows who joined and what they wrote).
  await agent.fill('#text', 'Hi, I am sorry about that. I can help with the charge right now.');
  await agent.press('#text', 'Enter');
  await customer.waitForFunction(`${widget('.msg.agent')}.some((m) => m.textContent.includes('help with the charge'))`, null, { timeout: 10000 });

  // Customer → agent, live over the websocket; the console suggests a cited reply to insert.
  await customer.fill('#wl-text', 'how long does a card dispute take?');
  await customer.press('#wl-text', 'Enter');
  // (Polling runs only while the socket is down, and it is up: this arrives over the socket.
  // The wait is generous because CI runs the browser beside other tests on 2 cores.)
  await agent.waitForFunction(() => [...document.querySelectorAll('#log .msg.customer')]
    .some((m) => m.textContent.includes('how long does a card dispute take')), null, { timeout: 10000 });
  if (await agent.locator('#live').textContent() !== 'live') throw new Error('the console socket dropped');
  if (sockets.length !== 2) throw new Error('the console reconnected again: ' + sockets.length);
  const insert = agent.locator('#suggestions').getByRole('button', { name: /Insert/ });
  await insert.first().waitFor();
  await insert.first().click();
  const inserted = await agent.inputValue('#text');
  if (!inserted) throw new Error('the suggested reply was not inserted');
  await agent.press('#text', 'Enter');
  await customer.waitForFunction(`${widget('.msg.agent')}.some((m) => m.textContent.includes(${JSON.stringify(inserted.slice(0, 40))}))`, null, { timeout: 10000 });

  // Back to the bot, with a note and an outcome.
  await agent.fill('#note', 'explained the dispute process');
  await agent.selectOption('#disposition', 'resolved');
  await agent.click('#return');
  await agent.waitForFunction(() => document.getElementById('packet').textContent.includes('returned'));
  await customer.waitForFunction(`${widget('.msg.system')}.some((m) => m.textContent.includes('back with the virtual assistant'))`, null, { timeout: 10000 });

  // The bot answers the next question.
  const before = await customer.locator('.log .msg.bot').count();
  await customer.fill('#wl-text', 'what are your store hours?');
  await customer.press('#wl-text', 'Enter');
  await customer.waitForFunction(`${widget('.msg.bot')}.length > ${before}`);

  // Another customer would rather not wait (the test server offers at once): they leave a
  // message; the console's ticket list shows it live and the agent closes it.
  // (The widget keeps its conversation across reloads: forget it to be a new customer.)
  await customer.evaluate(() => localStorage.clear());
  await customer.reload();
  await customer.locator('.launcher').click();
  await customer.fill('#wl-text', 'I want to speak to a human agent');
  await customer.press('#wl-text', 'Enter');
  const leave = customer.getByRole('button', { name: 'Leave a message' });
  await leave.waitFor();
  await leave.click();
  await customer.getByLabel('Your message for the team').fill('My blender from order JM-204518837 arrived broken.');
  await customer.locator('.offer').getByRole('button', { name: 'Send' }).click();
  await customer.waitForFunction(`${widget('.log')}[0].textContent.includes('Message left for the team')`);
  const ticket = agent.locator('#tickets .card');
  await ticket.first().waitFor();
  const left = await ticket.first().textContent();
  if (!left.includes('blender')) throw new Error('the ticket lacks the customer\'s words: ' + left);
  await ticket.first().getByRole('button', { name: 'Close ticket' }).click();
  await agent.waitForFunction(() => document.querySelectorAll('#tickets .card').length === 0);
  console.log('console ok');
} catch (err) {
  failed = true;
  for (const [name, page] of Object.entries(pages)) {
    const path = `${shots}/console-${name}.png`;
    try { await page.screenshot({ path, fullPage: true }); console.error('screenshot: ' + path); } catch (_) { /* closed */ }
  }
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
