/** Encrypted attachments: the reference a message carries, and the streaming AEAD of the files. */
export { BLOB_ID_PATTERN, MAX_ATTACHMENTS, MEDIA_TYPE_PATTERN, EncryptedBlobRefSchema, AttachmentRefSchema, type EncryptedBlobRef, type AttachmentRef } from './attachment-ref.js';
export { AttachmentError, type AttachmentErrorCode } from './attachment-error.js';
export {
  STREAM_CHUNK_SIZE,
  STREAM_TAG_SIZE,
  STREAM_KEY_SIZE,
  STREAM_NONCE_SIZE,
  STREAM_AAD_LABEL,
  streamCipherSize,
  streamNonce,
  webChunkCipher,
  webStreamCrypto,
  encryptStream,
  decryptStream,
  decodeSealedBlob,
  encodeSealedBlob,
  type ChunkKey,
  type ChunkCipher,
  type IncrementalHash,
  type StreamCrypto,
  type SealedBlobInfo,
  type ByteSource,
  type StreamOptions,
  type EncryptStreamOptions,
  type EncryptedStream,
} from './stream-aead.js';
