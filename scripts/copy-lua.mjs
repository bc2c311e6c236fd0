/**
 * Part of `npm run build`: copies the Redis store's Lua scripts
 * (src/redis/lua/*.lua) to dist/redis/lua/, where dist/redis/scripts.js reads
 * them (tsc copies no .lua). The directory is replaced, so a script deleted
 * from src/ is gone from dist/ too.
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';

const from = new URL('../src/redis/lua/', import.meta.url);
const to = new URL('../dist/redis/lua/', import.meta.url);
rmSync(to, { recursive: true, force: true });
mkdirSync(to, { recursive: true });
for (const file of readdirSync(from)) if (file.endsWith('.lua')) copyFileSync(new URL(file, from), new URL(file, to));
