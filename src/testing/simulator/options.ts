/**
 * Validation of simulator options. Every problem throws a TypeError that names
 * the field, p-queue style: ``Expected `accounts[1].tier` to be ..., got `x` (string)``.
 * Unknown fields throw too, because a typo in a JSON config would otherwise
 * silently run the simulator with defaults.
 */
import { isTierName, TIERS, type Limits, type TierName } from '../../tiers.js';
import type {
  KimiSimulatorOptions,
  LatencyOption,
  SimulatorAccount,
  SimulatorAccountPatch,
  SimulatorFaults,
} from './types.js';

/** Models of the 2026 Kimi platform, served by default. */
export const DEFAULT_MODELS: readonly string[] = Object.freeze([
  'kimi-k2.5',
  'kimi-k2.6',
  'kimi-k2-turbo-preview',
  'kimi-k2-thinking',
  'moonshot-v1-8k',
  'moonshot-v1-32k',
  'moonshot-v1-128k',
  'kimi-latest',
]);

/** Fault settings with every field filled in. */
export type ResolvedFaults = Required<Omit<SimulatorFaults, 'retryAfterHeader'>> & {
  readonly retryAfterHeader: number | undefined;
};

/** Options after validation, with defaults applied. */
export interface ResolvedOptions {
  readonly accounts: readonly SimulatorAccount[];
  readonly windowMs: number;
  readonly latencyMs: readonly [number, number];
  readonly arrivalDelayMs: readonly [number, number];
  readonly newConnectionDelayMs: number;
  readonly faults: ResolvedFaults;
  readonly port: number;
  readonly seed: number;
  readonly models: readonly string[];
  readonly defaultMaxTokens: number;
  readonly recordArrivals: boolean;
  readonly promptCache: boolean;
  readonly now: () => number;
}

const OPTION_FIELDS = [
  'accounts', 'windowMs', 'latencyMs', 'arrivalDelayMs', 'newConnectionDelayMs', 'faults', 'port', 'seed',
  'models', 'defaultMaxTokens', 'recordArrivals', 'promptCache', 'now',
];
const ACCOUNT_FIELDS = ['id', 'keys', 'tier', 'limits', 'balance', 'suspended'];
const LIMIT_FIELDS: readonly (keyof Limits)[] = ['concurrency', 'rpm', 'tpm', 'tpd'];
const RATE_FIELDS = [
  'overloadRate', 'serverErrorRate', 'unavailableRate', 'dropRate',
  'malformedRate', 'streamCutRate', 'slowRate',
] as const;
const FAULT_FIELDS = [...RATE_FIELDS, 'slowMs', 'retryAfterHeader'];

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return `\`${text}\` (${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value})`;
}

function fail(field: string, expected: string, value: unknown): never {
  throw new TypeError(`Expected \`${field}\` to be ${expected}, got ${show(value)}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkFields(field: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const name of Object.keys(value)) {
    if (!allowed.includes(name)) {
      throw new TypeError(`Unknown field \`${field ? `${field}.` : ''}${name}\`; allowed: ${allowed.join(', ')}`);
    }
  }
}

function number(field: string, value: unknown, min: number, opts: { integer?: boolean; infinite?: boolean } = {}): number {
  const ok = typeof value === 'number' && !Number.isNaN(value) && value >= min
    && (opts.infinite === true || Number.isFinite(value))
    && (!opts.integer || !Number.isFinite(value) || Number.isInteger(value));
  if (!ok) {
    const kind = opts.integer ? 'an integer' : 'a finite number';
    fail(field, `${opts.infinite ? 'Infinity or ' : ''}${kind} >= ${min}`, value);
  }
  return value as number;
}

function tier(field: string, value: unknown): TierName {
  if (!isTierName(value)) fail(field, `one of ${Object.keys(TIERS).join(', ')}`, value);
  return value;
}

/** Validates a partial limits object (tiers allow `Infinity`). */
export function validateLimits(field: string, value: unknown): Partial<Limits> {
  if (!isRecord(value)) fail(field, 'an object', value);
  checkFields(field, value, LIMIT_FIELDS);
  const out: Partial<Record<keyof Limits, number>> = {};
  for (const name of LIMIT_FIELDS) {
    if (value[name] !== undefined) out[name] = number(`${field}.${name}`, value[name], 0, { integer: true, infinite: true });
  }
  return out;
}

function account(field: string, value: unknown, seenIds: Set<string>, seenKeys: Map<string, string>): SimulatorAccount {
  if (!isRecord(value)) fail(field, 'an object', value);
  checkFields(field, value, ACCOUNT_FIELDS);
  const { id, keys } = value;
  if (typeof id !== 'string' || id.length === 0) fail(`${field}.id`, 'a non-empty string', id);
  if (seenIds.has(id)) throw new TypeError(`Duplicate account id \`${id}\` in \`${field}.id\``);
  seenIds.add(id);
  if (!Array.isArray(keys) || keys.length === 0) fail(`${field}.keys`, 'a non-empty array of strings', keys);
  keys.forEach((key: unknown, i) => {
    if (typeof key !== 'string' || key.length === 0) fail(`${field}.keys[${i}]`, 'a non-empty string', key);
    const owner = seenKeys.get(key);
    // The key itself never appears in messages: only where it was seen.
    if (owner !== undefined) throw new TypeError(`Duplicate key in \`${field}.keys[${i}]\`: already used by ${owner}`);
    seenKeys.set(key, `${field}.keys[${i}]`);
  });
  return {
    id,
    keys: [...(keys as string[])],
    tier: value.tier === undefined ? 'tier0' : tier(`${field}.tier`, value.tier),
    limits: value.limits === undefined ? {} : validateLimits(`${field}.limits`, value.limits),
    balance: value.balance === undefined ? 100 : number(`${field}.balance`, value.balance, -Infinity),
    suspended: value.suspended === undefined ? false : bool(`${field}.suspended`, value.suspended),
  };
}

function bool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(field, 'a boolean', value);
  return value;
}

function latency(value: unknown, field = 'latencyMs'): readonly [number, number] {
  if (value === undefined) return [0, 0];
  if (typeof value === 'number') {
    const ms = number(field, value, 0);
    return [ms, ms];
  }
  if (!Array.isArray(value) || value.length !== 2) fail(field, 'a number or a [min, max] pair', value);
  const min = number(`${field}[0]`, value[0], 0);
  const max = number(`${field}[1]`, value[1], min);
  return [min, max];
}

function windowMs(value: unknown): number {
  if (value === undefined) return 60_000;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) fail('windowMs', 'a finite number > 0', value);
  return value;
}

function port(value: unknown): number {
  if (value === undefined) return 0;
  const n = number('port', value, 0, { integer: true });
  if (n > 65_535) fail('port', 'an integer in [0, 65535]', value);
  return n;
}

/** Validates fault settings; missing fields become 0 (slowMs: 1000). */
export function validateFaults(value: unknown): ResolvedFaults {
  if (value === undefined) value = {};
  if (!isRecord(value)) fail('faults', 'an object', value);
  checkFields('faults', value, FAULT_FIELDS);
  const rates = {} as Record<(typeof RATE_FIELDS)[number], number>;
  for (const name of RATE_FIELDS) {
    const rate = value[name] ?? 0;
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) fail(`faults.${name}`, 'a number in [0, 1]', rate);
    rates[name] = rate;
  }
  return {
    ...rates,
    slowMs: value.slowMs === undefined ? 1000 : number('faults.slowMs', value.slowMs, 0),
    retryAfterHeader: value.retryAfterHeader === undefined
      ? undefined
      : number('faults.retryAfterHeader', value.retryAfterHeader, 0, { integer: true }),
  };
}

/** Validates a {@link SimulatorAccountPatch} for `setAccount`. */
export function validatePatch(value: unknown): SimulatorAccountPatch {
  if (!isRecord(value)) fail('patch', 'an object', value);
  checkFields('patch', value, ['suspended', 'balance', 'limits', 'tier']);
  const patch: { -readonly [K in keyof SimulatorAccountPatch]: SimulatorAccountPatch[K] } = {};
  if (value.suspended !== undefined) patch.suspended = bool('patch.suspended', value.suspended);
  if (value.balance !== undefined) patch.balance = number('patch.balance', value.balance, -Infinity);
  if (value.limits !== undefined) patch.limits = validateLimits('patch.limits', value.limits);
  if (value.tier !== undefined) patch.tier = tier('patch.tier', value.tier);
  return patch;
}

/** Validates all options and fills in defaults; throws a TypeError naming the bad field. */
export function resolveOptions(options: KimiSimulatorOptions): ResolvedOptions {
  if (!isRecord(options)) fail('options', 'an object', options);
  checkFields('', options, OPTION_FIELDS);
  const raw = options as unknown as Record<string, unknown>;
  const list = raw.accounts;
  if (!Array.isArray(list) || list.length === 0) fail('accounts', 'a non-empty array', list);
  const ids = new Set<string>();
  const keys = new Map<string, string>();
  const accounts = list.map((a: unknown, i) => account(`accounts[${i}]`, a, ids, keys));

  const models = raw.models ?? DEFAULT_MODELS;
  if (!Array.isArray(models) || models.length === 0) fail('models', 'a non-empty array of strings', models);
  models.forEach((m: unknown, i) => {
    if (typeof m !== 'string' || m.length === 0) fail(`models[${i}]`, 'a non-empty string', m);
  });
  const now = raw.now ?? (() => performance.now());
  if (typeof now !== 'function') fail('now', 'a function', now);
  const latencyMs: LatencyOption = latency(raw.latencyMs);

  return {
    accounts,
    windowMs: windowMs(raw.windowMs),
    latencyMs: latencyMs as readonly [number, number],
    arrivalDelayMs: latency(raw.arrivalDelayMs, 'arrivalDelayMs'),
    newConnectionDelayMs: raw.newConnectionDelayMs === undefined ? 0 : number('newConnectionDelayMs', raw.newConnectionDelayMs, 0),
    faults: validateFaults(raw.faults),
    port: port(raw.port),
    seed: raw.seed === undefined ? 1 : number('seed', raw.seed, -Infinity),
    models: [...(models as string[])],
    defaultMaxTokens: raw.defaultMaxTokens === undefined
      ? 32_768
      : number('defaultMaxTokens', raw.defaultMaxTokens, 1, { integer: true }),
    recordArrivals: raw.recordArrivals === undefined ? false : bool('recordArrivals', raw.recordArrivals),
    promptCache: raw.promptCache === undefined ? false : bool('promptCache', raw.promptCache),
    now: now as () => number,
  };
}
