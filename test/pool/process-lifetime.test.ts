/**
 * Real processes: a batch job that only awaits its requests must not exit
 * while they wait for a window, and an idle pool must not hold the process.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runScript(body: string): { status: number | null; stdout: string; stderr: string; ms: number } {
  const script = `
    import { KimiPool } from 'kimi-pool';
    const ok = () => new Response(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }),
      { status: 200, headers: { 'content-type': 'application/json' } });
    const fetch = async () => ok();
    ${body}
  `;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

describe('process lifetime', () => {
  it('keeps the process alive while queued requests wait for the next window', () => {
    const r = runScript(`
      const pool = new KimiPool({ keys: 'sk-lifetime-key-1', windowMs: 400, safetyMarginMs: 0, clientOptions: { fetch } });
      const params = { model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 };
      // tier0: 3 per window, so the 4th to 7th wait for the 2nd and 3rd windows on a timer.
      const all = await Promise.all(Array.from({ length: 7 }, () => pool.chat.completions.create(params)));
      console.log('done', all.length);
    `);
    expect(r.stderr).not.toMatch(/unsettled|Error/);
    expect(r.stdout.trim()).toBe('done 7');
    expect(r.status).toBe(0);
  });

  it('lets the process exit when the pool is idle, even with an account paused', () => {
    const r = runScript(`
      let n = 0;
      const limited = async () => n++ === 0
        ? new Response(JSON.stringify({ error: { type: 'rate_limit_reached_error', message: 'Your account o<ak> request reached organization max RPM: 3, please try again after 30 seconds' } }), { status: 429, headers: { 'content-type': 'application/json' } })
        : ok();
      const pool = new KimiPool({ keys: ['sk-lifetime-key-1', 'sk-lifetime-key-2'], clientOptions: { fetch: limited } });
      const r = await pool.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1 });
      console.log('done', r.choices[0].message.content, pool.stats().accounts.some((a) => a.pausedForMs > 20000));
    `);
    expect(r.stdout.trim()).toBe('done hi true');
    expect(r.status).toBe(0);
    // The 30 s pause did not hold the process.
    expect(r.ms).toBeLessThan(10_000);
  });
});
