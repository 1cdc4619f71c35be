/**
 * Entries of the audit log. The log is public (C2SP tlog-tiles), so an entry
 * holds only hashes: of the signed commitment, and of each receipt with the
 * commitment it answers. Who sent what to whom stays with the parties and in
 * evidence bundles; the log makes it impossible to change or deny afterwards.
 */
import { Compile, Type, type Static } from '../typebox.js';
import { InvalidInputError } from '../errors.js';
import { fromUtf8, toBase64Url } from '../bytes.js';
import { canonicalJson } from '../keylog/entry.js';
import { commitmentHash, type Commitment } from './commitment.js';
import { receiptHash, type Receipt } from './receipt.js';

const Hash32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });

export const AuditEntrySchema = Type.Union([
  Type.Object({ v: Type.Literal(1), type: Type.Literal('commitment'), commitment: Hash32 }, { additionalProperties: false }),
  Type.Object({ v: Type.Literal(1), type: Type.Literal('receipt'), commitment: Hash32, receipt: Hash32 }, { additionalProperties: false }),
  // Escrow (core/src/escrow, docs/escrow.md): a key registered (its record's hash), a request
  // to open a message, each officer's approval, and the opening itself, each filed under the
  // message's commitment hash, so a customer's auditor sees when and under which approvals.
  Type.Object({ v: Type.Literal(1), type: Type.Literal('escrow-key'), key: Hash32 }, { additionalProperties: false }),
  Type.Object({ v: Type.Literal(1), type: Type.Literal('escrow-request'), commitment: Hash32, request: Hash32 }, { additionalProperties: false }),
  Type.Object({ v: Type.Literal(1), type: Type.Literal('escrow-approval'), commitment: Hash32, request: Hash32, approval: Hash32 }, { additionalProperties: false }),
  Type.Object(
    { v: Type.Literal(1), type: Type.Literal('escrow-open'), commitment: Hash32, request: Hash32, approvals: Type.Array(Hash32, { minItems: 2, maxItems: 16 }) },
    { additionalProperties: false },
  ),
]);
export type AuditEntry = Static<typeof AuditEntrySchema>;
const checkEntry = Compile(AuditEntrySchema);

export function commitmentEntry(commitment: Commitment): Extract<AuditEntry, { type: 'commitment' }> {
  return { v: 1, type: 'commitment', commitment: toBase64Url(commitmentHash(commitment)) };
}

export function receiptEntry(receipt: Receipt): Extract<AuditEntry, { type: 'receipt' }> {
  return { v: 1, type: 'receipt', commitment: receipt.commitmentHash, receipt: toBase64Url(receiptHash(receipt)) };
}

/**
 * The `escrow-key` entry of a registered escrow key (`escrowKeyRecordHash`).
 *
 * @example
 * const entry = escrowKeyEntry(escrowKeyRecordHash(record));
 */
export function escrowKeyEntry(recordHash: Uint8Array): AuditEntry {
  return { v: 1, type: 'escrow-key', key: toBase64Url(recordHash) };
}

/**
 * The `escrow-request` entry: a request (its hash) to open the message of `commitment`.
 *
 * @example
 * const entry = escrowRequestEntry(commitmentHash, escrowRequestHash(request));
 */
export function escrowRequestEntry(commitment: Uint8Array, request: Uint8Array): AuditEntry {
  return { v: 1, type: 'escrow-request', commitment: toBase64Url(commitment), request: toBase64Url(request) };
}

/**
 * The `escrow-approval` entry: one officer's approval (its hash) of a request.
 *
 * @example
 * const entry = escrowApprovalEntry(commitmentHash, requestHash, escrowApprovalHash(approval));
 */
export function escrowApprovalEntry(commitment: Uint8Array, request: Uint8Array, approval: Uint8Array): AuditEntry {
  return { v: 1, type: 'escrow-approval', commitment: toBase64Url(commitment), request: toBase64Url(request), approval: toBase64Url(approval) };
}

/**
 * The `escrow-open` entry: the opening of a message under these approvals (hashes, sorted).
 *
 * @example
 * const entry = escrowOpenEntry(commitmentHash, requestHash, approvalHashes);
 */
export function escrowOpenEntry(commitment: Uint8Array, request: Uint8Array, approvals: readonly Uint8Array[]): AuditEntry {
  return { v: 1, type: 'escrow-open', commitment: toBase64Url(commitment), request: toBase64Url(request), approvals: approvals.map(toBase64Url).sort() };
}

export function encodeAuditEntry(entry: AuditEntry): Uint8Array {
  if (!checkEntry.Check(entry)) throw new InvalidInputError('invalid audit entry', { code: 'invalid_audit_entry' });
  return canonicalJson(entry);
}

/** Parses audit log entry bytes; they must be exactly canonical. */
export function decodeAuditEntry(bytes: Uint8Array): AuditEntry {
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (cause) {
    throw new InvalidInputError('audit entry is not JSON', { code: 'invalid_audit_entry', cause });
  }
  if (!checkEntry.Check(value)) throw new InvalidInputError('invalid audit entry', { code: 'invalid_audit_entry' });
  const canonical = canonicalJson(value);
  if (canonical.length !== bytes.length || !canonical.every((b, i) => b === bytes[i])) {
    throw new InvalidInputError('audit entry is not in canonical form', { code: 'invalid_audit_entry' });
  }
  return value;
}
