#!/usr/bin/env node
/**
 * The `kimi-pool` command: `batch` runs a JSONL file of requests through a
 * pool; `simulate` serves a local Kimi API. Arguments are parsed by commander
 * (help for every command, typed errors); exit codes: 0 ok, 1 requests failed
 * or a run error, 2 usage, config or input errors, 130 interrupted.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { batchCommand, EXIT } from './batch/command.js';
import { PROGRESS_MODES, type ProgressMode } from './batch/render.js';
import { describeAccounts, loadSimulatorConfig, simulatorOptionsFromJson, startKimiSimulator, type KimiSimulatorOptions } from './testing/index.js';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * What `kimi-pool simulate` serves without --config: three accounts of three
 * tiers. The keys are fixed, public test strings (not secrets), listed in the help.
 */
export const DEFAULT_SIMULATOR_CONFIG = {
  windowMs: 60_000,
  latencyMs: [20, 80],
  seed: 1,
  accounts: [
    { id: 'org-free', keys: ['sk-sim-free-1', 'sk-sim-free-2'], tier: 'tier0' },
    { id: 'org-team', keys: ['sk-sim-team-1'], tier: 'tier1', limits: { concurrency: 15, rpm: 100 } },
    { id: 'org-big', keys: ['sk-sim-big-1', 'sk-sim-big-2'], tier: 'tier3', limits: { tpd: null }, balance: 500 },
  ],
} as const;

const EXIT_CODES = `Exit codes: 0 every request succeeded, 1 some failed for good (or the run
could not go on), 2 usage, config or input errors (nothing sent), 130
interrupted (run the same command again to resume).`;

function integer(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`Expected ${name} to be an integer >= ${min}, got ${value}`);
    return n;
  };
}

function latency(value: string): number | [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value);
  if (m === null) throw new InvalidArgumentError(`Expected --latency-ms to be N or MIN-MAX in ms, got ${value}`);
  return m[2] === undefined ? Number(m[1]) : [Number(m[1]), Number(m[2])];
}

function batch(): Command {
  return new Command('batch')
    .description('Run a JSONL file of chat requests through the pool: resumable, with live progress and a summary.')
    .argument('<input>', 'JSONL file, one request a line: {"custom_id","method":"POST","url":"/v1/chat/completions","body"}, {"custom_id","body"} or bare parameters {"model","messages",...,"metadata"?}')
    .requiredOption('-o, --output <file>', 'where answers go (OpenAI Batch output lines, in completion order); appended to, never rewritten')
    .option('-e, --errors <file>', 'where failures go (default: OUTPUT with .errors.jsonl)')
    .option('-c, --config <file>', 'JSON file of pool options: keys, tier, accounts, baseURL, windowMs, retries, ... (null = unlimited)')
    .option('--base-url <url>', 'any Kimi-compatible server (default: the config\'s baseURL, else https://api.moonshot.cn/v1)')
    .option('--retry-errors', 'run again the requests an earlier run wrote to the errors file')
    .addOption(new Option('--progress <mode>', 'progress display: auto (tty on a terminal, else plain), tty, plain (a line every 5 s), json (an object a second), none').choices(PROGRESS_MODES).default('auto'))
    .option('--dry-run', 'only check the input and count what would run; send and write nothing')
    .option('--prices <file>', 'JSON price table {currency, models: {id: {input, cachedInput?, output}}} per 1M tokens (default: Kimi list prices, USD)')
    .option('--max-pending <n>', 'requests handed to the pool at once (default: twice what the accounts run at once)', integer('--max-pending', 1))
    .option('--timeout <ms>', 'time allowed per request, queued and in flight', integer('--timeout', 1))
    .addHelpText('after', `
Keys come from KIMI_API_KEYS (comma-separated) or \`keys\` in --config, never
from the command line. Run the same command again to resume: answered
requests (and failed ones, unless --retry-errors) are skipped.

${EXIT_CODES}`)
    .action(async (input: string, opts: { progress: ProgressMode } & Record<string, unknown>) => {
      process.exitCode = await batchCommand(input, opts as never, {
        stdout: process.stdout,
        stderr: process.stderr,
        env: process.env,
        commandLine: ['kimi-pool', ...process.argv.slice(2)].map((a) => (/^[\w./:=@-]+$/.test(a) ? a : JSON.stringify(a))).join(' '),
      });
    });
}

async function simulateAction(opts: { config?: string; port?: number; windowMs?: number; latencyMs?: number | [number, number]; seed?: number }): Promise<void> {
  let options: KimiSimulatorOptions;
  try {
    const base = opts.config === undefined ? simulatorOptionsFromJson(DEFAULT_SIMULATOR_CONFIG) : await loadSimulatorConfig(opts.config);
    options = simulatorOptionsFromJson({
      ...base,
      ...(opts.windowMs === undefined ? {} : { windowMs: opts.windowMs }),
      ...(opts.latencyMs === undefined ? {} : { latencyMs: opts.latencyMs }),
      ...(opts.seed === undefined ? {} : { seed: opts.seed }),
    });
  } catch (error) {
    process.stderr.write(`kimi-pool simulate: ${(error as Error).message}\n`);
    process.exitCode = EXIT.usage;
    return;
  }
  const sim = await startKimiSimulator({ ...options, port: opts.port ?? options.port });
  const lines = [
    `Kimi simulator listening on ${sim.url}`,
    `window: ${options.windowMs ?? 60_000} ms, seed: ${options.seed ?? 1}${opts.config === undefined ? ' (built-in accounts: see kimi-pool simulate --help for their keys)' : ''}`,
    ...describeAccounts(options).map((line) => `  ${line}`),
    'Press Ctrl+C to stop.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      const { totals } = sim.stats();
      void sim.close().then(() => {
        process.stdout.write(`Stopped (${signal}). served=${totals.served} rateLimited=${totals.rateLimited} faults=${totals.faults}\n`);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function simulate(): Command {
  const keys = DEFAULT_SIMULATOR_CONFIG.accounts.map((a) => `  ${a.id} (${a.tier}): ${a.keys.join(', ')}`).join('\n');
  return new Command('simulate')
    .description('Serve a local Kimi (Moonshot) API on 127.0.0.1 with per-account limits, Kimi\'s 429s and optional faults.')
    .option('-c, --config <file>', 'JSON simulator options: accounts, windowMs, latencyMs, faults, seed, models, ... (null limit = unlimited)')
    .option('-p, --port <n>', 'port (0 = any free one)', integer('--port', 0))
    .option('--window-ms <ms>', 'length of the rate-limit "minute" (shorten it to test fast)', integer('--window-ms', 1))
    .option('--latency-ms <ms>', 'time to answer: N or MIN-MAX', latency)
    .option('--seed <n>', 'seed of the simulated randomness', integer('--seed', 0))
    .addHelpText('after', `
Without --config it serves these accounts (test keys, not secrets):
${keys}

Exit codes: 0 stopped by SIGINT/SIGTERM, 2 usage or config errors.`)
    .action(simulateAction);
}

/** Builds the program (exported for tests). */
export function program(): Command {
  return new Command('kimi-pool')
    .description('One request queue over many Kimi (Moonshot AI) API keys.')
    .version(VERSION, '-v, --version', 'print the version')
    .exitOverride()
    .addCommand(batch())
    .addCommand(simulate())
    .addHelpText('after', `\n${EXIT_CODES}`);
}

async function main(argv: string[]): Promise<void> {
  const cli = program();
  for (const c of cli.commands) c.exitOverride();
  try {
    await cli.parseAsync(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Asked-for help and the version are not errors; a bare `kimi-pool` and bad arguments are.
      process.exitCode = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT.ok : EXIT.usage;
      return;
    }
    throw error;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`kimi-pool: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = EXIT.failed;
});
