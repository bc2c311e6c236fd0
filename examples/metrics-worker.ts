/**
 * A long-lived worker that serves Prometheus metrics on /metrics (node:http).
 * Run: npx tsx --conditions=source examples/metrics-worker.ts
 * then scrape http://127.0.0.1:9464/metrics (PORT to change it). With
 * REQUESTS=n it stops after n requests, prints its own scrape and exits.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KimiPool } from 'kimi-pool';
import { prometheusMetrics } from 'kimi-pool/metrics';
import { Registry } from 'prom-client';
import { target } from './lib/target.js';

const t = await target();
const pool = new KimiPool({ ...t.options });
const registry = new Registry();
prometheusMetrics(pool, { registry });

const server = createServer((req, res) => {
  if (req.url !== '/metrics') {
    res.writeHead(404).end();
    return;
  }
  registry.metrics().then(
    (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
    (error: unknown) => res.writeHead(500).end(String(error)),
  );
});
await new Promise<void>((resolve) => server.listen(Number(process.env.PORT ?? 9464), '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
console.log(`serving ${url}`);

// The work: a steady stream of small requests, as a job queue would feed them.
const limit = process.env.REQUESTS === undefined ? Infinity : Number(process.env.REQUESTS);
const running = new Set<Promise<unknown>>();
for (let i = 0; i < limit; i++) {
  const job = pool.chat.completions
    .create({ model: t.model, messages: [{ role: 'user', content: `Task ${i}: reply with one word.` }], max_tokens: 16 })
    .catch((error: unknown) => console.error(`task ${i} failed: ${String(error)}`));
  running.add(job);
  void job.finally(() => running.delete(job));
  // Keep a bounded backlog: the pool queues, but a worker should not hold its whole input in memory.
  if (running.size >= 20) await Promise.race(running);
}
await pool.onIdle();

const scrape = await (await fetch(url)).text();
for (const line of scrape.split('\n')) if (/^kimi_pool_(requests_total|tokens_total|queued) ?/.test(line)) console.log(line);
server.close();
await pool.close();
await t.close();
