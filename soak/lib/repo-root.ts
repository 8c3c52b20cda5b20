import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The repository root, found by walking up to the first `package.json`: the soak runs both from its sources
 * (`soak/`, under Jest) and compiled (`dist-soak/soak/`), one level deeper, so a fixed `..` would be wrong in one
 * of the two.
 */
export function repoRoot(from = __dirname): string {
  for (let dir = from, i = 0; i < 10; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new Error(`no package.json above ${from}`);
}

/** Where `tsc -p soak/tsconfig.json` puts the compiled soak (the worker scripts are forked from there). */
export function compiledSoakDir(root = repoRoot()): string {
  return join(root, 'dist-soak', 'soak');
}
