// Issue 18's two load scenarios against `llama3 serve` (node built-ins only):
//  slow:  72 connections from 127.0.0.2 that send a request head one byte at a time, a byte
//         every 20 s; a normal client (127.0.0.1) must still be answered at once, and the
//         server must close the slow ones when their head deadline passes.
//  disconnect: 100 cycles of a streamed request whose client hangs up after the first chunk,
//         each followed at once by a normal request, which must be answered (never 503).
// usage: node server_load.mjs BASE_URL slow HEAD_TIMEOUT_S | disconnect
import net from 'node:net';
import assert from 'node:assert/strict';

const [base, mode, headTimeout] = process.argv.slice(2);
const url = new URL(base);
const chat = (extra = {}) => fetch(base + '/v1/chat/completions', {
  method: 'POST', headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, temperature: 0, ...extra }),
});

if (mode === 'slow') {
  const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n';
  let refused = 0, closedByServer = 0, open = 0;
  const socks = [];
  const t0 = Date.now();
  const closeTimes = [];
  for (let i = 0; i < 72; i++) {
    const s = net.connect({ host: url.hostname, port: +url.port, localAddress: '127.0.0.2' });
    s.on('error', () => {});
    s.on('connect', () => { open++; s.write(head[0]); });
    let k = 1;
    const timer = setInterval(() => { if (!s.destroyed) s.write(head[k++ % head.length]); }, 20000);
    s.on('close', () => { clearInterval(timer); closeTimes.push(Date.now() - t0); });
    s.on('end', () => closedByServer++);
    socks.push(s);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const t1 = Date.now();
  const r = await chat();
  const ms = Date.now() - t1;
  assert.equal(r.status, 200, 'a normal client is served beside 72 slow ones');
  await r.json();
  assert.ok(ms < 5000, `answered in ${ms} ms`);
  // the slow connections end by the head deadline (refused ones at once: over the per-address limit)
  const limit = (+headTimeout + 3) * 1000;
  while (closeTimes.length < 72 && Date.now() - t0 < limit) await new Promise((r) => setTimeout(r, 200));
  assert.equal(closeTimes.length, 72, `all slow connections closed within ${limit} ms (${closeTimes.length} closed)`);
  refused = closeTimes.filter((t) => t < 1000).length;
  assert.equal(refused, 72 - 32, 'over the per-address limit (32) refused at once');
  console.log(`slow clients: normal request in ${ms} ms; ${refused} refused at once, all 72 closed by ${Math.max(...closeTimes)} ms`);
  for (const s of socks) s.destroy();
} else {
  let served = 0;
  const codes = {};
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => {
      const s = net.connect({ host: url.hostname, port: +url.port }, () => {
        const body = JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 400, stream: true });
        s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      });
      s.on('data', () => { s.destroy(); resolve(); });
      s.on('error', resolve);
      s.on('close', resolve);
    });
    const r = await chat();
    codes[r.status] = (codes[r.status] ?? 0) + 1;
    if (r.status === 200) served++;
    await r.text();
  }
  console.log('after each of 100 disconnects:', JSON.stringify(codes));
  assert.equal(served, 100, 'every request after a disconnect is served');
}
console.log('load: ok');
