/**
 * bottleneck: one limiter per account, the backlog split over them by RPM
 * (smooth weighted round-robin), keys of an account round-robin, the `openai`
 * SDK with its default retries inside each job.
 */
import Bottleneck from 'bottleneck';
import OpenAI from 'openai';
import type { BenchAccount, OverheadContender, ThroughputContender, ThroughputSetup } from './contender.js';
import { roundRobin, weightedRoundRobin } from './contender.js';

function perAccount(setup: ThroughputSetup, limiterOf: (a: BenchAccount) => Bottleneck): ReturnType<ThroughputContender['create']> {
  const members = setup.accounts.map((a) => ({
    limiter: limiterOf(a),
    client: roundRobin(a.keys.map((apiKey) => new OpenAI({ apiKey, baseURL: setup.baseURL }))),
  }));
  const pick = weightedRoundRobin(setup.accounts.map((a) => a.rpm));
  return {
    send(body) {
      const m = members[pick()] as (typeof members)[number];
      return m.limiter.schedule(() => m.client().chat.completions.create(body));
    },
    close: async () => {
      await Promise.all(members.map((m) => m.limiter.stop({ dropWaitingJobs: true })));
    },
  };
}

export const bottleneckReservoirThroughput: ThroughputContender = {
  name: 'bottleneck (reservoir)',
  config: 'per account `new Bottleneck({ reservoir: rpm, reservoirRefreshAmount: rpm, reservoirRefreshInterval: windowMs, maxConcurrent: concurrency })`; backlog split by RPM; SDK default retries',
  create: (setup) =>
    perAccount(setup, (a) => new Bottleneck({ reservoir: a.rpm, reservoirRefreshAmount: a.rpm, reservoirRefreshInterval: setup.windowMs, maxConcurrent: a.concurrency })),
};

export const bottleneckMinTimeThroughput: ThroughputContender = {
  name: 'bottleneck (minTime)',
  config: 'per account `new Bottleneck({ minTime: windowMs / rpm, maxConcurrent: concurrency })`; backlog split by RPM; SDK default retries',
  create: (setup) => perAccount(setup, (a) => new Bottleneck({ minTime: setup.windowMs / a.rpm, maxConcurrent: a.concurrency })),
};

export const bottleneckOverhead: OverheadContender = {
  name: 'bottleneck',
  config: 'one `new Bottleneck()` (no limits) per key, tasks round-robin, `limiter.schedule(task)`',
  holdConfig: '`new Bottleneck({ reservoir: 0 })`',
  create(keys, mode) {
    const limiters = Array.from({ length: keys }, () => new Bottleneck(mode === 'run' ? {} : { reservoir: 0 }));
    const next = roundRobin(limiters);
    return {
      // bottleneck awaits whatever the task returns, so the same no-op task is passed as it is.
      submit: (task) => next().schedule(task as unknown as () => Promise<undefined>),
      close: async () => {
        await Promise.all(limiters.map((l) => l.disconnect()));
      },
    };
  },
};
