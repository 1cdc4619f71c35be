/**
 * Argon2id cost parameters (RFC 9106 §3.1) shared by the browser key store and encrypted
 * backups: the type, the defaults and the bounds a parameter read from a header must meet.
 * No DOM or Node types here: the SDK's main entry reaches this module.
 */

/**
 * Argon2id cost parameters (RFC 9106 §3.1), as for `FileKeyStore`.
 *
 * @example
 * const params: Argon2Params = { memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 };
 */
export interface Argon2Params {
  /** Memory in KiB (`m`). */
  readonly memoryKiB: number;
  /** Passes over memory (`t`). */
  readonly iterations: number;
  /** Lanes (`p`). */
  readonly parallelism: number;
}

/**
 * The defaults of `FileKeyStore` (OWASP's first Argon2id configuration:
 * m = 19 MiB, t = 2, p = 1), for a browser store created with a passphrase and for backups.
 *
 * @example
 * await IndexedDbKeyStore.open('phone', { passphrase, argon2: { ...DEFAULT_ARGON2_PARAMS, iterations: 3 } });
 */
export const DEFAULT_ARGON2_PARAMS: Argon2Params = Object.freeze({ memoryKiB: 19 * 1024, iterations: 2, parallelism: 1 });

/**
 * The defaults for a passphrase-protected backup: RFC 9106 §4's second recommended option
 * (m = 64 MiB, t = 3, p = 4). Stronger than the key store's: a server holding the backup can
 * guess offline, so each guess should cost as much as a restore can bear (about 0.5 s here).
 *
 * @example
 * await phone.backups.upload({ passphrase, argon2: BACKUP_ARGON2_PARAMS })
 */
export const BACKUP_ARGON2_PARAMS: Argon2Params = Object.freeze({ memoryKiB: 64 * 1024, iterations: 3, parallelism: 4 });

// hash-wasm needs m >= 8p; the upper bounds stop a planted header from asking for absurd work.
const ARGON2_LIMITS = { maxMemoryKiB: 4 * 1024 * 1024, maxIterations: 64, maxParallelism: 16 } as const;

/** @internal Argon2id parameters hash-wasm accepts, within bounds a planted header cannot exceed. */
export function validArgon2(p: unknown): p is Argon2Params {
  if (typeof p !== 'object' || p === null) return false;
  const { memoryKiB, iterations, parallelism } = p as Record<string, unknown>;
  if (!Number.isSafeInteger(memoryKiB) || !Number.isSafeInteger(iterations) || !Number.isSafeInteger(parallelism)) return false;
  const [m, t, par] = [memoryKiB as number, iterations as number, parallelism as number];
  return par >= 1 && par <= ARGON2_LIMITS.maxParallelism && t >= 1 && t <= ARGON2_LIMITS.maxIterations && m >= 8 * par && m <= ARGON2_LIMITS.maxMemoryKiB;
}
