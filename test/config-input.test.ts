/** What a user types: key lists as shells and .env files hold them, the environment, misspelt options. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, KimiPool, type KimiPoolOptions } from '../src/index.js';
import { resolveConfig } from '../src/config.js';
import { closest } from '../src/option-names.js';

const K1 = 'sk-SECRETaaaaaaaaaaaa1';
const K2 = 'sk-SECRETbbbbbbbbbbbb2';
const K3 = 'sk-SECRETcccccccccccc3';

function message(options: unknown): string {
  try {
    resolveConfig(options as KimiPoolOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain('SECRET');
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const keysOf = (options: KimiPoolOptions): string[] => resolveConfig(options).keys.map((k) => k.apiKey);

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('a key list in one string', () => {
  it.each([
    ['commas', `${K1},${K2},${K3}`],
    ['newlines', `${K1}\n${K2}\r\n${K3}\n`],
    ['spaces and tabs', `${K1} ${K2}\t${K3}`],
    ['a trailing comma and empty entries', `${K1},,${K2}, ,${K3},`],
    ['quotes around the list', `"${K1},${K2},${K3}"`],
    ['quotes around each key', `'${K1}', "${K2}" ${K3}`],
  ])('splits on %s', (_, keys) => {
    expect(keysOf({ keys })).toEqual([K1, K2, K3]);
  });

  it('strips quotes around a key in an array too', () => {
    expect(keysOf({ keys: [`"${K1}"`, ` '${K2}' `] })).toEqual([K1, K2]);
  });

  it('refuses `;` with the separators it takes', () => {
    expect(message({ keys: `${K1};${K2}` })).toBe('`keys` contains `;`: separate keys with commas, newlines or spaces, e.g. "sk-a,sk-b"');
  });

  it.each([
    ['in an array', [`${K1};${K2}`], '`keys[0]` is malformed: it contains whitespace, a comma or a `;` (one key per entry)'],
    ['in a KeyConfig', [{ key: `${K1};${K2}` }], '`keys[0].key` is malformed: it contains whitespace, a comma or a `;` (one key per entry)'],
    ['a .env line', `KIMI_API_KEYS=${K1}`, '`keys[0]` is malformed: it starts with a variable name and `=` (a line of a .env file?): give the value only'],
  ])('refuses `;` or a pasted .env line %s, never showing the key', (_, keys, expected) => {
    expect(message({ keys })).toBe(expected);
  });

  it.each([
    ['apiKey', { apiKey: K1 }, /`clientOptions.apiKey` is set by the pool for each key and would be ignored: give keys in `keys`/],
    ['baseURL', { baseURL: 'http://127.0.0.1:1/v1' }, /`clientOptions.baseURL` is set by the pool .*: set `baseURL`/],
    ['maxRetries', { maxRetries: 3 }, /`clientOptions.maxRetries` .*: the pool retries itself: set `retries`/],
  ])('refuses clientOptions.%s, which the pool sets for each key', (_, clientOptions, expected) => {
    expect(message({ keys: [K1], clientOptions })).toMatch(expected);
  });

  it('says an empty list is empty', () => {
    expect(message({ keys: ' , \n ' })).toMatch(/No keys: `keys` is an empty string/);
  });
});

describe('the environment, as the openai client reads it', () => {
  it('reads KIMI_API_KEYS when `keys` is not given', () => {
    vi.stubEnv('KIMI_API_KEYS', `${K1}\n${K2}`);
    expect(keysOf({})).toEqual([K1, K2]);
    expect(keysOf({ keys: [K3] })).toEqual([K3]);
  });

  it('names KIMI_API_KEYS in its errors', () => {
    vi.stubEnv('KIMI_API_KEYS', `${K1};${K2}`);
    expect(message({})).toMatch(/^`KIMI_API_KEYS` contains `;`/);
    vi.stubEnv('KIMI_API_KEYS', '');
    expect(message({})).toBe('No keys: `KIMI_API_KEYS` is an empty string');
  });

  it('says where keys come from when there are none', () => {
    vi.stubEnv('KIMI_API_KEYS', undefined as unknown as string);
    expect(message({})).toMatch(/No keys: set `keys` .* or set KIMI_API_KEYS/);
  });

  it('reads KIMI_BASE_URL when `baseURL` is not given', () => {
    vi.stubEnv('KIMI_BASE_URL', 'https://api.moonshot.ai/v1');
    expect(resolveConfig({ keys: [K1] }).keys[0]?.baseURL).toBe('https://api.moonshot.ai/v1');
    expect(resolveConfig({ keys: [K1], baseURL: 'http://127.0.0.1:9/v1' }).keys[0]?.baseURL).toBe('http://127.0.0.1:9/v1');
    vi.stubEnv('KIMI_BASE_URL', 'moonshot.ai');
    expect(message({ keys: [K1] })).toMatch(/^Expected `KIMI_BASE_URL` to be an http\(s\) URL .*got "moonshot\.ai" \(string\)/);
  });

  it('falls back to api.moonshot.cn without KIMI_BASE_URL', () => {
    vi.stubEnv('KIMI_BASE_URL', '');
    expect(resolveConfig({ keys: [K1] }).keys[0]?.baseURL).toBe('https://api.moonshot.cn/v1');
  });
});

describe('unknown options are refused', () => {
  it.each([
    ['a misspelt pool option', { keys: [K1], retrys: 3 }, 'Unknown option `retrys`: did you mean `retries`?'],
    ['another case', { keys: [K1], windowMS: 3 }, 'Unknown option `windowMS`: did you mean `windowMs`?'],
    ["openai's maxRetries", { keys: [K1], maxRetries: 3 }, /^Unknown option `maxRetries`: it is the openai SDK's.*set `retries`$/],
    ["openai's apiKey", { apiKey: K1 }, /^Unknown option `apiKey`: .*`keys`/],
    ["p-queue's concurrency", { keys: [K1], concurrency: 4 }, /^Unknown option `concurrency`: it is a limit of each account.*`accounts.<id>.concurrency` or `keys\[i\].concurrency`/],
    ['a pool-wide rpm', { keys: [K1], rpm: 100 }, /^Unknown option `rpm`: it is a limit of each account/],
    ['a misspelt key field', { keys: [{ key: K1, acount: 'team' }] }, 'Unknown option `keys[0].acount`: did you mean `keys[0].account`?'],
    ['a misspelt account field', { keys: [{ key: K1, account: 'team' }], accounts: { team: { tmp: 5 } } }, 'Unknown option `accounts.team.tmp`: did you mean `accounts.team.tpm`?'],
    ['nothing like any option', { keys: [K1], zzzzzzzz: 1 }, /^Unknown option `zzzzzzzz`: the options are keys, tier, accounts/],
  ])('%s', (_, options, expected) => {
    const m = message(options);
    if (typeof expected === 'string') expect(m).toBe(expected);
    else expect(m).toMatch(expected);
  });

  it('by the KimiPool constructor', () => {
    expect(() => new KimiPool({ keys: [K1], retrys: 3 } as KimiPoolOptions)).toThrow(/did you mean `retries`/);
  });

  it('suggests only a near name', () => {
    expect(closest('retires', ['retries', 'tier'])).toBe('retries');
    expect(closest('tiers', ['retries', 'tier'])).toBe('tier');
    expect(closest('rmp', ['rpm', 'tpm'])).toBe('rpm');
    expect(closest('banana', ['rpm', 'tpm'])).toBeUndefined();
  });
});

describe('config errors show the value (never a key)', () => {
  it.each([
    ['a tier', { keys: [K1], tier: 'tier-1' }, 'Unknown tier "tier-1" (string) in `tier`: expected one of tier0, tier1, tier2, tier3, tier4, tier5'],
    ['a baseURL', { keys: [K1], baseURL: 'not a url' }, 'Expected `baseURL` to be an http(s) URL such as https://api.moonshot.cn/v1, got "not a url" (string)'],
    ['an id', { keys: [{ key: K1, id: 7 }] }, 'Expected `keys[0].id` to be a non-empty string, got `7` (number)'],
    ['an object where a key belongs', { keys: [K1, { id: 'x' }] }, 'Expected `keys[1]` to be a key string or { key, ... }, got an object'],
  ])('%s', (_, options, expected) => {
    expect(message(options)).toBe(expected);
  });

  it('a key string is described by its length only', () => {
    expect(message({ keys: [{ key: 5 }] })).toBe('Expected `keys[0].key` to be an API key string, got `5` (number)');
    expect(message({ keys: ['sk-SECRET x'] })).toMatch(/`keys\[0\]` is malformed: it contains whitespace/);
  });
});
