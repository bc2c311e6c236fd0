import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/**
 * Reads and parses a JSON file the user named (`what`: "config", "price").
 * @throws {ConfigError} naming the file when it cannot be read or is not JSON.
 */
export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read the ${what} file ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`The ${what} file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}
