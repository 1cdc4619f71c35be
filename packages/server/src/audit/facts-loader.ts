/**
 * The facts `AuditService.authorize` checks for a commitment (the sender identity's kind,
 * the recipient's business and membership, the sender device's identity key, a commitment
 * already stored under the message id), loaded for MANY commitments in one query: requests
 * that arrive while a query is running wait for the next one, which carries them all (the
 * group-commit pattern, for reads). One submission alone still costs one round trip.
 */
import { isUnavailableError, type Database } from '../storage/database.js';
import { GroupCommitter } from '../relay/group-commit.js';

/** What one commitment's check needs to know (see AuditService.authorize). */
export interface CommitmentFactsKey {
  readonly senderIdentityId: string;
  readonly recipient: string;
  readonly conversationId: string;
  readonly senderDeviceId: string;
  readonly messageId: string;
}

export interface CommitmentFacts {
  readonly sender_kind: string | null;
  readonly recipient_business: string | null;
  readonly recipient_member: boolean;
  readonly sender_key: Uint8Array | null;
  readonly existing_hash: Uint8Array | null;
}

/**
 * @example
 * const loader = new CommitmentFactsLoader(db);
 * const facts = await loader.load({ senderIdentityId, recipient, conversationId, senderDeviceId, messageId });
 */
export class CommitmentFactsLoader {
  // One query at a time, so that every request arriving meanwhile joins the next; a failed
  // batch is split like a failed write (relay/group-commit.ts), so one bad key fails alone.
  readonly #batcher = new GroupCommitter<CommitmentFactsKey, CommitmentFacts>(
    async (keys) => (await this.#query(keys)).map((value) => ({ ok: true as const, value })),
    { maxBatch: 512, concurrency: 1, isolate: (e) => !isUnavailableError(e) },
  );

  constructor(private readonly db: Database) {}

  load(key: CommitmentFactsKey): Promise<CommitmentFacts> {
    return this.#batcher.submit(key);
  }

  async #query(keys: readonly CommitmentFactsKey[]): Promise<CommitmentFacts[]> {
    const rows = await this.db.query<CommitmentFacts & { ord: string }>(
      `SELECT k.ord,
              (SELECT kind FROM identities WHERE id = k.sender_identity) AS sender_kind,
              (SELECT business_id FROM identities WHERE id = k.recipient) AS recipient_business,
              EXISTS (SELECT 1 FROM group_members m JOIN devices d ON d.id = m.device_id
                      WHERE m.group_id = k.conversation AND d.identity_id = k.recipient) AS recipient_member,
              (SELECT identity_key FROM devices WHERE id = k.device) AS sender_key,
              (SELECT commitment_hash FROM audit_commitments WHERE message_id = k.message) AS existing_hash
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS k(sender_identity, recipient, conversation, device, message, ord)
       ORDER BY k.ord`,
      [
        keys.map((k) => k.senderIdentityId),
        keys.map((k) => k.recipient),
        keys.map((k) => k.conversationId),
        keys.map((k) => k.senderDeviceId),
        keys.map((k) => k.messageId),
      ],
    );
    const out: CommitmentFacts[] = [];
    for (const r of rows) out[Number(r.ord) - 1] = r;
    if (out.length !== keys.length) throw new Error('commitment facts query returned too few rows');
    return out;
  }
}
