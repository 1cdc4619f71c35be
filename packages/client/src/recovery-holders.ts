/**
 * The owner's side of a split: which devices hold the shares, with HPKE keys checked against
 * the verified key log (a holder key counts only if its device's logged identity key signed
 * it, so a server cannot put its own key in a holder's place), and the recovery set itself:
 * Shamir shares of the key, each sealed (HPKE, RFC 9180) to every device of its holder, and
 * the manifest the owner's device signs (who holds which index, and each share's hash).
 */
import {
  RECOVERY_MAX_HOLDERS,
  RECOVERY_MAX_SEALED,
  fromBase64,
  parseIdentityId,
  randomBytes,
  recoveryHolderKeyMessage,
  recoverySetMessage,
  recoveryShareContext,
  recoveryShareHash,
  signWith,
  toBase64Url,
  verifyEd25519,
  type Ed25519Signer,
  type RecoveryHolderKeyList,
  type RecoveryManifest,
  type RecoverySealedShare,
  type RecoverySetPut,
} from '@parley/core';
import { hpkeSeal } from '@parley/core/escrow';
import type { DeviceKeyState } from '@parley/core/keylog';
import { ApiError } from './errors.js';
import type { RecoveryApi } from './recovery-api.js';
import { RecoveryError } from './recovery-error.js';
import { splitRecoveryKey } from './recovery-shares.js';

/**
 * Who holds one share: a device of this identity or of a trusted contact (`deviceId`), or every
 * approved device of that identity with a holder key (no `deviceId`; this device excluded).
 *
 * @example
 * const holders: RecoveryHolder[] = [{ identityId: phone.identityId, deviceId: tablet.deviceId }, { identityId: 'acme:c-2002' }]
 */
export interface RecoveryHolder {
  readonly identityId: string;
  readonly deviceId?: string;
}

/** One holder device with its verified HPKE key. */
interface HolderDevice {
  readonly identityId: string;
  readonly deviceId: string;
  readonly hpkeKey: Uint8Array;
}

export interface HolderContext {
  readonly api: RecoveryApi;
  readonly self: { readonly identityId: string; readonly deviceId: string };
  /** The identity's devices as the verified key log shows them. */
  devicesOf(identityId: string): Promise<DeviceKeyState[]>;
  /** Whether the owner verified a contact's keys by QR. */
  verificationState(identityId: string): Promise<'unverified' | 'verified' | 'changed'>;
}

function unavailable(identityId: string, why: string, cause?: unknown): RecoveryError {
  return new RecoveryError('recovery_holder_unavailable', `holder ${identityId}: ${why}`, { details: { identityId }, ...(cause === undefined ? {} : { cause }) });
}

/** The devices of one holder, each HPKE key verified against the device's logged identity key. */
async function holderDevices(ctx: HolderContext, holder: RecoveryHolder): Promise<HolderDevice[]> {
  let identityId: string;
  try {
    identityId = parseIdentityId(String(holder.identityId));
  } catch (cause) {
    throw new RecoveryError('recovery_holder_invalid', 'a holder is not an identity id', { cause });
  }
  let published: RecoveryHolderKeyList;
  let logged: DeviceKeyState[];
  try {
    [published, logged] = await Promise.all([ctx.api.holderKeys(identityId), ctx.devicesOf(identityId)]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) throw unavailable(identityId, 'unknown, or not visible to this device', error);
    throw error;
  }
  const own = identityId === ctx.self.identityId;
  const approved = logged.filter((d) => d.status === 'approved');
  // Named by identity, the owner's own devices count only when one of the owner's devices approved them (an
  // enrollment-approved one is what `checkOwnKeys` alerts on: possibly the server's); this device never.
  const wanted =
    holder.deviceId === undefined
      ? approved.filter((d) => !own || (d.deviceId !== ctx.self.deviceId && d.approvedBy !== undefined))
      : approved.filter((d) => d.deviceId === holder.deviceId);
  if (holder.deviceId !== undefined && wanted.length === 0) {
    throw new RecoveryError('recovery_holder_unverified', `holder ${identityId}/${holder.deviceId}: not an approved device in the verified key log`, { details: { identityId, deviceId: holder.deviceId } });
  }
  const out: HolderDevice[] = [];
  for (const device of wanted) {
    const key = published.keys.find((k) => k.deviceId === device.deviceId);
    if (!key) {
      if (holder.deviceId !== undefined) throw unavailable(identityId, `device ${device.deviceId} has published no holder key`);
      continue;
    }
    const message = recoveryHolderKeyMessage({ identityId, deviceId: device.deviceId, hpkeKey: key.hpkeKey });
    if (!verifyEd25519(device.identityKey, message, fromBase64(key.signature))) {
      throw new RecoveryError('recovery_holder_unverified', `holder ${identityId}/${device.deviceId}: the holder key is not signed by the device's logged identity key`, {
        details: { identityId, deviceId: device.deviceId },
      });
    }
    out.push({ identityId, deviceId: device.deviceId, hpkeKey: fromBase64(key.hpkeKey) });
  }
  if (out.length === 0) throw unavailable(identityId, 'no approved device has published a holder key');
  return out;
}

/** Checks the split's shape: 2 ≤ threshold ≤ holders ≤ 10. */
export function checkThreshold(threshold: number, holders: number): void {
  if (!Number.isInteger(threshold) || threshold < 2 || threshold > holders || holders > RECOVERY_MAX_HOLDERS) {
    throw new RecoveryError('recovery_threshold_invalid', `a recovery set needs 2 ≤ threshold ≤ holders ≤ ${RECOVERY_MAX_HOLDERS} (threshold ${threshold}, holders ${holders})`, {
      details: { threshold, holders },
    });
  }
}

/**
 * Every holder's devices, verified; refuses this device, any device that would hold two shares and, with
 * `verifiedContactsOnly`, a contact whose keys the owner has not verified by QR.
 */
export async function resolveHolders(ctx: HolderContext, holders: readonly RecoveryHolder[], verifiedContactsOnly: boolean): Promise<HolderDevice[][]> {
  for (const h of holders) {
    if (h.identityId === ctx.self.identityId && h.deviceId === ctx.self.deviceId) {
      throw new RecoveryError('recovery_holder_invalid', 'this device cannot hold a share of its own recovery key');
    }
    if (verifiedContactsOnly && h.identityId !== ctx.self.identityId && (await ctx.verificationState(h.identityId)) !== 'verified') {
      throw new RecoveryError('recovery_holder_unverified', `holder ${h.identityId}: not verified by QR (or its keys changed since)`, { details: { identityId: h.identityId } });
    }
  }
  const resolved = await Promise.all(holders.map((h) => holderDevices(ctx, h)));
  const seen = new Set<string>();
  for (const device of resolved.flat()) {
    if (seen.has(device.deviceId)) throw new RecoveryError('recovery_holder_invalid', `device ${device.deviceId} would hold two shares`, { details: { deviceId: device.deviceId } });
    seen.add(device.deviceId);
  }
  if (seen.size > RECOVERY_MAX_SEALED) throw new RecoveryError('recovery_holder_invalid', `at most ${RECOVERY_MAX_SEALED} holder devices in all`);
  return resolved;
}

/**
 * The recovery set: the key split `threshold`-of-holders, share `i + 1` sealed to every device of
 * holder `i` (aad: owner identity, set, index, holder device), and the signed manifest.
 */
export async function buildRecoverySet(
  owner: { readonly identityId: string; readonly deviceId: string; readonly identity: Ed25519Signer; readonly now: Date },
  recoveryKey: string,
  threshold: number,
  holders: readonly HolderDevice[][],
): Promise<RecoverySetPut> {
  const setId = `rcs_${toBase64Url(randomBytes(16))}`;
  const shares = await splitRecoveryKey(recoveryKey, holders.length, threshold);
  try {
    const entries: RecoveryManifest['shares'] = [];
    const sealed: RecoverySealedShare[] = [];
    for (const [i, devices] of holders.entries()) {
      const index = i + 1;
      const share = shares[i]!;
      const shareHash = recoveryShareHash(setId, index, share);
      for (const d of devices) {
        const { info, aad } = recoveryShareContext({ setId, identityId: owner.identityId, index, holderDeviceId: d.deviceId });
        entries.push({ index, identityId: d.identityId, deviceId: d.deviceId, shareHash });
        sealed.push({ index, deviceId: d.deviceId, sealed: toBase64Url(await hpkeSeal(d.hpkeKey, info, aad, share)) });
      }
    }
    const manifest: RecoveryManifest = { v: 1, setId, identityId: owner.identityId, deviceId: owner.deviceId, threshold, createdAt: owner.now.toISOString(), shares: entries };
    const signature = toBase64Url(await signWith(owner.identity, recoverySetMessage(manifest)));
    return { manifest, signature, sealed };
  } finally {
    for (const s of shares) s.fill(0);
  }
}
