/** The transparency-log engine of the server (key log now, audit log later). */
export {
  TransparencyLog,
  MAX_ENTRIES_READ,
  type TransparencyLogOptions,
  type LogSigner,
  type LogDescriptor,
  type LatestCheckpoint,
} from './transparency-log.js';
export { loadLogSigner, keyFilePaths } from './keys.js';
export { openKeyLog, openAuditLog, KEY_LOG_NAME, AUDIT_LOG_NAME } from './key-log.js';
