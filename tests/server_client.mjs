// The official `openai` npm client against `llama3 serve`: chat and completions, streamed and
// not; greedy streamed text equals the non-streamed text; usage adds up.
// usage: node server_client.mjs BASE_URL NODE_PREFIX (where `npm install --prefix` put openai)
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const [base, prefix] = process.argv.slice(2);
const require = createRequire(prefix.replace(/\/?$/, '/') + 'node_modules/');
const OpenAI = require('openai');
const client = new (OpenAI.default ?? OpenAI)({ baseURL: base + '/v1', apiKey: 'none', timeout: 60000, maxRetries: 0 });

const models = await client.models.list();
const model = models.data[0].id;
assert.ok(model, 'a model id');

const messages = [
  { role: 'system', content: 'This is a test sentence.' },
  { role: 'user', content: 'This is a response.' },
];
const chat = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0 });
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(chat.choices[0].finish_reason, 'length');
assert.equal(chat.usage.prompt_tokens, 26);
assert.equal(chat.usage.completion_tokens, 6);
assert.equal(chat.usage.total_tokens, 32);

let streamed = '', finish = null, usage = null;
const stream = await client.chat.completions.create({
  model, messages, max_tokens: 6, temperature: 0, stream: true, stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    streamed += c.delta?.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(streamed, chat.choices[0].message.content);
assert.equal(finish, 'length');
assert.equal(usage?.completion_tokens, 6);

const comp = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0 });
assert.equal(comp.object, 'text_completion');
assert.equal(comp.usage.completion_tokens, 5);
let text = '';
const cstream = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 5, temperature: 0, stream: true });
for await (const chunk of cstream) text += chunk.choices[0]?.text ?? '';
assert.equal(text, comp.choices[0].text);

// A server error surfaces as the client's APIError with our status and message.
await assert.rejects(client.chat.completions.create({ model, messages: [], max_tokens: 2 }),
                     (e) => e.status === 400 && /messages/.test(e.message));
console.log('openai client: ok');
