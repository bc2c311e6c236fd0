/** The SSE scanner finds data (not comments) and the `[DONE]` line across any chunking. */
import { describe, expect, it } from 'vitest';
import { SseScanner } from '../src/response-guard.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Feeds `text` cut into pieces of `size` bytes; returns what passed, whether data was seen, whether [DONE] ended it. */
function scan(text: string, size: number): { passed: string; data: boolean[]; done: boolean } {
  const s = new SseScanner();
  const all = bytes(text);
  let passed = '';
  const data: boolean[] = [];
  for (let i = 0; i < all.length; i += size) {
    const piece = all.subarray(i, i + size);
    const r = s.feed(piece);
    passed += new TextDecoder().decode(piece.subarray(0, r.length));
    data.push(r.data);
    if (r.done) return { passed, data, done: true };
  }
  return { passed, data, done: false };
}

describe('SseScanner', () => {
  const cases: [string, string, string, boolean][] = [
    ['[DONE] with LF, body left open after it', 'data: {"a":1}\n\ndata: [DONE]\n\ndata: {"late":1}\n\n', 'data: {"a":1}\n\ndata: [DONE]\n', true],
    ['[DONE] without the space', 'data:[DONE]\n', 'data:[DONE]\n', true],
    ['[DONE] with CRLF', 'data: x\r\n\r\ndata: [DONE]\r\n\r\nmore', 'data: x\r\n\r\ndata: [DONE]\r', true],
    ['no [DONE]', 'data: {"a":1}\n\n', 'data: {"a":1}\n\n', false],
    ['[DONE] inside JSON is not the end', 'data: {"t":"[DONE]"}\n\n', 'data: {"t":"[DONE]"}\n\n', false],
    ['a comment naming [DONE]', ': data: [DONE]\n\n', ': data: [DONE]\n\n', false],
  ];
  for (const size of [1, 3, 7, 1000]) {
    it.each(cases)(`%s (pieces of ${size} bytes)`, (_, text, passed, done) => {
      const r = scan(text, size);
      expect(r.passed).toBe(passed);
      expect(r.done).toBe(done);
    });
  }

  it('counts keep-alive comments and blank lines as no data', () => {
    const s = new SseScanner();
    expect(s.feed(bytes(': keep-alive\n\n')).data).toBe(false);
    expect(s.feed(bytes(':')).data).toBe(false);
    expect(s.feed(bytes(' ping\n')).data).toBe(false);
    expect(s.feed(bytes('\n\n')).data).toBe(false);
    expect(s.feed(bytes('event: error\n')).data).toBe(true);
    expect(s.feed(bytes('da')).data).toBe(true);
  });
});
