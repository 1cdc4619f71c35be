/**
 * Device diagnostics (`POST /v1/diagnostics`): metadata only. A device reports how many
 * envelopes it could not read, by reason code, and whether its customer verified the
 * business, with its SDK version and platform. Never message ids, content, contact ids or
 * free text: the reason codes come from a fixed list shared by the SDK and the server, and
 * anything outside the lists is stored as `other`.
 */
import { Type, type Static } from '../typebox.js';

/**
 * Why an envelope could not be read: the SDK's `undecryptable` event reasons, the one list
 * the SDK and the server share (the server stores any other reason as `other`).
 *
 * @example
 * UNDECRYPTABLE_REASONS.includes('missed-epoch') // true
 */
export const UNDECRYPTABLE_REASONS = ['unknown-conversation', 'missed-epoch', 'decrypt-failed', 'invalid-content', 'invalid-welcome', 'rejected-commit'] as const;
export type UndecryptableReason = (typeof UNDECRYPTABLE_REASONS)[number];

/** Platforms a device may name; any other is stored as `other`. */
export const DIAGNOSTICS_PLATFORMS = ['node', 'browser', 'ios', 'android', 'other'] as const;
export type DiagnosticsPlatform = (typeof DIAGNOSTICS_PLATFORMS)[number];

/** An SDK version as stored: semver `x.y.z` with an optional pre-release, at most 32 characters. */
export const SDK_VERSION_PATTERN = '^\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.]+)?$';
const SDK_VERSION = new RegExp(SDK_VERSION_PATTERN);
export const SDK_VERSION_MAX_LENGTH = 32;
/** Largest count one report may carry per reason (a device batches about a minute of failures). */
export const DIAGNOSTICS_MAX_COUNT = 100_000;

/**
 * The reason as stored: one of {@link UNDECRYPTABLE_REASONS}, else `other`.
 *
 * @example
 * normalizeUndecryptableReason('missed-epoch') // 'missed-epoch'
 * normalizeUndecryptableReason('my own words') // 'other'
 */
export function normalizeUndecryptableReason(reason: string): UndecryptableReason | 'other' {
  return (UNDECRYPTABLE_REASONS as readonly string[]).includes(reason) ? (reason as UndecryptableReason) : 'other';
}

/**
 * The SDK version as stored: the version when it matches {@link SDK_VERSION_PATTERN} within
 * {@link SDK_VERSION_MAX_LENGTH} characters, else `other`.
 *
 * @example
 * normalizeSdkVersion('0.1.0') // '0.1.0'
 * normalizeSdkVersion('0.1.0; a note') // 'other'
 */
export function normalizeSdkVersion(version: string): string {
  return version.length <= SDK_VERSION_MAX_LENGTH && SDK_VERSION.test(version) ? version : 'other';
}

/**
 * The platform as stored: one of {@link DIAGNOSTICS_PLATFORMS}, else `other`.
 *
 * @example
 * normalizeDiagnosticsPlatform('ios') // 'ios'
 * normalizeDiagnosticsPlatform('toaster') // 'other'
 */
export function normalizeDiagnosticsPlatform(platform: string): DiagnosticsPlatform {
  return (DIAGNOSTICS_PLATFORMS as readonly string[]).includes(platform) ? (platform as DiagnosticsPlatform) : 'other';
}

/** Short codes only: longer strings are refused (400), shorter unknown ones stored as `other`. */
const Code = (description: string) => Type.String({ minLength: 1, maxLength: 64, description });

export const DecryptFailureCountSchema = Type.Object(
  {
    reason: Code('an `undecryptable` reason code (UNDECRYPTABLE_REASONS); any other is stored as `other`'),
    count: Type.Integer({ minimum: 1, maximum: DIAGNOSTICS_MAX_COUNT }),
  },
  { additionalProperties: false },
);

export const DiagnosticsVerificationSchema = Type.Object(
  {
    state: Type.Union([Type.Literal('verified'), Type.Literal('unverified')]),
    method: Type.Optional(Type.Union([Type.Literal('qr'), Type.Literal('numeric')])),
  },
  { additionalProperties: false },
);

/** `POST /v1/diagnostics`: what a device reports about itself (its identity is its session's). */
export const DiagnosticsReportSchema = Type.Object(
  {
    sdkVersion: Code('the SDK version (semver, at most 32 characters; any other is stored as `other`)'),
    platform: Code('node, browser, ios, android or other (any other is stored as `other`)'),
    decryptFailures: Type.Optional(Type.Array(DecryptFailureCountSchema, { maxItems: 16 })),
    verification: Type.Optional(DiagnosticsVerificationSchema),
  },
  { additionalProperties: false },
);
export type DiagnosticsReport = Static<typeof DiagnosticsReportSchema>;

export const DiagnosticsAcceptedSchema = Type.Object({ accepted: Type.Literal(true) }, { additionalProperties: false });
export type DiagnosticsAccepted = Static<typeof DiagnosticsAcceptedSchema>;
