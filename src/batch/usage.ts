/** Tokens and cost of the answers of a run, per model, priced from a {@link PriceTable}. */
import { cachedTokensOf, costOf, type PriceTable, type TokenUsage } from '../pricing.js';
import type { ModelUsageStats } from '../stats.js';

/** Tokens and cost of one model's answers (the shape `stats().usage` uses too). */
export type ModelUsage = ModelUsageStats;

interface Tally {
  requests: number;
  prompt: number;
  completion: number;
  cached: number;
  cost: number;
}

export class UsageTally {
  private readonly models = new Map<string, Tally>();

  constructor(private readonly prices: PriceTable) {}

  /** Adds one answer's usage (a missing usage counts the request only). */
  add(model: string, usage: TokenUsage | null | undefined): void {
    let t = this.models.get(model);
    if (t === undefined) this.models.set(model, (t = { requests: 0, prompt: 0, completion: 0, cached: 0, cost: 0 }));
    t.requests++;
    if (usage === null || usage === undefined) return;
    t.prompt += usage.prompt_tokens ?? 0;
    t.completion += usage.completion_tokens ?? 0;
    t.cached += Math.min(usage.prompt_tokens ?? 0, cachedTokensOf(usage));
    t.cost += costOf(this.prices, model, usage) ?? 0;
  }

  /** Per model, most requests first. */
  byModel(): ModelUsage[] {
    return [...this.models]
      .map(([model, t]) => ({
        model,
        requests: t.requests,
        promptTokens: t.prompt,
        completionTokens: t.completion,
        cachedTokens: t.cached,
        cost: Object.hasOwn(this.prices.models, model) ? t.cost : null,
      }))
      .sort((a, b) => b.requests - a.requests);
  }
}
