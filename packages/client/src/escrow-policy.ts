/**
 * Escrow on the sending side: which of the business's classes are under escrow, learned
 * from `GET /v1/escrow/policy` and NOT taken on the server's word: each key's id must be
 * the hash of the public key, threshold and officers it comes with (`escrowKeyId`), must
 * name this business, and its threshold must be the policy's approvals. A message of such a
 * class carries `escrow: { keyId }` in its signed commitment and `{opening, plaintext}`
 * HPKE-sealed (RFC 9180) to that key; other classes never produce a blob.
 */
import { fromBase64, type EscrowPolicyResponse } from '@parley/core';
import { escrowKeyId, sealEscrowPayload } from '@parley/core/escrow';
import { commitmentHash, type Commitment } from '@parley/core/audit';
import { EscrowPolicyError } from './errors.js';

/**
 * The escrow key a message is sealed to (from the verified policy).
 *
 * @example
 * const target: EscrowTarget = { keyId: 'esk_…', publicKey };
 */
export interface EscrowTarget {
  readonly keyId: string;
  /** The escrow key's X25519 public key (32 bytes). */
  readonly publicKey: Uint8Array;
}

/** How long a fetched policy is used before it is asked for again. */
const POLICY_TTL_MS = 60_000;

/**
 * @internal The sender's escrow policy, fetched and verified, cached for a minute.
 */
export class EscrowPolicyCache {
  private cached: { at: number; classes: Map<string, EscrowTarget> } | undefined;

  constructor(
    private readonly fetchPolicy: () => Promise<EscrowPolicyResponse>,
    private readonly businessId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The escrow key of `messageClass`, or undefined when the class is not under escrow. */
  async forClass(messageClass: string): Promise<EscrowTarget | undefined> {
    if (!this.cached || this.now() - this.cached.at > POLICY_TTL_MS) this.cached = { at: this.now(), classes: this.verify(await this.fetchPolicy()) };
    return this.cached.classes.get(messageClass);
  }

  /** Forgets the cached policy (the server refused a message for its escrow). */
  invalidate(): void {
    this.cached = undefined;
  }

  private verify(policy: EscrowPolicyResponse): Map<string, EscrowTarget> {
    const classes = new Map<string, EscrowTarget>();
    for (const entry of policy.classes) {
      if (entry.businessId !== this.businessId) throw new EscrowPolicyError(`the escrow key of class ${entry.class} is another business's`);
      if (entry.threshold !== entry.approvals) throw new EscrowPolicyError(`the escrow key of class ${entry.class} is not ${entry.approvals}-of-N`);
      if (escrowKeyId(entry) !== entry.keyId) throw new EscrowPolicyError(`the escrow key of class ${entry.class} is not the key its id names`);
      classes.set(entry.class, { keyId: entry.keyId, publicKey: fromBase64(entry.publicKey) });
    }
    return classes;
  }
}

/**
 * @internal Seals an escrowed message's opening and text to its escrow key, bound to the
 * message id and the hash of its signed commitment (which names the key).
 */
export async function sealForEscrow(target: EscrowTarget, commitment: Commitment, opening: Uint8Array, text: string): Promise<Uint8Array> {
  if (commitment.escrow?.keyId !== target.keyId) throw new EscrowPolicyError('the commitment names another escrow key');
  return sealEscrowPayload(target.publicKey, { keyId: target.keyId, messageId: commitment.messageId, commitmentHash: commitmentHash(commitment) }, opening, text);
}
