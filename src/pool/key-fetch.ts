import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config.js';
import { OrgWatch } from '../org-watch.js';
import { guardFetch, type Fetch } from '../response-guard.js';

/**
 * What each key's `fetch` gets on top of sending: the pool's response
 * deadlines, and the `Msh-Org-Id` of every response, errors and 429s
 * included, told to the account watch.
 */
export class KeyFetches {
  private readonly orgs = new OrgWatch();

  constructor(
    private readonly clock: Clock,
    private readonly config: ResolvedConfig,
    /** Told when two configured accounts answer for one Kimi account. */
    private readonly sharedAccount: (message: string) => void,
  ) {}

  /**
   * `inner`, the fetch of one key, guarded; `account` tells the key's account
   * now (accounts found to be one merge), `onOrg` hears each response's `Msh-Org-Id`.
   */
  guard(inner: Fetch, key: string, account: () => string, onOrg?: (org: string) => void): Fetch {
    return guardFetch(inner, this.clock, this.config, (headers) => {
      const org = headers.get('msh-org-id');
      if (org !== null && org !== '') onOrg?.(org);
      const message = this.orgs.see(org, account(), key);
      if (message !== undefined) this.sharedAccount(message);
    });
  }
}
