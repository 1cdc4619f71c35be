/**
 * Where the operator console's built page is: `npm run build` builds apps/console into
 * packages/cli/dist/console (`node apps/console/build.mjs --outdir packages/cli/dist/console`),
 * which the server then serves under `/console/`.
 */
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build beside the compiled CLI (dist/console-assets.js → dist/console) or, from the sources (src/), in dist. */
const CANDIDATES = [fileURLToPath(new URL('./console/', import.meta.url)), fileURLToPath(new URL('../dist/console/', import.meta.url))];

async function hasIndex(dir: string): Promise<boolean> {
  try {
    await access(join(dir, 'index.html'));
    return true;
  } catch {
    return false;
  }
}

/**
 * The console's assets directory: `explicit` when given (`PARLEY_CONSOLE_DIR`; used as is,
 * built or not), else the CLI's own build if it has an index.html, else undefined (the server
 * then answers `GET /console/` with 404 `console_not_built`).
 *
 * @example
 * const assetsDir = await consoleAssetsDir(process.env['PARLEY_CONSOLE_DIR']);
 * await startServer({ console: { assetsDir } });
 */
export async function consoleAssetsDir(explicit?: string): Promise<string | undefined> {
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  for (const dir of CANDIDATES) if (await hasIndex(dir)) return dir;
  return undefined;
}
