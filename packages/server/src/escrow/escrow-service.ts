/**
 * Escrow on the server (docs/escrow.md): registering a business's escrow key, requests to
 * open an escrowed message, the officers' approvals and the opening. The server holds only
 * public records, HPKE ciphertext it cannot open (the message's blob, officers' shares
 * sealed to officers, released shares sealed to the requester) and signatures. It decides
 * nothing on its own word: an approval counts only when it verifies with the key of an
 * officer of the message's escrow key, names this request and its hash, and is the
 * officer's first; an opening releases material only after its `escrow-open` entry is
 * sequenced in the audit log. Every step is an audit-log entry under the message's
 * commitment hash (the key's registration under its record hash).
 */
import type { Logger } from 'pino';
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  ParleyError,
  businessOf,
  equalBytes,
  fromBase64,
  randomBytes,
  toBase64,
  toBase64Url,
  type EscrowApprovalResult,
  type EscrowApprovalSubmit,
  type EscrowKeyRegistered,
  type EscrowOpenResponse,
  type EscrowRequestCreate,
  type EscrowRequestDetail,
  type EscrowRequestView,
  type IdentityId,
} from '@parley/core';
import { encodeAuditEntry, escrowApprovalEntry, escrowKeyEntry, escrowOpenEntry, escrowRequestEntry, parseCommitment } from '@parley/core/audit';
import {
  escrowApprovalHash,
  escrowKeyRecordHash,
  escrowRequestHash,
  parseEscrowApproval,
  parseEscrowKeyRecord,
  parseEscrowRequest,
  escrowApprovalSigningMessage,
  type EscrowKeyRecord,
  type EscrowRequest,
} from '@parley/core/escrow';
import type { Database } from '../storage/database.js';
import type { TransparencyLog } from '../tlog/index.js';
import { verifyEd25519Fast } from '../crypto/ed25519.js';
import { getCommitment } from '../repos/audit.js';
import {
  approvalsOf,
  getEscrowBlob,
  getEscrowKey,
  getEscrowRequest,
  insertEscrowApproval,
  insertEscrowKey,
  insertEscrowRequest,
  listEscrowRequests,
  markEscrowOpened,
  type EscrowApprovalRow,
  type EscrowRequestRow,
} from '../repos/escrow.js';

/** A released share: enc (32) ‖ AES-256-GCM(33-byte share) ‖ tag (16). */
const RELEASED_SHARE_BYTES = 32 + 33 + 16;
/** An approval signed more than this ahead of the server's clock is refused. */
const MAX_SKEW_MS = 5 * 60_000;
const LIST_LIMIT = 500;

const iso = (t: Date | string) => (t instanceof Date ? t : new Date(t)).toISOString();

/**
 * @example
 * const escrow = new EscrowService(db, auditLog, log);
 * const { keyId } = await escrow.registerKey('example-bank', record);
 */
export class EscrowService {
  constructor(
    private readonly db: Database,
    private readonly log: TransparencyLog,
    private readonly logger: Logger,
  ) {}

  /** Registers a business's escrow key (its public record) and appends `escrow-key`; a repeat of the same record answers the same. */
  async registerKey(businessId: string, value: unknown): Promise<EscrowKeyRegistered> {
    const record = parseEscrowKeyRecord(value);
    if (record.businessId !== businessId) throw new ForbiddenError('escrow_business_mismatch', 'the escrow key record names another business');
    const hash = escrowKeyRecordHash(record);
    const entry = encodeAuditEntry(escrowKeyEntry(hash));
    const pendingId = await this.db.transaction(async (tx) => {
      if ((await tx.query('SELECT 1 FROM businesses WHERE id = $1', [businessId])).length === 0) throw new NotFoundError('unknown_business', 'no such business');
      const fresh = await insertEscrowKey(tx, { key_id: record.keyId, business_id: businessId, record: JSON.stringify(record), record_hash: hash, threshold: record.threshold });
      if (fresh) return this.log.append(tx, entry, hash);
      const existing = await getEscrowKey(tx, record.keyId);
      if (!existing || !equalBytes(new Uint8Array(existing.record_hash), hash)) throw new ConflictError('escrow_key_exists', 'another record is registered under this key id');
      return undefined;
    });
    this.log.kick();
    const index = pendingId !== undefined ? (await this.log.waitSequenced(pendingId)).index : await this.indexOf(hash, entry, true);
    this.logger.info({ action: 'escrow.key', business: businessId, keyId: record.keyId }, 'escrow key registered');
    return { keyId: record.keyId, threshold: record.threshold, audit: { index: index! } };
  }

  /** Registers a request to open an escrowed message (`escrow-request`). */
  async createRequest(body: EscrowRequestCreate): Promise<EscrowRequestView> {
    const commitmentRow = await getCommitment(this.db, body.messageId);
    if (!commitmentRow) throw new NotFoundError('unknown_message', 'no business message with this id');
    const blob = await getEscrowBlob(this.db, body.messageId);
    const commitment = parseCommitment(JSON.parse(commitmentRow.commitment));
    if (!blob || commitment.escrow?.keyId !== blob.key_id) throw new ConflictError('escrow_not_escrowed', 'this message was not sent under escrow: nobody can open it');
    const key = await this.key(blob.key_id, businessOf(commitmentRow.sender_identity_id as IdentityId));
    const commitmentHash = new Uint8Array(commitmentRow.commitment_hash);
    const request: EscrowRequest = parseEscrowRequest({
      v: 1,
      requestId: `esr_${toBase64Url(randomBytes(16))}`,
      messageId: body.messageId,
      commitment: toBase64Url(commitmentHash),
      keyId: key.keyId,
      reason: body.reason,
      requesterKey: body.requesterKey,
    });
    const requestHash = escrowRequestHash(request);
    const pendingId = await this.db.transaction(async (tx) => {
      await insertEscrowRequest(tx, { request_id: request.requestId, message_id: request.messageId, key_id: key.keyId, request: JSON.stringify(request), request_hash: requestHash });
      return this.log.append(tx, encodeAuditEntry(escrowRequestEntry(commitmentHash, requestHash)), commitmentHash);
    });
    this.log.kick();
    await this.log.waitSequenced(pendingId);
    this.logger.info({ action: 'escrow.request', request: request.requestId, message: request.messageId }, 'escrow request registered');
    return (await this.views([(await getEscrowRequest(this.db, request.requestId))!]))[0]!;
  }

  /** A request with the message's commitment and the key record: what an officer checks before approving. */
  async detail(requestId: string): Promise<EscrowRequestDetail> {
    const row = await this.request(requestId);
    const commitmentRow = (await getCommitment(this.db, row.message_id))!;
    const key = await this.key(row.key_id, businessOf(commitmentRow.sender_identity_id as IdentityId));
    return { view: (await this.views([row]))[0]!, commitment: parseCommitment(JSON.parse(commitmentRow.commitment)), key };
  }

  /**
   * One officer's approval with its released share (`escrow-approval`): the signature must
   * verify with the key of an officer of this message's escrow key, over this request's id
   * and hash; one approval per officer; none after the opening.
   */
  async approve(requestId: string, body: EscrowApprovalSubmit): Promise<EscrowApprovalResult> {
    const row = await this.request(requestId);
    const commitmentRow = (await getCommitment(this.db, row.message_id))!;
    const key = await this.key(row.key_id, businessOf(commitmentRow.sender_identity_id as IdentityId));
    const approval = parseEscrowApproval(body.approval);
    const requestHash = new Uint8Array(row.request_hash);
    if (approval.requestId !== row.request_id || approval.requestHash !== toBase64Url(requestHash) || approval.messageId !== row.message_id || approval.keyId !== row.key_id) {
      throw new InvalidInputError('the approval names another request, message or key', { code: 'escrow_approval_mismatch' });
    }
    const officer = key.officers.find((o) => o.officerId === approval.officerId);
    if (!officer) throw new ForbiddenError('escrow_not_an_officer', "the approval's officer holds no share of this message's escrow key");
    const signature = fromBase64(body.signature, 'signature');
    if (signature.length !== 64 || !verifyEd25519Fast(fromBase64(officer.signingKey), escrowApprovalSigningMessage(approval), signature)) {
      throw new InvalidInputError("the approval signature does not verify with the officer's key", { code: 'escrow_approval_signature_invalid' });
    }
    if (Date.parse(approval.approvedAt) > Date.now() + MAX_SKEW_MS) throw new InvalidInputError('the approval is dated in the future', { code: 'escrow_approval_mismatch' });
    const released = fromBase64(body.released, 'released');
    if (released.length !== RELEASED_SHARE_BYTES) throw new InvalidInputError('the released share is not an HPKE-sealed share', { code: 'escrow_share_invalid' });
    const approvalHash = escrowApprovalHash(approval);
    const commitmentHash = new Uint8Array(commitmentRow.commitment_hash);
    const { pendingId, count } = await this.db.transaction(async (tx) => {
      const locked = (await getEscrowRequest(tx, requestId, true))!;
      if (locked.opened_at !== null) throw new ConflictError('escrow_already_opened', 'this request was opened: no further approvals');
      const fresh = await insertEscrowApproval(tx, { request_id: requestId, officer_id: officer.officerId, approval: JSON.stringify(approval), approval_hash: approvalHash, signature, released });
      if (!fresh) throw new ConflictError('escrow_already_approved', 'this officer already approved this request');
      const id = await this.log.append(tx, encodeAuditEntry(escrowApprovalEntry(commitmentHash, requestHash, approvalHash)), commitmentHash);
      return { pendingId: id, count: (await approvalsOf(tx, [requestId])).length };
    });
    this.log.kick();
    const { index } = await this.log.waitSequenced(pendingId);
    this.logger.info({ action: 'escrow.approval', request: requestId, officer: officer.officerId }, 'escrow approval recorded');
    return { approvals: count, threshold: key.threshold, audit: { index } };
  }

  /**
   * The opening: with at least `threshold` valid approvals, appends `escrow-open` (once per
   * request) and, only once that entry is sequenced, returns the blob, the commitment and the
   * released shares. Fewer approvals: `escrow_not_enough_approvals`.
   */
  async open(requestId: string): Promise<EscrowOpenResponse> {
    const row = await this.request(requestId);
    const commitmentRow = (await getCommitment(this.db, row.message_id))!;
    const key = await this.key(row.key_id, businessOf(commitmentRow.sender_identity_id as IdentityId));
    const commitmentHash = new Uint8Array(commitmentRow.commitment_hash);
    const requestHash = new Uint8Array(row.request_hash);
    const { approvals, entry, pendingId } = await this.db.transaction(async (tx) => {
      const locked = (await getEscrowRequest(tx, requestId, true))!;
      // Checked again here, not taken from the rows' word: each approval must verify now.
      const valid = (await approvalsOf(tx, [requestId])).filter((a) => this.approvalHolds(a, locked, key));
      if (valid.length < key.threshold) {
        throw new ForbiddenError('escrow_not_enough_approvals', `${valid.length} of the ${key.threshold} approvals this key needs`, { details: { approvals: valid.length, threshold: key.threshold } });
      }
      const bytes = encodeAuditEntry(escrowOpenEntry(commitmentHash, requestHash, valid.map((a) => new Uint8Array(a.approval_hash))));
      if (locked.opened_at !== null) return { approvals: valid, entry: bytes, pendingId: undefined };
      await markEscrowOpened(tx, requestId);
      return { approvals: valid, entry: bytes, pendingId: await this.log.append(tx, bytes, commitmentHash) };
    });
    this.log.kick();
    // No release without the record: the entry's sequenced index first.
    const index = pendingId !== undefined ? (await this.log.waitSequenced(pendingId)).index : await this.indexOf(commitmentHash, entry, true);
    if (index === undefined) throw new ParleyError('escrow_open_unrecorded', 'the opening is not in the audit log: nothing is released', { status: 503 });
    const blob = (await getEscrowBlob(this.db, row.message_id))!;
    this.logger.info({ action: 'escrow.open', request: requestId, message: row.message_id, approvals: approvals.length }, 'escrow opened');
    return {
      request: parseEscrowRequest(JSON.parse(row.request)),
      commitment: parseCommitment(JSON.parse(commitmentRow.commitment)),
      commitmentSignature: toBase64(new Uint8Array(commitmentRow.signature)),
      publicKey: key.publicKey,
      blob: toBase64(new Uint8Array(blob.blob)),
      shares: approvals.map((a) => ({
        officerId: a.officer_id,
        released: toBase64(new Uint8Array(a.released)),
        approval: parseEscrowApproval(JSON.parse(a.approval)),
        signature: toBase64(new Uint8Array(a.signature)),
      })),
      audit: { index },
    };
  }

  /** Requests (of one message, or the latest), with approvals, status and audit-log indexes. */
  async list(messageId?: string): Promise<EscrowRequestView[]> {
    return this.views(await listEscrowRequests(this.db, messageId, LIST_LIMIT));
  }

  private approvalHolds(a: EscrowApprovalRow, row: EscrowRequestRow, key: EscrowKeyRecord): boolean {
    try {
      const approval = parseEscrowApproval(JSON.parse(a.approval));
      const officer = key.officers.find((o) => o.officerId === approval.officerId);
      return (
        officer !== undefined &&
        approval.officerId === a.officer_id &&
        approval.requestId === row.request_id &&
        approval.requestHash === toBase64Url(new Uint8Array(row.request_hash)) &&
        approval.keyId === key.keyId &&
        approval.messageId === row.message_id &&
        equalBytes(escrowApprovalHash(approval), new Uint8Array(a.approval_hash)) &&
        verifyEd25519Fast(fromBase64(officer.signingKey), escrowApprovalSigningMessage(approval), new Uint8Array(a.signature))
      );
    } catch {
      return false;
    }
  }

  private async request(requestId: string): Promise<EscrowRequestRow> {
    const row = await getEscrowRequest(this.db, requestId);
    if (!row) throw new NotFoundError('unknown_escrow_request', 'no such escrow request');
    return row;
  }

  /** The key record, only if it belongs to the message's business (a message of business A never uses B's key or officers). */
  private async key(keyId: string, businessId: string): Promise<EscrowKeyRecord> {
    const row = await getEscrowKey(this.db, keyId);
    if (!row || row.business_id !== businessId) throw new ForbiddenError('escrow_business_mismatch', "the escrow key is not this message's business's");
    const record = parseEscrowKeyRecord(JSON.parse(row.record));
    if (record.businessId !== businessId) throw new ForbiddenError('escrow_business_mismatch', "the escrow key is not this message's business's");
    return record;
  }

  /** The index of a sequenced entry under `label`; with `wait`, polls briefly while it is sequenced. */
  private async indexOf(label: Uint8Array, entry: Uint8Array, wait = false): Promise<number | undefined> {
    const deadline = Date.now() + (wait ? 5_000 : 0);
    for (let delay = 10; ; delay = Math.min(delay * 2, 500)) {
      const found = (await this.log.entriesByLabel(label)).find((e) => equalBytes(e.entry, entry));
      if (found) return found.index;
      if (Date.now() >= deadline) return undefined;
      this.log.kick();
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private async views(rows: readonly EscrowRequestRow[]): Promise<EscrowRequestView[]> {
    const approvals = await approvalsOf(this.db, rows.map((r) => r.request_id));
    const keys = new Map<string, { threshold: number; business_id: string }>();
    const entriesOf = new Map<string, { index: number; entry: Uint8Array }[]>();
    const views: EscrowRequestView[] = [];
    for (const row of rows) {
      const request = parseEscrowRequest(JSON.parse(row.request));
      const commitmentHash = fromBase64(request.commitment);
      if (!entriesOf.has(request.commitment)) entriesOf.set(request.commitment, await this.log.entriesByLabel(commitmentHash));
      const entries = entriesOf.get(request.commitment)!;
      const at = (bytes: Uint8Array) => entries.find((e) => equalBytes(e.entry, bytes))?.index;
      if (!keys.has(row.key_id)) keys.set(row.key_id, (await getEscrowKey(this.db, row.key_id)) ?? { threshold: 0, business_id: '' });
      const { threshold, business_id: businessId } = keys.get(row.key_id)!;
      const requestHash = new Uint8Array(row.request_hash);
      const mine = approvals.filter((a) => a.request_id === row.request_id);
      const openIndex = row.opened_at === null ? undefined : entries.find((e) => isOpenOf(e.entry, toBase64Url(requestHash)))?.index;
      views.push({
        request,
        requestHash: toBase64Url(requestHash),
        businessId,
        status: row.opened_at !== null ? 'opened' : mine.length >= threshold ? 'approved' : 'pending',
        threshold,
        createdAt: iso(row.created_at),
        ...(row.opened_at !== null ? { openedAt: iso(row.opened_at) } : {}),
        approvals: mine.map((a) => {
          const index = at(encodeAuditEntry(escrowApprovalEntry(commitmentHash, requestHash, new Uint8Array(a.approval_hash))));
          return {
            officerId: a.officer_id,
            approvalHash: toBase64Url(new Uint8Array(a.approval_hash)),
            approvedAt: parseEscrowApproval(JSON.parse(a.approval)).approvedAt,
            audit: index === undefined ? {} : { index },
          };
        }),
        audit: {
          ...(() => {
            const index = at(encodeAuditEntry(escrowRequestEntry(commitmentHash, requestHash)));
            return index === undefined ? {} : { request: index };
          })(),
          ...(openIndex === undefined ? {} : { open: openIndex }),
        },
      });
    }
    return views;
  }
}

/** Whether log entry bytes are the `escrow-open` entry of the request with this hash. */
function isOpenOf(bytes: Uint8Array, requestHash: string): boolean {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as { type?: unknown; request?: unknown };
    return value.type === 'escrow-open' && value.request === requestHash;
  } catch {
    return false;
  }
}
