/**
 * Refuses option names the pool does not know: from JavaScript a misspelt option (`retrys`) or one
 * of another library (openai's `maxRetries`, p-queue's `concurrency`) would otherwise do nothing.
 */
import { ConfigError } from './errors.js';
import type { AccountConfig, KeyConfig, KimiPoolOptions, ScheduleOptions } from './options.js';

/** Every option of {@link KimiPoolOptions}; tsc fails below when one is added and not listed. */
export const POOL_OPTIONS = [
  'keys', 'tier', 'accounts', 'baseURL', 'windowMs', 'safetyMarginMs', 'retries', 'retryBaseMs', 'retryMaxMs',
  'maxRateLimitBounces', 'defaultMaxTokens', 'estimatePromptTokens', 'clientOptions', 'store', 'clock', 'random', 'prices', 'discover',
  'idleTimeoutMs', 'attemptTimeoutMs', 'maxRetryAfterMs',
] as const;
const LIMITS = ['concurrency', 'rpm', 'tpm', 'tpd'] as const;
export const ACCOUNT_OPTIONS = ['tier', ...LIMITS] as const;
export const KEY_OPTIONS = ['key', 'id', 'account', 'tier', 'baseURL', 'discover', ...LIMITS] as const;
/** A request's options (`create(params, options)`); `schedule()` takes `tokens` too. */
export const REQUEST_OPTIONS = ['priority', 'signal', 'timeout'] as const;
export const SCHEDULE_OPTIONS = [...REQUEST_OPTIONS, 'tokens'] as const;

type Unlisted<T, L extends readonly string[]> = Exclude<keyof T, L[number]>;
// Each is `true` only while its list names every field of its interface.
const listed: [
  Unlisted<KimiPoolOptions, typeof POOL_OPTIONS>,
  Unlisted<KeyConfig, typeof KEY_OPTIONS>,
  Unlisted<AccountConfig, typeof ACCOUNT_OPTIONS>,
  Unlisted<ScheduleOptions, typeof SCHEDULE_OPTIONS>,
] extends [never, never, never, never] ? true : false = true;
void listed;

/** Pool options a user brings from elsewhere, and what to set here instead. */
const KNOWN_MISTAKES: Readonly<Record<string, string>> = {
  maxRetries: "it is the openai SDK's, which the pool sets to 0 because it retries itself: set `retries`",
  apiKey: "it is the openai SDK's: kimi-pool takes `keys` (one key or many)",
  apiKeys: 'did you mean `keys`?',
  timeout: "set the HTTP timeout in `clientOptions.timeout`, or a request's in its options (`{ timeout }`)",
  ...Object.fromEntries(
    LIMITS.map((l) => [l, `it is a limit of each account, not of the pool: set \`accounts.<id>.${l}\` or \`keys[i].${l}\`, or pick a \`tier\``]),
  ),
};

/** Request options of the openai SDK a caller may pass as they are, and what to do here instead. */
const REQUEST_MISTAKES: Readonly<Record<string, string>> = {
  maxRetries: "it is the openai SDK's: the pool retries itself (its `retries` option)",
  headers: "set headers for every request in the pool's `clientOptions.defaultHeaders`",
};

/** Edit distance (insert, delete, substitute, swap neighbours), case-insensitive. */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const row = d[i]!;
      const up = d[i - 1]!;
      row[j] = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + (s[i - 1] === t[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[s.length]![t.length]!;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(name.length / 3)) + 1;
  for (const k of known) {
    // A name cut short or run on (`window` for `windowMs`, `tiers` for `tier`) is as good as a typo.
    const prefix = Math.min(name.length, k.length) >= 4 && (k.toLowerCase().startsWith(name.toLowerCase()) || name.toLowerCase().startsWith(k.toLowerCase()));
    const dist = prefix ? 1 : distance(name, k);
    if (dist < bestDistance) [best, bestDistance] = [k, dist];
  }
  return best;
}

/**
 * What is wrong with the first own property of `object` that is not in `known`, or undefined.
 * @param where the object's path with a trailing dot (`''`, `keys[2].`, `accounts.team.`)
 */
function unknownOption(object: object, known: readonly string[], where: string, mistakes: Readonly<Record<string, string>>, what = 'option'): string | undefined {
  for (const name of Object.keys(object)) {
    if (known.includes(name)) continue;
    const mistake = Object.hasOwn(mistakes, name) ? mistakes[name] : undefined;
    const near = closest(name, known);
    const hint = mistake ?? (near === undefined ? `the ${what}s are ${known.join(', ')}` : `did you mean \`${where}${near}\`?`);
    return `Unknown ${what} \`${where}${name}\`: ${hint}`;
  }
  return undefined;
}

/** Throws ConfigError for a pool, key or account option it does not know. */
export function refuseUnknown(object: object, known: readonly string[], where: string): void {
  const message = unknownOption(object, known, where, where === '' ? KNOWN_MISTAKES : {});
  if (message !== undefined) throw new ConfigError(message);
}

/** What is wrong with a request's options (`create()`'s second argument, or `schedule()`'s), or undefined. */
export function unknownRequestOption(options: object, known: readonly string[]): string | undefined {
  return unknownOption(options, known, '', REQUEST_MISTAKES, 'request option');
}
