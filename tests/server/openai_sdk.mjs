// The official OpenAI Node SDK (npm "openai", pinned in scripts/fetch-data.sh)
// against a running `lmlab serve`: what a client application calls.
//
//   node tests/server/openai_sdk.mjs http://127.0.0.1:PORT SDK_DIR N_EMBD
//
// Prints one JSON object {check: "ok" | "FAIL: ..."} and exits 0 only when
// every check passed. Driven by tests/server/openai_sdk_test.cc.
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [url, sdkDir, nEmbdText] = process.argv.slice(2);
const nEmbd = Number(nEmbdText);
const { default: OpenAI } = await import(pathToFileURL(path.join(sdkDir, "index.mjs")).href);
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "not-needed", maxRetries: 0, timeout: 120_000 });

const results = {};
async function check(name, fn) {
  try {
    await fn();
    results[name] = "ok";
  } catch (e) {
    results[name] = "FAIL: " + (e && e.stack ? e.stack : String(e));
  }
}

let model = "";
await check("models.list", async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.equal(ids.length, 1);
  model = ids[0];
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
});

const messages = [
  { role: "system", content: "Answer briefly." },
  { role: "user", content: "What is the capital of France?" },
];

let chatText = "";
await check("chat", async () => {
  const r = await client.chat.completions.create({
    model, messages, max_completion_tokens: 8, temperature: 0, seed: 1,
  });
  assert.equal(r.object, "chat.completion");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.completion_tokens, 8);  // the text-only model never ends a turn itself
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  chatText = r.choices[0].message.content;
});

await check("chat.stream", async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_completion_tokens: 8, temperature: 0, seed: 1,
    stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta && c.delta.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, chatText);  // greedy: the stream is the whole answer
  assert.equal(finish, "length");
  assert.ok(usage && usage.completion_tokens === 8, JSON.stringify(usage));
});

await check("chat.logprobs", async () => {
  const r = await client.chat.completions.create({
    model, messages, max_completion_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const lp = r.choices[0].logprobs;
  assert.ok(lp && Array.isArray(lp.content), JSON.stringify(r.choices[0]));
  assert.equal(lp.content.length, r.usage.completion_tokens);
  assert.equal(lp.content.map((t) => t.token).join(""), r.choices[0].message.content);
  for (const t of lp.content) {
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.logprob <= 0);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
    assert.ok(t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob);
    // Greedy: the chosen token is the most likely one.
    assert.equal(t.token, t.top_logprobs[0].token);
    assert.ok(Math.abs(t.logprob - t.top_logprobs[0].logprob) < 1e-6);
    assert.deepEqual(t.bytes, [...Buffer.from(t.token, "utf8")]);
  }
});

await check("chat.n_seed_stop", async () => {
  const req = { model, messages, max_completion_tokens: 12, temperature: 1, seed: 42, n: 2 };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));  // seeded
  assert.equal(a.usage.completion_tokens, 24);
  const s = await client.chat.completions.create({ model, messages, max_completion_tokens: 32, temperature: 0, stop: [" "] });
  assert.equal(s.choices[0].finish_reason, "stop");
  assert.ok(!s.choices[0].message.content.includes(" "), s.choices[0].message.content);
});

let completionText = "";
await check("completions", async () => {
  const r = await client.completions.create({
    model, prompt: "The capital of France is", max_tokens: 6, temperature: 0, logprobs: 2,
  });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices.length, 1);
  completionText = r.choices[0].text;
  assert.ok(completionText.length > 0);
  assert.equal(r.usage.completion_tokens, 6);
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 6);
  assert.equal(lp.tokens.join(""), completionText);
  assert.equal(lp.token_logprobs.length, 6);
  assert.equal(lp.top_logprobs.length, 6);
  assert.equal(Object.keys(lp.top_logprobs[0]).length, 2);
  assert.equal(lp.text_offset[0], 0);
});

await check("completions.stream", async () => {
  const stream = await client.completions.create({
    model, prompt: "The capital of France is", max_tokens: 6, temperature: 0, stream: true,
  });
  let text = "";
  for await (const chunk of stream) for (const c of chunk.choices) text += c.text;
  assert.equal(text, completionText);
});

await check("embeddings", async () => {
  // The SDK asks for base64 by default and decodes it; ask for floats too.
  const packed = await client.embeddings.create({ model, input: ["Paris", "Tokyo"] });
  const plain = await client.embeddings.create({ model, input: ["Paris", "Tokyo"], encoding_format: "float" });
  assert.equal(packed.object, "list");
  assert.equal(packed.data.length, 2);
  for (let i = 0; i < 2; i++) {
    const a = Array.from(packed.data[i].embedding), b = plain.data[i].embedding;
    assert.equal(a.length, nEmbd);
    assert.equal(b.length, nEmbd);
    for (let k = 0; k < nEmbd; k++) {
      assert.ok(Number.isFinite(a[k]));
      assert.ok(Math.abs(a[k] - b[k]) <= 1e-6 * Math.max(1, Math.abs(b[k])), `${a[k]} vs ${b[k]}`);
    }
  }
  assert.notDeepEqual(plain.data[0].embedding, plain.data[1].embedding);
  assert.ok(packed.usage.prompt_tokens >= 2);
});

await check("unknown field rejected", async () => {
  for (const [extra, field] of [
    [{ tools: [{ type: "function", function: { name: "f", parameters: {} } }] }, "tools"],
    [{ presence_penalty: 0.5 }, "presence_penalty"],
  ]) {
    try {
      await client.chat.completions.create({ model, messages, max_completion_tokens: 4, ...extra });
      assert.fail(`${field} was accepted`);
    } catch (e) {
      assert.ok(e instanceof OpenAI.BadRequestError, `${field}: ${e}`);
      assert.equal(e.status, 400);
      assert.ok(String(e.message).includes(`"${field}"`), e.message);
    }
  }
});

console.log(JSON.stringify(results));
process.exit(Object.values(results).every((v) => v === "ok") ? 0 : 1);
