/** Contact verification: safety numbers and the in-person QR payload. */
export {
  FINGERPRINT_ITERATIONS,
  SCANNABLE_CONTENT_LENGTH,
  type FingerprintParty,
  type SafetyNumber,
  type ScannableFingerprint,
  fingerprintBytes,
  safetyNumber,
  encodeScannable,
  scannableFingerprint,
  parseScannable,
} from './safety-number.js';
export {
  PARLEY_KEY_TYPE_ED25519,
  PARLEY_FINGERPRINT_VERSION,
  parleyKeyBytes,
  parleyFingerprintParty,
} from './parley-fingerprint.js';
export {
  QR_PAYLOAD_PREFIX,
  QR_PAYLOAD_VERSION,
  type ScanResult,
  encodeQrPayload,
  decodeQrPayload,
  compareScanned,
} from './qr-payload.js';
