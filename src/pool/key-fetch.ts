import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config.js';
import { guardFetch, type Fetch } from '../response-guard.js';

/**
 * What each key's `fetch` gets on top of sending: the pool's response
 * deadlines, and the `Msh-Org-Id` of every response, errors and 429s
 * included, for account merging (two configured accounts that Kimi answers
 * for as one are merged, event `account-merged`).
 */
export class KeyFetches {
  constructor(
    private readonly clock: Clock,
    private readonly config: ResolvedConfig,
  ) {}

  /** `inner`, the fetch of one key, guarded; `onOrg` hears each response's `Msh-Org-Id`. */
  guard(inner: Fetch, onOrg: (org: string) => void): Fetch {
    return guardFetch(inner, this.clock, this.config, (headers) => {
      const org = headers.get('msh-org-id');
      if (org !== null && org !== '') onOrg(org);
    });
  }
}
