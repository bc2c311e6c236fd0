/**
 * What the pool says when nobody listens: each warning code, and each kind of
 * disabled key or account, written once through `process.emitWarning`, so that
 * `--no-warnings` (or a `process.on('warning')` handler) decides what is shown.
 */
import type { KimiPoolEvents } from './events.js';

/** The `type` of every warning the pool writes to the process. */
export const PROCESS_WARNING_TYPE = 'KimiPoolWarning';

/** Writes each warning code once per pool, and each disabled key or account once. */
export class Unheard {
  private readonly written = new Set<string>();

  /** Writes what `event` says, once per kind; false when the event is not one to tell. */
  tell<E extends keyof KimiPoolEvents>(event: E, payload: Parameters<KimiPoolEvents[E]>[0]): boolean {
    let code: string;
    let message: string;
    if (event === 'warning') {
      const w = payload as Parameters<KimiPoolEvents['warning']>[0];
      code = w.code;
      message = w.message;
    } else if (event === 'key-disabled' || event === 'account-disabled') {
      const d = payload as Parameters<KimiPoolEvents['key-disabled']>[0] & { key?: string; account: string };
      code = event === 'key-disabled' ? 'key_disabled' : 'account_disabled';
      const what = event === 'key-disabled' ? `Key ${d.key} (account "${d.account}")` : `Account "${d.account}"`;
      message = `${what} was disabled (${`${d.status ?? ''} ${d.kimiType ?? ''}`.trim() || 'no status'}): ${d.message}. Its requests run on the other keys.`;
    } else return false;
    // Each warning code once; each disabled key or account once (every one of them matters).
    const seen = event === 'warning' ? code : `${code}:${message.slice(0, message.indexOf(' was disabled'))}`;
    if (this.written.has(seen)) return true;
    this.written.add(seen);
    process.emitWarning(message, { type: PROCESS_WARNING_TYPE, code: `KIMI_POOL_${code.toUpperCase()}` });
    return true;
  }
}
