import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startKimiSimulator, type KimiSimulator, type SimulatorFaults } from '../../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(faults: SimulatorFaults, extra: { seed?: number; rpm?: number } = {}): Promise<KimiSimulator> {
  sim = await startKimiSimulator({
    windowMs: 1000,
    seed: extra.seed ?? 1,
    faults,
    recordArrivals: true,
    accounts: [{ id: 'org-a', keys: ['sk-a'], tier: 'tier1', limits: { rpm: extra.rpm ?? 1000 } }],
  });
  return sim;
}

const body = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'ping' }], max_tokens: 8, ...extra });

function post(s: KimiSimulator, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${s.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-a', 'content-type': 'application/json' },
    body: body(extra),
  });
}

describe('faults at rate 1', () => {
  it.each([
    [{ overloadRate: 1 }, 429, 'engine_overloaded_error', 'The engine is currently overloaded, please try again later', 'overloaded'],
    [{ serverErrorRate: 1 }, 500, 'server_error', undefined, 'server'],
    [{ unavailableRate: 1 }, 503, 'server_error', undefined, 'unavailable'],
  ] as const)('%o answers %i %s', async (faults, status, type, message, kind) => {
    const s = await start(faults);
    for (const stream of [false, true]) {
      const res = await post(s, { stream });
      expect(res.status).toBe(status);
      expect(res.headers.get('retry-after')).toBeNull();
      expect(res.headers.get('msh-org-id')).toBe('org-a');
      const json = (await res.json()) as { error: { type: string; message: string } };
      expect(json.error.type).toBe(type);
      if (message) expect(json.error.message).toBe(message);
    }
    const stats = s.stats();
    expect(stats.accounts['org-a']?.faults[kind]).toBe(2);
    expect(stats.totals).toMatchObject({ faults: 2, served: 0 });
    expect(stats.log?.map((e) => [e.kind, e.status, e.counted])).toEqual([[kind, status, true], [kind, status, true]]);
  });

  it('sends retry-after on overload 429s only when configured', async () => {
    const s = await start({ overloadRate: 1, retryAfterHeader: 3 });
    const res = await post(s);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('3');
    const client = new OpenAI({ apiKey: 'sk-a', baseURL: s.url, maxRetries: 0 });
    const error = await client.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ type: 'engine_overloaded_error' });
  });

  it('drops the socket before any response', async () => {
    const s = await start({ dropRate: 1 });
    await expect(post(s)).rejects.toThrow();
    const client = new OpenAI({ apiKey: 'sk-a', baseURL: s.url, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'x' }] }))
      .rejects.toBeInstanceOf(OpenAI.APIConnectionError);
    expect(s.stats().accounts['org-a']?.faults.dropped).toBe(2);
    expect(s.stats().log?.[0]).toMatchObject({ kind: 'dropped', status: 0 });
  });

  it('sends malformed JSON with a 200', async () => {
    const s = await start({ malformedRate: 1 });
    const res = await post(s);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text.startsWith('{"id":"chatcmpl-')).toBe(true);
    expect(() => JSON.parse(text)).toThrow();
    const client = new OpenAI({ apiKey: 'sk-a', baseURL: s.url, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'x' }] })).rejects.toThrow();
    const stream = await post(s, { stream: true });
    const sse = await stream.text();
    expect(sse.startsWith('data: {')).toBe(true);
    expect(sse).not.toContain('[DONE]');
    expect(() => JSON.parse(sse.trim().slice('data: '.length))).toThrow();
    expect(s.stats().accounts['org-a']?.faults.malformed).toBe(3);
  });

  it('cuts streams after the first content chunk, and leaves JSON answers alone', async () => {
    const s = await start({ streamCutRate: 1 });
    expect((await post(s)).status).toBe(200);
    const client = new OpenAI({ apiKey: 'sk-a', baseURL: s.url, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'hello' }], stream: true });
    const seen: string[] = [];
    const error = await (async () => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    })().then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    // 'echo: hello' in 4 chunks of 3 code points: only the first arrived.
    expect(seen).toEqual(['ech']);
    const a = s.stats().accounts['org-a']!;
    expect(a.faults.streamCut).toBe(1);
    expect(a.served).toBe(1);
  });

  it('adds slowMs to the latency', async () => {
    const s = await start({ slowRate: 1, slowMs: 250 });
    const started = performance.now();
    expect((await post(s)).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
    s.setFaults({});
    const again = performance.now();
    expect((await post(s)).status).toBe(200);
    expect(performance.now() - again).toBeLessThan(200);
  });
});

describe('fault accounting', () => {
  it('counts faulted requests toward RPM', async () => {
    const s = await start({ overloadRate: 1 }, { rpm: 1 });
    expect((await post(s)).status).toBe(429);
    s.setFaults({});
    const res = await post(s);
    const json = (await res.json()) as { error: { type: string; message: string } };
    expect(json.error.type).toBe('rate_limit_reached_error');
    expect(json.error.message).toMatch(/max RPM: 1,/);
  });

  it('replays the same faults for the same seed', async () => {
    const statuses = async (seed: number): Promise<number[]> => {
      const s = await start({ overloadRate: 0.3, serverErrorRate: 0.2 }, { seed });
      const out: number[] = [];
      for (let i = 0; i < 20; i += 1) out.push((await post(s)).status);
      await s.close();
      return out;
    };
    const first = await statuses(7);
    expect(await statuses(7)).toEqual(first);
    expect(new Set(first)).toEqual(new Set([200, 429, 500]));
    expect(await statuses(8)).not.toEqual(first);
  });
});
