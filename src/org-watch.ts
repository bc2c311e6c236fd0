/**
 * Kimi's limits are per account, and every response names its account in the
 * `Msh-Org-Id` header. Two keys configured as different accounts that answer
 * for the same org share one budget: the pool would count it twice and run
 * into 429s. This notices it and says which keys to group.
 */
export class OrgWatch {
  /** org id -> the first configured account seen for it, and its key. */
  private readonly seen = new Map<string, { account: string; key: string }>();
  private readonly told = new Set<string>();

  /** Records that `key` (of configured `account`) answered for `org`; returns a warning the first time two accounts share one org. */
  see(org: string | null | undefined, account: string, key: string): string | undefined {
    if (org === null || org === undefined || org === '') return undefined;
    const first = this.seen.get(org);
    if (first === undefined) {
      this.seen.set(org, { account, key });
      return undefined;
    }
    if (first.account === account) return undefined;
    const pair = `${org}\u0000${[first.account, account].sort().join('\u0000')}`;
    if (this.told.has(pair)) return undefined;
    this.told.add(pair);
    return (
      `Keys ${first.key} (account "${first.account}") and ${key} (account "${account}") both belong to the Kimi account ${org} (Msh-Org-Id): ` +
      `Kimi's limits are per account, so the pool counts that budget twice and will meet 429s. Give both keys the same \`account\`.`
    );
  }
}
