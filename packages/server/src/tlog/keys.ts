/**
 * The log's signing key as a local file (C2SP signed-note signer key string,
 * `PRIVATE+KEY+<name>+<id>+<base64>`), created on first start. Several nodes sharing one
 * PostgreSQL must share the key directory (or the same file), since they sign the same
 * log. The private key lives in that file and in memory only: never in the database,
 * never in a log line. An HSM-backed {@link LogSigner} can replace this later.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ParleyError } from '@parley/core';
import { generateSignerKey } from '@parley/core/tlog';
import type { ServerErrorCode } from '../error-codes.js';
import type { LogSigner } from './transparency-log.js';
import { nodePublicKeyOf, parseNodeSignerKey } from './node-signer.js';
import { ensurePrivateDir, readOrCreateSecretFile } from '../storage/private-dir.js';

/**
 * Where a log's key files live in `dir`: `tlog-<name>.key` (secret, mode 0600) and
 * `tlog-<name>.vkey` (its public verifier key, for operators).
 *
 * @example
 * keyFilePaths('/var/lib/parley/keys', 'keys').key // '/var/lib/parley/keys/tlog-keys.key'
 */
export function keyFilePaths(dir: string, logName: string): { key: string; verifierKey: string } {
  return { key: join(dir, `tlog-${logName}.key`), verifierKey: join(dir, `tlog-${logName}.vkey`) };
}

function keyError(code: ServerErrorCode, message: string, details: Record<string, unknown>, cause?: unknown): ParleyError {
  return new ParleyError(code, message, { status: 500, details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Loads the log's signer key from `dir`, creating it (and `dir`, mode 0700) on first
 * start. Refuses a key file that others can read (`tlog_key_file_mode`), one that does
 * not parse (`tlog_bad_key`; the key is never echoed) and one named for another origin
 * (`tlog_key_origin_mismatch`). Without `dir`, generates an ephemeral key (lost at exit)
 * and warns: for tests and throwaway servers only.
 *
 * @example
 * const signer = await loadLogSigner({ dir: '/var/lib/parley/keys', logName: 'keys', origin: 'parley.example.com/logs/keys', log });
 */
export async function loadLogSigner(options: { dir: string | undefined; logName: string; origin: string; log: Logger }): Promise<LogSigner> {
  const { dir, logName, origin, log } = options;
  if (dir === undefined) {
    const signer = parseNodeSignerKey(generateSignerKey(origin, { publicKeyOf: nodePublicKeyOf }).signerKey);
    log.warn(
      { tlog: logName, origin, verifierKey: signer.verifierKey },
      'no key directory configured: signing the transparency log with an EPHEMERAL key; its checkpoints cannot be verified after a restart (set keys.dir)',
    );
    return signer;
  }
  const paths = keyFilePaths(dir, logName);
  await ensurePrivateDir(dir, 'key directory');
  // Created once, exclusively (another node may be creating it too); refused when others can read it.
  const { text, created } = await readOrCreateSecretFile(paths.key, 'log key file', () => `${generateSignerKey(origin, { publicKeyOf: nodePublicKeyOf }).signerKey}\n`, 'tlog_key_file_mode');
  let signer: LogSigner;
  try {
    // Signs through node:crypto (the same signatures, far less CPU per checkpoint).
    signer = parseNodeSignerKey(text.trim());
  } catch (error) {
    throw keyError('tlog_bad_key', 'the log key file does not hold a signed-note signer key', { path: paths.key }, error);
  }
  if (signer.name !== origin) {
    throw keyError('tlog_key_origin_mismatch', 'the log key file is for another origin', { path: paths.key, keyName: signer.name, origin });
  }
  // The public half next to it, for operators to hand to verifiers (`parley log verify --key`).
  await writeFile(paths.verifierKey, `${signer.verifierKey}\n`, { mode: 0o644 }).catch(() => {});
  if (created) {
    log.info({ tlog: logName, origin, path: paths.key, verifierKey: signer.verifierKey }, 'created the transparency log signing key');
  }
  return signer;
}
