// The knowledge editor in a real browser (Debian chromium driven by playwright-core): an
// editor logs in (a wrong password is refused first), finds an article, edits its Markdown
// and sees the live preview, tries a customer's question against the draft, saves, sends it
// to review and publishes; then a customer in the web widget gets the new answer.
// Run by tests/editor_browser.rs, which starts the server:
//   node web/tests/editor.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]
// On failure both pages are saved as PNGs in SCREENSHOT_DIR (default: the working directory).
import { chromium } from 'playwright-core';

const [base, username, password, shots = '.'] = process.argv.slice(2);
if (!base || !username || !password) {
  console.error('usage: node editor.mjs BASE_URL USERNAME PASSWORD [SCREENSHOT_DIR]');
  process.exit(2);
}
const executablePath = process.env.WARMLINE_CHROMIUM || '/usr/bin/chromium';
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const pages = {};
let failed = false;
const QUESTION = 'my account is locked, which helpline unlocks it?';
const SECTION = '\n\n## Unlocking by phone\n\nCall the purple helpline at 555 0199 to unlock your account.';
try {
  const editor = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const customer = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  Object.assign(pages, { editor, customer });
  editor.setDefaultTimeout(10000);
  customer.setDefaultTimeout(10000);

  // Log in: the wrong password first, then the right one with the keyboard.
  await editor.goto(base + '/editor');
  await editor.getByLabel('Username').fill(username);
  await editor.getByLabel('Password').fill('not the password');
  await editor.click('#login button[type=submit]');
  await editor.waitForFunction(() => document.getElementById('login-error').textContent.includes('wrong'));
  await editor.getByLabel('Password').fill(password);
  await editor.press('#password', 'Enter');
  await editor.locator('#articles li').first().waitFor();

  // Find the article and open it.
  await editor.getByLabel('Search').fill('locked');
  await editor.waitForFunction(() => document.querySelectorAll('#articles li').length === 1);
  await editor.locator('#articles button').first().click();
  await editor.waitForFunction(() => document.getElementById('editing-id').textContent === 'account-locked');

  // Edit the Markdown: the preview follows.
  const body = editor.getByLabel('Markdown');
  await body.fill((await body.inputValue()) + SECTION);
  await editor.waitForFunction(() => document.querySelector('#preview h2:last-of-type')?.textContent === 'Unlocking by phone');

  // Try the draft before publishing: the answer already uses the new section.
  await editor.getByLabel("A customer's question").fill(QUESTION);
  await editor.locator('#try button[type=submit]').click();
  await editor.waitForFunction(() => document.getElementById('answer')?.textContent.includes('purple helpline'));
  if (!(await editor.locator('#tried').textContent()).includes('With your draft')) throw new Error('the try-it panel did not use the draft');

  // The customer doesn't see it yet.
  await customer.goto(base + '/');
  await customer.locator('.launcher').click();
  await customer.fill('#wl-text', QUESTION);
  await customer.press('#wl-text', 'Enter');
  await customer.locator('.log .msg.bot').first().waitFor();
  if ((await customer.locator('.log').textContent()).includes('purple helpline')) throw new Error('a draft reached a customer');

  // Save, send to review, publish.
  await editor.getByLabel('Note for this version').fill('phone unlock');
  await editor.getByRole('button', { name: 'Save draft' }).click();
  await editor.waitForFunction(() => document.getElementById('message').textContent.startsWith('Saved version 2'));
  await editor.getByRole('button', { name: 'Send to review' }).click();
  await editor.waitForFunction(() => document.getElementById('status').textContent === 'in review');
  await editor.getByRole('button', { name: 'Publish' }).click();
  await editor.waitForFunction(() => document.getElementById('message').textContent.startsWith('Published'));
  // The history shows both versions, with a diff.
  await editor.getByRole('button', { name: 'Diff with v1' }).click();
  await editor.waitForFunction(() => [...document.querySelectorAll('#diff .ins')].some((l) => l.textContent.includes('purple helpline')));

  // A new customer (asking the same again in one chat would rightly bring in a person) gets
  // the published answer.
  const next = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  pages.next = next;
  await next.goto(base + '/');
  await next.locator('.launcher').click();
  await next.fill('#wl-text', QUESTION);
  await next.press('#wl-text', 'Enter');
  // The widget lives in a shadow root.
  await next.waitForFunction(() => [...document.querySelector('#warmline-widget').shadowRoot.querySelectorAll('.log .msg.bot')]
    .some((m) => m.textContent.includes('purple helpline')));
  console.log('editor ok');
} catch (err) {
  failed = true;
  for (const [name, page] of Object.entries(pages)) {
    const path = `${shots}/editor-${name}.png`;
    try { await page.screenshot({ path, fullPage: true }); console.error('screenshot: ' + path); } catch (_) { /* closed */ }
  }
  console.error(err);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
