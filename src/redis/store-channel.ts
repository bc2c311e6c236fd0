/**
 * The pub/sub channel through which the pools sharing a Redis and prefix tell
 * each other what they would otherwise learn only at their next script call:
 * a lease released (a pool waiting on that account may ask now), a key or
 * account disabled or enabled again, an account merged into another.
 *
 * The scripts publish, so a message goes out only when its write happened;
 * this module names the channel, writes and reads the messages, and listens on
 * a second connection, since a subscribed connection can send nothing else.
 */
import type { RedisSubscriberLike } from './redis-client.js';

/** What one pool tells the others about account `a`. */
export type ChannelMessage =
  /** A lease was released: a pool that found the account full may ask again. */
  | { readonly t: 'w'; readonly a: string }
  /** A key or the account was disabled: the next answer of a script carries the flags. */
  | { readonly t: 'd'; readonly a: string }
  /** The disabled flag `f` ("off" or "k:<key id>") was cleared. */
  | { readonly t: 'e'; readonly a: string; readonly f: string }
  /** The account is account `i` (Msh-Org-Id, discovery). */
  | { readonly t: 'm'; readonly a: string; readonly i: string };

const noop = (): void => undefined;

/** One pool's end of the channel `<prefix>events`. */
export class StoreChannel {
  /** The channel's name: `<prefix>events`. */
  readonly name: string;
  private sub: RedisSubscriberLike | undefined;
  private subscribed = false;

  /** `workerId` marks this pool's messages, which it then ignores when they come back. */
  constructor(prefix: string, private readonly workerId: string) {
    this.name = `${prefix}events`;
  }

  /**
   * Listens on `sub` (none: a client without `duplicate()`, and this pool
   * then neither hears nor publishes) and hands each message of another
   * pool to `onMessage`.
   */
  listen(sub: RedisSubscriberLike | undefined, onMessage: (message: ChannelMessage) => void): void {
    this.sub = sub;
    sub?.on('error', noop);
    sub?.on('message', (_channel: string, text: string) => {
      const message = this.read(text);
      if (message !== undefined) onMessage(message);
    });
    this.subscribe();
  }

  /**
   * The two arguments a publishing script takes last: the channel and the
   * message. The channel is '' when this pool does not listen, and the
   * script then publishes nothing.
   */
  publish(message: ChannelMessage): [string, string] {
    const { t, ...rest } = message;
    return [this.sub !== undefined ? this.name : '', JSON.stringify({ t, w: this.workerId, ...rest })];
  }

  /** Subscribes again if the last SUBSCRIBE failed (called on the store's timer). */
  resubscribe(): void {
    if (this.sub !== undefined && !this.subscribed) this.subscribe();
  }

  /** Closes the listening connection: `disconnect()` when it has one (no reply to wait for), else `quit()`. */
  async close(): Promise<void> {
    const sub = this.sub as (RedisSubscriberLike & { disconnect?: () => void }) | undefined;
    if (sub?.disconnect !== undefined) sub.disconnect();
    else await sub?.quit().catch(noop);
  }

  private subscribe(): void {
    this.subscribed = true;
    this.sub?.subscribe(this.name).catch(() => {
      this.subscribed = false;
    });
  }

  /** A message of another pool, or undefined: this pool's own, or not one of ours. */
  private read(text: string): ChannelMessage | undefined {
    let m: { t?: unknown; w?: unknown; a?: unknown; f?: unknown; i?: unknown } | null;
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return undefined;
    }
    // Anyone can publish on the channel: `null`, a number or a string is not ours either.
    if (typeof m !== 'object' || m === null) return undefined;
    if (m.w === this.workerId || typeof m.a !== 'string') return undefined;
    if (m.t === 'w' || m.t === 'd') return { t: m.t, a: m.a };
    if (m.t === 'e' && typeof m.f === 'string') return { t: 'e', a: m.a, f: m.f };
    if (m.t === 'm' && typeof m.i === 'string') return { t: 'm', a: m.a, i: m.i };
    return undefined;
  }
}
