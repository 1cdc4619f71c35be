/**
 * Parley's QR payload for verifying a contact in person: each side shows a QR code of its
 * scannable fingerprint, the other scans it and compares it with its own view.
 *
 * Format (version 1), the whole QR text, ASCII, case-sensitive, no whitespace:
 *
 *     parley-verify:1:<body>
 *
 * - `parley-verify:` literal prefix (lowercase).
 * - `1` the payload format version: decimal, no sign, no leading zeros. A well-formed
 *   version other than 1 is `unsupported_qr_version`; everything after it is then ignored,
 *   so a later version may change the body.
 * - `:` then `<body>` = base64url (RFC 4648 §5) without padding, canonical (zero trailing
 *   bits), of the canonical protobuf `CombinedFingerprints` bytes from `encodeScannable`:
 *   `08 <varint version> 12 22 0a 20 <local 32 bytes> 1a 22 0a 20 <remote 32 bytes>`,
 *   where `local` is the fingerprint content of the party showing the code. With the
 *   Parley scannable version 1 the body is 74 bytes, 99 characters; the whole text is 115.
 *
 * @example
 * // The test vector's aliceScannableV1 bytes (Signal's binding, same format) as a payload:
 * 'parley-verify:1:CAESIgogHjAaA1Pc49vnaEy4M26FE2zcDuliGUlK2jBdYqe9Yd8aIgog1iy_c6EVkgFba58Wgqwwb-o6rziFuE0SvKYx6dT7Ok0'
 */
import { concatBytes, equalBytes, fromBase64, assertBytes, toBase64Url } from '../bytes.js';
import { InvalidInputError } from '../errors.js';
import { PARLEY_FINGERPRINT_VERSION } from './parley-fingerprint.js';
import {
  FINGERPRINT_ITERATIONS,
  SCANNABLE_CONTENT_LENGTH,
  encodeScannable,
  fingerprintBytes,
  parseScannable,
  type FingerprintParty,
  type ScannableFingerprint,
} from './safety-number.js';

/** Literal start of every Parley verification QR payload. */
export const QR_PAYLOAD_PREFIX = 'parley-verify:';

/** The payload format version this code writes and reads. */
export const QR_PAYLOAD_VERSION = 1;

/** Longest protobuf body version 1 can carry: a 5-byte version varint (78 bytes → 104 characters). */
const MAX_BODY_CHARS = 104;
const VERSION_TEXT = /^[1-9][0-9]{0,8}$/;
const BASE64URL_TEXT = /^[A-Za-z0-9_-]+$/;

/** What scanning the other party's code says. */
export type ScanResult = 'match' | 'mismatch' | 'version-mismatch';

function invalid(message: string, cause?: unknown): InvalidInputError {
  return new InvalidInputError(`invalid QR payload: ${message}`, cause === undefined ? { code: 'invalid_qr_payload' } : { code: 'invalid_qr_payload', cause });
}

/**
 * The QR text `local` shows to `remote` (see the format above).
 *
 * @example
 * const text = encodeQrPayload(me, them); // 'parley-verify:1:CAES…'
 */
export function encodeQrPayload(
  local: FingerprintParty,
  remote: FingerprintParty,
  options: { version?: number; iterations?: number } = {},
): string {
  const iterations = options.iterations ?? FINGERPRINT_ITERATIONS;
  const bytes = encodeScannable({
    version: options.version ?? PARLEY_FINGERPRINT_VERSION,
    local: fingerprintBytes(local.identityKey, local.stableId, iterations).slice(0, SCANNABLE_CONTENT_LENGTH),
    remote: fingerprintBytes(remote.identityKey, remote.stableId, iterations).slice(0, SCANNABLE_CONTENT_LENGTH),
  });
  return `${QR_PAYLOAD_PREFIX}${QR_PAYLOAD_VERSION}:${toBase64Url(bytes)}`;
}

/**
 * Strict decoder for scanned QR text. Throws `InvalidInputError` with code
 * `unsupported_qr_version` (and `details.version`) for a well-formed payload of another
 * format version, and `invalid_qr_payload` for anything else that is not exactly the
 * format above (the `cause` then says why, e.g. an `invalid_scannable` error).
 *
 * @example
 * const { version, local, remote } = decodeQrPayload(scannedText);
 */
export function decodeQrPayload(text: string): ScannableFingerprint {
  if (typeof text !== 'string' || !text.startsWith(QR_PAYLOAD_PREFIX)) throw invalid('not a Parley verification code');
  const rest = text.slice(QR_PAYLOAD_PREFIX.length);
  const colon = rest.indexOf(':');
  const versionText = colon < 0 ? rest : rest.slice(0, colon);
  if (!VERSION_TEXT.test(versionText)) throw invalid('bad version');
  const version = Number(versionText);
  if (version !== QR_PAYLOAD_VERSION) {
    throw new InvalidInputError('unsupported QR payload version', { code: 'unsupported_qr_version', details: { version } });
  }
  if (colon < 0) throw invalid('missing body');
  const body = rest.slice(colon + 1);
  if (body.length > MAX_BODY_CHARS || !BASE64URL_TEXT.test(body)) throw invalid('body is not unpadded base64url');
  try {
    return parseScannable(fromBase64(body, 'QR payload body'));
  } catch (cause) {
    throw invalid('bad body', cause);
  }
}

/**
 * Compares the code scanned from the other party with our own view, in constant time.
 * The scanned code is theirs, so its `local` must equal our `remote` content and its
 * `remote` our `local`: both pairs are checked in one `equalBytes` over 64 bytes, so the
 * time does not reveal which side differed. A scanned version other than `options.version`
 * (default `PARLEY_FINGERPRINT_VERSION`) is `version-mismatch`, not compared. Malformed
 * text throws as `decodeQrPayload` does.
 *
 * @example
 * switch (compareScanned(me, them, scannedText)) {
 *   case 'match': markVerified(); break;
 *   case 'mismatch': warnKeyChanged(); break;
 *   case 'version-mismatch': askToUpdate(); break;
 * }
 */
export function compareScanned(
  ourLocal: FingerprintParty,
  ourRemote: FingerprintParty,
  scanned: string | ScannableFingerprint,
  options: { version?: number; iterations?: number } = {},
): ScanResult {
  const theirs = typeof scanned === 'string' ? decodeQrPayload(scanned) : scanned;
  const theirLocal = assertBytes(theirs.local, 'scanned.local', SCANNABLE_CONTENT_LENGTH);
  const theirRemote = assertBytes(theirs.remote, 'scanned.remote', SCANNABLE_CONTENT_LENGTH);
  // The version is public (it is printed in the code), so answering early on it leaks nothing.
  if (theirs.version !== (options.version ?? PARLEY_FINGERPRINT_VERSION)) return 'version-mismatch';
  const iterations = options.iterations ?? FINGERPRINT_ITERATIONS;
  const ours = fingerprintBytes(ourLocal.identityKey, ourLocal.stableId, iterations).subarray(0, SCANNABLE_CONTENT_LENGTH);
  const peer = fingerprintBytes(ourRemote.identityKey, ourRemote.stableId, iterations).subarray(0, SCANNABLE_CONTENT_LENGTH);
  return equalBytes(concatBytes(theirLocal, theirRemote), concatBytes(peer, ours)) ? 'match' : 'mismatch';
}
