#!/usr/bin/env node
/**
 * The `kimi-pool` command.
 *
 *   kimi-pool simulate --config file.json [--port N]
 *
 * starts the local Kimi API simulator with the JSON config, prints its URL and
 * the accounts (key fingerprints only), and runs until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { describeAccounts, loadSimulatorConfig, startKimiSimulator } from './testing/index.js';

const USAGE = `Usage: kimi-pool simulate --config <file.json> [--port <n>]

Starts a local Kimi (Moonshot) API simulator on 127.0.0.1.
The config is a JSON object of simulator options (accounts, windowMs, latencyMs,
faults, seed, models, ...); a null limit means unlimited.`;

function usageError(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function simulate(args: string[]): Promise<void> {
  let values: { config?: string | undefined; port?: string | undefined };
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string' }, port: { type: 'string' } }, strict: true }));
  } catch (error) {
    usageError((error as Error).message);
  }
  if (!values.config) usageError('Missing --config <file.json>');
  const options = await loadSimulatorConfig(values.config);
  let port = options.port;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65_535) usageError(`Expected --port to be an integer in [0, 65535], got ${values.port}`);
  }
  const sim = await startKimiSimulator({ ...options, port });
  const lines = [
    `Kimi simulator listening on ${sim.url}`,
    `window: ${options.windowMs ?? 60_000} ms, seed: ${options.seed ?? 1}`,
    ...describeAccounts(options).map((line) => `  ${line}`),
    'Press Ctrl+C to stop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const { totals } = sim.stats();
    void sim.close().then(() => {
      process.stdout.write(`Stopped (${signal}). served=${totals.served} rateLimited=${totals.rateLimited} faults=${totals.faults}\n`);
      process.exit(0);
    });
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (command !== 'simulate') usageError(`Unknown command: ${command}`);
  await simulate(rest);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`kimi-pool: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
