/** `n`, `temperature` and `max_tokens` as Kimi checks and counts them, through the real openai SDK. */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedPromptTokens, startKimiSimulator, type KimiSimulator } from '../../../src/testing/index.js';

let sim: KimiSimulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const messages = [{ role: 'user' as const, content: 'Say hi' }];

async function client(): Promise<OpenAI> {
  sim = await startKimiSimulator({ accounts: [{ id: 'org-a', keys: ['sk-sampling-0001'], tier: 'tier1' }], windowMs: 60_000 });
  return new OpenAI({ apiKey: 'sk-sampling-0001', baseURL: sim.url, maxRetries: 0 });
}

async function status(c: OpenAI, body: Record<string, unknown>): Promise<{ status: number; message: string }> {
  try {
    await c.chat.completions.create({ messages, max_tokens: 16, ...body } as never);
    return { status: 200, message: '' };
  } catch (error) {
    const e = error as { status: number; error: { message: string } };
    return { status: e.status, message: e.error.message };
  }
}

describe('the simulator checks sampling as Kimi does', () => {
  it('answers n choices and reserves the completion budget n times', async () => {
    const c = await client();
    const r = await c.chat.completions.create({ model: 'moonshot-v1-8k', messages, max_tokens: 100, n: 3, temperature: 0.3 });
    expect(r.choices.map((x) => [x.index, x.message.content])).toEqual([[0, 'echo: Say hi'], [1, 'echo: Say hi'], [2, 'echo: Say hi']]);
    expect(sim?.stats().accounts['org-a']?.reservedTokens).toBe(simulatedPromptTokens(messages) + 300);
  });

  it('streams n choices with the usage in the last chunk', async () => {
    const c = await client();
    const stream = await c.chat.completions.create({ model: 'moonshot-v1-8k', messages, max_tokens: 100, n: 2, stream: true });
    const text = ['', ''];
    for await (const chunk of stream) for (const ch of chunk.choices) text[ch.index] += ch.delta.content ?? '';
    expect(text).toEqual(['echo: Say hi', 'echo: Say hi']);
  });

  it.each([
    ['kimi-k2.5', { temperature: 0.7 }, 'invalid temperature: only 1 is allowed for this model'],
    ['kimi-k2.6', { temperature: 0 }, 'invalid temperature: only 1 is allowed for this model'],
    ['kimi-k2.5', { n: 2 }, 'invalid n: only 1 is allowed for this model'],
    ['moonshot-v1-8k', { n: 6 }, 'Invalid request: `n` must be at most 5'],
    ['moonshot-v1-8k', { n: 2, temperature: 0 }, 'Invalid request: `n` must be 1 when `temperature` is close to 0'],
    ['moonshot-v1-8k', { temperature: 1.5 }, 'Invalid request: `temperature` must be between 0 and 1'],
    ['moonshot-v1-8k', { n: 0 }, 'Invalid request: `n` must be an integer >= 1'],
    ['kimi-k2.5', { max_tokens: 0 }, 'Invalid request: `max_tokens` must be an integer >= 1'],
  ])('%s with %o: 400 "%s"', async (model, body, message) => {
    const c = await client();
    expect(await status(c, { model, ...body })).toEqual({ status: 400, message });
  });

  it.each([
    ['kimi-k2.5', { temperature: 1 }],
    ['kimi-k2.5', { n: 1 }],
    ['moonshot-v1-8k', { temperature: 0 }],
    ['moonshot-v1-8k', { n: 5, temperature: 0.5 }],
  ])('%s with %o: 200', async (model, body) => {
    const c = await client();
    expect(await status(c, { model, ...body })).toEqual({ status: 200, message: '' });
  });
});
