/**
 * `npm run lua [dir]`: writes each Redis script as Redis runs it (prelude.lua
 * then the script's file) to `dir` (default build/lua/), so that it can be
 * run by hand: `redis-cli --eval build/lua/acquire.lua <6 keys> , <args>`.
 * Prints each file with the SHA1 the store runs it under (EVALSHA).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SCRIPTS } from '../src/redis/scripts.js';

const dir = resolve(process.argv[2] ?? 'build/lua');
mkdirSync(dir, { recursive: true });
for (const script of SCRIPTS) {
  const file = join(dir, `${script.name}.lua`);
  writeFileSync(file, script.lua);
  console.log(`${script.sha}  ${file}`);
}
