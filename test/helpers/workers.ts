/** Spawns test/helpers/pool-worker.ts processes and collects their JSON lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { WorkerConfig } from './pool-worker.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerLine {
  readonly type: string;
  readonly [field: string]: unknown;
}

export class WorkerProcess {
  readonly lines: WorkerLine[] = [];
  readonly child: ChildProcess;
  private stderr = '';
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  constructor(readonly config: WorkerConfig) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/pool-worker.ts'], {
      cwd: ROOT,
      env: { ...process.env, KP_WORKER: JSON.stringify(config) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as WorkerLine);
      } catch {
        this.stderr += `${l}\n`;
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => {
      for (const w of this.waiters.splice(0)) w();
      resolve(code);
    }));
  }

  of(type: string): WorkerLine[] {
    return this.lines.filter((l) => l.type === type);
  }

  /** Resolves when `test` holds for the lines read so far; rejects if the process exits first or on timeout. */
  async until(test: (w: WorkerProcess) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`worker ${this.config.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`worker ${this.config.name}: timed out; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200).unref();
      });
    }
  }

  go(): void {
    this.child.stdin?.write('go\n');
  }

  get errors(): string {
    return this.stderr;
  }
}
