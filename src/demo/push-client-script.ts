import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Where `npm run build:client` writes the browser client, relative to the repository root. */
const BUILT_CLIENT = join('libs', 'push-client', 'dist', 'push-client.js');

/**
 * The official browser client (`nest-push-client`), as the example app serves it at `GET /push-client.js`: one ES
 * module with no imports, read once. The app runs from src/ (tests) or dist/src/ (`npm start`), so the repository
 * root is found by walking up. Null when the client was not built (`npm run build:client`; `npm test`, `npm start`
 * and `npm run build` do it).
 */
export function readPushClientScript(from: string = __dirname): string | null {
  for (let dir = from, up = 0; up < 6; dir = dirname(dir), up++) {
    const file = join(dir, BUILT_CLIENT);
    if (existsSync(file)) return readFileSync(file, 'utf8');
  }
  return null;
}
