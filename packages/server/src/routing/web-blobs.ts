/**
 * Attachments of web messages (customers without the app). The sender uploads each file as
 * parley-stream-v1 ciphertext to the blob store like for an app message; `POST
 * /v1/web-messages` names the blob ids and carries the references sealed under the link's
 * key (the manifest: this node never sees a key). Here:
 *
 * - at send, each blob must be the sending identity's and complete — the relay's rules and
 *   codes (relay/blob-grants.ts: 400 `unknown_blob`, 409 `blob_incomplete`) — and a signed
 *   commitment must list exactly their ciphertext SHA-256s, in order (400
 *   `web_attachments_mismatch`); the blobs are then granted to the grantee `web:<messageId>`,
 *   a `blob_grants` row no device can match (device grants are unchanged), so the retention
 *   sweep keeps them until the page fetched them to the last byte;
 * - at open (code and consent checked), the page gets a capability: 256 random bits, only
 *   their SHA-256 stored, bound to that one message, valid {@link WEB_BLOB_CAPABILITY_TTL_SECONDS};
 * - `GET /v1/web/blobs/:blobId` with `Authorization: Bearer <capability>` streams a blob
 *   granted to the capability's message; anything else is 404 `no_blob` (no existence oracle).
 */
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { InvalidInputError, toBase64Url } from '@parley/core';
import type { AuthDevice } from '../auth-device.js';
import { blobRefusals } from '../relay/blob-grants.js';
import { completeBlobHashes, insertGrants } from '../repos/blobs.js';
import type { Sql } from '../storage/database.js';

/** How long the page may fetch the blobs after opening the link. */
export const WEB_BLOB_CAPABILITY_TTL_SECONDS = 15 * 60;
const CAPABILITY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The grantee of a web message's blobs: `web:` cannot start a device id (base64url). */
export function webGrantee(messageId: string): string {
  return `web:${messageId}`;
}

function capabilityHash(capability: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`parley/v1/web-blob\n${capability}`).digest());
}

/**
 * Checks a web message's blobs in the transaction that stores it (rows locked FOR SHARE, as
 * the relay does) and grants them to the message's grantee. Throws the relay's refusal.
 */
export async function grantWebBlobs(tx: Sql, sender: AuthDevice, messageId: string, blobs: readonly string[], committed: readonly string[] | undefined): Promise<void> {
  // blob-grants.ts's own rules; an idempotency key with `/` matches no submission, so no earlier acceptance excuses a refusal.
  const refusals = await blobRefusals(tx, [{ sender, idempotencyKey: `web/${messageId}`, blobs }]);
  for (const error of refusals.values()) throw error;
  if (committed !== undefined) {
    const hashes = await completeBlobHashes(tx, blobs);
    const actual = blobs.map((id) => toBase64Url(hashes.get(id) ?? new Uint8Array()));
    if (committed.length !== actual.length || committed.some((h, i) => h !== actual[i])) {
      throw new InvalidInputError("the commitment's attachments are not the hashes of the message's blobs, in order", { code: 'web_attachments_mismatch' });
    }
  }
  await insertGrants(
    tx,
    blobs.map((blobId) => ({ blobId, deviceId: webGrantee(messageId), envelopeId: '0' })),
  );
}

/** The attachment hashes a commitment body lists (undefined without a commitment). */
export function committedAttachments(commitment: { readonly body: unknown } | undefined): readonly string[] | undefined {
  if (!commitment) return undefined;
  const body = commitment.body as { attachments?: unknown };
  return Array.isArray(body.attachments) ? body.attachments.filter((h): h is string => typeof h === 'string') : [];
}

/** Issues the page's capability for `messageId` (inside the open's transaction); expired capabilities go on the way. */
export async function issueWebBlobCapability(tx: Sql, messageId: string): Promise<{ capability: string; expiresAt: string }> {
  const capability = toBase64Url(new Uint8Array(nodeRandomBytes(32)));
  await tx.query('DELETE FROM web_blob_capabilities WHERE expires_at <= now()');
  const [row] = await tx.query<{ expires_at: Date }>(
    `INSERT INTO web_blob_capabilities (capability_hash, message_id, expires_at)
     VALUES ($1, $2, now() + ($3::integer * interval '1 second')) RETURNING expires_at`,
    [capabilityHash(capability), messageId, WEB_BLOB_CAPABILITY_TTL_SECONDS],
  );
  return { capability, expiresAt: new Date(row!.expires_at).toISOString() };
}

/** The grantee a capability (from `Authorization: Bearer …`) stands for while it is valid; undefined otherwise. */
export async function capabilityGrantee(sql: Sql, authorization: string | undefined): Promise<string | undefined> {
  const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(authorization ?? '');
  if (!match || !CAPABILITY_PATTERN.test(match[1]!)) return undefined;
  const [row] = await sql.query<{ message_id: string }>('SELECT message_id FROM web_blob_capabilities WHERE capability_hash = $1 AND expires_at > now()', [capabilityHash(match[1]!)]);
  return row ? webGrantee(row.message_id) : undefined;
}
