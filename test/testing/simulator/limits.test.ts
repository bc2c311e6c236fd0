import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprint } from '../../../src/fingerprint.js';
import { akId, startKimiSimulator, type KimiSimulator, type KimiSimulatorOptions } from '../../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A hand-driven clock for the limit windows (latency still uses real timers). */
let clock = 0;
const now = (): number => clock;

async function start(options: Partial<KimiSimulatorOptions> & Pick<KimiSimulatorOptions, 'accounts'>): Promise<KimiSimulator> {
  clock = 0;
  sim = await startKimiSimulator({ windowMs: 1000, now, ...options });
  return sim;
}

// 'hi' -> 3 + ceil(2 / 4) = 4 prompt tokens.
const hi = [{ role: 'user', content: 'hi' }];

async function chat(s: KimiSimulator, key: string, extra: Record<string, unknown> = {}) {
  const res = await fetch(`${s.url}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'kimi-k2.5', messages: hi, max_tokens: 16, ...extra }),
  });
  const json = (await res.json()) as any;
  return { status: res.status, json, headers: res.headers };
}

const limitError = (message: string) => ({ error: { type: 'rate_limit_reached_error', message } });
const quotaError = (message: string) => ({ error: { type: 'exceeded_current_quota_error', message } });

describe('RPM', () => {
  it('is shared by the keys of one account, separate across accounts, with S from the oldest arrival', async () => {
    const s = await start({
      windowMs: 5000,
      accounts: [
        { id: 'org-a', keys: ['sk-a1', 'sk-a2'], limits: { rpm: 2 } },
        { id: 'org-b', keys: ['sk-b'], limits: { rpm: 2 } },
      ],
    });
    expect((await chat(s, 'sk-a1')).status).toBe(200);
    clock = 1000;
    expect((await chat(s, 'sk-a2')).status).toBe(200);
    clock = 1200;
    const refused = await chat(s, 'sk-a2');
    expect(refused.status).toBe(429);
    // Oldest arrival at 0 leaves at 5000: ceil(3800 / 1000) = 4 seconds.
    expect(refused.json).toEqual(limitError(
      `Your account org-a<${akId('sk-a2')}> request reached organization max RPM: 2, please try again after 4 seconds`,
    ));
    expect(refused.json.error.message).not.toContain('sk-a2');
    // The other account has its own budget.
    expect((await chat(s, 'sk-b')).status).toBe(200);
    expect((await chat(s, 'sk-b')).status).toBe(200);
    expect((await chat(s, 'sk-b')).status).toBe(429);
    clock = 4999.5; // 0.5 ms left: S is at least 1
    expect((await chat(s, 'sk-a1')).json.error.message).toMatch(/max RPM: 2, please try again after 1 seconds$/);
    clock = 5000; // the arrival at 0 left the window
    expect((await chat(s, 'sk-a1')).status).toBe(200);
  });

  it('is a sliding window, not fixed buckets', async () => {
    const s = await start({ accounts: [{ id: 'org-a', keys: ['sk-a'], limits: { rpm: 2 } }] });
    clock = 0;
    expect((await chat(s, 'sk-a')).status).toBe(200);
    clock = 900;
    expect((await chat(s, 'sk-a')).status).toBe(200);
    clock = 1000; // arrival at 0 left
    expect((await chat(s, 'sk-a')).status).toBe(200);
    clock = 1100; // a fixed bucket [1000, 2000) would allow this; the window (100, 1100] holds 900 and 1000
    expect((await chat(s, 'sk-a')).status).toBe(429);
    clock = 1900;
    expect((await chat(s, 'sk-a')).status).toBe(200);
    const log = s.stats().log;
    expect(log).toBeUndefined(); // recordArrivals is off
  });

  it('frees after windowMs in real time', async () => {
    sim = await startKimiSimulator({ windowMs: 300, accounts: [{ id: 'org-a', keys: ['sk-a'], limits: { rpm: 1 } }] });
    expect((await chat(sim, 'sk-a')).status).toBe(200);
    // Measured after the answer, so at least windowMs passes since the arrival.
    const answered = performance.now();
    expect((await chat(sim, 'sk-a')).status).toBe(429);
    await new Promise((r) => setTimeout(r, 310 - (performance.now() - answered)));
    expect((await chat(sim, 'sk-a')).status).toBe(200);
  });
});

describe('concurrency', () => {
  it('counts requests in flight per account until their response ends', async () => {
    sim = await startKimiSimulator({
      latencyMs: 250,
      accounts: [
        { id: 'org-a', keys: ['sk-a1', 'sk-a2'], tier: 'tier1', limits: { concurrency: 1 } },
        { id: 'org-b', keys: ['sk-b'], tier: 'tier1', limits: { concurrency: 1 } },
      ],
    });
    const s = sim;
    const first = chat(s, 'sk-a1', { stream: false });
    while (s.stats().accounts['org-a']?.inFlight !== 1) await new Promise((r) => setTimeout(r, 5));
    const [second, other] = await Promise.all([chat(s, 'sk-a2'), chat(s, 'sk-b')]);
    expect(second.status).toBe(429);
    expect(second.json).toEqual(limitError(
      `Your account org-a<${akId('sk-a2')}> request reached organization max concurrency: 1, please try again after 1 seconds`,
    ));
    expect(second.headers.get('retry-after')).toBeNull();
    expect(other.status).toBe(200);
    expect((await first).status).toBe(200);
    expect((await chat(s, 'sk-a2')).status).toBe(200);
    const a = s.stats().accounts['org-a']!;
    expect(a).toMatchObject({ inFlight: 0, maxInFlight: 1, served: 2 });
    expect(a.refused.concurrency).toBe(1);

    // A stream holds its slot until [DONE].
    const client = new OpenAI({ apiKey: 'sk-a1', baseURL: s.url, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'kimi-k2.5', messages: [{ role: 'user', content: 'x' }], stream: true });
    const blocked = await chat(s, 'sk-a2');
    expect(blocked.status).toBe(429);
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('echo: x');
    // The server sees the end of the response a moment after the client read [DONE].
    for (let i = 0; i < 100 && s.stats().accounts['org-a']?.inFlight !== 0; i += 1) await new Promise((r) => setTimeout(r, 5));
    expect(s.stats().accounts['org-a']?.inFlight).toBe(0);
  });
});

describe('TPM and TPD', () => {
  it('reserves prompt + max tokens and reports current:C (window + this request)', async () => {
    const s = await start({
      accounts: [{ id: 'org-a', keys: ['sk-a1', 'sk-a2'], tier: 'tier1', limits: { tpm: 100 } }],
      recordArrivals: true,
    });
    expect((await chat(s, 'sk-a1', { max_tokens: 40 })).status).toBe(200); // 44
    expect((await chat(s, 'sk-a2', { max_completion_tokens: 40, max_tokens: 1 })).status).toBe(200); // 88
    const refused = await chat(s, 'sk-a2', { max_tokens: 40 });
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual(limitError(
      `Your account org-a<${akId('sk-a2')}> request reached organization TPM rate limit, current:132, limit:100`,
    ));
    // The refused 44 did not count: 88 + 12 = 100 fits exactly.
    expect((await chat(s, 'sk-a1', { max_tokens: 8 })).status).toBe(200);
    clock = 1000;
    expect((await chat(s, 'sk-a1', { max_tokens: 96 })).status).toBe(200);
    const stats = s.stats();
    expect(stats.accounts['org-a']).toMatchObject({ reservedTokens: 200, served: 4, firstArrivalMs: 0, lastArrivalMs: 1000 });
    expect(stats.accounts['org-a']?.refused.tpm).toBe(1);
    expect(stats.log?.map((e) => [e.t, e.kind, e.status, e.tokens, e.counted])).toEqual([
      [0, 'served', 200, 44, true],
      [0, 'served', 200, 44, true],
      [0, 'tpm', 429, 44, false],
      [0, 'served', 200, 12, true],
      [1000, 'served', 200, 100, true],
    ]);
    expect(stats.log?.[0]?.key).toBe(fingerprint('sk-a1'));
    expect(JSON.stringify(stats)).not.toMatch(/sk-a[12]"/);
  });

  it('reserves defaultMaxTokens when the request sets no max', async () => {
    const s = await start({ accounts: [{ id: 'org-a', keys: ['sk-a'], limits: { tpm: 30_000 } }] });
    const r = await chat(s, 'sk-a', { max_tokens: undefined });
    expect(r.json.error.message).toMatch(/TPM rate limit, current:32772, limit:30000$/);
    await sim!.close();
    const s2 = await start({ defaultMaxTokens: 100, accounts: [{ id: 'org-a', keys: ['sk-a'], limits: { tpm: 30_000 } }] });
    expect((await chat(s2, 'sk-a', { max_tokens: undefined })).status).toBe(200);
  });

  it('enforces TPD over 1,440 windows', async () => {
    const s = await start({ accounts: [{ id: 'org-a', keys: ['sk-a'], tier: 'tier1', limits: { tpd: 100 } }] });
    expect((await chat(s, 'sk-a', { max_tokens: 40 })).status).toBe(200);
    clock = 2000;
    expect((await chat(s, 'sk-a', { max_tokens: 40 })).status).toBe(200);
    clock = 4000;
    const refused = await chat(s, 'sk-a', { max_tokens: 40 });
    expect(refused.json).toEqual(limitError(
      `Your account org-a<${akId('sk-a')}> request reached organization TPD rate limit, current:132, limit:100`,
    ));
    clock = 1_440_000; // the first arrival is a day old
    expect((await chat(s, 'sk-a', { max_tokens: 40 })).status).toBe(200);
    expect(s.stats().accounts['org-a']?.refused.tpd).toBe(1);
  });
});

describe('quota and order of checks', () => {
  it('refuses suspended and zero-balance accounts with exceeded_current_quota_error', async () => {
    const s = await start({
      accounts: [
        { id: 'org-a', keys: ['sk-a'], suspended: true, limits: { rpm: 1 } },
        { id: 'org-b', keys: ['sk-b'], balance: 0 },
      ],
    });
    expect((await chat(s, 'sk-a')).json).toEqual(quotaError(
      `Your account org-a<${akId('sk-a')}> is suspended, please check your plan and billing details`,
    ));
    const b = await chat(s, 'sk-b');
    expect(b.status).toBe(429);
    expect(b.json).toEqual(quotaError(
      `Your account org-b<${akId('sk-b')}> is suspended due to insufficient balance, please recharge your account or check your plan and billing details`,
    ));
    s.setAccount('org-a', { suspended: false });
    s.setAccount('org-b', { balance: 5 });
    expect((await chat(s, 'sk-a')).status).toBe(200);
    expect((await chat(s, 'sk-b')).status).toBe(200);
    // Quota is checked before the limits: rpm 1 is used up, suspension still wins.
    s.setAccount('org-a', { suspended: true });
    expect((await chat(s, 'sk-a')).json.error.type).toBe('exceeded_current_quota_error');
    s.setAccount('org-a', { suspended: false });
    expect((await chat(s, 'sk-a')).json.error.message).toMatch(/max RPM: 1/);
    s.setAccount('org-a', { limits: { rpm: 5 } });
    expect((await chat(s, 'sk-a')).status).toBe(200);
    const stats = s.stats();
    expect(stats.totals).toMatchObject({ served: 3, quota: 3, rateLimited: 1 });
  });

  it('applies tier changes at run time', async () => {
    const s = await start({ accounts: [{ id: 'org-a', keys: ['sk-a'] }] });
    for (let i = 0; i < 3; i += 1) expect((await chat(s, 'sk-a')).status).toBe(200);
    const limited = await chat(s, 'sk-a');
    expect(limited.json.error.message).toMatch(/max RPM: 3,/);
    expect(limited.headers.get('msh-gid')).toBe('enterprise-tier0');
    s.setAccount('org-a', { tier: 'tier2' });
    const ok = await chat(s, 'sk-a');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('msh-gid')).toBe('enterprise-tier2');
  });
});
