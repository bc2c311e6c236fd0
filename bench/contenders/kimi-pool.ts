/** kimi-pool: one queue over every key, with each account's limits. */
import { KimiPool, MemoryStore, type StoreContext } from '../../src/index.js';
import type { OverheadContender, ThroughputContender } from './contender.js';

export const kimiPoolThroughput: ThroughputContender = {
  name: 'kimi-pool',
  config: 'one `KimiPool`, keys `{ key, account, rpm, concurrency, tpm, tpd }` and `windowMs` as configured; every other option at its default (safetyMarginMs 75, retries 5)',
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

export const kimiPoolOverhead: OverheadContender = {
  name: 'kimi-pool',
  config: '`pool.schedule(task)`; each key its own account with rpm, tpm, tpd and concurrency `Infinity`',
  holdConfig: 'a `MemoryStore` whose `init()` never resolves (the pool waits for its store before starting anything)',
  create(keys, mode) {
    const pool = new KimiPool({
      ...(mode === 'hold' ? { store: new HeldStore() } : {}),
      keys: Array.from({ length: keys }, (_, i) => ({
        key: `sk-bench-${String(i).padStart(6, '0')}`,
        rpm: Infinity,
        tpm: Infinity,
        tpd: Infinity,
        concurrency: Infinity,
      })),
    });
    return {
      submit: (task) => pool.schedule(task),
      close: () => pool.close(),
    };
  },
};
