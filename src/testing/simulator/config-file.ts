/**
 * JSON config files for the `kimi-pool simulate` command. JSON has no
 * Infinity, so `null` in a limit means unlimited.
 */
import { readFile } from 'node:fs/promises';
import { fingerprint } from '../../fingerprint.js';
import { TIERS, type Limits } from '../../tiers.js';
import { resolveOptions } from './options.js';
import type { KimiSimulatorOptions } from './types.js';

function unlimitedNulls(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, v === null ? Infinity : v]));
}

/**
 * Turns parsed JSON into simulator options (limits: `null` -> `Infinity`) and
 * validates them, so a bad file fails before the server starts.
 * @throws TypeError naming the bad field.
 */
export function simulatorOptionsFromJson(json: unknown): KimiSimulatorOptions {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError('Expected the simulator config to be a JSON object');
  }
  const raw = json as Record<string, unknown>;
  const accounts = Array.isArray(raw.accounts)
    ? raw.accounts.map((a: unknown) =>
        typeof a === 'object' && a !== null && 'limits' in a
          ? { ...a, limits: unlimitedNulls((a as { limits: unknown }).limits) }
          : a)
    : raw.accounts;
  const options = { ...raw, accounts } as unknown as KimiSimulatorOptions;
  resolveOptions(options);
  return options;
}

/** Reads and validates a JSON config file. */
export async function loadSimulatorConfig(path: string): Promise<KimiSimulatorOptions> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`Config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return simulatorOptionsFromJson(json);
}

const show = (n: number): string => (Number.isFinite(n) ? String(n) : 'unlimited');

/** One line per account: id, tier, effective limits and key fingerprints (never the keys). */
export function describeAccounts(options: KimiSimulatorOptions): string[] {
  return options.accounts.map((account) => {
    const tier = account.tier ?? 'tier0';
    const limits: Limits = { ...TIERS[tier], ...account.limits };
    const flags = [account.suspended ? 'suspended' : '', account.balance !== undefined ? `balance=${account.balance}` : '']
      .filter(Boolean).join(' ');
    return `${account.id} (${tier}${account.limits && Object.keys(account.limits).length > 0 ? ', custom' : ''}): `
      + `concurrency=${show(limits.concurrency)} rpm=${show(limits.rpm)} tpm=${show(limits.tpm)} tpd=${show(limits.tpd)}`
      + `${flags ? ` ${flags}` : ''}; keys: ${account.keys.map(fingerprint).join(', ')}`;
  });
}
