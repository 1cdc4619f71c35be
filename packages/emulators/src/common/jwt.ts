/**
 * JWT checks for the emulators (the OAuth token endpoint's RS256 assertions, APNs' ES256
 * provider tokens), written directly on node:crypto (no JOSE library), so the emulators
 * verify the adapters' tokens independently of the library that made them. Compact JWS only (RFC 7515 §7.1); RS256 (RSASSA-PKCS1-v1_5 / SHA-256) and
 * ES256 (ECDSA P-256 / SHA-256, signature as the 64-byte R‖S of RFC 7518 §3.4).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';

/** A compact JWS split and parsed (not verified). */
export interface DecodedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly signingInput: Buffer;
  readonly signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function jsonSegment(segment: string): Record<string, unknown> | undefined {
  if (!B64URL.test(segment)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Splits and parses a compact JWS; undefined when it is not one. Does not verify. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const [h, c, s] = parts as [string, string, string];
  const header = jsonSegment(h);
  const claims = jsonSegment(c);
  if (header === undefined || claims === undefined || !B64URL.test(s)) return undefined;
  return { header, claims, signingInput: Buffer.from(`${h}.${c}`, 'ascii'), signature: Buffer.from(s, 'base64url') };
}

/** Verifies the signature with `alg` (which the header must name) and `key`. */
export function verifyJwt(jwt: DecodedJwt, alg: 'RS256' | 'ES256', key: KeyObject): boolean {
  if (jwt.header['alg'] !== alg) return false;
  try {
    if (alg === 'RS256') {
      if (key.asymmetricKeyType !== 'rsa') return false;
      return verify('sha256', jwt.signingInput, key, jwt.signature);
    }
    if (key.asymmetricKeyType !== 'ec' || jwt.signature.length !== 64) return false;
    return verify('sha256', jwt.signingInput, { key, dsaEncoding: 'ieee-p1363' }, jwt.signature);
  } catch {
    return false;
  }
}

/** The public key to verify with: a PEM (public or private) or a KeyObject (a private one yields its public half). */
export function toPublicKey(key: KeyObject | string): KeyObject {
  if (typeof key !== 'string') return key.type === 'private' ? createPublicKey(key) : key;
  return createPublicKey(key);
}
