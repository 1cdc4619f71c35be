/**
 * Escrow at the door: which classes of a business are under escrow (routing policy
 * `escrow: { key, approvals }`), what a sender learns of it (`GET /v1/escrow/policy`: its
 * own business only), and the check every business message passes before it is stored.
 * An escrow class needs the sealed blob and a signed commitment naming the policy's key;
 * any other class may carry neither. The blob is HPKE ciphertext this node cannot open.
 */
import { ConflictError, ForbiddenError, InvalidInputError, ParleyError, fromBase64, type EscrowPolicyResponse } from '@parley/core';
import type { Commitment } from '@parley/core/audit';
import { ESCROW_BLOB_MAX_BYTES, parseEscrowKeyRecord } from '@parley/core/escrow';
import type { AuthDevice } from '../auth-device.js';
import type { Database } from '../storage/database.js';
import { getEscrowKey, getEscrowKeys } from '../repos/escrow.js';
import { policyOf, type RoutingConfig } from '../routing/routing-config.js';
import { DEFAULT_POLICIES, validateEscrowPolicy, type EscrowPolicy } from '../routing/policy.js';

/** enc (32) ‖ at least a tag (16) and some JSON. */
const MIN_BLOB_BYTES = 32 + 16 + 16;

/** What a checked escrowed message stores next to its commitment. */
export interface EscrowAttachment {
  readonly keyId: string;
  readonly blob: Uint8Array;
}

/**
 * @example
 * const gate = new EscrowGate(db, config.routing);
 * await gate.checkConfiguredKeys();
 * const attachment = await gate.check(sender.businessId, commitment, request.escrow);
 */
export class EscrowGate {
  constructor(
    private readonly db: Database,
    private readonly routing: RoutingConfig,
  ) {
    const configured = [...Object.entries(routing.businesses), ...(routing.defaultBusiness ? [['(default)', routing.defaultBusiness] as const] : [])];
    for (const [businessId, business] of configured) {
      for (const [cls, policy] of Object.entries(business.policies ?? {})) {
        if (policy.escrow === undefined) continue;
        validateEscrowPolicy(policy.escrow, (why) => {
          throw new InvalidInputError(`routing policy ${businessId}.${cls}: ${why}`, { code: 'invalid_routing_policy' });
        });
      }
    }
  }

  /** The escrow policy of a business's class, if the class is under escrow. */
  policyOf(businessId: string, messageClass: string): EscrowPolicy | undefined {
    return policyOf(this.routing, businessId, messageClass).escrow;
  }

  /**
   * At start: a policy naming a registered key must name one of its own business with
   * `approvals` equal to the key's threshold (`invalid_routing_policy`). A key not yet
   * registered is allowed (registration comes after start); its messages are refused
   * (`escrow_key_unknown`) until it is.
   */
  async checkConfiguredKeys(): Promise<void> {
    const wanted = Object.entries(this.routing.businesses).flatMap(([businessId, b]) =>
      Object.entries(b.policies ?? {}).flatMap(([cls, p]) => (p.escrow ? [{ businessId, cls, escrow: p.escrow }] : [])),
    );
    const keys = await getEscrowKeys(this.db, [...new Set(wanted.map((w) => w.escrow.key))]);
    for (const w of wanted) {
      const key = keys.get(w.escrow.key);
      if (key && (key.business_id !== w.businessId || key.threshold !== w.escrow.approvals)) {
        throw new InvalidInputError(
          `routing policy ${w.businessId}.${w.cls}: escrow key ${w.escrow.key} is ${key.business_id !== w.businessId ? "another business's" : `a ${key.threshold}-of-N key`}`,
          { code: 'invalid_routing_policy' },
        );
      }
    }
  }

  /**
   * The check of one business message: returns what to store with it (undefined for a class
   * without escrow). Refuses `escrow_required`, `escrow_not_allowed`, `escrow_wrong_key`,
   * `escrow_key_unknown`, `escrow_blob_invalid`, `escrow_too_large`.
   */
  async check(businessId: string, commitment: Commitment | undefined, blobText: string | undefined, messageClass = commitment?.class): Promise<EscrowAttachment | undefined> {
    const policy = messageClass === undefined ? undefined : this.policyOf(businessId, messageClass);
    if (!policy) {
      if (blobText !== undefined || commitment?.escrow !== undefined) {
        throw new InvalidInputError('this message class is not under escrow: no escrow blob or escrow field', { code: 'escrow_not_allowed' });
      }
      return undefined;
    }
    if (commitment === undefined || blobText === undefined || commitment.escrow === undefined) {
      throw new InvalidInputError('this message class is under escrow: the signed commitment must name the escrow key and the sealed blob must come with it', {
        code: 'escrow_required',
      });
    }
    if (commitment.escrow.keyId !== policy.key) throw new InvalidInputError("the commitment names another escrow key than the class's policy", { code: 'escrow_wrong_key' });
    const blob = fromBase64(blobText, 'escrow');
    if (blob.length > ESCROW_BLOB_MAX_BYTES) throw new ParleyError('escrow_too_large', 'the escrow blob is too large', { status: 413 });
    if (blob.length < MIN_BLOB_BYTES) throw new InvalidInputError('the escrow blob is too short to be HPKE ciphertext', { code: 'escrow_blob_invalid' });
    const key = await getEscrowKey(this.db, policy.key);
    if (!key || key.business_id !== businessId || key.threshold !== policy.approvals) {
      throw new ConflictError('escrow_key_unknown', "the class's escrow key is not registered for this business (parley escrow init)");
    }
    return { keyId: key.key_id, blob };
  }

  /**
   * What the calling sender learns: for each class of its own business under escrow, the
   * key's public record (the SDK recomputes the key id from it before sealing anything).
   * Only a business's sending identities may ask.
   */
  async policyFor(device: AuthDevice, senderKinds: readonly string[]): Promise<EscrowPolicyResponse> {
    const [row] = await this.db.query<{ kind: string }>('SELECT kind FROM identities WHERE id = $1', [device.identityId]);
    if (!row || !senderKinds.includes(row.kind)) throw new ForbiddenError('sender_required', "only the business's sending service may read its escrow policy");
    const business = this.routing.businesses[device.businessId] ?? this.routing.defaultBusiness;
    const classes = new Set([...Object.keys(DEFAULT_POLICIES), ...Object.keys(business?.policies ?? {})]);
    const escrowed = [...classes].flatMap((cls) => {
      const escrow = this.policyOf(device.businessId, cls);
      return escrow ? [{ cls, escrow }] : [];
    });
    const keys = await getEscrowKeys(this.db, [...new Set(escrowed.map((e) => e.escrow.key))]);
    return {
      classes: escrowed.flatMap(({ cls, escrow }) => {
        const key = keys.get(escrow.key);
        // An unregistered key (or another business's) is not offered: such messages are refused at submission.
        if (!key || key.business_id !== device.businessId) return [];
        const record = parseEscrowKeyRecord(JSON.parse(key.record));
        return [{ class: cls, keyId: record.keyId, approvals: escrow.approvals, businessId: record.businessId, publicKey: record.publicKey, threshold: record.threshold, officers: record.officers }];
      }),
    };
  }
}
