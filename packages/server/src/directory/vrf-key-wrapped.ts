/**
 * The directory's VRF key when the server's keys are in a PKCS#11 token (`keys.signer`).
 * An ECVRF key cannot be a PKCS#11 signing key, so it is kept as `<keys.dir>/vrf.key.wrapped`,
 * sealed by an AES-256 key in the token labelled `parley-wrap` (AES-GCM in the token,
 * @parley/custody's Pkcs11KeyWrapper; generated when absent) — never written unwrapped.
 *
 * A plain `vrf.key` next to `--signer` is refused (`vrf_key_plain_with_signer`) unless
 * the operator asks for the one-time migration (`keys.migrateVrfKey`, `parley serve
 * --migrate-vrf-key`): the key is wrapped, the wrapped file written and read back, then
 * the plain file is deleted. Identity labels stay the same (same VRF key).
 */
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Pkcs11KeyWrapper, parsePkcs11Uri } from '@parley/custody';
import { ParleyError, fromBase64, randomBytes, toBase64 } from '@parley/core';
import { nodePublicKeyOf } from '../tlog/node-signer.js';
import { createSecretFile, ensurePrivateDir, ensurePrivateFile } from '../storage/private-dir.js';
import { withKeyDirLock } from '../tlog/hsm-keys.js';
import type { VrfKey } from './vrf-key.js';

/** File name of the wrapped VRF key in the key directory. */
export const WRAPPED_VRF_FILE = 'vrf.key.wrapped';
/** Label of the token's AES key that wraps the VRF key. */
export const VRF_WRAP_KEY_LABEL = 'parley-wrap';
const PLAIN_FILE = 'vrf.key';
const CONTEXT = 'server/vrf-key';
const FORMAT = 'parley-wrapped-key/1';

interface WrappedFile {
  readonly format: string;
  readonly context: string;
  readonly wrapper: string;
  readonly wrapped: string;
}

function refuse(code: string, message: string, details: Record<string, unknown>): ParleyError {
  return new ParleyError(code, message, { status: 500, details });
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function encode(wrapper: Pkcs11KeyWrapper, wrapped: Uint8Array): string {
  const file: WrappedFile = { format: FORMAT, context: CONTEXT, wrapper: wrapper.id, wrapped: toBase64(wrapped) };
  return `${JSON.stringify(file)}\n`;
}

async function open(wrapper: Pkcs11KeyWrapper, text: string, path: string): Promise<Uint8Array> {
  let file: Partial<WrappedFile>;
  try {
    file = JSON.parse(text) as Partial<WrappedFile>;
  } catch {
    file = {};
  }
  if (file.format !== FORMAT || file.context !== CONTEXT || typeof file.wrapped !== 'string' || typeof file.wrapper !== 'string') {
    throw refuse('vrf_key_wrapped_invalid', `${path} is not a wrapped Parley VRF key`, { path });
  }
  if (file.wrapper !== wrapper.id) {
    throw refuse('vrf_key_wrong_wrapper', `${path} is wrapped by ${file.wrapper}, not by the token's ${VRF_WRAP_KEY_LABEL} key (${wrapper.id}): wrong token?`, {
      path,
      wrapper: file.wrapper,
      expected: wrapper.id,
    });
  }
  const secretKey = await wrapper.unwrap(fromBase64(file.wrapped, 'wrapped vrf key'), CONTEXT);
  if (secretKey.length !== 32) throw refuse('vrf_key_wrapped_invalid', `${path} does not hold a 32-byte VRF key`, { path });
  return secretKey;
}

/**
 * Loads (or creates, on first start) the VRF key wrapped by the token's `parley-wrap` key.
 * Without a key directory, an ephemeral key (tests and throwaway servers only).
 *
 * @example
 * const vrf = await loadWrappedVrfKey({ dir: '/var/lib/parley/keys', signer: 'pkcs11:token=parley?pin-source=file:/etc/parley/pin', log })
 */
export async function loadWrappedVrfKey(options: { dir: string | undefined; signer: string; migrate?: boolean; log: Logger }): Promise<VrfKey> {
  const { dir, signer, log } = options;
  if (dir === undefined) {
    log.warn('no key directory configured: using an ephemeral VRF key (identity labels change on restart)');
    const secretKey = randomBytes(32);
    return { secretKey, publicKey: nodePublicKeyOf(secretKey) };
  }
  await ensurePrivateDir(dir, 'key directory');
  const plainPath = join(dir, PLAIN_FILE);
  const wrappedPath = join(dir, WRAPPED_VRF_FILE);
  const plain = await readText(plainPath);
  if (plain !== undefined && !options.migrate) {
    throw refuse(
      'vrf_key_plain_with_signer',
      `${plainPath} holds the VRF key unwrapped, but the server's keys are in a token (--signer): start once with --migrate-vrf-key to wrap it into ${WRAPPED_VRF_FILE} (the plain file is then deleted), or remove it`,
      { path: plainPath },
    );
  }
  // One node at a time creates the wrapping key and the wrapped file (nodes share the key directory).
  return withKeyDirLock(dir, async () => {
    const wrapper = await Pkcs11KeyWrapper.open(parsePkcs11Uri(signer), { object: VRF_WRAP_KEY_LABEL, create: true });
    try {
      let text = await readText(wrappedPath);
      if (plain !== undefined) {
        if (text !== undefined) {
          throw refuse('vrf_key_plain_with_signer', `both ${PLAIN_FILE} and ${WRAPPED_VRF_FILE} exist in ${dir}: keep the one this deployment uses and remove the other`, { path: plainPath });
        }
        await ensurePrivateFile(plainPath, 'VRF key file');
        const secretKey = fromBase64(plain.trim(), 'vrf key');
        if (secretKey.length !== 32) throw refuse('vrf_key_wrapped_invalid', `${plainPath} does not hold a 32-byte VRF key`, { path: plainPath });
        await createSecretFile(wrappedPath, encode(wrapper, await wrapper.wrap(secretKey, CONTEXT)));
        // Read back and compare before the plain copy goes.
        const again = await open(wrapper, (await readText(wrappedPath)) ?? '', wrappedPath);
        if (toBase64(again) !== toBase64(secretKey)) throw refuse('vrf_key_wrapped_invalid', `${wrappedPath} does not hold the migrated key`, { path: wrappedPath });
        await unlink(plainPath);
        log.warn({ path: wrappedPath, wrapKey: wrapper.description }, 'migrated the VRF key into the token-wrapped file and deleted vrf.key (its old disk blocks may persist: treat old backups and the disk as holding the key)');
        return { secretKey, publicKey: nodePublicKeyOf(secretKey) };
      }
      if (text === undefined) {
        const secretKey = randomBytes(32);
        // Exclusive: another node sharing the directory may be creating it too; then its key wins.
        if (await createSecretFile(wrappedPath, encode(wrapper, await wrapper.wrap(secretKey, CONTEXT)))) {
          log.info({ path: wrappedPath, wrapKey: wrapper.description }, 'created the directory VRF key, wrapped by the token');
        }
        text = (await readText(wrappedPath)) ?? '';
      }
      const secretKey = await open(wrapper, text, wrappedPath);
      return { secretKey, publicKey: nodePublicKeyOf(secretKey) };
    } finally {
      await wrapper.close();
    }
  });
}
