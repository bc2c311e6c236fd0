/**
 * `kimi-pool/metrics`: the pool seen from Prometheus (prom-client) and
 * OpenTelemetry (@opentelemetry/api). Each exporter loads its optional peer
 * dependency when it is created. Series and labels: docs/metrics.md.
 */
export { prometheusMetrics, type PrometheusMetrics, type PrometheusMetricsOptions } from './prometheus.js';
export { otelMetrics, GEN_AI_PROVIDER, type OtelMetrics, type OtelMetricsOptions } from './otel.js';
export { otelTracing, REQUEST_SPAN, type OtelTracing, type OtelTracingOptions } from './otel-tracing.js';
