/**
 * Audit evidence as the two ends of a business message hold it: the recipient's
 * `read` receipt, and the evidence bundle with (for a dispute) the opening and
 * plaintext only the two ends have.
 */
import { toBase64Url } from '@parley/core';
import { commitmentHash, type EvidenceBundle } from '@parley/core/audit';
import type { ApiClient } from './api-client.js';
import type { ExportEvidenceOptions } from './device-options.js';
import { AuditError } from './errors.js';
import type { KeyStore } from './key-store.js';
import type { ReceiptOutbox } from './receipts.js';
import { RECORDS, getJson, type AuditedMessageV1 } from './records.js';

/** @internal Signs and sends a `read` receipt for an audited message this device received (`Device.markRead`). */
export async function markRead(store: KeyStore, receipts: ReceiptOutbox, messageId: string, now: Date): Promise<void> {
  const audited = await getJson<AuditedMessageV1>(store, RECORDS.audited(messageId));
  if (!audited || audited.direction !== 'in') throw new AuditError('no audited message with this id was received here');
  await store.write([await receipts.prepare(messageId, toBase64Url(commitmentHash(audited.commitment)), 'read', now)]);
  await receipts.flush();
}

/** @internal The evidence bundle of an audited message, revealed on request (`Device.exportEvidence`). */
export async function exportEvidence(
  api: Pick<ApiClient, 'evidence'>,
  store: KeyStore,
  messageId: string,
  options: ExportEvidenceOptions,
): Promise<EvidenceBundle> {
  const bundle = await api.evidence(messageId);
  if (!options.reveal) return bundle;
  const audited = await getJson<AuditedMessageV1>(store, RECORDS.audited(messageId));
  if (!audited) throw new AuditError('this device holds no opening for this message');
  return { ...bundle, opening: audited.opening, plaintext: audited.text };
}
