export {
  type KeyLogEntry,
  type DeviceAddedEntry,
  type DeviceApprovedEntry,
  type DeviceRevokedEntry,
  type DeviceRotatedEntry,
  type DeviceSuitesEntry,
  KeyLogEntrySchema,
  canonicalJson,
  encodeKeyLogEntry,
  decodeKeyLogEntry,
  attestationMessage,
  approvalMessage,
  revocationMessage,
  rotationMessage,
  suitesMessage,
  labelInput,
} from './entry.js';
export { type DeviceKeyStatus, type DeviceKeyState, type LoggedEntry, type AttestationKey, type RotatedKeys, replayIdentity, identityKeysAt, holdsSignatureKey, compareLogTimes } from './state.js';
