/** Businesses, device registration, sessions, the device directory, key transparency and KeyPackages. */
import { Type, type Static } from '../typebox.js';
import { BUSINESS_ID_PATTERN } from '../ids.js';
import { Base64, BusinessIdSchema, DeviceIdSchema, IdentityIdSchema, IdentityKindSchema, LIMITS, SuiteNamesSchema } from './common.js';

// --- Admin -----------------------------------------------------------------

export const Ed25519JwkSchema = Type.Object(
  {
    kty: Type.Literal('OKP'),
    crv: Type.Literal('Ed25519'),
    x: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
  },
  { additionalProperties: true },
);

/** The `kid` of an enrollment key: the only shape ever stored. */
export const EnrollmentKeyIdSchema = Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$' });

/** One enrollment key (its `kid` and public Ed25519 JWK): in a new business, or added to one (`POST …/keys`). */
export const EnrollmentKeyRequestSchema = Type.Object({ kid: EnrollmentKeyIdSchema, jwk: Ed25519JwkSchema }, { additionalProperties: false });
export type EnrollmentKeyRequest = Static<typeof EnrollmentKeyRequestSchema>;

export const CreateBusinessRequestSchema = Type.Object(
  {
    id: BusinessIdSchema,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    enrollmentKeys: Type.Array(EnrollmentKeyRequestSchema, { minItems: 1, maxItems: 10 }),
  },
  { additionalProperties: false },
);
export type CreateBusinessRequest = Static<typeof CreateBusinessRequestSchema>;

export const BusinessSchema = Type.Object({ id: BusinessIdSchema, name: Type.String() });
export type Business = Static<typeof BusinessSchema>;

export const BusinessStatusSchema = Type.Union([Type.Literal('active'), Type.Literal('disabled')]);
export type BusinessStatus = Static<typeof BusinessStatusSchema>;

/** An enrollment key as the admin API shows it; `retiredAt`: tokens signed with it are refused since. */
export const EnrollmentKeyViewSchema = Type.Object(
  {
    kid: EnrollmentKeyIdSchema,
    createdAt: Type.String(),
    retiredAt: Type.Optional(Type.String()),
    jwk: Ed25519JwkSchema,
  },
  { additionalProperties: false },
);
export type EnrollmentKeyView = Static<typeof EnrollmentKeyViewSchema>;

/** One business with its enrollment keys (retired ones too). */
export const BusinessViewSchema = Type.Object(
  {
    id: BusinessIdSchema,
    name: Type.String(),
    status: BusinessStatusSchema,
    createdAt: Type.String(),
    disabledAt: Type.Optional(Type.String()),
    keys: Type.Array(EnrollmentKeyViewSchema),
  },
  { additionalProperties: false },
);
export type BusinessView = Static<typeof BusinessViewSchema>;

export const BusinessSummarySchema = Type.Object(
  {
    id: BusinessIdSchema,
    name: Type.String(),
    status: BusinessStatusSchema,
    createdAt: Type.String(),
    keys: Type.Integer({ minimum: 0, description: 'number of active (not retired) enrollment keys' }),
  },
  { additionalProperties: false },
);
export type BusinessSummary = Static<typeof BusinessSummarySchema>;

export const ListBusinessesQuerySchema = Type.Object(
  {
    after: Type.Optional(Type.String({ pattern: BUSINESS_ID_PATTERN, description: 'return businesses with ids after this one (the `next` of the previous page)' })),
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]?|1[0-9][0-9]|200)$', description: 'page size, 1-200 (default 100)' })),
  },
  { additionalProperties: false },
);
export type ListBusinessesQuery = Static<typeof ListBusinessesQuerySchema>;

export const ListBusinessesResponseSchema = Type.Object(
  {
    businesses: Type.Array(BusinessSummarySchema),
    next: Type.Optional(Type.String({ description: 'present when there are more: pass it as `after`' })),
  },
  { additionalProperties: false },
);
export type ListBusinessesResponse = Static<typeof ListBusinessesResponseSchema>;

export const BusinessParamsSchema = Type.Object({ businessId: BusinessIdSchema }, { additionalProperties: false });
export const EnrollmentKeyParamsSchema = Type.Object({ businessId: BusinessIdSchema, kid: EnrollmentKeyIdSchema }, { additionalProperties: false });

// --- Registration and sessions ----------------------------------------------

export const KeyPackageStockSchema = Type.Object({
  /** The cipher suite this stock is of (a device keeps one stock per suite it supports). */
  suite: Type.Optional(Type.String()),
  oneTime: Type.Integer({ minimum: 0 }),
  lastResort: Type.Boolean(),
  low: Type.Boolean({ description: 'true when the device should upload more' }),
  lowWatermark: Type.Integer({ minimum: 0, description: 'below this many one-time KeyPackages the stock is low' }),
  oldestNotAfter: Type.Optional(
    Type.String({ description: 'end of the lifetime (RFC 3339) of the first of these KeyPackages to expire; absent when there is none (the device rotates its stock before this)' }),
  ),
});
export type KeyPackageStock = Static<typeof KeyPackageStockSchema>;

export const RegisterDeviceRequestSchema = Type.Object(
  {
    enrollmentToken: Type.String({ minLength: 1, maxLength: 4096 }),
    deviceId: DeviceIdSchema,
    identityKey: Base64(32, 'Ed25519 identity public key'),
    signatureKey: Base64(2048, 'MLS signature public key'),
    suite: Type.String({ maxLength: 80 }),
    /** Every suite the device supports, `suite` among them (docs/post-quantum.md); absent: `[suite]`. */
    suites: Type.Optional(SuiteNamesSchema),
    /** The identity key's signature over `suitesMessage` (seq 0); required with `suites`. */
    suitesProof: Type.Optional(Base64(64, 'Ed25519 signature over the suites message')),
    label: Type.Optional(Type.String({ maxLength: 64 })),
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { minItems: 1, maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackage: Base64(LIMITS.keyPackageBytes),
    /** The last-resort KeyPackages of the device's other suites (one per suite). */
    lastResortKeyPackages: Type.Optional(Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: 7 })),
    proof: Base64(64, 'Ed25519 signature over the registration proof message'),
  },
  { additionalProperties: false },
);
export type RegisterDeviceRequest = Static<typeof RegisterDeviceRequestSchema>;

export const RegisterDeviceResponseSchema = Type.Object({
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
  kind: IdentityKindSchema,
  stock: KeyPackageStockSchema,
  /** `pending`: another device of the identity must approve this one before senders include it. */
  status: Type.Union([Type.Literal('active'), Type.Literal('pending')]),
  /** Where the device's key entered the key transparency log. */
  keyLog: Type.Object({ index: Type.Integer({ minimum: 0 }) }),
});
export type RegisterDeviceResponse = Static<typeof RegisterDeviceResponseSchema>;

export const ChallengeRequestSchema = Type.Object({ deviceId: DeviceIdSchema }, { additionalProperties: false });
export const ChallengeResponseSchema = Type.Object({ challenge: Base64(32), expiresAt: Type.String() });
export type ChallengeResponse = Static<typeof ChallengeResponseSchema>;

export const SessionRequestSchema = Type.Object(
  { deviceId: DeviceIdSchema, challenge: Base64(32), signature: Base64(64) },
  { additionalProperties: false },
);
export type SessionRequest = Static<typeof SessionRequestSchema>;
export const SessionResponseSchema = Type.Object({
  token: Type.String(),
  expiresAt: Type.String(),
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
});
export type SessionResponse = Static<typeof SessionResponseSchema>;

// --- Directory ---------------------------------------------------------------

export const DeviceRecordSchema = Type.Object({
  deviceId: DeviceIdSchema,
  identityId: IdentityIdSchema,
  identityKey: Type.String(),
  signatureKey: Type.String(),
  suite: Type.String(),
  /** Every suite the device supports (as its key-log entries state it). */
  suites: Type.Optional(Type.Array(Type.String())),
  label: Type.Optional(Type.String()),
  status: Type.Union([Type.Literal('active'), Type.Literal('pending'), Type.Literal('revoked')]),
  createdAt: Type.String(),
});
export type DeviceRecord = Static<typeof DeviceRecordSchema>;

export const IdentityDevicesResponseSchema = Type.Object({
  identityId: IdentityIdSchema,
  kind: IdentityKindSchema,
  displayName: Type.Optional(Type.String()),
  devices: Type.Array(DeviceRecordSchema),
});
export type IdentityDevicesResponse = Static<typeof IdentityDevicesResponseSchema>;

// --- Key transparency directory ---------------------------------------------------

export const KeyDirectoryInfoSchema = Type.Object({
  log: Type.String(),
  origin: Type.String(),
  /** Signed-note verifier key of the key log; its Ed25519 key also signs entry attestations. */
  verifierKey: Type.String(),
  /** ECVRF-EDWARDS25519-SHA512-TAI public key (RFC 9381) that maps identities to labels. */
  vrfPublicKey: Type.String(),
});
export type KeyDirectoryInfo = Static<typeof KeyDirectoryInfoSchema>;

export const KeyLookupResponseSchema = Type.Object({
  identityId: IdentityIdSchema,
  /** base64 label (first 32 bytes of the VRF output). */
  label: Type.String(),
  /** base64 VRF proof that the label belongs to the identity. */
  vrfProof: Type.String(),
  /** The signed checkpoint (C2SP signed note) the proofs are relative to. */
  checkpoint: Type.String(),
  entries: Type.Array(
    Type.Object({
      index: Type.Integer({ minimum: 0 }),
      /** base64 log entry (canonical JSON). */
      entry: Type.String(),
      /** base64 RFC 9162 inclusion proof against the checkpoint. */
      proof: Type.Array(Type.String(), { maxItems: 64 }),
    }),
    { maxItems: 10_000 },
  ),
});
export type KeyLookupResponse = Static<typeof KeyLookupResponseSchema>;

export const ApproveDeviceRequestSchema = Type.Object(
  { signature: Base64(64, 'identity-key signature of the approving device over the approval message') },
  { additionalProperties: false },
);
export type ApproveDeviceRequest = Static<typeof ApproveDeviceRequestSchema>;

export const RevokeDeviceRequestSchema = Type.Object(
  {
    signature: Type.Optional(Base64(64, 'identity-key signature of the revoking device (owner revocation)')),
    businessToken: Type.Optional(Type.String({ maxLength: 4096, description: "JWT signed with the business's enrollment key (business revocation)" })),
  },
  { additionalProperties: false },
);
export type RevokeDeviceRequest = Static<typeof RevokeDeviceRequestSchema>;

/**
 * A device replaces its own keys (`POST /v1/devices/{deviceId}/rotate-keys`): both new public
 * keys, the rotation message signed by the current identity key (`signature`) and by the new one
 * (`proof`), and KeyPackages under the new signature key (the old ones are withdrawn).
 */
export const RotateDeviceKeysRequestSchema = Type.Object(
  {
    identityKey: Base64(32, 'the new Ed25519 identity public key'),
    signatureKey: Base64(2048, 'the new MLS signature public key'),
    signature: Base64(64, 'the current identity key over the rotation message'),
    proof: Base64(64, 'the new identity key over the rotation message'),
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { minItems: 1, maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackage: Base64(LIMITS.keyPackageBytes),
    /** The last-resort KeyPackages of the device's other suites, under the new signature key. */
    lastResortKeyPackages: Type.Optional(Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: 7 })),
  },
  { additionalProperties: false },
);
export type RotateDeviceKeysRequest = Static<typeof RotateDeviceKeysRequestSchema>;

export const KeyLogChangeResponseSchema = Type.Object({ deviceId: DeviceIdSchema, index: Type.Integer({ minimum: 0 }), status: Type.String() });
export type KeyLogChangeResponse = Static<typeof KeyLogChangeResponseSchema>;

// --- Key directory -------------------------------------------------------------

export const UploadKeyPackagesRequestSchema = Type.Object(
  {
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackage: Type.Optional(Base64(LIMITS.keyPackageBytes)),
    replace: Type.Optional(
      Type.Boolean({
        description:
          "true: these KeyPackages replace the device's stock (rotation): every one-time KeyPackage uploaded before is withdrawn in the same transaction (and the last-resort one when a new one is given)",
      }),
    ),
  },
  { additionalProperties: false },
);
export type UploadKeyPackagesRequest = Static<typeof UploadKeyPackagesRequestSchema>;

export const ClaimKeyPackagesRequestSchema = Type.Object(
  {
    deviceIds: Type.Array(DeviceIdSchema, { minItems: 1, maxItems: LIMITS.claimDevices, uniqueItems: true }),
    /** The suite of the KeyPackages wanted (default: the classic suite). */
    suite: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  },
  { additionalProperties: false },
);
export type ClaimKeyPackagesRequest = Static<typeof ClaimKeyPackagesRequestSchema>;

export const ClaimedKeyPackageSchema = Type.Object({
  deviceId: DeviceIdSchema,
  keyPackage: Type.String(),
  lastResort: Type.Boolean(),
});
export const ClaimKeyPackagesResponseSchema = Type.Object({ keyPackages: Type.Array(ClaimedKeyPackageSchema) });
export type ClaimKeyPackagesResponse = Static<typeof ClaimKeyPackagesResponseSchema>;

/** `POST /v1/devices/me/suites`: the device now supports these suites (an app update). */
export const AnnounceSuitesRequestSchema = Type.Object(
  {
    suites: SuiteNamesSchema,
    seq: Type.Integer({ minimum: 1, maximum: 2 ** 31 - 1 }),
    /** The identity key's signature over `suitesMessage`. */
    signature: Base64(64, 'Ed25519 signature over the suites message'),
    /** KeyPackages of the newly supported suites, uploaded in the same transaction. */
    keyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: LIMITS.keyPackagesPerUpload }),
    lastResortKeyPackages: Type.Array(Base64(LIMITS.keyPackageBytes), { maxItems: 8 }),
  },
  { additionalProperties: false },
);
export type AnnounceSuitesRequest = Static<typeof AnnounceSuitesRequestSchema>;
export const AnnounceSuitesResponseSchema = Type.Object({ suites: Type.Array(Type.String()), keyLog: Type.Object({ index: Type.Integer({ minimum: 0 }) }) });
export type AnnounceSuitesResponse = Static<typeof AnnounceSuitesResponseSchema>;
