// The official `openai` npm client against `llama3 serve` on the random-weight tok32 model:
// logprobs, logit_bias, frequency/presence penalties, structured output, echo, the prompt
// cache, refused fields, tool calling and embeddings, streamed and not. Each check compares with what the feature
// must change (a reply without it, an independent schema validator, the prompt's text).
// usage: node server_features.mjs BASE_URL NODE_PREFIX
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const [base, prefix] = process.argv.slice(2);
const require = createRequire(prefix.replace(/\/?$/, '/') + 'node_modules/');
const OpenAI = require('openai');
const client = new (OpenAI.default ?? OpenAI)({ baseURL: base + '/v1', apiKey: 'none', timeout: 120000, maxRetries: 0 });
const model = (await client.models.list()).data[0].id;
const messages = [{ role: 'user', content: 'Write something.' }];

async function streamChat(body) {
  const s = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = '', logprobs = [], finish = null, usage = null;
  for await (const ch of s) {
    if (ch.usage) usage = ch.usage;
    for (const c of ch.choices) {
      text += c.delta?.content ?? '';
      if (c.logprobs?.content) logprobs.push(...c.logprobs.content);
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, logprobs, finish, usage };
}

// ---- logprobs: chat, streamed and not; completions' legacy shape ----
{
  const body = { model, messages, max_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 3 };
  const r = await client.chat.completions.create(body);
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 8, 'one logprob per token');
  let joined = '';
  for (const t of lp) {
    assert.ok(t.logprob <= 0, 'a log-probability');
    assert.equal(t.top_logprobs.length, 3);
    // greedy: the sampled token is the most likely one
    assert.equal(t.top_logprobs[0].token, t.token);
    assert.ok(Math.abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6);
    assert.ok(t.top_logprobs[1].logprob <= t.top_logprobs[0].logprob);
    joined += Buffer.from(t.bytes).toString('latin1');
  }
  assert.equal(Buffer.from(joined, 'latin1').toString('utf8'), r.choices[0].message.content, 'the tokens spell the reply');
  const s = await streamChat(body);
  assert.equal(s.text, r.choices[0].message.content);
  assert.deepEqual(s.logprobs.map((t) => t.token), lp.map((t) => t.token), 'streamed logprobs cover the same tokens');
  for (let i = 0; i < lp.length; i++) assert.ok(Math.abs(s.logprobs[i].logprob - lp[i].logprob) < 1e-4);
  const plain = await client.chat.completions.create({ model, messages, max_tokens: 2, temperature: 0 });
  assert.equal(plain.choices[0].logprobs, null, 'no logprobs unless asked');
  const c = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 4, temperature: 0, logprobs: 2 });
  const cl = c.choices[0].logprobs;
  assert.equal(cl.tokens.length, 4);
  assert.equal(cl.token_logprobs.length, 4);
  assert.equal(Object.keys(cl.top_logprobs[0]).length, 2);
  assert.equal(cl.tokens.join(''), c.choices[0].text);
  assert.deepEqual(cl.text_offset, [0, 1, 2, 3].map((i) => cl.tokens.slice(0, i).join('').length));
}

// ---- logit_bias: +100 forces a token, -100 bans the greedy choice ----
{
  const ids = (await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: ' llama' }) })).json()).tokens;
  assert.equal(ids.length, 1);
  const forced = await client.chat.completions.create({ model, messages, max_tokens: 4, temperature: 1, seed: 3, logit_bias: { [ids[0]]: 100 } });
  assert.equal(forced.choices[0].message.content, ' llama'.repeat(4));
  const g = await client.chat.completions.create({ model, messages, max_tokens: 1, temperature: 0, logprobs: true });
  const first = g.choices[0].logprobs.content[0].token;
  const firstId = (await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: first }) })).json()).tokens;
  const banned = await client.chat.completions.create({ model, messages, max_tokens: 1, temperature: 0, logprobs: true, logit_bias: { [firstId[0]]: -100 } });
  assert.notEqual(banned.choices[0].logprobs.content[0].token, first, '-100 bans the token');
  await assert.rejects(client.chat.completions.create({ model, messages, logit_bias: { x: 1 } }), (e) => e.status === 400 && /logit_bias/.test(e.message));
}

// ---- frequency / presence penalties: greedy repeats less ----
{
  const distinct = (r) => new Set(r.choices[0].logprobs.content.map((t) => t.token)).size;
  const base0 = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0, logprobs: true });
  const pen = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0, logprobs: true, frequency_penalty: 2, presence_penalty: 2 });
  assert.ok(distinct(pen) > distinct(base0), `penalties give more distinct tokens (${distinct(pen)} vs ${distinct(base0)})`);
  await assert.rejects(client.chat.completions.create({ model, messages, presence_penalty: 3 }), (e) => e.status === 400 && /presence_penalty/.test(e.message));
}

// ---- structured output: every reply parses and validates (independent validator) ----
function valid(v, s) {
  const typeOk = (t) => ({
    object: v !== null && typeof v === 'object' && !Array.isArray(v), array: Array.isArray(v), string: typeof v === 'string',
    number: typeof v === 'number', integer: Number.isInteger(v), boolean: typeof v === 'boolean', null: v === null,
  })[t];
  if (s.type && !(Array.isArray(s.type) ? s.type.some(typeOk) : typeOk(s.type))) return false;
  if (s.enum && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) return false;
  if (s.properties && typeOk('object')) {
    for (const [k, x] of Object.entries(v)) if (s.properties[k] && !valid(x, s.properties[k])) return false;
    if (s.additionalProperties === false && Object.keys(v).some((k) => !(k in s.properties))) return false;
  }
  if (s.required && typeOk('object') && s.required.some((k) => !(k in v))) return false;
  if (s.items && Array.isArray(v) && !v.every((x) => valid(x, s.items))) return false;
  return true;
}
{
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string' }, age: { type: 'integer' }, ok: { type: 'boolean' }, none: { type: 'null' },
      tags: { type: 'array', items: { type: 'string' } }, color: { enum: ['red', 'green', 'blue'] },
      point: { type: 'object', properties: { x: { type: 'number' }, y: { type: ['integer', 'null'] } }, required: ['x', 'y'] },
    },
    required: ['name', 'age', 'color', 'point'],
  };
  for (let seed = 0; seed < 4; seed++) {
    const body = { model, messages, max_tokens: 60 + 10 * seed, temperature: 1, seed,
                   response_format: { type: 'json_schema', json_schema: { name: 'person', schema } } };
    const r = await client.chat.completions.create(body);
    const doc = JSON.parse(r.choices[0].message.content);
    assert.ok(valid(doc, schema), 'validates: ' + r.choices[0].message.content);
    const s = await streamChat(body);
    assert.equal(s.text, r.choices[0].message.content, 'streamed: the same reply');
    const o = await client.chat.completions.create({ model, messages, max_tokens: 40, temperature: 1, seed, response_format: { type: 'json_object' } });
    const od = JSON.parse(o.choices[0].message.content);
    assert.ok(od !== null && typeof od === 'object' && !Array.isArray(od), 'json_object: an object');
    const c = await client.completions.create({ model, prompt: 'JSON:', max_tokens: 30, temperature: 1, seed,
                                                response_format: { type: 'json_schema', json_schema: { schema: { type: 'array', items: { type: 'integer' } } } } });
    assert.ok(valid(JSON.parse(c.choices[0].text), { type: 'array', items: { type: 'integer' } }), 'completions too: ' + c.choices[0].text);
  }
  for (const [kw, s] of [['pattern', { type: 'string', pattern: 'a' }], ['anyOf', { anyOf: [{ type: 'string' }] }], ['minimum', { type: 'integer', minimum: 1 }]])
    await assert.rejects(client.chat.completions.create({ model, messages, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: s } } }),
                         (e) => e.status === 400 && e.message.includes(kw), kw);
}

// ---- echo, the prompt cache, refused fields ----
{
  const prompt = 'The quick brown fox';
  const c = await client.completions.create({ model, prompt, max_tokens: 3, temperature: 0, echo: true });
  const plain = await client.completions.create({ model, prompt, max_tokens: 3, temperature: 0 });
  assert.equal(c.choices[0].text, prompt + plain.choices[0].text);
  let text = '';
  for await (const ch of await client.completions.create({ model, prompt, max_tokens: 3, temperature: 0, echo: true, stream: true }))
    text += ch.choices[0]?.text ?? '';
  assert.equal(text, c.choices[0].text, 'streamed echo');

  const long = [{ role: 'system', content: 'You answer briefly. '.repeat(20) }, { role: 'user', content: 'First question?' }];
  const a = await client.chat.completions.create({ model, messages: long, max_tokens: 4, temperature: 0 });
  const again = await client.chat.completions.create({ model, messages: long, max_tokens: 4, temperature: 0 });
  assert.equal(again.choices[0].message.content, a.choices[0].message.content, 'a cached prompt answers the same');
  assert.equal(again.usage.prompt_tokens_details.cached_tokens, again.usage.prompt_tokens - 1, 'all but the last prompt token cached');
  const next = [...long, { role: 'assistant', content: a.choices[0].message.content }, { role: 'user', content: 'And then?' }];
  const b = await client.chat.completions.create({ model, messages: next, max_tokens: 4, temperature: 0 });
  assert.ok(b.usage.prompt_tokens_details.cached_tokens >= a.usage.prompt_tokens, 'the next turn reuses the conversation');
  const off = await client.chat.completions.create({ model, messages: next, max_tokens: 4, temperature: 0, cache_prompt: false });
  assert.equal(off.usage.prompt_tokens_details.cached_tokens, 0, 'cache_prompt: false');
  assert.equal(off.choices[0].message.content, b.choices[0].message.content, 'cached or not, the same greedy reply');

  for (const [field, value] of [['functions', []], ['suffix', 'x'], ['service_tier', 'auto']]) {
    const create = field === 'suffix' ? client.completions.create({ model, prompt: 'a', [field]: value })
                                      : client.chat.completions.create({ model, messages, [field]: value });
    await assert.rejects(create, (e) => e.status === 400 && e.message.includes(`'${field}'`), field);
  }
  await assert.rejects(client.chat.completions.create({ model, messages, echo: true }), (e) => e.status === 400 && /'echo'/.test(e.message));
}
// ---- tool calling (Llama 3.1's JSON format) ----
{
  const weather = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { enum: ['C', 'F'] } }, required: ['city', 'unit'] };
  const add = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] };
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: weather } },
                 { type: 'function', function: { name: 'add', parameters: add } }];
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const schemaOf = { get_weather: weather, add };
  for (let seed = 0; seed < 3; seed++) {
    for (const tool_choice of [{ type: 'function', function: { name: 'add' } }, 'required']) {
      const body = { model, messages: ask, tools, tool_choice, max_tokens: 80, temperature: 1, seed, parallel_tool_calls: false };
      const r = await client.chat.completions.create(body);
      const ch = r.choices[0];
      assert.equal(ch.finish_reason, 'tool_calls');
      assert.equal(ch.message.content, null);
      assert.equal(ch.message.tool_calls.length, 1);
      const call = ch.message.tool_calls[0];
      assert.equal(call.type, 'function');
      if (typeof tool_choice === 'object') assert.equal(call.function.name, 'add');
      assert.ok(call.function.name in schemaOf, call.function.name);
      assert.ok(valid(JSON.parse(call.function.arguments), schemaOf[call.function.name]), 'arguments validate: ' + call.function.arguments);
      // streamed: the same call, then finish_reason tool_calls
      const s = await client.chat.completions.create({ ...body, stream: true });
      let sc = null, fin = null;
      for await (const chunk of s)
        for (const c of chunk.choices) {
          if (c.delta?.tool_calls) sc = c.delta.tool_calls[0];
          if (c.finish_reason) fin = c.finish_reason;
        }
      assert.equal(fin, 'tool_calls');
      assert.equal(sc.function.name, call.function.name);
      assert.equal(sc.function.arguments, call.function.arguments);
    }
  }
  // the definitions are in the prompt unless tool_choice is none
  const without = await client.chat.completions.create({ model, messages: ask, max_tokens: 1, temperature: 0 });
  const none = await client.chat.completions.create({ model, messages: ask, tools, tool_choice: 'none', max_tokens: 1, temperature: 0 });
  const auto = await client.chat.completions.create({ model, messages: ask, tools, max_tokens: 1, temperature: 0 });
  assert.equal(none.usage.prompt_tokens, without.usage.prompt_tokens);
  assert.ok(auto.usage.prompt_tokens > without.usage.prompt_tokens + 50, 'auto: the tools are in the prompt');
  // a call and its result fed back (role tool -> ipython)
  const back = [...ask, { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"C"}' } }] },
                { role: 'tool', tool_call_id: 'call_1', content: '21 degrees and sunny' }];
  const after = await client.chat.completions.create({ model, messages: back, tools, tool_choice: 'none', max_tokens: 3, temperature: 0 });
  assert.ok(after.usage.prompt_tokens > none.usage.prompt_tokens + 15, 'the call and the result are in the prompt');
  await assert.rejects(client.chat.completions.create({ model, messages: ask, tools, tool_choice: { type: 'function', function: { name: 'nope' } } }),
                       (e) => e.status === 400 && /nope/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model, messages: ask, tool_choice: 'required' }), (e) => e.status === 400 && /tool_choice/.test(e.message));
}
// ---- several tool calls in one turn (Llama 3.1 separates them with ';') ----
{
  const add = { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] };
  const weather = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
  const tools = [{ type: 'function', function: { name: 'add', parameters: add } },
                 { type: 'function', function: { name: 'get_weather', parameters: weather } }];
  const schemaOf = { add, get_weather: weather };
  const ask = [{ role: 'user', content: 'Add 2 and 3, then 4 and 5.' }];
  let most = 0;
  for (let seed = 0; seed < 4; seed++) {
    const body = { model, messages: ask, tools, tool_choice: 'required', max_tokens: 150, temperature: 1, seed };
    const r = await client.chat.completions.create(body);
    const calls = r.choices[0].message.tool_calls;
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    assert.ok(calls.length >= 1 && calls.length <= 8, `${calls.length} calls`);
    for (const c of calls) assert.ok(valid(JSON.parse(c.function.arguments), schemaOf[c.function.name]), 'each call validates: ' + c.function.arguments);
    assert.equal(new Set(calls.map((c) => c.id)).size, calls.length, 'distinct call ids');
    most = Math.max(most, calls.length);
    // streamed: the same calls in one delta, indexed 0..k-1
    let got = null;
    for await (const chunk of await client.chat.completions.create({ ...body, stream: true }))
      for (const c of chunk.choices) if (c.delta?.tool_calls) got = c.delta.tool_calls;
    assert.deepEqual(got.map((c) => c.index), calls.map((_, i) => i));
    assert.deepEqual(got.map((c) => c.function), calls.map((c) => c.function), 'streamed calls');
    // parallel_tool_calls: false -> one call
    const one = await client.chat.completions.create({ ...body, parallel_tool_calls: false });
    assert.equal(one.choices[0].message.tool_calls.length, 1, 'parallel_tool_calls: false gives one call');
  }
  assert.ok(most >= 2, 'some replies make several calls');
  // several calls and their results fed back
  const call = (id, a) => ({ id, type: 'function', function: { name: 'add', arguments: JSON.stringify({ a, b: 1 }) } });
  const back1 = [...ask, { role: 'assistant', content: null, tool_calls: [call('c1', 2)] }, { role: 'tool', tool_call_id: 'c1', content: '3' }];
  const back2 = [...ask, { role: 'assistant', content: null, tool_calls: [call('c1', 2), call('c2', 4)] },
                 { role: 'tool', tool_call_id: 'c1', content: '3' }, { role: 'tool', tool_call_id: 'c2', content: '5' }];
  const r1 = await client.chat.completions.create({ model, messages: back1, tools, tool_choice: 'none', max_tokens: 2, temperature: 0 });
  const r2 = await client.chat.completions.create({ model, messages: back2, tools, tool_choice: 'none', max_tokens: 2, temperature: 0 });
  assert.ok(r2.usage.prompt_tokens > r1.usage.prompt_tokens + 15, 'both calls and both results are in the prompt');
}
// ---- /v1/embeddings: unit-length mean of the final hidden states ----
{
  const text = 'The quick brown fox jumps over the lazy dog';
  const e = await client.embeddings.create({ model, input: text });  // the client asks for base64
  const v = e.data[0].embedding;
  assert.ok(v.length >= 8, 'a vector of the model dimension');
  assert.ok(Math.abs(v.reduce((a, x) => a + x * x, 0) - 1) < 1e-5, 'unit length');
  const raw = await (await fetch(base + '/v1/embeddings', { method: 'POST', body: JSON.stringify({ input: text, encoding_format: 'float' }) })).json();
  assert.equal(raw.data[0].embedding.length, v.length);
  raw.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6, 'float and base64 agree'));
  assert.equal(raw.usage.prompt_tokens, (await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: text, add_special: true }) })).json()).tokens.length);
  const ids = (await (await fetch(base + '/tokenize', { method: 'POST', body: JSON.stringify({ content: text, add_special: true }) })).json()).tokens;
  const two = await client.embeddings.create({ model, input: [text, 'Something else entirely'] });
  assert.deepEqual(two.data.map((d) => d.index), [0, 1]);
  two.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6, 'the same text, the same vector'));
  const dot = two.data[0].embedding.reduce((a, x, i) => a + x * two.data[1].embedding[i], 0);
  assert.ok(dot < 0.9999, 'other text, another vector');
  const byIds = await client.embeddings.create({ model, input: ids });
  byIds.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - v[i]) < 1e-6, 'token ids = the string'));
  await assert.rejects(client.embeddings.create({ model, input: text, dimensions: 4 }), (er) => er.status === 400 && /dimensions/.test(er.message));
}
console.log('openai client, features: ok');
