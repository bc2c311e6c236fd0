/**
 * An append-only JSONL file of results (the output or the errors file).
 *
 * Each result is one `write` of a whole line ending in `\n`, so after a crash
 * (even `kill -9`) every line but possibly the last is whole; {@link ResultLog.open}
 * finds a torn last line (no `\n`) and cuts it off before appending. Lines
 * written are in the OS's page cache at once, so a killed process loses none;
 * the file is `fdatasync`ed every `syncIntervalMs`, which bounds what a power
 * loss or OS crash can lose (those requests are simply sent again on resume).
 */
import { closeSync, fdatasync, fdatasyncSync, openSync, truncateSync, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { BatchOutputError } from './errors.js';
import { IdSet } from './id-set.js';
import { readLines } from './lines.js';

/** What {@link ResultLog.scan} found in an existing file. */
export interface LogScan {
  /** custom_ids of the whole lines. */
  readonly ids: IdSet;
  /** Whole lines. */
  readonly lines: number;
  /** Bytes of a torn last line (cut off by `open`), or 0. */
  readonly tornBytes: number;
  /** Byte length of the whole lines. */
  readonly size: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

export class ResultLog {
  private fd: number | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  /** Lines appended by this process. */
  written = 0;

  private constructor(readonly path: string, fd: number, syncIntervalMs: number) {
    this.fd = fd;
    this.timer = setInterval(() => this.syncSoon(), syncIntervalMs);
    this.timer.unref();
  }

  /**
   * Reads the custom_ids of an existing file (none if it does not exist).
   * @throws {BatchOutputError} when a whole line is not a result line.
   */
  static async scan(path: string): Promise<LogScan> {
    const ids = new IdSet();
    let lines = 0;
    let size = 0;
    let tornBytes = 0;
    if (!(await exists(path))) return { ids, lines, tornBytes, size };
    for await (const l of readLines(path)) {
      if (!l.complete) {
        tornBytes = l.end - size;
        break;
      }
      size = l.end;
      if (l.text.trim() === '') continue;
      let line: { custom_id?: unknown; response?: unknown; error?: unknown } | null;
      try {
        line = JSON.parse(l.text) as typeof line;
      } catch {
        throw new BatchOutputError(path, l.line, 'is not JSON');
      }
      const id = line?.custom_id;
      if (typeof id !== 'string') throw new BatchOutputError(path, l.line, 'has no string custom_id');
      // A request line (a mistyped --output naming an input file) has no response and no error: not an answer.
      if (!('response' in line! && 'error' in line!)) throw new BatchOutputError(path, l.line, 'is not a result line (it has no `response` and `error`: an input file?)');
      ids.add(id);
      lines++;
    }
    return { ids, lines, tornBytes, size };
  }

  /** Opens `path` for appending, first cutting off the torn last line `scan` found. */
  static open(path: string, scan: LogScan, syncIntervalMs = 1000): ResultLog {
    if (scan.tornBytes > 0) truncateSync(path, scan.size);
    return new ResultLog(path, openSync(path, 'a'), syncIntervalMs);
  }

  /** Appends one line (JSON of `record`) in a single write. */
  append(record: unknown): void {
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    const bytes = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
    let done = 0;
    while (done < bytes.length) done += writeSync(this.fd, bytes, done, bytes.length - done);
    this.written++;
    this.dirty = true;
  }

  private syncSoon(): void {
    if (!this.dirty || this.fd === undefined) return;
    this.dirty = false;
    fdatasync(this.fd, () => {
      // A failed background sync is retried by the final one in close().
    });
  }

  /** Syncs and closes the file. */
  close(): void {
    clearInterval(this.timer);
    if (this.fd === undefined) return;
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
