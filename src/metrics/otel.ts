import type * as Api from '@opentelemetry/api';
import type { FailedEvent, StartEvent, SuccessEvent } from '../events.js';
import type { KimiPool } from '../kimi-pool.js';
import { listen } from './listen.js';
import { loadPeer } from './peer.js';
import { FAULT_KINDS, NO_KEY, RATE_LIMIT_KINDS, remaining, REMAINING_LIMITS, scrapeSnapshot, TOKEN_TYPES, UNKNOWN_MODEL } from './snapshot.js';

/** Options of {@link otelMetrics}. */
export interface OtelMetricsOptions {
  /** The meter to record with. @default `metrics.getMeter('kimi-pool')` of the global provider (a no-op until an SDK registers one) */
  readonly meter?: Api.Meter;
}

/** A running OpenTelemetry exporter. */
export interface OtelMetrics {
  /** Stops listening to the pool and observing its state. */
  close(): void;
}

/** GenAI semantic conventions: `gen_ai.provider.name` of Kimi, and the operation the chat front performs. */
export const GEN_AI_PROVIDER = 'moonshot';
const GEN_AI_OPERATION = 'chat';

/** Bucket advice of the GenAI conventions. */
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const SECONDS_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];

/**
 * Records the pool through `@opentelemetry/api` (an optional peer, loaded by
 * this call): the GenAI client conventions (`gen_ai.client.token.usage`,
 * `gen_ai.client.operation.duration`, `gen_ai.client.operation.time_to_first_chunk`)
 * for successful requests, and the pool's own `kimi_pool.*` instruments
 * beside them (requests, queue wait, and, observed from `pool.stats()` at each
 * collection, 429s, retries, faults, tokens, cost, queue depth, in-flight
 * counts, remaining limits). Attributes: docs/metrics.md.
 *
 * @throws {ConfigError} when @opentelemetry/api is not installed.
 */
export function otelMetrics(pool: KimiPool, options: OtelMetricsOptions = {}): OtelMetrics {
  const api = loadPeer<typeof Api>('@opentelemetry/api', 'otelMetrics()');
  const meter = options.meter ?? api.metrics.getMeter('kimi-pool');
  const stats = scrapeSnapshot(pool);

  const tokenUsage = meter.createHistogram('gen_ai.client.token.usage', { unit: '{token}', description: 'Input and output tokens of successful requests.', advice: { explicitBucketBoundaries: TOKEN_BUCKETS } });
  const duration = meter.createHistogram('gen_ai.client.operation.duration', { unit: 's', description: 'Duration of successful requests (their last attempt; streams to the last chunk).', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });
  const firstChunk = meter.createHistogram('gen_ai.client.operation.time_to_first_chunk', { unit: 's', description: 'Streams: time from the attempt start to the first chunk.', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });
  const requests = meter.createCounter('kimi_pool.requests', { unit: '{request}', description: 'Requests settled, once each (kimi_pool.outcome succeeded or failed).' });
  const queueWait = meter.createHistogram('kimi_pool.queue.wait', { unit: 's', description: 'Time an attempt waited in the queue before it started.', advice: { explicitBucketBoundaries: SECONDS_BUCKETS } });

  const rateLimited = meter.createObservableCounter('kimi_pool.rate_limited', { unit: '{response}', description: '429s by kind (kimi_pool.dimension).' });
  const retries = meter.createObservableCounter('kimi_pool.retries', { unit: '{retry}', description: 'Retries after transient faults.' });
  const faults = meter.createObservableCounter('kimi_pool.faults', { unit: '{response}', description: 'Failed attempts by kind: server, connection, auth, quota.' });
  const tokens = meter.createObservableCounter('kimi_pool.tokens', { unit: '{token}', description: 'Tokens of successful responses: prompt, completion, cached (part of prompt).' });
  const currency = pool.stats().usage.currency;
  const cost = meter.createObservableCounter('kimi_pool.cost', { unit: `{${currency}}`, description: 'Cost of successful responses in kimi_pool.currency; models without a price are left out (unknown, not 0).' });
  const queued = meter.createObservableGauge('kimi_pool.queued', { unit: '{request}', description: 'Requests waiting to start.' });
  const inFlight = meter.createObservableGauge('kimi_pool.in_flight', { unit: '{request}', description: 'Requests running, per account.' });
  const limitRemaining = meter.createObservableGauge('kimi_pool.limit.remaining', { unit: '1', description: 'What the account could still start in the current window, per limit (unlimited ones left out).' });
  const observables = [rateLimited, retries, faults, tokens, cost, queued, inFlight, limitRemaining];

  const observe: Api.BatchObservableCallback = (r) => {
    const s = stats();
    r.observe(queued, s.queued);
    for (const a of s.accounts) {
      const account = { 'kimi_pool.account': a.id };
      r.observe(inFlight, a.inFlight, account);
      r.observe(retries, a.retries, account);
      for (const d of RATE_LIMIT_KINDS) r.observe(rateLimited, a.tooManyRequests[d], { ...account, 'kimi_pool.dimension': d });
      for (const [kind, field] of Object.entries(FAULT_KINDS)) r.observe(faults, a[field], { ...account, 'kimi_pool.fault': kind });
      const left = remaining(a);
      for (const limit of REMAINING_LIMITS) if (Number.isFinite(left[limit])) r.observe(limitRemaining, left[limit], { ...account, 'kimi_pool.limit': limit });
    }
    for (const u of s.usage.byAccount) {
      const attrs = { 'kimi_pool.account': u.account, 'gen_ai.response.model': u.model };
      const by = { prompt: u.promptTokens, completion: u.completionTokens, cached: u.cachedTokens };
      for (const type of TOKEN_TYPES) r.observe(tokens, by[type], { ...attrs, 'kimi_pool.token.type': type });
      if (u.cost !== null) r.observe(cost, u.cost, { ...attrs, 'kimi_pool.currency': s.usage.currency });
    }
  };
  meter.addBatchObservableCallback(observe, observables);

  const genAi = (model: string | undefined) => ({ 'gen_ai.operation.name': GEN_AI_OPERATION, 'gen_ai.provider.name': GEN_AI_PROVIDER, 'gen_ai.response.model': model ?? UNKNOWN_MODEL });
  const onStart = (e: StartEvent): void => queueWait.record(e.waitedMs / 1000);
  const onSuccess = (e: SuccessEvent): void => {
    requests.add(1, { 'kimi_pool.account': e.account, 'kimi_pool.key': e.key, 'kimi_pool.outcome': 'succeeded' });
    const attrs = genAi(e.model);
    duration.record(e.durationMs / 1000, attrs);
    if (e.firstChunkMs !== undefined) firstChunk.record(e.firstChunkMs / 1000, attrs);
    if (e.usage !== undefined) {
      tokenUsage.record(e.usage.prompt_tokens ?? 0, { ...attrs, 'gen_ai.token.type': 'input' });
      tokenUsage.record(e.usage.completion_tokens ?? 0, { ...attrs, 'gen_ai.token.type': 'output' });
    }
  };
  const onFailed = (e: FailedEvent): void => {
    requests.add(1, { 'kimi_pool.account': e.account ?? NO_KEY, 'kimi_pool.key': e.key ?? NO_KEY, 'kimi_pool.outcome': 'failed' });
  };
  const stop = listen(pool, { start: onStart, success: onSuccess, failed: onFailed });
  return {
    close() {
      stop();
      meter.removeBatchObservableCallback(observe, observables);
    },
  };
}
