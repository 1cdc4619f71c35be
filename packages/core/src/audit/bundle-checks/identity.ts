/**
 * Identity checks: the checks of the SDK's `KeyLogVerifier.lookup`, offline, for one key-log
 * lookup in the bundle (RFC 9381 VRF label, inclusion of every entry in the key-log tree,
 * replay with every signature, attestations under the key-log keys the bundle's announcements
 * establish: rotations.ts), and the device-status rules commitments and receipts share.
 */
import { equalBytes, toBase64Url } from '../../bytes.js';
import { isParleyError } from '../../errors.js';
import { decodeKeyLogEntry, labelInput, type DeviceRevokedEntry } from '../../keylog/entry.js';
import { compareLogTimes, replayIdentity, type DeviceKeyState, type LoggedEntry } from '../../keylog/state.js';
import type { Checkpoint } from '../../tlog/checkpoint.js';
import { ecvrfVerify } from '../../vrf/ecvrf.js';
import type { KeyLookupResponse } from '../../wire/registry.js';
import type { EvidenceFailureCode } from '../evidence-report.js';
import { decode64, describe, fail, type Context } from './check.js';
import { included, openCheckpoint } from './logs.js';

/** An identity whose key-log entries verified: its devices as replayed, and each revocation's entry. */
export interface VerifiedIdentity {
  readonly devices: ReadonlyMap<string, DeviceKeyState>;
  readonly revocations: ReadonlyMap<string, { readonly index: number; readonly entry: DeviceRevokedEntry }>;
}

/** The checks of `KeyLogVerifier.lookup`, offline: VRF label, inclusion in the bundle's key-log checkpoint, replay. */
export function verifyIdentity(lookup: KeyLookupResponse, ctx: Context, out: { identity?: VerifiedIdentity }): string {
  const { identityId } = lookup;
  if (ctx.vrfKey === undefined) fail('bad_vrf', 'no usable VRF public key');
  const label = decode64(lookup.label, 'bad_vrf', 'label');
  const proof = decode64(lookup.vrfProof, 'bad_vrf', 'VRF proof');
  const vrf = ecvrfVerify(ctx.vrfKey, proof, labelInput(identityId));
  // RFC 9381 §5.3: beta is the VRF output; the label is its first 32 bytes.
  if (!vrf.valid || label.length !== 32 || !equalBytes(vrf.beta.slice(0, 32), label)) {
    fail('bad_vrf', `the VRF proof does not show that the label belongs to ${identityId}`);
  }
  const checkpoint = ctx.keyLogCheckpoint;
  if (checkpoint === undefined) return fail('checkpoint_unverified', 'the key-log checkpoint did not verify');
  if (lookup.checkpoint !== ctx.bundle.keyLog.checkpoint) {
    // Two signed views of one log of the same size with different roots: a fork, provably.
    let other: Checkpoint | undefined;
    try {
      other = openCheckpoint(lookup.checkpoint, checkpoint.keys, 'key-log');
    } catch {
      other = undefined;
    }
    if (other !== undefined && other.treeSize === checkpoint.treeSize && !equalBytes(other.rootHash, checkpoint.rootHash)) {
      fail('key_log_fork', `two key-log checkpoints of size ${checkpoint.treeSize}, both signed, have different roots`);
    }
    fail('checkpoint_mismatch', 'the lookup refers to another key-log checkpoint than the bundle');
  }
  const logged: LoggedEntry[] = [];
  for (const item of lookup.entries) {
    const bytes = decode64(item.entry, 'not_in_key_log', `key-log entry #${item.index}`);
    let ok: boolean;
    try {
      ok = included(bytes, item, checkpoint);
    } catch {
      ok = false;
    }
    if (!ok) fail('not_in_key_log', `key-log entry #${item.index} is not included in the key-log tree of size ${checkpoint.treeSize}`);
    try {
      logged.push({ index: item.index, entry: decodeKeyLogEntry(bytes) });
    } catch (error) {
      fail('bad_key_log_entry', `key-log entry #${item.index} is not a key-log entry (${describe(error)})`);
    }
  }
  logged.sort((a, b) => a.index - b.index);
  let devices: Map<string, DeviceKeyState>;
  try {
    devices = replayIdentity(toBase64Url(label), logged, checkpoint.keys.attestationKeys);
  } catch (error) {
    const index = isParleyError(error) ? error.details?.['index'] : undefined;
    return fail('key_log_inconsistent', `the key-log entries do not replay: ${error instanceof Error ? error.message : 'error'}${typeof index === 'number' ? ` (#${index})` : ''}`);
  }
  const revocations = new Map<string, { index: number; entry: DeviceRevokedEntry }>();
  for (const { index, entry } of logged) if (entry.type === 'device-revoked') revocations.set(entry.deviceId, { index, entry });
  out.identity = { devices, revocations };
  const list = [...devices.values()].map((d) => `${d.deviceId} (${d.kind}, ${d.status})`).join(', ');
  const chain = checkpoint.keys.attestationKeys.length;
  const attested = chain > 1 ? `; attestations checked under the ${chain} keys of the announced chain` : '';
  return `label proven by the ${ctx.vrfPinned ? 'pinned' : "bundle's own"} VRF key; ${logged.length} ${logged.length === 1 ? 'entry' : 'entries'} included in the key-log tree of size ${checkpoint.treeSize}${attested}; devices: ${list || 'none'}`;
}

/** Looks a device up in a verified identity and applies the status rules shared by commitments and receipts. */
export function deviceAt(
  identity: VerifiedIdentity | undefined,
  identityId: string,
  deviceId: string,
  time: string,
  codes: { unknown: EvidenceFailureCode; pending: EvidenceFailureCode; revoked: EvidenceFailureCode },
): { device: DeviceKeyState; note: string } {
  if (identity === undefined) return fail('identity_unverified', `the key-log entries of ${identityId} did not verify`);
  const device = identity.devices.get(deviceId);
  if (device === undefined) return fail(codes.unknown, `${deviceId} is not a device of ${identityId} in the key log`);
  if (device.status === 'pending') return fail(codes.pending, `${deviceId} was never approved`);
  const revocation = identity.revocations.get(deviceId);
  if (device.status === 'revoked' && revocation !== undefined) {
    // Times: the signer's claim against the directory's log entry. A statement dated after
    // the key was revoked is not one its owner can be held to.
    if (compareLogTimes(time, revocation.entry.time) >= 0) {
      return fail(codes.revoked, `${deviceId} was revoked (${revocation.entry.by}, key-log #${revocation.index}) at ${revocation.entry.time}, before ${time}`);
    }
    return { device, note: `; the device was revoked later (${revocation.entry.by}, key-log #${revocation.index}, ${revocation.entry.time})` };
  }
  return { device, note: '' };
}
