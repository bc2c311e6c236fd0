import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config.js';
import { OrgWatch } from '../org-watch.js';
import { guardFetch, type Fetch } from '../response-guard.js';

/**
 * The `fetch` each key's openai client gets: the pool's response deadlines
 * over the user's own fetch (if any), and the `Msh-Org-Id` of every response,
 * errors and 429s included, told to the account watch.
 */
export class KeyFetches {
  private readonly orgs = new OrgWatch();

  constructor(
    private readonly inner: Fetch | undefined,
    private readonly clock: Clock,
    private readonly config: ResolvedConfig,
    /** Told when two configured accounts answer for one Kimi account. */
    private readonly sharedAccount: (message: string) => void,
  ) {}

  /** The fetch for one key. */
  for(key: string, account: string): Fetch {
    // Read the global fetch per call, not once: a test or an APM agent may replace it later.
    const inner: Fetch = this.inner ?? ((input, init) => globalThis.fetch(input, init));
    return guardFetch(inner, this.clock, this.config, (headers) => {
      const message = this.orgs.see(headers.get('msh-org-id'), account, key);
      if (message !== undefined) this.sharedAccount(message);
    });
  }
}
