import { ConfigError } from '../errors.js';
import type { LineProblem } from './input.js';

/**
 * The input file has bad lines; nothing was sent. `problems` lists the first
 * ones (line, code, message); `count` is how many there are in all.
 */
export class BatchInputError extends ConfigError {
  constructor(
    readonly path: string,
    readonly problems: readonly LineProblem[],
    readonly count: number,
  ) {
    const shown = problems.map((p) => `  line ${p.line}: ${p.code}: ${p.message}`).join('\n');
    const more = count > problems.length ? `\n  ... and ${count - problems.length} more` : '';
    super(`${path}: ${count} bad line${count === 1 ? '' : 's'}, nothing was sent. Fix them and run again:\n${shown}${more}`);
  }
}

/** An output or errors file holds a line that is not a result line (it was edited or written by something else). */
export class BatchOutputError extends ConfigError {
  constructor(readonly path: string, readonly line: number, reason: string) {
    super(`${path}: line ${line} ${reason}; this file must hold only result lines written by kimi-pool batch (move it away to start over)`);
  }
}

/** Another live run (its pid in the lock file) is writing the same output file. */
export class BatchLockedError extends ConfigError {
  constructor(
    readonly path: string,
    readonly lockPath: string,
    readonly pid: number,
  ) {
    super(`${path} is being written by another kimi-pool batch run (pid ${pid}, lock ${lockPath}): two runs would each send what the file does not hold yet. Wait for it to end, or stop it; a lock left by a run that died is taken over by itself`);
  }
}
