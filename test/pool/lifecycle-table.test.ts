/**
 * The lifecycle table (src/pool/lifecycle.ts) read on its own: a request is
 * answered once and takes its slot once by construction, whatever drives it.
 * test/pool/request-lifecycle.test.ts drives every transition through a pool.
 */
import { describe, expect, it } from 'vitest';
import { LifecycleError, move, STATES, STEPS, TRANSITIONS, type RequestState, type Transition } from '../../src/pool/lifecycle.js';

const states = Object.keys(STATES) as RequestState[];
const transitions = Object.keys(TRANSITIONS) as Transition[];
/** Every [transition, from] pair of the table. */
const moves = transitions.flatMap((t) => TRANSITIONS[t].from.map((from) => [t, from] as const));

describe('the lifecycle table', () => {
  it('never leads from an answered state back to an unanswered one', () => {
    for (const [t, from] of moves) expect(STATES[from].answered && !STATES[TRANSITIONS[t].to].answered, `${t} from ${from}`).toBe(false);
  });

  it('answers the caller on exactly the transitions from unanswered to answered', () => {
    for (const [t, from] of moves) {
      const crosses = !STATES[from].answered && STATES[TRANSITIONS[t].to].answered;
      expect(TRANSITIONS[t].answers !== undefined, `${t} from ${from}`).toBe(crosses);
    }
  });

  it('takes a slot by `start` only', () => {
    const taking = moves.filter(([t, from]) => !STATES[from].slot && STATES[TRANSITIONS[t].to].slot).map(([t]) => t);
    expect(taking).toEqual(['start']);
  });

  it('has no way out of `done`', () => {
    expect(moves.filter(([, from]) => from === 'done')).toEqual([]);
  });

  it('reaches every state from `queued`, and `done` from every state', () => {
    const closure = (start: RequestState, next: (s: RequestState) => RequestState[]): Set<RequestState> => {
      const seen = new Set([start]);
      for (const s of seen) for (const n of next(s)) seen.add(n);
      return seen;
    };
    expect([...closure('queued', (s) => moves.filter(([, f]) => f === s).map(([t]) => TRANSITIONS[t].to))].sort()).toEqual([...states].sort());
    expect([...closure('done', (s) => moves.filter(([t]) => TRANSITIONS[t].to === s).map(([, f]) => f))].sort()).toEqual([...states].sort());
  });

  it('a transition leaving from several states leaves from states of the same traits, so what it does is one thing', () => {
    for (const t of transitions) for (const from of TRANSITIONS[t].from) expect(STATES[from], `${t} from ${from}`).toEqual(STATES[TRANSITIONS[t].from[0] as RequestState]);
  });

  it('each step does what crossing the table says: take, free, unwatch, answer', () => {
    for (const [t, from] of moves) {
      const a = STATES[from];
      const b = STATES[TRANSITIONS[t].to];
      expect({ ...STEPS[t] }, t).toEqual({
        transition: t,
        from: TRANSITIONS[t].from[0],
        fromOther: TRANSITIONS[t].from[1] ?? TRANSITIONS[t].from[0],
        to: TRANSITIONS[t].to,
        takesSlot: !a.slot && b.slot,
        freesSlot: a.slot && !b.slot,
        unwatches: a.watched && !b.watched,
        answers: TRANSITIONS[t].answers,
      });
    }
  });

  it('move() takes every move of the table and throws LifecycleError on any other, leaving the state', () => {
    for (const t of transitions) {
      for (const s of states) {
        const request = { seq: 7, state: s };
        if (TRANSITIONS[t].from.includes(s)) {
          expect(move(request, STEPS[t])).toBe(TRANSITIONS[t].to);
          expect(request.state).toBe(TRANSITIONS[t].to);
        } else {
          expect(() => move(request, STEPS[t])).toThrow(LifecycleError);
          expect(() => move(request, STEPS[t])).toThrow(`request 7 cannot ${t} from ${s}`);
          expect(request.state).toBe(s);
        }
      }
    }
  });
});
