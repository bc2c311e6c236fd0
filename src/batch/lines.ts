/**
 * Reads a file line by line in constant memory, with 1-based line numbers and
 * the byte offset where each line ends. Lines are split on bytes (0x0a) before
 * decoding, so a chunk boundary inside a UTF-8 character is harmless; a
 * trailing `\r` is dropped.
 */
import { open } from 'node:fs/promises';

/** One line of a file. */
export interface FileLine {
  /** The line's text, without its line break. */
  readonly text: string;
  /** 1-based line number. */
  readonly line: number;
  /** Byte offset just past this line's `\n` (or past its last byte, if it has none). */
  readonly end: number;
  /** Whether the line ends with `\n`; only a file's last line may not. */
  readonly complete: boolean;
}

const CHUNK = 64 * 1024;

/** Yields every line of `path`, the last one too when it has no `\n`. */
export async function* readLines(path: string): AsyncGenerator<FileLine> {
  const handle = await open(path, 'r');
  try {
    const chunk = Buffer.allocUnsafe(CHUNK);
    let carry: Buffer[] = [];
    let carryBytes = 0;
    let offset = 0;
    let line = 0;
    for (;;) {
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, null);
      if (bytesRead === 0) break;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl === -1 || nl >= bytesRead) break;
        const piece = chunk.subarray(start, nl);
        const bytes = carryBytes > 0 ? Buffer.concat([...carry, piece]) : piece;
        offset += carryBytes + nl - start + 1;
        carry = [];
        carryBytes = 0;
        yield { text: decode(bytes), line: ++line, end: offset, complete: true };
        start = nl + 1;
      }
      if (start < bytesRead) {
        // Copy: the chunk buffer is reused by the next read.
        carry.push(Buffer.from(chunk.subarray(start, bytesRead)));
        carryBytes += bytesRead - start;
      }
    }
    if (carryBytes > 0) {
      offset += carryBytes;
      yield { text: decode(Buffer.concat(carry)), line: ++line, end: offset, complete: false };
    }
  } finally {
    await handle.close();
  }
}

function decode(bytes: Buffer): string {
  const n = bytes.length;
  return bytes.toString('utf8', 0, n > 0 && bytes[n - 1] === 0x0d ? n - 1 : n);
}
