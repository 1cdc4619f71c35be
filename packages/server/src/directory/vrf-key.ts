/**
 * The directory's VRF key (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381): it maps an
 * identity id to the label under which its key-log entries appear. Kept in a
 * file next to the log key (never in the database); several nodes share it.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ParleyError, fromBase64, randomBytes, toBase64 } from '@parley/core';
import { nodePublicKeyOf } from '../tlog/node-signer.js';
import { ensurePrivateDir, readOrCreateSecretFile } from '../storage/private-dir.js';

export interface VrfKey {
  readonly secretKey: Uint8Array;
  readonly publicKey: Uint8Array;
}

const FILE = 'vrf.key';

/** Loads `<dir>/vrf.key`, creating it on first start; without a dir, an ephemeral key. */
export async function loadVrfKey(dir: string | undefined, log: Logger): Promise<VrfKey> {
  if (dir === undefined) {
    log.warn('no key directory configured: using an ephemeral VRF key (identity labels change on restart)');
    const secretKey = randomBytes(32);
    return { secretKey, publicKey: nodePublicKeyOf(secretKey) };
  }
  await ensurePrivateDir(dir, 'key directory');
  const path = join(dir, FILE);
  // A key wrapped by a token (vrf-key-wrapped.ts) without --signer: never make a second key beside it.
  const wrapped = join(dir, 'vrf.key.wrapped');
  if (await access(wrapped).then(() => true, () => false)) {
    await access(path).catch(() => {
      throw new ParleyError('vrf_key_wrapped_without_signer', `${wrapped} is wrapped by a key in a PKCS#11 token: start with --signer (keys.signer) naming that token`, { status: 500, details: { path: wrapped } });
    });
  }
  // Created once ('wx': never overwriting a key another node just made); refused when others can read it.
  const { text, created } = await readOrCreateSecretFile(path, 'VRF key file', () => `${toBase64(randomBytes(32))}\n`);
  if (created) log.info({ path }, 'created the directory VRF key');
  const secretKey = fromBase64(text.trim(), 'vrf key');
  if (secretKey.length !== 32) throw new Error(`${path} does not hold a 32-byte VRF key`);
  // ECVRF-EDWARDS25519-SHA512-TAI's public key is the Ed25519 one of the same secret (RFC 9381 §5.1):
  // core's ecvrfPublicKey computes it too, but in pure JS (a ~60 ms table on first use, at start-up).
  return { secretKey, publicKey: nodePublicKeyOf(secretKey) };
}
