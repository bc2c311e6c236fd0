/**
 * Prices per model, shared by `stats()`, the metrics exporters and the batch
 * runner. Prices are per 1,000,000 tokens in the table's currency. A model the
 * table does not name has no price: {@link costOf} answers `undefined`, never 0.
 */
import { ConfigError } from './errors.js';
import { readJsonFile } from './json-file.js';

/** One model's price, per 1,000,000 tokens. */
export interface ModelPrice {
  /** Prompt tokens not served from Kimi's context cache. */
  readonly input: number;
  /** Prompt tokens served from the cache (`usage.cached_tokens`); defaults to `input`. */
  readonly cachedInput?: number;
  /** Completion tokens. */
  readonly output: number;
}

/** A price table: one currency, prices per model id. */
export interface PriceTable {
  /** ISO 4217 code, e.g. `USD` (api.moonshot.ai) or `CNY` (api.moonshot.cn). */
  readonly currency: string;
  /** Where the figures come from and when they were read (shown in summaries). */
  readonly source?: string;
  readonly models: Readonly<Record<string, ModelPrice>>;
}

/** Token usage as Kimi reports it (`usage` of a completion). */
export interface TokenUsage {
  readonly prompt_tokens?: number | null;
  readonly completion_tokens?: number | null;
  /** Kimi's top-level field; OpenAI's `prompt_tokens_details.cached_tokens` is read too. */
  readonly cached_tokens?: number | null;
  readonly prompt_tokens_details?: { readonly cached_tokens?: number | null } | null;
}

/**
 * Kimi's list prices on the global platform (USD per 1M tokens, standard
 * real-time API, as listed on platform.moonshot.ai's pricing pages in 2026).
 * Prices change and differ by platform: pass your own table (see
 * {@link loadPriceTable}) for billing; models without a listed price here
 * (kimi-k3, kimi-k2.6, kimi-latest) report "no price".
 */
export const KIMI_PRICES_USD: PriceTable = {
  currency: 'USD',
  source: 'platform.moonshot.ai list prices, read 2026; override with a price file',
  models: {
    'kimi-k2.5': { input: 0.6, cachedInput: 0.1, output: 3.0 },
    'kimi-k2-0905-preview': { input: 0.6, cachedInput: 0.15, output: 2.5 },
    'kimi-k2-0711-preview': { input: 0.6, cachedInput: 0.15, output: 2.5 },
    'kimi-k2-turbo-preview': { input: 1.15, cachedInput: 0.15, output: 8.0 },
    'kimi-k2-thinking': { input: 0.6, cachedInput: 0.15, output: 2.5 },
    'kimi-k2-thinking-turbo': { input: 1.15, cachedInput: 0.15, output: 8.0 },
    'moonshot-v1-8k': { input: 0.2, output: 2.0 },
    'moonshot-v1-32k': { input: 1.0, output: 3.0 },
    'moonshot-v1-128k': { input: 2.0, output: 5.0 },
  },
};

/** Cached prompt tokens from either field Kimi has used. */
export function cachedTokensOf(usage: TokenUsage): number {
  return usage.cached_tokens ?? usage.prompt_tokens_details?.cached_tokens ?? 0;
}

/**
 * The cost of one response's usage, in `table.currency`; `undefined` when the
 * table has no price for `model` (never 0: an unknown price is not free).
 */
export function costOf(table: PriceTable, model: string, usage: TokenUsage): number | undefined {
  const price = table.models[model];
  if (price === undefined) return undefined;
  const prompt = usage.prompt_tokens ?? 0;
  const cached = Math.min(prompt, cachedTokensOf(usage));
  const completion = usage.completion_tokens ?? 0;
  return ((prompt - cached) * price.input + cached * (price.cachedInput ?? price.input) + completion * price.output) / 1_000_000;
}

/**
 * Checks a price table given as plain data (a parsed JSON file).
 * @throws {ConfigError} naming the field and the value at fault.
 */
export function parsePriceTable(data: unknown, where = 'price table'): PriceTable {
  const obj = data as { currency?: unknown; source?: unknown; models?: unknown } | null;
  if (obj === null || typeof obj !== 'object') throw new ConfigError(`${where}: expected an object { currency, models }, got ${JSON.stringify(data)}`);
  if (typeof obj.currency !== 'string' || !/^[A-Z]{3}$/.test(obj.currency)) {
    throw new ConfigError(`${where}: \`currency\` must be a 3-letter ISO 4217 code such as "USD" or "CNY", got ${JSON.stringify(obj.currency)}`);
  }
  if (obj.models === null || typeof obj.models !== 'object') throw new ConfigError(`${where}: \`models\` must be an object of { input, cachedInput?, output } per model id`);
  const models: Record<string, ModelPrice> = {};
  for (const [model, p] of Object.entries(obj.models as Record<string, unknown>)) {
    const price = p as Record<string, unknown> | null;
    for (const field of ['input', 'output', 'cachedInput'] as const) {
      const v = price?.[field];
      if (v === undefined && field === 'cachedInput') continue;
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new ConfigError(`${where}: \`models["${model}"].${field}\` must be a price per 1M tokens >= 0, got ${JSON.stringify(v)}`);
      }
    }
    models[model] = { input: price?.input as number, output: price?.output as number, ...(price?.cachedInput === undefined ? {} : { cachedInput: price.cachedInput as number }) };
  }
  return { currency: obj.currency, ...(typeof obj.source === 'string' ? { source: obj.source } : {}), models };
}

/**
 * Reads a JSON price table from a file.
 * @throws {ConfigError} when the file cannot be read or parsed, or a price is invalid.
 */
export function loadPriceTable(path: string): PriceTable {
  return parsePriceTable(readJsonFile(path, 'price'), path);
}
