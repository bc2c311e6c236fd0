import type * as Prom from 'prom-client';
import type { KimiPool } from '../kimi-pool.js';
import type { FailedEvent, StartEvent, SuccessEvent } from '../events.js';
import { listen } from './listen.js';
import { loadPeer } from './peer.js';
import { FAULT_KINDS, NO_KEY, RATE_LIMIT_KINDS, remaining, REMAINING_LIMITS, scrapeSnapshot, TOKEN_TYPES, UNKNOWN_MODEL } from './snapshot.js';

/** Options of {@link prometheusMetrics}. */
export interface PrometheusMetricsOptions {
  /** Where the metrics are registered. @default prom-client's global `register` */
  readonly registry?: Prom.Registry;
  /** Prepended to every metric name. @default 'kimi_pool_' */
  readonly prefix?: string;
  /** Bucket bounds of the latency histograms, in seconds. @default 5 ms to 5 min, roughly doubling */
  readonly buckets?: readonly number[];
}

/** The exporter: its registry, and a way to stop it. */
export interface PrometheusMetrics {
  readonly registry: Prom.Registry;
  /** Stops listening to the pool and removes the metrics from the registry. */
  close(): void;
}

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * Exposes a pool to Prometheus through prom-client (an optional peer
 * dependency, loaded by this call). Counters of requests, histograms of
 * queue wait, duration and time to first chunk follow the pool's events from
 * now on; 429s, retries, tokens, cost, queue depth, in-flight counts and
 * remaining limits are read from `pool.stats()` at each scrape, so they match
 * it exactly. Labels are account ids, key ids (never keys), model names and
 * fixed enums: see docs/metrics.md.
 *
 * @example
 * const { registry } = prometheusMetrics(pool);
 * http.createServer(async (_, res) => res.end(await registry.metrics())).listen(9464);
 * @throws {ConfigError} when prom-client is not installed.
 */
export function prometheusMetrics(pool: KimiPool, options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const prom = loadPeer<typeof Prom>('prom-client', 'prometheusMetrics()');
  const registry = options.registry ?? prom.register;
  const p = options.prefix ?? 'kimi_pool_';
  const buckets = [...(options.buckets ?? DEFAULT_BUCKETS)];
  const registers = [registry];
  const stats = scrapeSnapshot(pool);
  const names: string[] = [];
  const n = (name: string): string => {
    names.push(p + name);
    return p + name;
  };

  // ---- from events: one observation per request or attempt
  const requests = new prom.Counter({ name: n('requests_total'), help: 'Requests settled, once each: outcome succeeded or failed (key "none": failed before any key took it).', labelNames: ['account', 'key', 'outcome'] as const, registers });
  const queueWait = new prom.Histogram({ name: n('queue_wait_seconds'), help: 'Time an attempt waited in the queue before it started (from submission, a retry or a 429 bounce).', buckets, registers });
  const duration = new prom.Histogram({ name: n('request_duration_seconds'), help: 'Duration of successful attempts, start to response (streams: to their last chunk).', labelNames: ['model'] as const, buckets, registers });
  const firstChunk = new prom.Histogram({ name: n('time_to_first_chunk_seconds'), help: 'Streams: time from the attempt start to the first chunk.', labelNames: ['model'] as const, buckets, registers });

  // ---- from stats() at scrape time: exactly what stats() says
  new prom.Counter({
    name: n('rate_limited_total'), help: '429s by kind: rpm, tpm, tpd, concurrency, unknown (rate_limit_reached_error without a known limit), overloaded, quota.',
    labelNames: ['account', 'dimension'] as const, registers,
    collect() {
      this.reset();
      for (const a of stats().accounts) for (const d of RATE_LIMIT_KINDS) this.inc({ account: a.id, dimension: d }, a.tooManyRequests[d]);
    },
  });
  new prom.Counter({
    name: n('retries_total'), help: 'Retries after transient faults (overload 429, 5xx, connection errors).', labelNames: ['account'] as const, registers,
    collect() {
      this.reset();
      for (const a of stats().accounts) this.inc({ account: a.id }, a.retries);
    },
  });
  new prom.Counter({
    name: n('faults_total'), help: 'Failed attempts by kind: server (5xx), connection, auth (401, key disabled), quota (account disabled).', labelNames: ['account', 'kind'] as const, registers,
    collect() {
      this.reset();
      for (const a of stats().accounts) for (const [kind, field] of Object.entries(FAULT_KINDS)) this.inc({ account: a.id, kind }, a[field]);
    },
  });
  new prom.Counter({
    name: n('tokens_total'), help: 'Tokens of successful responses (usage): prompt, completion, cached (cached is part of prompt).', labelNames: ['account', 'model', 'type'] as const, registers,
    collect() {
      this.reset();
      for (const u of stats().usage.byAccount) {
        const by = { prompt: u.promptTokens, completion: u.completionTokens, cached: u.cachedTokens };
        for (const type of TOKEN_TYPES) this.inc({ account: u.account, model: u.model, type }, by[type]);
      }
    },
  });
  new prom.Counter({
    name: n('cost_total'), help: 'Cost of successful responses in the price table currency; no series for a model without a price (unknown, not 0).', labelNames: ['account', 'model', 'currency'] as const, registers,
    collect() {
      this.reset();
      const s = stats().usage;
      for (const u of s.byAccount) if (u.cost !== null) this.inc({ account: u.account, model: u.model, currency: s.currency }, u.cost);
    },
  });
  new prom.Gauge({
    name: n('queued'), help: 'Requests waiting to start (queued or backing off).', registers,
    collect() {
      this.set(stats().queued);
    },
  });
  new prom.Gauge({
    name: n('in_flight'), help: 'Requests running (streams being read included), per account.', labelNames: ['account'] as const, registers,
    collect() {
      for (const a of stats().accounts) this.set({ account: a.id }, a.inFlight);
    },
  });
  new prom.Gauge({
    name: n('limit'), help: 'Limits in force per account (after any learned from 429s); +Inf = unlimited.', labelNames: ['account', 'limit'] as const, registers,
    collect() {
      for (const a of stats().accounts) for (const [limit, v] of Object.entries(a.limits)) this.set({ account: a.id, limit }, v ?? Infinity);
    },
  });
  new prom.Gauge({
    name: n('limit_remaining'), help: 'What the account could still start in the current window, per limit (concurrency, rpm in requests; tpm in tokens); 0 while paused or disabled, +Inf if unlimited.', labelNames: ['account', 'limit'] as const, registers,
    collect() {
      for (const a of stats().accounts) {
        const r = remaining(a);
        for (const limit of REMAINING_LIMITS) this.set({ account: a.id, limit }, r[limit]);
      }
    },
  });
  new prom.Gauge({
    name: n('account_paused_seconds'), help: 'Seconds until the account\'s pause after a 429 ends (0 = not paused).', labelNames: ['account'] as const, registers,
    collect() {
      for (const a of stats().accounts) this.set({ account: a.id }, (a.pausedForMs ?? 0) / 1000);
    },
  });
  new prom.Gauge({
    name: n('key_usable'), help: '1 while a key takes requests, 0 once disabled (401, or its account suspended).', labelNames: ['account', 'key'] as const, registers,
    collect() {
      const dead = new Set(stats().accounts.filter((a) => a.disabled).map((a) => a.id));
      for (const k of stats().keys) this.set({ account: k.account, key: k.id }, k.disabled || dead.has(k.account) ? 0 : 1);
    },
  });

  const onStart = (e: StartEvent): void => queueWait.observe(e.waitedMs / 1000);
  const onSuccess = (e: SuccessEvent): void => {
    requests.inc({ account: e.account, key: e.key, outcome: 'succeeded' });
    const model = e.model ?? UNKNOWN_MODEL;
    duration.observe({ model }, e.durationMs / 1000);
    if (e.firstChunkMs !== undefined) firstChunk.observe({ model }, e.firstChunkMs / 1000);
  };
  const onFailed = (e: FailedEvent): void => {
    requests.inc({ account: e.account ?? NO_KEY, key: e.key ?? NO_KEY, outcome: 'failed' });
  };
  const stop = listen(pool, { start: onStart, success: onSuccess, failed: onFailed });

  return {
    registry,
    close() {
      stop();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
