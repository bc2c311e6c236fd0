/**
 * The Lua scripts of the Redis store, one `.lua` file per decision in
 * `./lua/` (the layout of BullMQ's commands): `prelude.lua` holds what every
 * script shares (the keys, the common ARGV, the Redis clock, ensure, prune,
 * reply) and documents the data layout; each other file is one script.
 * Three scripts stand alone, without the prelude (merge, merges, enable: the
 * run-time edits, which take no account's six keys).
 *
 * The files are read once, when this module loads, from `lua/` beside it:
 * `src/redis/lua/` under the source condition (tests, tsx), and
 * `dist/redis/lua/`, which `npm run build` copies there (scripts/copy-lua.mjs).
 * A decision script is the prelude followed by its file, run as one: Lua has no
 * include in Redis, and one prelude kept once beats nine copies of it kept in
 * step. `npm run lua` writes the combined files, to run one with
 * `redis-cli --eval` (docs/distributed.md).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Limits } from '../tiers.js';

/** A script and its SHA1, for EVALSHA. */
export interface Script {
  /** Its file's name without `.lua`: names the step in errors. */
  readonly name: string;
  /** The prelude and the script, as sent to Redis. */
  readonly lua: string;
  readonly sha: string;
}

/** The directory of the `.lua` files, beside this module in `src/` and in `dist/`. */
export const LUA_DIR = new URL('./lua/', import.meta.url);

function read(file: string): string {
  const url = new URL(file, LUA_DIR);
  try {
    return readFileSync(url, 'utf8');
  } catch (error) {
    // Only an incomplete install or build gets here: the files ship in the package.
    throw new Error(`kimi-pool/redis cannot read its Lua script ${fileURLToPath(url)}: reinstall kimi-pool, or run \`npm run build\`, which copies src/redis/lua/ into dist/redis/lua/`, { cause: error });
  }
}

const PRELUDE = read('prelude.lua');

function script(name: string, lua: string): Script {
  return { name, lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** A decision script: the prelude, then its file. */
function load(name: string): Script {
  return script(name, `${PRELUDE}\n${read(`${name}.lua`)}`);
}

/** A script that stands alone (no account's keys): its file only. */
function loadAlone(name: string): Script {
  return script(name, read(`${name}.lua`));
}

export const ACQUIRE = load('acquire');
export const RELEASE = load('release');
export const RENEW = load('renew');
export const RESTAMP = load('restamp');
export const PAUSE = load('pause');
export const SET_LIMITS = load('set-limits');
export const OBSERVE = load('observe');
export const DISABLE = load('disable');
export const SYNC = load('sync');

/** Run-time edits shared by the pools: account merges (Msh-Org-Id) and re-enabled keys or accounts. */
export const MERGE = loadAlone('merge');
export const MERGES = loadAlone('merges');
export const ENABLE = loadAlone('enable');

/** The scripts that run after the prelude, one per decision. */
export const DECISION_SCRIPTS: readonly Script[] = [ACQUIRE, RELEASE, RENEW, RESTAMP, PAUSE, SET_LIMITS, OBSERVE, DISABLE, SYNC];

/** Every script, each file in `./lua/` but the prelude. */
export const SCRIPTS: readonly Script[] = [...DECISION_SCRIPTS, MERGE, MERGES, ENABLE];

/** Limits as the scripts take them: "concurrency,rpm,tpm,tpd", -1 for unlimited. */
export function encodeLimits(l: Limits): string {
  const f = (n: number): number => (Number.isFinite(n) ? n : -1);
  return `${f(l.concurrency)},${f(l.rpm)},${f(l.tpm)},${f(l.tpd)}`;
}

export function decodeLimits(s: string): Limits {
  const [concurrency = -1, rpm = -1, tpm = -1, tpd = -1] = s.split(',').map((v) => (Number(v) < 0 ? Infinity : Number(v)));
  return { concurrency, rpm, tpm, tpd };
}

/** The Redis keys of one account, in the order the scripts take them. */
export function accountKeys(prefix: string, account: string): string[] {
  // The hash tag keeps an account's keys on one cluster slot; braces in ids would break it.
  const base = `${prefix}{${encodeURIComponent(account)}}:`;
  return [`${base}m`, `${base}s`, `${base}t`, `${base}d`, `${base}dt`, `${base}l`];
}

/** The account's state as every script answers it. */
export interface Reply {
  /** 0 = started (acquire), 1 = wait, 2 = never fits, 3 = account disabled. */
  readonly status: number;
  readonly wait: number;
  readonly inFlight: number;
  readonly starts: number;
  readonly tokens: number;
  readonly pauseLeft: number;
  readonly epoch: string;
  readonly dv: string;
  readonly limits: string;
  readonly concurrencyFull: boolean;
  readonly lost: boolean;
  /** Disabled fields ("off", "k:<key id>") and their reasons, when `dv` was out of date. */
  readonly disabled: readonly (readonly [string, string])[];
}

/** Reads a script's answer; throws when it is not one (a wrong server or script). */
export function parseReply(raw: unknown): Reply {
  if (!Array.isArray(raw) || raw.length < 11) throw new Error(`Unexpected answer from a kimi-pool Redis script: ${JSON.stringify(raw)}`);
  const n = (i: number): number => Number(raw[i]);
  const s = (i: number): string => String(raw[i]);
  const disabled: [string, string][] = [];
  for (let i = 11; i + 1 < raw.length; i += 2) disabled.push([s(i), s(i + 1)]);
  return {
    status: n(0),
    wait: n(1),
    inFlight: n(2),
    starts: n(3),
    tokens: n(4),
    pauseLeft: n(5),
    epoch: s(6),
    dv: s(7),
    limits: s(8),
    concurrencyFull: n(9) === 1,
    lost: n(10) === 1,
    disabled,
  };
}
