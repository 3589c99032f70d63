// Half-closed clients (issue 18): a client that sends a whole request and then shuts down its
// writing side (FIN, as shutdown(SHUT_WR); node's socket.end()) still gets the whole reply:
// bodies with Content-Length and chunked, sent at once or in pieces, replies whole and
// streamed, n = 2. The reply must equal what a normal client gets (greedy). And a client that
// closes entirely (FIN too, but it cannot read) must still free its slot within a second.
// usage: node server_halfclose.mjs BASE_URL
import net from 'node:net';
import assert from 'node:assert/strict';

const base = process.argv[2];
const url = new URL(base);

// Sends head + body pieces (a 30 ms pause between them), then FIN; resolves with the raw reply
// once the server closes the connection.
function halfClosed(path, body, { chunked = false, pieces = 1 } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: url.hostname, port: +url.port });
    const buf = Buffer.from(body);
    const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                 (chunked ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${buf.length}\r\n\r\n`);
    const parts = [];
    const step = Math.ceil(buf.length / pieces);
    for (let i = 0; i < buf.length; i += step) {
      const p = buf.subarray(i, i + step);
      parts.push(chunked ? Buffer.concat([Buffer.from(p.length.toString(16) + '\r\n'), p, Buffer.from('\r\n')]) : p);
    }
    if (chunked) parts.push(Buffer.from('0\r\n\r\n'));
    const got = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no reply end in 30 s: ${Buffer.concat(got)}`)); }, 30000);
    s.on('data', (d) => got.push(d));
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(got).toString('utf8')); });
    s.on('connect', async () => {
      s.write(head);
      for (const p of parts) {
        await new Promise((r) => setTimeout(r, pieces > 1 ? 30 : 0));
        s.write(p);
      }
      s.end();  // FIN: nothing more from this side, but still reading
    });
  });
}

// An HTTP/1.1 reply: status, headers, body (de-chunked).
function parse(raw) {
  const at = raw.indexOf('\r\n\r\n');
  assert.ok(at > 0, 'a reply head: ' + JSON.stringify(raw.slice(0, 200)));
  const head = raw.slice(0, at).split('\r\n');
  const status = +head[0].split(' ')[1];
  let body = raw.slice(at + 4);
  if (/^transfer-encoding: *chunked/im.test(head.join('\n'))) {
    let out = '', rest = Buffer.from(body);
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const n = parseInt(rest.subarray(0, nl).toString(), 16);
      assert.ok(nl > 0 && !Number.isNaN(n), 'a chunk size');
      if (n === 0) break;
      out += rest.subarray(nl + 2, nl + 2 + n).toString('latin1');
      rest = rest.subarray(nl + 2 + n + 2);
    }
    body = Buffer.from(out, 'latin1').toString('utf8');
  }
  return { status, body };
}

const post = async (path, body) => (await fetch(base + path, { method: 'POST', body: JSON.stringify(body) })).json();
const comp = { prompt: 'Once upon a time', max_tokens: 12, temperature: 0 };
const chat = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0, n: 2 };
const want = (await post('/v1/completions', comp)).choices[0].text;
const wantChat = (await post('/v1/chat/completions', chat)).choices.map((c) => c.message.content);
const sse = (body) => body.split('\n').filter((l) => l.startsWith('data: '));

for (const chunked of [false, true]) {
  for (const pieces of [1, 3]) {
    const how = `${chunked ? 'chunked' : 'Content-Length'} body in ${pieces} piece(s)`;
    const r = parse(await halfClosed('/v1/completions', JSON.stringify(comp), { chunked, pieces }));
    assert.equal(r.status, 200, how);
    assert.equal(JSON.parse(r.body).choices[0].text, want, 'whole reply, ' + how);
    const s = parse(await halfClosed('/v1/completions', JSON.stringify({ ...comp, stream: true }), { chunked, pieces }));
    assert.equal(s.status, 200);
    const ev = sse(s.body);
    assert.equal(ev.at(-1), 'data: [DONE]', 'the stream ends, ' + how);
    assert.equal(ev.slice(0, -1).map((l) => JSON.parse(l.slice(6)).choices[0].text).join(''), want, 'streamed reply, ' + how);
  }
  const c = parse(await halfClosed('/v1/chat/completions', JSON.stringify(chat), { chunked }));
  assert.deepEqual(JSON.parse(c.body).choices.map((x) => x.message.content), wantChat, 'n = 2, half-closed');
  const t = parse(await halfClosed('/tokenize', JSON.stringify({ content: 'hello' }), { chunked }));
  assert.equal(t.status, 200);
}

// A client that closes entirely after its request: its slot frees within a second (a long
// generation: end tokens banned, 1500 tokens).
const ban = { 128001: -100, 128008: -100, 128009: -100 };
for (const stream of [false, true]) {
  const s = net.connect({ host: url.hostname, port: +url.port });
  const body = JSON.stringify({ prompt: 'x', max_tokens: 1500, temperature: 1, logit_bias: ban, stream });
  await new Promise((r) => s.on('connect', r));
  s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  let busy = false;
  for (let i = 0; i < 50 && !busy; i++) {  // running
    busy = (await (await fetch(base + '/health')).json()).slots_processing > 0;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(busy, 'the request runs');
  s.destroy();
  const t0 = Date.now();
  while ((await (await fetch(base + '/health')).json()).slots_processing > 0) {
    assert.ok(Date.now() - t0 < 1000, `a closed client (stream: ${stream}) still holds its slot after 1 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  console.log(`closed client (stream: ${stream}): slot free after ${Date.now() - t0} ms`);
}
console.log('half-closed clients: ok');
