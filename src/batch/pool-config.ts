/**
 * The pool options of `kimi-pool batch`: a JSON file (`--config`) of
 * {@link KimiPoolOptions}, keys from it or from `KIMI_API_KEYS` (never from the
 * command line, where `ps` and shell history would show them). JSON has no
 * Infinity: `null` in a limit means unlimited.
 */
import { readJsonFile } from '../json-file.js';
import { ConfigError } from '../errors.js';
import type { KimiPoolOptions } from '../options.js';

/** Fields a config file may set: the pool's plain-data options. */
const FIELDS = ['keys', 'tier', 'accounts', 'baseURL', 'windowMs', 'safetyMarginMs', 'retries', 'retryBaseMs', 'retryMaxMs', 'maxRateLimitBounces', 'defaultMaxTokens'] as const;
const LIMITS = ['concurrency', 'rpm', 'tpm', 'tpd'];

type JsonOptions = { -readonly [K in (typeof FIELDS)[number]]?: KimiPoolOptions[K] };

function nullsToInfinity(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null && LIMITS.includes(k) ? Infinity : v]));
}

/**
 * Reads a pool config file.
 * @throws {ConfigError} when it cannot be read, is not JSON, or names an unknown field.
 */
export function loadPoolConfig(path: string): JsonOptions {
  const data = readJsonFile(path, 'config');
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`The config file ${path} must hold a JSON object of pool options`);
  const raw = data as Record<string, unknown>;
  for (const field of Object.keys(raw)) {
    if (!(FIELDS as readonly string[]).includes(field)) throw new ConfigError(`${path}: unknown field \`${field}\`; allowed: ${FIELDS.join(', ')}`);
  }
  const out: Record<string, unknown> = { ...raw };
  if (Array.isArray(raw.keys)) out.keys = raw.keys.map(nullsToInfinity);
  if (raw.accounts !== null && typeof raw.accounts === 'object') {
    out.accounts = Object.fromEntries(Object.entries(raw.accounts).map(([id, a]) => [id, nullsToInfinity(a)]));
  }
  return out as JsonOptions;
}

/**
 * The pool options for a batch: the config file's, keys from it or from the
 * environment's `KIMI_API_KEYS` (one place only), `baseURL` overridden by `--base-url`.
 * @throws {ConfigError} when there are no keys or keys in both places.
 */
export function batchPoolOptions(config: JsonOptions, env: NodeJS.ProcessEnv, baseURL: string | undefined): KimiPoolOptions {
  const envKeys = env.KIMI_API_KEYS?.trim();
  if (envKeys && config.keys !== undefined) {
    throw new ConfigError('Keys are set both in KIMI_API_KEYS and in the config file\'s `keys`: use one of them');
  }
  const keys = config.keys ?? (envKeys || undefined);
  if (keys === undefined) throw new ConfigError('No API keys: set KIMI_API_KEYS (comma-separated) or `keys` in a --config file');
  return { ...config, keys, ...(baseURL === undefined ? {} : { baseURL }) };
}
