import { createRequire } from 'node:module';
import { ConfigError } from '../errors.js';

const require = createRequire(import.meta.url);

/**
 * Loads an optional peer dependency when the exporter that needs it is
 * created, so `kimi-pool/metrics` works with either one installed.
 * @throws {ConfigError} naming the package to install.
 */
export function loadPeer<T>(name: string, user: string): T {
  try {
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    throw new ConfigError(`${user} needs the optional peer dependency ${name}: run \`npm install ${name}\``);
  }
}
