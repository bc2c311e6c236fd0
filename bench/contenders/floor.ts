/**
 * The floor: what any promise-returning queue must at least do per request:
 * create a promise, keep its resolver, and settle it later (one microtask
 * flush settles everything queued in the same tick).
 */
import type { OverheadContender } from './contender.js';

export const floorOverhead: OverheadContender = {
  name: 'floor (bare promises)',
  config: '`new Promise(r => pending.push(r))`, all settled by one later flush',
  holdConfig: 'the same, never flushed',
  create(_keys, mode) {
    let pending: (() => void)[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      const settle = pending;
      pending = [];
      for (const resolve of settle) resolve();
    };
    return {
      submit: () =>
        new Promise<void>((resolve) => {
          pending.push(resolve);
          if (!scheduled && mode === 'run') {
            scheduled = true;
            queueMicrotask(flush);
          }
        }),
      close: async () => {},
    };
  },
};
