import { describe, expect, it } from 'vitest';
import { canonicalJson, contentId, isProblem, parseLine, type BatchRequest, type LineProblem } from '../../src/batch/input.js';

const body = { model: 'kimi-k2.5', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 };
const ok = (text: string, line = 1): BatchRequest => {
  const r = parseLine(text, line);
  if (r === undefined || isProblem(r)) throw new Error(`expected a request, got ${JSON.stringify(r)}`);
  return r;
};
const bad = (text: string): LineProblem => {
  const r = parseLine(text, 7);
  if (r === undefined || !isProblem(r)) throw new Error(`expected a problem, got ${JSON.stringify(r)}`);
  return r;
};

describe('parseLine', () => {
  it('reads the OpenAI/Kimi Batch line, the {custom_id, body} line and bare parameters with metadata', () => {
    expect(ok(JSON.stringify({ custom_id: 'r1', method: 'POST', url: '/v1/chat/completions', body }))).toEqual({ customId: 'r1', line: 1, body });
    expect(ok(JSON.stringify({ custom_id: 'r2', body }), 3)).toEqual({ customId: 'r2', line: 3, body });
    const bare = ok(JSON.stringify({ ...body, metadata: { row: 4 } }));
    expect(bare.body).toEqual(body);
    expect(bare.metadata).toEqual({ row: 4 });
    expect(bare.customId).toMatch(/^auto-[0-9a-f]{24}$/);
    expect(ok(JSON.stringify({ custom_id: 'r3', ...body })).body).toEqual(body);
  });

  it('derives a missing custom_id from the content: same content same id whatever the key order or line, different content different id', () => {
    const a = ok(JSON.stringify({ body }), 1).customId;
    const reordered = { max_tokens: 16, messages: [{ content: 'hi', role: 'user' }], model: 'kimi-k2.5' };
    expect(ok(JSON.stringify({ body: reordered }), 99).customId).toBe(a);
    expect(ok(JSON.stringify(body), 5).customId).toBe(a);
    expect(ok(JSON.stringify({ body: { ...body, max_tokens: 17 } })).customId).not.toBe(a);
    expect(ok(JSON.stringify({ ...body, metadata: { row: 1 } })).customId).not.toBe(a);
    expect(contentId(body, undefined)).toBe(a);
    expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[1,{"c":2,"d":1}]}');
  });

  it('skips blank lines and a BOM, keeps CR-free text', () => {
    expect(parseLine('   ', 4)).toBeUndefined();
    expect(ok(`\uFEFF${JSON.stringify({ custom_id: 'x', body })}`).customId).toBe('x');
  });

  it.each([
    ['{"custom_id": "r1", "body": ', 'invalid_json'],
    ['[1, 2]', 'not_an_object'],
    [JSON.stringify({ custom_id: 5, body }), 'invalid_custom_id'],
    [JSON.stringify({ custom_id: '', body }), 'invalid_custom_id'],
    [JSON.stringify({ custom_id: 'r', method: 'GET', url: '/v1/chat/completions', body }), 'unknown_method'],
    [JSON.stringify({ custom_id: 'r', method: 'POST', url: '/v1/embeddings', body }), 'unknown_url'],
    [JSON.stringify({ custom_id: 'r', method: 'POST', url: '/v1/chat/completions' }), 'no_body'],
    [JSON.stringify({ custom_id: 'r', body: null }), 'invalid_body'],
    [JSON.stringify({ custom_id: 'r', body: { messages: [{ role: 'user', content: 'x' }] } }), 'invalid_body'],
    [JSON.stringify({ custom_id: 'r', body: { model: 'kimi-k2.5', messages: [] } }), 'invalid_body'],
    [JSON.stringify({ custom_id: 'r', body: { ...body, stream: true } }), 'invalid_body'],
  ])('reports %s as %s with its line number', (text, code) => {
    const p = bad(text);
    expect(p.code).toBe(code);
    expect(p.line).toBe(7);
    expect(p.message.length).toBeGreaterThan(10);
  });

  it('names the field and the value in the message', () => {
    expect(bad(JSON.stringify({ custom_id: 'r', url: '/v1/embeddings', body })).message).toContain('"/v1/embeddings"');
    expect(bad(JSON.stringify({ custom_id: 'r', body: { model: 3, messages: [] } })).message).toContain('`body.model`');
  });
});
