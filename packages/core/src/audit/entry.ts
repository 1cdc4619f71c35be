/**
 * Entries of the audit log. The log is public (C2SP tlog-tiles), so an entry
 * holds only hashes: of the signed commitment, and of each receipt with the
 * commitment it answers. Who sent what to whom stays with the parties and in
 * evidence bundles; the log makes it impossible to change or deny afterwards.
 */
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { InvalidInputError } from '../errors.js';
import { fromUtf8, toBase64Url } from '../bytes.js';
import { canonicalJson } from '../keylog/entry.js';
import { commitmentHash, type Commitment } from './commitment.js';
import { receiptHash, type Receipt } from './receipt.js';

const Hash32 = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });

export const AuditEntrySchema = Type.Union([
  Type.Object({ v: Type.Literal(1), type: Type.Literal('commitment'), commitment: Hash32 }, { additionalProperties: false }),
  Type.Object({ v: Type.Literal(1), type: Type.Literal('receipt'), commitment: Hash32, receipt: Hash32 }, { additionalProperties: false }),
]);
export type AuditEntry = Static<typeof AuditEntrySchema>;
const checkEntry = Compile(AuditEntrySchema);

export function commitmentEntry(commitment: Commitment): AuditEntry {
  return { v: 1, type: 'commitment', commitment: toBase64Url(commitmentHash(commitment)) };
}

export function receiptEntry(receipt: Receipt): AuditEntry {
  return { v: 1, type: 'receipt', commitment: receipt.commitmentHash, receipt: toBase64Url(receiptHash(receipt)) };
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
