/** Node's own fetch tells, by key, when it wrote a request to its socket. */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { watchWire } from '../../src/net/wire-watch.js';

let server: Server;
let url = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1/x`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function post(key: string): Promise<void> {
  const r = await fetch(url, { method: 'POST', body: '{}', headers: { authorization: `Bearer ${key}` } });
  await r.text();
}

describe('watchWire', () => {
  it('tells the listener of its key each request written, before the response, and no other', async () => {
    const seen: string[] = [];
    const stopA = watchWire('sk-wire-a', { written: () => (seen.push('a'), true) });
    const stopB = watchWire('sk-wire-b', { written: () => (seen.push('b'), true) });
    const response = post('sk-wire-a');
    await response;
    await post('sk-wire-a');
    await post('sk-other');
    expect(seen).toEqual(['a', 'a']);
    stopA();
    await post('sk-wire-a');
    await post('sk-wire-b');
    expect(seen).toEqual(['a', 'a', 'b']);
    stopB();
  });

  it('asks the next listener of the same key when the first had nothing waiting', async () => {
    const seen: string[] = [];
    const stop1 = watchWire('sk-wire-c', { written: () => (seen.push('first'), false) });
    const stop2 = watchWire('sk-wire-c', { written: () => (seen.push('second'), true) });
    await post('sk-wire-c');
    expect(seen).toEqual(['first', 'second']);
    stop1();
    stop2();
    await post('sk-wire-c');
    expect(seen).toEqual(['first', 'second']);
  });
});
