/**
 * Replaces ts-mls's accept-everything authentication service: an MLS credential
 * is accepted only if the identity's entries in the key transparency log, as
 * verified by `KeyLogVerifier` (and, for a business sender, by the followed
 * log), show that device as approved and not revoked, with exactly that
 * signature key. Verified identities are cached briefly; lookups are deduplicated.
 */
import { equalBytes, type IdentityId } from '@parley/core';
import type { AuthenticateMember, MemberRef } from '@parley/core/mls';
import { holdsSignatureKey, type DeviceKeyState } from '@parley/core/keylog';
import type { KeyLogFollower } from './key-log-follower.js';
import type { KeyLogVerifier, VerifiedIdentity } from './key-transparency.js';

export interface IdentityKeys {
  readonly identity: VerifiedIdentity;
  /** The devices as the verified log shows them (for a follower: as the followed log shows them). */
  readonly devices: ReadonlyMap<string, DeviceKeyState>;
}

export class KeyLogAuthenticator {
  private readonly cache = new Map<string, { keys: IdentityKeys; at: number }>();
  private readonly inflight = new Map<string, Promise<IdentityKeys>>();

  constructor(
    private readonly verifier: KeyLogVerifier,
    private readonly follower: () => KeyLogFollower | undefined,
    /** This device; `signatureKeys` are its current MLS key and the ones its rotations replaced. */
    private readonly self: { deviceId: string; identityId: string; signatureKeys: () => readonly Uint8Array[] },
    /** Called when a lookup fails verification: the app must hear about a lying server. */
    private readonly onError: (identityId: IdentityId, error: unknown) => void,
    private readonly ttlMs = 30_000,
  ) {}

  readonly authenticate: AuthenticateMember = async (member: MemberRef, signatureKey: Uint8Array) => {
    if (member.deviceId === this.self.deviceId) {
      return member.identityId === this.self.identityId && this.self.signatureKeys().some((k) => equalBytes(k, signatureKey));
    }
    const accepts = (keys: IdentityKeys) => {
      const device = keys.devices.get(member.deviceId);
      return device !== undefined && device.status === 'approved' && holdsSignatureKey(device, signatureKey);
    };
    try {
      // A cached view may predate a device that was just approved: look again before saying no.
      return accepts(await this.keysOf(member.identityId)) || accepts(await this.keysOf(member.identityId, true));
    } catch (error) {
      this.onError(member.identityId, error);
      return false;
    }
  };

  /** The identity's verified devices (cached for a short while unless `fresh`). */
  async keysOf(identityId: string, fresh = false): Promise<IdentityKeys> {
    const hit = this.cache.get(identityId);
    if (!fresh && hit && Date.now() - hit.at < this.ttlMs) return hit.keys;
    let p = this.inflight.get(identityId);
    if (!p) {
      p = (async () => {
        const identity = await this.verifier.lookup(identityId);
        const follower = this.follower();
        const devices = follower ? await follower.devicesOf(identity) : identity.devices;
        const keys = { identity, devices };
        this.cache.set(identityId, { keys, at: Date.now() });
        return keys;
      })().finally(() => this.inflight.delete(identityId));
      this.inflight.set(identityId, p);
    }
    return p;
  }

  forget(identityId: string): void {
    this.cache.delete(identityId);
  }
}
