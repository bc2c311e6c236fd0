import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expectedReply,
  simulatedPromptTokens,
  startKimiSimulator,
  type KimiSimulator,
  type KimiSimulatorOptions,
} from '../../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(options: Partial<KimiSimulatorOptions> = {}): Promise<KimiSimulator> {
  sim = await startKimiSimulator({
    accounts: [
      { id: 'org-a', keys: ['sk-a1', 'sk-a2'], tier: 'tier1' },
      { id: 'org-b', keys: ['sk-b'], limits: { rpm: 1 } },
    ],
    windowMs: 1000,
    ...options,
  });
  return sim;
}

async function call(s: KimiSimulator, key: string | undefined, path: string, body?: unknown) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${s.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

const messages = [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: 'caller 7: héllo 你好' },
];

describe('chat completions', () => {
  it('answers JSON with the deterministic reply and usage (fetch and SDK)', async () => {
    const s = await start();
    const r = await call(s, 'sk-a1', '/chat/completions', { model: 'kimi-k2.5', messages, max_tokens: 64 });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const reply = expectedReply(messages);
    expect(reply).toBe('echo: caller 7: héllo 你好');
    const completion = Math.ceil(Buffer.byteLength(reply) / 4);
    expect(r.json).toMatchObject({
      object: 'chat.completion',
      model: 'kimi-k2.5',
      choices: [{ index: 0, message: { role: 'assistant', content: reply }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: simulatedPromptTokens(messages),
        completion_tokens: completion,
        total_tokens: simulatedPromptTokens(messages) + completion,
        cached_tokens: 0,
      },
    });
    expect(r.json.id).toMatch(/^chatcmpl-/);
    expect(typeof r.json.created).toBe('number');

    const client = new OpenAI({ apiKey: 'sk-a2', baseURL: s.url, maxRetries: 0 });
    const viaSdk = await client.chat.completions.create({ model: 'kimi-latest', messages });
    expect(viaSdk.choices[0]?.message.content).toBe(reply);
    expect(viaSdk.usage?.prompt_tokens).toBe(simulatedPromptTokens(messages));
  });

  it('streams chunks with usage in the last content chunk and in the include_usage chunk', async () => {
    const s = await start({ latencyMs: 80 });
    const client = new OpenAI({ apiKey: 'sk-a1', baseURL: s.url, maxRetries: 0 });
    const started = performance.now();
    const stream = await client.chat.completions.create({
      model: 'kimi-k2.6', messages, stream: true, stream_options: { include_usage: true }, max_completion_tokens: 100,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(performance.now() - started).toBeGreaterThanOrEqual(70);
    const contentChunks = chunks.filter((c) => c.choices.length > 0);
    expect(contentChunks).toHaveLength(4);
    expect(contentChunks.map((c) => c.choices[0]?.delta.content).join('')).toBe(expectedReply(messages));
    expect(contentChunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const lastContent = contentChunks.at(-1)!;
    expect(lastContent.choices[0]?.finish_reason).toBe('stop');
    const kimiUsage = (lastContent.choices[0] as unknown as { usage: OpenAI.CompletionUsage }).usage;
    expect(kimiUsage.prompt_tokens).toBe(simulatedPromptTokens(messages));
    const final = chunks.at(-1)!;
    expect(final.choices).toEqual([]);
    expect(final.usage).toEqual(kimiUsage);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it('sends raw SSE ending in [DONE] and no usage-only chunk without include_usage', async () => {
    const s = await start();
    const r = await call(s, 'sk-a1', '/chat/completions', { model: 'kimi-k2.5', messages, stream: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const lines = r.text.split('\n\n').filter(Boolean);
    expect(lines.at(-1)).toBe('data: [DONE]');
    const data = lines.slice(0, -1).map((l) => JSON.parse(l.replace(/^data: /, '')));
    expect(data).toHaveLength(4);
    expect(data.every((d) => d.object === 'chat.completion.chunk' && d.choices.length === 1)).toBe(true);
    expect(data[3].choices[0].usage.total_tokens).toBeGreaterThan(0);
  });

  it('rejects bad bodies with 400 and unknown models with 404, without using the budget', async () => {
    const s = await start();
    const cases: [unknown, number, string, RegExp][] = [
      [{ model: 'kimi-k2.5' }, 400, 'invalid_request_error', /`messages`/],
      [{ model: 'kimi-k2.5', messages: [] }, 400, 'invalid_request_error', /`messages`/],
      [{ messages }, 400, 'invalid_request_error', /`model`/],
      ['{not json', 400, 'invalid_request_error', /not valid JSON/],
      [{ model: 'kimi-k2.5', messages, max_tokens: 0 }, 400, 'invalid_request_error', /`max_tokens`/],
      [{ model: 'gpt-4o', messages }, 404, 'resource_not_found_error', /^Not found the model gpt-4o or Permission denied$/],
    ];
    for (const [body, status, type, message] of cases) {
      const r = await call(s, 'sk-b', '/chat/completions', body);
      expect(r.status).toBe(status);
      expect(Object.keys(r.json)).toEqual(['error']);
      expect(r.json.error.type).toBe(type);
      expect(r.json.error.message).toMatch(message);
    }
    // org-b has rpm 1: none of the bad requests counted.
    expect((await call(s, 'sk-b', '/chat/completions', { model: 'kimi-k2.5', messages })).status).toBe(200);
    expect(s.stats().accounts['org-b']?.refused.invalid).toBe(cases.length);
  });
});

describe('auth and headers', () => {
  it('answers 401 for missing, unknown and revoked keys', async () => {
    const s = await start();
    const body401 = { error: { type: 'invalid_authentication_error', message: 'Invalid Authentication' } };
    for (const key of [undefined, 'sk-nobody']) {
      const r = await call(s, key, '/chat/completions', { model: 'kimi-k2.5', messages });
      expect(r.status).toBe(401);
      expect(r.json).toEqual(body401);
      expect(r.headers.get('msh-org-id')).toBeNull();
      expect(r.headers.get('msh-request-id')).toBeTruthy();
    }
    expect((await call(s, 'sk-a1', '/models')).status).toBe(200);
    s.revokeKey('sk-a1');
    const revoked = await call(s, 'sk-a1', '/chat/completions', { model: 'kimi-k2.5', messages });
    expect(revoked.status).toBe(401);
    expect(revoked.json).toEqual(body401);
    expect(revoked.headers.get('msh-org-id')).toBe('org-a');
    expect((await call(s, 'sk-a1', '/models')).status).toBe(401);
    // The other key of the account still works.
    expect((await call(s, 'sk-a2', '/chat/completions', { model: 'kimi-k2.5', messages })).status).toBe(200);

    const client = new OpenAI({ apiKey: 'sk-a1', baseURL: s.url, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'kimi-k2.5', messages })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const stats = s.stats();
    expect(stats.accounts['org-a']?.refused.auth).toBe(3);
    expect(stats.totals.auth).toBe(5);
  });

  it('sets Msh-* headers on successes and errors', async () => {
    const s = await start();
    const ok = await call(s, 'sk-a1', '/chat/completions', { model: 'kimi-k2.5', messages });
    const okB = await call(s, 'sk-b', '/chat/completions', { model: 'kimi-k2.5', messages });
    const limited = await call(s, 'sk-b', '/chat/completions', { model: 'kimi-k2.5', messages });
    expect(limited.status).toBe(429);
    for (const r of [ok, okB, limited]) {
      for (const h of ['msh-org-id', 'msh-gid', 'msh-request-id', 'msh-project-id', 'msh-uid']) {
        expect(r.headers.get(h), h).toBeTruthy();
      }
      expect(r.headers.get('retry-after')).toBeNull();
    }
    expect(ok.headers.get('msh-org-id')).toBe('org-a');
    expect(ok.headers.get('msh-gid')).toBe('enterprise-tier1');
    expect(okB.headers.get('msh-gid')).toBe('enterprise-custom');
    expect(new Set([ok, okB, limited].map((r) => r.headers.get('msh-request-id'))).size).toBe(3);
    expect(okB.headers.get('msh-project-id')).toBe(limited.headers.get('msh-project-id'));
    expect(ok.headers.get('msh-project-id')).not.toBe(okB.headers.get('msh-project-id'));
  });
});

describe('other endpoints', () => {
  it('lists models, estimates tokens and reports the balance without counting toward limits', async () => {
    const s = await start({ models: ['kimi-k2.5', 'moonshot-v1-8k'] });
    for (let i = 0; i < 3; i += 1) {
      const models = await call(s, 'sk-b', '/models');
      expect(models.json).toEqual({
        object: 'list',
        data: [
          { id: 'kimi-k2.5', object: 'model', created: expect.any(Number), owned_by: 'moonshot' },
          { id: 'moonshot-v1-8k', object: 'model', created: expect.any(Number), owned_by: 'moonshot' },
        ],
      });
      const estimate = await call(s, 'sk-b', '/tokenizers/estimate-token-count', { model: 'kimi-k2.5', messages });
      expect(estimate.json).toEqual({ code: 0, data: { total_tokens: simulatedPromptTokens(messages) }, scode: '0x0', status: true });
      const balance = await call(s, 'sk-b', '/users/me/balance');
      expect(balance.json).toEqual({
        code: 0, data: { available_balance: 100, voucher_balance: 0, cash_balance: 100 }, scode: '0x0', status: true,
      });
    }
    s.setAccount('org-b', { balance: 12.5 });
    expect((await call(s, 'sk-b', '/users/me/balance')).json.data.available_balance).toBe(12.5);
    expect((await call(s, 'sk-b', '/tokenizers/estimate-token-count', { model: 'nope', messages })).status).toBe(404);
    expect((await call(s, 'sk-b', '/nowhere')).status).toBe(404);
    // rpm is 1 and nine calls were made: the chat call is still the first that counts.
    const chat = await call(s, 'sk-b', '/chat/completions', { model: 'kimi-k2.5', messages });
    expect(chat.status).toBe(200);
    expect(chat.json.usage.prompt_tokens).toBe(simulatedPromptTokens(messages));

    const client = new OpenAI({ apiKey: 'sk-a1', baseURL: s.url, maxRetries: 0 });
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids).toEqual(['kimi-k2.5', 'moonshot-v1-8k']);
  });

  it('answers /users/me in Kimi\'s shape, with the limits in force after a tier change', async () => {
    const s = await start();
    const me = await call(s, 'sk-b', '/users/me');
    expect(me.status).toBe(200);
    // tier0 with rpm 1.
    expect(me.json).toEqual({
      code: 0,
      data: { id: expect.any(String), organization: { id: 'org-b', max_concurrency: 1, max_request_per_minute: 1, max_token_per_minute: 500_000, max_token_quota: 1_500_000 } },
      scode: '0x0',
      status: true,
    });
    s.setAccount('org-b', { tier: 'tier3', limits: { rpm: 777 } });
    const after = (await call(s, 'sk-b', '/users/me')).json.data.organization;
    // JSON has no Infinity: an unlimited TPD is left out.
    expect(after).toEqual({ id: 'org-b', max_concurrency: 200, max_request_per_minute: 777, max_token_per_minute: 3_000_000 });
    expect((await call(s, 'sk-unknown-key-000', '/users/me')).status).toBe(401);
  });

  it('serves the default model list', async () => {
    const s = await start();
    const ids = (await call(s, 'sk-a1', '/models')).json.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual([
      'kimi-k2.5', 'kimi-k2.6', 'kimi-k2-turbo-preview', 'kimi-k2-thinking',
      'moonshot-v1-8k', 'moonshot-v1-32k', 'moonshot-v1-128k', 'kimi-latest',
    ]);
  });
});

describe('close', () => {
  it('resolves promptly while a slow stream is open', async () => {
    const s = await start({ latencyMs: 10_000 });
    const pending = call(s, 'sk-a1', '/chat/completions', { model: 'kimi-k2.5', messages, stream: true }).catch((e: unknown) => e);
    while (s.stats().accounts['org-a']?.inFlight !== 1) await new Promise((r) => setTimeout(r, 5));
    const started = performance.now();
    await s.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await pending).toBeInstanceOf(Error);
    expect(s.stats().accounts['org-a']?.inFlight).toBe(0);
    await s.close(); // idempotent
    sim = undefined;
  });
});
