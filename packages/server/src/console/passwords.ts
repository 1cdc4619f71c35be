/**
 * Operator passwords: Argon2id (RFC 9106) with OWASP's parameters (19 MiB, 2 passes, 1 lane)
 * and a random 16-byte salt, stored as a PHC string
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`, unpadded base64). Verification recomputes
 * the hash with the stored parameters and compares in constant time; an unknown operator
 * name is verified against a dummy hash, so it costs the same.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { argon2id } from 'hash-wasm';
import { InvalidInputError } from '@parley/core';

/** The Argon2id cost of new hashes (OWASP's minimum for Argon2id). */
export const PASSWORD_PARAMS = { memoryKiB: 19_456, iterations: 2, parallelism: 1 } as const;
/** Shortest password accepted for an operator. */
export const MIN_PASSWORD_LENGTH = 12;
/** Longest password accepted (the request schemas' `maxLength`). */
export const MAX_PASSWORD_LENGTH = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PHC = /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,64})\$([A-Za-z0-9+/]{16,128})$/;

interface Params {
  readonly memoryKiB: number;
  readonly iterations: number;
  readonly parallelism: number;
}

const unpadded = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64').replace(/=+$/, '');

async function derive(password: string, salt: Uint8Array, params: Params, length: number): Promise<Uint8Array> {
  return argon2id({
    password,
    salt,
    memorySize: params.memoryKiB,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: length,
    outputType: 'binary',
  });
}

/**
 * Refuses a password shorter than {@link MIN_PASSWORD_LENGTH} characters (400 `weak_password`).
 *
 * @example
 * checkPasswordStrength('correct horse battery'); // passes
 */
export function checkPasswordStrength(password: string): void {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new InvalidInputError(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`, { code: 'weak_password' });
  }
}

/**
 * The PHC string of `password` under a fresh random salt.
 *
 * @example
 * const stored = await hashPassword('correct horse battery'); // '$argon2id$v=19$m=19456,t=2,p=1$…$…'
 */
export async function hashPassword(password: string): Promise<string> {
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const hash = await derive(password, salt, PASSWORD_PARAMS, HASH_BYTES);
  const { memoryKiB: m, iterations: t, parallelism: p } = PASSWORD_PARAMS;
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${unpadded(salt)}$${unpadded(hash)}`;
}

/**
 * Whether `password` matches the PHC string `stored` (constant-time comparison; a malformed
 * string matches nothing, after the same work).
 *
 * @example
 * if (!(await verifyPassword(input, row.password_hash))) refuse();
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = PHC.exec(stored);
  if (!m) {
    await verifyPassword(password, await dummyHash());
    return false;
  }
  const params = { memoryKiB: Number(m[1]), iterations: Number(m[2]), parallelism: Number(m[3]) };
  const salt = new Uint8Array(Buffer.from(m[4]!, 'base64'));
  const expected = Buffer.from(m[5]!, 'base64');
  const actual = await derive(password, salt, params, expected.length);
  return timingSafeEqual(actual, expected);
}

let dummy: Promise<string> | undefined;

/**
 * A hash of a random password, made once per process: what an unknown name is verified
 * against, so that a wrong name costs the same hash as a wrong password.
 *
 * @example
 * await verifyPassword(input, row?.password_hash ?? (await dummyHash()));
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(24).toString('base64'));
  return dummy;
}
