/**
 * The `openai` SDK alone: one client per key, keys taken round-robin, the
 * SDK's own retries (default maxRetries 2), and as many requests in flight as
 * the accounts' concurrency limits add up to (a worker pool, no limiter).
 */
import OpenAI from 'openai';
import type { ThroughputContender } from './contender.js';
import { roundRobin } from './contender.js';

export const openaiSdkThroughput: ThroughputContender = {
  name: 'openai SDK alone',
  config: 'one `new OpenAI({ apiKey, baseURL })` per key (default `maxRetries: 2`), keys round-robin, at most Σ concurrency requests in flight',
  create(setup) {
    const clients = setup.accounts.flatMap((a) => a.keys.map((apiKey) => new OpenAI({ apiKey, baseURL: setup.baseURL })));
    const nextClient = roundRobin(clients);
    const limit = setup.accounts.reduce((n, a) => n + a.concurrency, 0);
    let running = 0;
    const waiting: (() => void)[] = [];
    return {
      async send(body) {
        if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
        else running++;
        try {
          return await nextClient().chat.completions.create(body);
        } finally {
          // Hand the slot straight to the next waiter, if any.
          const next = waiting.shift();
          if (next !== undefined) next();
          else running--;
        }
      },
      close: async () => {},
    };
  },
};
