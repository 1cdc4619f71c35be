/**
 * The blob store's HTTP API (`/v1/blobs`): encrypted attachments, uploaded in pieces, fetched by range.
 *
 * - `POST /v1/blobs` {@link CreateBlobRequestSchema} → 201 {@link CreateBlobResponseSchema}: reserves
 *   `size` bytes of the business's quota (413 `blob_too_large`, `blob_quota_exceeded`; 429).
 * - `PATCH /v1/blobs/{blobId}` with `Content-Type: application/offset+octet-stream` (or
 *   `application/octet-stream`) and `Upload-Offset: <n>`: the raw ciphertext from `n`, at most
 *   {@link BLOB_PATCH_MAX_BYTES} per request → 204 with `Upload-Offset: <new offset>`; the request
 *   that completes the blob also gets `Parley-Blob-Sha256` (base64url SHA-256 of the whole blob).
 *   409 `blob_offset_mismatch` (`details.offset`: the server's offset; with `details.busy` another
 *   request is still writing: retry after `Retry-After`), 409 `blob_complete`, 413 `blob_too_large`.
 * - `HEAD /v1/blobs/{blobId}` (uploader) → `Upload-Offset`, `Upload-Length`.
 * - `GET /v1/blobs/{blobId}` with an optional single `Range: bytes=…` → 200 / 206 ciphertext
 *   (416 `range_not_satisfiable`, 409 `blob_incomplete`).
 * - `DELETE /v1/blobs/{blobId}` (uploader; while incomplete or never shared) → 204, else 409 `blob_shared`.
 *
 * Other identities get 404 `no_blob` for a blob they may not use, as for one that does not exist.
 */
import { Type, type Static } from '../typebox.js';
import { BLOB_ID_PATTERN } from '../media/attachment-ref.js';

/** Most bytes one `PATCH` request carries (larger: 413 `payload_too_large`). */
export const BLOB_PATCH_MAX_BYTES = 8 * 1024 * 1024;
/** The content type of an upload piece (tus); `application/octet-stream` is accepted too. */
export const BLOB_UPLOAD_CONTENT_TYPE = 'application/offset+octet-stream';
/** Response header of the request that completed a blob (and of `HEAD` on a complete one): base64url SHA-256 of the stored ciphertext. */
export const BLOB_SHA256_HEADER = 'Parley-Blob-Sha256';

export const CreateBlobRequestSchema = Type.Object(
  {
    size: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'ciphertext bytes the blob will hold' }),
  },
  { additionalProperties: false },
);
export type CreateBlobRequest = Static<typeof CreateBlobRequestSchema>;

export const CreateBlobResponseSchema = Type.Object({
  blobId: Type.String({ pattern: BLOB_ID_PATTERN, description: 'base64url of 16 random bytes, chosen by the server' }),
  size: Type.Integer({ minimum: 1 }),
  offset: Type.Integer({ minimum: 0, description: 'bytes stored so far (0)' }),
  expiresAt: Type.String({ description: 'RFC 3339: when an upload not completed by then is dropped' }),
});
export type CreateBlobResponse = Static<typeof CreateBlobResponseSchema>;
