import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/queue/deque.js';
import { JobQueue, type Queueable } from '../../src/queue/job-queue.js';
import { MinHeap } from '../../src/queue/min-heap.js';

interface Item extends Queueable {
  readonly name: string;
}
let seq = 0;
const item = (name: string, priority = 0): Item => ({ name, priority, seq: ++seq, queued: false });
const names = (items: readonly Item[]): string[] => items.map((i) => i.name);

describe('JobQueue', () => {
  it('serves higher priority first, FIFO within a priority', () => {
    const q = new JobQueue<Item>();
    for (const [n, p] of [['a', 0], ['b', 1], ['c', 0], ['d', 5], ['e', 1], ['f', -2], ['g', 5]] as const) q.push(item(n, p));
    expect(q.size).toBe(7);
    expect(names(q.drain())).toEqual(['d', 'g', 'b', 'e', 'a', 'c', 'f']);
    expect(q.size).toBe(0);
    expect(q.pop()).toBeUndefined();
  });

  it('puts a returned entry back at its original place, ahead of younger ones', () => {
    const q = new JobQueue<Item>();
    const a = item('a');
    const b = item('b');
    const c = item('c');
    q.push(a);
    q.push(b);
    q.push(c);
    expect(q.pop()).toBe(a);
    expect(q.pop()).toBe(b);
    q.push(item('d'));
    q.pushBack(b);
    q.pushBack(a);
    expect(names(q.drain())).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a returned entry does not jump a higher priority', () => {
    const q = new JobQueue<Item>();
    const a = item('a', 0);
    q.push(a);
    expect(q.pop()).toBe(a);
    q.push(item('hi', 3));
    q.pushBack(a);
    expect(names(q.drain())).toEqual(['hi', 'a']);
  });

  it('forgets entries lazily: size drops at once, peek and pop skip them', () => {
    const q = new JobQueue<Item>();
    const a = item('a');
    const b = item('b', 2);
    const c = item('c');
    q.push(a);
    q.push(b);
    q.push(c);
    q.forget(b);
    expect(q.size).toBe(2);
    expect(b.queued).toBe(false);
    expect(q.peek()).toBe(a);
    q.forget(a);
    expect(q.pop()).toBe(c);
    expect(q.size).toBe(0);
    expect(q.peek()).toBeUndefined();
  });

  it('peek does not remove; pop clears `queued`', () => {
    const q = new JobQueue<Item>();
    const a = item('a');
    q.push(a);
    expect(a.queued).toBe(true);
    expect(q.peek()).toBe(a);
    expect(q.size).toBe(1);
    expect(q.pop()).toBe(a);
    expect(a.queued).toBe(false);
  });

  it('keeps order over many entries and priorities', () => {
    const q = new JobQueue<Item>();
    const all: Item[] = [];
    for (let i = 0; i < 1000; i++) {
      const it = item(`x${i}`, (i * 7919) % 5);
      all.push(it);
      q.push(it);
    }
    const expected = [...all].sort((x, y) => y.priority - x.priority || x.seq - y.seq);
    expect(q.drain()).toEqual(expected);
  });
});

describe('Deque', () => {
  it('pushes and shifts at both ends across growth', () => {
    const d = new Deque<number>(2);
    for (let i = 0; i < 40; i++) d.push(i);
    d.unshift(-1);
    expect(d.size).toBe(41);
    expect(d.peek()).toBe(-1);
    expect(d.at(1)).toBe(0);
    expect(d.at(41)).toBeUndefined();
    expect(d.at(-1)).toBeUndefined();
    expect(d.shift()).toBe(-1);
    expect(d.drain()).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(d.shift()).toBeUndefined();
  });

  it('wraps around the ring', () => {
    const d = new Deque<number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 12; i++) d.push(round * 100 + i);
      for (let i = 0; i < 12; i++) expect(d.shift()).toBe(round * 100 + i);
    }
    expect(d.size).toBe(0);
  });
});

describe('MinHeap', () => {
  it('pops in order', () => {
    const h = new MinHeap<number>((a, b) => a < b);
    const values = [5, 3, 9, 1, 1, 8, 2, 7, 0, 6];
    for (const v of values) h.push(v);
    expect(h.peek()).toBe(0);
    const out: number[] = [];
    for (let v = h.pop(); v !== undefined; v = h.pop()) out.push(v);
    expect(out).toEqual([...values].sort((a, b) => a - b));
    expect(h.size).toBe(0);
  });
});
