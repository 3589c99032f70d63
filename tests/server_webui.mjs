// The chat page at / in headless Chromium (Debian's chromium, driven by playwright-core):
// it loads with nothing fetched from elsewhere, a message gets a streamed reply (the text
// grows while the stop button is enabled), the system prompt reaches the request, markup in
// messages is shown as text (no element injected), and stop ends a reply and frees its slot.
// usage: node server_webui.mjs BASE_URL NODE_PREFIX CHROMIUM
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const [base, prefix, chromium] = process.argv.slice(2);
const require = createRequire(prefix.replace(/\/?$/, '/') + 'node_modules/');
const { chromium: pw } = require('playwright-core');
const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage();
  const foreign = [], bodies = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(base)) foreign.push(r.url());
    if (r.method() === 'POST') bodies.push(JSON.parse(r.postData()));
  });
  await page.goto(base + '/?max_tokens=200');
  assert.equal(await page.title(), 'llama3c chat');

  // a streamed reply: sample the text while the reply runs
  await page.fill('#system', 'You are terse.');
  await page.fill('#input', 'Hello there');
  await page.click('#send');
  const seen = new Set();
  let whileRunning = 0;
  for (let i = 0; i < 600; i++) {
    const s = await page.evaluate(() => ({
      text: document.querySelector('.assistant:last-child')?.textContent ?? '',
      running: !document.getElementById('stop').disabled,
      done: document.querySelector('.assistant:last-child')?.dataset.done === '1',
    }));
    if (s.running && s.text) { seen.add(s.text.length); whileRunning++; }
    if (s.done) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const reply = await page.textContent('.assistant:last-child');
  assert.ok(reply.length > 0, 'a reply');
  assert.ok(seen.size >= 2, `the reply grew while streaming (${seen.size} lengths seen)`);
  assert.deepEqual(bodies[0].messages[0], { role: 'system', content: 'You are terse.' });
  assert.equal(bodies[0].stream, true);

  // markup is text: nothing injected
  const evil = '<img src=x onerror="window.pwned=1"><b id="inj">bold</b>';
  await page.fill('#input', evil);
  await page.click('#send');
  await page.waitForFunction(() => document.querySelectorAll('.assistant')[1]?.dataset.done === '1', null, { timeout: 60000 });
  assert.equal(await page.textContent('.user:nth-of-type(3)'), evil, 'the message shown as typed');
  assert.equal(await page.locator('#log img, #log b').count(), 0, 'no element from the text');
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(bodies[1].messages.length, 4, 'the conversation goes back with the next message');

  // stop: the reply ends early and the server's slot is free again
  await page.goto(base + '/?max_tokens=400');
  await page.fill('#input', 'Tell me a long story');
  await page.click('#send');
  await page.waitForFunction(() => (document.querySelector('.assistant')?.textContent ?? '').length > 0, null, { timeout: 60000 });
  await page.click('#stop');
  await page.waitForFunction(() => document.querySelector('.assistant')?.dataset.done === '1', null, { timeout: 10000 });
  let idle = false;
  for (let i = 0; i < 50 && !idle; i++) {
    idle = (await (await fetch(base + '/health')).json()).slots_processing === 0;
    if (!idle) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(idle, 'stop frees the slot');
  assert.deepEqual(foreign, [], 'nothing fetched from elsewhere');
} finally {
  await browser.close();
}
console.log('web page: ok');
