export {
  type KeyLogEntry,
  type DeviceAddedEntry,
  type DeviceApprovedEntry,
  type DeviceRevokedEntry,
  KeyLogEntrySchema,
  canonicalJson,
  encodeKeyLogEntry,
  decodeKeyLogEntry,
  attestationMessage,
  approvalMessage,
  revocationMessage,
  labelInput,
} from './entry.js';
export { type DeviceKeyStatus, type DeviceKeyState, type LoggedEntry, type AttestationKey, replayIdentity } from './state.js';
