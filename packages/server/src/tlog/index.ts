/** The transparency-log engine of the server (the key log and the audit log). */
export { TransparencyLog, type TransparencyLogOptions, type LogSigner, type LogDescriptor } from './transparency-log.js';
export { TransparencyLogReader, MAX_ENTRIES_READ, type LatestCheckpoint } from './log-reader.js';
export { loadLogSigner, keyFilePaths } from './keys.js';
export { openKeyLog, openAuditLog, KEY_LOG_NAME, AUDIT_LOG_NAME } from './key-log.js';
export { startKeyRotation, finishKeyRotation, loadRotationKeys, rotationFilePaths } from './key-rotation-files.js';
export { announceKey, listKeyRotations } from './rotation.js';
