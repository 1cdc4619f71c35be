/**
 * What must never appear in anything Parley's servers emit (logs, metrics, spans, provider
 * traffic): the plaintext markers tests put in message content, the test-kit's fixed
 * secrets, and the shapes of key material, tokens and phone numbers. One list, read by the
 * suite-wide emulator capture (vitest.global-setup.ts), the server tests and the telemetry
 * scan (scripts/privacy-scan.mjs). Plain JavaScript (typed by privacy-markers.d.ts) so that
 * the scan runs with `node` alone.
 */

/** Markers tests place in message plaintext (keep in sync with the tests that use them). */
export const PLAINTEXT_MARKERS = ['PLAINTEXT-MARKER-7d1c0e', 'PARLEY-SECRET-CONTENT'];

/** The admin token every `startTestServer` gets unless a test overrides it. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * Patterns of what telemetry must not hold, each with the kind a finding reports. Every
 * pattern is global (`g`): a line may hold several findings. `group` (when set) is the
 * capture group holding the secret itself (what a report truncates).
 */
export const TELEMETRY_PATTERNS = [
  // Every marker family tests use (PLAINTEXT-MARKER-<id>, BACKUP-MARKER-<id>, PARLEY-SECRET-CONTENT).
  { kind: 'plaintext-marker', pattern: /PLAINTEXT-MARKER-[A-Za-z0-9]+|BACKUP-MARKER-[A-Za-z0-9]+|PARLEY-SECRET-CONTENT/g },
  { kind: 'admin-token', pattern: new RegExp(TEST_ADMIN_TOKEN, 'g') },
  { kind: 'pem-private-key', pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/g },
  // A JWK's private part: "d":"<base64url>" (also inside a JSON string, escaped).
  { kind: 'jwk-private-part', pattern: /\\?"d\\?"\s*:\s*\\?"([A-Za-z0-9_-]{16,})/g, group: 1 },
  // 64 hex digits (a 32-byte key or seed) right after a key-ish name.
  { kind: 'hex-private-key', pattern: /(?:private|secret|seed|priv)[A-Za-z_]*\\?"?\s*[:=]\s*\\?"?([0-9a-fA-F]{64})(?![0-9a-fA-F])/gi, group: 1 },
  // Base64 key material after a private-key name (redacted values read "[redacted]").
  { kind: 'private-key-value', pattern: /(?:privateKey|private_key|secretKey|secret_key)\\?"?\s*[:=]\s*\\?"?([A-Za-z0-9+/_-]{32,}={0,2})/g, group: 1 },
  { kind: 'bearer-token', pattern: /Bearer\s+([A-Za-z0-9._~+/-]{8,}=*)/g, group: 1 },
  // Session tokens and enrollment tokens are JWTs (http/sessions.ts): header.payload.signature.
  { kind: 'jwt', pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/g },
  // E.164 phone numbers, not inside a longer number or word.
  { kind: 'phone-number', pattern: /(?<![\w+.])\+[1-9]\d{7,14}(?![\d.])/g },
];

/**
 * A secret shortened for a report: its first 4 characters and its length, never the rest.
 *
 * @param {string} secret
 * @returns {string}
 * @example
 * truncateSecret('eyJhbGciOi…') // 'eyJh…(42 chars)'
 */
export function truncateSecret(secret) {
  return `${secret.slice(0, 4)}…(${secret.length} chars)`;
}

/**
 * The findings in one line of text: each pattern's matches, the secret truncated.
 *
 * @param {string} line
 * @returns {{ kind: string, excerpt: string }[]}
 * @example
 * scanLine('{"msg":"Bearer abcdefgh12345678"}') // [{ kind: 'bearer-token', excerpt: 'abcd…(16 chars)' }]
 */
export function scanLine(line) {
  const findings = [];
  for (const { kind, pattern, group } of TELEMETRY_PATTERNS) {
    pattern.lastIndex = 0;
    for (const match of line.matchAll(pattern)) findings.push({ kind, excerpt: truncateSecret(match[group ?? 0] ?? match[0]) });
  }
  return findings;
}
