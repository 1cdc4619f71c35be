/**
 * CommonJS dependencies required on first use instead of at module load: a node that never
 * needs one (the embedded default never opens `pg`, most nodes never bind SMPP, tracing is
 * off by default) does not load it at start (issue 18: each is tens of milliseconds and tens
 * of modules on the start-up path). `require` is synchronous, so callers stay synchronous.
 *
 * @example
 * const pgModule = lazyCommonJs<typeof Pg>('pg');
 * const pool = new (pgModule().Pool)({ connectionString });
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** A loader of the CommonJS module `id` (resolved from this package): required once, on the first call. */
export function lazyCommonJs<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(id) as T);
}
