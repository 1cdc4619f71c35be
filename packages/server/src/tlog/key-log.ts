/**
 * The key log: the transparency log of device keys, named `keys`, served under
 * `/logs/keys/`. Assembled from the server configuration (batching, heartbeat, key
 * directory) and the deployment's origin (deployment.ts).
 */
import type { Logger } from 'pino';
import type { ServerConfig } from '../config.js';
import type { Database } from '../storage/database.js';
import { loadLogSigner } from './keys.js';
import { openHsmLogSigner } from './hsm-keys.js';
import { loadRotationKeys } from './key-rotation-files.js';
import { TransparencyLog, type LogSigner } from './transparency-log.js';

/** Name (and URL segment) of the key log. */
export const KEY_LOG_NAME = 'keys';

/**
 * Opens the key log on a migrated database; the caller starts and stops it. Also
 * returns the log's signer, whose Ed25519 key attests the directory's entries.
 *
 * @example
 * const { keyLog } = await openKeyLog(db, config, 'parley.example.com/logs/keys', log);
 * keyLog.start();
 */
export async function openKeyLog(db: Database, config: ServerConfig, origin: string, log: Logger): Promise<{ keyLog: TransparencyLog; signer: LogSigner }> {
  // Key files in keys.dir, or keys inside the PKCS#11 token keys.signer names (hsm-keys.ts).
  const signer =
    config.keys.signer === undefined
      ? await loadLogSigner({ dir: config.keys.dir, logName: KEY_LOG_NAME, origin, log })
      : await openHsmLogSigner({ uri: config.keys.signer, dir: config.keys.dir, logName: KEY_LOG_NAME, origin, log, owner: config });
  // A key rotation in progress (next key) or finished (retired keys): docs/log-key-rotation.md.
  const rotation = await loadRotationKeys({ dir: config.keys.dir, logName: KEY_LOG_NAME, origin, log });
  const keyLog = await TransparencyLog.open(db, {
    name: KEY_LOG_NAME,
    origin,
    signer,
    ...(rotation.next === undefined ? {} : { nextSigner: rotation.next }),
    retiredSigners: rotation.retired,
    batchSize: config.tlog.batchSize,
    heartbeatMs: config.tlog.heartbeatMs,
    log,
  });
  return { keyLog, signer };
}

/** Name (and URL segment) of the audit log. */
export const AUDIT_LOG_NAME = 'audit';

/**
 * Opens the audit log (message commitments and receipts) on the same engine,
 * with its own origin and key file.
 *
 * @example
 * const auditLog = await openAuditLog(db, config, 'parley.example.com/logs/audit', log);
 * auditLog.start();
 */
export async function openAuditLog(db: Database, config: ServerConfig, origin: string, log: Logger): Promise<TransparencyLog> {
  // Key files in keys.dir, or keys inside the PKCS#11 token keys.signer names (hsm-keys.ts).
  const signer =
    config.keys.signer === undefined
      ? await loadLogSigner({ dir: config.keys.dir, logName: AUDIT_LOG_NAME, origin, log })
      : await openHsmLogSigner({ uri: config.keys.signer, dir: config.keys.dir, logName: AUDIT_LOG_NAME, origin, log, owner: config });
  const rotation = await loadRotationKeys({ dir: config.keys.dir, logName: AUDIT_LOG_NAME, origin, log });
  return TransparencyLog.open(db, {
    name: AUDIT_LOG_NAME,
    origin,
    signer,
    ...(rotation.next === undefined ? {} : { nextSigner: rotation.next }),
    retiredSigners: rotation.retired,
    batchSize: config.tlog.batchSize,
    heartbeatMs: config.tlog.heartbeatMs,
    log,
  });
}
