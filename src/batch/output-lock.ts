/**
 * One run at a time per output file: two runs resuming the same output at once
 * would each send every request the file does not hold yet. A lock file
 * `<output>.lock` holds the owner's pid; one left by a run that died (kill -9)
 * is taken over when that pid no longer runs.
 */
import { openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { BatchLockedError } from './errors.js';

/** Lock files this process holds. */
const held = new Set<string>();

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the lock of `output`.
 * @returns the function that releases it.
 * @throws {BatchLockedError} when a live process holds it.
 */
export function lockOutput(output: string): () => void {
  const path = `${output}.lock`;
  // A second run in this same process: its pid is ours, so the file alone cannot tell.
  if (held.has(path)) throw new BatchLockedError(output, path, process.pid);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && running(pid)) throw new BatchLockedError(output, path, pid);
      // Left by a run that died: take it over.
      rmSync(path, { force: true });
    }
  }
  held.add(path);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.delete(path);
    rmSync(path, { force: true });
  };
}
