// What a person does with the web console of =h, in Debian's Chromium driven by
// playwright-core, and what a page of another origin can do to it. Run by
// test/integration/test_web.py, which starts the servers and checks the results.
//
//   node browser.js console BASE OUTDIR BIGFILE   the console at 1280x800 (light and dark)
//                                                 and 390x844; screenshots into OUTDIR
//   node browser.js attack PAGE...                loads each attack page, reports what it saw
//
// Prints one JSON object on stdout; exits 1 (with the reason on stderr) when the browser
// cannot be driven at all. Every wait is bounded.
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.RAP_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT_MS = 20000;

async function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: FLAGS,
    timeout: WAIT_MS });
}

// Types a command and presses Enter; waits until its output and the panel's refresh are in
// (the page counts finished commands in body's data-done). Returns the output's text.
async function run(page, cmd) {
  const before = Number(await page.getAttribute('body', 'data-done'));
  await page.keyboard.type(cmd);
  await page.keyboard.press('Enter');
  await page.waitForSelector(`body[data-done="${before + 1}"]`, { timeout: WAIT_MS });
  return page.$$eval('#out .body', (els) => els[els.length - 1].textContent);
}

async function consoleSession(browser, base, outdir, name, options, stopTest, bigFile) {
  const ctx = await browser.newContext(options);
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') errors.push(m.text()); });
  const r = { errors };
  const resp = await page.goto(base + '/', { timeout: WAIT_MS });
  r.status = resp.status();
  r.csp = resp.headers()['content-security-policy'] || '';
  await page.waitForSelector('body[data-done="0"]', { timeout: WAIT_MS });
  // The server's position is shared by every client: back to 0 as the page itself would.
  await page.evaluate(async () => {
    const token = document.querySelector('meta[name="rap-token"]').content;
    await fetch('/cmd', { method: 'POST', body: 's 0', headers: { 'X-Rap-Token': token } });
  });
  await page.reload({ timeout: WAIT_MS });
  await page.waitForSelector('body[data-done="0"]', { timeout: WAIT_MS });
  r.focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  r.p8 = await run(page, 'p8 4 @ 0x1235');
  r.px = await run(page, 'px 32');
  // History: ArrowUp and ArrowDown walk it, and a recalled line runs again.
  r.recall = [];
  for (const key of ['ArrowUp', 'ArrowUp', 'ArrowUp', 'ArrowDown', 'ArrowDown', 'ArrowDown']) {
    await page.keyboard.press(key);
    r.recall.push(await page.inputValue('#cmd'));
  }
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  const before = Number(await page.getAttribute('body', 'data-done'));
  await page.keyboard.press('Enter');
  await page.waitForSelector(`body[data-done="${before + 1}"]`, { timeout: WAIT_MS });
  r.rerun = await page.$$eval('#out .body', (els) => els[els.length - 1].textContent);
  // The hexdump panel follows the position.
  r.hexBefore = await page.textContent('#hex');
  r.seek = await run(page, 's 0x10');
  r.pos = await page.textContent('#pos');
  r.hexhead = await page.textContent('#hexat');
  r.hex = await page.textContent('#hex');
  r.prompt = await page.textContent('#prompt');
  r.files = await page.textContent('#files');
  r.commands = await page.$$eval('#out .cmd', (els) => els.map((e) => e.textContent));
  r.layout = await page.evaluate(() => {
    const box = (id) => { const b = document.getElementById(id).getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; };
    return { out: box('out'), cmd: box('cmd'), hex: box('hex'), width: document.documentElement.scrollWidth,
      viewport: window.innerWidth, bg: getComputedStyle(document.body).backgroundColor };
  });
  r.screenshot = path.join(outdir, `console-${name}.png`);
  await page.screenshot({ path: r.screenshot, fullPage: false });
  // History survives a reload (the browser's storage).
  await page.reload({ timeout: WAIT_MS });
  await page.waitForSelector('body[data-done="0"]', { timeout: WAIT_MS });
  await page.keyboard.press('ArrowUp');
  r.afterReload = await page.inputValue('#cmd');
  await page.fill('#cmd', '');
  if (stopTest) {
    // A long command (a search over a file of 64 GiB) stopped with Ctrl-C, then the next
    // one is answered at once.
    await run(page, 'o ' + bigFile);
    const n = Number(await page.getAttribute('body', 'data-done'));
    await page.keyboard.type('/x 0102');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#stop:not([disabled])', { timeout: WAIT_MS });
    await page.waitForTimeout(700);
    r.stopEnabled = await page.isEnabled('#stop');
    const t0 = Date.now();
    await page.keyboard.press('Control+C');
    await page.waitForSelector(`body[data-done="${n + 1}"]`, { timeout: WAIT_MS });
    r.stopNote = await page.$$eval('#out .note', (els) => els.length ? els[els.length - 1].textContent : '');
    r.after = await run(page, '?e after the stop');
    r.stopMs = Date.now() - t0;
    r.stopScreenshot = path.join(outdir, `console-${name}-stopped.png`);
    await page.screenshot({ path: r.stopScreenshot });
  }
  await ctx.close();
  return r;
}

async function consoleMain(base, outdir, bigFile) {
  const browser = await launch();
  const out = { version: browser.version() };
  out.desktop = await consoleSession(browser, base, outdir, '1280x800', { viewport: { width: 1280, height: 800 } }, false);
  out.dark = await consoleSession(browser, base, outdir, '1280x800-dark',
    { viewport: { width: 1280, height: 800 }, colorScheme: 'dark' }, false);
  out.phone = await consoleSession(browser, base, outdir, '390x844',
    { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }, true, bigFile);
  await browser.close();
  return out;
}

// Each attack page reports into window.attack once every attempt has settled.
async function attackMain(pages) {
  const browser = await launch();
  const out = { version: browser.version(), pages: [] };
  for (const url of pages) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const requests = [];
    page.on('request', (q) => requests.push(q.method() + ' ' + q.url()));
    await page.goto(url, { timeout: WAIT_MS });
    await page.waitForFunction(() => window.attack && window.attack.done, null, { timeout: WAIT_MS });
    const seen = await page.evaluate(() => window.attack);
    out.pages.push({ url, seen, requests });
    await ctx.close();
  }
  await browser.close();
  return out;
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  let result;
  if (mode === 'console')
    result = await consoleMain(args[0], args[1], args[2]);
  else if (mode === 'attack')
    result = await attackMain(args);
  else
    throw new Error('usage: node browser.js console BASE OUTDIR BIGFILE | attack PAGE...');
  console.log(JSON.stringify(result));
}

const guard = setTimeout(() => { console.error('browser.js: not done within 240 s'); process.exit(1); }, 240000);
main().then(() => { clearTimeout(guard); process.exit(0); },
  (e) => { console.error('browser.js: ' + (e && e.stack || e)); process.exit(1); });
