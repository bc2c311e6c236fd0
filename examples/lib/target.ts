/**
 * Where the examples send requests: the real Kimi API when KIMI_API_KEYS is set,
 * else a local simulator with two free-tier accounts and a 3-second "minute".
 */
import type { KimiPoolOptions } from 'kimi-pool';
import { startKimiSimulator } from 'kimi-pool/testing';

export interface Target {
  readonly options: Pick<KimiPoolOptions, 'keys' | 'baseURL' | 'windowMs' | 'tier'>;
  readonly model: string;
  close(): Promise<void>;
}

export async function target(): Promise<Target> {
  const model = process.env.KIMI_MODEL ?? 'kimi-k2.5';
  const keys = process.env.KIMI_API_KEYS?.trim();
  if (keys) {
    const tier = (process.env.KIMI_TIER ?? 'tier0') as KimiPoolOptions['tier'];
    return { options: { keys, tier, ...(process.env.KIMI_BASE_URL ? { baseURL: process.env.KIMI_BASE_URL } : {}) }, model, close: async () => {} };
  }
  const windowMs = 3_000;
  const sim = await startKimiSimulator({
    windowMs,
    latencyMs: [50, 150],
    accounts: [
      { id: 'org-1', keys: ['sk-example-one-000000'], tier: 'tier0' },
      { id: 'org-2', keys: ['sk-example-two-000000'], tier: 'tier0' },
    ],
  });
  return { options: { keys: 'sk-example-one-000000,sk-example-two-000000', baseURL: sim.url, windowMs }, model, close: () => sim.close() };
}
