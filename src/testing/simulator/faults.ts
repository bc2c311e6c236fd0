/**
 * Fault and latency draws. Each accepted chat request draws the same number of
 * random values whatever the rates are, so changing one rate does not reshuffle
 * the draws of the others and a seed replays the same run.
 */
import type { ResolvedFaults } from './options.js';
import type { Random } from './random.js';
import type { FaultKind } from './types.js';

/** What to do to one accepted request. */
export interface FaultPlan {
  /** The fault to inject, or `null` for a normal answer. */
  readonly fault: FaultKind | null;
  /** Total time the answer takes (ms): latency plus `slowMs` when slowed. */
  readonly latencyMs: number;
}

/** Precedence when several rates hit at once: the most disruptive fault wins. */
const ORDER = [
  ['dropped', 'dropRate'],
  ['overloaded', 'overloadRate'],
  ['server', 'serverErrorRate'],
  ['unavailable', 'unavailableRate'],
  ['malformed', 'malformedRate'],
  ['streamCut', 'streamCutRate'],
] as const satisfies readonly (readonly [FaultKind, keyof ResolvedFaults])[];

/**
 * Draws the fault and the latency of one accepted request.
 * `streamCut` applies to streams only; for other requests it is drawn and ignored.
 */
export function planFaults(
  faults: ResolvedFaults,
  latency: readonly [number, number],
  random: Random,
  stream: boolean,
): FaultPlan {
  let fault: FaultKind | null = null;
  for (const [kind, rate] of ORDER) {
    const hit = random() < faults[rate];
    if (hit && fault === null && (kind !== 'streamCut' || stream)) fault = kind;
  }
  const slow = random() < faults.slowRate;
  const [min, max] = latency;
  const base = min + (max - min) * random();
  return { fault, latencyMs: base + (slow ? faults.slowMs : 0) };
}
