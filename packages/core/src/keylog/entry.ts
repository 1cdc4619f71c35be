/**
 * Entries of the key directory's transparency log. Every change to a device's
 * keys is one entry: added, approved by another device of the same identity,
 * rotated (new keys, signed by the old identity key), revoked. Entries are canonical JSON (RFC 8785, JCS) so that any verifier can
 * re-encode and check them byte for byte; they carry the identity's VRF label,
 * never its id or phone number.
 */
import canonicalize from 'canonicalize';
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { concatBytes, fromUtf8, utf8 } from '../bytes.js';
import { DEVICE_ID_PATTERN } from '../ids.js';
import { SuiteNamesSchema } from '../wire/common.js';

const B64URL = (bytes: number) => Type.String({ pattern: `^[A-Za-z0-9_-]{${Math.ceil((bytes * 4) / 3)}}$` });
const Label = B64URL(32);
const DeviceId = Type.String({ pattern: DEVICE_ID_PATTERN });
const Time = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?Z$' });
const Signature = B64URL(64);

export const DeviceAddedEntrySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('device-added'),
    label: Label,
    deviceId: DeviceId,
    time: Time,
    kind: Type.Union([Type.Literal('customer'), Type.Literal('sender'), Type.Literal('agent'), Type.Literal('bot')]),
    identityKey: B64URL(32),
    signatureKey: Type.String({ pattern: '^[A-Za-z0-9_-]{1,2800}$' }),
    suite: Type.String({ maxLength: 80 }),
    /**
     * Every suite the device supports (docs/post-quantum.md), signed by its identity key in
     * `suitesProof` over `suitesMessage` with seq 0. Absent: `[suite]` only (devices enrolled
     * before suites were negotiated).
     */
    suites: Type.Optional(SuiteNamesSchema),
    suitesProof: Type.Optional(Signature),
    /** `enrollment`: approved by the business's enrollment token (first device, or a reset). `pending`: waits for an existing device. */
    approval: Type.Union([Type.Literal('enrollment'), Type.Literal('pending')]),
    attestation: Signature,
  },
  { additionalProperties: false },
);

export const DeviceApprovedEntrySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('device-approved'),
    label: Label,
    deviceId: DeviceId,
    time: Time,
    approvedBy: DeviceId,
    /** The approver's identity-key signature over `approvalMessage`. */
    signature: Signature,
    attestation: Signature,
  },
  { additionalProperties: false },
);

export const DeviceRevokedEntrySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('device-revoked'),
    label: Label,
    deviceId: DeviceId,
    time: Time,
    /** `owner`: another device of the identity (signed); `business`: the business's admin; `reset`: re-enrollment after losing every device. */
    by: Type.Union([Type.Literal('owner'), Type.Literal('business'), Type.Literal('reset')]),
    byDevice: Type.Optional(DeviceId),
    signature: Type.Optional(Signature),
    attestation: Signature,
  },
  { additionalProperties: false },
);

/**
 * A device replaced its own keys (docs/key-rotation.md): `signature` is its previous identity
 * key's signature over `rotationMessage`, `proof` the new identity key's over the same message
 * (it holds the new key). The device id, its kind and suite stay; contacts follow the chain.
 */
export const DeviceRotatedEntrySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('device-rotated'),
    label: Label,
    deviceId: DeviceId,
    time: Time,
    identityKey: B64URL(32),
    signatureKey: Type.String({ pattern: '^[A-Za-z0-9_-]{1,2800}$' }),
    signature: Signature,
    proof: Signature,
    attestation: Signature,
  },
  { additionalProperties: false },
);

/**
 * A device changed the suites it supports (an app update brought X-Wing): `signature` is its
 * identity key's over `suitesMessage`; `seq` grows with every announcement, so an older list
 * cannot be replayed over a newer one.
 */
export const DeviceSuitesEntrySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('device-suites'),
    label: Label,
    deviceId: DeviceId,
    time: Time,
    seq: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
    suites: SuiteNamesSchema,
    signature: Signature,
    attestation: Signature,
  },
  { additionalProperties: false },
);

export const KeyLogEntrySchema = Type.Union([
  DeviceAddedEntrySchema,
  DeviceApprovedEntrySchema,
  DeviceRotatedEntrySchema,
  DeviceRevokedEntrySchema,
  DeviceSuitesEntrySchema,
]);
export type DeviceSuitesEntry = Static<typeof DeviceSuitesEntrySchema>;
export type DeviceAddedEntry = Static<typeof DeviceAddedEntrySchema>;
export type DeviceApprovedEntry = Static<typeof DeviceApprovedEntrySchema>;
export type DeviceRevokedEntry = Static<typeof DeviceRevokedEntrySchema>;
export type DeviceRotatedEntry = Static<typeof DeviceRotatedEntrySchema>;
export type KeyLogEntry = Static<typeof KeyLogEntrySchema>;

const checkEntry = Compile(KeyLogEntrySchema);

/** RFC 8785 canonical JSON, UTF-8. */
export function canonicalJson(value: unknown): Uint8Array {
  const text = canonicalize(value);
  if (text === undefined) throw new InvalidInputError('value cannot be canonicalized', { code: 'invalid_canonical_json' });
  return utf8(text);
}

/** The log entry bytes: JCS of the entry. */
export function encodeKeyLogEntry(entry: KeyLogEntry): Uint8Array {
  if (!checkEntry.Check(entry)) throw new InvalidInputError('invalid key log entry', { code: 'invalid_key_log_entry' });
  return canonicalJson(entry);
}

/**
 * Parses log entry bytes; they must be valid and exactly canonical (a verifier
 * re-encodes what it reads, so no two encodings of one entry exist).
 */
export function decodeKeyLogEntry(bytes: Uint8Array): KeyLogEntry {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new InvalidInputError('key log entry is not JSON', { code: 'invalid_key_log_entry', cause });
  }
  if (!checkEntry.Check(value)) throw new InvalidInputError('invalid key log entry', { code: 'invalid_key_log_entry' });
  const canonical = canonicalJson(value);
  if (canonical.length !== bytes.length || !canonical.every((b, i) => b === bytes[i])) {
    throw new InvalidInputError('key log entry is not in canonical form', { code: 'invalid_key_log_entry' });
  }
  return value;
}

function framed(context: string, fields: readonly Uint8Array[]): Uint8Array {
  const parts: Uint8Array[] = [utf8(context), new Uint8Array([0])];
  for (const f of fields) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, f.length);
    parts.push(len, f);
  }
  return concatBytes(...parts);
}

/** What the directory's attestation key signs: the entry without its attestation. */
export function attestationMessage(entry: KeyLogEntry): Uint8Array {
  const { attestation: _omit, ...rest } = entry;
  return framed('parley/v1/key-log-attestation', [canonicalJson(rest)]);
}

/** What an existing device signs to approve a new device of the same identity. */
export function approvalMessage(input: { label: string; deviceId: string; identityKey: string; signatureKey: string }): Uint8Array {
  return framed('parley/v1/approve-device', [utf8(input.label), utf8(input.deviceId), utf8(input.identityKey), utf8(input.signatureKey)]);
}

/**
 * What a device signs to replace its keys: with its previous identity key (authority) and with
 * the new one (possession). Binds the label, the device, the key being replaced and both new keys.
 *
 * @example
 * const message = rotationMessage({ label, deviceId, previousIdentityKey, identityKey, signatureKey }) // all base64url
 */
export function rotationMessage(input: { label: string; deviceId: string; previousIdentityKey: string; identityKey: string; signatureKey: string }): Uint8Array {
  return framed('parley/v1/rotate-device-keys', [
    utf8(input.label),
    utf8(input.deviceId),
    utf8(input.previousIdentityKey),
    utf8(input.identityKey),
    utf8(input.signatureKey),
  ]);
}

/**
 * What a device signs to state the MLS suites it supports: its id, its identity key, the
 * announcement's sequence number (0 at enrollment) and the suite names in order.
 *
 * @example
 * const proof = await signer.sign(suitesMessage({ deviceId, identityKey, seq: 0, suites }))
 */
export function suitesMessage(input: { deviceId: string; identityKey: string; seq: number; suites: readonly string[] }): Uint8Array {
  return framed('parley/v1/device-suites', [utf8(input.deviceId), utf8(input.identityKey), utf8(String(input.seq)), ...input.suites.map((name) => utf8(name))]);
}

/** What a device of the identity signs to revoke another (or itself). */
export function revocationMessage(input: { label: string; deviceId: string; byDevice: string }): Uint8Array {
  return framed('parley/v1/revoke-device', [utf8(input.label), utf8(input.deviceId), utf8(input.byDevice)]);
}

/** The VRF input for an identity's label (RFC 9381 alpha). */
export function labelInput(identityId: string): Uint8Array {
  return framed('parley/v1/key-label', [utf8(identityId)]);
}
