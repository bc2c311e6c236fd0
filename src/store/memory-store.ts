import type { Clock } from '../clock.js';
import { AccountLimiter } from '../limits/account-limiter.js';
import type { Limits } from '../tiers.js';
import type { AccountUsage, LimitStore, StoreAccount, StoreContext } from './limit-store.js';

/** The default store: limits held in this process, decided synchronously. */
export class MemoryStore implements LimitStore {
  private readonly limiters = new Map<string, AccountLimiter>();
  private clock: Clock | undefined;
  private windowMs = 60_000;
  private marginMs = 0;

  init(context: StoreContext): void {
    this.clock = context.clock;
    this.windowMs = context.windowMs;
    this.marginMs = context.safetyMarginMs;
    for (const a of context.accounts) {
      this.limiters.set(a.id, new AccountLimiter(a.limits, context.windowMs, context.safetyMarginMs));
    }
  }

  acquire(account: string, tokens: number, _lease: number): number {
    const limiter = this.limiter(account);
    const now = (this.clock as Clock).now();
    const wait = limiter.check(now, tokens);
    if (wait === 0) limiter.commit(now, tokens);
    return wait;
  }

  sent(account: string, _lease: number, tokens: number): void {
    this.limiter(account).leave((this.clock as Clock).now(), tokens);
  }

  release(account: string, _lease: number): void {
    this.limiter(account).release();
  }

  setMargin(account: string, marginMs: number): void {
    this.limiter(account).setMargin(marginMs);
  }

  pause(account: string, ms: number): void {
    this.limiter(account).pause((this.clock as Clock).now() + ms);
  }

  setLimits(account: string, limits: Limits): void {
    this.limiter(account).setLimits(limits);
  }

  observe(account: string, dimension: 'tpm' | 'tpd', used: number): void {
    this.limiter(account).observe((this.clock as Clock).now(), dimension, used);
  }

  usage(account: string): AccountUsage {
    const l = this.limiter(account);
    const now = (this.clock as Clock).now();
    const wait = l.check(now, 1);
    return {
      inFlight: l.inFlight,
      startsInWindow: l.startsInWindow(now),
      tokensInWindow: l.tokensInWindow(now),
      pausedUntil: l.pausedUntil > now ? l.pausedUntil : null,
      nextFreeInMs: wait === Infinity ? null : Math.max(0, wait),
    };
  }

  addAccount(account: StoreAccount): void {
    if (this.limiters.has(account.id)) return;
    this.limiters.set(account.id, new AccountLimiter(account.limits, this.windowMs, this.marginMs));
  }

  /** `from` is `into`: `into` takes over what `from` recorded, and calls for `from` count on `into` from now on. */
  merge(from: string, into: string): void {
    const a = this.limiter(from);
    const b = this.limiter(into);
    if (a === b) return;
    b.absorb(a, (this.clock as Clock).now());
    for (const [id, l] of this.limiters) if (l === a) this.limiters.set(id, b);
  }

  close(): void {}

  private limiter(account: string): AccountLimiter {
    const l = this.limiters.get(account);
    if (l === undefined) throw new Error(`MemoryStore: unknown account ${account}`);
    return l;
  }
}
