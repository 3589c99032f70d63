// `n` choices through the official `openai` npm client against `llama3 serve --slots 4` on the
// random-weight tok32 model: n = 3 gives 3 choices (index 0..2, each with its finish_reason
// and logprobs); at temperature 0 each equals the n = 1 reply; at temperature 1 with a seed
// the choices differ from each other and two requests agree (choice 0 is the n = 1 reply of
// that seed); streamed chunks carry their choice's index; usage counts the prompt once and
// sums the completions; constrained choices (response_format, tool_choice) each validate; n
// over the slots is a 400, n over the free slots a 503, both naming 'n'.
// usage: node server_choices.mjs BASE_URL NODE_PREFIX
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const [base, prefix] = process.argv.slice(2);
const require = createRequire(prefix.replace(/\/?$/, '/') + 'node_modules/');
const OpenAI = require('openai');
const client = new (OpenAI.default ?? OpenAI)({ baseURL: base + '/v1', apiKey: 'none', timeout: 120000, maxRetries: 0 });
const model = (await client.models.list()).data[0].id;
const ask = { model, messages: [{ role: 'user', content: 'Tell me a story.' }], max_tokens: 12 };
const chat = (body) => client.chat.completions.create(body);
const texts = (r) => r.choices.map((c) => c.message.content);

// Streams a request; per choice index: text, tool call, finish_reason, logprobs.
async function stream(create, body) {
  const s = await create({ ...body, stream: true, stream_options: { include_usage: true } });
  const out = [], usages = [];
  for await (const ch of s) {
    if (ch.usage) usages.push(ch.usage);
    for (const c of ch.choices) {
      const o = (out[c.index] ??= { text: '', finish: null, call: null, lp: 0, after: 0 });
      if (o.finish) o.after++;  // nothing may follow a choice's last chunk
      o.text += c.delta?.content ?? c.text ?? '';
      if (c.delta?.tool_calls) o.call = c.delta.tool_calls[0];
      if (c.logprobs?.content) o.lp += c.logprobs.content.length;
      if (c.finish_reason) o.finish = c.finish_reason;
    }
  }
  assert.equal(usages.length, 1, 'one usage chunk');
  out.forEach((o, i) => assert.equal(o.after, 0, `choice ${i}: nothing after its finish_reason`));
  return { choices: out, usage: usages[0] };
}

// ---- temperature 0: every choice is the n = 1 reply; usage ----
{
  const one = await chat({ ...ask, temperature: 0 });
  const three = await chat({ ...ask, temperature: 0, n: 3 });
  assert.deepEqual(three.choices.map((c) => c.index), [0, 1, 2]);
  for (const c of three.choices) {
    assert.equal(c.message.content, one.choices[0].message.content, 'greedy: each choice is the n = 1 reply');
    assert.equal(c.finish_reason, one.choices[0].finish_reason);
  }
  assert.equal(three.usage.prompt_tokens, one.usage.prompt_tokens, 'the prompt counted once');
  assert.equal(three.usage.completion_tokens, 3 * one.usage.completion_tokens, 'completion tokens summed');
  assert.equal(three.usage.total_tokens, three.usage.prompt_tokens + three.usage.completion_tokens);
}

// ---- temperature 1 with a seed: distinct, reproducible, choice 0 = the n = 1 reply ----
{
  const hot = { ...ask, temperature: 1, seed: 11, n: 3, logprobs: true, top_logprobs: 2 };
  const a = await chat(hot), b = await chat(hot);
  assert.deepEqual(texts(b), texts(a), 'the same seed gives the same choices');
  assert.equal(new Set(texts(a)).size, 3, 'each choice samples with its own seed: ' + JSON.stringify(texts(a)));
  const single = await chat({ ...hot, n: 1 });
  assert.equal(single.choices[0].message.content, a.choices[0].message.content, 'choice 0 uses the request seed');
  let lp = 0;
  for (const c of a.choices) {
    assert.equal(c.finish_reason, 'length');
    const toks = c.logprobs.content;
    lp += toks.length;
    assert.equal(Buffer.from(toks.map((t) => Buffer.from(t.bytes).toString('latin1')).join(''), 'latin1').toString('utf8'),
                 c.message.content, 'each choice has its own logprobs, spelling its text');
  }
  assert.equal(lp, a.usage.completion_tokens, 'logprobs for every completion token');
  const s = await stream(client.chat.completions.create.bind(client.chat.completions), hot);
  assert.deepEqual(s.choices.map((c) => c.text), texts(a), 'streamed: the same choices, by index');
  assert.deepEqual(s.choices.map((c) => c.finish), ['length', 'length', 'length']);
  assert.equal(s.choices.reduce((n, c) => n + c.lp, 0), lp, 'streamed logprobs per choice');
  assert.deepEqual(s.usage, a.usage, 'streamed usage: one chunk, the same counts');
  // completions too
  const cbody = { model, prompt: 'Once upon a time', max_tokens: 8, temperature: 1, seed: 5, n: 2 };
  const c = await client.completions.create(cbody);
  assert.deepEqual(c.choices.map((x) => x.index), [0, 1]);
  assert.notEqual(c.choices[0].text, c.choices[1].text);
  const cs = await stream(client.completions.create.bind(client.completions), cbody);
  assert.deepEqual(cs.choices.map((x) => x.text), c.choices.map((x) => x.text), 'streamed completions, by index');
  assert.equal(cs.usage.completion_tokens, c.usage.completion_tokens);
}

// ---- constrained choices: each parses and validates ----
{
  const schema = { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' } }, required: ['name', 'age'] };
  const body = { ...ask, max_tokens: 40, temperature: 1, seed: 3, n: 3, response_format: { type: 'json_schema', json_schema: { name: 'p', schema } } };
  const r = await chat(body);
  for (const t of texts(r)) {
    const d = JSON.parse(t);
    assert.ok(typeof d.name === 'string' && Number.isInteger(d.age), 'validates: ' + t);
  }
  assert.ok(new Set(texts(r)).size > 1, 'constrained choices still differ');
  const s = await stream(client.chat.completions.create.bind(client.chat.completions), body);
  assert.deepEqual(s.choices.map((c) => c.text), texts(r));

  const add = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] };
  const tools = [{ type: 'function', function: { name: 'add', parameters: add } }];
  const tb = { ...ask, max_tokens: 60, temperature: 1, seed: 9, n: 2, tools, tool_choice: { type: 'function', function: { name: 'add' } } };
  const t = await chat(tb);
  assert.equal(t.choices.length, 2);
  for (const c of t.choices) {
    assert.equal(c.finish_reason, 'tool_calls');
    const args = JSON.parse(c.message.tool_calls[0].function.arguments);
    assert.ok(typeof args.a === 'number' && typeof args.b === 'number', 'a call with valid arguments');
  }
  const ts = await stream(client.chat.completions.create.bind(client.chat.completions), tb);
  assert.deepEqual(ts.choices.map((c) => c.finish), ['tool_calls', 'tool_calls']);
  assert.deepEqual(ts.choices.map((c) => c.call.function.arguments), t.choices.map((c) => c.message.tool_calls[0].function.arguments));
}

// ---- refused: more than the slots (400), more than the free slots (503) ----
{
  await assert.rejects(chat({ ...ask, n: 5 }), (e) => e.status === 400 && /'n'/.test(e.message), 'n over the 4 slots');
  await assert.rejects(chat({ ...ask, n: 0 }), (e) => e.status === 400 && /'n'/.test(e.message), 'n = 0');
  // two long streams hold two slots (end tokens banned, so they run to max_tokens)
  const ban = { 128001: -100, 128008: -100, 128009: -100 };
  const ctl = new AbortController();
  const busy = [];
  for (let i = 0; i < 2; i++) {
    const s = await client.completions.create({ model, prompt: 'x', max_tokens: 480, temperature: 1, logit_bias: ban, stream: true },
                                              { signal: ctl.signal });
    const it = s[Symbol.asyncIterator]();
    await it.next();  // running: its first token is out
    busy.push(it);
  }
  await assert.rejects(chat({ ...ask, n: 3 }), (e) => e.status === 503 && /'n'/.test(e.message), 'n over the free slots');
  const ok = await chat({ ...ask, n: 2, temperature: 0 });  // two are still free
  assert.equal(ok.choices.length, 2);
  ctl.abort();
  for (const it of busy) await it.next().catch(() => {});
}
console.log('openai client, n choices: ok');
