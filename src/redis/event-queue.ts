/**
 * The Redis store's events on their way to the pool. They are learned in the
 * middle of handling a script's answer (absorbReply, a channel message), so
 * they reach the listener together once that handling is done (one
 * setImmediate), never in the middle of it.
 */
import type { StoreEvent } from '../store/limit-store.js';

/** Holds the store's events for its one listener until the current answer was handled. */
export class EventQueue {
  private listener: ((event: StoreEvent) => void) | undefined;
  private queue: StoreEvent[] = [];
  private closed = false;

  /** Sets the listener (the pool's); events emitted before there is one are dropped. */
  listen(listener: (event: StoreEvent) => void): void {
    this.listener = listener;
  }

  /** Queues `event`; dropped once closed. */
  emit(event: StoreEvent): void {
    if (this.listener === undefined || this.closed) return;
    this.queue.push(event);
    if (this.queue.length === 1) {
      setImmediate(() => {
        const events = this.queue;
        this.queue = [];
        for (const e of events) this.listener?.(e);
      });
    }
  }

  /** Drops every event emitted from now on (those already queued still go out). */
  close(): void {
    this.closed = true;
  }
}
