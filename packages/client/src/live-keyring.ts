/**
 * A device's keys as they are now. A key rotation (key-rotation.ts) replaces them while the
 * device runs, so the modules never hold a key: they read the identity signer, the suite and
 * the MLS signature key pair from here each time they sign.
 */
import type { Ed25519Signer } from '@parley/core';
import type { AuthenticateMember, MemberRef, MlsSuite, SignatureKeyPair, SuiteName } from '@parley/core/mls';
import type { DeviceKeyring } from './device-signers.js';
import type { MlsSelf } from './mls-self.js';

/** @internal The current keyring, swapped in place by a rotation. */
export class LiveKeyring {
  private ring: DeviceKeyring;
  /** MLS signature keys a rotation replaced while this device ran (its old leaves still carry them). */
  private readonly replaced: Uint8Array[] = [];

  constructor(ring: DeviceKeyring) {
    this.ring = ring;
  }

  get current(): DeviceKeyring {
    return this.ring;
  }

  /** Signs with whichever identity key is current. */
  readonly identity: Ed25519Signer = (() => {
    const live = (): Ed25519Signer => this.ring.identity;
    return {
      get publicKey(): Uint8Array {
        return live().publicKey;
      },
      get description(): string | undefined {
        return live().description;
      },
      sign: (message: Uint8Array) => live().sign(message),
    };
  })();

  /** This device as an MLS member, with whichever suite and signature key are current. */
  mlsSelf(member: MemberRef, authenticate: AuthenticateMember): MlsSelf {
    const live = (): DeviceKeyring => this.ring;
    return {
      member,
      authenticate,
      get suite(): MlsSuite {
        return live().suite;
      },
      get suites(): ReadonlyMap<SuiteName, MlsSuite> {
        return live().suites;
      },
      get signatureKeys(): SignatureKeyPair {
        return live().signatureKeys;
      },
    };
  }

  /** The current MLS signature public key and those replaced while this device ran. */
  signatureKeys(): readonly Uint8Array[] {
    return [this.ring.signatureKeys.publicKey, ...this.replaced];
  }

  /** Makes `next` current (after the server logged the rotation and the store holds it). */
  replace(next: DeviceKeyring): void {
    this.replaced.push(this.ring.signatureKeys.publicKey);
    this.ring = next;
  }
}
