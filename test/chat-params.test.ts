/** What the pool reserves and refuses matches what Kimi counts and refuses (on the simulator, over HTTP). */
import type { ChatCompletionCreateParams } from 'openai/resources/chat/completions';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidRequestError, KimiPool, PooledStream, estimatePromptTokens } from '../src/index.js';
import { startKimiSimulator, type KimiSimulator } from '../src/testing/index.js';

let sim: KimiSimulator | undefined;
let pool: KimiPool | undefined;
afterEach(async () => {
  await pool?.close();
  await sim?.close();
  pool = undefined;
  sim = undefined;
});

const messages = [{ role: 'user' as const, content: 'Say hi' }];

async function rig(): Promise<{ pool: KimiPool; sim: KimiSimulator; queued: number[] }> {
  sim = await startKimiSimulator({ accounts: [{ id: 'org-a', keys: ['sk-params-0001'], tier: 'tier1' }], windowMs: 60_000 });
  pool = new KimiPool({ keys: ['sk-params-0001'], baseURL: sim.url, tier: 'tier1' });
  const queued: number[] = [];
  pool.on('queued', (e) => queued.push(e.tokens));
  return { pool, sim, queued };
}

describe('chat params', () => {
  it('reserves prompt + n x max_tokens, as the server counts them', async () => {
    const r = await rig();
    const reply = await r.pool.chat.completions.create({ model: 'moonshot-v1-8k', messages, max_tokens: 100, n: 3 });
    expect(reply.choices).toHaveLength(3);
    expect(r.queued).toEqual([estimatePromptTokens({ messages }) + 300]);
    // The pool's prompt estimate is high, never low: it reserved at least what the server did.
    const server = r.sim.stats().accounts['org-a']?.reservedTokens ?? Infinity;
    expect(r.pool.stats().accounts[0]?.reservedTokens).toBeGreaterThanOrEqual(server);
    expect(server).toBeGreaterThan(300);
  });

  it('reserves n x the default budget when max_tokens is not set', async () => {
    const r = await rig();
    await r.pool.chat.completions.create({ model: 'moonshot-v1-8k', messages, n: 2 });
    expect(r.queued).toEqual([estimatePromptTokens({ messages }) + 2 * 32_768]);
  });

  it.each([
    [{ max_tokens: 0 }, 'Expected `max_tokens` to be an integer >= 1, got `0`'],
    [{ max_completion_tokens: 0 }, 'Expected `max_completion_tokens` to be an integer >= 1, got `0`'],
    [{ max_tokens: 10, n: 0 }, 'Expected `n` to be an integer >= 1, got `0`'],
    [{ max_tokens: 10, n: 1.5 }, 'Expected `n` to be an integer >= 1, got `1.5`'],
  ])('refuses %o before sending it', async (params, message) => {
    const r = await rig();
    const error = await r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, ...params }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toBe(message);
    expect(r.sim.stats().totals.served).toBe(0);
  });

  it("passes temperature on to Kimi, whose 400 fails the request at once", async () => {
    const r = await rig();
    const error = await r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 8, temperature: 0.2 }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/invalid temperature: only 1 is allowed for this model/);
    expect(r.pool.stats()).toMatchObject({ failed: 1, retries: 0 });
  });
});

describe('responses as the openai SDK shapes them', () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  it("carry Kimi's request id (Msh-Request-Id) as _request_id, on replies and streams", async () => {
    const r = await rig();
    const reply = await r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 8 });
    expect(reply._request_id).toMatch(UUID);
    // Not an own enumerable field: JSON of the reply is the API's body, as with the SDK.
    expect(Object.keys(reply)).not.toContain('_request_id');
    expect(JSON.parse(JSON.stringify(reply)).choices[0].message.content).toBe('echo: Say hi');
    const stream = await r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 8, stream: true });
    expect(stream._request_id).toMatch(UUID);
    expect(stream._request_id).not.toBe(reply._request_id);
    for await (const _ of stream) void _;
  });

  it('take `stream` as a boolean known only at run time, as openai does', async () => {
    const r = await rig();
    const ask = (flag: boolean) => r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 8, stream: flag });
    const plain = await ask(false);
    expect('choices' in plain && plain.choices[0]?.message.content).toBe('echo: Say hi');
    const streamed = await ask(true);
    let text = '';
    if (!(streamed instanceof PooledStream)) throw new Error('expected a stream');
    for await (const chunk of streamed) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toBe('echo: Say hi');
  });

  it("take openai's ChatCompletionCreateParams union as it is", async () => {
    const r = await rig();
    const params: ChatCompletionCreateParams = { model: 'kimi-k2.5', messages, max_tokens: 8 };
    const reply = await r.pool.chat.completions.create(params);
    expect(reply instanceof PooledStream ? 'stream' : reply.choices[0]?.message.content).toBe('echo: Say hi');
  });
});

describe('request options', () => {
  it.each([
    [{ priorty: 1 }, 'Unknown request option `priorty`: did you mean `priority`?'],
    [{ maxRetries: 2 }, "Unknown request option `maxRetries`: it is the openai SDK's: the pool retries itself (its `retries` option)"],
    [{ headers: { 'x-a': '1' } }, "Unknown request option `headers`: set headers for every request in the pool's `clientOptions.defaultHeaders`"],
    [{ tokens: 10 }, 'Unknown request option `tokens`: the request options are priority, signal, timeout'],
  ])('create() refuses %o', async (options, message) => {
    const r = await rig();
    const error = await r.pool.chat.completions.create({ model: 'kimi-k2.5', messages, max_tokens: 8 }, options as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as Error).message).toBe(message);
    expect(r.sim.stats().totals.served).toBe(0);
  });

  it('schedule() takes tokens and refuses what it does not know', async () => {
    const r = await rig();
    await expect(r.pool.schedule(() => 'ran', { tokens: 5, priority: 1 })).resolves.toBe('ran');
    await expect(r.pool.schedule(() => 'ran', { token: 5 } as never)).rejects.toThrow('Unknown request option `token`: did you mean `tokens`?');
  });
});
