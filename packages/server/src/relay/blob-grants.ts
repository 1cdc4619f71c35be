/**
 * Blobs named by a submitted application message (`SubmitRequest.blobs`): in the transaction
 * that stores the message, each blob must be the sending identity's and complete (else the
 * message is refused: 400 `unknown_blob` — also for another identity's blob, whose existence
 * is not revealed — or 409 `blob_incomplete`), and every recipient device of the envelope (the
 * devices the relay stores deliveries for) is granted it: it may then GET the blob. The blob
 * rows stay locked FOR SHARE until the transaction ends, so a DELETE or the retention sweep
 * (FOR UPDATE) sees the grants or the message never stored. A repeated submission (same
 * idempotency key) writes no grant again and is answered as before, even if its blobs are
 * gone since.
 */
import { ConflictError, InvalidInputError, type ParleyError } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import { insertGrants, lockBlobsForGrant } from '../repos/blobs.js';
import { findSubmissions } from '../repos/mailbox.js';
import type { Sql } from '../storage/database.js';

/** A submission that may name blobs. */
export interface BlobCarrier {
  readonly sender: AuthDevice;
  readonly idempotencyKey: string;
  readonly blobs?: readonly string[];
}

/**
 * The requests of a batch whose blobs refuse them, with their error (none names blobs: no
 * query). A request already accepted before (its idempotency key stored) is not refused.
 */
export async function blobRefusals<R extends BlobCarrier>(sql: Sql, requests: readonly R[]): Promise<Map<R, ParleyError>> {
  const refused = new Map<R, ParleyError>();
  const named = requests.filter((r) => r.blobs !== undefined && r.blobs.length > 0);
  if (named.length === 0) return refused;
  const blobs = await lockBlobsForGrant(sql, [...new Set(named.flatMap((r) => r.blobs!))]);
  for (const r of named) {
    for (const id of r.blobs!) {
      const blob = blobs.get(id);
      if (!blob || blob.identityId !== r.sender.identityId) {
        refused.set(r, new InvalidInputError("the message names a blob that is not the sender's", { code: 'unknown_blob', details: { blobId: id } }));
        break;
      }
      if (blob.state !== 'complete') {
        refused.set(r, new ConflictError('blob_incomplete', 'the message names a blob whose upload is not complete', { details: { blobId: id } }));
        break;
      }
    }
  }
  if (refused.size === 0) return refused;
  const earlier = await findSubmissions(sql, [...refused.keys()].map((r) => ({ senderDeviceId: r.sender.deviceId, idempotencyKey: r.idempotencyKey })));
  for (const r of [...refused.keys()]) if (earlier.has(`${r.sender.deviceId}\n${r.idempotencyKey}`)) refused.delete(r);
  return refused;
}

/** Grants each newly stored message's blobs to its recipient devices. */
export async function grantBlobs(sql: Sql, stored: readonly { blobs: readonly string[]; envelopeId: string; recipients: readonly string[] }[]): Promise<void> {
  await insertGrants(
    sql,
    stored.flatMap((s) => s.blobs.flatMap((blobId) => s.recipients.map((deviceId) => ({ blobId, deviceId, envelopeId: s.envelopeId })))),
  );
}
