/**
 * The directory's VRF key (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381): it maps an
 * identity id to the label under which its key-log entries appear. Kept in a
 * file next to the log key (never in the database); several nodes share it.
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ecvrfPublicKey, fromBase64, randomBytes, toBase64 } from '@parley/core';

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
    return { secretKey, publicKey: ecvrfPublicKey(secretKey) };
  }
  const path = join(dir, FILE);
  let text: string | undefined;
  try {
    text = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text === undefined) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const secretKey = randomBytes(32);
    // 'wx': never overwrite a key another node just created.
    try {
      await writeFile(path, `${toBase64(secretKey)}\n`, { mode: 0o600, flag: 'wx' });
      await chmod(path, 0o600);
      log.info({ path }, 'created the directory VRF key');
      return { secretKey, publicKey: ecvrfPublicKey(secretKey) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      text = (await readFile(path, 'utf8')).trim();
    }
  }
  const secretKey = fromBase64(text, 'vrf key');
  if (secretKey.length !== 32) throw new Error(`${path} does not hold a 32-byte VRF key`);
  return { secretKey, publicKey: ecvrfPublicKey(secretKey) };
}
