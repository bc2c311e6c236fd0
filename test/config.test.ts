import { describe, expect, it } from 'vitest';
import { ConfigError, KimiPool, type KimiPoolOptions } from '../src/index.js';
import { resolveConfig } from '../src/config.js';
import { fingerprint } from '../src/fingerprint.js';
import { TIERS } from '../src/tiers.js';

const K1 = 'sk-SECRETaaaaaaaaaaaa1';
const K2 = 'sk-SECRETbbbbbbbbbbbb2';
const K3 = 'sk-SECRETcccccccccccc3';

function configError(options: unknown): ConfigError {
  try {
    resolveConfig(options as KimiPoolOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveConfig: valid options', () => {
  it('reads a comma-separated string, trims entries, one account per key by default', () => {
    const c = resolveConfig({ keys: ` ${K1} , ${K2}\n` });
    expect(c.keys.map((k) => k.apiKey)).toEqual([K1, K2]);
    expect(c.keys.map((k) => k.id)).toEqual([fingerprint(K1), fingerprint(K2)]);
    expect(c.accounts.map((a) => a.id)).toEqual([fingerprint(K1), fingerprint(K2)]);
    expect(c.accounts[0]?.limits).toEqual(TIERS.tier0);
    expect(c.accounts[0]?.tier).toBe('tier0');
  });

  it('groups keys by account and merges limits from tier, account and key', () => {
    const c = resolveConfig({
      keys: [
        { key: K1, account: 'org-1', id: 'one' },
        { key: K2, account: 'org-1', rpm: 7 },
        { key: K3, tier: 'tier2' },
      ],
      tier: 'tier1',
      accounts: { 'org-1': { tpm: 1234, rpm: 7 } },
    });
    expect(c.accounts.map((a) => [a.id, a.keys.map((k) => k.id)])).toEqual([
      ['org-1', ['one', fingerprint(K2)]],
      [fingerprint(K3), [fingerprint(K3)]],
    ]);
    expect(c.accounts[0]?.limits).toEqual({ ...TIERS.tier1, tpm: 1234, rpm: 7 });
    expect(c.accounts[0]?.tier).toBe('tier1');
    expect(c.accounts[1]?.limits).toEqual(TIERS.tier2);
  });

  it('has documented defaults', () => {
    const c = resolveConfig({ keys: [K1] });
    expect(c).toMatchObject({ windowMs: 60_000, safetyMarginMs: 250, retries: 5, retryBaseMs: 500, retryMaxMs: 30_000, maxRateLimitBounces: 10, defaultMaxTokens: 32_768 });
    expect(c.keys[0]?.baseURL).toBe('https://api.moonshot.cn/v1');
  });

  it('accepts Infinity as "unlimited" for limits and bounces', () => {
    const c = resolveConfig({ keys: [{ key: K1, tpd: Infinity }], maxRateLimitBounces: Infinity });
    expect(c.accounts[0]?.limits.tpd).toBe(Infinity);
    expect(c.maxRateLimitBounces).toBe(Infinity);
  });
});

describe('resolveConfig: invalid options name the field and never show a key', () => {
  const cases: [string, unknown, RegExp][] = [
    ['options not an object', null, /options/],
    ['no keys', {}, /No keys.*`keys`/],
    ['keys null', { keys: null }, /No keys/],
    ['empty string', { keys: '' }, /`keys` is an empty string/],
    ['string of commas', { keys: ' , ' }, /empty string/],
    ['a semicolon-separated list', { keys: `${K1};${K2}` }, /`keys` contains `;`: separate keys with commas, newlines or spaces/],
    ['empty array', { keys: [] }, /empty array/],
    ['keys a number', { keys: 5 }, /`keys`/],
    ['entry of the wrong type', { keys: [K1, 42] }, /`keys\[1\]`/],
    ['key not a string', { keys: [{ key: 5 }] }, /`keys\[0\]\.key`/],
    ['empty key in array', { keys: [K1, '  '] }, /`keys\[1\]` is empty/],
    ['duplicate keys', { keys: [K1, K2, K1] }, /`keys\[2\]` is the same key as `keys\[0\]`/],
    ['duplicate keys after trimming', { keys: [K1, ` ${K1}`] }, /`keys\[1\]` is the same key as `keys\[0\]`/],
    ['whitespace inside a key', { keys: [K1, 'sk-SECRET dddddddddd'] }, /`keys\[1\]` is malformed: it contains whitespace/],
    ['too short', { keys: ['sk-abc'] }, /`keys\[0\]` is malformed: 6 characters is too short/],
    ['non-ASCII', { keys: ['sk-SECRETéééééééé'] }, /`keys\[0\]` is malformed: .*printable ASCII/],
    ['unknown tier', { keys: [K1], tier: 'tier9' }, /Unknown tier "tier9" \(string\) in `tier`.*tier0/],
    ['unknown tier on a key', { keys: [{ key: K1, tier: 'gold' }] }, /`keys\[0\]\.tier`/],
    ['unknown tier on an account', { keys: [{ key: K1, account: 'o' }], accounts: { o: { tier: 'x' } } }, /`accounts\.o\.tier`/],
    ['negative limit on a key', { keys: [{ key: K1, rpm: -1 }] }, /`keys\[0\]\.rpm` to be an integer > 0/],
    ['zero limit', { keys: [{ key: K1, concurrency: 0 }] }, /`keys\[0\]\.concurrency`/],
    ['non-integer limit', { keys: [{ key: K1, tpm: 1.5 }] }, /`keys\[0\]\.tpm` to be an integer/],
    ['NaN limit', { keys: [{ key: K1, tpd: Number.NaN }] }, /`keys\[0\]\.tpd`/],
    ['string limit', { keys: [{ key: K1, rpm: '10' }] }, /`keys\[0\]\.rpm`/],
    ['negative limit on an account', { keys: [{ key: K1, account: 'o' }], accounts: { o: { rpm: -3 } } }, /`accounts\.o\.rpm`/],
    ['keys of one account disagree', { keys: [{ key: K1, account: 'o', rpm: 5 }, { key: K2, account: 'o', rpm: 6 }] }, /Account "o" has rpm 5 in `keys\[0\]\.rpm` but 6 in `keys\[1\]\.rpm`/],
    ['key disagrees with its account', { keys: [{ key: K1, account: 'o', tpm: 5 }], accounts: { o: { tpm: 9 } } }, /`accounts\.o\.tpm` but 5 in `keys\[0\]\.tpm`/],
    ['keys of one account disagree on tier', { keys: [{ key: K1, account: 'o', tier: 'tier1' }, { key: K2, account: 'o', tier: 'tier2' }] }, /tier/],
    ['accounts names an unknown account', { keys: [{ key: K1, account: 'o' }], accounts: { other: { rpm: 1 } } }, /`accounts\.other` names an account that no key belongs to/],
    ['duplicate ids', { keys: [{ key: K1, id: 'x' }, { key: K2, id: 'x' }] }, /`keys\[1\]\.id` "x" is used by another key/],
    ['empty id', { keys: [{ key: K1, id: '' }] }, /`keys\[0\]\.id`/],
    ['empty account', { keys: [{ key: K1, account: '' }] }, /`keys\[0\]\.account`/],
    ['bad baseURL', { keys: [K1], baseURL: 'ftp://x' }, /`baseURL`/],
    ['baseURL not a URL', { keys: [K1], baseURL: 'not a url' }, /Expected `baseURL` to be an http\(s\) URL such as https:\/\/api\.moonshot\.cn\/v1, got "not a url" \(string\)/],
    ['a key given as baseURL', { keys: [K1], baseURL: K2 }, new RegExp(`\`baseURL\`.*got "${fingerprint(K2).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" \\(string\\)`)],
    ['bad key baseURL', { keys: [{ key: K1, baseURL: 'nope' }] }, /`keys\[0\]\.baseURL`/],
    ['windowMs 0', { keys: [K1], windowMs: 0 }, /`windowMs`/],
    ['negative safetyMarginMs', { keys: [K1], safetyMarginMs: -1 }, /`safetyMarginMs` to be a finite number >= 0, got `-1` \(number\)/],
    ['non-integer retries', { keys: [K1], retries: 1.5 }, /`retries`/],
    ['negative retries', { keys: [K1], retries: -1 }, /`retries`/],
    ['retryMaxMs below retryBaseMs', { keys: [K1], retryBaseMs: 1000, retryMaxMs: 10 }, /`retryMaxMs`/],
    ['negative maxRateLimitBounces', { keys: [K1], maxRateLimitBounces: -1 }, /`maxRateLimitBounces`/],
    ['non-integer defaultMaxTokens', { keys: [K1], defaultMaxTokens: 0.5 }, /`defaultMaxTokens`/],
  ];
  it.each(cases)('%s', (_, options, pattern) => {
    const e = configError(options);
    expect(e.message).toMatch(pattern);
    expect(e.code).toBe('ERR_CONFIG');
    for (const secret of ['SECRET', K1, K2, K3]) expect(e.message).not.toContain(secret);
    expect(JSON.stringify(e)).not.toContain('SECRET');
  });

  it('the KimiPool constructor throws the same errors', () => {
    expect(() => new KimiPool({ keys: '' })).toThrow(ConfigError);
    expect(() => new KimiPool({ keys: [K1], tier: 'tier7' as never })).toThrow(/`tier`/);
  });
});
