/**
 * Sees the moment Node's own fetch writes a request to its socket, through
 * undici's diagnostics channel `undici:request:bodySent` (Node >= 18), and
 * tells the key that sent it. That moment comes after the SDK built the
 * request and after any connection set-up (TCP, TLS), so it is the earliest
 * time Kimi can count the request. Requests are told apart by their
 * `Authorization` header; the key never leaves this module's map.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

const CHANNEL = 'undici:request:bodySent';

/** What a key's departures do when one of its requests was written. */
export interface WireListener {
  /** A request with this key's credentials was written; true if it was one of the pool's. */
  written(): boolean;
}

const byAuth = new Map<string, Set<WireListener>>();
let subscribed = false;

/** The `authorization` header of an undici request: headers as [name, value, ...] (undici 6) or raw text (undici 5). */
function authorizationOf(headers: unknown): string | undefined {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i];
      if (typeof name === 'string' && name.length === 13 && name.toLowerCase() === 'authorization') return String(headers[i + 1]);
    }
    return undefined;
  }
  if (typeof headers === 'string') return /^authorization:\s*(.*?)\r?$/im.exec(headers)?.[1];
  return undefined;
}

function onBodySent(message: unknown): void {
  const auth = authorizationOf((message as { request?: { headers?: unknown } } | null)?.request?.headers);
  if (auth === undefined) return;
  const listeners = byAuth.get(auth);
  if (listeners === undefined) return;
  try {
    for (const l of listeners) if (l.written()) return;
  } catch (error) {
    // Thrown inside undici's write path it would surface as an uncaught exception: say it instead.
    process.emitWarning(`kimi-pool: recording a request's departure failed: ${error instanceof Error ? error.message : String(error)}`, { code: 'KIMI_POOL_DEPARTURE' });
  }
}

/**
 * Tells `listener` of every request written with `Bearer <apiKey>`.
 * @returns the function that stops it.
 */
export function watchWire(apiKey: string, listener: WireListener): () => void {
  const auth = `Bearer ${apiKey}`;
  let set = byAuth.get(auth);
  if (set === undefined) byAuth.set(auth, (set = new Set()));
  set.add(listener);
  if (!subscribed) {
    subscribe(CHANNEL, onBodySent);
    subscribed = true;
  }
  return () => {
    set.delete(listener);
    if (set.size === 0 && byAuth.get(auth) === set) byAuth.delete(auth);
    if (byAuth.size === 0 && subscribed) {
      unsubscribe(CHANNEL, onBodySent);
      subscribed = false;
    }
  };
}
