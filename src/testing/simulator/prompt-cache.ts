/**
 * A model of Kimi's automatic context cache, per account: the leading
 * messages of a request that an earlier request of the account began with are
 * served from the cache and reported as `usage.cached_tokens`.
 */
import { createHash, type Hash } from 'node:crypto';
import { simulatedPromptTokens, type SimulatedMessage } from './content.js';

export class PromptCache {
  readonly #seen = new Set<string>();

  /**
   * Prompt tokens of the longest cached prefix (the last message is never
   * cached), then remembers every prefix of `messages`.
   */
  lookup(messages: readonly SimulatedMessage[]): number {
    const prefixes: string[] = [];
    let hash: Hash = createHash('sha256');
    for (const m of messages) {
      hash.update(JSON.stringify([m.role, m.content]));
      prefixes.push(hash.copy().digest('hex'));
    }
    let cached = 0;
    for (let n = messages.length - 1; n >= 1; n--) {
      if (this.#seen.has(prefixes[n - 1] as string)) {
        cached = simulatedPromptTokens(messages.slice(0, n));
        break;
      }
    }
    for (const p of prefixes) this.#seen.add(p);
    return cached;
  }
}
