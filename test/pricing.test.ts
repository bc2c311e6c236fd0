/** The price table: cost per model, "no price" for an unknown model, checked input. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { cachedTokensOf, costOf, KIMI_PRICES_USD, loadPriceTable, parsePriceTable } from '../src/pricing.js';

const table = parsePriceTable({ currency: 'USD', models: { m: { input: 1, cachedInput: 0.25, output: 4 }, plain: { input: 2, output: 3 } } });

describe('costOf', () => {
  it.each([
    ['prompt and completion', 'm', { prompt_tokens: 1_000_000, completion_tokens: 500_000 }, 1 + 2],
    ['cached prompt tokens at the cached price (Kimi field)', 'm', { prompt_tokens: 1_000_000, completion_tokens: 0, cached_tokens: 400_000 }, 0.6 + 0.1],
    ['cached prompt tokens at the cached price (OpenAI field)', 'm', { prompt_tokens: 1_000_000, prompt_tokens_details: { cached_tokens: 400_000 } }, 0.6 + 0.1],
    ['no cached price: the input price', 'plain', { prompt_tokens: 1_000_000, cached_tokens: 1_000_000 }, 2],
    ['more cached than prompt tokens: capped', 'm', { prompt_tokens: 100, cached_tokens: 1_000 }, 100 * 0.25 / 1e6],
    ['no usage fields', 'm', {}, 0],
  ])('%s', (_, model, usage, expected) => {
    expect(costOf(table, model, usage)).toBeCloseTo(expected, 12);
  });

  it('answers undefined, never 0, for a model without a price', () => {
    expect(costOf(table, 'kimi-k3', { prompt_tokens: 10, completion_tokens: 10 })).toBeUndefined();
    expect(costOf(KIMI_PRICES_USD, 'kimi-k3', { prompt_tokens: 10 })).toBeUndefined();
    expect(costOf(KIMI_PRICES_USD, 'kimi-k2.5', { prompt_tokens: 1_000_000 })).toBeGreaterThan(0);
  });

  it('reads cached tokens from either field', () => {
    expect(cachedTokensOf({ cached_tokens: 3 })).toBe(3);
    expect(cachedTokensOf({ prompt_tokens_details: { cached_tokens: 4 } })).toBe(4);
    expect(cachedTokensOf({})).toBe(0);
  });
});

describe('parsePriceTable', () => {
  it.each([
    [null, /expected an object \{ currency, models \}/],
    [{ currency: 'dollars', models: {} }, /`currency` must be a 3-letter ISO 4217 code .* got "dollars"/],
    [{ currency: 'USD' }, /`models` must be an object/],
    [{ currency: 'USD', models: { m: { input: -1, output: 1 } } }, /`models\["m"\].input` must be a price per 1M tokens >= 0, got -1/],
    [{ currency: 'USD', models: { m: { input: 1 } } }, /`models\["m"\].output` .* got undefined/],
    [{ currency: 'USD', models: { m: { input: 1, output: 1, cachedInput: 'x' } } }, /`models\["m"\].cachedInput` .* got "x"/],
  ])('refuses %j naming the field', (data, message) => {
    expect(() => parsePriceTable(data)).toThrow(ConfigError);
    expect(() => parsePriceTable(data)).toThrow(message);
  });
});

describe('loadPriceTable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kimi-pool-prices-'));
  it('reads a JSON file, and says which file is missing or not JSON', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ currency: 'CNY', source: 'test', models: { m: { input: 4, output: 16 } } }));
    expect(loadPriceTable(good)).toEqual({ currency: 'CNY', source: 'test', models: { m: { input: 4, output: 16 } } });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ not json');
    expect(() => loadPriceTable(bad)).toThrow(`The price file ${bad} is not valid JSON`);
    expect(() => loadPriceTable(join(dir, 'none.json'))).toThrow(/Cannot read the price file .*none\.json/);
  });
});
