/**
 * Streamed replies: each stream keeps its slot (concurrency) until read to the
 * end. Run: npx tsx --conditions=source examples/streaming.ts
 */
import { KimiPool } from 'kimi-pool';
import { target } from './lib/target.js';

const t = await target();
const pool = new KimiPool({ ...t.options });
for (const question of ['What is a sliding window?', 'Why pool API keys?']) {
  const stream = await pool.chat.completions.create({
    model: t.model,
    messages: [{ role: 'user', content: question }],
    max_tokens: 256,
    stream: true,
    stream_options: { include_usage: true },
  });
  process.stdout.write(`> ${question}\n`);
  for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta?.content ?? '');
  process.stdout.write('\n');
}
await pool.close();
await t.close();
