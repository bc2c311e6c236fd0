import { createHash } from 'node:crypto';

/**
 * A short, stable name for an API key that is safe to print: `sk-…a1b2` style,
 * built from a hash so that it reveals nothing of the key itself.
 */
export function fingerprint(key: string): string {
  const digest = createHash('sha256').update(key).digest('hex');
  const prefix = key.startsWith('sk-') ? 'sk-' : '';
  return `${prefix}…${digest.slice(0, 6)}`;
}
