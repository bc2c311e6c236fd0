/**
 * The simulator counts the usage it reports, and with `promptCache` reports
 * the leading messages an account has sent before as cached tokens.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { expectedReply, simulatedCompletionTokens, simulatedPromptTokens, startKimiSimulator, type KimiSimulator } from '../../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const SYSTEM = { role: 'system' as const, content: 'You are a careful assistant that answers briefly.' };

describe('simulator usage', () => {
  it('counts the usage of served requests and reports cached prefixes with promptCache', async () => {
    sim = await startKimiSimulator({ accounts: [{ id: 'org-a', keys: ['sk-a'], tier: 'tier1' }, { id: 'org-b', keys: ['sk-b'], tier: 'tier1' }], promptCache: true });
    const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
    const b = new OpenAI({ apiKey: 'sk-b', baseURL: sim.url, maxRetries: 0 });
    const first = [SYSTEM, { role: 'user' as const, content: 'one' }];
    const second = [SYSTEM, { role: 'user' as const, content: 'two' }];
    const r1 = await a.chat.completions.create({ model: 'kimi-k2.5', messages: first, max_tokens: 20 });
    const r2 = await a.chat.completions.create({ model: 'kimi-k2.5', messages: second, max_tokens: 20 });
    // Another account has its own cache.
    const r3 = await b.chat.completions.create({ model: 'kimi-k2.5', messages: second, max_tokens: 20 });
    const cachedOf = (r: { usage?: unknown }) => (r.usage as { cached_tokens: number }).cached_tokens;
    expect(cachedOf(r1)).toBe(0);
    expect(cachedOf(r2)).toBe(simulatedPromptTokens([SYSTEM]));
    expect(cachedOf(r3)).toBe(0);

    const s = sim.stats().accounts['org-a'];
    expect(s?.promptTokens).toBe(simulatedPromptTokens(first) + simulatedPromptTokens(second));
    expect(s?.completionTokens).toBe(simulatedCompletionTokens(expectedReply(first)) + simulatedCompletionTokens(expectedReply(second)));
    expect(s?.cachedTokens).toBe(simulatedPromptTokens([SYSTEM]));
  });

  it('reports no cached tokens without promptCache', async () => {
    sim = await startKimiSimulator({ accounts: [{ id: 'org-a', keys: ['sk-a'], tier: 'tier1' }] });
    const a = new OpenAI({ apiKey: 'sk-a', baseURL: sim.url, maxRetries: 0 });
    for (const content of ['one', 'two']) await a.chat.completions.create({ model: 'kimi-k2.5', messages: [SYSTEM, { role: 'user', content }], max_tokens: 20 });
    expect(sim.stats().accounts['org-a']?.cachedTokens).toBe(0);
  });
});
