/**
 * p-queue: one queue per account with `interval = windowMs`, `intervalCap = rpm`
 * and the account's concurrency; the backlog split over them by RPM, keys of an
 * account round-robin, the `openai` SDK with its default retries in each task.
 * Run twice: the default fixed window, and `strict: true` (sliding window).
 */
import OpenAI from 'openai';
import PQueue from 'p-queue';
import type { OverheadContender, ThroughputContender } from './contender.js';
import { roundRobin, weightedRoundRobin } from './contender.js';

function pQueueThroughput(strict: boolean): ThroughputContender {
  return {
    name: strict ? 'p-queue (strict)' : 'p-queue (intervalCap)',
    config: `per account \`new PQueue({ interval: windowMs, intervalCap: rpm, concurrency${strict ? ', strict: true' : ''} })\`; backlog split by RPM; SDK default retries`,
    create(setup) {
      const members = setup.accounts.map((a) => ({
        queue: new PQueue({ interval: setup.windowMs, intervalCap: a.rpm, concurrency: a.concurrency, strict }),
        client: roundRobin(a.keys.map((apiKey) => new OpenAI({ apiKey, baseURL: setup.baseURL }))),
      }));
      const pick = weightedRoundRobin(setup.accounts.map((a) => a.rpm));
      return {
        send(body) {
          const m = members[pick()] as (typeof members)[number];
          return m.queue.add(() => m.client().chat.completions.create(body));
        },
        close: async () => {
          for (const m of members) m.queue.clear();
        },
      };
    },
  };
}

export const pQueueIntervalThroughput = pQueueThroughput(false);
export const pQueueStrictThroughput = pQueueThroughput(true);

export const pQueueOverhead: OverheadContender = {
  name: 'p-queue',
  config: 'one `new PQueue()` (concurrency Infinity) per key, tasks round-robin, `queue.add(task)`',
  holdConfig: '`new PQueue({ autoStart: false })`',
  create(keys, mode) {
    const queues = Array.from({ length: keys }, () => new PQueue({ autoStart: mode === 'run' }));
    const next = roundRobin(queues);
    return {
      submit: (task) => next().add(task),
      close: async () => {},
    };
  },
};
