/**
 * Validates {@link KimiPoolOptions} and resolves each account's limits.
 * Every message names the field and what to fix, and never shows a key.
 */
import { ConfigError } from './errors.js';
import { fingerprint, redactKeys } from './fingerprint.js';
import { ACCOUNT_OPTIONS, KEY_OPTIONS, POOL_OPTIONS, refuseUnknown } from './option-names.js';
import type { KeyConfig, KimiPoolOptions, LimitOverrides } from './options.js';
import { isTierName, TIERS, type Limits, type TierName } from './tiers.js';
import { DEFAULT_MAX_TOKENS } from './tokens.js';

export interface ResolvedKey {
  readonly apiKey: string;
  readonly id: string;
  readonly account: string;
  readonly baseURL: string;
}

export interface ResolvedAccount {
  readonly id: string;
  readonly limits: Limits;
  readonly tier: TierName;
  readonly keys: readonly ResolvedKey[];
}

export interface ResolvedConfig {
  readonly keys: readonly ResolvedKey[];
  readonly accounts: readonly ResolvedAccount[];
  readonly windowMs: number;
  readonly safetyMarginMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly maxRateLimitBounces: number;
  readonly defaultMaxTokens: number;
  readonly idleTimeoutMs: number;
  readonly attemptTimeoutMs: number;
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_BASE_URL = 'https://api.moonshot.cn/v1';
/** Two minutes without data: longer than a long prompt's prefill before the first token. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
/** Kimi's gateway cuts a request at two hours (504): no answer comes later. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 7_200_000;
/** openai-node ignores a `retry-after` above 60 s; so does the pool. */
export const DEFAULT_MAX_RETRY_AFTER_MS = 60_000;
/**
 * Default safety margin (ms added to every window). Starts count from the
 * moment a request is written to its socket, so the margin covers only what
 * follows: one TCP retransmission at Linux's minimum RTO (200 ms) plus 50 ms
 * of jitter between two requests a window apart. It costs 0.4% of an
 * RPM-bound account's throughput at Kimi's 60 s window; learned wider per
 * account when a 429 shows it was not enough (see MarginLearner).
 */
export const DEFAULT_SAFETY_MARGIN_MS = 250;
const LIMIT_FIELDS = ['concurrency', 'rpm', 'tpm', 'tpd'] as const;

/** A bad value as the message shows it: strings quoted (long ones cut), anything key-like as its fingerprint. */
function describe(value: unknown): string {
  if (typeof value === 'string') {
    const shown = redactKeys(value);
    return `${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown)} (string)`;
  }
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) return 'an object';
  return `\`${String(value)}\` (${value === null ? 'null' : typeof value})`;
}

/** Strips one pair of matching quotes around a value, as a .env file or a shell may leave them. */
function unquote(s: string): string {
  const m = /^(["'`])([^]*)\1$/.exec(s);
  return m === null ? s : m[2]!.trim();
}

/**
 * The keys in a list such as KIMI_API_KEYS: separated by commas, newlines or other whitespace,
 * quotes around the list or an entry stripped, empty entries (a trailing comma) ignored.
 */
export function splitKeyList(list: string, field: string): string[] {
  if (list.includes(';')) throw new ConfigError(`\`${field}\` contains \`;\`: separate keys with commas, newlines or spaces, e.g. "sk-a,sk-b"`);
  return unquote(list.trim())
    .split(/[\s,]+/)
    .map((p) => unquote(p))
    .filter((p) => p !== '');
}

interface NumberRule {
  readonly min: number;
  readonly integer?: boolean;
  readonly infinity?: boolean;
  readonly exclusiveMin?: boolean;
}

/** Throws ConfigError unless `value` is a number within the rule. */
export function checkNumber(field: string, value: unknown, rule: NumberRule): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (rule.infinity === true && value === Infinity)) &&
    (rule.exclusiveMin === true ? value > rule.min : value >= rule.min) &&
    (rule.integer !== true || !Number.isFinite(value) || Number.isInteger(value));
  if (!ok) {
    const kind = `${rule.integer === true ? 'an integer' : 'a finite number'} ${rule.exclusiveMin === true ? '>' : '>='} ${rule.min}${rule.infinity === true ? ' (or Infinity)' : ''}`;
    throw new ConfigError(`Expected \`${field}\` to be ${kind}, got ${describe(value)}`);
  }
  return value as number;
}

function checkKeyString(field: string, key: unknown): string {
  if (typeof key !== 'string') throw new ConfigError(`Expected \`${field}\` to be an API key string, got ${describe(key)}`);
  const k = unquote(key.trim());
  if (k === '') throw new ConfigError(`\`${field}\` is empty: give an API key such as sk-...`);
  // Never echo the key: say what is wrong with it instead.
  if (/[\s,;]/.test(k)) throw new ConfigError(`\`${field}\` is malformed: it contains whitespace, a comma or a \`;\` (one key per entry)`);
  if (/^[A-Z_][A-Z0-9_]*=/.test(k)) throw new ConfigError(`\`${field}\` is malformed: it starts with a variable name and \`=\` (a line of a .env file?): give the value only`);
  if (/[^\x21-\x7e]/.test(k)) throw new ConfigError(`\`${field}\` is malformed: it contains characters that are not printable ASCII`);
  if (k.length < 8) throw new ConfigError(`\`${field}\` is malformed: ${k.length} characters is too short for an API key`);
  return k;
}

/** The pool sets each client's key, base URL and retries itself: the same given here would be ignored silently. */
function checkClientOptions(clientOptions: KimiPoolOptions['clientOptions']): void {
  if (clientOptions === undefined || clientOptions === null) return;
  const instead: Record<string, string> = {
    apiKey: 'give keys in `keys` (or KIMI_API_KEYS)',
    baseURL: 'set `baseURL` (or KIMI_BASE_URL, or `KeyConfig.baseURL`)',
    maxRetries: 'the pool retries itself: set `retries`',
  };
  for (const [name, fix] of Object.entries(instead)) {
    if ((clientOptions as Record<string, unknown>)[name] !== undefined) throw new ConfigError(`\`clientOptions.${name}\` is set by the pool for each key and would be ignored: ${fix}`);
  }
}

function checkURL(field: string, url: unknown): void {
  if (typeof url !== 'string' || !/^https?:\/\/\S+$/.test(url)) throw new ConfigError(`Expected \`${field}\` to be an http(s) URL such as ${DEFAULT_BASE_URL}, got ${describe(url)}`);
}

function checkTier(field: string, tier: unknown): TierName {
  if (!isTierName(tier)) {
    throw new ConfigError(`Unknown tier ${describe(tier)} in \`${field}\`: expected one of ${Object.keys(TIERS).join(', ')}`);
  }
  return tier;
}

function checkOverrides(field: string, o: LimitOverrides): void {
  for (const f of LIMIT_FIELDS) {
    if (o[f] !== undefined) checkNumber(`${field}.${f}`, o[f], { min: 0, exclusiveMin: true, integer: true, infinity: true });
  }
}

function toKeyConfigs(keys: KimiPoolOptions['keys'], source: string): { entries: KeyConfig[]; field: (i: number) => string } {
  if (keys === undefined || keys === null) {
    throw new ConfigError('No keys: set `keys` to a list such as "sk-a,sk-b", an array of keys or of KeyConfig objects, or set KIMI_API_KEYS');
  }
  if (typeof keys === 'string') {
    const parts = splitKeyList(keys, source);
    if (parts.length === 0) throw new ConfigError(`No keys: \`${source}\` is an empty string${source === 'keys' ? ' (is KIMI_API_KEYS set?)' : ''}`);
    return { entries: parts.map((key) => ({ key })), field: (i) => `${source}[${i}]` };
  }
  if (!Array.isArray(keys)) throw new ConfigError(`Expected \`keys\` to be a string or an array, got ${describe(keys)}`);
  if (keys.length === 0) throw new ConfigError('No keys: `keys` is an empty array');
  const entries = keys.map((k: unknown, i: number): KeyConfig => {
    if (typeof k === 'string') return { key: k };
    if (k !== null && typeof k === 'object' && 'key' in k) {
      refuseUnknown(k, KEY_OPTIONS, `keys[${i}].`);
      return k as KeyConfig;
    }
    throw new ConfigError(`Expected \`keys[${i}]\` to be a key string or { key, ... }, got ${describe(k)}`);
  });
  return { entries, field: (i) => (typeof keys[i] === 'string' ? `keys[${i}]` : `keys[${i}].key`) };
}

/** Validates the options and groups keys into accounts with resolved limits. */
export function resolveConfig(options: KimiPoolOptions): ResolvedConfig {
  if (options === null || typeof options !== 'object') throw new ConfigError(`Expected options to be an object, got ${describe(options)}`);
  refuseUnknown(options, POOL_OPTIONS, '');
  checkClientOptions(options.clientOptions);
  const poolTier = checkTier('tier', options.tier ?? 'tier0');
  // As the openai client does, the environment fills in what the options leave out.
  const envURL = process.env.KIMI_BASE_URL?.trim() || undefined;
  const baseURL = options.baseURL ?? envURL ?? DEFAULT_BASE_URL;
  const urlField = options.baseURL === undefined && envURL !== undefined ? 'KIMI_BASE_URL' : 'baseURL';
  checkURL(urlField, baseURL);
  const windowMs = checkNumber('windowMs', options.windowMs ?? 60_000, { min: 0, exclusiveMin: true });
  const safetyMarginMs = checkNumber('safetyMarginMs', options.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS, { min: 0 });
  const retries = checkNumber('retries', options.retries ?? 5, { min: 0, integer: true });
  const retryBaseMs = checkNumber('retryBaseMs', options.retryBaseMs ?? 500, { min: 0 });
  const retryMaxMs = checkNumber('retryMaxMs', options.retryMaxMs ?? 30_000, { min: retryBaseMs });
  const maxRateLimitBounces = checkNumber('maxRateLimitBounces', options.maxRateLimitBounces ?? 10, { min: 0, integer: true, infinity: true });
  const defaultMaxTokens = checkNumber('defaultMaxTokens', options.defaultMaxTokens ?? DEFAULT_MAX_TOKENS, { min: 0, integer: true });
  const idleTimeoutMs = checkNumber('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS, { min: 0, exclusiveMin: true, infinity: true });
  const attemptTimeoutMs = checkNumber('attemptTimeoutMs', options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS, { min: 0, exclusiveMin: true, infinity: true });
  const maxRetryAfterMs = checkNumber('maxRetryAfterMs', options.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS, { min: 0, infinity: true });

  const fromEnv = options.keys === undefined && process.env.KIMI_API_KEYS !== undefined;
  const { entries, field } = toKeyConfigs(fromEnv ? process.env.KIMI_API_KEYS : options.keys, fromEnv ? 'KIMI_API_KEYS' : 'keys');
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  const keys: ResolvedKey[] = [];
  const byAccount = new Map<string, { keys: ResolvedKey[]; configs: { cfg: KeyConfig; i: number }[] }>();
  entries.forEach((cfg, i) => {
    const apiKey = checkKeyString(field(i), cfg.key);
    const dup = seen.get(apiKey);
    if (dup !== undefined) throw new ConfigError(`\`keys[${i}]\` is the same key as \`keys[${dup}]\` (${fingerprint(apiKey)}): list each key once`);
    seen.set(apiKey, i);
    if (cfg.id !== undefined && (typeof cfg.id !== 'string' || cfg.id === '')) throw new ConfigError(`Expected \`keys[${i}].id\` to be a non-empty string, got ${describe(cfg.id)}`);
    const id = cfg.id ?? fingerprint(apiKey);
    if (ids.has(id)) throw new ConfigError(`\`keys[${i}].id\` "${id}" is used by another key: ids must be unique`);
    ids.add(id);
    if (cfg.account !== undefined && (typeof cfg.account !== 'string' || cfg.account === '')) throw new ConfigError(`Expected \`keys[${i}].account\` to be a non-empty string, got ${describe(cfg.account)}`);
    if (cfg.tier !== undefined) checkTier(`keys[${i}].tier`, cfg.tier);
    if (cfg.baseURL !== undefined) checkURL(`keys[${i}].baseURL`, cfg.baseURL);
    checkOverrides(`keys[${i}]`, cfg);
    const key: ResolvedKey = { apiKey, id, account: cfg.account ?? id, baseURL: cfg.baseURL ?? baseURL };
    keys.push(key);
    let group = byAccount.get(key.account);
    if (group === undefined) byAccount.set(key.account, (group = { keys: [], configs: [] }));
    group.keys.push(key);
    group.configs.push({ cfg, i });
  });

  const accountOptions = options.accounts ?? {};
  for (const id of Object.keys(accountOptions)) {
    if (!byAccount.has(id)) throw new ConfigError(`\`accounts.${id}\` names an account that no key belongs to: set \`account: '${id}'\` on its keys`);
    const a = accountOptions[id] ?? {};
    refuseUnknown(a, ACCOUNT_OPTIONS, `accounts.${id}.`);
    if (a.tier !== undefined) checkTier(`accounts.${id}.tier`, a.tier);
    checkOverrides(`accounts.${id}`, a);
  }

  const accounts: ResolvedAccount[] = [];
  for (const [id, group] of byAccount) {
    const acct = accountOptions[id] ?? {};
    // A value set in several places for one account must be the same everywhere.
    const agree = <K extends 'tier' | (typeof LIMIT_FIELDS)[number]>(f: K): KeyConfig[K] | undefined => {
      let value: KeyConfig[K] | undefined = acct[f] as KeyConfig[K] | undefined;
      let where = value === undefined ? '' : `accounts.${id}.${f}`;
      for (const { cfg, i } of group.configs) {
        const v = cfg[f];
        if (v === undefined) continue;
        if (value !== undefined && v !== value) {
          throw new ConfigError(`Account "${id}" has ${f} ${String(value)} in \`${where}\` but ${String(v)} in \`keys[${i}].${f}\`: keys of one account share its limits, so set them once (e.g. in \`accounts.${id}\`)`);
        }
        value = v;
        where = `keys[${i}].${f}`;
      }
      return value;
    };
    const tier = (agree('tier') as TierName | undefined) ?? poolTier;
    const base = TIERS[tier];
    const limits: Limits = {
      concurrency: agree('concurrency') ?? base.concurrency,
      rpm: agree('rpm') ?? base.rpm,
      tpm: agree('tpm') ?? base.tpm,
      tpd: agree('tpd') ?? base.tpd,
    };
    accounts.push({ id, limits, tier, keys: group.keys });
  }
  return { keys, accounts, windowMs, safetyMarginMs, retries, retryBaseMs, retryMaxMs, maxRateLimitBounces, defaultMaxTokens, idleTimeoutMs, attemptTimeoutMs, maxRetryAfterMs };
}
