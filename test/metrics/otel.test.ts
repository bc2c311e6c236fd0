/**
 * otelMetrics and otelTracing with the OpenTelemetry SDK's in-memory exporters:
 * GenAI instruments beside the pool's own, agreeing with stats(); one span
 * per request with its attempts and 429s as events.
 */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { KimiPool, RequestTimeoutError } from '../../src/index.js';
import { otelMetrics, otelTracing, REQUEST_SPAN } from '../../src/metrics/index.js';
import { PRICED, startWorkload, type Workload } from './workload.js';

let w: Workload | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

type Point = { attributes: Record<string, unknown>; value: unknown };

function points(metrics: readonly MetricData[], name: string): Point[] {
  const m = metrics.find((x) => x.descriptor.name === name);
  if (m === undefined) throw new Error(`no metric ${name}; got ${metrics.map((x) => x.descriptor.name).join(', ')}`);
  return m.dataPoints as Point[];
}

/** Sum of counter values, or of histogram counts, over the points whose attributes include `where`. */
function total(metrics: readonly MetricData[], name: string, where: Record<string, unknown> = {}, field: 'count' | 'sum' = 'count'): number {
  const m = metrics.find((x) => x.descriptor.name === name);
  let n = 0;
  for (const p of points(metrics, name)) {
    if (!Object.entries(where).every(([k, v]) => p.attributes[k] === v)) continue;
    n += m?.dataPointType === DataPointType.HISTOGRAM ? (p.value as { count: number; sum: number })[field] : (p.value as number);
  }
  return n;
}

describe('otelMetrics', () => {
  it('records GenAI and pool instruments that agree with stats()', async () => {
    w = await startWorkload();
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    otelMetrics(w.pool, { meter: provider.getMeter('test') });
    const { settled } = await w.run(24);
    // Streams are every fourth request (see workload.ts).
    const streamed = settled.filter((s, i) => i % 4 === 0 && s.status === 'fulfilled').length;
    await reader.forceFlush();
    const metrics = exporter.getMetrics().at(-1)?.scopeMetrics[0]?.metrics ?? [];
    const stats = w.pool.stats();

    // GenAI conventions: one duration per success, input and output tokens per success.
    expect(total(metrics, 'gen_ai.client.operation.duration')).toBe(stats.succeeded);
    expect(total(metrics, 'gen_ai.client.operation.duration', { 'gen_ai.provider.name': 'moonshot', 'gen_ai.operation.name': 'chat' })).toBe(stats.succeeded);
    const input = stats.usage.models.reduce((n, m) => n + m.promptTokens, 0);
    const output = stats.usage.models.reduce((n, m) => n + m.completionTokens, 0);
    expect(total(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'input' }, 'sum')).toBe(input);
    expect(total(metrics, 'gen_ai.client.token.usage', { 'gen_ai.token.type': 'output' }, 'sum')).toBe(output);
    expect(total(metrics, 'gen_ai.client.operation.time_to_first_chunk')).toBe(streamed);

    // The pool's own instruments.
    expect(total(metrics, 'kimi_pool.requests', { 'kimi_pool.outcome': 'succeeded' })).toBe(stats.succeeded);
    for (const a of stats.accounts) {
      for (const d of ['rpm', 'overloaded', 'quota', 'concurrency'] as const) {
        expect(total(metrics, 'kimi_pool.rate_limited', { 'kimi_pool.account': a.id, 'kimi_pool.dimension': d })).toBe(a.tooManyRequests[d]);
      }
      expect(total(metrics, 'kimi_pool.tokens', { 'kimi_pool.account': a.id, 'kimi_pool.token.type': 'cached' })).toBe(a.cachedTokens);
    }
    expect(total(metrics, 'kimi_pool.rate_limited')).toBeGreaterThan(0);
    const cost = stats.usage.models.find((m) => m.model === PRICED)?.cost as number;
    expect(total(metrics, 'kimi_pool.cost', { 'gen_ai.response.model': PRICED, 'kimi_pool.currency': 'USD' })).toBeCloseTo(cost, 12);
    expect(metrics.find((m) => m.descriptor.name === 'kimi_pool.cost')?.descriptor.unit).toBe('{USD}');
    expect(total(metrics, 'kimi_pool.queued')).toBe(0);
    expect(total(metrics, 'kimi_pool.queue.wait')).toBe(stats.keys.reduce((n, k) => n + k.started, 0));
    await provider.shutdown();
  }, 60_000);
});

describe('otelTracing', () => {
  it('ends one span per request, child of the caller, with attempts and 429s as events', async () => {
    w = await startWorkload();
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('test');
    otelTracing(w.pool, { tracer });
    const contexts = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contexts);
    const parent = tracer.startSpan('job');
    const { settled } = await context.with(trace.setSpan(context.active(), parent), () => w!.run(24));
    parent.end();
    context.disable();
    const spans = exporter.getFinishedSpans().filter((s) => s.name === REQUEST_SPAN);
    expect(spans).toHaveLength(settled.length);
    const stats = w.pool.stats();

    // Each request's span is a child of the span active where it was submitted.
    for (const s of spans) expect(s.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    const events = spans.flatMap((s) => s.events.map((e) => e.name));
    expect(events.filter((e) => e === 'kimi_pool.attempt')).toHaveLength(stats.keys.reduce((n, k) => n + k.started, 0));
    expect(events.filter((e) => e === 'kimi_pool.rate_limited')).toHaveLength(stats.bounces);
    expect(events.filter((e) => e === 'kimi_pool.retry')).toHaveLength(stats.retries);
    expect(stats.bounces).toBeGreaterThan(0);
    const ok = spans.filter((s) => s.status.code === 1);
    expect(ok).toHaveLength(stats.succeeded);
    for (const s of ok) {
      expect(s.attributes['gen_ai.usage.input_tokens']).toBeGreaterThan(0);
      expect(typeof s.attributes['gen_ai.response.model']).toBe('string');
    }
    await provider.shutdown();
  }, 60_000);
});

describe('otelTracing close()', () => {
  it('ends the spans of requests still running, marked, and records no more', async () => {
    const pool = new KimiPool({ keys: 'sk-trace-close-0001', tier: 'tier5' });
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracing = otelTracing(pool, { tracer: provider.getTracer('test') });
    let finish: (v: string) => void = () => undefined;
    const running = pool.schedule(() => new Promise<string>((resolve) => (finish = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    tracing.close();
    const [span] = exporter.getFinishedSpans();
    expect(span?.events.map((e) => e.name)).toEqual(['kimi_pool.attempt', 'kimi_pool.tracing_closed']);
    finish('done');
    await running;
    await pool.schedule(() => 'later');
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    await pool.close();
    await provider.shutdown();
  });

  it('marks a failed request ERROR with the pool error code', async () => {
    const pool = new KimiPool({ keys: 'sk-trace-fail-00001', tier: 'tier5' });
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    otelTracing(pool, { tracer: provider.getTracer('test') });
    // A task that ends only when aborted: the request's timeout fails it.
    const task = ({ signal }: { signal: AbortSignal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    await expect(pool.schedule(task, { timeout: 20 })).rejects.toBeInstanceOf(RequestTimeoutError);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status.code).toBe(2);
    expect(span?.attributes['error.type']).toBe(new RequestTimeoutError(20).code);
    expect(span?.events.map((e) => e.name)).toContain('exception');
    await pool.close();
    await provider.shutdown();
  });
});
