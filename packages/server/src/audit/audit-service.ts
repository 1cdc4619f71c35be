/**
 * Audit evidence on the server: checks each business message's signed
 * commitment and each device's signed receipt, records them in the audit log
 * (hashes only; the log is public), and assembles evidence bundles. It never
 * sees a plaintext or an opening — those stay inside the MLS ciphertext.
 */
import type { Logger } from 'pino';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ParleyError,
  equalBytes,
  fromBase64,
  toBase64,
  toBase64Url,
  type IdentityId,
  type ReceiptRequest,
  type SubmitRequest,
  businessOf,
  identityIdOf,
} from '@parley/core';
import {
  commitmentEntry,
  decodeAuditEntry,
  type AuditEntry,
  encodeAuditEntry,
  parseCommitment,
  parseReceipt,
  receiptBytes,
  receiptEntry,
  receiptHash,
  receiptSigningMessage,
  type Commitment,
  type EvidenceBundle,
  type Receipt,
} from '@parley/core/audit';
import type { Database, Sql } from '../storage/database.js';
import type { TransparencyLog } from '../tlog/index.js';
import type { KeyDirectory } from '../directory/directory.js';
import type { AuthDevice } from '../auth-device.js';
import { getDevice } from '../repos/devices.js';
import { verifyEd25519Fast } from '../crypto/ed25519.js';
import { commitmentEncoding } from './commitment-encoding.js';
import { CommitmentFactsLoader } from './facts-loader.js';
import { getCommitment, insertCommitments, insertReceipt, receiptsOf, type CommitmentRow } from '../repos/audit.js';
import { insertEscrowBlobs } from '../repos/escrow.js';
import type { EscrowAttachment, EscrowGate } from '../escrow/escrow-gate.js';

/** A checked commitment, ready to be stored with its message. */
export interface PreparedCommitment {
  readonly row: CommitmentRow;
  readonly entry: Uint8Array;
  readonly hash: Uint8Array;
  /**
   * Set by {@link AuditService.store} when this commitment's entry was appended (not a
   * repeat): its audit-log index, sequenced in the same transaction (final once it commits).
   */
  index?: number;
  /** An escrowed message's sealed copy (escrow/escrow-gate.ts), stored with a new commitment. */
  escrow?: EscrowAttachment;
}

function safeDecode(bytes: Uint8Array): AuditEntry | undefined {
  try {
    return decodeAuditEntry(bytes);
  } catch {
    return undefined;
  }
}

const MAX_AGE_MS = 24 * 3600_000;
const MAX_SKEW_MS = 5 * 60_000;

export class AuditService {
  /** The facts each commitment's check needs, loaded for concurrent submissions together. */
  private readonly facts: CommitmentFactsLoader;

  constructor(
    private readonly db: Database,
    readonly log: TransparencyLog,
    private readonly directory: KeyDirectory,
    private readonly logger: Logger,
    /** Identity kinds of a business allowed to send business messages (default: `sender` only). */
    private readonly senderKinds: (businessId: string) => readonly string[] = () => ['sender'],
    /** Escrow policy at the door (absent: no class is under escrow, and no blob is accepted). */
    private readonly escrow?: EscrowGate,
  ) {
    this.facts = new CommitmentFactsLoader(db);
  }

  /**
   * The escrow check of a business message: an escrow class needs its blob and the key in
   * the signed commitment; any other class neither (escrow/escrow-gate.ts).
   */
  private async escrowOf(sender: AuthDevice, commitment: Commitment | undefined, blob: string | undefined, messageClass?: string): Promise<EscrowAttachment | undefined> {
    if (this.escrow) return this.escrow.check(sender.businessId, commitment, blob, messageClass ?? commitment?.class);
    if (blob !== undefined || commitment?.escrow !== undefined) throw new InvalidInputError('no message class is under escrow here', { code: 'escrow_not_allowed' });
    return undefined;
  }

  /** A web message without a commitment: refused when its class is under escrow (or when it carries a blob). */
  async checkUncommitted(sender: AuthDevice, messageClass: string, blob: string | undefined): Promise<void> {
    await this.escrowOf(sender, undefined, blob, messageClass);
  }

  /** Validates the commitment of a submitted business message (before anything is stored). */
  async prepare(sender: AuthDevice, request: SubmitRequest): Promise<PreparedCommitment> {
    const signed = request.commitment!;
    const commitment: Commitment = parseCommitment(signed.body);
    if (commitment.conversationId !== request.conversationId) {
      throw new InvalidInputError('the commitment names another conversation', { code: 'commitment_mismatch' });
    }
    const escrow = await this.escrowOf(sender, commitment, request.escrow);
    try {
      return { ...this.checked(sender, commitment, signed.signature, await this.authorize(sender, commitment)), ...(escrow ? { escrow } : {}) };
    } catch (error) {
      // A valid commitment of this device, but the message id already holds another one.
      if (error instanceof ConflictError && error.code === 'commitment_exists' && (await this.isRepeat(sender, commitment, request.idempotencyKey))) {
        return this.firstCommitment(commitment.messageId);
      }
      throw error;
    }
  }

  /**
   * A repeat of an accepted business message, encrypted again (same message id and
   * idempotency key, a fresh commitment: the sender lost its outbox record, or called
   * send again after the first call completed): this device's commitment is stored under
   * the message id and it already submitted this idempotency key into that conversation.
   * The relay then drops the submission as a duplicate of (sender device, idempotency
   * key), so the customer never receives the second ciphertext (which, encrypted from a
   * copy of the sender's state, may reuse a ratchet generation), and the first
   * commitment stands.
   */
  private async isRepeat(sender: AuthDevice, commitment: Commitment, idempotencyKey: string): Promise<boolean> {
    const rows = await this.db.query(
      `SELECT 1 FROM audit_commitments c JOIN envelopes e
         ON e.sender_device_id = c.sender_device_id AND e.group_id = c.conversation_id AND e.idempotency_key = $4 AND e.part = 0
       WHERE c.message_id = $1 AND c.sender_device_id = $2 AND c.conversation_id = $3`,
      [commitment.messageId, sender.deviceId, commitment.conversationId, idempotencyKey],
    );
    return rows.length > 0;
  }

  /**
   * After the relay answered `duplicate`: the commitment the log holds for this message
   * (`prepared` itself, or the first one when a concurrent repeat carried another).
   */
  async logged(prepared: PreparedCommitment): Promise<PreparedCommitment> {
    if (prepared.index !== undefined) return prepared;
    const stored = await getCommitment(this.db, prepared.row.message_id);
    return stored && !equalBytes(new Uint8Array(stored.commitment_hash), prepared.hash) ? this.firstCommitment(prepared.row.message_id) : prepared;
  }

  /** The stored first commitment of a repeated message, as `prepare` hands it on: nothing new is stored or appended; the response names its hash and index. */
  private async firstCommitment(messageId: string): Promise<PreparedCommitment> {
    const row = await getCommitment(this.db, messageId);
    if (!row) throw new ConflictError('commitment_exists', 'another commitment exists for this message id');
    const hash = new Uint8Array(row.commitment_hash);
    return {
      hash,
      entry: encodeAuditEntry(commitmentEntry(parseCommitment(JSON.parse(row.commitment)))),
      row: { ...row, commitment_hash: hash, signature: new Uint8Array(row.signature) },
    };
  }

  /**
   * Validates the commitment of a web-link message (`POST /v1/web-messages`): it must name
   * this message, the conversation `web_<messageId>` and, as recipient, the customer's
   * identity in the sender's business. No conversation membership: the customer has no
   * device (the web page holds no key, so such a message never gets receipts).
   */
  async prepareWeb(
    sender: AuthDevice,
    web: { messageId: string; customerId: string; class?: string; commitment: { body: unknown; signature: string }; escrow?: string },
  ): Promise<PreparedCommitment> {
    const commitment: Commitment = parseCommitment(web.commitment.body);
    if (commitment.messageId !== web.messageId || commitment.conversationId !== `web_${web.messageId}`) {
      throw new InvalidInputError('the commitment names another message or conversation', { code: 'commitment_mismatch' });
    }
    if (commitment.recipient !== identityIdOf(sender.businessId, web.customerId)) {
      throw new InvalidInputError('the commitment names another recipient', { code: 'commitment_mismatch' });
    }
    if (web.class !== undefined && commitment.class !== web.class) {
      throw new InvalidInputError('the commitment names another class', { code: 'commitment_mismatch' });
    }
    const escrow = await this.escrowOf(sender, commitment, web.escrow);
    return { ...this.checked(sender, commitment, web.commitment.signature, await this.authorize(sender, commitment, 'web')), ...(escrow ? { escrow } : {}) };
  }

  /** The checks every commitment passes: its sender is this device, its time is now, its signature verifies, no other commitment holds its id. */
  private checked(
    sender: AuthDevice,
    commitment: Commitment,
    signatureText: string,
    facts: { sender_key: Uint8Array | null; existing_hash: Uint8Array | null },
  ): PreparedCommitment {
    if (commitment.sender.deviceId !== sender.deviceId || commitment.sender.identityId !== sender.identityId) {
      throw new ForbiddenError('commitment_sender_mismatch', 'the commitment names another sender');
    }
    const createdAt = Date.parse(commitment.createdAt);
    if (!(createdAt <= Date.now() + MAX_SKEW_MS && createdAt >= Date.now() - MAX_AGE_MS)) {
      throw new InvalidInputError('the commitment time is not now', { code: 'commitment_time_invalid' });
    }
    const signature = fromBase64(signatureText, 'signature');
    // One canonical encoding serves the signature check, the hash, the entry and the row.
    const { bytes, signingMessage, hash } = commitmentEncoding(commitment);
    if (!facts.sender_key || !verifyEd25519Fast(facts.sender_key, signingMessage, signature)) {
      throw new InvalidInputError("the commitment signature does not verify with the sender's key", { code: 'commitment_signature_invalid' });
    }
    if (facts.existing_hash && !equalBytes(new Uint8Array(facts.existing_hash), hash)) {
      throw new ConflictError('commitment_exists', 'another commitment exists for this message id');
    }
    return {
      hash,
      entry: encodeAuditEntry({ v: 1, type: 'commitment', commitment: toBase64Url(hash) }),
      row: {
        message_id: commitment.messageId,
        commitment: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
        commitment_hash: hash,
        signature,
        sender_device_id: sender.deviceId,
        sender_identity_id: sender.identityId,
        recipient_identity_id: commitment.recipient,
        conversation_id: commitment.conversationId,
      },
    };
  }

  /**
   * Who may do this to whom: a business message (a commitment in the public audit log,
   * and a route that may push, RCS or SMS the recipient at the business's expense) comes
   * only from one of the business's sending identities (kind `sender`, or the kinds the
   * business allows), and names a recipient of the same business who is a member of the
   * conversation. A customer device can never make the server message another customer.
   * The one query also brings what `prepare` checks next: the sender device's identity key
   * and the hash of a commitment already stored under this message id. A web-link message
   * (`web`) has no conversation: `prepareWeb` checked its recipient against the request.
   */
  private async authorize(
    sender: AuthDevice,
    commitment: Commitment,
    kind: 'app' | 'web' = 'app',
  ): Promise<{ sender_key: Uint8Array | null; existing_hash: Uint8Array | null }> {
    // Batched with the other submissions in flight (facts-loader.ts): one query for many.
    const row = await this.facts.load({
      senderIdentityId: sender.identityId,
      recipient: commitment.recipient,
      conversationId: commitment.conversationId,
      senderDeviceId: sender.deviceId,
      messageId: commitment.messageId,
    });
    if (!row.sender_kind || !this.senderKinds(sender.businessId).includes(row.sender_kind)) {
      throw new ForbiddenError('sender_required', "only the business's sending service may send business messages");
    }
    if (kind === 'web') return { sender_key: row.sender_key, existing_hash: row.existing_hash };
    if (row.recipient_business !== sender.businessId || commitment.recipient === sender.identityId) {
      throw new InvalidInputError('unknown recipient', { code: 'unknown_recipient' });
    }
    if (!row.recipient_member) {
      throw new InvalidInputError('the recipient is not a member of this conversation', { code: 'recipient_not_member' });
    }
    return { sender_key: row.sender_key, existing_hash: row.existing_hash };
  }

  /**
   * Stores checked commitments and appends the new ones to the audit log, sequenced in the
   * caller's transaction (which then holds the log's lock until it ends: call this last).
   */
  async store(tx: Sql, prepared: readonly PreparedCommitment[]): Promise<void> {
    for (const p of prepared) delete p.index;
    const fresh = await insertCommitments(tx, prepared.map((p) => p.row));
    const appended = prepared.filter((p, i) => fresh.has(p.row.message_id) && prepared.findIndex((q) => q.row.message_id === p.row.message_id) === i);
    if (appended.length === 0) return;
    // An escrowed message's sealed copy is stored with its commitment, in the same transaction.
    await insertEscrowBlobs(tx, appended.flatMap((p) => (p.escrow ? [{ message_id: p.row.message_id, key_id: p.escrow.keyId, blob: p.escrow.blob }] : [])));
    const indexes = await this.log.appendSequenced(tx, appended.map((p) => ({ entry: p.entry, label: p.hash })));
    appended.forEach((p, i) => (p.index = indexes[i]));
  }

  /** The audit-log index of a stored commitment (known at once when this call stored it; looked up for a repeat). */
  async indexOfCommitment(prepared: PreparedCommitment): Promise<number> {
    if (prepared.index !== undefined) return prepared.index;
    return this.indexOf(prepared.hash, prepared.entry);
  }

  /**
   * The audit-log index of an entry filed under a commitment, for repeats whose
   * pending id this node does not know; polls with backoff while it is sequenced.
   */
  async indexOf(commitmentHashBytes: Uint8Array, entry: Uint8Array, timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
      const found = (await this.log.entriesByLabel(commitmentHashBytes)).find((e) => equalBytes(e.entry, entry));
      if (found) return found.index;
      if (Date.now() > deadline) throw new ParleyError('tlog_sequence_timeout', 'the audit entry was not sequenced in time; retry', { status: 503 });
      this.log.kick();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /** Checks and records a device's signed receipt (idempotent). */
  async receipt(device: AuthDevice, request: ReceiptRequest): Promise<{ index: number; duplicate: boolean }> {
    const receipt: Receipt = parseReceipt(request.receipt);
    if (receipt.deviceId !== device.deviceId || receipt.identityId !== device.identityId) {
      throw new ForbiddenError('receipt_device_mismatch', 'a device signs receipts only for itself');
    }
    const commitment = await getCommitment(this.db, receipt.messageId);
    if (!commitment) throw new NotFoundError('unknown_message', 'no commitment for this message');
    if (commitment.recipient_identity_id !== device.identityId) throw new ForbiddenError('not_a_recipient', 'the device is not a recipient of this message');
    if (receipt.commitmentHash !== toBase64Url(new Uint8Array(commitment.commitment_hash))) {
      throw new ConflictError('receipt_commitment_mismatch', 'the receipt refers to another commitment');
    }
    const row = await getDevice(this.db, device.deviceId);
    const signature = fromBase64(request.signature, 'signature');
    if (!row || !verifyEd25519Fast(new Uint8Array(row.identity_key), receiptSigningMessage(receipt), signature)) {
      throw new InvalidInputError('the receipt signature does not verify', { code: 'receipt_signature_invalid' });
    }
    const entry = encodeAuditEntry(receiptEntry(receipt));
    const label = new Uint8Array(commitment.commitment_hash);
    const pendingId = await this.db.transaction(async (tx) => {
      const fresh = await insertReceipt(tx, {
        message_id: receipt.messageId,
        device_id: receipt.deviceId,
        status: receipt.status,
        receipt: new TextDecoder().decode(receiptBytes(receipt)),
        receipt_hash: receiptHash(receipt),
        signature,
      });
      return fresh ? await this.log.append(tx, entry, label) : undefined;
    });
    this.log.kick();
    if (pendingId !== undefined) return { index: (await this.log.waitSequenced(pendingId)).index, duplicate: false };
    // Same (message, device, status) again: the first receipt stands.
    const first = (await receiptsOf(this.db, receipt.messageId)).find((r) => r.device_id === receipt.deviceId && r.status === receipt.status)!;
    const firstEntry = encodeAuditEntry(receiptEntry(parseReceipt(JSON.parse(first.receipt))));
    return { index: await this.indexOf(label, firstEntry), duplicate: true };
  }

  /**
   * The sequenced audit-log entries filed under a commitment that `wanted` names (its
   * commitment entry; receipt entries by receipt hash), in that order. Waits briefly
   * for entries still being sequenced.
   */
  private async loggedEntries(
    label: Uint8Array,
    wanted: readonly { type: 'commitment' | 'receipt'; hash: string }[],
    timeoutMs = 10_000,
  ): Promise<{ index: number; entry: Uint8Array }[]> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
      const entries = (await this.log.entriesByLabel(label)).map((e) => ({ ...e, decoded: safeDecode(e.entry) }));
      const found = wanted.map((w) =>
        entries.find((e) => e.decoded?.type === w.type && (w.type === 'commitment' || (e.decoded?.type === 'receipt' && e.decoded.receipt === w.hash))),
      );
      if (found.every((f) => f !== undefined)) return found.map((f) => ({ index: f!.index, entry: f!.entry }));
      if (Date.now() > deadline) {
        throw new ParleyError('audit_entry_missing', 'an entry this evidence needs is not in the audit log (yet); retry', { status: 503 });
      }
      this.log.kick();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  /**
   * The evidence bundle of a message: for its sender's and recipient's
   * identities, and the operator. Everything is proved against one audit-log
   * checkpoint and one key-log checkpoint.
   */
  async evidence(messageId: string, requester: AuthDevice | 'admin'): Promise<EvidenceBundle> {
    const row = await getCommitment(this.db, messageId);
    const allowed =
      row !== undefined &&
      (requester === 'admin' ||
        (businessOf(row.sender_identity_id as IdentityId) === requester.businessId &&
          (requester.identityId === row.sender_identity_id || requester.identityId === row.recipient_identity_id)));
    if (!row || !allowed) throw new NotFoundError('unknown_message', 'no evidence for this message');
    const commitment = parseCommitment(JSON.parse(row.commitment));
    const label = new Uint8Array(row.commitment_hash);
    const rows = await receiptsOf(this.db, messageId);
    const receipts = rows.map((r) => ({ receipt: parseReceipt(JSON.parse(r.receipt)), signature: new Uint8Array(r.signature) }));
    // The log's own entries (not ones rebuilt from these rows): if a row was altered,
    // the bundle shows the log and the row disagreeing, and the verifier names it.
    const wanted = [{ type: 'commitment' as const, hash: '' }, ...rows.map((r) => ({ type: 'receipt' as const, hash: toBase64Url(new Uint8Array(r.receipt_hash)) }))];
    const logged = await this.loggedEntries(label, wanted);
    let auditCheckpoint = await this.log.latestCheckpoint();
    while (Math.max(...logged.map((e) => e.index)) >= auditCheckpoint.size) {
      this.log.kick();
      await new Promise((r) => setTimeout(r, 10));
      auditCheckpoint = await this.log.latestCheckpoint();
    }
    const inclusion = async (entry: Uint8Array, index: number) => ({
      entry: toBase64(entry),
      index,
      proof: (await this.log.inclusionProof(index, auditCheckpoint.size)).map(toBase64),
    });
    const keyCheckpoint = await this.directory.keyLog.latestCheckpoint();
    // Both logs' key-rotation announcements: they lead an auditor from the key it pinned to
    // the key that signs these checkpoints (docs/log-key-rotation.md, "Evidence bundles").
    const [auditRotations, keyRotations] = await Promise.all([this.log.keyRotations(), this.directory.keyLog.keyRotations?.() ?? []]);
    const identityIds = [...new Set([row.sender_identity_id, row.recipient_identity_id])];
    const bundle: EvidenceBundle = {
      v: 1,
      commitment,
      commitmentSignature: toBase64(new Uint8Array(row.signature)),
      audit: await inclusion(logged[0]!.entry, logged[0]!.index),
      receipts: await Promise.all(
        receipts.map(async (r, i) => ({ receipt: r.receipt, signature: toBase64(r.signature), audit: await inclusion(logged[i + 1]!.entry, logged[i + 1]!.index) })),
      ),
      auditCheckpoint: auditCheckpoint.note,
      ...(auditRotations.length > 0 ? { auditRotations } : {}),
      keyLog: {
        checkpoint: keyCheckpoint.note,
        vrfPublicKey: toBase64(this.directory.vrfPublicKey),
        identities: await Promise.all(identityIds.map((id) => this.directory.lookup(id, keyCheckpoint))),
        ...(keyRotations.length > 0 ? { rotations: keyRotations } : {}),
      },
    };
    this.logger.debug({ message: messageId, receipts: receipts.length }, 'evidence bundle assembled');
    return bundle;
  }
}
