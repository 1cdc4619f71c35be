/**
 * The requesting side of social recovery: a device of the owner identity (a new phone, once
 * enrolled and approved) checks the identity's recovery set against the verified key log,
 * makes an ephemeral X25519 key (kept in its KeyStore before anything is sent), signs a request
 * binding that key to itself, and later opens the shares holders released to it: each must open
 * under the request's context and match the share hash of the owner's signed manifest.
 */
import {
  RECOVERY_REQUEST_TTL_MS,
  equalBytes,
  fromBase64,
  randomBytes,
  recoveryConfirmationCode,
  recoveryReleaseContext,
  recoveryRequestMessage,
  recoverySetMessage,
  recoveryShareHash,
  signWith,
  toBase64Url,
  verifyEd25519,
  type Ed25519Signer,
  type RecoveryManifest,
  type RecoveryRequestBinding,
  type RecoverySet,
} from '@parley/core';
import { generateHpkeKeyPair, hpkeOpen } from '@parley/core/escrow';
import type { DeviceKeyState } from '@parley/core/keylog';
import type { KeyStore } from './key-store.js';
import { getJson, putJson } from './records.js';
import type { RecoveryApi } from './recovery-api.js';
import { RecoveryError } from './recovery-error.js';
import { combineRecoveryKey } from './recovery-shares.js';

/** A request in progress, kept by the requesting device (secret: the ephemeral private key). */
interface RequestRecordV1 {
  v: 1;
  privateKey: string;
  binding: RecoveryRequestBinding;
  manifest: RecoveryManifest;
}

/**
 * A request just made: read `code` out to each holder, who sees the same digits on their device.
 *
 * @example
 * const { requestId, code } = await newPhone.recovery.request()
 */
export interface RecoveryRequestStarted {
  readonly requestId: string;
  readonly code: string;
  readonly expiresAt: string;
  readonly threshold: number;
  readonly holders: number;
}

/**
 * How far a request is: shares released and checked (`valid`), shares that failed the checks, declines.
 *
 * @example
 * const { valid, threshold } = await newPhone.recovery.collect(requestId)
 */
export interface RecoveryProgress {
  readonly requestId: string;
  readonly status: 'pending' | 'expired';
  readonly threshold: number;
  readonly valid: number;
  readonly invalid: number;
  readonly declined: number;
  readonly expiresAt: string;
}

export interface RequesterContext {
  readonly api: RecoveryApi;
  readonly store: KeyStore;
  readonly identity: Ed25519Signer;
  readonly self: { readonly identityId: string; readonly deviceId: string };
  devicesOf(identityId: string): Promise<DeviceKeyState[]>;
  now(): Date;
}

const record = (requestId: string) => `recovery/request/${requestId}`;

/** The set's manifest, signed by a device of this identity (its current key, or one it rotated from). */
async function verifySet(ctx: RequesterContext, set: RecoverySet): Promise<RecoveryManifest> {
  const { manifest } = set;
  const fail = (why: string): never => {
    throw new RecoveryError('recovery_set_unverified', `the recovery set ${why}`);
  };
  if (manifest.identityId !== ctx.self.identityId) fail('belongs to another identity');
  const owner = (await ctx.devicesOf(ctx.self.identityId)).find((d) => d.deviceId === manifest.deviceId);
  if (!owner) fail('names a device the key log does not show');
  const message = recoverySetMessage(manifest);
  const signature = fromBase64(set.signature);
  const keys = [owner!.identityKey, ...owner!.previousKeys.map((k) => k.identityKey)];
  if (!keys.some((k) => verifyEd25519(k, message, signature))) fail("is not signed by its device's logged identity key");
  const hashes = new Map<number, string>();
  for (const s of manifest.shares) {
    const known = hashes.get(s.index);
    if (known !== undefined && known !== s.shareHash) fail('gives one share two hashes');
    hashes.set(s.index, s.shareHash);
  }
  // Distinct indexes no larger than their count: exactly 1..n.
  if ([...hashes.keys()].some((i) => i > hashes.size) || manifest.threshold > hashes.size) fail('is malformed');
  return manifest;
}

/** Starts a request for this identity's recovery set. */
export async function startRequest(ctx: RequesterContext): Promise<RecoveryRequestStarted> {
  const manifest = await verifySet(ctx, await ctx.api.getSet());
  const pair = await generateHpkeKeyPair();
  const binding: RecoveryRequestBinding = {
    v: 1,
    requestId: `rcr_${toBase64Url(randomBytes(16))}`,
    setId: manifest.setId,
    identityId: ctx.self.identityId,
    deviceId: ctx.self.deviceId,
    requesterKey: toBase64Url(pair.publicKey),
    expiresAt: new Date(ctx.now().getTime() + RECOVERY_REQUEST_TTL_MS).toISOString(),
  };
  // The private key is kept before the request leaves: shares released to it are never unreadable.
  const state: RequestRecordV1 = { v: 1, privateKey: toBase64Url(pair.privateKey), binding, manifest };
  await ctx.store.write([putJson(record(binding.requestId), state)]);
  pair.privateKey.fill(0);
  const signature = toBase64Url(await signWith(ctx.identity, recoveryRequestMessage(binding)));
  await ctx.api.createRequest({ request: binding, signature });
  return {
    requestId: binding.requestId,
    code: recoveryConfirmationCode(binding, ctx.identity.publicKey),
    expiresAt: binding.expiresAt,
    threshold: manifest.threshold,
    holders: new Set(manifest.shares.map((s) => s.index)).size,
  };
}

/** The released shares of a request, opened and checked against the manifest (one per index). */
async function gather(ctx: RequesterContext, requestId: string): Promise<{ progress: RecoveryProgress; shares: Uint8Array[] }> {
  const state = await getJson<RequestRecordV1>(ctx.store, record(String(requestId)));
  if (!state) throw new RecoveryError('recovery_request_unknown', 'this device holds no such recovery request');
  const view = await ctx.api.getRequest(requestId);
  const { binding, manifest } = state;
  // The server answers for the request this device signed, or the answer is not used.
  if (!equalBytes(recoveryRequestMessage(view.request), recoveryRequestMessage(binding))) {
    throw new RecoveryError('recovery_share_invalid', 'the server answered for another request');
  }
  const privateKey = fromBase64(state.privateKey);
  const shares = new Map<number, Uint8Array>();
  let invalid = 0;
  try {
    for (const r of view.releasedShares ?? []) {
      if (shares.has(r.index)) continue;
      const entry = manifest.shares.find((s) => s.index === r.index && s.deviceId === r.deviceId);
      const { info, aad } = recoveryReleaseContext(binding, r.index, r.deviceId);
      const share = entry ? await hpkeOpen(privateKey, info, aad, fromBase64(r.sealed)).catch(() => undefined) : undefined;
      if (share && recoveryShareHash(binding.setId, r.index, share) === entry?.shareHash) {
        shares.set(r.index, share);
      } else {
        share?.fill(0);
        invalid++;
      }
    }
  } finally {
    privateKey.fill(0);
  }
  const progress: RecoveryProgress = {
    requestId: binding.requestId,
    status: view.status,
    threshold: manifest.threshold,
    valid: shares.size,
    invalid,
    declined: view.declined,
    expiresAt: binding.expiresAt,
  };
  return { progress, shares: [...shares.values()] };
}

/** Progress of a request (shares opened and checked, not combined). */
export async function requestProgress(ctx: RequesterContext, requestId: string): Promise<RecoveryProgress> {
  const { progress, shares } = await gather(ctx, requestId);
  for (const s of shares) s.fill(0);
  return progress;
}

/** With at least the threshold of checked shares: the recovery key; the request's local state is then deleted. */
export async function completeRequest(ctx: RequesterContext, requestId: string): Promise<string> {
  const { progress, shares } = await gather(ctx, requestId);
  try {
    if (shares.length < progress.threshold) {
      const details = { valid: progress.valid, invalid: progress.invalid, threshold: progress.threshold };
      if (progress.valid + progress.invalid >= progress.threshold) {
        throw new RecoveryError('recovery_share_invalid', `${progress.invalid} released shares do not match the owner's manifest`, { details });
      }
      throw new RecoveryError('recovery_not_enough_shares', `${progress.valid} of ${progress.threshold} shares released so far`, { details });
    }
    const recoveryKey = await combineRecoveryKey(shares);
    await ctx.store.write([{ op: 'delete', name: record(requestId) }]);
    return recoveryKey;
  } finally {
    for (const s of shares) s.fill(0);
  }
}
