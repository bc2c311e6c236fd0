import type { Awaitable } from '../store/limit-store.js';

/** Runs `fn` now if `value` is not a promise, else once it settles (either way). */
export function after(value: Awaitable<unknown>, fn: () => void): void {
  if (value instanceof Promise) value.then(fn, fn);
  else fn();
}

/**
 * A store write nobody waits for: a rejection must not become an unhandled
 * rejection (which ends the process). What it carried is kept in this process
 * too, and the next decision goes through the store again.
 */
export function quiet(value: Awaitable<unknown>): void {
  if (value instanceof Promise) value.catch(() => undefined);
}
