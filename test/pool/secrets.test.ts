/** No key string ever appears in an event payload, an error message or stats(). */
import { describe, expect, it } from 'vitest';
import type { KimiPoolError } from '../../src/errors.js';
import { ask, kimi429, rig, ROOMY, settleAll, track } from '../helpers/pool.js';

const KEYS = ['sk-SECRETaaaaaaaa1', 'sk-SECRETaaaaaaaa2', 'sk-SECRETbbbbbbbb1', 'sk-SECRETcccccccc1'];

/** Everything an error shows: message, stack, own fields, causes. */
function errorText(e: unknown, depth = 0): string {
  if (!(e instanceof Error) || depth > 4) return JSON.stringify(e) ?? String(e);
  return [e.message, e.stack ?? '', JSON.stringify(e), String(e), errorText(e.cause, depth + 1)].join('\n');
}

describe('keys never leak', () => {
  it('through events, errors and stats, even when the server echoes the key', async () => {
    let calls = 0;
    const r = rig({
      accounts: [
        { id: 'org-a', keys: [KEYS[0] as string, KEYS[1] as string], limits: { ...ROOMY, concurrency: 2 } },
        { id: 'org-b', keys: [KEYS[2] as string], limits: ROOMY },
        { id: 'org-c', keys: [KEYS[3] as string], limits: ROOMY },
      ],
      pool: { retries: 1, retryBaseMs: 10, maxRateLimitBounces: 1, defaultMaxTokens: 100 },
      fake: {
        script: ({ key, body }) => {
          const n = calls++;
          const text = JSON.stringify(body.messages);
          if (key === KEYS[1]) return { status: 401, type: 'invalid_authentication_error', message: `Incorrect API key provided: ${key}` };
          if (key === KEYS[3]) return { status: 403, type: 'exceeded_current_quota_error', message: `Your account org-c<${key}> is suspended` };
          if (text.includes('bad')) return { status: 400, type: 'invalid_request_error', message: `bad request for ${key}` };
          if (text.includes('limited')) return { status: 429, type: 'rate_limit_reached_error', message: `${kimi429.rpm(1000, 1)} (${key})` };
          if (text.includes('flaky')) return { status: 500, message: `server error on ${key}` };
          if (n % 5 === 0) return { status: 429, type: 'engine_overloaded_error', message: `overloaded ${key}` };
          return undefined;
        },
      },
    });
    const ts = ['ok', 'bad', 'limited', 'flaky', 'ok', 'ok', 'ok', 'ok'].map((n, i) => track(ask(r.pool, `${n} ${i}`, { timeout: 60_000 })));
    ts.push(track(r.pool.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'no max' }] })));
    await settleAll(r.clock, ts);
    const names = new Set(r.events.map((e) => e.name));
    for (const n of ['queued', 'start', 'success', 'retry', 'ratelimited', 'cooldown-end', 'key-disabled', 'account-disabled', 'failed', 'warning']) expect(names).toContain(n);
    const dump = [
      JSON.stringify(r.events),
      ...r.events.map((e) => errorText((e.payload as { error?: unknown }).error)),
      ...ts.map((t) => errorText(t.error)),
      JSON.stringify(r.pool.stats()),
    ].join('\n');
    expect(ts.filter((t) => t.error !== undefined).length).toBeGreaterThanOrEqual(3);
    for (const key of KEYS) expect(dump).not.toContain(key);
    expect(dump).not.toContain('SECRET');
    // errors still say which key: its fingerprint
    expect((ts[1]?.error as KimiPoolError).key).toMatch(/^sk-…[0-9a-f]{8}$/);
  });
});
