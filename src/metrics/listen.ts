import type { KimiPoolEvents } from '../events.js';
import type { KimiPool } from '../kimi-pool.js';

/** Listeners by event name. */
export type Handlers = { readonly [E in keyof KimiPoolEvents]?: KimiPoolEvents[E] };

/** Adds the listeners; returns the function that removes them. */
export function listen(pool: KimiPool, handlers: Handlers): () => void {
  const entries = Object.entries(handlers) as [keyof KimiPoolEvents, (...args: never[]) => void][];
  for (const [name, fn] of entries) pool.on(name, fn as never);
  return () => {
    for (const [name, fn] of entries) pool.off(name, fn as never);
  };
}
