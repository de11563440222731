// The agent console in a real browser (Debian chromium driven by playwright-core):
// log in, see the waiting handoff with its packet, accept it, write to the customer, give the
// conversation back to the bot. Run by tests/console.rs, which starts the server and queues
// the handoff: node web/tests/console.mjs BASE_URL USERNAME PASSWORD
import { chromium } from 'playwright-core';

const [base, username, password] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node console.mjs BASE_URL USERNAME PASSWORD');
  process.exit(2);
}
const executablePath = process.env.WARMLINE_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } }); // a phone
  page.setDefaultTimeout(10000);
  await page.goto(base + '/agent');

  // A wrong password is refused on the page.
  await page.fill('#username', username);
  await page.fill('#password', 'not the password');
  await page.click('#login button[type=submit]');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.includes('wrong'));

  await page.fill('#password', password);
  await page.click('#login button[type=submit]');
  const waiting = page.locator('#queue .card');
  await waiting.first().waitFor();
  const card = await waiting.first().textContent();
  if (!card.includes('high_stakes:fraud') || !card.includes('never made')) {
    throw new Error('the queue card lacks the reason or the summary: ' + card);
  }

  await waiting.first().getByRole('button', { name: 'Accept' }).click();
  await page.locator('#open').waitFor();
  await page.waitForFunction(() => document.getElementById('packet').textContent.includes('assigned'));
  await page.fill('#text', 'I have blocked the card; a new one is on its way.');
  await page.press('#text', 'Enter');
  await page.waitForFunction(() => [...document.querySelectorAll('#log .msg.agent')]
    .some((m) => m.textContent.includes('new one is on its way')));
  // The customer's earlier words are there, so they never repeat themselves.
  const log = await page.locator('#log').textContent();
  if (!log.includes('never made')) throw new Error('the transcript lacks the customer message');

  await page.fill('#note', 'card blocked, replacement sent');
  await page.click('#return');
  await page.waitForFunction(() => document.getElementById('packet').textContent.includes('returned'));
  console.log('console ok');
} finally {
  await browser.close();
}
