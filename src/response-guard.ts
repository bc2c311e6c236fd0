/**
 * Deadlines over a whole response, and the end of an SSE stream at
 * `data: [DONE]`, as a wrapper around the `fetch` of each key's openai client.
 *
 * The SDK's `timeout` bounds only the wait for headers, and openai 6 reads an
 * SSE body on to end of file after `[DONE]` (its next major, which stops there,
 * needs Node 22). Here every attempt gets:
 * - an idle limit: the longest wait for data while the body is being read
 *   (SSE comments such as `: keep-alive` are not data);
 * - an overall limit, from the request to the end of its body;
 * - a stream that ends at `[DONE]`, whatever the connection does next (the
 *   connection is released).
 * A limit that passes errors the body with {@link ResponseTimeoutError} (code
 * `ETIMEDOUT`): a retryable timeout before data reached the caller, a
 * `StreamError` after.
 */
import type { Clock, TimerHandle } from './clock.js';

/** Deadlines of one attempt, in ms; `Infinity` turns one off. */
export interface ResponseDeadlines {
  /** Longest wait for data while the body is read. */
  readonly idleTimeoutMs: number;
  /** Longest attempt, from the request to the end of the body. */
  readonly attemptTimeoutMs: number;
}

/** An attempt's response went silent for too long, or took too long as a whole. */
export class ResponseTimeoutError extends Error {
  /** Read as a connection fault (retryable) by `classifyError`. */
  readonly code = 'ETIMEDOUT';

  constructor(
    message: string,
    /** Which limit passed: `idleTimeoutMs` or `attemptTimeoutMs`. */
    readonly limit: 'idleTimeoutMs' | 'attemptTimeoutMs',
    /** The host that went silent. */
    readonly host: string,
  ) {
    super(message);
    this.name = 'ResponseTimeoutError';
  }
}

/** The fetch signature the openai SDK calls. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Called with every response's headers as they arrive (errors included). */
export type HeadersSeen = (headers: Headers) => void;

/** One read of a body reader. */
type Read = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>['read']>>;

const noop = (): void => undefined;
const DONE_TAIL = new Uint8Array([0x0a, 0x0a]);

function hostOf(input: string | URL | Request): string {
  try {
    return new URL(typeof input === 'string' || input instanceof URL ? input : input.url).host;
  } catch {
    return '?';
  }
}

/** Wraps `inner` so that every response it gives obeys `limits`; `seen` hears every response's headers. */
/** The request body is the SDK's JSON with a top-level `"stream":true` (inside a string it would read `\\"stream\\"`). */
function asksForStream(init: RequestInit | undefined): boolean {
  return typeof init?.body === 'string' && init.body.includes('"stream":true');
}

export function guardFetch(inner: Fetch, clock: Clock, limits: ResponseDeadlines, seen?: HeadersSeen): Fetch {
  return async (input, init) => {
    const host = hostOf(input);
    const controller = new AbortController();
    const signal = init?.signal != null ? AbortSignal.any([init.signal, controller.signal]) : controller.signal;
    let onOverall: ((error: ResponseTimeoutError) => void) | undefined;
    const overall = Number.isFinite(limits.attemptTimeoutMs)
      ? clock.setTimeout(() => {
          const error = new ResponseTimeoutError(`The attempt to ${host} took longer than ${limits.attemptTimeoutMs} ms (attemptTimeoutMs)`, 'attemptTimeoutMs', host);
          controller.abort(error);
          onOverall?.(error);
        }, limits.attemptTimeoutMs)
      : undefined;
    const end = (): void => {
      if (overall !== undefined) clock.clearTimeout(overall);
    };
    let response: Response;
    try {
      response = await inner(input, { ...init, signal });
    } catch (error) {
      end();
      throw error;
    }
    seen?.(response.headers);
    if (response.body === null) {
      end();
      return response;
    }
    // SSE when the server says so (in any case), or when the request asked for a stream: the
    // openai SDK parses a stream's body as SSE whatever its content type, and so must `[DONE]`.
    const sse = (response.headers.get('content-type') ?? '').toLowerCase().includes('text/event-stream') || asksForStream(init);
    const body = new GuardedBody(response.body, sse, clock, limits.idleTimeoutMs, host, () => {
      end();
      onOverall = undefined;
    }, (error) => controller.abort(error));
    onOverall = (error) => body.fail(error);
    return new Response(body.stream, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** A response body read through the idle limit, cut after `data: [DONE]` when it is SSE. */
class GuardedBody {
  readonly stream: ReadableStream<Uint8Array>;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly scanner: SseScanner | undefined;
  private ctrl: ReadableStreamDefaultController<Uint8Array> | undefined;
  private rejectRead: ((error: Error) => void) | undefined;
  /** When the current wait for data began; kept across pulls that brought only comments. */
  private waitingSince = 0;
  private starving = false;
  private over = false;

  constructor(
    source: ReadableStream<Uint8Array>,
    sse: boolean,
    private readonly clock: Clock,
    private readonly idleMs: number,
    private readonly host: string,
    private readonly onEnd: () => void,
    private readonly abort: (error: Error) => void,
  ) {
    this.reader = source.getReader();
    this.scanner = sse ? new SseScanner() : undefined;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (ctrl) => {
          this.ctrl = ctrl;
        },
        pull: (ctrl) => this.pull(ctrl),
        cancel: (reason) => {
          this.finish();
          return this.reader.cancel(reason);
        },
      },
      // Pull only when the reader asks: the idle limit measures the server, not a slow reader.
      { highWaterMark: 0 },
    );
  }

  /** Ends the body with `error` (the overall limit passed). */
  fail(error: Error): void {
    if (this.over) return;
    this.finish();
    if (this.rejectRead !== undefined) this.rejectRead(error);
    else this.ctrl?.error(error);
    this.reader.cancel(error).catch(noop);
  }

  private async pull(ctrl: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.over) return;
    if (!this.starving) this.waitingSince = this.clock.now();
    const { done, value } = await this.read();
    if (this.over) return;
    if (done) {
      this.finish();
      ctrl.close();
      return;
    }
    const scan = this.scanner?.feed(value) ?? { length: value.length, data: value.length > 0, done: false };
    if (scan.data) this.starving = false;
    else this.starving = true;
    ctrl.enqueue(scan.length === value.length ? value : value.subarray(0, scan.length));
    if (scan.done) {
      // `[DONE]` ends the stream; a blank line dispatches it; whatever follows is not read.
      ctrl.enqueue(DONE_TAIL);
      this.finish();
      ctrl.close();
      this.reader.cancel().catch(noop);
    }
  }

  /** One read from the source, failed with a timeout when no data comes within the idle limit. */
  private read(): Promise<Read> {
    return new Promise((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const settle = (): void => {
        this.rejectRead = undefined;
        if (timer !== undefined) this.clock.clearTimeout(timer);
      };
      this.rejectRead = (error) => {
        settle();
        reject(error);
      };
      if (Number.isFinite(this.idleMs)) {
        timer = this.clock.setTimeout(() => {
          const error = new ResponseTimeoutError(`No data from ${this.host} for ${this.idleMs} ms (idleTimeoutMs)`, 'idleTimeoutMs', this.host);
          settle();
          this.finish();
          this.reader.cancel(error).catch(noop);
          this.abort(error);
          reject(error);
        }, Math.max(0, this.waitingSince + this.idleMs - this.clock.now()));
      }
      this.reader.read().then(
        (r) => {
          settle();
          resolve(r);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });
  }

  private finish(): void {
    if (this.over) return;
    this.over = true;
    this.onEnd();
  }
}

const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const DATA_DONE = [...'data:'].map((c) => c.charCodeAt(0));
const DONE = [...'[DONE]'].map((c) => c.charCodeAt(0));
/** Enough of a line's start to recognise `data: [DONE]`. */
const HEAD = 12;

/** Finds, across chunk boundaries, SSE data (anything but comments and blank lines) and the `data: [DONE]` line. */
export class SseScanner {
  private readonly head: number[] = [];
  private lineLength = 0;
  private afterCR = false;

  /**
   * Reads one chunk: `length` bytes of it belong to the stream (all of it, or
   * up to the end of the `[DONE]` line), `data` tells whether any of them is
   * data, `done` whether the `[DONE]` line ended in it.
   */
  feed(chunk: Uint8Array): { length: number; data: boolean; done: boolean } {
    let data = false;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b === LF || b === CR) {
        if (b === LF && this.afterCR) {
          this.afterCR = false;
          continue;
        }
        this.afterCR = b === CR;
        const done = this.isDone();
        this.head.length = 0;
        this.lineLength = 0;
        if (done) return { length: i + 1, data, done: true };
        continue;
      }
      this.afterCR = false;
      if (this.lineLength === 0 ? b !== COLON : this.head[0] !== COLON) data = true;
      if (this.head.length < HEAD) this.head.push(b);
      this.lineLength++;
    }
    return { length: chunk.length, data, done: false };
  }

  private isDone(): boolean {
    const h = this.head;
    for (let i = 0; i < DATA_DONE.length; i++) if (h[i] !== DATA_DONE[i]) return false;
    let at = DATA_DONE.length;
    if (h[at] === 0x20) at++;
    for (let i = 0; i < DONE.length; i++) if (h[at + i] !== DONE[i]) return false;
    return true;
  }
}
