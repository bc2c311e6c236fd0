import { cachedTokensOf, costOf, type PriceTable, type TokenUsage } from '../pricing.js';
import type { ModelUsageStats, UsageStats } from '../stats.js';

/** Model name recorded when a response names none (e.g. a `schedule()` task's own result). */
export const UNKNOWN_MODEL = 'unknown';

/** Token usage and cost of one (account, model) pair; live, owned by {@link UsageBook}. */
export interface UsageEntry {
  readonly account: string;
  readonly model: string;
  /** Successful requests whose response carried a `usage`. */
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens served from Kimi's context cache (part of `promptTokens`). */
  cachedTokens: number;
  /** In the price table's currency; `undefined` when the table has no price for the model. */
  cost: number | undefined;
}

/**
 * Adds up the usage of successful responses per account and model, and prices
 * it with one price table. Entries are bounded by accounts x models.
 */
export class UsageBook {
  private readonly entries = new Map<string, UsageEntry>();

  constructor(readonly prices: PriceTable) {}

  /** Counts one response's usage; returns its cost (`undefined`: no price for the model). */
  record(account: string, model: string, usage: TokenUsage): number | undefined {
    const id = `${account}\u0000${model}`;
    let e = this.entries.get(id);
    if (e === undefined) {
      const priced = this.prices.models[model] !== undefined;
      e = { account, model, requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cost: priced ? 0 : undefined };
      this.entries.set(id, e);
    }
    const cost = costOf(this.prices, model, usage);
    e.requests++;
    e.promptTokens += usage.prompt_tokens ?? 0;
    e.completionTokens += usage.completion_tokens ?? 0;
    e.cachedTokens += cachedTokensOf(usage);
    if (cost !== undefined && e.cost !== undefined) e.cost += cost;
    return cost;
  }

  /** A JSON-serialisable summary per model (accounts added up). */
  stats(): UsageStats {
    const models = new Map<string, { -readonly [K in keyof ModelUsageStats]: ModelUsageStats[K] }>();
    for (const e of this.entries.values()) {
      const m = models.get(e.model) ?? { model: e.model, requests: 0, promptTokens: 0, completionTokens: 0, cachedTokens: 0, cost: e.cost === undefined ? null : 0 };
      m.requests += e.requests;
      m.promptTokens += e.promptTokens;
      m.completionTokens += e.completionTokens;
      m.cachedTokens += e.cachedTokens;
      if (m.cost !== null && e.cost !== undefined) m.cost += e.cost;
      models.set(e.model, m);
    }
    const list = [...models.values()];
    const unpricedModels = list.filter((m) => m.cost === null).map((m) => m.model);
    return {
      currency: this.prices.currency,
      priceSource: this.prices.source ?? null,
      models: list,
      byAccount: [...this.entries.values()].map((e) => ({ ...e, cost: e.cost ?? null })),
      cost: unpricedModels.length > 0 ? null : list.reduce((sum, m) => sum + (m.cost ?? 0), 0),
      unpricedModels,
    };
  }

  /** The live entries, one per (account, model) seen. */
  all(): IterableIterator<UsageEntry> {
    return this.entries.values();
  }
}

/** The `usage` of a response, if it has one. */
export function usageOf(value: unknown): TokenUsage | undefined {
  const usage = (value as { usage?: unknown } | null | undefined)?.usage;
  return usage !== null && typeof usage === 'object' ? (usage as TokenUsage) : undefined;
}

/** The `model` a response names, if any. */
export function modelOf(value: unknown): string | undefined {
  const model = (value as { model?: unknown } | null | undefined)?.model;
  return typeof model === 'string' && model !== '' ? model : undefined;
}
