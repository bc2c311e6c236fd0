import { createHash } from 'node:crypto';

/**
 * A short, stable name for an API key that is safe to print: `sk-…a1b2c3d4` style,
 * built from a hash so that it reveals nothing of the key itself.
 */
export function fingerprint(key: string): string {
  const digest = createHash('sha256').update(key).digest('hex');
  const prefix = key.startsWith('sk-') ? 'sk-' : '';
  // 8 hex digits (32 bits): two keys of 1,000 collide with odds of about 1 in 10,000.
  return `${prefix}…${digest.slice(0, 8)}`;
}

/** Text from elsewhere (a server's message, a value given for another option) with anything key-like as its fingerprint. */
export function redactKeys(text: string): string {
  return text.replace(/sk-[A-Za-z0-9_-]{8,}/g, (key) => fingerprint(key));
}
