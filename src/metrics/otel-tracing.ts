import type * as Api from '@opentelemetry/api';
import type { FailedEvent, QueuedEvent, RateLimitedEvent, RetryEvent, StartEvent, SuccessEvent } from '../events.js';
import type { KimiPool } from '../kimi-pool.js';
import { KimiPoolError } from '../errors.js';
import { listen } from './listen.js';
import { loadPeer } from './peer.js';
import { GEN_AI_PROVIDER } from './otel.js';

/** Options of {@link otelTracing}. */
export interface OtelTracingOptions {
  /** The tracer to start spans with. @default `trace.getTracer('kimi-pool')` of the global provider (a no-op until an SDK registers one) */
  readonly tracer?: Api.Tracer;
}

/** A running span recorder. */
export interface OtelTracing {
  /** Stops recording; spans of requests still running end now, with a `kimi_pool.tracing_closed` event. */
  close(): void;
}

/** Span name of a pooled request. */
export const REQUEST_SPAN = 'kimi_pool.request';

/**
 * One span per request, from the moment it is queued until it settles, child
 * of the context active where it was submitted. Each attempt (`kimi_pool.attempt`,
 * with its key, account and queue wait), each backoff before a retry
 * (`kimi_pool.retry`) and each 429 that paused an account (`kimi_pool.rate_limited`)
 * is an event on it; it ends with the response's model and token usage
 * (`gen_ai.*` attributes), or with the error (status ERROR, `error.type`).
 *
 * @throws {ConfigError} when @opentelemetry/api is not installed.
 */
export function otelTracing(pool: KimiPool, options: OtelTracingOptions = {}): OtelTracing {
  const api = loadPeer<typeof Api>('@opentelemetry/api', 'otelTracing()');
  const tracer = options.tracer ?? api.trace.getTracer('kimi-pool');
  const spans = new Map<number, Api.Span>();

  const onQueued = (e: QueuedEvent): void => {
    const span = tracer.startSpan(REQUEST_SPAN, {
      kind: api.SpanKind.CLIENT,
      attributes: { 'gen_ai.provider.name': GEN_AI_PROVIDER, 'kimi_pool.request_id': e.requestId, 'kimi_pool.priority': e.priority, 'kimi_pool.reserved_tokens': e.tokens, 'kimi_pool.queued': e.queued },
    }, api.context.active());
    spans.set(e.requestId, span);
  };
  const onStart = (e: StartEvent): void => {
    spans.get(e.requestId)?.addEvent('kimi_pool.attempt', { 'kimi_pool.attempt': e.attempt, 'kimi_pool.key': e.key, 'kimi_pool.account': e.account, 'kimi_pool.queue_wait_ms': e.waitedMs });
  };
  const onRetry = (e: RetryEvent): void => {
    spans.get(e.requestId)?.addEvent('kimi_pool.retry', { 'kimi_pool.next_attempt': e.attempt, 'kimi_pool.delay_ms': e.delayMs, 'kimi_pool.key': e.key, 'error.type': e.error.code, 'kimi_pool.error': e.error.message });
  };
  const onRateLimited = (e: RateLimitedEvent): void => {
    spans.get(e.requestId)?.addEvent('kimi_pool.rate_limited', { 'kimi_pool.dimension': e.dimension, 'kimi_pool.paused_ms': e.pausedMs, 'kimi_pool.key': e.key, 'kimi_pool.account': e.account, 'kimi_pool.bounces': e.bounces });
  };
  const onSuccess = (e: SuccessEvent): void => {
    const span = spans.get(e.requestId);
    if (span === undefined) return;
    spans.delete(e.requestId);
    span.setAttributes({ 'kimi_pool.key': e.key, 'kimi_pool.account': e.account, 'kimi_pool.attempts': e.attempt });
    if (e.model !== undefined) span.setAttribute('gen_ai.response.model', e.model);
    if (e.usage !== undefined) {
      span.setAttributes({ 'gen_ai.usage.input_tokens': e.usage.prompt_tokens ?? 0, 'gen_ai.usage.output_tokens': e.usage.completion_tokens ?? 0 });
    }
    if (e.cost !== undefined) span.setAttribute('kimi_pool.cost', e.cost);
    if (e.firstChunkMs !== undefined) span.setAttribute('kimi_pool.time_to_first_chunk_ms', e.firstChunkMs);
    span.setStatus({ code: api.SpanStatusCode.OK });
    span.end();
  };
  const onFailed = (e: FailedEvent): void => {
    const span = spans.get(e.requestId);
    if (span === undefined) return;
    spans.delete(e.requestId);
    span.setAttributes({ 'kimi_pool.attempts': e.attempt, 'error.type': e.error instanceof KimiPoolError ? e.error.code : e.error.name });
    if (e.key !== undefined) span.setAttribute('kimi_pool.key', e.key);
    if (e.account !== undefined) span.setAttribute('kimi_pool.account', e.account);
    span.recordException(e.error);
    span.setStatus({ code: api.SpanStatusCode.ERROR, message: e.error.message });
    span.end();
  };
  const stop = listen(pool, { queued: onQueued, start: onStart, retry: onRetry, ratelimited: onRateLimited, success: onSuccess, failed: onFailed });
  return {
    close() {
      stop();
      // Nothing will end them now: end them, marked so.
      for (const span of spans.values()) {
        span.addEvent('kimi_pool.tracing_closed');
        span.end();
      }
      spans.clear();
    },
  };
}
