/**
 * runBatch as a library: a JSONL file through the pool, results as they
 * settle, progress events, the summary. Run it twice: the second run skips
 * everything the first wrote. Run: npx tsx --conditions=source examples/batch-file.ts
 */
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KimiPool } from 'kimi-pool';
import { formatSummary, runBatch } from 'kimi-pool/batch';
import { target } from './lib/target.js';

// Where the files go: BATCH_DIR, else the system's temporary folder (the same for both runs).
const dir = process.env.BATCH_DIR ?? tmpdir();
const input = join(dir, 'kimi-pool-example-requests.jsonl');
const output = join(dir, 'kimi-pool-example-answers.jsonl');
const t = await target();
writeFileSync(
  input,
  Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({ custom_id: `doc-${i}`, body: { model: t.model, messages: [{ role: 'user', content: `Summarise document ${i} in one line.` }], max_tokens: 128 } }),
  ).join('\n'),
);

const pool = new KimiPool({ ...t.options });
const run = runBatch(pool, { input, output, windowMs: t.options.windowMs ?? 60_000 });
run.on('plan', (p) => console.log(`${p.toRun} to run, ${p.answered} answered before`));
run.on('progress', (p) => console.log(`  ${p.succeeded + p.failed}/${p.total}, ETA ${p.etaMs === null ? '-' : `${Math.round(p.etaMs / 1000)} s`}`));
for await (const r of run) {
  console.log(r.ok ? `${r.customId}: ${r.response.choices[0]?.message.content ?? ''}` : `${r.customId} failed: ${r.error.code} ${r.error.message}`);
}
console.log(formatSummary(await run.summary));
await pool.close();
await t.close();
