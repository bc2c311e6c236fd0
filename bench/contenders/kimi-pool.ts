/** kimi-pool: one queue over every key, with each account's limits. */
import { KimiPool, MemoryStore, type StoreContext } from '../../src/index.js';
import type { OverheadContender, ThroughputContender } from './contender.js';

export const kimiPoolThroughput: ThroughputContender = {
  name: 'kimi-pool',
  config: 'one `KimiPool`, keys `{ key, account, rpm, concurrency, tpm, tpd }` and `windowMs` as configured; every other option at its default (safetyMarginMs 250, retries 5)',
  create(setup) {
    const pool = new KimiPool({
      baseURL: setup.baseURL,
      windowMs: setup.windowMs,
      keys: setup.accounts.flatMap((a) =>
        a.keys.map((key) => ({ key, account: a.id, rpm: a.rpm, concurrency: a.concurrency, tpm: a.tpm, tpd: a.tpd })),
      ),
    });
    return {
      send: (body) => pool.chat.completions.create(body),
      close: () => pool.close(),
    };
  },
};

/** A store that never finishes connecting: the pool queues everything and starts nothing. */
class HeldStore extends MemoryStore {
  override init(context: StoreContext): Promise<void> {
    super.init(context);
    return new Promise<void>(() => {});
  }
}

/** A pool of `keys` accounts with these limits each; in `hold` mode it starts nothing. */
function overheadPool(keys: number, mode: 'run' | 'hold', limits: { rpm: number; tpm: number; tpd: number; concurrency: number }) {
  const pool = new KimiPool({
    ...(mode === 'hold' ? { store: new HeldStore() } : {}),
    keys: Array.from({ length: keys }, (_, i) => ({ key: `sk-bench-${String(i).padStart(6, '0')}`, ...limits })),
  });
  return {
    submit: (task: () => unknown) => pool.schedule(task, { tokens: 100 }),
    close: () => pool.close(),
  };
}

const HOLD = 'a `MemoryStore` whose `init()` never resolves (the pool waits for its store before starting anything)';

export const kimiPoolOverhead: OverheadContender = {
  name: 'kimi-pool',
  config: '`pool.schedule(task, { tokens: 100 })`; each key its own account with rpm, tpm, tpd and concurrency `Infinity`',
  holdConfig: HOLD,
  create: (keys, mode) => overheadPool(keys, mode, { rpm: Infinity, tpm: Infinity, tpd: Infinity, concurrency: Infinity }),
};

/**
 * Every real account has RPM, TPM and TPD: the same with finite limits too high
 * to bind here, so each start goes through the sliding windows (start ring,
 * token windows of the minute and the day) as it does for real.
 */
export const kimiPoolFiniteOverhead: OverheadContender = {
  name: 'kimi-pool (finite limits)',
  config: 'the same with rpm 10^8, tpm 10^12, tpd 10^14, concurrency 10^7 per account (finite, never reached here)',
  holdConfig: HOLD,
  create: (keys, mode) => overheadPool(keys, mode, { rpm: 1e8, tpm: 1e12, tpd: 1e14, concurrency: 1e7 }),
};
