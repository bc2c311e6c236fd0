/** A bench worker process that talks in lines: the parent reads its stdout line by line and writes to its stdin. */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ChildProcessLines {
  /** The next line the child printed; rejects with its stderr tail if it exits first. */
  next(): Promise<string>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
}

/** Runs `node --import tsx <file> ...args`. */
export function spawnChild(file: string, args: readonly string[]): ChildProcessLines {
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const lines: string[] = [];
  let waiter: (() => void) | undefined;
  createInterface({ input: child.stdout }).on('line', (l) => {
    lines.push(l);
    waiter?.();
  });
  child.once('exit', () => waiter?.());
  const next = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const take = (): void => {
        const l = lines.shift();
        if (l !== undefined) return resolve(l);
        if (child.exitCode !== null) return reject(new Error(`bench worker exited with ${child.exitCode}: ${err.slice(-500)}`));
        waiter = take;
      };
      take();
    });
  return { next, send: (line) => void child.stdin.write(`${line}\n`) };
}


/**
 * The child side of a bench worker (`<file> --worker <json>`): when this
 * process was started so, runs `worker` on the JSON arguments, prints its
 * report as one JSON line and exits; otherwise returns at once.
 */
export async function serveAsWorker<A, R>(worker: (args: A) => Promise<R>): Promise<void> {
  if (process.argv[2] !== '--worker') return;
  const report = await worker(JSON.parse(process.argv[3] ?? '{}') as A);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
