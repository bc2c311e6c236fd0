/**
 * A set of custom_ids kept as 64-bit hashes in typed arrays, with a number
 * (the line it came from) per id: about 12 bytes per slot, 16 to 32 bytes per
 * id, against ~100 for a `Set<string>` of short strings. The price is a
 * collision chance of about n² / 2⁶⁵ (3e-8 for a million ids), where two ids
 * would be taken for one.
 */

let h1 = 0;
let h2 = 0;

/** 64-bit hash of a string in (h1, h2): cyrb53's mixing, both halves kept. */
function hash(s: string): void {
  let a = 0xdeadbeef;
  let b = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    a = Math.imul(a ^ ch, 2654435761);
    b = Math.imul(b ^ ch, 1597334677);
  }
  a = Math.imul(a ^ (a >>> 16), 2246822507) ^ Math.imul(b ^ (b >>> 13), 3266489909);
  b = Math.imul(b ^ (b >>> 16), 2246822507) ^ Math.imul(a ^ (a >>> 13), 3266489909);
  h1 = a >>> 0;
  h2 = b >>> 0;
}

/** Open addressing, linear probing; a slot is empty while its value is 0. */
export class IdSet {
  private hi: Uint32Array;
  private lo: Uint32Array;
  private val: Uint32Array;
  private mask: number;
  /** Ids held. */
  size = 0;

  constructor(capacity = 1024) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.val = new Uint32Array(n);
    this.mask = n - 1;
  }

  /** The value stored with `id`, or 0 when absent. */
  get(id: string): number {
    hash(id);
    return this.val[this.find(h1, h2)] as number;
  }

  has(id: string): boolean {
    return this.get(id) !== 0;
  }

  /**
   * Adds `id` with `value` (>= 1) unless present.
   * @returns the value already stored with `id`, or 0 when it was added.
   */
  add(id: string, value = 1): number {
    hash(id);
    const slot = this.find(h1, h2);
    const existing = this.val[slot] as number;
    if (existing !== 0) return existing;
    this.hi[slot] = h1;
    this.lo[slot] = h2;
    this.val[slot] = value;
    if (++this.size * 4 > this.val.length * 3) this.grow();
    return 0;
  }

  /** Bytes held by the arrays. */
  get bytes(): number {
    return this.val.length * 12;
  }

  private find(a: number, b: number): number {
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask;
    while (this.val[i] !== 0 && (this.hi[i] !== a || this.lo[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  private grow(): void {
    const { hi, lo, val } = this;
    const n = val.length * 2;
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n);
    this.val = new Uint32Array(n);
    this.mask = n - 1;
    for (let i = 0; i < val.length; i++) {
      if (val[i] === 0) continue;
      const slot = this.find(hi[i] as number, lo[i] as number);
      this.hi[slot] = hi[i] as number;
      this.lo[slot] = lo[i] as number;
      this.val[slot] = val[i] as number;
    }
  }
}
